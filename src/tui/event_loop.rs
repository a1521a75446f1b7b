//! The loop that owns all state: it waits for the next event (keys, host
//! actors, timers, background answers, the running deploy, signals), folds
//! a burst into one frame, lets `App::update` decide, and carries out the
//! effects, one method each. Only the shell takes the terminal from it.

use std::collections::VecDeque;

use crossterm::event::{Event, KeyEventKind};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::time::Interval;

use super::app::{self, App, AppEffect, AppEvent};
use super::state::deploy::DeployRequest;
use super::tasks::{self, PrepareResult};
use super::{
    AUDIT_EVERY, AUDIT_VIEW_LIMIT, COMPOSE_EVERY, DISK_EVERY, MAX_EVENTS_PER_FRAME, STATS_EVERY,
    TOP_EVERY, TuiOptions,
};
use super::{input, pace, shell, theme, views};
use crate::config::{Inventory, ServiceSpec};
use crate::fleet::{Fleet, FleetEvent, FleetState};
use crate::ops;
use crate::ops::AuditLog;
use crate::ops::deploy::{Control, DeployEvent, Deployment};

/// Events buffered between a running deploy and the loop.
const DEPLOY_EVENTS: usize = 256;

/// The loop's side of the Deploy view: the Docker handles and channels that
/// `App` must not hold.
struct DeployRuntime {
    services: Vec<ServiceSpec>,
    /// Prepare tasks answer here.
    prepared_tx: mpsc::Sender<PrepareResult>,
    prepared_rx: mpsc::Receiver<PrepareResult>,
    /// Prepared and shown, waiting for `y`.
    ready: Option<Deployment>,
    control: Option<watch::Sender<Control>>,
    events: Option<mpsc::Receiver<DeployEvent>>,
}

/// What the loop waits on besides its own state: input, signals, timers.
struct Sources {
    keys: input::Input,
    sigterm: Signal,
    sighup: Signal,
    /// CPU/memory of visible rows: one-shot reads, only while that view is open.
    stats_tick: Interval,
    /// Compose drift: read while a view that shows it is open, at most this often.
    compose_tick: Interval,
    /// Docker's disk usage: read while the Hosts view is open, at most this often.
    disk_tick: Interval,
    /// Container counters: read while the Top view is open.
    top_tick: Interval,
    /// The Timeline view's audit records: the log's end, looked at while it is open.
    audit_tick: Interval,
    audit_tail: ops::AuditTail,
    /// The silences file, looked at (a stat) while the Triage view is open.
    silence_tick: Interval,
    silences: ops::alerts::silence::Watched,
    /// Draw at once after input; fleet changes wait for the next frame slot.
    pacer: pace::Pacer,
}

/// How often the Triage view looks whether the silences file changed.
const SILENCES_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The silences when the file changed; a broken file is said once.
fn silences(file: &mut ops::alerts::silence::Watched) -> Option<AppEvent> {
    match file.refresh() {
        Ok(false) => None,
        Ok(true) => Some(AppEvent::Silences(file.list.clone())),
        Err(e) => Some(AppEvent::Notice {
            text: e.to_string(),
            error: true,
        }),
    }
}

