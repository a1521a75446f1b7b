//! Deploy view state: the plan the loop prepared, then per-host progress
//! folded from the executor's `DeployEvent`s. Pure: no I/O, no channels.

use super::{Ctx, Msg};
use crate::config::ServiceSpec;
use crate::fleet::FleetState;
use crate::ops::act::Policy;
use crate::ops::deploy::event::Step;
use crate::ops::deploy::{Control, DeployEvent, HostOutcome, Job, Plan, ReplicaRef, RunOutcome};
use crate::tui::action::Action;
use crate::tui::msg::{AppEffect, InputKind, Overlay};
pub use crate::tui::msg::{DeployRequest, PlanSummary};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Preparing,
    Planned,
    Running,
    Finished,
    /// Preparing failed; `error` says why.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    No,
    /// Asked; the executor pauses once the current batch is done.
    Requested,
    Paused,
}

/// One host of the plan and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub host: String,
    pub container: String,
    pub from: String,
    pub to: String,
    pub job: Job,
    /// 1-based batch; 0 for hosts left as they are.
    pub batch: usize,
    pub note: Option<String>,
    pub step: Option<Step>,
    pub detail: String,
    pub bytes: Option<(u64, Option<u64>)>,
    /// Health status and seconds left.
    pub wait: Option<(String, u64)>,
    pub outcome: Option<HostOutcome>,
    pub error: Option<String>,
    /// Start-first or stop-first (and whether through Compose), from the plan.
    pub order: Option<String>,
    /// How long the service was unavailable here, once done.
    pub down_ms: Option<u64>,
}

