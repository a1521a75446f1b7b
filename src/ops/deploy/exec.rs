//! The executor: runs a [`Plan`] batch by batch, host by host, reporting
//! [`DeployEvent`]s. Cancellable through a [`Control`] watch channel: `Pause`
//! holds before the next batch, `Abort` rolls back the hosts in flight and
//! stops. Docker clients are injected, one per host.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, RenameContainerOptions,
    StopContainerOptions,
};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::event::{DeployEvent, HostOutcome, RunOutcome, Step, Timings};
use super::health::{self, Wait};
use super::image::{self, Delivery, Source, SourceRef};
use super::lock::{self, Acquire, LockRequest};
use super::plan::{Job, Plan, PlannedHost};
use super::probe::{ContainerSnap, Liveness, LockInfo};
use super::{
    DeployError, DockerContext, LABEL_DEPLOY_ID, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_IMAGE_ID,
    absent_ok, old_name, spec, status_of,
};
use crate::config::ServiceSpec;
use crate::ops::{AuditLog, AuditRecord};

/// Seconds Docker waits for the old container to stop before SIGKILL, at most.
const MAX_STOP_SECS: i64 = 300;
/// Upper bound for the pre_deploy one-off container.
const PRE_DEPLOY_TIMEOUT: Duration = Duration::from_secs(600);

/// What the front end wants the running deploy to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Run,
    /// Finish the current batch, then wait for `Run` (or `Abort`).
    Pause,
    /// Roll back the hosts in flight and stop.
    Abort,
}

/// One host's Docker client.
#[derive(Clone)]
pub struct HostHandle {
    pub name: String,
    pub docker: Docker,
}

