//! A scaled Compose service: three replicas per host, matched by label.

use super::*;

const REPLICAS: [&str; 3] = ["api-1", "api-2", "api-3"];
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
const NUMBER: &str = "com.docker.compose.container-number";

fn scaled_service(hosts: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: "api".into(),
        container: ContainerSelector::Label {
            key: COMPOSE_SERVICE.into(),
            value: Some("api".into()),
        },
        ..service(hosts, 1)
    }
}

/// Each host runs api-1..3 on app:v1 with Compose labels; v2 is everywhere.
fn scaled_fleet(hosts: &[&str]) -> Fake {
    let fake = Fake::new(hosts);
    for h in hosts {
        fake.image(h, V1, ID1, OK);
        fake.image(h, V2, ID2, OK);
        for (i, name) in REPLICAS.iter().enumerate() {
            fake.container(h, name, V1);
            fake.edit(h, name, |c| {
                c.labels.insert(COMPOSE_SERVICE.into(), "api".into());
                c.labels.insert(NUMBER.into(), (i + 1).to_string());
            });
        }
    }
    fake
}

/// Every replica runs `image`, healthy, under its name with its Compose
/// labels; nothing aside, no lock. Returns the container ids.
fn replicas_settled(fake: &Fake, host: &str, image: &str) -> Vec<String> {
    assert_eq!(fake.names(host), REPLICAS, "{host}: {:?}", fake.log());
    REPLICAS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let c = fake.get(host, name).expect("replica");
            assert_eq!(c.image, image, "{host} {name}");
            assert_eq!(c.state, State::Running, "{host} {name}");
            assert_eq!(c.health.back(), Some(&HEALTHY), "{host} {name}");
            assert_eq!(
                c.labels.get(NUMBER).map(String::as_str),
                Some((i + 1).to_string().as_str()),
                "{host} {name} keeps its Compose labels"
            );
            c.id
        })
        .collect()
}

fn ids(fake: &Fake, host: &str) -> Vec<String> {
    REPLICAS
        .iter()
        .map(|n| fake.get(host, n).expect("replica").id)
        .collect()
}

/// Index in the events of `step` on `host` for `container`.
fn step_of(ran: &Ran, host: &str, container: &str, step: Step) -> Option<usize> {
    ran.position(|e| {
        matches!(e, DeployEvent::Step { host: h, replica: Some(r), step: s, .. }
            if h == host && r.container == container && *s == step)
    })
}

/// The log's lines on `host` from the `from`th on, as "Op args".
fn ops_on(fake: &Fake, host: &str, from: usize) -> Vec<String> {
    fake.log()[from..]
        .iter()
        .filter_map(|l| l.strip_prefix(&format!("{host} ")))
        .map(|l| l.split(" -> ").next().unwrap_or(l).to_owned())
        .collect()
}

#[tokio::test]
async fn replicas_are_replaced_one_at_a_time_each_health_gated() {
    let hosts = ["a", "b"];
    let fake = scaled_fleet(&hosts);
    let svc = scaled_service(&hosts);
    let d = deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await;
    let planned: Vec<&str> = d.plan.batches[0][0]
        .replicas
        .iter()
        .map(|r| r.container.as_str())
        .collect();
    assert_eq!(planned, REPLICAS);
    let ran = run(d).await;

    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);
    for h in hosts {
        assert_eq!(ran.outcome(h), HostOutcome::Deployed);
        replicas_settled(&fake, h, V2);
        // Each replica is healthy before the next one is stopped.
        for pair in REPLICAS.windows(2) {
            let healthy = step_of(&ran, h, pair[0], Step::Healthy).expect("healthy");
            let next = step_of(&ran, h, pair[1], Step::Stopping).expect("stopping");
            assert!(
                healthy < next,
                "{h}: {} stopped before {} was healthy",
                pair[1],
                pair[0]
            );
        }
        let api = fake.get(h, "api-2").expect("api-2");
        assert_eq!(
            api.labels.get(LABEL_PREVIOUS_IMAGE).map(String::as_str),
            Some(V1)
        );
    }
    // Progress names the replica and where it stands.
    assert!(ran.events.iter().any(|e| e.describe().as_deref()
        == Some("a api-2 (2/3): stopping old container api-2")));
}

