//! One container swapped: take the old one aside, start and prove the new
//! one, or put the old one back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bollard::models::{ContainerInspectResponse, ImageConfig};
use tokio::sync::mpsc;

use super::{Control, Deployment, Run, millis};
use crate::ops::deploy::engine::{
    Engine, create, image_config, inspect_opt, inspect_some, remove_container, rename,
};
use crate::ops::deploy::event::{DeployEvent, ReplicaRef, Step, Timings};
use crate::ops::deploy::health::{self, Wait};
use crate::ops::deploy::kept::{self, Why};
use crate::ops::deploy::plan::PlannedReplica;
use crate::ops::deploy::probe::ContainerSnap;
use crate::ops::deploy::{
    DeployError, DockerContext, LABEL_DEPLOY_ID, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_IMAGE_ID,
    lost_sandbox, old_name, spec, status_of,
};

/// Seconds Docker waits for the old container to stop before SIGKILL, at most.
const MAX_STOP_SECS: i64 = 300;
/// The step's detail when the new container is ready before the old one stopped.
const STILL_STOPPING: &str = "(new one created, waiting for the stop)";

/// Where a step happens: the host, the container (`r.from` → `r.to`), and
/// which replica it is when the host runs several.
pub(super) struct At<'p> {
    pub(super) host: &'p str,
    pub(super) r: PlannedReplica,
    pub(super) tag: Option<ReplicaRef>,
}

impl At<'_> {
    fn name(&self) -> &str {
        &self.r.container
    }
}

/// One container to put on `at.r.to` (id `image_id`).
pub(super) struct Swap<'a> {
    pub(super) at: &'a At<'a>,
    pub(super) image_id: &'a str,
    /// Create from this configuration (a revert: the container as it was
    /// before this run) instead of the one taken aside.
    pub(super) model: Option<&'a ContainerInspectResponse>,
    /// Whether an abort cancels the health wait.
    pub(super) cancellable: bool,
}

pub(super) enum Swapped {
    UpToDate,
    /// Healthy on the new image; the container it replaced, now removed.
    Replaced(Box<ContainerInspectResponse>),
}

pub(super) struct SwapFailed {
    pub(super) error: String,
    pub(super) end: Ended,
}

/// Where a failed swap left the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// It failed before any change: the old container never stopped.
    Untouched,
    /// The old container runs again under its name, healthy.
    Back,
    /// Putting it back failed: the state is unknown.
    Unknown,
    /// Docker stopped answering (connection lost): the state is unknown.
    Unreachable,
}

/// Why the old container could not be taken aside.
struct TakeFailed {
    error: DeployError,
    /// Nothing was changed: there is nothing to roll back.
    untouched: bool,
}

impl TakeFailed {
    fn untouched(error: DeployError) -> Self {
        TakeFailed {
            error,
            untouched: true,
        }
    }
}

impl From<DeployError> for TakeFailed {
    fn from(error: DeployError) -> Self {
        TakeFailed {
            error,
            untouched: false,
        }
    }
}

enum Taken {
    UpToDate,
    Old(Box<Aside>),
}

/// The old container, out of the way.
struct Aside {
    old: ContainerInspectResponse,
    new: Replacement,
    /// When this run stopped it: the service is down from then on.
    stopped_at: Option<Instant>,
}

/// How far the replacement got while the old container was set aside.
enum Replacement {
    /// Nothing made yet.
    None,
    /// Created while the old one stopped; not started.
    Created(String),
    /// A healthy-looking replacement left by an interrupted run: running.
    Reuse(String),
}

impl Aside {
    fn new(old: ContainerInspectResponse, new: Replacement) -> Box<Aside> {
        Box::new(Aside {
            old,
            new,
            stopped_at: None,
        })
    }

    fn stopped(mut self: Box<Self>, at: Instant) -> Box<Self> {
        self.stopped_at = Some(at);
        self
    }
}

/// How long a container that left the name lookups keeps serving at least:
/// a lookup answered just before still connects to it.
const DNS_SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