impl HostRow {
    fn done(
        &mut self,
        outcome: HostOutcome,
        image: String,
        error: Option<String>,
        down_ms: Option<u64>,
    ) {
        self.outcome = Some(outcome);
        self.error = error;
        self.down_ms = down_ms;
        self.wait = None;
        self.bytes = None;
        self.detail = image;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub outcome: RunOutcome,
    pub deployed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub elapsed_ms: u64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployState {
    pub service: String,
    pub request: DeployRequest,
    pub phase: Phase,
    pub summary: Option<PlanSummary>,
    pub rows: Vec<HostRow>,
    /// Batch running now (1-based).
    pub batch: Option<usize>,
    pub pause: Pause,
    /// Warnings, image sources, pre_deploy results, stops: newest last.
    pub notes: Vec<String>,
    pub finished: Option<Finished>,
    pub error: Option<String>,
}

/// Notes kept; older ones scroll away.
const MAX_NOTES: usize = 50;

impl DeployState {
    pub fn preparing(service: &str, request: DeployRequest) -> Self {
        DeployState {
            service: service.to_owned(),
            request,
            phase: Phase::Preparing,
            summary: None,
            rows: Vec::new(),
            batch: None,
            pause: Pause::No,
            notes: Vec::new(),
            finished: None,
            error: None,
        }
    }

    pub fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Whether `summary` is the plan for this state's request.
    pub fn answers(&self, summary: &PlanSummary) -> bool {
        summary.service == self.service
            && match &self.request {
                DeployRequest::Deploy { image } => summary.image.as_ref() == Some(image),
                DeployRequest::Rollback => summary.image.is_none(),
            }
    }

    pub fn prepared(&mut self, result: Result<PlanSummary, String>) {
        match result {
            Ok(summary) => {
                self.rows = rows_of(&summary.plan);
                self.summary = Some(summary);
                self.phase = Phase::Planned;
            }
            Err(e) => {
                self.error = Some(e);
                self.phase = Phase::Failed;
            }
        }
    }

    fn row(&mut self, host: &str) -> Option<&mut HostRow> {
        self.rows.iter_mut().find(|r| r.host == host)
    }

    fn note(&mut self, text: String) {
        self.notes.push(text);
        if self.notes.len() > MAX_NOTES {
            self.notes.remove(0);
        }
    }

    /// Folds one executor event into the rows.
    pub fn apply(&mut self, ev: DeployEvent) {
        self.note_event(&ev);
        match ev {
            DeployEvent::Plan { .. }
            | DeployEvent::Locked { .. }
            | DeployEvent::ImageSource { .. }
            | DeployEvent::LockHeld { .. }
            | DeployEvent::Warning { .. }
            | DeployEvent::PreDeploy { .. }
            | DeployEvent::PreDeployDone { .. }
            | DeployEvent::Stopped { .. } => {}
            DeployEvent::BatchStarted { index, .. } => self.batch = Some(index + 1),
            DeployEvent::Step {
                host,
                replica,
                step,
                detail,
            } => self.step(&host, replica, step, detail),
            DeployEvent::Progress { host, bytes, total } => {
                if let Some(r) = self.row(&host) {
                    r.bytes = Some((bytes, total));
                }
            }
            DeployEvent::HealthWait {
                host,
                replica,
                status,
                remaining_s,
            } => self.health_wait(&host, replica, status, remaining_s),
            DeployEvent::HostDone {
                host,
                outcome,
                image,
                error,
                timings,
                ..
            } => {
                if let Some(r) = self.row(&host) {
                    r.done(outcome, image, error, timings.down_ms);
                }
            }
            DeployEvent::Paused => self.pause = Pause::Paused,
            DeployEvent::Resumed => self.pause = Pause::No,
            DeployEvent::Finished {
                outcome,
                deployed,
                failed,
                skipped,
                elapsed_ms,
                reason,
            } => {
                self.phase = Phase::Finished;
                self.pause = Pause::No;
                self.finished = Some(Finished {
                    outcome,
                    deployed,
                    failed,
                    skipped,
                    elapsed_ms,
                    reason,
                });
            }
        }
    }

    /// Events without rows of their own become notes, worded as the CLI
    /// words them.
    fn note_event(&mut self, ev: &DeployEvent) {
        if matches!(
            ev,
            DeployEvent::ImageSource { .. }
                | DeployEvent::LockHeld { .. }
                | DeployEvent::Warning { .. }
                | DeployEvent::PreDeploy { .. }
                | DeployEvent::PreDeployDone { .. }
                | DeployEvent::Stopped { .. }
        ) && let Some(text) = ev.describe()
        {
            for line in text.lines() {
                self.note(line.to_owned());
            }
        }
    }

    /// A host's row shows the health status it waits on, and for how long yet.
    fn health_wait(
        &mut self,
        host: &str,
        replica: Option<ReplicaRef>,
        status: String,
        remaining_s: u64,
    ) {
        if let Some(r) = self.row(host) {
            let status = match replica {
                Some(replica) => format!("{replica} {status}"),
                None => status,
            };
            r.wait = Some((status, remaining_s));
        }
    }

    /// A host's row follows the replica being replaced.
    fn step(&mut self, host: &str, replica: Option<ReplicaRef>, step: Step, detail: String) {
        let Some(r) = self.row(host) else {
            return;
        };
        r.step = Some(step);
        r.detail = match replica {
            Some(replica) if detail.is_empty() => replica.to_string(),
            Some(replica) => format!("{replica}: {detail}"),
            None => detail,
        };
        r.wait = None;
        if !matches!(step, Step::Pulling | Step::Transferring) {
            r.bytes = None;
        }
    }

    /// The executor went away without a `Finished` (it panicked).
    pub fn ended(&mut self) {
        if self.phase == Phase::Running {
            self.phase = Phase::Finished;
            self.error = Some("the deploy task ended without a result".into());
        }
    }
}

fn rows_of(plan: &Plan) -> Vec<HostRow> {
    let row = |h: &crate::ops::deploy::PlannedHost, batch: usize| HostRow {
        host: h.host.clone(),
        // A narrow column: the replica count first, then the first name.
        container: match h.replicas.as_slice() {
            [first, _, ..] => format!("×{} {}", h.replicas.len(), first.container),
            _ => h.container.clone(),
        },
        from: h.from.clone(),
        to: h.to.clone(),
        job: h.job,
        batch,
        note: h.note.clone(),
        step: None,
        detail: String::new(),
        bytes: None,
        wait: None,
        outcome: None,
        error: None,
        // The plan says why at length; the row has room for the choice.
        order: h
            .order
            .as_deref()
            .map(|o| o.split(':').next().unwrap_or(o).to_owned()),
        down_ms: None,
    };
    let mut rows: Vec<HostRow> = plan
        .batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.iter().map(move |h| row(h, i + 1)))
        .collect();
    rows.extend(plan.unchanged.iter().map(|h| row(h, 0)));
    rows
}

/// The Deploy view's side of the App: what can be deployed, the image
/// prompt's service, and the deploy shown.
#[derive(Debug, Clone, Default)]
pub struct Deploys {
    /// `[service.NAME]` tables of the config: what `D` can deploy.
    pub services: Vec<ServiceSpec>,
    /// The service the image prompt is for.
    pub target: Option<String>,
    /// Prepared, running or finished.
    pub current: Option<DeployState>,
}

impl Deploys {
    pub fn is_running(&self) -> bool {
        self.current.as_ref().is_some_and(DeployState::is_running)
    }

    /// `D`: the running deploy if any, else an image prompt for `service`
    /// prefilled with what most of its containers run.
    pub fn open(&mut self, service: Option<String>, fleet: &FleetState) -> Vec<Msg> {
        if self.is_running() {
            return vec![Msg::Deploy];
        }
        let Some(name) = service else {
            return vec![Msg::Fail(
                "select a service (services matrix) or one of its containers".into(),
            )];
        };
        // By name, else the service whose `match` owns that Compose service's
        // containers (a [service.api] matching com.docker.compose.service=shop-api).
        let spec = self.services.iter().find(|s| s.name == name).or_else(|| {
            self.services.iter().find(|s| {
                fleet.hosts.iter().any(|h| {
                    h.containers
                        .iter()
                        .any(|c| c.service() == name && c.of_service(s, &h.spec.name))
                })
            })
        });
        let Some(spec) = spec else {
            return vec![Msg::Fail(format!(
                "{name} is not a configured service: add a [service.{name}] table"
            ))];
        };
        let image = fleet.service_image(spec).unwrap_or_default();
        self.target = Some(spec.name.clone());
        vec![Msg::Overlay(Overlay::Input {
            kind: InputKind::DeployImage,
            text: image,
        })]
    }

