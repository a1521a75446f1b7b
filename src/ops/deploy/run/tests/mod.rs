//! The executor against the in-memory fake fleet: no Docker, a few seconds.

use std::time::Duration;

use bollard::models::HealthStatusEnum;
use tokio::sync::{mpsc, watch};

use super::{Control, Deployment, Seen, Summary, execute};
use crate::config::{Amount, ContainerSelector, ServiceSpec};
use crate::ops::deploy::event::{DeployEvent, HostOutcome, RunOutcome, Step};
use crate::ops::deploy::fake::{Fake, Fault, HEALTHY, Op, STARTING, State, UNHEALTHY};
use crate::ops::deploy::lock::lock_name;
use crate::ops::deploy::plan::Job;
use crate::ops::deploy::prepare::{self, Mode, Prepared, Request};
use crate::ops::deploy::{Delivery, LABEL_DEPLOY_ID, LABEL_PREVIOUS_IMAGE, old_name};

const V1: &str = "app:v1";
const V2: &str = "app:v2";
const ID1: &str = "sha256:1111";
const ID2: &str = "sha256:2222";
const OK: &[HealthStatusEnum] = &[STARTING, HEALTHY];
const SICK: &[HealthStatusEnum] = &[STARTING, UNHEALTHY];
/// Bounds every test: a hang is a failure, not a stuck CI job.
const LIMIT: Duration = Duration::from_secs(30);

fn service(hosts: &[&str], serial: usize) -> ServiceSpec {
    ServiceSpec {
        name: "web".into(),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        container: ContainerSelector::Name("web".into()),
        health_timeout: Duration::from_secs(20),
        serial: vec![Amount::Count(serial)],
        max_fail: Amount::Count(0),
        pre_deploy: None,
        health_cmd: None,
        stable_for: Duration::from_secs(1),
        autoheal: false,
        // These tests cover stop-first; start_first.rs covers start-first
        // (the default for the fake's containers, which publish no port).
        order: Some(crate::config::Order::StopFirst),
        stop_grace: std::time::Duration::ZERO,
        keep_images: 0,
    }
}

/// Each host runs a healthy `web` on app:v1; app:v2 is on every host
/// (with `v2_health`), or only in the registry when `v2_health` is `None`.
fn fleet(hosts: &[&str], v2_health: Option<&[HealthStatusEnum]>) -> Fake {
    let fake = Fake::new(hosts);
    fake.registry(V2, ID2, OK);
    for h in hosts {
        fake.image(h, V1, ID1, OK);
        fake.container(h, "web", V1);
        if let Some(health) = v2_health {
            fake.image(h, V2, ID2, health);
        }
    }
    fake
}

fn request(mode: Mode, image: Option<&str>) -> Request {
    Request {
        mode,
        image: image.map(str::to_owned),
        serial: None,
        max_fail: None,
        delivery: Delivery::Stream { from: None },
        break_lock: false,
    }
}

/// A plain deploy of V2 to `hosts`, one at a time.
async fn deploy_v2(fake: &Fake, hosts: &[&str]) -> Ran {
    run(deployment(fake, &service(hosts, 1), &request(Mode::Deploy, Some(V2))).await).await
}

/// Probes and plans through the same path as the front ends.
async fn deployment(fake: &Fake, service: &ServiceSpec, req: &Request) -> Deployment {
    match prepare::prepare(service, fake.handles(), &[], req).await {
        Ok(Prepared::Ready(ready)) => {
            assert!(ready.refusal.is_none(), "refused: {:?}", ready.refusal);
            let mut d = ready.deployment;
            d.audit = None;
            d
        }
        Ok(Prepared::NothingToDo(m)) => panic!("nothing to do: {m}"),
        Err(e) => panic!("prepare: {e}"),
    }
}

struct Ran {
    summary: Summary,
    events: Vec<DeployEvent>,
}

