//! Pure rollout planning: which hosts change, from which image to which, in
//! which batches, and how many failures stop the rollout. No I/O here: the
//! inputs are what `probe` found on each host.

use std::collections::BTreeSet;

use serde::Serialize;

use super::probe::{HostProbe, Liveness, LockInfo};
use crate::config::Amount;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Roll `image` out; refused while a deploy is half done.
    Deploy { image: String },
    /// Finish an interrupted deploy towards `image`.
    Resume { image: String },
    /// Undo an interrupted deploy: half-done hosts get their old container
    /// back, hosts it already finished return to their previous image.
    Recover,
    /// Return every host to the image recorded in `flotilla.previous-image`.
    Rollback,
}

/// What happens to one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// Recreate the container on the new image.
    Deploy,
    /// A half-done host: carry on from where the interrupted deploy stopped.
    Finish,
    /// A half-done host: bring its old container back.
    Restore,
    /// Nothing to do (already on the image, or nothing recorded to return to).
    Keep,
}

/// One host of the plan: `from` → `to` on `container`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedHost {
    pub host: String,
    pub container: String,
    pub from: String,
    pub to: String,
    pub job: Job,
    /// Why, when it is not obvious (kept, half done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Hosts that change, batch by batch; never empty batches.
    pub batches: Vec<Vec<PlannedHost>>,
    /// Hosts left as they are.
    pub unchanged: Vec<PlannedHost>,
    /// The rollout stops once more than this many hosts failed.
    pub max_fail: usize,
}

impl Plan {
    pub fn hosts(&self) -> impl Iterator<Item = &PlannedHost> {
        self.batches.iter().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Whether `failures` failed hosts stop the rollout.
    pub fn exceeded(&self, failures: usize) -> bool {
        failures > self.max_fail
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{host}: no container {selector}")]
    ContainerMissing { host: String, selector: String },
    #[error(
        "no host has a previous image recorded (flotilla.previous-image): nothing to roll back"
    )]
    NothingToRollBack,
}

/// Sizes of consecutive batches for `total` hosts, like Ansible's `serial`:
/// percentages are of `total`, rounded down but at least 1; the last size
/// repeats; an empty list means one batch.
pub fn batch_sizes(total: usize, serial: &[Amount]) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = total;
    while left > 0 {
        let size = match serial.get(sizes.len()).or(serial.last()) {
            None => left,
            Some(Amount::Count(n)) => *n,
            Some(Amount::Percent(p)) => total * usize::from(*p) / 100,
        }
        .clamp(1, left);
        sizes.push(size);
        left -= size;
    }
    sizes
}

/// Failures tolerated among `total` hosts: a count, or a percentage rounded down.
pub fn fail_limit(total: usize, max_fail: Amount) -> usize {
    match max_fail {
        Amount::Count(n) => n,
        Amount::Percent(p) => total * usize::from(p) / 100,
    }
}

/// Splits the hosts that change into batches (in the given order).
pub fn plan(hosts: Vec<PlannedHost>, serial: &[Amount], max_fail: Amount) -> Plan {
    let (changing, unchanged): (Vec<_>, Vec<_>) =
        hosts.into_iter().partition(|h| h.job != Job::Keep);
    let mut rest = changing.into_iter();
    let total = rest.len();
    let batches = batch_sizes(total, serial)
        .into_iter()
        .map(|size| rest.by_ref().take(size).collect())
        .collect();
    Plan {
        batches,
        unchanged,
        max_fail: fail_limit(total, max_fail),
    }
}

/// Why a host counts as half done by an interrupted deploy, if it does.
pub fn half_done(probe: &HostProbe) -> Option<String> {
    if let Some(old) = &probe.old {
        return Some(format!(
            "{} present: a deploy stopped while replacing the container",
            old.name
        ));
    }
    let lock = probe.lock.as_ref()?;
    if lock.liveness == Liveness::Alive {
        return None;
    }
    match &probe.current {
        Some(c) if !c.running => Some(format!(
            "{} is stopped under the lock of deploy {}",
            c.name, lock.deploy_id
        )),
        _ if lock.liveness == Liveness::Dead => Some(format!(
            "lock held by deploy {} whose process ({} pid {}) is gone",
            lock.deploy_id, lock.holder, lock.pid
        )),
        _ => None,
    }
}

/// The interrupted deploys found on the hosts (ids) and each half-done host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interrupted {
    pub deploy_ids: BTreeSet<String>,
    pub hosts: Vec<(String, String)>,
}

impl Interrupted {
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

pub fn interrupted(probes: &[HostProbe]) -> Interrupted {
    let mut found = Interrupted::default();
    for p in probes {
        let Some(reason) = half_done(p) else {
            continue;
        };
        if let Some(lock) = &p.lock {
            found.deploy_ids.insert(lock.deploy_id.clone());
        }
        // The replacement container names its deploy even when the lock was broken.
        if p.old.is_some()
            && let Some(id) = p.current.as_ref().and_then(|c| c.deploy_id.clone())
        {
            found.deploy_ids.insert(id);
        }
        found.hosts.push((p.host.clone(), reason));
    }
    found
}

/// Locks we may not take over: every lock except those of `takeover`
/// deploys whose process is known to be gone. A holder on another machine
/// cannot be checked, so it blocks until broken explicitly.
pub fn blocking_locks<'a>(
    probes: &'a [HostProbe],
    takeover: &BTreeSet<String>,
) -> Vec<(&'a str, &'a LockInfo)> {
    probes
        .iter()
        .filter_map(|p| p.lock.as_ref().map(|l| (p.host.as_str(), l)))
        .filter(|(_, l)| !(l.liveness == Liveness::Dead && takeover.contains(&l.deploy_id)))
        .collect()
}

