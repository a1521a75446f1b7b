//! Pure rollout planning: which hosts change, from which image to which, in
//! which batches, and how many failures stop the rollout. No I/O here: the
//! inputs are what `probe` found on each host.

use std::collections::BTreeSet;

use serde::Serialize;

use super::probe::{HostProbe, Liveness, LockInfo, ReplicaProbe};
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

/// One container of a host's part: `from` → `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedReplica {
    pub container: String,
    pub from: String,
    pub to: String,
    pub job: Job,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One host of the plan: its containers (one, or a scaled service's
/// replicas, replaced one at a time) with a summary of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedHost {
    pub host: String,
    /// The container, or the replicas' names joined by ", ".
    pub container: String,
    /// The replicas' distinct images before / after, joined by ", ".
    pub from: String,
    pub to: String,
    /// The most pressing of the replicas' jobs (half done first).
    pub job: Job,
    /// Why, when it is not obvious (kept, half done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// In the order they are handled: half-done ones first, then by name.
    pub replicas: Vec<PlannedReplica>,
    /// Compose-managed here: recreated by Compose with the image pinned in
    /// the project's override file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose: Option<super::compose::ComposeTarget>,
    /// How its containers are replaced, and why (start-first or stop-first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

impl PlannedHost {
    /// A host's entry summing up its replicas (at least one).
    pub fn new(host: &str, mut replicas: Vec<PlannedReplica>) -> Self {
        // Half-done replicas first: the host is consistent again soonest.
        replicas.sort_by_key(|r| !matches!(r.job, Job::Finish | Job::Restore));
        let distinct = |f: fn(&PlannedReplica) -> &str| {
            let mut seen: Vec<&str> = Vec::new();
            for r in &replicas {
                if !seen.contains(&f(r)) {
                    seen.push(f(r));
                }
            }
            seen.join(", ")
        };
        let job = [Job::Finish, Job::Restore, Job::Deploy]
            .into_iter()
            .find(|j| replicas.iter().any(|r| r.job == *j))
            .unwrap_or(Job::Keep);
        PlannedHost {
            host: host.to_owned(),
            container: replicas
                .iter()
                .map(|r| r.container.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            from: distinct(|r| r.from.as_str()),
            to: distinct(|r| r.to.as_str()),
            job,
            note: replicas
                .iter()
                .find(|r| r.job == job)
                .and_then(|r| r.note.clone()),
            replicas,
            compose: None,
            order: None,
        }
    }

    /// Replicas that change.
    pub fn changing(&self) -> impl Iterator<Item = &PlannedReplica> {
        self.replicas.iter().filter(|r| r.job != Job::Keep)
    }
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
    #[error("{host}: {reason}")]
    Compose { host: String, reason: String },
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
    if let Some(r) = probe.half_replaced().next() {
        return replica_half_done(probe, r);
    }
    // While its deploy runs, a candidate is that deploy's business.
    let running = probe
        .lock
        .as_ref()
        .is_some_and(|l| l.liveness == Liveness::Alive);
    if let Some(r) = probe.replicas.iter().find(|r| r.candidate && !running) {
        return Some(format!(
            "a start-first candidate {} left by an interrupted deploy runs beside {} \
             (which still serves)",
            super::new_name(&r.name),
            r.name
        ));
    }
    let lock = probe.lock.as_ref()?;
    if lock.liveness == Liveness::Alive {
        return None;
    }
    if let Some(r) = probe.replicas.iter().find(|r| stopped(r)) {
        return replica_half_done(probe, r);
    }
    (lock.liveness == Liveness::Dead).then(|| {
        format!(
            "lock held by deploy {} whose process ({} pid {}) is gone",
            lock.deploy_id, lock.holder, lock.pid
        )
    })
}

/// An interrupted deploy left the host with a container of the service not
/// running (or missing): the service is down there until `--resume` or
/// `--rollback`.
pub fn down_after_interrupt(probe: &HostProbe) -> bool {
    half_done(probe).is_some()
        && (probe.replicas.is_empty()
            || probe
                .replicas
                .iter()
                .any(|r| !r.current.as_ref().is_some_and(|c| c.running)))
}

fn stopped(r: &ReplicaProbe) -> bool {
    r.current.as_ref().is_some_and(|c| !c.running)
}

/// Why one replica is half done: its old container aside, or stopped under
/// a lock whose deploy is not running.
fn replica_half_done(p: &HostProbe, r: &ReplicaProbe) -> Option<String> {
    if let Some(old) = &r.old {
        return Some(format!(
            "{} present: a deploy stopped while replacing the container",
            old.name
        ));
    }
    let lock = p.lock.as_ref().filter(|l| l.liveness != Liveness::Alive)?;
    stopped(r).then(|| {
        format!(
            "{} is stopped under the lock of deploy {}",
            r.name, lock.deploy_id
        )
    })
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
        found.deploy_ids.extend(
            p.half_replaced()
                .filter_map(|r| r.current.as_ref().and_then(|c| c.deploy_id.clone())),
        );
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
            .flat_map(HostProbe::half_replaced)
            .filter_map(|r| r.current.as_ref().map(|c| c.image.as_str()))
            .collect();
    }
    match images.len() {
        1 => images.into_iter().next().map(str::to_owned),
        _ => None,
    }
}

/// Decides each host's job for `intent`, replica by replica.
/// `interrupted_ids` are the deploys being recovered (for [`Intent::Recover`]).
pub fn candidates(
    probes: &[HostProbe],
    intent: &Intent,
    interrupted_ids: &BTreeSet<String>,
    selector: &str,
) -> Result<Vec<PlannedHost>, PlanError> {
    let mut out = Vec::with_capacity(probes.len());
    for p in probes {
        let missing = || PlanError::ContainerMissing {
            host: p.host.clone(),
            selector: selector.to_owned(),
        };
        if p.replicas.is_empty() {
            return Err(missing());
        }
        let replicas = p
            .replicas
            .iter()
            .map(|r| replica_job(p, r, intent, interrupted_ids).ok_or_else(missing))
            .collect::<Result<Vec<_>, _>>()?;
        let mut host = PlannedHost::new(&p.host, replicas);
        host.compose = match p.compose() {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(reason)) if host.job != Job::Keep => {
                return Err(PlanError::Compose {
                    host: p.host.clone(),
                    reason,
                });
            }
            Some(Err(_)) => None,
        };
        out.push(host);
    }
    if *intent == Intent::Rollback && out.iter().all(|h| h.job == Job::Keep) {
        return Err(PlanError::NothingToRollBack);
    }
    // Half-done hosts first: the fleet is consistent again soonest.
    out.sort_by_key(|h| !matches!(h.job, Job::Finish | Job::Restore));
    Ok(out)
}