impl Ran {
    fn outcome(&self, host: &str) -> HostOutcome {
        self.summary
            .hosts
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, o)| *o)
            .unwrap_or_else(|| panic!("no outcome for {host}: {:?}", self.summary))
    }

    /// The host was deployed; else the failure says its error.
    fn assert_deployed(&self, host: &str) {
        assert_eq!(
            self.outcome(host),
            HostOutcome::Deployed,
            "{}",
            self.error(host)
        );
    }

    /// The error of the host's `HostDone`, "" without one.
    fn error(&self, host: &str) -> String {
        self.events
            .iter()
            .find_map(|e| match e {
                DeployEvent::HostDone { host: h, error, .. } if h == host => {
                    Some(error.clone().unwrap_or_default())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no HostDone for {host}"))
    }

    fn position(&self, f: impl Fn(&DeployEvent) -> bool) -> Option<usize> {
        self.events.iter().position(f)
    }
}

fn host_done(host: &str) -> impl Fn(&DeployEvent) -> bool + '_ {
    move |e| matches!(e, DeployEvent::HostDone { host: h, .. } if h == host)
}

fn batch_started(index: usize) -> impl Fn(&DeployEvent) -> bool {
    move |e| matches!(e, DeployEvent::BatchStarted { index: i, .. } if *i == index)
}

/// Runs to the end with `Control::Run`, collecting every event.
async fn run(d: Deployment) -> Ran {
    let (tx, mut rx) = mpsc::channel(10_000);
    let (_control, control_rx) = watch::channel(Control::Run);
    let summary = tokio::time::timeout(LIMIT, execute(d, tx, control_rx))
        .await
        .expect("the run finishes");
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Ran { summary, events }
}

/// Runs while `react` watches each event and may steer the run.
async fn run_steered(
    d: Deployment,
    mut react: impl FnMut(&DeployEvent, &watch::Sender<Control>),
) -> Ran {
    let (tx, mut rx) = mpsc::channel(10_000);
    let (control, control_rx) = watch::channel(Control::Run);
    let task = tokio::spawn(execute(d, tx, control_rx));
    let mut events = Vec::new();
    let collect = async {
        while let Some(e) = rx.recv().await {
            react(&e, &control);
            events.push(e);
        }
    };
    tokio::time::timeout(LIMIT, collect)
        .await
        .expect("the run finishes");
    let summary = task.await.expect("the run does not panic");
    Ran { summary, events }
}

/// The host is back to one healthy `web` container running `image`, with
/// no container aside and no lock.
fn settled(fake: &Fake, host: &str, image: &str) -> String {
    assert_eq!(fake.names(host), ["web"], "{host}: {:?}", fake.log());
    let web = fake.get(host, "web").expect("web");
    assert_eq!(web.image, image, "{host}");
    assert_eq!(web.state, State::Running, "{host}");
    assert_eq!(web.health.back(), Some(&HEALTHY), "{host}");
    web.id
}

/// Where the first call starting with `prefix` is in the fake's `log`.
fn at(log: &[String], prefix: &str) -> usize {
    log.iter()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {log:#?}"))
}

/// How many times the fake was asked to create `host`'s lock for `web`.
fn lock_tries(log: &[String], host: &str) -> usize {
    let create = format!("{host} Create {}", lock_name("web"));
    log.iter().filter(|l| l.starts_with(&create)).count()
}

/// Host a went back to its own old container, and its error says `why`.
fn rolled_back(fake: &Fake, ran: &Ran, before: &str, why: &str) {
    assert_eq!(ran.outcome("a"), HostOutcome::RolledBack);
    assert!(ran.error("a").contains(why), "{}", ran.error("a"));
    assert_eq!(settled(fake, "a", V1), before);
}

fn original_ids(fake: &Fake, hosts: &[&str]) -> Vec<String> {
    hosts
        .iter()
        .map(|h| fake.get(h, "web").expect("web").id)
        .collect()
}

/// Every host's pull starts once the locks are held, not at its turn; a
/// failed pull still fails only its own host, at its turn, unchanged.
#[tokio::test]
async fn registry_pulls_run_ahead_of_each_hosts_turn() {
    let hosts = ["a", "b", "c"];
    let fake = fleet(&hosts, None);
    fake.fail("b", Op::Pull, 1, Fault::Status(500));
    let mut req = request(Mode::Deploy, Some(V2));
    req.delivery = Delivery::Registry;
    let mut svc = service(&hosts, 1);
    svc.max_fail = Amount::Count(1);
    let ran = run(deployment(&fake, &svc, &req).await).await;
    let log = fake.log();
    assert!(at(&log, "c Pull") < at(&log, "a Stop"), "{log:#?}");
    assert_eq!(ran.outcome("a"), HostOutcome::Deployed);
    assert_eq!(ran.outcome("b"), HostOutcome::Unchanged);
    assert!(ran.error("b").contains("500"), "{}", ran.error("b"));
    assert_eq!(ran.outcome("c"), HostOutcome::Deployed);
    assert_eq!(fake.calls("c", Op::Pull), 1);
    settled(&fake, "b", V1);
}

#[tokio::test]
async fn clean_deploy_in_serial_batches() {
    let hosts = ["a", "b", "c"];
    // v2 only in the registry: every host pulls it.
    let fake = fleet(&hosts, None);
    let svc = service(&hosts, 1);
    let mut req = request(Mode::Deploy, Some(V2));
    req.delivery = Delivery::Registry;
    let d = deployment(&fake, &svc, &req).await;
    let id = d.id.clone();
    let ran = run(d).await;

    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    assert!(ran.summary.not_started.is_none());
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(ran.outcome(h), HostOutcome::Deployed);
        settled(&fake, h, V2);
        let web = fake.get(h, "web").expect("web");
        assert_eq!(web.image_id, ID2);
        assert_eq!(
            web.labels.get(LABEL_PREVIOUS_IMAGE).map(String::as_str),
            Some(V1)
        );
        assert_eq!(web.labels.get(LABEL_DEPLOY_ID), Some(&id));
        assert_eq!(fake.calls(h, Op::Pull), 1, "{h}");
        // One host per batch, and a batch starts only once the previous host is done.
        let started = ran.position(batch_started(i)).expect("batch");
        assert!(matches!(&ran.events[started],
            DeployEvent::BatchStarted { hosts, .. } if hosts == &[h.to_string()]));
        let done = ran.position(host_done(h)).expect("done");
        assert!(started < done);
        if let Some(next) = ran.position(batch_started(i + 1)) {
            assert!(done < next, "{h} done after the next batch started");
        }
    }
    assert!(ran.position(batch_started(3)).is_none());
    assert!(matches!(
        ran.events.last(),
        Some(DeployEvent::Finished {
            outcome: RunOutcome::Succeeded,
            deployed: 3,
            failed: 0,
            skipped: 0,
            ..
        })
    ));
}

#[tokio::test]
async fn image_streamed_from_the_host_that_has_it() {
    let hosts = ["a", "b"];
    let fake = fleet(&hosts, None);
    fake.image("a", V2, ID2, OK);
    let svc = service(&hosts, 2);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;

    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::ImageSource { image, source } if image == V2 && source == "a")));
    assert_eq!(
        (fake.calls("a", Op::Load), fake.calls("b", Op::Load)),
        (0, 1)
    );
    assert_eq!(fake.calls("b", Op::Tag), 1);
    assert_eq!(fake.calls("a", Op::Export), 1);
    for h in hosts {
        settled(&fake, h, V2);
        assert_eq!(fake.get(h, "web").expect("web").image_id, ID2);
    }
}

