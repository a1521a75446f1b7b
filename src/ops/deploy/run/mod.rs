//! The executor: runs a [`Plan`] batch by batch, host by host, reporting
//! [`DeployEvent`]s. Cancellable through a [`Control`] watch channel: `Pause`
//! holds before the next batch, `Abort` rolls back the hosts in flight and
//! stops. Engines (Docker clients) are injected, one per host; the per-host
//! steps are in `host.rs`.

mod compose;
mod compose_first;
mod host;
mod pulls;
mod replica;
mod start_first;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};

use super::engine::{
    Engine, EngineRef, HostHandle, create, image_config, inspect_opt, inspect_some, logs_tail,
    remove_container,
};
use super::event::{DeployEvent, HostOutcome, RunOutcome};
use super::image::{self, Delivery, Source, SourceRef};
use super::lock::{self, Acquire, LockRequest};
use super::plan::{Job, Plan, PlannedHost, PlannedReplica};
use super::probe::{Liveness, LockInfo};
use super::{DeployError, DockerContext, old_name, spec};
use crate::config::ServiceSpec;
use crate::ops::{AuditAction, AuditLog, AuditRecord};

/// Upper bound for the pre_deploy one-off container.
const PRE_DEPLOY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a run that holds the first host keeps trying the others (a
/// racing run that lost the first host releases them within a few round
/// trips), and how often.
const LOCK_RACE: Duration = Duration::from_secs(2);
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// What the front end wants the running deploy to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Run,
    /// Finish the current batch, then wait for `Run` (or `Abort`).
    Pause,
    /// Roll back the hosts in flight and stop.
    Abort,
}

/// Everything a run needs; owned, so it can be spawned.
pub struct Deployment {
    pub id: String,
    /// What the audit and messages call it: deploy, rollback, resume, recover.
    pub kind: super::prepare::Mode,
    pub service: ServiceSpec,
    pub plan: Plan,
    /// The service's hosts; also stream sources.
    pub hosts: Vec<HostHandle>,
    /// The local daemon, streamed from when `--from local` (or as a last resort).
    pub local: Option<EngineRef>,
    pub delivery: Delivery,
    /// Locks of these (dead) deploys may be replaced.
    pub takeover: BTreeSet<String>,
    /// Replace any lock (`--break-lock`).
    pub break_lock: bool,
    /// Run the service's `pre_deploy` before the first host.
    pub pre_deploy: bool,
    pub audit: Option<AuditLog>,
    /// Host → an image id the probe saw in use by the service there: the
    /// lock container is created from it without another round trip.
    pub lock_images: HashMap<String, String>,
    /// What the probes saw of the image being deployed, so that neither the
    /// stream source nor each host's image check asks again.
    pub seen: Seen,
}

impl super::kept::Keeping for Deployment {
    fn audit(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }
    fn kind(&self) -> super::prepare::Mode {
        self.kind
    }
    fn deploy_id(&self) -> &str {
        &self.id
    }
}

/// The image a deploy rolls out, as each host's probe found it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub image: String,
    /// Host → the image's id there (`None`: the host lacks it).
    pub on: HashMap<String, Option<String>>,
}

impl Seen {
    /// `Some(Some(id))` where the probe found `image` on `host`, `Some(None)`
    /// where it did not, `None` where it did not look.
    fn lookup(&self, host: &str, image: &str) -> Option<Option<&str>> {
        if image != self.image {
            return None;
        }
        self.on.get(host).map(Option::as_deref)
    }

    /// The first candidate that has `image`, by the probes alone: `None` as
    /// soon as one before it was not probed (the local daemon), or when none
    /// has it (then asking says which, or that none does).
    fn source(&self, image: &str, candidates: &[(String, EngineRef)]) -> Option<Source> {
        for (name, engine) in candidates {
            if let Some(id) = self.lookup(name, image)? {
                return Some(Source {
                    name: name.clone(),
                    engine: engine.clone(),
                    image_id: id.to_owned(),
                });
            }
        }
        None
    }
}

