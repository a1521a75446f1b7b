//! The planner on hand-made probes.

use super::*;
use crate::ops::deploy::probe::{ContainerSnap, ReplicaProbe};

fn c(name: &str, image: &str) -> ContainerSnap {
    ContainerSnap {
        id: format!("id-{name}-{image}"),
        name: name.into(),
        image: image.into(),
        image_id: format!("sha256:{image}"),
        running: true,
        state: "running".into(),
        health: Some("healthy".into()),
        restart_count: 0,
        previous_image: None,
        deploy_id: None,
        labels: Default::default(),
        exposure: Default::default(),
    }
}

fn probe(host: &str, image: &str) -> HostProbe {
    HostProbe {
        host: host.into(),
        replicas: vec![ReplicaProbe {
            name: "web".into(),
            current: Some(c("web", image)),
            old: None,
            candidate: false,
        }],
        lock: None,
        target_id: None,
    }
}

fn lock(id: &str, liveness: Liveness) -> LockInfo {
    LockInfo {
        service: "web".into(),
        holder: "ann@box".into(),
        pid: 42,
        since: "2026-01-01T00:00:00Z".into(),
        deploy_id: id.into(),
        image: "app:v2".into(),
        liveness,
    }
}

fn names(batch: &[PlannedHost]) -> Vec<&str> {
    batch.iter().map(|h| h.host.as_str()).collect()
}

fn deploy(host: &str, from: &str, to: &str) -> PlannedHost {
    PlannedHost::new(
        host,
        vec![PlannedReplica {
            container: "web".into(),
            from: from.into(),
            to: to.into(),
            job: Job::Deploy,
            note: None,
        }],
    )
}

/// The one replica of a single-container probe.
fn only(p: &mut HostProbe) -> &mut ReplicaProbe {
    &mut p.replicas[0]
}

#[test]
fn serial_counts_percentages_and_the_last_size_repeats() {
    use Amount::{Count, Percent};
    assert_eq!(
        batch_sizes(10, &[Count(1), Count(2), Percent(50)]),
        [1, 2, 5, 2]
    );
    assert_eq!(batch_sizes(3, &[Count(1)]), [1, 1, 1]);
    assert_eq!(batch_sizes(5, &[Count(2)]), [2, 2, 1]);
    assert_eq!(batch_sizes(4, &[Count(10)]), [4]);
    // 10% of 3 rounds down to 0, but a batch has at least one host.
    assert_eq!(batch_sizes(3, &[Percent(10)]), [1, 1, 1]);
    assert_eq!(batch_sizes(4, &[Percent(100)]), [4]);
    assert_eq!(batch_sizes(3, &[]), [3]);
    assert!(batch_sizes(0, &[Count(1)]).is_empty());
}

#[test]
fn fail_limits_count_or_round_down() {
    assert_eq!(fail_limit(10, Amount::Count(0)), 0);
    assert_eq!(fail_limit(10, Amount::Count(3)), 3);
    assert_eq!(fail_limit(10, Amount::Percent(10)), 1);
    assert_eq!(fail_limit(9, Amount::Percent(10)), 0);
    assert_eq!(fail_limit(20, Amount::Percent(25)), 5);
}

#[test]
fn plan_batches_only_changing_hosts_in_order() {
    let mut kept = deploy("b", "app:v2", "app:v2");
    kept.job = Job::Keep;
    let hosts = vec![
        deploy("a", "app:v1", "app:v2"),
        kept,
        deploy("c", "app:v1", "app:v2"),
        deploy("d", "app:v1", "app:v2"),
    ];
    let p = plan(
        hosts,
        &[Amount::Count(1), Amount::Count(2)],
        Amount::Percent(50),
    );
    let batches: Vec<Vec<&str>> = p.batches.iter().map(|b| names(b)).collect();
    assert_eq!(batches, [vec!["a"], vec!["c", "d"]]);
    assert_eq!(names(&p.unchanged), ["b"]);
    assert_eq!(p.max_fail, 1);
    assert!(!p.exceeded(1));
    assert!(p.exceeded(2));
    assert_eq!(p.hosts().count(), 3);
}

