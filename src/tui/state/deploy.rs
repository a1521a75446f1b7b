//! Deploy view state: the plan the loop prepared, then per-host progress
//! folded from the executor's `DeployEvent`s. Pure: no I/O, no channels.

use crate::ops::deploy::event::Step;
use crate::ops::deploy::{DeployEvent, HostOutcome, Job, Plan, RunOutcome};

/// What the Deploy view asks the loop to prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployRequest {
    Deploy {
        image: String,
    },
    /// Return every host to its recorded previous image.
    Rollback,
}

/// What the loop prepared, without the Docker handles (those stay in the loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    pub deploy_id: String,
    pub service: String,
    /// deploy, rollback, recover, resume.
    pub kind: String,
    pub image: Option<String>,
    pub plan: Plan,
    /// The service runs a pre_deploy command first.
    pub pre_deploy: Option<String>,
    /// A real run would be refused (lock held, interrupted deploy).
    pub refusal: Option<String>,
}

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
        // Events without rows of their own become notes, worded as the CLI words them.
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
            DeployEvent::Step { host, step, detail } => {
                if let Some(r) = self.row(&host) {
                    r.step = Some(step);
                    r.detail = detail;
                    r.wait = None;
                    if !matches!(step, Step::Pulling | Step::Transferring) {
                        r.bytes = None;
                    }
                }
            }
            DeployEvent::Progress { host, bytes, total } => {
                if let Some(r) = self.row(&host) {
                    r.bytes = Some((bytes, total));
                }
            }
            DeployEvent::HealthWait {
                host,
                status,
                remaining_s,
            } => {
                if let Some(r) = self.row(&host) {
                    r.wait = Some((status, remaining_s));
                }
            }
            DeployEvent::HostDone {
                host,
                outcome,
                image,
                error,
                ..
            } => {
                if let Some(r) = self.row(&host) {
                    r.outcome = Some(outcome);
                    r.error = error;
                    r.wait = None;
                    r.bytes = None;
                    r.detail = image;
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
        container: h.container.clone(),
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

#[cfg(test)]
pub(crate) mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::ops::deploy::Control;
    use crate::ops::deploy::event::Timings;
    use crate::tui::action::Keymap;
    use crate::tui::app::{App, AppEffect, AppEvent, InputKind, Overlay, Settings, View};
    use crate::tui::testutil::{sample_fleet, web_plan, web_service};

    fn press(app: &mut App, code: KeyCode) -> Vec<AppEffect> {
        let modifiers = match code {
            KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
            _ => KeyModifiers::NONE,
        };
        app.update(AppEvent::Key(KeyEvent::new(code, modifiers)))
    }

    fn ch(app: &mut App, c: char) -> Vec<AppEffect> {
        press(app, KeyCode::Char(c))
    }

    /// The services matrix with `web` selected.
    pub(crate) fn app_on_web() -> App {
        let mut app = App::new(sample_fleet(), Keymap::default(), Settings::default());
        app.services = vec![web_service()];
        ch(&mut app, '3');
        let names = app.fleet.service_names();
        app.matrix.0 = names.iter().position(|n| n == "web").unwrap_or(0);
        app
    }

    /// Prompt, image typed, plan prepared.
    /// D, then the image prompt answered with app:v2.
    fn ask_v2(app: &mut App) {
        ch(app, 'D');
        app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        )));
        for c in "flotilla-test/app:v2".chars() {
            ch(app, c);
        }
        press(app, KeyCode::Enter);
    }

    pub(crate) fn planned() -> App {
        let mut app = app_on_web();
        ask_v2(&mut app);
        app.update(AppEvent::DeployPrepared(Ok(web_plan())));
        app
    }

    pub(crate) fn step(host: &str, step: Step) -> AppEvent {
        AppEvent::Deploy(DeployEvent::Step {
            host: host.into(),
            step,
            detail: String::new(),
        })
    }

    #[test]
    fn d_prompts_with_the_majority_image_and_enter_prepares() {
        let mut app = app_on_web();
        assert!(ch(&mut app, 'D').is_empty());
        assert_eq!(
            app.overlay,
            Overlay::Input {
                kind: InputKind::DeployImage,
                text: "flotilla-test/app:v1".into()
            }
        );
        app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        )));
        for c in "flotilla-test/app:v2".chars() {
            ch(&mut app, c);
        }
        let effects = press(&mut app, KeyCode::Enter);
        assert_eq!(
            effects,
            vec![
                AppEffect::PrepareDeploy {
                    service: "web".into(),
                    request: DeployRequest::Deploy {
                        image: "flotilla-test/app:v2".into()
                    },
                },
                AppEffect::LoadAudit
            ]
        );
        assert_eq!(app.view, View::Deploy);
        assert_eq!(app.deploy.as_ref().map(|d| d.phase), Some(Phase::Preparing));
    }

    #[test]
    fn an_unconfigured_service_is_refused() {
        let mut app = app_on_web();
        app.services.clear();
        assert!(ch(&mut app, 'D').is_empty());
        assert_eq!(app.overlay, Overlay::None);
        let status = app.status.clone().map(|s| s.text).unwrap_or_default();
        assert!(status.contains("[service.web]"), "{status}");
    }

    #[test]
    fn plan_confirm_events_finish() {
        let mut app = planned();
        assert_eq!(app.deploy.as_ref().map(|d| d.phase), Some(Phase::Planned));
        assert_eq!(ch(&mut app, 'y'), vec![AppEffect::StartDeploy]);
        app.update(AppEvent::Deploy(DeployEvent::BatchStarted {
            index: 0,
            hosts: vec!["fleet-1".into()],
        }));
        app.update(step("fleet-1", Step::Transferring));
        app.update(AppEvent::Deploy(DeployEvent::Progress {
            host: "fleet-1".into(),
            bytes: 1024,
            total: Some(4096),
        }));
        let d = app.deploy.clone().unwrap_or_else(|| unreachable!());
        assert_eq!(d.batch, Some(1));
        assert_eq!(d.rows[0].step, Some(Step::Transferring));
        assert_eq!(d.rows[0].bytes, Some((1024, Some(4096))));
        app.update(AppEvent::Deploy(DeployEvent::HealthWait {
            host: "fleet-1".into(),
            status: "starting".into(),
            remaining_s: 42,
        }));
        app.update(AppEvent::Deploy(DeployEvent::HostDone {
            host: "fleet-1".into(),
            container: "shop-web-1".into(),
            outcome: HostOutcome::Deployed,
            image: "flotilla-test/app:v2".into(),
            error: None,
            timings: Timings::default(),
        }));
        let d = app.deploy.clone().unwrap_or_else(|| unreachable!());
        assert_eq!(d.rows[0].outcome, Some(HostOutcome::Deployed));
        assert_eq!(d.rows[0].wait, None);
        // Quitting mid-deploy would leave a host half done.
        assert!(ch(&mut app, 'q').is_empty());
        let effects = app.update(AppEvent::Deploy(DeployEvent::Finished {
            outcome: RunOutcome::Succeeded,
            deployed: 2,
            failed: 0,
            skipped: 0,
            elapsed_ms: 12_300,
            reason: None,
        }));
        assert_eq!(effects, vec![AppEffect::LoadAudit]);
        assert_eq!(app.deploy.as_ref().map(|d| d.phase), Some(Phase::Finished));
        // One key rolls back: prepared and planned the same way.
        assert_eq!(
            ch(&mut app, 'R'),
            vec![
                AppEffect::PrepareDeploy {
                    service: "web".into(),
                    request: DeployRequest::Rollback,
                },
                AppEffect::LoadAudit
            ]
        );
        assert_eq!(app.deploy.as_ref().map(|d| d.phase), Some(Phase::Preparing));
    }

    #[test]
    fn pause_continue_and_confirmed_abort_send_controls() {
        let mut app = planned();
        ch(&mut app, 'y');
        assert_eq!(
            ch(&mut app, 'p'),
            vec![AppEffect::DeployControl(Control::Pause)]
        );
        assert_eq!(app.deploy.as_ref().map(|d| d.pause), Some(Pause::Requested));
        app.update(AppEvent::Deploy(DeployEvent::Paused));
        assert_eq!(app.deploy.as_ref().map(|d| d.pause), Some(Pause::Paused));
        assert_eq!(
            ch(&mut app, 'c'),
            vec![AppEffect::DeployControl(Control::Run)]
        );
        assert!(ch(&mut app, 'A').is_empty());
        assert_eq!(app.overlay, Overlay::ConfirmAbort);
        // Any other key keeps it going.
        assert!(ch(&mut app, 'n').is_empty());
        assert_eq!(app.overlay, Overlay::None);
        ch(&mut app, 'A');
        assert_eq!(
            ch(&mut app, 'y'),
            vec![AppEffect::DeployControl(Control::Abort)]
        );
    }

    #[test]
    fn read_only_and_refusals_do_not_start() {
        let mut app = planned();
        app.settings.read_only = true;
        assert!(ch(&mut app, 'y').is_empty());
        let status = app.status.clone().map(|s| s.text).unwrap_or_default();
        assert!(status.contains("read-only"), "{status}");
        assert_eq!(app.deploy.as_ref().map(|d| d.phase), Some(Phase::Planned));

        let mut app = app_on_web();
        ask_v2(&mut app);
        let mut plan = web_plan();
        plan.refusal = Some("web is locked on fleet-1".into());
        app.update(AppEvent::DeployPrepared(Ok(plan)));
        assert!(ch(&mut app, 'y').is_empty());
        let status = app.status.clone().map(|s| s.text).unwrap_or_default();
        assert!(status.contains("locked on fleet-1"), "{status}");
    }

    #[test]
    fn esc_on_the_plan_discards_it() {
        let mut app = planned();
        assert_eq!(
            press(&mut app, KeyCode::Esc),
            vec![AppEffect::DiscardDeploy]
        );
        assert_eq!(app.view, View::Services);
        assert!(app.deploy.is_none());
    }

    #[test]
    fn a_late_plan_for_another_request_is_ignored() {
        let mut app = app_on_web();
        ch(&mut app, 'D');
        // Prefilled v1, while the plan that arrives is for v2.
        press(&mut app, KeyCode::Enter);
        app.update(AppEvent::DeployPrepared(Ok(web_plan())));
        assert_eq!(app.deploy.as_ref().map(|d| d.phase), Some(Phase::Preparing));
    }

    #[test]
    fn a_failed_prepare_is_shown() {
        let mut app = app_on_web();
        ch(&mut app, 'D');
        press(&mut app, KeyCode::Enter);
        app.update(AppEvent::DeployPrepared(Err(
            "cannot deploy web: unreachable".into(),
        )));
        assert_eq!(app.deploy.as_ref().map(|d| d.phase), Some(Phase::Failed));
    }
}