/// A deploy of v2 to `hosts` as if the probes had not looked for the image
/// (as for the local daemon): the source is searched for.
async fn unseen(fake: &Fake, hosts: &[&str]) -> Deployment {
    let mut d = deployment(fake, &service(hosts, 3), &request(Mode::Deploy, Some(V2))).await;
    d.seen = Seen::default();
    d
}

/// The probes already read the image on every host: neither the stream
/// source nor a host's image check asks again.
#[tokio::test]
async fn what_the_probes_saw_of_the_image_is_not_asked_again() {
    let hosts = ["a", "b", "c"];
    let fake = fleet(&hosts, None);
    fake.image("b", V2, ID2, OK);
    let ran =
        run(deployment(&fake, &service(&hosts, 3), &request(Mode::Deploy, Some(V2))).await).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::ImageSource { image, source } if image == V2 && source == "b")));
    let log = fake.log();
    let asked = |h: &str| {
        log.iter()
            .filter(|l| l.starts_with(&format!("{h} InspectImage {V2} ")))
            .count()
    };
    // b: the probe alone. a and c (which lack it): the probe, then the
    // transfer's own checks before and after.
    assert_eq!((asked("a"), asked("b"), asked("c")), (3, 1, 3), "{log:#?}");
    for h in hosts {
        settled(&fake, h, V2);
    }
}

/// A host whose tag names another build than the source's still gets the
/// source's: every host ends on the same image id.
#[tokio::test]
async fn a_host_with_another_build_under_the_tag_gets_the_sources() {
    let hosts = ["a", "b"];
    let fake = fleet(&hosts, None);
    fake.image("a", V2, ID2, OK);
    fake.image("b", V2, "sha256:9999", OK);
    let ran =
        run(deployment(&fake, &service(&hosts, 2), &request(Mode::Deploy, Some(V2))).await).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    assert_eq!(fake.calls("b", Op::Load), 1);
    for h in hosts {
        settled(&fake, h, V2);
        assert_eq!(fake.get(h, "web").expect("web").image_id, ID2, "{h}");
    }
}

/// A host without the image is asked for it by name and by id at once.
#[tokio::test]
async fn a_host_is_asked_for_the_image_by_name_and_by_id_at_once() {
    let hosts = ["a", "b"];
    let fake = fleet(&hosts, None);
    fake.image("a", V2, ID2, OK);
    // b's first image read is the probe's, the second the check by name.
    fake.fail(
        "b",
        Op::InspectImage,
        2,
        Fault::Late(Duration::from_millis(200)),
    );
    let ran =
        run(deployment(&fake, &service(&hosts, 2), &request(Mode::Deploy, Some(V2))).await).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    let log = fake.log();
    assert!(
        at(&log, &format!("b InspectImage {ID2}"))
            < at(&log, &format!("b InspectImage {V2} answered")),
        "{log:#?}"
    );
    settled(&fake, "b", V2);
}

#[tokio::test]
async fn the_image_source_is_the_first_host_that_has_it_whatever_the_others_answer() {
    let hosts = ["a", "b", "c"];
    let fake = fleet(&hosts, None);
    fake.image("b", V2, ID2, OK);
    fake.image("c", V2, ID2, OK);
    // The probe's image read is the first; the search for a source the second.
    fake.fail("c", Op::InspectImage, 2, Fault::Status(500));
    let ran = run(unseen(&fake, &hosts).await).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::ImageSource { image, source } if image == V2 && source == "b")));
    // c was asked too, at once, before anything was locked.
    let log = fake.log();
    assert!(
        at(&log, "c InspectImage app:v2 -> 500") < at(&log, "a Create flotilla-lock-web"),
        "{log:#?}"
    );
    // An error before the first host that has it stops the run before any change.
    let fake = fleet(&hosts, None);
    fake.image("c", V2, ID2, OK);
    fake.fail("b", Op::InspectImage, 2, Fault::Status(500));
    let ran = run(unseen(&fake, &hosts).await).await;
    assert_eq!(ran.summary.outcome, RunOutcome::NotStarted);
    for h in hosts {
        settled(&fake, h, V1);
    }
}

#[tokio::test]
async fn health_failure_rolls_back_and_stops_the_run() {
    let hosts = ["a", "b", "c"];
    let fake = fleet(&hosts, Some(OK));
    // Only b's copy of v2 never becomes healthy.
    fake.image("b", V2, ID2, SICK);
    let before = original_ids(&fake, &hosts);
    let svc = service(&hosts, 1);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;

    assert_eq!(ran.summary.outcome, RunOutcome::Failed);
    assert_eq!(ran.outcome("a"), HostOutcome::Deployed);
    assert_eq!(ran.outcome("b"), HostOutcome::RolledBack);
    assert_eq!(ran.outcome("c"), HostOutcome::Skipped);
    assert!(ran.error("b").contains("unhealthy"), "{}", ran.error("b"));
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::Stopped { untouched, .. } if untouched == &["c".to_owned()])));
    // Every host keeps a healthy container, old or new.
    settled(&fake, "a", V2);
    assert_eq!(
        settled(&fake, "b", V1),
        before[1],
        "b's old container is back"
    );
    assert_eq!(settled(&fake, "c", V1), before[2]);
    assert_eq!(fake.calls("c", Op::Stop), 0, "c was never touched");
}