    /// The image prompt answered.
    pub fn submit_image(&mut self, text: &str) -> Vec<Msg> {
        let Some(service) = self.target.take() else {
            return Vec::new();
        };
        if text.is_empty() {
            return vec![Msg::Fail("deploy cancelled: no image".into())];
        }
        let image = crate::ops::deploy::image::normalize(text);
        self.begin(&service, DeployRequest::Deploy { image })
    }

    fn begin(&mut self, service: &str, request: DeployRequest) -> Vec<Msg> {
        self.current = Some(DeployState::preparing(service, request.clone()));
        vec![
            Msg::Deploy,
            Msg::Effect(AppEffect::PrepareDeploy {
                service: service.to_owned(),
                request,
            }),
            Msg::Effect(AppEffect::LoadAudit),
        ]
    }

    /// The loop's answer to `PrepareDeploy`.
    pub fn prepared(&mut self, result: Result<PlanSummary, String>) {
        // A late answer to a request cancelled since must not show.
        if let Some(d) = &mut self.current
            && d.phase == Phase::Preparing
            && result.as_ref().map_or(true, |s| d.answers(s))
        {
            d.prepared(result);
        }
    }

    /// Progress of the running deploy.
    pub fn apply(&mut self, ev: DeployEvent) -> Vec<AppEffect> {
        let finished = matches!(ev, DeployEvent::Finished { .. });
        if let Some(d) = &mut self.current {
            d.apply(ev);
        }
        // The view lists the service's last deploys from the audit log.
        if finished {
            vec![AppEffect::LoadAudit]
        } else {
            Vec::new()
        }
    }

    pub fn ended(&mut self) {
        if let Some(d) = &mut self.current {
            d.ended();
        }
    }

    /// Keys of the Deploy view; `None` leaves the action to the App.
    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Option<Vec<Msg>> {
        let d = self.current.as_mut()?;
        match (d.phase, action) {
            (Phase::Planned, Action::DeployStart) => Some(self.start(ctx)),
            (Phase::Planned | Phase::Preparing | Phase::Failed, Action::Back) => {
                self.current = None;
                Some(vec![
                    Msg::Back,
                    Msg::Say("deploy cancelled; nothing was changed".into()),
                    Msg::Effect(AppEffect::DiscardDeploy),
                ])
            }
            (Phase::Running, Action::DeployPause) => {
                if d.pause == Pause::No {
                    d.pause = Pause::Requested;
                }
                Some(vec![
                    Msg::Say("pausing after the current batch…".into()),
                    Msg::Effect(AppEffect::DeployControl(Control::Pause)),
                ])
            }
            (Phase::Running, Action::DeployContinue) => {
                d.pause = Pause::No;
                Some(vec![
                    Msg::Say("continuing".into()),
                    Msg::Effect(AppEffect::DeployControl(Control::Run)),
                ])
            }
            (Phase::Running, Action::DeployAbort) => {
                Some(vec![Msg::Overlay(Overlay::ConfirmAbort)])
            }
            (Phase::Finished, Action::DeployRollback) => {
                let service = d.service.clone();
                Some(self.begin(&service, DeployRequest::Rollback))
            }
            // The deploy goes on (or stays shown) in the background; D returns.
            (Phase::Running | Phase::Finished, Action::Back) => Some(vec![Msg::Back]),
            _ => None,
        }
    }

    /// The abort dialog answered yes.
    pub fn abort(&self) -> Vec<Msg> {
        if !self.is_running() {
            return vec![Msg::Say("abort cancelled; the deploy goes on".into())];
        }
        vec![
            Msg::Say("aborting: rolling back the hosts in flight…".into()),
            Msg::Effect(AppEffect::DeployControl(Control::Abort)),
        ]
    }

    fn start(&mut self, ctx: &Ctx) -> Vec<Msg> {
        let Some(summary) = self.current.as_ref().and_then(|d| d.summary.clone()) else {
            return Vec::new();
        };
        if let Some(refusal) = &summary.refusal {
            return vec![Msg::Fail(format!("refused: {refusal}"))];
        }
        if summary.plan.is_empty() {
            return vec![Msg::Fail(format!("{}: nothing to change", summary.service))];
        }
        let policy = Policy {
            read_only: ctx.settings.read_only,
        };
        let specs = ctx.fleet.hosts.iter().map(|h| &h.spec);
        let hosts = summary.plan.hosts().map(|h| h.host.as_str());
        if let Err(refusal) = policy.authorize_deploy(specs, summary.kind, &summary.service, hosts)
        {
            return vec![Msg::Fail(refusal.to_string())];
        }
        if let Some(d) = &mut self.current {
            d.phase = Phase::Running;
        }
        vec![
            Msg::Say(format!("{} {} started", summary.kind, summary.service)),
            Msg::Effect(AppEffect::StartDeploy),
        ]
    }
}
