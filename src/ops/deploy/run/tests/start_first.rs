//! Start-first on the fake: the new container proves itself beside the old
//! one, which stops only then; a failed gate never touches the old one.

use super::*;

fn start_first(hosts: &[&str]) -> ServiceSpec {
    ServiceSpec {
        order: None,
        ..service(hosts, 1)
    }
}

fn down_ms(ran: &Ran, host: &str) -> Option<u64> {
    ran.events.iter().find_map(|e| match e {
        DeployEvent::HostDone {
            host: h, timings, ..
        } if h == host => timings.down_ms,
        _ => None,
    })
}

#[tokio::test]
async fn the_old_container_stops_only_once_the_new_one_is_healthy() {
    let hosts = ["a"];
    let fake = fleet(&hosts, Some(OK));
    let svc = start_first(&hosts);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;

    ran.assert_deployed("a");
    let web = settled(&fake, "a", V2);
    assert_ne!(web, "", "the new container took the name");
    assert_eq!(down_ms(&ran, "a"), Some(0));
    let log = fake.log();
    // Created under the temporary name and started while the old one ran;
    // the old one stopped after that, then the names moved.
    let created = at(&log, "a Create web-flotilla-new");
    let started = at(&log, "a Start");
    let stopped = at(&log, "a Stop");
    assert!(created < started && started < stopped, "{log:#?}");
    let healthy = ran
        .position(|e| {
            matches!(
                e,
                DeployEvent::Step {
                    step: Step::Healthy,
                    ..
                }
            )
        })
        .expect("healthy");
    let stopping = ran
        .position(|e| {
            matches!(
                e,
                DeployEvent::Step {
                    step: Step::Stopping,
                    ..
                }
            )
        })
        .expect("stopping");
    assert!(healthy < stopping, "{:#?}", ran.events);
}

#[tokio::test]
async fn a_failed_gate_removes_the_new_one_and_never_touched_the_old() {
    let hosts = ["a"];
    let fake = fleet(&hosts, Some(SICK));
    let before = original_ids(&fake, &hosts);
    let svc = start_first(&hosts);
    let ran = run(deployment(&fake, &svc, &request(Mode::Deploy, Some(V2))).await).await;

    assert_eq!(
        ran.outcome("a"),
        HostOutcome::Unchanged,
        "{:#?}",
        ran.events
    );
    assert!(ran.error("a").contains("unhealthy"), "{}", ran.error("a"));
    assert_eq!(
        settled(&fake, "a", V1),
        before[0],
        "the very same container"
    );
    assert_eq!(fake.calls("a", Op::Stop), 0, "the old one never stopped");
    assert_eq!(fake.calls("a", Op::Rename), 0);
}

#[tokio::test]
async fn a_crashed_runs_candidate_is_removed_and_the_deploy_starts_over() {
    let hosts = ["a"];
    let fake = fleet(&hosts, Some(OK));
    // Left by a run killed while its candidate proved itself: a plain deploy
    // says to resume or roll back; the resume starts over.
    fake.container("a", "web-flotilla-new", V2);
    let svc = start_first(&hosts);
    let ran = run(deployment(&fake, &svc, &request(Mode::Resume, Some(V2))).await).await;

    ran.assert_deployed("a");
    settled(&fake, "a", V2);
}

/// Kills a start-first run of a and b mid-switch on a: the old container
/// stopped and aside, the healthy candidate not yet named.
async fn crash_mid_switch(fake: &Fake) -> String {
    let id = crash_with(fake, &start_first(&["a", "b"]), Op::Rename, 2).await;
    assert!(fake.get("a", "web").is_none(), "{:?}", fake.names("a"));
    assert!(
        fake.get("a", "web-flotilla-new").is_some(),
        "{:?}",
        fake.names("a")
    );
    id
}

#[tokio::test]
async fn killed_mid_switch_then_resume_names_the_healthy_candidate() {
    let fake = fleet(&["a", "b"], Some(OK));
    crash_mid_switch(&fake).await;
    let candidate = fake.get("a", "web-flotilla-new").expect("candidate").id;
    let svc = start_first(&["a", "b"]);
    let ran = run(deployment(&fake, &svc, &request(Mode::Resume, None)).await).await;
    assert_eq!(
        ran.summary.outcome,
        RunOutcome::Succeeded,
        "{:#?}",
        ran.events
    );
    assert_eq!(
        settled(&fake, "a", V2),
        candidate,
        "the candidate took the name"
    );
    settled(&fake, "b", V2);
}

#[tokio::test]
async fn killed_mid_switch_then_rollback_puts_the_old_one_back() {
    let fake = fleet(&["a", "b"], Some(OK));
    let before = original_ids(&fake, &["a", "b"]);
    crash_mid_switch(&fake).await;
    let svc = start_first(&["a", "b"]);
    let ran = run(deployment(&fake, &svc, &request(Mode::Recover, None)).await).await;
    assert_eq!(
        ran.summary.outcome,
        RunOutcome::Succeeded,
        "{:#?}",
        ran.events
    );
    assert_eq!(ran.outcome("a"), HostOutcome::Restored);
    assert_eq!(
        settled(&fake, "a", V1),
        before[0],
        "the old container, and no candidate"
    );
}