/// Deploys v2 to a and b until `op` number `nth` on a, where the process
/// "dies"; its locks then belong to a dead process. Returns the deploy id.
async fn crash_at(fake: &Fake, op: Op, nth: usize) -> String {
    crash_with(fake, &service(&["a", "b"], 1), op, nth).await
}

/// A deploy of `svc` to v2 on a and b, killed at a's `nth` `op`; the locks
/// stay, held by a process that is gone.
async fn crash_with(fake: &Fake, svc: &ServiceSpec, op: Op, nth: usize) -> String {
    fake.fail("a", op, nth, Fault::Crash);
    let d = deployment(fake, svc, &request(Mode::Deploy, Some(V2))).await;
    let id = d.id.clone();
    let (tx, _rx) = mpsc::channel(10_000);
    let (_control, control_rx) = watch::channel(Control::Run);
    let task = tokio::spawn(execute(d, tx, control_rx));
    tokio::time::timeout(LIMIT, fake.crashed())
        .await
        .expect("the crash happens");
    task.abort();
    let _ = task.await;
    fake.restart();
    for h in ["a", "b"] {
        assert!(fake.get(h, &lock_name("web")).is_some(), "{h} stays locked");
        fake.edit(h, &lock_name("web"), |c| {
            c.labels.insert("flotilla.lock.pid".into(), "0".into());
        });
    }
    id
}

/// After a crash, `--resume` finishes the deploy under the same id.
async fn resume(fake: &Fake, id: &str) -> Ran {
    let d = deployment(fake, &service(&["a", "b"], 1), &request(Mode::Resume, None)).await;
    assert_eq!(d.id, id, "a resume keeps the deploy id");
    let ran = run(d).await;
    assert_eq!(
        ran.summary.outcome,
        RunOutcome::Succeeded,
        "{:?}",
        ran.summary
    );
    for h in ["a", "b"] {
        assert_eq!(ran.outcome(h), HostOutcome::Deployed, "{h}");
        settled(fake, h, V2);
        let web = fake.get(h, "web").expect("web");
        assert_eq!(
            web.labels.get(LABEL_DEPLOY_ID).map(String::as_str),
            Some(id)
        );
    }
    ran
}

#[tokio::test]
async fn crash_before_the_rename_then_resume_takes_the_current_container() {
    let fake = fleet(&["a", "b"], Some(OK));
    // The rename is the first change.
    let id = crash_at(&fake, Op::Rename, 1).await;
    assert_eq!(fake.names("a"), [lock_name("web"), "web".to_owned()]);
    assert!(fake.get("a", "web").expect("web").running());
    let stops = fake.calls("a", Op::Stop);
    resume(&fake, &id).await;
    assert_eq!(fake.calls("a", Op::Stop), stops + 1, "the resume stops it");
}

#[tokio::test]
async fn crash_after_rename_then_resume_starts_from_the_old_aside() {
    let fake = fleet(&["a", "b"], Some(OK));
    // Create 1 is the lock, 2 the new container.
    let id = crash_at(&fake, Op::Create, 2).await;
    let aside = old_name("web");
    assert_eq!(fake.names("a"), [lock_name("web"), aside.clone()]);
    let d = deployment(
        &fake,
        &service(&["a", "b"], 1),
        &request(Mode::Resume, None),
    )
    .await;
    let job = |h: &str| d.plan.hosts().find(|p| p.host == h).map(|p| p.job);
    assert_eq!((job("a"), job("b")), (Some(Job::Finish), Some(Job::Deploy)));
    let stops = fake.calls("a", Op::Stop);
    resume(&fake, &id).await;
    assert_eq!(fake.calls("a", Op::Stop), stops, "nothing left to stop");
}

/// With events, the health wait reads the container only when Docker says
/// something changed: here once after the start and once for the
/// `starting` report, where polling reads it at every step.
#[tokio::test]
async fn the_health_wait_follows_events_instead_of_polling() {
    let slow = &[STARTING, STARTING, STARTING, STARTING, HEALTHY];
    let inspects_of_new = |events: bool| async move {
        let fake = fleet(&["a"], Some(slow));
        if events {
            fake.stream_events();
        }
        let ran = deploy_v2(&fake, &["a"]).await;
        ran.assert_deployed("a");
        let new = settled(&fake, "a", V2);
        let log = fake.log();
        let n = log
            .iter()
            .filter(|l| l.starts_with(&format!("a Inspect {new}")))
            .count();
        (n, fake.calls("a", Op::Events))
    };
    assert_eq!(inspects_of_new(false).await, (5, 0));
    assert_eq!(inspects_of_new(true).await, (2, 1));
}

/// An unhealthy report through events rolls back as a polled one does.
#[tokio::test]
async fn an_unhealthy_event_rolls_the_host_back() {
    let fake = fleet(&["a"], Some(SICK));
    fake.stream_events();
    let before = original_ids(&fake, &["a"]);
    let ran = deploy_v2(&fake, &["a"]).await;
    rolled_back(&fake, &ran, &before[0], "unhealthy");
}

/// A crash between setting the old container aside and its stop finishing
/// leaves it running under the aside name: the resume stops it before it
/// starts the new one beside it.
#[tokio::test]
async fn a_resume_stops_an_old_container_set_aside_while_running() {
    let fake = fleet(&["a", "b"], Some(OK));
    let id = crash_at(&fake, Op::Create, 2).await;
    let aside = old_name("web");
    fake.edit("a", &aside, |c| c.state = State::Running);
    let old = fake.get("a", &aside).expect("aside").id;
    let seen = fake.log().len();
    resume(&fake, &id).await;
    let log = fake.log().split_off(seen);
    assert!(log[at(&log, &format!("a Stop {old}"))].ends_with("-> ok"));
    assert!(
        at(&log, &format!("a Stop {old}")) < at(&log, "a Start"),
        "{log:#?}"
    );
}