fn every(period: std::time::Duration) -> Interval {
    let mut t = tokio::time::interval(period);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// What waiting brought.
enum Waited {
    Event(Option<AppEvent>, pace::Cause),
    Quit,
    Failed(std::io::Error),
}

pub(super) struct Loop {
    app: App,
    fleet: Fleet,
    audit: AuditLog,
    deploy: DeployRuntime,
    theme: theme::Theme,
    /// Answers of background reads (the timeline, snapshots, drift) come back here.
    loaded_tx: mpsc::Sender<AppEvent>,
    loaded_rx: mpsc::Receiver<AppEvent>,
    /// The counters reader (started when the Top view first opens).
    top: Option<mpsc::Sender<tasks::TopRequest>>,
}

impl Loop {
    pub(super) fn new(inventory: &Inventory, opts: TuiOptions) -> Loop {
        let fleet = Fleet::spawn(inventory, opts.actor);
        let mut app = App::new(FleetState::new(inventory), opts.keymap, opts.settings);
        app.state.deploy.services = opts.services.clone();
        let (prepared_tx, prepared_rx) = mpsc::channel(4);
        let (loaded_tx, loaded_rx) = mpsc::channel::<AppEvent>(4);
        Loop {
            app,
            fleet,
            audit: AuditLog::from_env(),
            deploy: DeployRuntime {
                services: opts.services,
                prepared_tx,
                prepared_rx,
                ready: None,
                control: None,
                events: None,
            },
            theme: theme::Theme::from_env(),
            loaded_tx,
            loaded_rx,
            top: None,
        }
    }

    /// Runs until the user quits or a signal arrives; the terminal is
    /// restored and the actors shut down whatever happened.
    pub(super) async fn run(mut self) -> std::io::Result<()> {
        let mut terminal = ratatui::init();
        let result = self.frames(&mut terminal).await;
        ratatui::restore();
        self.fleet.shutdown().await;
        result
    }

    async fn frames(&mut self, terminal: &mut ratatui::DefaultTerminal) -> std::io::Result<()> {
        let size = terminal.size()?;
        self.app.update(AppEvent::Resize {
            width: size.width,
            height: size.height,
        });
        let mut src = Sources {
            keys: input::Input::start(),
            sigterm: signal(SignalKind::terminate())?,
            sighup: signal(SignalKind::hangup())?,
            stats_tick: every(STATS_EVERY),
            compose_tick: every(COMPOSE_EVERY),
            disk_tick: every(DISK_EVERY),
            top_tick: every(TOP_EVERY),
            audit_tick: every(AUDIT_EVERY),
            audit_tail: ops::AuditTail::at_end(&self.audit),
            silence_tick: every(SILENCES_EVERY),
            silences: ops::alerts::silence::Watched::new(ops::alerts::silence::default_path()),
            pacer: pace::Pacer::new(),
        };
        let mut redraw = true;
        loop {
            if redraw {
                terminal.draw(|f| views::draw(f, &self.app, &self.theme))?;
                src.pacer.drawn(tokio::time::Instant::now());
            }
            let (first, cause) = match self.wait(&mut src).await {
                Waited::Event(first, cause) => (first, cause),
                Waited::Quit => return Ok(()),
                Waited::Failed(e) => return Err(e),
            };
            let (pending, cause) = self.burst(first, cause);
            let (quit, shell_in) = self.update_all(pending);
            redraw = src.pacer.note(
                cause,
                tokio::time::Instant::now(),
                pace::slot(self.app.view),
            );
            if quit {
                return Ok(());
            }
            if let Some(target) = shell_in {
                self.shell(terminal, &mut src.keys, target).await?;
                redraw = true;
            }
        }
    }

    /// The next event, or why the loop ends.
    async fn wait(&mut self, src: &mut Sources) -> Waited {
        let view = self.app.view;
        let frame_due = async {
            match src.pacer.due(pace::slot(view)) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut cause = pace::Cause::None;
        let first = tokio::select! {
            ev = src.keys.next() => match ev {
                Some(Ok(ev)) => terminal_event(ev),
                Some(Err(e)) => return Waited::Failed(e),
                None => return Waited::Quit,
            },
            ev = self.fleet.events.recv() => ev.map(AppEvent::Fleet),
            _ = src.stats_tick.tick() => Some(AppEvent::StatsTick),
            _ = src.compose_tick.tick(), if matches!(view, app::View::Services | app::View::Triage) => {
                Some(AppEvent::ComposeTick)
            }
            _ = src.disk_tick.tick(), if view == app::View::Hosts => Some(AppEvent::DiskTick),
            _ = src.top_tick.tick(), if view == app::View::Top => Some(AppEvent::TopTick),
            _ = src.audit_tick.tick(), if view == app::View::Timeline => {
                self.audit_appended(&mut src.audit_tail)
            }
            _ = src.silence_tick.tick(), if view == app::View::Triage => silences(&mut src.silences),
            loaded = self.loaded_rx.recv() => loaded,
            prepared = self.deploy.prepared_rx.recv() => self.prepared(prepared),
            ev = next_deploy_event(&mut self.deploy.events) => self.deploy_event(ev),
            () = frame_due => {
                cause = pace::Cause::Background;
                None
            }
            _ = src.sigterm.recv() => return Waited::Quit,
            _ = src.sighup.recv() => return Waited::Quit,
        };
        Waited::Event(first, cause)
    }

    fn audit_appended(&self, tail: &mut ops::AuditTail) -> Option<AppEvent> {
        match tail.read_new(&self.audit) {
            Ok(records) if records.is_empty() => None,
            Ok(records) => Some(AppEvent::AuditAppended(records)),
            Err(e) => {
                tracing::warn!("audit log {}: {e}", self.audit.path().display());
                None
            }
        }
    }

    fn prepared(&mut self, prepared: Option<PrepareResult>) -> Option<AppEvent> {
        match prepared? {
            Ok((deployment, summary)) => {
                self.deploy.ready = Some(*deployment);
                Some(AppEvent::DeployPrepared(Ok(summary)))
            }
            Err(e) => Some(AppEvent::DeployPrepared(Err(e))),
        }
    }

    fn deploy_event(&mut self, ev: Option<DeployEvent>) -> Option<AppEvent> {
        match ev {
            Some(ev) => Some(AppEvent::Deploy(ev)),
            None => {
                self.deploy.events = None;
                self.deploy.control = None;
                Some(AppEvent::DeployEnded)
            }
        }
    }

    /// The first event and whatever queued behind it (log lines, list
    /// refreshes, deploy progress), folded into one frame.
    fn burst(
        &mut self,
        first: Option<AppEvent>,
        mut cause: pace::Cause,
    ) -> (VecDeque<AppEvent>, pace::Cause) {
        if let Some(ev) = &first {
            cause = cause.max(pace::cause(ev, self.app.view, &self.app.fleet));
        }
        let mut pending: VecDeque<AppEvent> = first.into_iter().collect();
        while pending.len() < MAX_EVENTS_PER_FRAME {
            let Ok(ev) = self.fleet.events.try_recv() else {
                break;
            };
            let ev = AppEvent::Fleet(ev);
            cause = cause.max(pace::cause(&ev, self.app.view, &self.app.fleet));
            pending.push_back(ev);
        }
        if let Some(rx) = &mut self.deploy.events {
            while pending.len() < MAX_EVENTS_PER_FRAME {
                let Ok(ev) = rx.try_recv() else {
                    break;
                };
                cause = pace::Cause::Input;
                pending.push_back(AppEvent::Deploy(ev));
            }
        }
        (pending, cause)
    }

    /// Updates the App with each event and carries out its effects (which
    /// may queue more events). Says whether to quit, and a shell to open.
    fn update_all(
        &mut self,
        mut pending: VecDeque<AppEvent>,
    ) -> (bool, Option<shell::ShellTarget>) {
        let mut quit = false;
        let mut shell_in = None;
        while let Some(ev) = pending.pop_front() {
            for effect in self.app.update(ev) {
                match effect {
                    AppEffect::Shell {
                        host,
                        host_name,
                        container_id,
                        name,
                    } => {
                        shell_in = Some(shell::ShellTarget {
                            host,
                            host_name,
                            container_id,
                            name,
                        });
                    }
                    effect => quit |= self.carry_out(effect, &mut pending),
                }
            }
        }
        (quit, shell_in)
    }

    /// The terminal belongs to the shell until it ends; then the audit
    /// records it and the TUI comes back.
    async fn shell(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        keys: &mut input::Input,
        target: shell::ShellTarget,
    ) -> std::io::Result<()> {
        keys.pause().await;
        ratatui::restore();
        let outcome = match self.fleet.docker(target.host) {
            Some(docker) => shell::run(&docker, &target, &self.app.settings.shell).await,
            None => Err(format!("{} is not connected", target.host_name)),
        };
        *terminal = ratatui::init();
        terminal.clear()?;
        keys.resume();
        let (action, result) = match &outcome {
            Ok((program, code)) => (
                ops::AuditAction::Shell(Some((program.clone(), *code))),
                Ok(*code),
            ),
            Err(e) => (ops::AuditAction::Shell(None), Err(e.clone())),
        };
        let record = ops::AuditRecord::new(
            &target.host_name,
            &target.name,
            action.clone(),
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        if let Err(text) = ops::act::audit(&self.audit, &record) {
            self.notice(text, true);
        }
        match result {
            Ok(_) => self.notice(
                format!("{action} in {} on {}", target.name, target.host_name),
                false,
            ),
            Err(e) => self.notice(format!("shell in {}: {e}", target.name), true),
        }
        Ok(())
    }

    fn notice(&mut self, text: String, error: bool) {
        self.app.update(AppEvent::Notice { text, error });
    }

    /// Executes one effect without waiting on any host; events it implies
    /// go to `follow_up`. Returns true to quit.
    fn carry_out(&mut self, effect: AppEffect, follow_up: &mut VecDeque<AppEvent>) -> bool {
        match effect {
            AppEffect::PrepareDeploy { service, request } => self.prepare_deploy(&service, request),
            AppEffect::DiscardDeploy => self.deploy.ready = None,
            AppEffect::StartDeploy => self.start_deploy(),
            AppEffect::DeployControl(c) => {
                if let Some(control) = &self.deploy.control {
                    let _ = control.send(c);
                }
            }
            AppEffect::Quit => return true,
            AppEffect::LoadTimeline { targets, since } => tasks::load_timeline(
                &self.app.fleet,
                &self.fleet,
                &self.audit,
                targets,
                since,
                &self.loaded_tx,
            ),
            // Taken by `update_all` (it needs the terminal).
            AppEffect::Shell { .. } => {}
            AppEffect::Host(host, cmd) => {
                if let Some(kind) = self.fleet.offer(host, cmd) {
                    follow_up.push_back(AppEvent::Fleet(FleetEvent { host, kind }));
                }
            }
            AppEffect::Audit(record) => {
                if let Err(text) = ops::act::audit(&self.audit, &record) {
                    self.notice(text, true);
                }
            }
            AppEffect::LoadAudit => self.load_audit(),
            AppEffect::ReadKept { title, path } => {
                // A local file of at most ~400 KB (kept::LINE_CHARS × KEEP_LINES).
                let text = std::fs::read_to_string(&path).map_err(|e| e.to_string());
                follow_up.push_back(AppEvent::KeptRead { title, path, text });
            }
            AppEffect::GatherSnapshot => {
                tasks::gather_snapshot(&self.app.fleet, &self.fleet, &self.audit, &self.loaded_tx);
            }
            AppEffect::ReadCompose => {
                tasks::read_compose(&self.app.fleet, &self.fleet, &self.loaded_tx);
            }
            AppEffect::ReadDisks => {
                tasks::read_disks(&self.app.fleet, &self.fleet, &self.loaded_tx)
            }
            AppEffect::PlanPrune(kinds) => tasks::plan_prune(
                &self.app.fleet,
                &self.fleet,
                &self.deploy.services,
                kinds,
                &self.loaded_tx,
            ),
            AppEffect::Prune(plan) => tasks::prune(
                &self.app.fleet,
                &self.fleet,
                *plan,
                &self.audit,
                &self.loaded_tx,
            ),
            AppEffect::ReadTop => self.read_top(follow_up),
            AppEffect::Snapshot { markdown, json } => self.write_snapshot(&markdown, &json),
            AppEffect::Silence {
                target,
                length,
                end,
            } => self.silence(&target, length, end, follow_up),
            AppEffect::SaveLogs { path, text } => {
                let (text, error) = match std::fs::write(&path, text) {
                    Ok(()) => (format!("saved logs to {path}"), false),
                    Err(e) => (format!("cannot save logs to {path}: {e}"), true),
                };
                self.notice(text, error);
            }
        }
        false
    }

    /// A round for the counters reader (started on first use).
    fn read_top(&mut self, follow_up: &mut VecDeque<AppEvent>) {
        let request = crate::fleet::top::request(&self.app.fleet, &self.fleet);
        let reader = self
            .top
            .get_or_insert_with(|| tasks::top_reader(&self.loaded_tx));
        // The view asks again only after an answer, so the reader is never
        // busy here; a reader that ended is started anew.
        if let Err(e) = reader.try_send(request) {
            if matches!(e, mpsc::error::TrySendError::Closed(_)) {
                self.top = None;
            }
            follow_up.push_back(AppEvent::TopRead(Vec::new()));
        }
    }

    fn prepare_deploy(&mut self, service: &str, request: DeployRequest) {
        self.deploy.ready = None;
        match self.deploy.services.iter().find(|s| s.name == service) {
            Some(spec) => tasks::prepare_deploy(
                spec.clone(),
                request,
                &self.app.fleet,
                &self.fleet,
                self.deploy.prepared_tx.clone(),
            ),
            None => {
                self.app.update(AppEvent::DeployPrepared(Err(format!(
                    "no [service.{service}] in the config"
                ))));
            }
        }
    }

    /// Only the plan the user saw and confirmed may run.
    fn start_deploy(&mut self) {
        let confirmed = |d: &Deployment| {
            self.app
                .state
                .deploy
                .current
                .as_ref()
                .and_then(|c| c.summary.as_ref())
                .is_some_and(|s| {
                    s.deploy_id == d.id && s.plan == d.plan && s.service == d.service.name
                })
        };
        match self.deploy.ready.take() {
            Some(deployment) if confirmed(&deployment) => {
                let (tx, rx) = mpsc::channel(DEPLOY_EVENTS);
                let (control, control_rx) = watch::channel(Control::Run);
                // Detached: the loop follows it through its events; the App
                // refuses to quit while it runs.
                tokio::spawn(ops::deploy::execute(deployment, tx, control_rx));
                self.deploy.control = Some(control);
                self.deploy.events = Some(rx);
            }
            _ => {
                self.app.update(AppEvent::DeployEnded);
                let text = "the plan shown is no longer the one prepared: press esc and D again";
                self.notice(text.to_owned(), true);
            }
        }
    }

    fn load_audit(&mut self) {
        match self.audit.tail(AUDIT_VIEW_LIMIT) {
            Ok((records, bad)) => {
                self.app.update(AppEvent::AuditLoaded(records));
                if bad > 0 {
                    let text = format!(
                        "{bad} unreadable line(s) in {}",
                        self.audit.path().display()
                    );
                    self.notice(text, true);
                }
            }
            Err(e) => {
                let text = format!("cannot read audit log {}: {e}", self.audit.path().display());
                self.notice(text, true);
            }
        }
    }

    /// Beside the audit log: `incident-STAMP.md` and `.json`.
    /// `z`: a silence added to (or ended in) the silences file; the view
    /// gets the new list at once.
    fn silence(
        &mut self,
        target: &str,
        length: std::time::Duration,
        end: bool,
        follow_up: &mut VecDeque<AppEvent>,
    ) {
        let path = ops::alerts::silence::default_path();
        let now = jiff::Timestamp::now();
        let done = if end {
            ops::alerts::silence::remove(&path, target, now)
                .map(|(n, list)| (format!("ended {n} silence(s) of {target}"), list))
        } else {
            let by = ops::audit::local_user();
            ops::alerts::silence::add(&path, target, length, "from the TUI", &by, now)
                .map(|(s, list)| (ops::alerts::silence::said(&s, length), list))
        };
        match done {
            Ok((text, list)) => {
                self.notice(text, false);
                follow_up.push_back(AppEvent::Silences(list));
            }
            Err(e) => self.notice(e.to_string(), true),
        }
    }

    fn write_snapshot(&mut self, markdown: &str, json: &str) {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
        let base = self
            .audit
            .path()
            .with_file_name(format!("incident-{stamp}"));
        let md = base.with_extension("md");
        let js = base.with_extension("json");
        let written = std::fs::write(&md, markdown).and_then(|()| std::fs::write(&js, json));
        let (text, error) = match written {
            Ok(()) => (
                format!("incident snapshot: {} (+ .json)", md.display()),
                false,
            ),
            Err(e) => (
                format!("cannot write incident snapshot {}: {e}", md.display()),
                true,
            ),
        };
        self.notice(text, error);
    }
}

/// The next event of the running deploy; pending forever when there is none.
async fn next_deploy_event(
    events: &mut Option<mpsc::Receiver<DeployEvent>>,
) -> Option<DeployEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn terminal_event(ev: Event) -> Option<AppEvent> {
    match ev {
        // Key releases (kitty protocol) would double every press.
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(AppEvent::Key(k)),
        Event::Resize(width, height) => Some(AppEvent::Resize { width, height }),
        _ => None,
    }
}