/// The image an interrupted deploy was rolling out, if the hosts agree on one.
pub fn resume_image(probes: &[HostProbe]) -> Option<String> {
    let mut images: BTreeSet<&str> = probes
        .iter()
        .filter_map(|p| p.lock.as_ref().map(|l| l.image.as_str()))
        .filter(|i| !i.is_empty())
        .collect();
    if images.is_empty() {
        images = probes
            .iter()
            .filter(|p| p.old.is_some())
            .filter_map(|p| p.current.as_ref().map(|c| c.image.as_str()))
            .collect();
    }
    match images.len() {
        1 => images.into_iter().next().map(str::to_owned),
        _ => None,
    }
}

/// Decides each host's job for `intent`. `interrupted_ids` are the deploys
/// being recovered (for [`Intent::Recover`]).
pub fn candidates(
    probes: &[HostProbe],
    intent: &Intent,
    interrupted_ids: &BTreeSet<String>,
    selector: &str,
) -> Result<Vec<PlannedHost>, PlanError> {
    let mut out = Vec::with_capacity(probes.len());
    for p in probes {
        let Some(container) = p.container.clone() else {
            return Err(PlanError::ContainerMissing {
                host: p.host.clone(),
                selector: selector.to_owned(),
            });
        };
        let current_image = p.current.as_ref().map(|c| c.image.clone());
        let old_image = p.old.as_ref().map(|c| c.image.clone());
        // What runs (or ran) there before this deploy.
        let from = old_image
            .clone()
            .or_else(|| current_image.clone())
            .unwrap_or_else(|| "-".to_owned());
        let host = |to: String, job: Job, note: Option<String>| PlannedHost {
            host: p.host.clone(),
            container: container.clone(),
            from: from.clone(),
            to,
            job,
            note,
        };
        let entry = match intent {
            Intent::Deploy { image } | Intent::Resume { image } => {
                if p.old.is_some() {
                    host(image.clone(), Job::Finish, half_done(p))
                } else if up_to_date(p, image) {
                    host(
                        image.clone(),
                        Job::Keep,
                        Some("already running this image".into()),
                    )
                } else if p.current.is_none() {
                    return Err(PlanError::ContainerMissing {
                        host: p.host.clone(),
                        selector: selector.to_owned(),
                    });
                } else {
                    host(image.clone(), Job::Deploy, None)
                }
            }
            Intent::Recover => recover_job(p, interrupted_ids, &from, host),
            Intent::Rollback => match p.current.as_ref().and_then(|c| c.previous_image.clone()) {
                Some(previous) if p.old.is_none() => host(previous, Job::Deploy, None),
                _ => host(
                    from.clone(),
                    Job::Keep,
                    Some("no previous image recorded".into()),
                ),
            },
        };
        out.push(entry);
    }
    if *intent == Intent::Rollback && out.iter().all(|h| h.job == Job::Keep) {
        return Err(PlanError::NothingToRollBack);
    }
    // Half-done hosts first: the fleet is consistent again soonest.
    out.sort_by_key(|h| !matches!(h.job, Job::Finish | Job::Restore));
    Ok(out)
}

fn recover_job(
    p: &HostProbe,
    ids: &BTreeSet<String>,
    from: &str,
    host: impl Fn(String, Job, Option<String>) -> PlannedHost,
) -> PlannedHost {
    if p.old.is_some() {
        // From the replacement now running back to the old container's image.
        let mut planned = host(from.to_owned(), Job::Restore, half_done(p));
        if let Some(c) = &p.current {
            planned.from = c.image.clone();
        }
        return planned;
    }
    let locked_by_it = p.lock.as_ref().is_some_and(|l| ids.contains(&l.deploy_id));
    match &p.current {
        Some(c) if !c.running && locked_by_it => host(from.to_owned(), Job::Restore, half_done(p)),
        Some(c) if c.deploy_id.as_ref().is_some_and(|id| ids.contains(id)) => {
            match &c.previous_image {
                Some(previous) => host(
                    previous.clone(),
                    Job::Deploy,
                    Some("finished by the interrupted deploy".into()),
                ),
                None => host(from.to_owned(), Job::Keep, None),
            }
        }
        _ => host(
            from.to_owned(),
            Job::Keep,
            Some("not touched by the interrupted deploy".into()),
        ),
    }
}

/// Running `image` already (same reference and the id it has on the host).
fn up_to_date(p: &HostProbe, image: &str) -> bool {
    p.current.as_ref().is_some_and(|c| {
        c.running && c.image == image && p.target_id.as_deref() == Some(c.image_id.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::deploy::probe::ContainerSnap;

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
        }
    }

    fn probe(host: &str, image: &str) -> HostProbe {
        HostProbe {
            host: host.into(),
            container: Some("web".into()),
            current: Some(c("web", image)),
            old: None,
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
        PlannedHost {
            host: host.into(),
            container: "web".into(),
            from: from.into(),
            to: to.into(),
            job: Job::Deploy,
            note: None,
        }
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
        a.container = None;
        a.current = None;
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
        if let Some(cur) = a.current.as_mut() {
            cur.previous_image = Some("app:v1".into());
            cur.deploy_id = Some("d1".into());
        }
        a.lock = Some(lock("d1", Liveness::Dead));
        let mut b = probe("b", "app:v2");
        if let Some(cur) = b.current.as_mut() {
            cur.deploy_id = Some("d1".into());
            cur.previous_image = Some("app:v1".into());
        }
        let mut old = c("web-flotilla-old", "app:v1");
        old.running = false;
        b.old = Some(old);
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
        if let Some(cur) = a.current.as_mut() {
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
        if let Some(cur) = a.current.as_mut() {
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
}