/// Why a run changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStarted {
    LockHeld { host: String, lock: LockInfo },
    ImageMissing(String),
    PreDeployFailed(String),
    Error(String),
}

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotStarted::LockHeld { host, lock } => write!(
                f,
                "{host}: {} is being deployed by {} (pid {}, deploy {}, since {})",
                lock.service, lock.holder, lock.pid, lock.deploy_id, lock.since
            ),
            NotStarted::ImageMissing(m) | NotStarted::PreDeployFailed(m) | NotStarted::Error(m) => {
                f.write_str(m)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub outcome: RunOutcome,
    pub hosts: Vec<(String, HostOutcome)>,
    pub not_started: Option<NotStarted>,
    pub elapsed: Duration,
}

impl Summary {
    /// Every host that failed failed because it stopped answering: the run
    /// ended for want of a connection, not on a failed (rolled back) step.
    pub fn only_unreachable_failed(&self) -> bool {
        let mut failed = self.hosts.iter().filter(|(_, o)| o.is_failure()).peekable();
        failed.peek().is_some() && failed.all(|(_, o)| *o == HostOutcome::Unreachable)
    }
}

struct Run<'a> {
    d: &'a Deployment,
    events: &'a mpsc::Sender<DeployEvent>,
    /// Stream source per image (empty for registry pulls).
    sources: HashMap<String, Source>,
    /// (host, image) → id, for images already made sure of (by pre_deploy).
    ready: HashMap<(String, String), String>,
    control: watch::Receiver<Control>,
    /// Removals of replaced containers (healthy successors): they go on while
    /// the next hosts are deployed, and all end before the locks are released.
    cleanups: std::sync::Mutex<Vec<BoxFuture<'a, ()>>>,
    /// (host, id of the lock container this run created there), in the
    /// order taken: the hosts this run holds.
    locks: Vec<(String, String)>,
    /// Registry pulls under way on every host.
    pulls: pulls::Pulls,
}