/// The old container is renamed aside while it runs, then stops while the
/// new one is created; only the start waits for the stop. No rename
/// overlaps the stop (Docker 20.10 can lose the sandbox then).
#[tokio::test]
async fn the_new_container_is_created_while_the_old_one_stops() {
    let fake = fleet(&["a"], Some(OK));
    let old = fake.get("a", "web").expect("web").id;
    fake.fail("a", Op::Stop, 1, Fault::Late(Duration::from_millis(300)));
    let ran = deploy_v2(&fake, &["a"]).await;
    ran.assert_deployed("a");
    settled(&fake, "a", V2);
    let log = fake.log();
    let stopped = at(&log, &format!("a Stop {old} answered"));
    assert!(
        at(&log, &format!("a Rename {old}")) < at(&log, &format!("a Stop {old} ->")),
        "renamed before the stop began: {log:#?}"
    );
    assert_eq!(fake.calls("a", Op::Rename), 1, "{log:#?}");
    assert!(
        at(&log, &format!("a Create web {V2}")) < stopped,
        "{log:#?}"
    );
    assert!(stopped < at(&log, "a Start"), "{log:#?}");
    // Meanwhile the host's step says what it waits for.
    let steps: Vec<(Step, &str)> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            DeployEvent::Step { step, detail, .. } => Some((*step, detail.as_str())),
            _ => None,
        })
        .collect();
    let waiting = steps
        .iter()
        .position(|(s, d)| *s == Step::Stopping && d.contains("waiting for the stop"));
    let creating = steps.iter().position(|(s, _)| *s == Step::Creating);
    assert!(creating < waiting && waiting.is_some(), "{steps:?}");
}

/// The stop fails after the new container was made: the host goes back to
/// the old one, and the unstarted new one is gone.
#[tokio::test]
async fn a_failed_stop_after_the_new_container_was_made_rolls_back() {
    let fake = fleet(&["a"], Some(OK));
    let before = original_ids(&fake, &["a"]);
    fake.fail("a", Op::Stop, 1, Fault::Status(500));
    let ran = deploy_v2(&fake, &["a"]).await;
    rolled_back(&fake, &ran, &before[0], "stop web");
}

#[tokio::test]
async fn crash_before_start_then_resume_replaces_the_unstarted_container() {
    let fake = fleet(&["a", "b"], Some(OK));
    let id = crash_at(&fake, Op::Start, 1).await;
    let unstarted = fake.get("a", "web").expect("new web");
    assert_eq!(
        (unstarted.image.as_str(), unstarted.state),
        (V2, State::Created)
    );
    assert!(fake.get("a", &old_name("web")).is_some());
    resume(&fake, &id).await;
    assert_ne!(fake.get("a", "web").expect("web").id, unstarted.id);
}

#[tokio::test]
async fn crash_before_removing_the_old_then_resume_reuses_the_healthy_new() {
    let fake = fleet(&["a", "b"], Some(OK));
    let id = crash_at(&fake, Op::Remove, 1).await;
    let new = fake.get("a", "web").expect("new web");
    assert!(new.running() && new.image == V2);
    let seen = fake.log().len();
    resume(&fake, &id).await;
    assert_eq!(fake.get("a", "web").expect("web").id, new.id, "kept");
    // Only the lock was created again.
    let log = fake.log();
    assert!(
        !log[seen..].iter().any(|l| l.starts_with("a Create web ")),
        "{log:?}"
    );
}

#[tokio::test]
async fn crash_after_rename_then_recover_restores_the_old() {
    let fake = fleet(&["a", "b"], Some(OK));
    let before = original_ids(&fake, &["a", "b"]);
    crash_at(&fake, Op::Create, 2).await;
    let d = deployment(
        &fake,
        &service(&["a", "b"], 1),
        &request(Mode::Recover, None),
    )
    .await;
    let ran = run(d).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    // b was never touched: unchanged, outside the plan's batches.
    assert_eq!(ran.summary.hosts, [("a".to_owned(), HostOutcome::Restored)]);
    assert_eq!(settled(&fake, "a", V1), before[0]);
    assert_eq!(settled(&fake, "b", V1), before[1]);
}

#[tokio::test]
async fn neither_container_fails_the_host_and_keeps_its_lock() {
    let fake = fleet(&["a", "b"], Some(OK));
    let d = deployment(
        &fake,
        &service(&["a", "b"], 1),
        &request(Mode::Deploy, Some(V2)),
    )
    .await;
    // Removed behind our back between the plan and the run.
    fake.edit("a", "web", |c| c.name = "gone".into());
    let ran = run(d).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Failed);
    assert_eq!(ran.outcome("a"), HostOutcome::Failed);
    assert_eq!(ran.outcome("b"), HostOutcome::Skipped);
    assert!(
        ran.error("a").contains("no container web"),
        "{}",
        ran.error("a")
    );
    // An unsure host keeps its lock for the next run to see.
    assert_eq!(fake.names("a"), [lock_name("web"), "gone".to_owned()]);
    settled(&fake, "b", V1);
}