#[tokio::test]
async fn a_replica_failing_health_puts_every_replica_of_the_host_back() {
    let hosts = ["a", "b"];
    let fake = scaled_fleet(&hosts);
    // Only api-2 on v2 never becomes healthy.
    fake.health_of("a", "api-2", V2, SICK);
    let before = ids(&fake, "a");
    let svc = scaled_service(&hosts);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;

    assert_eq!(ran.summary.outcome, RunOutcome::Failed);
    assert_eq!(ran.outcome("a"), HostOutcome::RolledBack);
    assert!(
        ran.error("a").starts_with("a api-2 (2/3): unhealthy"),
        "{}",
        ran.error("a")
    );
    assert_eq!(
        ran.outcome("b"),
        HostOutcome::Skipped,
        "max_fail 0 stops the rollout"
    );
    let after = replicas_settled(&fake, "a", V1);
    // api-1 had been replaced: it was recreated on v1 (without the deploy's labels)...
    assert_ne!(after[0], before[0]);
    let api1 = fake.get("a", "api-1").expect("api-1");
    assert_eq!(api1.image_id, ID1);
    assert!(
        !api1.labels.contains_key(LABEL_PREVIOUS_IMAGE),
        "{:?}",
        api1.labels
    );
    // ...and proven healthy again after api-2 failed.
    let failed = step_of(&ran, "a", "api-2", Step::RollingBack).expect("api-2 rolled back");
    let rechecked = ran.events[failed..].iter().any(|e| {
        matches!(e, DeployEvent::Step { replica: Some(r), step: Step::Healthy, .. }
            if r.container == "api-1")
    });
    assert!(rechecked, "api-1 health-checked on its way back");
    // api-2 got its own old container back; api-3 was never touched.
    assert_eq!(after[1..], before[1..]);
    let stop_api3 = format!("Stop {}", before[2]);
    assert!(
        !ops_on(&fake, "a", 0).contains(&stop_api3),
        "{:?}",
        fake.log()
    );
    replicas_settled(&fake, "b", V1);
    assert_eq!(fake.calls("b", Op::Stop), 0);
}

#[tokio::test]
async fn rollback_returns_every_replica_to_its_previous_image() {
    let hosts = ["a", "b"];
    let fake = scaled_fleet(&hosts);
    let svc = scaled_service(&hosts);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;
    assert_eq!(ran.summary.outcome, RunOutcome::Succeeded);

    let d = deployment(&fake, &svc, &request(Mode::Rollback, None)).await;
    assert!(d.plan.hosts().all(|h| h.changing().count() == 3));
    let ran = run(d).await;
    assert_eq!(
        ran.summary.outcome,
        RunOutcome::Succeeded,
        "{:?}",
        ran.summary
    );
    for h in hosts {
        assert_eq!(ran.outcome(h), HostOutcome::Deployed);
        replicas_settled(&fake, h, V1);
    }
}

/// Deploys v2 to host a until `op` number `nth` there, where the process
/// "dies"; its locks then belong to a dead process.
async fn crash_replicas_at(fake: &Fake, op: Op, nth: usize) {
    fake.fail("a", op, nth, Fault::Crash);
    let svc = scaled_service(&["a"]);
    let d = deployment(fake, &svc, &request(Mode::Deploy, Some(V2))).await;
    let (tx, _rx) = mpsc::channel(10_000);
    let (_control, control_rx) = watch::channel(Control::Run);
    let task = tokio::spawn(execute(d, tx, control_rx));
    tokio::time::timeout(LIMIT, fake.crashed())
        .await
        .expect("the crash happens");
    task.abort();
    let _ = task.await;
    fake.restart();
    fake.edit("a", &lock_name("api"), |c| {
        c.labels.insert("flotilla.lock.pid".into(), "0".into());
    });
}

#[tokio::test]
async fn resume_finishes_a_half_done_replica_then_the_rest() {
    let fake = scaled_fleet(&["a"]);
    // Create 1 is the lock, 2 the new api-1, 3 the new api-2.
    crash_replicas_at(&fake, Op::Create, 3).await;
    assert_eq!(fake.get("a", "api-1").expect("api-1").image, V2);
    assert!(fake.get("a", &old_name("api-2")).is_some());
    assert!(fake.get("a", "api-2").is_none());
    let svc = scaled_service(&["a"]);
    let d = deployment(&fake, &svc, &request(Mode::Resume, None)).await;
    let jobs: Vec<(&str, Job)> = d.plan.batches[0][0]
        .replicas
        .iter()
        .map(|r| (r.container.as_str(), r.job))
        .collect();
    // api-1 is planned too (the image's id is read from the lock only at run
    // time) and found up to date then.
    assert_eq!(
        jobs,
        [
            ("api-2", Job::Finish),
            ("api-1", Job::Deploy),
            ("api-3", Job::Deploy)
        ]
    );
    let api1 = fake.get("a", "api-1").expect("api-1").id;
    let ran = run(d).await;
    assert_eq!(
        ran.summary.outcome,
        RunOutcome::Succeeded,
        "{:?}",
        ran.summary
    );
    let after = replicas_settled(&fake, "a", V2);
    assert_eq!(after[0], api1, "api-1 was already done");
}