/// Runs the deployment to the end; every outcome is in the events and the summary.
pub async fn execute(
    d: Deployment,
    events: mpsc::Sender<DeployEvent>,
    control: watch::Receiver<Control>,
) -> Summary {
    let started = Instant::now();
    let mut run = Run {
        d: &d,
        events: &events,
        sources: HashMap::new(),
        ready: HashMap::new(),
        control,
        cleanups: std::sync::Mutex::new(Vec::new()),
        locks: Vec::new(),
        pulls: pulls::Pulls::default(),
    };
    run.emit(DeployEvent::Plan {
        deploy_id: d.id.clone(),
        service: d.service.name.clone(),
        plan: d.plan.clone(),
    })
    .await;
    let (outcome, hosts, not_started) = match run.prepare().await {
        Err(why) => (RunOutcome::NotStarted, Vec::new(), Some(why)),
        Ok(()) => {
            let result = match run.pre_deploy().await {
                Err(why) => (RunOutcome::NotStarted, Vec::new(), Some(why)),
                Ok(()) => {
                    run.pulls = pulls::Pulls::start(&d, &run.ready, &events);
                    let (outcome, hosts) = run.batches().await;
                    (outcome, hosts, None)
                }
            };
            run.finish_cleanups().await;
            // A host left in an unknown state keeps its lock: the next run
            // sees it as interrupted instead of silently carrying on.
            let unsure: Vec<&str> = result
                .1
                .iter()
                .filter(|(_, o)| matches!(o, HostOutcome::Failed | HostOutcome::Unreachable))
                .map(|(h, _)| h.as_str())
                .collect();
            let release: Vec<&str> = run
                .locks
                .iter()
                .map(|(h, _)| h.as_str())
                .filter(|h| !unsure.contains(h))
                .collect();
            run.release(&release).await;
            result
        }
    };
    let count = |f: fn(HostOutcome) -> bool| hosts.iter().filter(|(_, o)| f(*o)).count();
    let (deployed, failed, skipped) = (
        count(|o| matches!(o, HostOutcome::Deployed | HostOutcome::Restored)),
        count(HostOutcome::is_failure),
        count(|o| o == HostOutcome::Skipped),
    );
    let elapsed = started.elapsed();
    run.emit(DeployEvent::Finished {
        outcome,
        deployed,
        failed,
        skipped,
        elapsed_ms: millis(elapsed),
        reason: not_started.as_ref().map(|n| n.to_string()),
    })
    .await;
    Summary {
        outcome,
        hosts,
        not_started,
        elapsed,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl<'a> Run<'a> {
    async fn emit(&self, event: DeployEvent) {
        // The front end may be gone (TUI closed); the deploy still finishes safely.
        let _ = self.events.send(event).await;
    }

    /// The host's SSH session, for what is run on the host itself (Compose).
    fn remote(&self, host: &str) -> Option<&'a crate::transport::Remote> {
        let d: &'a Deployment = self.d;
        d.hosts
            .iter()
            .find(|h| h.name == host)
            .and_then(|h| h.remote.as_ref())
    }

    fn engine(&self, host: &str) -> Option<&'a dyn Engine> {
        let d: &'a Deployment = self.d;
        d.hosts
            .iter()
            .find(|h| h.name == host)
            .map(|h| h.engine.as_ref())
    }

    fn aborted(&self) -> bool {
        *self.control.borrow() == Control::Abort
    }

    fn audit(&self, host: &str, container: &str, action: AuditAction, result: &Result<(), String>) {
        let Some(log) = &self.d.audit else {
            return;
        };
        let record = AuditRecord::new(host, container, action, result);
        if let Err(e) = crate::ops::act::audit(log, &record) {
            tracing::warn!("{e}");
        }
    }

    fn audit_step(&self, ph: &PlannedHost, step: &str, result: &Result<(), String>) {
        self.audit(&ph.host, &ph.container, self.step_action(ph, step), result);
    }

    /// `KIND:STEP FROM -> TO [ID]`, a host step's audit action.
    fn step_action(&self, ph: &PlannedHost, step: &str) -> AuditAction {
        AuditAction::step(self.d.kind, step, &ph.from, &ph.to, &self.d.id)
    }

    /// A step on one container, with that container's own from → to.
    fn audit_replica(&self, at: &replica::At, step: &str, result: &Result<(), String>) {
        let action = AuditAction::step(self.d.kind, step, &at.r.from, &at.r.to, &self.d.id);
        self.audit(at.host, &at.r.container, action, result);
    }

    /// Image sources, then every lock; on any refusal nothing has changed.
    async fn prepare(&mut self) -> Result<(), NotStarted> {
        if let Delivery::Stream { from } = &self.d.delivery {
            let images: BTreeSet<&str> = self
                .d
                .plan
                .hosts()
                .flat_map(|h| &h.replicas)
                .filter(|r| matches!(r.job, Job::Deploy | Job::Finish))
                .map(|r| r.to.as_str())
                .collect();
            let mut candidates: Vec<(String, EngineRef)> = Vec::new();
            match from {
                Some(SourceRef::Host(name)) => {
                    match self.d.hosts.iter().find(|h| h.name == *name) {
                        Some(h) => candidates.push((name.clone(), h.engine.clone())),
                        None => {
                            return Err(NotStarted::Error(format!("no connected host {name:?}")));
                        }
                    }
                }
                Some(SourceRef::Local) => match &self.d.local {
                    Some(local) => candidates.push(("local".into(), local.clone())),
                    None => return Err(NotStarted::Error("no local Docker daemon".into())),
                },
                None => {
                    for h in &self.d.hosts {
                        candidates.push((h.name.clone(), h.engine.clone()));
                    }
                    if let Some(local) = &self.d.local {
                        candidates.push(("local".into(), local.clone()));
                    }
                }
            }
            for image in images {
                let found = match self.d.seen.source(image, &candidates) {
                    Some(source) => Some(source),
                    None => image::find_source(image, &candidates)
                        .await
                        .map_err(|e| NotStarted::Error(e.to_string()))?,
                };
                let Some(source) = found else {
                    let names: Vec<&str> = candidates.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(NotStarted::ImageMissing(format!(
                        "image {image} is not on {}: pass --registry to pull it, or --from HOST",
                        names.join(", ")
                    )));
                };
                self.emit(DeployEvent::ImageSource {
                    image: image.to_owned(),
                    source: source.name.clone(),
                })
                .await;
                self.sources.insert(image.to_owned(), source);
            }
        }

        // Unchanged hosts too: the deploy owns the whole service, and a dead
        // deploy's locks there are cleared with ours.
        let mut hosts: Vec<&PlannedHost> = self
            .d
            .plan
            .hosts()
            .chain(self.d.plan.unchanged.iter())
            .collect();
        // All at once (one round trip), in inventory order: two deploys racing
        // for the same hosts meet on the first one. Whoever lost it gives up
        // and releases what it took, so the winner tries the hosts it was
        // refused again for a moment before giving up itself.
        let order = |h: &&PlannedHost| self.d.hosts.iter().position(|x| x.name == h.host);
        hosts.sort_by_key(order);
        let first = hosts.first().map(|ph| ph.host.clone());
        let give_up = Instant::now() + LOCK_RACE;
        let mut pending = hosts;
        loop {
            let this: &Self = self;
            let tries = futures::future::join_all(pending.into_iter().map(|ph| async move {
                let result = match this.engine(&ph.host) {
                    Some(engine) => this.lock(engine, ph).await.map_err(|e| e.to_string()),
                    None => Err(format!("{}: not connected", ph.host)),
                };
                (ph, result)
            }))
            .await;
            let mut held: Vec<(&PlannedHost, LockInfo)> = Vec::new();
            let mut failed: Option<NotStarted> = None;
            for (ph, result) in tries {
                match result {
                    Ok(Acquire::Taken(id)) => {
                        self.locks.push((ph.host.clone(), id));
                        self.audit_step(ph, "lock", &Ok(()));
                        self.emit(DeployEvent::Locked {
                            host: ph.host.clone(),
                        })
                        .await;
                    }
                    Ok(Acquire::Held(lock)) => held.push((ph, lock)),
                    Err(e) => {
                        failed.get_or_insert(NotStarted::Error(e));
                    }
                }
            }
            let lost_first = held.iter().any(|(ph, _)| Some(&ph.host) == first.as_ref());
            if failed.is_none() && !held.is_empty() && !lost_first && Instant::now() < give_up {
                pending = held.into_iter().map(|(ph, _)| ph).collect();
                tokio::time::sleep(LOCK_RETRY).await;
                continue;
            }
            let refused = failed.or_else(|| {
                held.into_iter()
                    .next()
                    .map(|(ph, lock)| NotStarted::LockHeld {
                        host: ph.host.clone(),
                        lock,
                    })
            });
            let Some(why) = refused else {
                return Ok(());
            };
            let taken: Vec<&str> = self.locks.iter().map(|(h, _)| h.as_str()).collect();
            self.release(&taken).await;
            if let NotStarted::LockHeld { host, lock } = &why {
                self.emit(DeployEvent::LockHeld {
                    host: host.clone(),
                    lock: lock.clone(),
                })
                .await;
            }
            return Err(why);
        }
    }

    async fn lock(&self, engine: &dyn Engine, ph: &PlannedHost) -> Result<Acquire, DeployError> {
        let req = LockRequest::here(&self.d.service.name, &self.d.id, &ph.to);
        let takeover = &self.d.takeover;
        let break_lock = self.d.break_lock;
        let may_replace = |held: &LockInfo| {
            break_lock || (held.liveness == Liveness::Dead && takeover.contains(&held.deploy_id))
        };
        // The image the probe saw; a failed create changes nothing, so if it
        // is gone since, the lock is tried again from what is there now.
        if let Some(image) = self.d.lock_images.get(&ph.host)
            && let Ok(taken) = lock::acquire(engine, &ph.host, &req, image, may_replace).await
        {
            return Ok(taken);
        }
        // The lock container needs an image that surely exists: the service's own.
        let mut image = None;
        if let Some(r) = ph.replicas.first() {
            for name in [r.container.clone(), old_name(&r.container)] {
                if let Some(c) = inspect_opt(engine, &ph.host, &name).await? {
                    image = c.image;
                    break;
                }
            }
        }
        let image = image.unwrap_or_else(|| ph.to.clone());
        lock::acquire(engine, &ph.host, &req, &image, may_replace).await
    }

    /// Releases this run's locks on all `hosts` at once (by the ids it
    /// created: a lock broken and taken by someone else since stays).
    async fn release(&self, hosts: &[&str]) {
        let results = futures::future::join_all(hosts.iter().map(|host| async move {
            let engine = self.engine(host)?;
            let (_, id) = self.locks.iter().find(|(h, _)| h == host)?;
            Some((*host, lock::release_taken(engine, host, id).await))
        }))
        .await;
        for (host, result) in results.into_iter().flatten() {
            if let Err(e) = &result {
                self.emit(DeployEvent::Warning {
                    message: format!("could not release the lock: {e}"),
                })
                .await;
            }
            let mut all = self.d.plan.hosts().chain(self.d.plan.unchanged.iter());
            if let Some(ph) = all.find(|h| h.host == host) {
                self.audit_step(ph, "unlock", &result.map_err(|e| e.to_string()));
            }
        }
    }

    /// Runs `pre_deploy` once, on the first host, in a one-off container of the new image.
    async fn pre_deploy(&mut self) -> Result<(), NotStarted> {
        let d: &'a Deployment = self.d;
        let (true, Some(command)) = (d.pre_deploy, d.service.pre_deploy.as_deref()) else {
            return Ok(());
        };
        let Some((ph, r)) = d.plan.hosts().find_map(|h| {
            h.replicas
                .iter()
                .find(|r| matches!(r.job, Job::Deploy | Job::Finish))
                .map(|r| (h, r))
        }) else {
            return Ok(());
        };
        let Some(engine) = self.engine(&ph.host) else {
            return Err(NotStarted::Error(format!("{}: not connected", ph.host)));
        };
        self.emit(DeployEvent::Warning {
            message: "pre_deploy: database schema changes it makes are not undone by a rollback"
                .into(),
        })
        .await;
        self.emit(DeployEvent::PreDeploy {
            host: ph.host.clone(),
            command: command.to_owned(),
        })
        .await;
        let result = self.run_oneoff(engine, &ph.host, r, command).await;
        let (code, output) = match &result {
            Ok((code, output)) => (*code, output.clone()),
            Err(e) => (-1, e.to_string()),
        };
        self.emit(DeployEvent::PreDeployDone {
            host: ph.host.clone(),
            exit_code: code,
            output: output.clone(),
        })
        .await;
        let outcome = if code == 0 {
            Ok(())
        } else {
            Err(format!("exit code {code}"))
        };
        self.audit_step(ph, "pre-deploy", &outcome);
        outcome.map_err(|e| {
            NotStarted::PreDeployFailed(format!(
                "pre_deploy failed on {} ({e}); no host was changed: {output}",
                ph.host
            ))
        })
    }

    /// In a one-off container of `r.to` modelled on `r`'s container.
    async fn run_oneoff(
        &mut self,
        engine: &dyn Engine,
        host: &str,
        r: &PlannedReplica,
        command: &str,
    ) -> Result<(i64, String), DeployError> {
        let id = image::ensure(engine, host, &r.to, self.sources.get(&r.to), self.events).await?;
        self.ready.insert((host.to_owned(), r.to.clone()), id);
        let model = match inspect_opt(engine, host, &r.container).await? {
            Some(c) => c,
            None => inspect_opt(engine, host, &old_name(&r.container))
                .await?
                .ok_or_else(|| DeployError::host(host, format!("no container {}", r.container)))?,
        };
        let old_image = image_config(engine, host, &model).await?;
        let r = spec::oneoff(
            &model,
            old_image.as_ref(),
            &r.to,
            command,
            &self.d.service.name,
        );
        let name = format!("flotilla-predeploy-{}", self.d.service.name);
        remove_container(engine, host, &name).await?;
        create(engine, host, &name, r).await?;
        let outcome = async {
            engine.start(&name).await.ctx(host, "start pre_deploy")?;
            let started = Instant::now();
            loop {
                let c = inspect_some(engine, host, &name, "inspect pre_deploy").await?;
                let state = c.state.unwrap_or_default();
                if !state.running.unwrap_or(false) {
                    let output = logs_tail(engine, host, &name).await;
                    return Ok((state.exit_code.unwrap_or(-1), output));
                }
                if started.elapsed() > PRE_DEPLOY_TIMEOUT {
                    return Err(DeployError::Timeout {
                        host: host.to_owned(),
                        what: "pre_deploy".into(),
                        after: PRE_DEPLOY_TIMEOUT,
                    });
                }
                if self.aborted() {
                    return Err(DeployError::Cancelled);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        .await;
        remove_container(engine, host, &name).await?;
        outcome
    }

    async fn batches(&mut self) -> (RunOutcome, Vec<(String, HostOutcome)>) {
        let mut results: Vec<(String, HostOutcome)> = Vec::new();
        let mut failures = 0;
        let batches = self.d.plan.batches.clone();
        for (index, batch) in batches.iter().enumerate() {
            let mut stop = self.wait_if_paused().await;
            if stop.is_none() && self.d.plan.exceeded(failures) {
                stop = Some(format!(
                    "{failures} host(s) failed, more than max_fail {}",
                    self.d.plan.max_fail
                ));
            }
            if let Some(reason) = stop {
                let untouched: Vec<String> = batches[index..]
                    .iter()
                    .flatten()
                    .map(|h| h.host.clone())
                    .collect();
                results.extend(untouched.iter().map(|h| (h.clone(), HostOutcome::Skipped)));
                self.emit(DeployEvent::Stopped { reason, untouched }).await;
                let outcome = if failures > 0 {
                    RunOutcome::Failed
                } else {
                    RunOutcome::Aborted
                };
                return (outcome, results);
            }
            self.emit(DeployEvent::BatchStarted {
                index,
                hosts: batch.iter().map(|h| h.host.clone()).collect(),
            })
            .await;
            let work = futures::future::join_all(batch.iter().map(|ph| self.host(ph)));
            let reports = self.alongside_cleanups(work).await;
            for r in reports {
                if r.outcome.is_failure() {
                    failures += 1;
                }
                results.push((r.host.clone(), r.outcome));
                self.emit(DeployEvent::HostDone {
                    host: r.host,
                    container: r.container,
                    outcome: r.outcome,
                    image: r.image,
                    error: r.error,
                    timings: r.timings,
                })
                .await;
            }
        }
        let outcome = if failures > 0 {
            RunOutcome::Failed
        } else if self.aborted() {
            RunOutcome::Aborted
        } else {
            RunOutcome::Succeeded
        };
        (outcome, results)
    }

    /// The cleanup queue. A panic elsewhere while it was held leaves the
    /// queue itself intact: its removals must still happen, not be dropped.
    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<BoxFuture<'a, ()>>> {
        self.cleanups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues work that may overlap the rest of the run.
    fn cleanup(&self, work: BoxFuture<'a, ()>) {
        self.queue().push(work);
    }

    fn take_cleanups(&self) -> FuturesUnordered<BoxFuture<'a, ()>> {
        self.queue().drain(..).collect()
    }

    /// Runs `work` while the queued cleanups make progress; those still
    /// going when it ends are queued again.
    async fn alongside_cleanups<T>(&self, work: impl Future<Output = T>) -> T {
        let mut running = self.take_cleanups();
        tokio::pin!(work);
        let out = loop {
            tokio::select! {
                // The deploy itself first; cleanups run while it waits.
                biased;
                out = &mut work => break out,
                Some(()) = running.next(), if !running.is_empty() => {}
            }
        };
        for rest in running {
            self.cleanup(rest);
        }
        out
    }

    /// Waits for every queued cleanup (new ones may be queued meanwhile).
    async fn finish_cleanups(&self) {
        loop {
            let mut running = self.take_cleanups();
            if running.is_empty() {
                return;
            }
            while running.next().await.is_some() {}
        }
    }

    /// Holds while paused; `Some(reason)` when the run must stop.
    async fn wait_if_paused(&mut self) -> Option<String> {
        let mut paused = false;
        loop {
            let now = *self.control.borrow_and_update();
            match now {
                Control::Abort => return Some("aborted".into()),
                Control::Run => {
                    if paused {
                        self.emit(DeployEvent::Resumed).await;
                    }
                    return None;
                }
                Control::Pause => {
                    if !paused {
                        paused = true;
                        self.emit(DeployEvent::Paused).await;
                    }
                    if self.control.changed().await.is_err() {
                        // Nobody can resume us any more: stop safely.
                        return Some("paused and the controller went away".into());
                    }
                }
            }
        }
    }
}