/// A deploy of v2 to `hosts`, planned before a lock container appeared on
/// `locked` behind its back (not one made by flotilla).
async fn planned_then_locked(hosts: &[&str], locked: &str) -> (Fake, Deployment) {
    let fake = fleet(hosts, Some(OK));
    let d = deployment(&fake, &service(hosts, 1), &request(Mode::Deploy, Some(V2))).await;
    fake.container(locked, &lock_name("web"), V1);
    (fake, d)
}

#[tokio::test]
async fn a_lock_held_on_a_later_host_releases_every_lock_taken() {
    let (fake, d) = planned_then_locked(&["a", "b", "c"], "c").await;
    let ran = run(d).await;
    assert_eq!(ran.summary.outcome, RunOutcome::NotStarted);
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::LockHeld { host, .. } if host == "c")));
    // a and b (locked beside c, which stayed held) are free again, untouched.
    for h in ["a", "b"] {
        assert_eq!(fake.names(h), ["web".to_owned()], "{h}");
        assert_eq!(fake.calls(h, Op::Stop), 0, "{h}");
    }
    assert_eq!(fake.names("c"), [lock_name("web"), "web".to_owned()]);
}

#[tokio::test]
async fn the_run_holding_the_first_host_waits_out_a_racing_runs_release() {
    let hosts = ["a", "b", "c"];
    // A racing run took b's lock but lost a: it lets b go a moment later.
    let (fake, d) = planned_then_locked(&hosts, "b").await;
    let racer = fake.handle("b").engine;
    let release = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        racer.remove(&lock_name("web")).await
    });
    let ran = run(d).await;
    assert!(release.await.expect("racer").is_ok());
    assert_eq!(
        ran.summary.outcome,
        RunOutcome::Succeeded,
        "{:?}",
        fake.log()
    );
    for h in hosts {
        settled(&fake, h, V2);
    }
    // Every lock in one round first, then b again until it was free.
    let log = fake.log();
    assert_eq!(
        (lock_tries(&log, "a"), lock_tries(&log, "c")),
        (1, 1),
        "{log:#?}"
    );
    assert!(lock_tries(&log, "b") >= 2, "{log:#?}");
}

#[tokio::test]
async fn a_run_that_lost_the_first_host_gives_up_at_once() {
    let hosts = ["a", "b"];
    let (fake, d) = planned_then_locked(&hosts, "a").await;
    let ran = run(d).await;
    assert_eq!(ran.summary.outcome, RunOutcome::NotStarted);
    // One try each: no second round.
    let log = fake.log();
    for h in hosts {
        assert_eq!(lock_tries(&log, h), 1, "{h}: {log:#?}");
    }
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::LockHeld { host, .. } if host == "a")));
    // b was taken in the same round and is free again.
    assert_eq!(fake.names("b"), ["web".to_owned()]);
    assert_eq!(fake.calls("b", Op::Stop), 0);
}

#[tokio::test]
async fn stop_answered_304_means_already_stopped() {
    let fake = fleet(&["a"], Some(OK));
    // The app died by itself: Docker answers the stop with 304.
    fake.edit("a", "web", |c| c.state = State::Exited);
    let ran = deploy_v2(&fake, &["a"]).await;
    ran.assert_deployed("a");
    assert!(
        fake.log()
            .iter()
            .any(|l| l.starts_with("a Stop") && l.ends_with("-> 304"))
    );
    settled(&fake, "a", V2);
}

/// The rename is the first change: when it fails the old container was
/// neither stopped nor started again, and the host is unchanged.
#[tokio::test]
async fn a_failed_rename_leaves_the_running_container_alone() {
    let fake = fleet(&["a", "b"], Some(OK));
    let before = original_ids(&fake, &["a", "b"]);
    fake.fail("a", Op::Rename, 1, Fault::Status(409));
    let ran = deploy_v2(&fake, &["a", "b"]).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Failed);
    assert_eq!(ran.outcome("a"), HostOutcome::Unchanged);
    assert!(ran.error("a").contains("409"), "{}", ran.error("a"));
    assert_eq!(ran.outcome("b"), HostOutcome::Skipped);
    assert_eq!(settled(&fake, "a", V1), before[0]);
    assert_eq!(fake.calls("a", Op::Stop), 0, "{:#?}", fake.log());
    assert_eq!(fake.calls("a", Op::Start), 0, "{:#?}", fake.log());
    assert_eq!(fake.calls("a", Op::Create), 1, "only the lock");
    assert_eq!(settled(&fake, "b", V1), before[1]);
}

/// A container Docker 20.10 left without its network sandbox (an older
/// flotilla renamed it during a stop) cannot be renamed while it runs: it is
/// stopped first, then renamed, and the deploy goes on.
#[tokio::test]
async fn a_container_with_a_stale_sandbox_is_stopped_before_its_rename() {
    let fake = fleet(&["a"], Some(OK));
    fake.edit("a", "web", |c| c.stale_sandbox = true);
    let old = fake.get("a", "web").expect("web").id;
    let ran = deploy_v2(&fake, &["a"]).await;
    ran.assert_deployed("a");
    settled(&fake, "a", V2);
    let log = fake.log();
    let refused = at(&log, &format!("a Rename {old}"));
    assert!(log[refused].ends_with("-> 404"), "{log:#?}");
    let stopped = at(&log, &format!("a Stop {old}"));
    let renamed = log
        .iter()
        .rposition(|l| l.starts_with(&format!("a Rename {old}")) && l.ends_with("-> ok"))
        .unwrap_or_else(|| panic!("never renamed: {log:#?}"));
    assert!(refused < stopped && stopped < renamed, "{log:#?}");
    assert!(
        ran.events.iter().any(|e| matches!(e,
            DeployEvent::Warning { message } if message.contains("network sandbox"))),
        "{:?}",
        ran.events
    );
}