/// Everything a run needs; owned, so it can be spawned.
pub struct Deployment {
    pub id: String,
    /// What the audit and messages call it: deploy, rollback, resume, recover.
    pub kind: String,
    pub service: ServiceSpec,
    pub plan: Plan,
    /// The service's hosts; also stream sources.
    pub hosts: Vec<HostHandle>,
    /// The local daemon, streamed from when `--from local` (or as a last resort).
    pub local: Option<Docker>,
    pub delivery: Delivery,
    /// Locks of these (dead) deploys may be replaced.
    pub takeover: BTreeSet<String>,
    /// Replace any lock (`--break-lock`).
    pub break_lock: bool,
    /// Run the service's `pre_deploy` before the first host.
    pub pre_deploy: bool,
    pub audit: Option<AuditLog>,
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

struct Report {
    host: String,
    container: String,
    outcome: HostOutcome,
    image: String,
    error: Option<String>,
    timings: Timings,
}

struct Run<'a> {
    d: &'a Deployment,
    events: &'a mpsc::Sender<DeployEvent>,
    /// Stream source per image (empty for registry pulls).
    sources: HashMap<String, Source>,
    /// (host, image) → id, for images already made sure of (by pre_deploy).
    ready: HashMap<(String, String), String>,
    control: watch::Receiver<Control>,
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
    };
    run.emit(DeployEvent::Plan {
        deploy_id: d.id.clone(),
        service: d.service.name.clone(),
        plan: d.plan.clone(),
    })
    .await;
    let (outcome, hosts, not_started) = match run.prepare().await {
        Err(why) => (RunOutcome::NotStarted, Vec::new(), Some(why)),
        Ok(locked) => {
            let result = match run.pre_deploy().await {
                Err(why) => (RunOutcome::NotStarted, Vec::new(), Some(why)),
                Ok(()) => {
                    let (outcome, hosts) = run.batches().await;
                    (outcome, hosts, None)
                }
            };
            // A host left in an unknown state keeps its lock: the next run
            // sees it as interrupted instead of silently carrying on.
            let unsure: Vec<&str> = result
                .1
                .iter()
                .filter(|(_, o)| *o == HostOutcome::Failed)
                .map(|(h, _)| h.as_str())
                .collect();
            let release: Vec<&str> = locked
                .iter()
                .map(String::as_str)
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

    fn step(&self, host: &str, step: Step, detail: impl Into<String>) {
        let _ = self.events.try_send(DeployEvent::Step {
            host: host.to_owned(),
            step,
            detail: detail.into(),
        });
    }

    fn docker(&self, host: &str) -> Option<&'a Docker> {
        let d: &'a Deployment = self.d;
        d.hosts.iter().find(|h| h.name == host).map(|h| &h.docker)
    }

    fn aborted(&self) -> bool {
        *self.control.borrow() == Control::Abort
    }

    fn audit(&self, host: &str, container: &str, action: String, result: &Result<(), String>) {
        let Some(log) = &self.d.audit else {
            return;
        };
        let record = AuditRecord::new(host, container, &action, result);
        if let Err(e) = log.append(&record) {
            tracing::warn!("cannot write audit log {}: {e}", log.path().display());
        }
    }

    fn audit_step(&self, ph: &PlannedHost, step: &str, result: &Result<(), String>) {
        let action = format!(
            "{}:{step} {} -> {} [{}]",
            self.d.kind, ph.from, ph.to, self.d.id
        );
        self.audit(&ph.host, &ph.container, action, result);
    }

    /// Image sources, then every lock; on any refusal nothing has changed.
    async fn prepare(&mut self) -> Result<Vec<String>, NotStarted> {
        if let Delivery::Stream { from } = &self.d.delivery {
            let images: BTreeSet<&str> = self
                .d
                .plan
                .hosts()
                .filter(|h| matches!(h.job, Job::Deploy | Job::Finish))
                .map(|h| h.to.as_str())
                .collect();
            let mut candidates: Vec<(String, Docker)> = Vec::new();
            match from {
                Some(SourceRef::Host(name)) => match self.docker(name) {
                    Some(docker) => candidates.push((name.clone(), docker.clone())),
                    None => return Err(NotStarted::Error(format!("no connected host {name:?}"))),
                },
                Some(SourceRef::Local) => match &self.d.local {
                    Some(docker) => candidates.push(("local".into(), docker.clone())),
                    None => return Err(NotStarted::Error("no local Docker daemon".into())),
                },
                None => {
                    for h in &self.d.hosts {
                        candidates.push((h.name.clone(), h.docker.clone()));
                    }
                    if let Some(local) = &self.d.local {
                        candidates.push(("local".into(), local.clone()));
                    }
                }
            }
            for image in images {
                let found = image::find_source(image, &candidates)
                    .await
                    .map_err(|e| NotStarted::Error(e.to_string()))?;
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

        let mut locked: Vec<String> = Vec::new();
        // Unchanged hosts too: the deploy owns the whole service, and a dead
        // deploy's locks there are cleared with ours.
        let mut hosts: Vec<&PlannedHost> = self
            .d
            .plan
            .hosts()
            .chain(self.d.plan.unchanged.iter())
            .collect();
        // Inventory order, so two deploys racing for the same hosts meet on the first one.
        let order = |h: &&PlannedHost| self.d.hosts.iter().position(|x| x.name == h.host);
        hosts.sort_by_key(order);
        for ph in hosts {
            let Some(docker) = self.docker(&ph.host) else {
                self.release(&locked.iter().map(String::as_str).collect::<Vec<_>>())
                    .await;
                return Err(NotStarted::Error(format!("{}: not connected", ph.host)));
            };
            match self.lock(docker, ph).await {
                Ok(Acquire::Taken) => {
                    locked.push(ph.host.clone());
                    self.audit_step(ph, "lock", &Ok(()));
                    self.emit(DeployEvent::Locked {
                        host: ph.host.clone(),
                    })
                    .await;
                }
                Ok(Acquire::Held(lock)) => {
                    self.release(&locked.iter().map(String::as_str).collect::<Vec<_>>())
                        .await;
                    self.emit(DeployEvent::LockHeld {
                        host: ph.host.clone(),
                        lock: lock.clone(),
                    })
                    .await;
                    return Err(NotStarted::LockHeld {
                        host: ph.host.clone(),
                        lock,
                    });
                }
                Err(e) => {
                    self.release(&locked.iter().map(String::as_str).collect::<Vec<_>>())
                        .await;
                    return Err(NotStarted::Error(e.to_string()));
                }
            }
        }
        Ok(locked)
    }

    async fn lock(&self, docker: &Docker, ph: &PlannedHost) -> Result<Acquire, DeployError> {
        // The lock container needs an image that surely exists: the service's own.
        let mut image = None;
        for name in [ph.container.clone(), old_name(&ph.container)] {
            if let Some(c) = absent_ok(docker.inspect_container(&name, None).await)
                .ctx(&ph.host, format!("inspect {name}"))?
            {
                image = c.image;
                break;
            }
        }
        let image = image.unwrap_or_else(|| ph.to.clone());
        let req = LockRequest::here(&self.d.service.name, &self.d.id, &ph.to);
        let takeover = &self.d.takeover;
        let break_lock = self.d.break_lock;
        lock::acquire(docker, &ph.host, &req, &image, |held| {
            break_lock || (held.liveness == Liveness::Dead && takeover.contains(&held.deploy_id))
        })
        .await
    }

    async fn release(&self, hosts: &[&str]) {
        for host in hosts {
            let Some(docker) = self.docker(host) else {
                continue;
            };
            let result = lock::release(docker, host, &self.d.service.name, &self.d.id).await;
            if let Err(e) = &result {
                self.emit(DeployEvent::Warning {
                    message: format!("could not release the lock: {e}"),
                })
                .await;
            }
            let mut all = self.d.plan.hosts().chain(self.d.plan.unchanged.iter());
            if let Some(ph) = all.find(|h| h.host == *host) {
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
        let Some(ph) = d
            .plan
            .hosts()
            .find(|h| matches!(h.job, Job::Deploy | Job::Finish))
        else {
            return Ok(());
        };
        let Some(docker) = self.docker(&ph.host) else {
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
        let result = self.run_oneoff(docker, ph, command).await;
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

    async fn run_oneoff(
        &mut self,
        docker: &Docker,
        ph: &PlannedHost,
        command: &str,
    ) -> Result<(i64, String), DeployError> {
        let host = ph.host.as_str();
        let id = image::ensure(docker, host, &ph.to, self.sources.get(&ph.to), self.events).await?;
        self.ready.insert((host.to_owned(), ph.to.clone()), id);
        let model = match inspect_opt(docker, host, &ph.container).await? {
            Some(c) => c,
            None => inspect_opt(docker, host, &old_name(&ph.container))
                .await?
                .ok_or_else(|| DeployError::host(host, format!("no container {}", ph.container)))?,
        };
        let old_image = image_config(docker, host, &model).await?;
        let r = spec::oneoff(
            &model,
            old_image.as_ref(),
            &ph.to,
            command,
            &self.d.service.name,
        );
        let name = format!("flotilla-predeploy-{}", self.d.service.name);
        remove_container(docker, host, &name).await?;
        create(docker, host, &name, r).await?;
        let outcome = async {
            docker
                .start_container(&name, None)
                .await
                .ctx(host, "start pre_deploy")?;
            let started = Instant::now();
            loop {
                let c = docker
                    .inspect_container(&name, None)
                    .await
                    .ctx(host, "inspect pre_deploy")?;
                let state = c.state.unwrap_or_default();
                if !state.running.unwrap_or(false) {
                    let output = logs_tail(docker, host, &name).await;
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
        remove_container(docker, host, &name).await?;
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
            let reports = futures::future::join_all(batch.iter().map(|ph| self.host(ph))).await;
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

    /// One host, start to finish; never returns with neither container running
    /// unless Docker itself stopped answering.
    async fn host(&self, ph: &PlannedHost) -> Report {
        let started = Instant::now();
        let mut report = Report {
            host: ph.host.clone(),
            container: ph.container.clone(),
            outcome: HostOutcome::Failed,
            image: ph.from.clone(),
            error: None,
            timings: Timings::default(),
        };
        let Some(docker) = self.docker(&ph.host) else {
            report.error = Some("not connected".into());
            return report;
        };
        if self.aborted() {
            report.outcome = HostOutcome::Skipped;
            return report;
        }
        match ph.job {
            Job::Keep => report.outcome = HostOutcome::UpToDate,
            Job::Restore => match self.restore(docker, ph).await {
                Ok(()) => report.outcome = HostOutcome::Restored,
                Err(e) => report.error = Some(e.to_string()),
            },
            Job::Deploy | Job::Finish => self.replace(docker, ph, &mut report).await,
        }
        report.timings.total_ms = millis(started.elapsed());
        let result = match &report.error {
            None => Ok(()),
            Some(e) => Err(e.clone()),
        };
        let outcome = serde_json::to_value(report.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.audit_step(ph, &outcome, &result);
        report
    }

    /// Image, then old → new; any failure after the old container stopped puts it back.
    async fn replace(&self, docker: &Docker, ph: &PlannedHost, report: &mut Report) {
        let host = ph.host.as_str();
        let t = Instant::now();
        let ensured = match self.ready.get(&(ph.host.clone(), ph.to.clone())) {
            Some(id) => Ok(id.clone()),
            None => {
                image::ensure(docker, host, &ph.to, self.sources.get(&ph.to), self.events).await
            }
        };
        let image_id = match ensured {
            Ok(id) => id,
            Err(e) => {
                report.outcome = HostOutcome::Unchanged;
                report.error = Some(e.to_string());
                self.audit_step(ph, "image", &Err(e.to_string()));
                return;
            }
        };
        report.timings.image_ms = millis(t.elapsed());
        self.audit_step(ph, "image", &Ok(()));
        if self.aborted() {
            report.outcome = HostOutcome::Skipped;
            return;
        }

        let t = Instant::now();
        let prepared = self.take_old(docker, ph, &image_id).await;
        let (old, reuse) = match prepared {
            Ok(Taken::UpToDate) => {
                report.outcome = HostOutcome::UpToDate;
                report.image = ph.to.clone();
                return;
            }
            Ok(Taken::Old { old, reuse }) => (old, reuse),
            Err(e) => {
                report.error = Some(e.to_string());
                self.audit_step(ph, "replace", &Err(e.to_string()));
                self.roll_back(docker, ph, report).await;
                return;
            }
        };
        let result = self
            .start_new(docker, ph, &old, reuse, &image_id, &mut report.timings, t)
            .await;
        match result {
            Ok(()) => {
                self.step(host, Step::RemovingOld, old_name(&ph.container));
                if let Err(e) = remove_container(docker, host, &old_name(&ph.container)).await {
                    self.emit(DeployEvent::Warning {
                        message: format!("{e} (the new container is healthy)"),
                    })
                    .await;
                }
                report.outcome = HostOutcome::Deployed;
                report.image = ph.to.clone();
            }
            Err(e) => {
                report.error = Some(e.to_string());
                self.roll_back(docker, ph, report).await;
            }
        }
    }

    /// Stops the old container and moves it aside (or finds it aside already).
    async fn take_old(
        &self,
        docker: &Docker,
        ph: &PlannedHost,
        image_id: &str,
    ) -> Result<Taken, DeployError> {
        let host = ph.host.as_str();
        let aside = old_name(&ph.container);
        let current = inspect_opt(docker, host, &ph.container).await?;
        let old = inspect_opt(docker, host, &aside).await?;
        match (old, current) {
            (None, None) => Err(DeployError::host(
                host,
                format!("no container {}", ph.container),
            )),
            (None, Some(c)) => {
                let snap = ContainerSnap::from_inspect(&c);
                if snap.running && snap.image == ph.to && snap.image_id == image_id {
                    return Ok(Taken::UpToDate);
                }
                // Stopping an auto-remove container deletes it: nothing to go back to.
                if c.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true) {
                    return Err(DeployError::host(
                        host,
                        format!(
                            "{} was started with --rm: stopping it would delete it, so it \
                             cannot be replaced safely",
                            ph.container
                        ),
                    ));
                }
                self.step(host, Step::Stopping, &ph.container);
                let secs = c
                    .config
                    .as_ref()
                    .and_then(|cfg| cfg.stop_timeout)
                    .unwrap_or(10)
                    .clamp(0, MAX_STOP_SECS);
                let opts = StopContainerOptions {
                    t: i32::try_from(secs).ok(),
                    ..Default::default()
                };
                // The stop call lasts as long as the container takes to stop.
                let patient = docker
                    .clone()
                    .with_timeout(Duration::from_secs(secs.unsigned_abs() + 30));
                match patient.stop_container(&snap.id, Some(opts)).await {
                    Ok(()) => {}
                    Err(e) if status_of(&e) == Some(304) => {}
                    Err(e) => return Err(e).ctx(host, format!("stop {}", ph.container)),
                }
                self.step(host, Step::Renaming, &aside);
                rename(docker, host, &snap.id, &aside).await?;
                Ok(Taken::Old {
                    old: Box::new(c),
                    reuse: None,
                })
            }
            (Some(o), Some(c)) => {
                // Half done: a replacement from an earlier run may already be good.
                let snap = ContainerSnap::from_inspect(&c);
                if snap.running && snap.image == ph.to && snap.image_id == image_id {
                    return Ok(Taken::Old {
                        old: Box::new(o),
                        reuse: Some(snap.id),
                    });
                }
                remove_container(docker, host, &snap.id).await?;
                Ok(Taken::Old {
                    old: Box::new(o),
                    reuse: None,
                })
            }
            (Some(o), None) => Ok(Taken::Old {
                old: Box::new(o),
                reuse: None,
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_new(
        &self,
        docker: &Docker,
        ph: &PlannedHost,
        old: &ContainerInspectResponse,
        reuse: Option<String>,
        image_id: &str,
        timings: &mut Timings,
        t: Instant,
    ) -> Result<(), DeployError> {
        let host = ph.host.as_str();
        let id = match reuse {
            Some(id) => id,
            None => {
                let old_image = image_config(docker, host, old).await?;
                let old_ref = old
                    .config
                    .as_ref()
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let labels = [
                    (LABEL_PREVIOUS_IMAGE, old_ref),
                    (
                        LABEL_PREVIOUS_IMAGE_ID,
                        old.image.clone().unwrap_or_default(),
                    ),
                    (LABEL_DEPLOY_ID, self.d.id.clone()),
                ];
                let r = spec::recreate(old, old_image.as_ref(), &ph.to, &labels);
                self.step(host, Step::Creating, &ph.to);
                let id = create(docker, host, &ph.container, r).await?;
                self.step(host, Step::Starting, short(image_id));
                docker
                    .start_container(&id, None)
                    .await
                    .ctx(host, format!("start {}", ph.container))?;
                id
            }
        };
        self.audit_step(ph, "start", &Ok(()));
        timings.start_ms = millis(t.elapsed());
        let t = Instant::now();
        let new = docker
            .inspect_container(&id, None)
            .await
            .ctx(host, "inspect new container")?;
        let mode = health::mode_of(
            &new,
            self.d.service.health_cmd.as_deref(),
            self.d.service.stable_for,
        );
        self.step(host, Step::WaitingForHealth, mode.describe());
        let control = self.control.clone();
        let waited = Wait {
            docker,
            host,
            container: &id,
            mode,
            timeout: self.d.service.health_timeout,
            events: self.events,
        }
        .run(&move || *control.borrow() == Control::Abort)
        .await;
        timings.health_ms = millis(t.elapsed());
        self.audit_step(
            ph,
            "health",
            &waited.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        waited?;
        self.step(
            host,
            Step::Healthy,
            format!("after {:.1}s", t.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    /// After a failure mid-host: the old container back, confirmed healthy.
    async fn roll_back(&self, docker: &Docker, ph: &PlannedHost, report: &mut Report) {
        let why = report.error.clone().unwrap_or_default();
        let why = why.strip_prefix(&format!("{}: ", ph.host)).unwrap_or(&why);
        self.step(&ph.host, Step::RollingBack, why);
        match self.restore(docker, ph).await {
            Ok(()) => {
                report.outcome = HostOutcome::RolledBack;
                report.image = ph.from.clone();
                self.audit_step(ph, "rollback", &Ok(()));
            }
            Err(e) => {
                report.outcome = HostOutcome::Failed;
                report.image = "unknown".into();
                let message = format!(
                    "{}; then restoring the old container failed: {e}",
                    report.error.clone().unwrap_or_default()
                );
                self.audit_step(ph, "rollback", &Err(message.clone()));
                report.error = Some(message);
            }
        }
    }

    /// Puts the old container back under its name, starts it and waits for
    /// its health. Works from any half-done state.
    async fn restore(&self, docker: &Docker, ph: &PlannedHost) -> Result<(), DeployError> {
        let host = ph.host.as_str();
        let aside = old_name(&ph.container);
        self.step(host, Step::Restoring, &ph.container);
        if inspect_opt(docker, host, &aside).await?.is_some() {
            remove_container(docker, host, &ph.container).await?;
            rename(docker, host, &aside, &ph.container).await?;
        }
        match docker.start_container(&ph.container, None).await {
            Ok(()) => {}
            Err(e) if status_of(&e) == Some(304) => {}
            Err(e) => return Err(e).ctx(host, format!("start {}", ph.container)),
        }
        let c = docker
            .inspect_container(&ph.container, None)
            .await
            .ctx(host, format!("inspect {}", ph.container))?;
        let mode = health::mode_of(
            &c,
            self.d.service.health_cmd.as_deref(),
            self.d.service.stable_for,
        );
        self.step(
            host,
            Step::WaitingForHealth,
            format!("old container: {}", mode.describe()),
        );
        // Never cancelled: an abort must not leave the host without a healthy container.
        Wait {
            docker,
            host,
            container: &ph.container,
            mode,
            timeout: self.d.service.health_timeout,
            events: self.events,
        }
        .run(&|| false)
        .await?;
        self.step(host, Step::Healthy, "old container");
        Ok(())
    }
}

enum Taken {
    UpToDate,
    Old {
        old: Box<ContainerInspectResponse>,
        /// A healthy-looking replacement left by an interrupted run.
        reuse: Option<String>,
    },
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

async fn inspect_opt(
    docker: &Docker,
    host: &str,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, DeployError> {
    absent_ok(docker.inspect_container(name, None).await).ctx(host, format!("inspect {name}"))
}

/// The configuration of the image a container runs (its defaults).
async fn image_config(
    docker: &Docker,
    host: &str,
    c: &ContainerInspectResponse,
) -> Result<Option<bollard::models::ImageConfig>, DeployError> {
    let Some(id) = c.image.as_deref() else {
        return Ok(None);
    };
    Ok(absent_ok(docker.inspect_image(id).await)
        .ctx(host, format!("inspect image {id}"))?
        .and_then(|i| i.config))
}

async fn rename(docker: &Docker, host: &str, from: &str, to: &str) -> Result<(), DeployError> {
    let opts = RenameContainerOptions {
        name: to.to_owned(),
    };
    docker
        .rename_container(from, opts)
        .await
        .ctx(host, format!("rename {from} to {to}"))
}

/// Removes a container if it exists (force: it may be running).
async fn remove_container(docker: &Docker, host: &str, name: &str) -> Result<(), DeployError> {
    let opts = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    absent_ok(docker.remove_container(name, Some(opts)).await)
        .ctx(host, format!("remove {name}"))
        .map(|_| ())
}

/// Creates the container and connects its extra networks; returns its id.
async fn create(
    docker: &Docker,
    host: &str,
    name: &str,
    r: spec::Recreate,
) -> Result<String, DeployError> {
    let opts = CreateContainerOptions {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(opts), r.body)
        .await
        .ctx(host, format!("create {name}"))?;
    for (network, endpoint) in r.networks {
        let req = NetworkConnectRequest {
            container: created.id.clone(),
            endpoint_config: Some(endpoint),
        };
        docker
            .connect_network(&network, req)
            .await
            .ctx(host, format!("connect {name} to {network}"))?;
    }
    Ok(created.id)
}

/// The last lines a container printed, for messages.
async fn logs_tail(docker: &Docker, host: &str, name: &str) -> String {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "20".into(),
        ..Default::default()
    };
    let collect = async {
        let mut out = String::new();
        let mut stream = docker.logs(name, Some(opts));
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        out
    };
    match tokio::time::timeout(Duration::from_secs(10), collect).await {
        Ok(out) => out.trim().to_owned(),
        Err(_) => {
            tracing::debug!(host, name, "logs of the one-off container timed out");
            String::new()
        }
    }
}