#[test]
fn deploy_keeps_hosts_already_on_the_image() {
    let mut b = probe("b", "app:v2");
    b.target_id = Some("sha256:app:v2".into());
    // Same tag but the tag now names another image: redeploy.
    let mut c = probe("c", "app:v2");
    c.target_id = Some("sha256:newer".into());
    let intent = Intent::Deploy {
        image: "app:v2".into(),
    };
    let hosts = candidates(
        &[probe("a", "app:v1"), b, c],
        &intent,
        &BTreeSet::new(),
        "web",
    )
    .expect("plan");
    let jobs: Vec<(&str, Job, &str, &str)> = hosts
        .iter()
        .map(|h| (h.host.as_str(), h.job, h.from.as_str(), h.to.as_str()))
        .collect();
    assert_eq!(
        jobs,
        [
            ("a", Job::Deploy, "app:v1", "app:v2"),
            ("b", Job::Keep, "app:v2", "app:v2"),
            ("c", Job::Deploy, "app:v2", "app:v2"),
        ]
    );
}

#[test]
fn missing_container_is_an_error() {
    let mut a = probe("a", "app:v1");
    a.replicas.clear();
    let err = candidates(
        &[a],
        &Intent::Deploy { image: "x".into() },
        &BTreeSet::new(),
        "web",
    )
    .expect_err("missing");
    assert_eq!(err.to_string(), "a: no container web");
}

/// fleet: a finished (v2, labelled), b half done (old v1 + new v2), c untouched.
fn interrupted_fleet() -> Vec<HostProbe> {
    let mut a = probe("a", "app:v2");
    if let Some(cur) = only(&mut a).current.as_mut() {
        cur.previous_image = Some("app:v1".into());
        cur.deploy_id = Some("d1".into());
    }
    a.lock = Some(lock("d1", Liveness::Dead));
    let mut b = probe("b", "app:v2");
    if let Some(cur) = only(&mut b).current.as_mut() {
        cur.deploy_id = Some("d1".into());
        cur.previous_image = Some("app:v1".into());
    }
    let mut old = c("web-flotilla-old", "app:v1");
    old.running = false;
    only(&mut b).old = Some(old);
    b.lock = Some(lock("d1", Liveness::Dead));
    let mut c3 = probe("c", "app:v1");
    c3.lock = Some(lock("d1", Liveness::Dead));
    vec![a, b, c3]
}

#[test]
fn interrupted_deploys_are_detected_with_reasons() {
    let probes = interrupted_fleet();
    let found = interrupted(&probes);
    assert_eq!(found.deploy_ids, BTreeSet::from(["d1".to_owned()]));
    let hosts: Vec<&str> = found.hosts.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(hosts, ["a", "b", "c"]);
    assert!(found.hosts[1].1.contains("web-flotilla-old present"));
    assert!(found.hosts[0].1.contains("is gone"));
    // A live holder is a running deploy, not an interrupted one.
    let mut live = probe("a", "app:v1");
    live.lock = Some(lock("d2", Liveness::Alive));
    assert!(interrupted(&[live.clone()]).is_empty());
    assert_eq!(blocking_locks(&[live], &BTreeSet::new()).len(), 1);
}

#[test]
fn dead_locks_block_until_taken_over() {
    let probes = interrupted_fleet();
    assert_eq!(blocking_locks(&probes, &BTreeSet::new()).len(), 3);
    let ids = interrupted(&probes).deploy_ids;
    assert!(blocking_locks(&probes, &ids).is_empty());
    // A holder on another machine cannot be checked: it blocks.
    let mut remote = probe("a", "app:v1");
    remote.lock = Some(lock("d1", Liveness::Unknown));
    assert_eq!(blocking_locks(&[remote], &ids).len(), 1);
}

#[test]
fn resume_finishes_half_done_hosts_first() {
    let probes = interrupted_fleet();
    assert_eq!(resume_image(&probes).as_deref(), Some("app:v2"));
    let mut probes = probes;
    probes[0].target_id = Some("sha256:app:v2".into());
    let hosts = candidates(
        &probes,
        &Intent::Resume {
            image: "app:v2".into(),
        },
        &BTreeSet::new(),
        "web",
    )
    .expect("plan");
    let jobs: Vec<(&str, Job)> = hosts.iter().map(|h| (h.host.as_str(), h.job)).collect();
    assert_eq!(
        jobs,
        [("b", Job::Finish), ("a", Job::Keep), ("c", Job::Deploy)]
    );
    assert_eq!(hosts[0].from, "app:v1", "from = what ran before");
}