/// One replica's job; `None` when a deploy finds its container gone.
fn replica_job(
    p: &HostProbe,
    r: &ReplicaProbe,
    intent: &Intent,
    ids: &BTreeSet<String>,
) -> Option<PlannedReplica> {
    let current_image = r.current.as_ref().map(|c| c.image.clone());
    // What runs (or ran) there before this deploy.
    let from = r
        .old
        .as_ref()
        .map(|c| c.image.clone())
        .or(current_image)
        .unwrap_or_else(|| "-".to_owned());
    let entry = |to: String, job: Job, note: Option<String>| PlannedReplica {
        container: r.name.clone(),
        from: from.clone(),
        to,
        job,
        note,
    };
    Some(match intent {
        Intent::Deploy { image } | Intent::Resume { image } => {
            if r.old.is_some() {
                entry(image.clone(), Job::Finish, replica_half_done(p, r))
            } else if up_to_date(p, r, image) {
                entry(
                    image.clone(),
                    Job::Keep,
                    Some("already running this image".into()),
                )
            } else {
                r.current.as_ref()?;
                entry(image.clone(), Job::Deploy, None)
            }
        }
        Intent::Recover => recover_job(p, r, ids, &from, entry),
        Intent::Rollback => match r.current.as_ref().and_then(|c| c.previous_image.clone()) {
            Some(previous) if r.old.is_none() => entry(previous, Job::Deploy, None),
            _ => entry(
                from.clone(),
                Job::Keep,
                Some("no previous image recorded".into()),
            ),
        },
    })
}

fn recover_job(
    p: &HostProbe,
    r: &ReplicaProbe,
    ids: &BTreeSet<String>,
    from: &str,
    entry: impl Fn(String, Job, Option<String>) -> PlannedReplica,
) -> PlannedReplica {
    if r.old.is_some() {
        // From the replacement now running back to the old container's image.
        let mut planned = entry(from.to_owned(), Job::Restore, replica_half_done(p, r));
        if let Some(c) = &r.current {
            planned.from = c.image.clone();
        }
        return planned;
    }
    let locked_by_it = p.lock.as_ref().is_some_and(|l| ids.contains(&l.deploy_id));
    if r.candidate && r.current.is_some() {
        return entry(
            from.to_owned(),
            Job::Restore,
            Some(format!(
                "a start-first candidate {} runs beside it",
                super::new_name(&r.name)
            )),
        );
    }
    match &r.current {
        Some(c) if !c.running && locked_by_it => {
            entry(from.to_owned(), Job::Restore, replica_half_done(p, r))
        }
        Some(c) if c.deploy_id.as_ref().is_some_and(|id| ids.contains(id)) => {
            match &c.previous_image {
                Some(previous) => entry(
                    previous.clone(),
                    Job::Deploy,
                    Some("finished by the interrupted deploy".into()),
                ),
                None => entry(from.to_owned(), Job::Keep, None),
            }
        }
        _ => entry(
            from.to_owned(),
            Job::Keep,
            Some("not touched by the interrupted deploy".into()),
        ),
    }
}

/// Running `image` already (same reference and the id it has on the host).
fn up_to_date(p: &HostProbe, r: &ReplicaProbe, image: &str) -> bool {
    r.current.as_ref().is_some_and(|c| {
        c.running && c.image == image && p.target_id.as_deref() == Some(c.image_id.as_str())
    })
}

#[cfg(test)]
mod tests;