#[tokio::test]
async fn the_replaced_container_goes_while_the_next_host_deploys() {
    let fake = fleet(&["a", "b"], Some(OK));
    let ran = deploy_v2(&fake, &["a", "b"]).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    let log = fake.log();
    let removed = at(&log, &format!("a Remove {}", old_name("web")));
    // The lock goes by its id (the fake's ids end in the name).
    let unlocked = log
        .iter()
        .position(|l| l.starts_with("a Remove ") && l.contains(&lock_name("web")))
        .unwrap_or_else(|| panic!("a's lock not removed: {log:#?}"));
    assert!(
        at(&log, "b Start") < removed,
        "a's old container went before b started: {log:#?}"
    );
    assert!(
        removed < unlocked,
        "a's lock went before its old container: {log:#?}"
    );
    settled(&fake, "a", V2);
    settled(&fake, "b", V2);
}

#[tokio::test]
async fn the_lock_is_made_from_the_image_the_probe_saw_or_else_looked_up_again() {
    let lock = lock_name("web");
    let fake = fleet(&["a", "b"], Some(OK));
    let mut d = deployment(
        &fake,
        &service(&["a", "b"], 1),
        &request(Mode::Deploy, Some(V2)),
    )
    .await;
    // b's image is gone since the probe: its first create fails and changes nothing.
    d.lock_images.insert("b".into(), "sha256:gone".into());
    let ran = run(d).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    let log = fake.log();
    let creates = |host: &str| -> Vec<&String> {
        log.iter()
            .filter(|l| l.starts_with(&format!("{host} Create {lock} ")))
            .collect()
    };
    // a: one create, straight from the probe's image, no inspect before it.
    let a = creates("a");
    assert_eq!(a.len(), 1, "{log:#?}");
    let at = log.iter().position(|l| l == a[0]).expect("create");
    assert!(!log[at - 1].starts_with("a Inspect "), "{log:#?}");
    // b: the gone image, then the one a fresh inspect found.
    let b = creates("b");
    assert_eq!(b.len(), 2, "{log:#?}");
    assert!(
        b[0].contains("sha256:gone") && b[0].contains("404"),
        "{log:#?}"
    );
    assert!(!b[1].contains("sha256:gone"), "{log:#?}");
    settled(&fake, "a", V2);
    settled(&fake, "b", V2);
}

#[tokio::test]
async fn a_run_releases_exactly_the_lock_it_created() {
    use crate::ops::deploy::lock::{self, Acquire, LockRequest};
    let fake = fleet(&["a"], Some(OK));
    let engine = fake.handle("a").engine;
    let ours = LockRequest::here("web", "d-ours", V2);
    let Ok(Acquire::Taken(id)) = lock::acquire(engine.as_ref(), "a", &ours, ID1, |_| false).await
    else {
        panic!("lock not taken: {:?}", fake.log());
    };
    // Broken (--break-lock) and taken by another deploy meanwhile.
    lock::break_lock(engine.as_ref(), "a", "web")
        .await
        .expect("break");
    let theirs = LockRequest::here("web", "d-theirs", V2);
    let Ok(Acquire::Taken(their_id)) =
        lock::acquire(engine.as_ref(), "a", &theirs, ID1, |_| false).await
    else {
        panic!("second lock not taken: {:?}", fake.log());
    };
    assert_ne!(id, their_id);
    lock::release_taken(engine.as_ref(), "a", &id)
        .await
        .expect("release");
    let held = lock::read(engine.as_ref(), "a", "web").await.expect("read");
    assert_eq!(held.map(|l| l.deploy_id).as_deref(), Some("d-theirs"));

    // A whole run releases its own by id: one call, no inspect first.
    lock::release_taken(engine.as_ref(), "a", &their_id)
        .await
        .expect("release");
    let ran = deploy_v2(&fake, &["a"]).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    let log = fake.log();
    let last = log.last().expect("calls");
    let by_name = format!("a Remove {} ", lock_name("web"));
    assert!(
        last.starts_with("a Remove ") && !last.starts_with(&by_name),
        "{log:#?}"
    );
    assert!(!log[log.len() - 2].starts_with(&format!("a Inspect {}", lock_name("web"))));
    assert_eq!(fake.names("a"), ["web"]);
}

#[tokio::test]
async fn conflict_removing_the_old_is_only_a_warning() {
    let fake = fleet(&["a", "b"], Some(OK));
    fake.fail("a", Op::Remove, 1, Fault::Status(409));
    let ran = deploy_v2(&fake, &["a", "b"]).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    assert_eq!(ran.outcome("a"), HostOutcome::Deployed);
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::Warning { message } if message.contains("409") && message.contains("healthy"))));
    // The old container stays aside, stopped; the new one serves.
    assert_eq!(fake.names("a"), ["web".to_owned(), old_name("web")]);
    assert_eq!(
        fake.get("a", &old_name("web")).expect("old").state,
        State::Exited
    );
    assert!(fake.get("a", "web").expect("web").running());
    settled(&fake, "b", V2);
}

#[tokio::test]
async fn auto_remove_container_is_refused_before_being_stopped() {
    let fake = fleet(&["a", "b"], Some(OK));
    fake.edit("a", "web", |c| c.auto_remove = true);
    let before = original_ids(&fake, &["a"]);
    let ran = deploy_v2(&fake, &["a", "b"]).await;
    assert_eq!(ran.outcome("a"), HostOutcome::Unchanged);
    assert!(ran.error("a").contains("--rm"), "{}", ran.error("a"));
    assert_eq!(fake.calls("a", Op::Stop), 0);
    assert_eq!(settled(&fake, "a", V1), before[0]);
    assert_eq!(ran.outcome("b"), HostOutcome::Skipped);
}