#[test]
fn recover_restores_half_done_and_reverts_finished_hosts() {
    let probes = interrupted_fleet();
    let ids = interrupted(&probes).deploy_ids;
    let hosts = candidates(&probes, &Intent::Recover, &ids, "web").expect("plan");
    let jobs: Vec<(&str, Job, &str)> = hosts
        .iter()
        .map(|h| (h.host.as_str(), h.job, h.to.as_str()))
        .collect();
    assert_eq!(hosts[0].from, "app:v2", "restore: from the replacement");
    assert_eq!(
        jobs,
        [
            ("b", Job::Restore, "app:v1"),
            ("a", Job::Deploy, "app:v1"),
            ("c", Job::Keep, "app:v1"),
        ]
    );
}

#[test]
fn recover_restarts_a_container_stopped_under_the_lock() {
    let mut a = probe("a", "app:v1");
    if let Some(cur) = only(&mut a).current.as_mut() {
        cur.running = false;
    }
    a.lock = Some(lock("d1", Liveness::Dead));
    let ids = interrupted(std::slice::from_ref(&a)).deploy_ids;
    let hosts = candidates(&[a], &Intent::Recover, &ids, "web").expect("plan");
    assert_eq!(hosts[0].job, Job::Restore);
}

#[test]
fn rollback_returns_to_the_recorded_previous_image() {
    let mut a = probe("a", "app:v2");
    if let Some(cur) = only(&mut a).current.as_mut() {
        cur.previous_image = Some("app:v1".into());
    }
    let b = probe("b", "app:v1");
    let hosts =
        candidates(&[a, b.clone()], &Intent::Rollback, &BTreeSet::new(), "web").expect("plan");
    assert_eq!(
        (hosts[0].job, hosts[0].to.as_str()),
        (Job::Deploy, "app:v1")
    );
    assert_eq!(hosts[1].job, Job::Keep);
    assert_eq!(
        candidates(&[b], &Intent::Rollback, &BTreeSet::new(), "web"),
        Err(PlanError::NothingToRollBack)
    );
}

/// A scaled service: `api-1..=n` on `host`, each on its image.
fn scaled(host: &str, images: &[&str]) -> HostProbe {
    HostProbe {
        host: host.into(),
        replicas: images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let name = format!("api-{}", i + 1);
                ReplicaProbe {
                    current: Some(c(&name, image)),
                    name,
                    old: None,
                    candidate: false,
                }
            })
            .collect(),
        lock: None,
        target_id: Some("sha256:app:v2".into()),
    }
}

fn replica_jobs(h: &PlannedHost) -> Vec<(&str, Job, &str, &str)> {
    h.replicas
        .iter()
        .map(|r| (r.container.as_str(), r.job, r.from.as_str(), r.to.as_str()))
        .collect()
}

#[test]
fn deploy_plans_every_replica_and_sums_up_the_host() {
    let probes = [scaled("a", &["app:v1", "app:v2", "app:v1"])];
    let intent = Intent::Deploy {
        image: "app:v2".into(),
    };
    let hosts = candidates(&probes, &intent, &BTreeSet::new(), "api").expect("plan");
    let a = &hosts[0];
    assert_eq!(
        replica_jobs(a),
        [
            ("api-1", Job::Deploy, "app:v1", "app:v2"),
            ("api-2", Job::Keep, "app:v2", "app:v2"),
            ("api-3", Job::Deploy, "app:v1", "app:v2"),
        ]
    );
    assert_eq!(
        (a.job, a.container.as_str(), a.from.as_str(), a.to.as_str()),
        (
            Job::Deploy,
            "api-1, api-2, api-3",
            "app:v1, app:v2",
            "app:v2"
        )
    );
    assert_eq!(a.changing().count(), 2);
    // The JSON plan lists the replicas per host.
    let json = serde_json::to_value(a).expect("json");
    assert_eq!(json["replicas"][2]["container"], "api-3");
    assert_eq!(json["replicas"][1]["job"], "keep");
    // All replicas on the image: the host is kept.
    let done = [scaled("a", &["app:v2", "app:v2"])];
    let hosts = candidates(&done, &intent, &BTreeSet::new(), "api").expect("plan");
    assert_eq!(hosts[0].job, Job::Keep);
}