impl Run<'_> {
    pub(super) fn step_at(&self, at: &At, step: Step, detail: impl Into<String>) {
        self.step_on(at.host, at.tag.clone(), step, detail.into());
    }

    /// A step on `host` (of one of its replicas, when tagged).
    pub(super) fn step_on(
        &self,
        host: &str,
        replica: Option<ReplicaRef>,
        step: Step,
        detail: String,
    ) {
        let _ = self.events.try_send(DeployEvent::Step {
            host: host.to_owned(),
            replica,
            step,
            detail,
        });
    }

    /// The wait before an old container's stop: `stop_grace` for requests
    /// in flight, at least DNS_SETTLE when name lookups were just changed
    /// (`unlisted` aliases), announced on the step.
    pub(super) async fn drain(&self, host: &str, replica: Option<ReplicaRef>, unlisted: usize) {
        let mut grace = self.d.service.stop_grace;
        if unlisted > 0 {
            grace = grace.max(DNS_SETTLE);
        }
        if !grace.is_zero() {
            let detail = format!("draining {:.1}s first", grace.as_secs_f64());
            self.step_on(host, replica, Step::Stopping, detail);
            tokio::time::sleep(grace).await;
        }
    }

    /// Old → new; any failure after the old container stopped puts it back.
    pub(super) async fn swap(
        &self,
        engine: &dyn Engine,
        s: &Swap<'_>,
        timings: &mut Timings,
    ) -> Result<Swapped, SwapFailed> {
        let (at, host) = (s.at, s.at.host);
        // A revert puts back what ran; only a deploy may go start-first.
        if s.model.is_none()
            && let Some(done) = self.start_first(engine, s, timings).await
        {
            return done;
        }
        let t = Instant::now();
        let aside = match self.take_old(engine, at, s).await {
            Ok(Taken::UpToDate) => return Ok(Swapped::UpToDate),
            Ok(Taken::Old(aside)) => aside,
            Err(TakeFailed { error, untouched }) => {
                self.audit_replica(at, "replace", &Err(error.to_string()));
                if untouched {
                    return Err(SwapFailed {
                        error: error.to_string(),
                        end: Ended::Untouched,
                    });
                }
                return Err(self.roll_back(engine, at, error).await);
            }
        };
        match self.start_new(engine, s, &aside, timings, t).await {
            Ok(()) => {
                timings.down_ms = aside.stopped_at.map(|t| millis(t.elapsed()));
                let old_name = old_name(at.name());
                self.step_at(at, Step::RemovingOld, &old_name);
                // Only a host's single container: with replicas, putting the
                // others back after a failure needs their old ones gone first.
                let overlap = at.tag.is_none() && s.model.is_none();
                self.remove_replaced(engine, host, old_name, at.name().to_owned(), overlap)
                    .await;
                Ok(Swapped::Replaced(Box::new(aside.old)))
            }
            Err(e) => Err(self.roll_back(engine, at, e).await),
        }
    }

    /// Removes the replaced container (its logs kept first). With `overlap`,
    /// the run goes on meanwhile (nothing needs it to go back): at 50 ms from
    /// the host that is three round trips per host off the deploy's time.
    async fn remove_replaced(
        &self,
        engine: &dyn Engine,
        host: &str,
        aside: String,
        name: String,
        overlap: bool,
    ) {
        // The queued removal outlives this call: it needs the run's own handle.
        if overlap && let Some(shared) = self.engine(host) {
            let work = remove_kept(shared, self.d, self.events, host.to_owned(), aside, name);
            self.cleanup(Box::pin(work));
        } else {
            remove_kept(engine, self.d, self.events, host.to_owned(), aside, name).await;
        }
    }

    /// Stops the old container and moves it aside (or finds it aside already).
    /// Reads that do not depend on each other go together: each is a round
    /// trip to a host that may be 200 ms away.
    async fn take_old(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        s: &Swap<'_>,
    ) -> Result<Taken, TakeFailed> {
        let (host, name, image_id) = (at.host, at.name(), s.image_id);
        let aside = old_name(name);
        let (current, old) = futures::future::try_join(
            inspect_opt(engine, host, name),
            inspect_opt(engine, host, &aside),
        )
        .await?;
        let up_to_date = |s: &ContainerSnap| runs_target(s, &at.r.to, image_id);
        match (old, current) {
            (None, None) => Err(DeployError::host(host, format!("no container {name}")).into()),
            (None, Some(c)) => {
                let snap = ContainerSnap::from_inspect(&c);
                if up_to_date(&snap) {
                    return Ok(Taken::UpToDate);
                }
                // Stopping an auto-remove container deletes it: nothing to go back to.
                if c.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true) {
                    return Err(TakeFailed::untouched(DeployError::host(
                        host,
                        format!(
                            "{name} was started with --rm: stopping it would delete it, so it \
                             cannot be replaced safely"
                        ),
                    )));
                }
                self.set_aside(engine, at, s, c).await
            }
            (Some(o), Some(c)) => {
                // Half done: a replacement from an earlier run may already be good.
                let snap = ContainerSnap::from_inspect(&c);
                let new = if up_to_date(&snap) {
                    Replacement::Reuse(snap.id)
                } else {
                    remove_container(engine, host, &snap.id).await?;
                    Replacement::None
                };
                stop_aside(engine, host, &o).await?;
                Ok(Taken::Old(Aside::new(o, new)))
            }
            (Some(o), None) => {
                stop_aside(engine, host, &o).await?;
                Ok(Taken::Old(Aside::new(o, Replacement::None)))
            }
        }
    }

    /// Renames the running container aside, then stops it while its
    /// replacement is created; only the start waits for the stop. The rename
    /// is the first change and runs alone: when it fails the service runs on
    /// untouched, and no rename overlaps a stop (on Docker 20.10 that can
    /// leave the container a stale network sandbox, and its later renames fail).
    async fn set_aside(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        s: &Swap<'_>,
        c: ContainerInspectResponse,
    ) -> Result<Taken, TakeFailed> {
        let (host, name) = (at.host, at.name());
        let (id, aside) = (c.id.clone().unwrap_or_default(), old_name(name));
        self.step_at(at, Step::Renaming, &aside);
        // The model's image config is read meanwhile: no extra round trip.
        let (renamed, config) = tokio::join!(
            rename(engine, host, &id, &aside),
            image_config(engine, host, s.model.unwrap_or(&c))
        );
        match renamed {
            Ok(()) => {}
            Err(e) if stale_sandbox(&e) => return self.stop_then_rename(engine, at, c, e).await,
            // Unanswered, it may have happened: not untouched.
            Err(e) if e.unreachable() => return Err(e.into()),
            Err(e) => return Err(TakeFailed::untouched(e)),
        }
        self.step_at(at, Step::Stopping, name);
        let stopping = Instant::now();
        let stop_done = AtomicBool::new(false);
        let stop_old = async {
            let stopped = stop(engine, host, &c).await;
            stop_done.store(true, Ordering::Relaxed);
            stopped
        };
        let make_new = async {
            let id = self.create_new(engine, s, &c, config?.as_ref()).await?;
            // An app that ignores SIGTERM holds the stop for its whole
            // grace period: say what the host is waiting for.
            if !stop_done.load(Ordering::Relaxed) {
                self.step_at(at, Step::Stopping, STILL_STOPPING);
            }
            Ok::<_, DeployError>(id)
        };
        let (stopped, created) = tokio::join!(stop_old, make_new);
        stopped?;
        Ok(Taken::Old(
            Aside::new(c, Replacement::Created(created?)).stopped(stopping),
        ))
    }

    /// A container whose network sandbox Docker lost (left so by an older
    /// flotilla) cannot be renamed while it runs, but can once stopped.
    async fn stop_then_rename(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        c: ContainerInspectResponse,
        e: DeployError,
    ) -> Result<Taken, TakeFailed> {
        let (host, name) = (at.host, at.name());
        self.emit(DeployEvent::Warning {
            message: format!(
                "{e}: Docker lost {name}'s network sandbox while it runs (a rename during a \
                 stop, on Docker 20.10); stopping it before the rename instead"
            ),
        })
        .await;
        self.step_at(at, Step::Stopping, name);
        let stopping = Instant::now();
        stop(engine, host, &c).await?;
        self.step_at(at, Step::Renaming, old_name(name));
        let id = c.id.clone().unwrap_or_default();
        rename(engine, host, &id, &old_name(name)).await?;
        Ok(Taken::Old(
            Aside::new(c, Replacement::None).stopped(stopping),
        ))
    }

    /// Creates (does not start) the replacement from `model`: the old
    /// container's settings on the new image, or a revert's original.
    async fn create_new(
        &self,
        engine: &dyn Engine,
        s: &Swap<'_>,
        old: &ContainerInspectResponse,
        model_image: Option<&ImageConfig>,
    ) -> Result<String, DeployError> {
        let at = s.at;
        let model = s.model.unwrap_or(old);
        let labels = match s.model {
            // A revert: the container as it was, labels and all.
            Some(original) => flotilla_labels(original),
            None => self.deploy_labels(model),
        };
        let r = spec::recreate(model, model_image, &at.r.to, &labels);
        self.step_at(at, Step::Creating, &at.r.to);
        create(engine, at.host, at.name(), r).await
    }

    /// The flotilla labels of a container this run creates in place of `old`:
    /// what it replaced (`rollback` returns there) and this deploy's id.
    pub(super) fn deploy_labels(
        &self,
        old: &ContainerInspectResponse,
    ) -> Vec<(&'static str, String)> {
        vec![
            (
                LABEL_PREVIOUS_IMAGE,
                old.config
                    .as_ref()
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default(),
            ),
            (
                LABEL_PREVIOUS_IMAGE_ID,
                old.image.clone().unwrap_or_default(),
            ),
            (LABEL_DEPLOY_ID, self.d.id.clone()),
        ]
    }

    /// Starts the new container (creating it first unless it was made while
    /// the old one stopped), then waits for its health.
    async fn start_new(
        &self,
        engine: &dyn Engine,
        s: &Swap<'_>,
        aside: &Aside,
        timings: &mut Timings,
        t: Instant,
    ) -> Result<(), DeployError> {
        let (at, host, name) = (s.at, s.at.host, s.at.name());
        let id = match &aside.new {
            Replacement::Reuse(id) => id.clone(),
            made => {
                let id = match made {
                    Replacement::Created(id) => id.clone(),
                    _ => {
                        let model_image =
                            image_config(engine, host, s.model.unwrap_or(&aside.old)).await?;
                        self.create_new(engine, s, &aside.old, model_image.as_ref())
                            .await?
                    }
                };
                self.step_at(at, Step::Starting, crate::human::short_id(s.image_id));
                engine.start(&id).await.ctx(host, format!("start {name}"))?;
                id
            }
        };
        self.audit_replica(at, "start", &Ok(()));
        timings.start_ms += millis(t.elapsed());
        let t = Instant::now();
        let waited = self.gate(engine, at, &id, s.cancellable).await;
        timings.health_ms += millis(t.elapsed());
        self.audit_replica(
            at,
            "health",
            &waited.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        waited?;
        self.step_at(
            at,
            Step::Healthy,
            format!("after {:.1}s", t.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    /// The health gate of container `id` (the new one): its own check, else
    /// `health_cmd`, else running for `stable_for`; an abort cancels it when
    /// `cancellable`.
    pub(super) async fn gate(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        id: &str,
        cancellable: bool,
    ) -> Result<std::time::Duration, DeployError> {
        let host = at.host;
        let new = inspect_some(engine, host, id, "inspect new container").await?;
        let mode = health::mode_of(
            &new,
            self.d.service.health_cmd.as_deref(),
            self.d.service.stable_for,
        );
        self.step_at(at, Step::WaitingForHealth, mode.describe());
        let control = self.control.clone();
        Wait {
            engine,
            host,
            container: id,
            mode,
            timeout: self.d.service.health_timeout,
            events: self.events,
            replica: at.tag.clone(),
            seen: Some(new),
        }
        .run(&move || cancellable && *control.borrow() == Control::Abort)
        .await
    }

    /// After a failure mid-swap: the old container back, confirmed healthy.
    async fn roll_back(&self, engine: &dyn Engine, at: &At<'_>, e: DeployError) -> SwapFailed {
        let error = e.to_string();
        let why = error
            .strip_prefix(&format!("{}: ", at.host))
            .unwrap_or(&error);
        self.step_at(at, Step::RollingBack, why);
        match self.restore(engine, at).await {
            Ok(()) => {
                self.audit_replica(at, "rollback", &Ok(()));
                SwapFailed {
                    error,
                    end: Ended::Back,
                }
            }
            Err(e) => {
                let end = match e.unreachable() {
                    true => Ended::Unreachable,
                    false => Ended::Unknown,
                };
                let error = format!("{error}; then restoring the old container failed: {e}");
                self.audit_replica(at, "rollback", &Err(error.clone()));
                SwapFailed { error, end }
            }
        }
    }

    /// Puts the old container back under its name, starts it and waits for
    /// its health. Works from any half-done state.
    pub(super) async fn restore(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
    ) -> Result<(), DeployError> {
        let (host, name) = (at.host, at.name());
        let aside = old_name(name);
        self.step_at(at, Step::Restoring, name);
        if inspect_opt(engine, host, &aside).await?.is_some() {
            kept::before_remove(engine, self.d, host, name, name, Why::Failed).await;
            remove_container(engine, host, name).await?;
            rename(engine, host, &aside, name).await?;
        }
        // A start-first candidate left by an interrupted run goes too, and
        // the old one gets back the aliases that run took for its drain.
        self.drop_candidate(engine, host, name).await;
        match engine.start(name).await {
            Ok(()) => {}
            Err(e) if status_of(&e) == Some(304) => {}
            Err(e) => return Err(e).ctx(host, format!("start {name}")),
        }
        let c = inspect_some(engine, host, name, &format!("inspect {name}")).await?;
        let mode = health::mode_of(
            &c,
            self.d.service.health_cmd.as_deref(),
            self.d.service.stable_for,
        );
        self.step_at(
            at,
            Step::WaitingForHealth,
            format!("old container: {}", mode.describe()),
        );
        // Never cancelled: an abort must not leave the host without a healthy container.
        Wait {
            engine,
            host,
            container: name,
            mode,
            timeout: self.d.service.health_timeout,
            events: self.events,
            replica: at.tag.clone(),
            seen: Some(c),
        }
        .run(&|| false)
        .await?;
        self.step_at(at, Step::Healthy, "old container");
        Ok(())
    }
}

/// Keeps the logs of the container set `aside` in place of `name`, then removes it.
async fn remove_kept(
    engine: &dyn Engine,
    d: &Deployment,
    events: &mpsc::Sender<DeployEvent>,
    host: String,
    aside: String,
    name: String,
) {
    kept::before_remove(engine, d, &host, &aside, &name, Why::Replaced).await;
    if let Err(e) = remove_container(engine, &host, &aside).await {
        let message = format!("{e} (the new container is healthy)");
        let _ = events.send(DeployEvent::Warning { message }).await;
    }
}

/// Already running `to` (and, when known, the very image id `image_id`).
pub(super) fn runs_target(s: &ContainerSnap, to: &str, image_id: &str) -> bool {
    s.running && s.image == to && (image_id.is_empty() || s.image_id == image_id)
}

/// Stops a container (by id: it may be renamed meanwhile) with its own grace
/// period. Asked even when it looked stopped, as a restart policy may have
/// started it since; a stopped one answers 304, which is fine.
pub(super) async fn stop(
    engine: &dyn Engine,
    host: &str,
    c: &ContainerInspectResponse,
) -> Result<(), DeployError> {
    let name = c
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/');
    let id = c.id.as_deref().unwrap_or(name);
    let secs = c
        .config
        .as_ref()
        .and_then(|cfg| cfg.stop_timeout)
        .unwrap_or(10)
        .clamp(0, MAX_STOP_SECS);
    match engine.stop(id, secs).await {
        Err(e) if status_of(&e) != Some(304) => Err(e).ctx(host, format!("stop {name}")),
        _ => Ok(()),
    }
}

/// Docker 20.10's answer to renaming a running container whose network
/// sandbox it no longer has.
fn stale_sandbox(e: &DeployError) -> bool {
    match e {
        DeployError::Docker { source, .. } => {
            status_of(source) == Some(404) && lost_sandbox(&source.to_string())
        }
        _ => false,
    }
}

/// An interrupted run may have set the old container aside before its stop
/// finished; it must not run beside its replacement.
async fn stop_aside(
    engine: &dyn Engine,
    host: &str,
    o: &ContainerInspectResponse,
) -> Result<(), DeployError> {
    match o.state.as_ref().and_then(|s| s.running) {
        Some(true) => stop(engine, host, o).await,
        _ => Ok(()),
    }
}

/// The flotilla labels a container carried, to give them back on a revert.
pub(super) fn flotilla_labels(c: &ContainerInspectResponse) -> Vec<(&'static str, String)> {
    let labels = c.config.as_ref().and_then(|cfg| cfg.labels.as_ref());
    [
        LABEL_PREVIOUS_IMAGE,
        LABEL_PREVIOUS_IMAGE_ID,
        LABEL_DEPLOY_ID,
    ]
    .into_iter()
    .filter_map(|k| labels.and_then(|l| l.get(k)).map(|v| (k, v.clone())))
    .collect()
}