#[tokio::test]
async fn recover_restores_the_half_done_replica_and_reverts_the_finished_one() {
    let fake = scaled_fleet(&["a"]);
    let before = ids(&fake, "a");
    crash_replicas_at(&fake, Op::Create, 3).await;
    let seen = fake.log().len();
    let svc = scaled_service(&["a"]);
    let ran = run(deployment(&fake, &svc, &request(Mode::Recover, None)).await).await;
    assert_eq!(
        ran.summary.outcome,
        RunOutcome::Succeeded,
        "{:?}",
        ran.summary
    );
    let after = replicas_settled(&fake, "a", V1);
    assert_eq!(
        after[1..],
        before[1..],
        "api-2's old container is back, api-3 untouched"
    );
    let stop_api3 = format!("Stop {}", before[2]);
    assert!(
        !ops_on(&fake, "a", seen).contains(&stop_api3),
        "{:?}",
        fake.log()
    );
}

#[tokio::test]
async fn abort_during_a_replica_puts_the_host_back_too() {
    let fake = scaled_fleet(&["a"]);
    // api-2 on v2 takes far longer than the test to become healthy.
    let mut slow = vec![STARTING; 400];
    slow.push(HEALTHY);
    fake.health_of("a", "api-2", V2, &slow);
    let before = ids(&fake, "a");
    let d = deployment(
        &fake,
        &scaled_service(&["a"]),
        &request(Mode::Deploy, Some(V2)),
    )
    .await;
    let ran = run_steered(d, |e, control| {
        if matches!(e, DeployEvent::Step { replica: Some(r), step: Step::WaitingForHealth, .. }
            if r.container == "api-2")
        {
            let _ = control.send(Control::Abort);
        }
    })
    .await;
    assert_eq!(ran.outcome("a"), HostOutcome::RolledBack);
    assert_eq!(ran.error("a"), "api-2 (2/3): cancelled");
    let after = replicas_settled(&fake, "a", V1);
    assert_eq!(after[1..], before[1..]);
}

#[tokio::test]
async fn a_replica_goes_back_to_the_exact_image_even_when_its_tag_moved() {
    let fake = scaled_fleet(&["a"]);
    fake.health_of("a", "api-2", V2, SICK);
    // app:v1 now names another image than the one the replicas run.
    fake.image("a", V1, "sha256:3333", OK);
    let svc = scaled_service(&["a"]);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;
    assert_eq!(
        ran.outcome("a"),
        HostOutcome::RolledBack,
        "{}",
        ran.error("a")
    );
    let api1 = fake.get("a", "api-1").expect("api-1");
    assert_eq!((api1.image.as_str(), api1.image_id.as_str()), (ID1, ID1));
    assert!(api1.running());
    assert!(ran.events.iter().any(|e| matches!(e,
        DeployEvent::Warning { message } if message.contains("no longer names"))));
    for name in ["api-2", "api-3"] {
        assert_eq!(fake.get("a", name).expect("replica").image, V1, "{name}");
    }
}

#[tokio::test]
async fn a_replica_that_cannot_go_back_fails_the_host_and_keeps_its_lock() {
    let fake = scaled_fleet(&["a"]);
    fake.health_of("a", "api-2", V2, SICK);
    // api-1's way back to v1 fails too: it keeps its healthy v2 container.
    fake.health_of("a", "api-1", V1, SICK);
    let svc = scaled_service(&["a"]);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;
    assert_eq!(ran.outcome("a"), HostOutcome::Failed);
    let error = ran.error("a");
    assert!(
        error.starts_with("a api-2 (2/3): unhealthy")
            && error.contains("putting the host's other replicas back failed: api-1"),
        "{error}"
    );
    // Never fewer containers, each running healthy; the lock says "look here".
    assert_eq!(
        fake.names("a"),
        ["api-1", "api-2", "api-3", &lock_name("api")]
    );
    for (name, image) in [("api-1", V2), ("api-2", V1), ("api-3", V1)] {
        let c = fake.get("a", name).expect("replica");
        assert_eq!(
            (c.image.as_str(), c.state),
            (image, State::Running),
            "{name}"
        );
        assert_eq!(c.health.back(), Some(&HEALTHY), "{name}");
    }
}