/// Host a was interrupted on api-2: api-1 already on v2 (d1), api-2 has its
/// old twin aside, api-3 untouched on v1.
fn half_done_replicas() -> HostProbe {
    let mut a = scaled("a", &["app:v2", "app:v2", "app:v1"]);
    for r in &mut a.replicas[..2] {
        if let Some(cur) = r.current.as_mut() {
            cur.previous_image = Some("app:v1".into());
            cur.deploy_id = Some("d1".into());
        }
    }
    let mut old = c("api-2-flotilla-old", "app:v1");
    old.running = false;
    a.replicas[1].old = Some(old);
    a.lock = Some(lock("d1", Liveness::Dead));
    a
}

#[test]
fn a_half_done_replica_makes_the_host_interrupted() {
    let probes = [half_done_replicas()];
    let found = interrupted(&probes);
    assert_eq!(found.deploy_ids, BTreeSet::from(["d1".to_owned()]));
    assert!(
        found.hosts[0].1.contains("api-2-flotilla-old present"),
        "{:?}",
        found.hosts
    );
    assert_eq!(resume_image(&probes).as_deref(), Some("app:v2"));
}

#[test]
fn resume_finishes_the_half_done_replica_first() {
    let probes = [half_done_replicas()];
    let intent = Intent::Resume {
        image: "app:v2".into(),
    };
    let hosts = candidates(&probes, &intent, &BTreeSet::new(), "api").expect("plan");
    assert_eq!(hosts[0].job, Job::Finish);
    assert_eq!(
        replica_jobs(&hosts[0]),
        [
            ("api-2", Job::Finish, "app:v1", "app:v2"),
            ("api-1", Job::Keep, "app:v2", "app:v2"),
            ("api-3", Job::Deploy, "app:v1", "app:v2"),
        ]
    );
}

#[test]
fn recover_restores_the_half_done_replica_and_reverts_the_finished_ones() {
    let probes = [half_done_replicas()];
    let ids = interrupted(&probes).deploy_ids;
    let hosts = candidates(&probes, &Intent::Recover, &ids, "api").expect("plan");
    assert_eq!(hosts[0].job, Job::Restore);
    assert_eq!(
        replica_jobs(&hosts[0]),
        [
            ("api-2", Job::Restore, "app:v2", "app:v1"),
            ("api-1", Job::Deploy, "app:v2", "app:v1"),
            ("api-3", Job::Keep, "app:v1", "app:v1"),
        ]
    );
}

#[test]
fn rollback_returns_each_replica_to_its_previous_image() {
    let mut a = scaled("a", &["app:v2", "app:v2", "app:v1"]);
    for r in &mut a.replicas[..2] {
        if let Some(cur) = r.current.as_mut() {
            cur.previous_image = Some("app:v1".into());
        }
    }
    let hosts = candidates(&[a], &Intent::Rollback, &BTreeSet::new(), "api").expect("plan");
    assert_eq!(
        replica_jobs(&hosts[0]),
        [
            ("api-1", Job::Deploy, "app:v2", "app:v1"),
            ("api-2", Job::Deploy, "app:v2", "app:v1"),
            ("api-3", Job::Keep, "app:v1", "app:v1"),
        ]
    );
}

#[test]
fn a_named_container_gone_from_a_host_is_missing_only_for_a_deploy() {
    let mut a = probe("a", "app:v1");
    only(&mut a).current = None;
    let intent = Intent::Deploy {
        image: "app:v2".into(),
    };
    let err = candidates(std::slice::from_ref(&a), &intent, &BTreeSet::new(), "web");
    assert_eq!(err.expect_err("missing").to_string(), "a: no container web");
    // Recovering leaves such a host alone.
    let hosts = candidates(&[a], &Intent::Recover, &BTreeSet::new(), "web").expect("plan");
    assert_eq!(hosts[0].job, Job::Keep);
}

#[test]
fn an_interrupted_host_is_down_only_without_a_running_container() {
    let mut a = half_done_replicas();
    assert!(!down_after_interrupt(&a), "every replica runs");
    if let Some(cur) = a.replicas[1].current.as_mut() {
        cur.running = false;
    }
    assert!(down_after_interrupt(&a));
    a.replicas[1].current = None;
    assert!(down_after_interrupt(&a), "only the old twin, aside");
    // Not running, but no deploy was interrupted there.
    let mut b = probe("b", "app:v1");
    if let Some(cur) = b.replicas[0].current.as_mut() {
        cur.running = false;
    }
    assert!(!down_after_interrupt(&b));
}