#[tokio::test]
async fn abort_mid_batch_rolls_back_the_hosts_in_flight() {
    let hosts = ["a", "b", "c"];
    // v2 takes far longer than the test to become healthy.
    let mut slow = vec![STARTING; 400];
    slow.push(HEALTHY);
    let fake = fleet(&hosts, Some(&slow));
    let before = original_ids(&fake, &hosts);
    let d = deployment(&fake, &service(&hosts, 2), &request(Mode::Deploy, Some(V2))).await;
    let mut waiting = Vec::new();
    let ran = run_steered(d, |e, control| {
        if let DeployEvent::Step {
            host,
            step: Step::WaitingForHealth,
            ..
        } = e
        {
            waiting.push(host.clone());
            if waiting.len() == 2 {
                let _ = control.send(Control::Abort);
            }
        }
    })
    .await;

    for (i, h) in ["a", "b"].iter().enumerate() {
        assert_eq!(ran.outcome(h), HostOutcome::RolledBack, "{h}");
        assert_eq!(ran.error(h), "cancelled");
        assert_eq!(settled(&fake, h, V1), before[i], "{h}");
    }
    assert_eq!(ran.outcome("c"), HostOutcome::Skipped);
    assert_eq!(settled(&fake, "c", V1), before[2]);
    assert_eq!(fake.calls("c", Op::Stop), 0);
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::Stopped { reason, untouched } if reason == "aborted" && untouched == &["c".to_owned()])));
    // Rolled-back hosts count as failures, so the run reports failed.
    assert_eq!(ran.summary.outcome, RunOutcome::Failed);
}

async fn next_event(rx: &mut mpsc::Receiver<DeployEvent>) -> DeployEvent {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .expect("an event")
        .expect("the run goes on")
}

#[tokio::test]
async fn pause_holds_after_the_current_batch_until_run() {
    let hosts = ["a", "b", "c"];
    // A few health polls (the sequence advances per inspect): the run waits a
    // moment, so the pause lands mid-batch.
    let fake = fleet(
        &hosts,
        Some(&[STARTING, STARTING, STARTING, STARTING, HEALTHY]),
    );
    let d = deployment(&fake, &service(&hosts, 1), &request(Mode::Deploy, Some(V2))).await;
    let (tx, mut rx) = mpsc::channel(10_000);
    let (control, control_rx) = watch::channel(Control::Run);
    let task = tokio::spawn(execute(d, tx, control_rx));
    let mut events = Vec::new();
    loop {
        let e = next_event(&mut rx).await;
        let first_batch = matches!(e, DeployEvent::BatchStarted { index: 0, .. });
        events.push(e);
        if first_batch {
            let _ = control.send(Control::Pause);
            break;
        }
    }
    loop {
        let e = next_event(&mut rx).await;
        let paused = e == DeployEvent::Paused;
        events.push(e);
        if paused {
            break;
        }
    }
    // The batch in flight finished; nothing more happens while paused.
    assert!(events.iter().any(host_done("a")));
    tokio::time::sleep(Duration::from_millis(600)).await;
    while let Ok(e) = rx.try_recv() {
        assert!(
            matches!(e, DeployEvent::Step { .. } | DeployEvent::HealthWait { .. }),
            "while paused: {e:?}"
        );
    }
    assert_eq!(fake.get("a", "web").expect("web").image, V2);
    assert_eq!(fake.get("b", "web").expect("web").image, V1);
    assert_eq!(fake.calls("b", Op::Stop), 0);

    let _ = control.send(Control::Run);
    let rest = async {
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
    };
    tokio::time::timeout(LIMIT, rest)
        .await
        .expect("the run ends");
    let summary = task.await.expect("the run does not panic");
    assert_eq!(summary.outcome, RunOutcome::Succeeded);
    let resumed = events.iter().position(|e| *e == DeployEvent::Resumed);
    let second = events.iter().position(batch_started(1));
    assert!(resumed.is_some() && resumed < second, "{events:?}");
    for h in hosts {
        settled(&fake, h, V2);
    }
}

mod replicas;
mod start_first;

/// A run whose only failures are lost hosts says so (the CLI exits 3, not
/// 5, which means "failed and rolled back").
#[test]
fn only_lost_hosts_make_an_unreachable_run() {
    let summary = |outcomes: &[HostOutcome]| Summary {
        outcome: RunOutcome::Failed,
        hosts: outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| (format!("h{i}"), *o))
            .collect(),
        not_started: None,
        elapsed: Duration::ZERO,
    };
    use HostOutcome::{Deployed, RolledBack, Skipped, Unreachable};
    assert!(summary(&[Deployed, Unreachable, Skipped]).only_unreachable_failed());
    assert!(!summary(&[RolledBack, Unreachable]).only_unreachable_failed());
    assert!(!summary(&[Deployed]).only_unreachable_failed());
    let lost = crate::ops::deploy::DeployError::Docker {
        host: "a".into(),
        what: "inspect".into(),
        source: bollard::errors::Error::RequestTimeoutError,
    };
    assert!(lost.unreachable());
    let refused = crate::ops::deploy::DeployError::Docker {
        host: "a".into(),
        what: "rename".into(),
        source: bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "no".into(),
        },
    };
    assert!(!refused.unreachable());
}
