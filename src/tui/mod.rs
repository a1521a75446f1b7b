//! The interactive TUI: one loop owns all state; host actors, keys and signals
//! feed it events; `App::update` turns them into effects.

pub mod action;
pub mod app;
pub mod input;
pub mod msg;
pub mod pace;
pub mod shell;
pub mod state;
pub mod theme;
pub mod views;

#[cfg(test)]
pub mod testutil;

use crossterm::event::{Event, KeyEventKind};
use tokio::signal::unix::{SignalKind, signal};

use tokio::sync::{mpsc, watch};

use crate::config::{Inventory, ServiceSpec};
use crate::fleet::{ActorConfig, Fleet, FleetEvent, FleetState};
use crate::ops;
use crate::ops::AuditLog;
use crate::ops::deploy::prepare::{self, Mode, Prepared, Request};
use crate::ops::deploy::{Control, Delivery, DeployEvent, Deployment};
use app::{App, AppEffect, AppEvent, Settings};
use state::deploy::{DeployRequest, PlanSummary};

/// Most queued events folded into one frame.
const MAX_EVENTS_PER_FRAME: usize = 1024;
const AUDIT_VIEW_LIMIT: usize = 1000;
const STATS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// Compose drift is read at most this often (each read runs Compose on every
/// host with a project: about half a second of CPU there for v1).
const COMPOSE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// How often the open Timeline view looks for new audit records (a local
/// file: one `stat` when nothing changed).
const AUDIT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct TuiOptions {
    pub actor: ActorConfig,
    pub settings: Settings,
    pub keymap: action::Keymap,
    /// `[service.NAME]` tables: what the Deploy view can deploy.
    pub services: Vec<ServiceSpec>,
}

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

type PrepareResult = Result<(Box<Deployment>, PlanSummary), String>;

/// The next event of the running deploy; pending forever when there is none.
async fn next_deploy_event(
    events: &mut Option<mpsc::Receiver<DeployEvent>>,
) -> Option<DeployEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the TUI until the user quits or a signal arrives.
pub async fn run(inventory: &Inventory, opts: TuiOptions) -> std::io::Result<()> {
    let mut fleet = Fleet::spawn(inventory, opts.actor);
    let mut app = App::new(FleetState::new(inventory), opts.keymap, opts.settings);
    app.state.deploy.services = opts.services.clone();
    let (prepared_tx, prepared_rx) = mpsc::channel(4);
    let mut deploy = DeployRuntime {
        services: opts.services,
        prepared_tx,
        prepared_rx,
        ready: None,
        control: None,
        events: None,
    };
    let theme = theme::Theme::from_env();
    let audit = AuditLog::from_env();
    let mut terminal = ratatui::init();
    let size = terminal.size()?;
    app.update(AppEvent::Resize {
        width: size.width,
        height: size.height,
    });

    let mut keys = input::Input::start();
    // Answers of background reads (the timeline) come back here.
    let (loaded_tx, mut loaded_rx) = mpsc::channel::<AppEvent>(4);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    // CPU/memory of visible rows: one-shot reads, only while that view is open.
    // The Timeline view's audit records: the log's end, looked at while it is open.
    let mut audit_tail = ops::AuditTail::at_end(&audit);
    let mut audit_tick = tokio::time::interval(AUDIT_EVERY);
    audit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Compose drift: read while a view that shows it is open, at most this often.
    let mut compose_tick = tokio::time::interval(COMPOSE_EVERY);
    compose_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stats_tick = tokio::time::interval(STATS_EVERY);
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Draw at once after input; fleet changes wait for the next frame slot.
    let mut pacer = pace::Pacer::new();
    let mut redraw = true;
    let result = loop {
        if redraw {
            if let Err(e) = terminal.draw(|f| views::draw(f, &app, &theme)) {
                break Err(e);
            }
            pacer.drawn(tokio::time::Instant::now());
        }
        let frame_due = async {
            match pacer.due(pace::slot(app.view)) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut cause = pace::Cause::None;
        let first = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(ev)) => terminal_event(ev),
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            },
            ev = fleet.events.recv() => ev.map(AppEvent::Fleet),
            _ = stats_tick.tick() => Some(AppEvent::StatsTick),
            _ = compose_tick.tick(), if matches!(app.view, app::View::Services | app::View::Triage) => {
                Some(AppEvent::ComposeTick)
            }
            _ = audit_tick.tick(), if app.view == app::View::Timeline => {
                match audit_tail.read_new(&audit) {
                    Ok(records) if records.is_empty() => None,
                    Ok(records) => Some(AppEvent::AuditAppended(records)),
                    Err(e) => {
                        tracing::warn!("audit log {}: {e}", audit.path().display());
                        None
                    }
                }
            }
            loaded = loaded_rx.recv() => loaded,
            prepared = deploy.prepared_rx.recv() => match prepared {
                Some(Ok((deployment, summary))) => {
                    deploy.ready = Some(*deployment);
                    Some(AppEvent::DeployPrepared(Ok(summary)))
                }
                Some(Err(e)) => Some(AppEvent::DeployPrepared(Err(e))),
                None => None,
            },
            ev = next_deploy_event(&mut deploy.events) => match ev {
                Some(ev) => Some(AppEvent::Deploy(ev)),
                None => {
                    deploy.events = None;
                    deploy.control = None;
                    Some(AppEvent::DeployEnded)
                }
            },
            () = frame_due => {
                cause = pace::Cause::Background;
                None
            }
            _ = sigterm.recv() => break Ok(()),
            _ = sighup.recv() => break Ok(()),
        };
        if let Some(ev) = &first {
            cause = cause.max(pace::cause(ev, app.view, &app.fleet));
        }
        let mut pending: Vec<AppEvent> = first.into_iter().collect();
        // Fold a burst (log lines, list refreshes) into one frame.
        while pending.len() < MAX_EVENTS_PER_FRAME {
            match fleet.events.try_recv() {
                Ok(ev) => {
                    let ev = AppEvent::Fleet(ev);
                    cause = cause.max(pace::cause(&ev, app.view, &app.fleet));
                    pending.push(ev);
                }
                Err(_) => break,
            }
        }
        if let Some(rx) = &mut deploy.events {
            while pending.len() < MAX_EVENTS_PER_FRAME {
                match rx.try_recv() {
                    Ok(ev) => {
                        cause = pace::Cause::Input;
                        pending.push(AppEvent::Deploy(ev));
                    }
                    Err(_) => break,
                }
            }
        }
        let mut quit = false;
        let mut shell_in: Option<shell::ShellTarget> = None;
        let mut pending: std::collections::VecDeque<AppEvent> = pending.into();
        while let Some(ev) = pending.pop_front() {
            for effect in app.update(ev) {
                if let AppEffect::Shell {
                    host,
                    host_name,
                    container_id,
                    name,
                } = effect
                {
                    shell_in = Some(shell::ShellTarget {
                        host,
                        host_name,
                        container_id,
                        name,
                    });
                    continue;
                }
                quit |= carry_out(
                    effect,
                    &mut app,
                    &fleet,
                    &audit,
                    &mut deploy,
                    &mut pending,
                    &loaded_tx,
                );
            }
        }
        redraw = pacer.note(cause, tokio::time::Instant::now(), pace::slot(app.view));
        if quit {
            break Ok(());
        }
        if let Some(target) = shell_in {
            // The terminal belongs to the shell until it ends.
            keys.pause().await;
            ratatui::restore();
            let outcome = match fleet.docker(target.host) {
                Some(docker) => shell::run(&docker, &target, &app.settings.shell).await,
                None => Err(format!("{} is not connected", target.host_name)),
            };
            terminal = ratatui::init();
            terminal.clear()?;
            keys.resume();
            let (action, result) = match &outcome {
                Ok((program, code)) => (
                    ops::AuditAction::Shell(Some((program.clone(), *code))),
                    Ok(*code),
                ),
                Err(e) => (ops::AuditAction::Shell(None), Err(e.clone())),
            };
            let record = crate::ops::AuditRecord::new(
                &target.host_name,
                &target.name,
                action.clone(),
                &result.as_ref().map(|_| ()).map_err(Clone::clone),
            );
            if let Err(text) = ops::act::audit(&audit, &record) {
                app.update(AppEvent::Notice { text, error: true });
            }
            let (text, error) = match result {
                Ok(_) => (
                    format!("{action} in {} on {}", target.name, target.host_name),
                    false,
                ),
                Err(e) => (format!("shell in {}: {e}", target.name), true),
            };
            app.update(AppEvent::Notice { text, error });
            redraw = true;
        }
    };
    ratatui::restore();
    fleet.shutdown().await;
    result
}

/// Probes and plans in a task, over the host actors' Docker clients (no new
/// connections); the answer arrives on `prepared_rx`.
fn prepare_deploy(
    spec: ServiceSpec,
    request: DeployRequest,
    app: &App,
    fleet: &Fleet,
    deploy: &DeployRuntime,
) {
    let ops::deploy::reach::Reach { hosts, unreachable } =
        ops::deploy::reach::handles(&app.fleet, fleet, &spec.hosts);
    let (mode, image) = match request {
        DeployRequest::Deploy { image } => (Mode::Deploy, Some(image)),
        DeployRequest::Rollback => (Mode::Rollback, None),
    };
    let req = Request {
        mode,
        image,
        serial: None,
        max_fail: None,
        // Missing images stream from a fleet host that has them.
        delivery: Delivery::Stream { from: None },
        break_lock: false,
    };
    let tx = deploy.prepared_tx.clone();
    tokio::spawn(async move {
        let result = match prepare::prepare(&spec, hosts, &unreachable, &req).await {
            Ok(Prepared::Ready(ready)) => {
                let summary = PlanSummary {
                    deploy_id: ready.deployment.id.clone(),
                    service: spec.name.clone(),
                    kind: ready.mode,
                    image: ready.image.clone(),
                    plan: ready.deployment.plan.clone(),
                    pre_deploy: spec
                        .pre_deploy
                        .clone()
                        .filter(|_| ready.deployment.pre_deploy),
                    refusal: ready.refusal.map(|r| r.message),
                };
                Ok((Box::new(ready.deployment), summary))
            }
            Ok(Prepared::NothingToDo(msg)) => Err(msg),
            Err(e) => Err(e.message),
        };
        let _ = tx.send(result).await;
    });
}

/// The snapshot's window: `flotilla triage`'s default (error bursts and the timeline).
const SNAPSHOT_WINDOW: &str = "5m";

/// The grouped incident snapshot `flotilla triage --markdown` prints,
/// gathered in a task over the actors' open sessions, each host bounded; the
/// answer comes back as `SnapshotGathered`.
fn gather_snapshot(app: &App, fleet: &Fleet, audit: &AuditLog, loaded: &mpsc::Sender<AppEvent>) {
    let now = jiff::Timestamp::now();
    let since = match crate::logs::parse_since(SNAPSHOT_WINDOW, now) {
        Ok(s) => s,
        Err(e) => {
            let _ = loaded.try_send(AppEvent::SnapshotGathered(Err(e)));
            return;
        }
    };
    let req = ops::triage::incident::Request {
        window: SNAPSHOT_WINDOW.to_owned(),
        since,
        now,
        opts: ops::triage::GroupOptions::default(),
    };
    let state = app.fleet.clone();
    let handles = ops::triage::collect::handles(fleet, &state);
    let audit = audit.clone();
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let within = ops::triage::incident::EVIDENCE_WITHIN;
        let errors = ops::triage::collect::error_counts(
            &handles,
            &state,
            req.since,
            req.now.as_second(),
            within,
        )
        .await;
        let (markdown, groups) =
            ops::triage::incident::markdown(&handles, &state, errors, &audit, &req).await;
        let result = serde_json::to_string_pretty(&groups)
            .map(|json| (markdown, json))
            .map_err(|e| format!("JSON encoding failed: {e}"));
        let _ = loaded.send(AppEvent::SnapshotGathered(result)).await;
    });
}

fn terminal_event(ev: Event) -> Option<AppEvent> {
    match ev {
        // Key releases (kitty protocol) would double every press.
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(AppEvent::Key(k)),
        Event::Resize(width, height) => Some(AppEvent::Resize { width, height }),
        _ => None,
    }
}

/// Executes one effect without waiting on any host; events it implies go to
/// `follow_up`. Returns true to quit.
fn carry_out(
    effect: AppEffect,
    app: &mut App,
    fleet: &Fleet,
    audit: &AuditLog,
    deploy: &mut DeployRuntime,
    follow_up: &mut std::collections::VecDeque<AppEvent>,
    loaded: &mpsc::Sender<AppEvent>,
) -> bool {
    match effect {
        AppEffect::PrepareDeploy { service, request } => {
            deploy.ready = None;
            match deploy.services.iter().find(|s| s.name == service) {
                Some(spec) => prepare_deploy(spec.clone(), request, app, fleet, deploy),
                None => {
                    app.update(AppEvent::DeployPrepared(Err(format!(
                        "no [service.{service}] in the config"
                    ))));
                }
            }
        }
        AppEffect::DiscardDeploy => deploy.ready = None,
        AppEffect::StartDeploy => match deploy.ready.take() {
            // Only the plan the user saw and confirmed may run.
            Some(deployment)
                if app
                    .state
                    .deploy
                    .current
                    .as_ref()
                    .and_then(|d| d.summary.as_ref())
                    .is_some_and(|s| {
                        s.deploy_id == deployment.id
                            && s.plan == deployment.plan
                            && s.service == deployment.service.name
                    }) =>
            {
                let (tx, rx) = mpsc::channel(DEPLOY_EVENTS);
                let (control, control_rx) = watch::channel(Control::Run);
                // Detached: the loop follows it through its events; the App
                // refuses to quit while it runs.
                tokio::spawn(ops::deploy::execute(deployment, tx, control_rx));
                deploy.control = Some(control);
                deploy.events = Some(rx);
            }
            _ => {
                app.update(AppEvent::DeployEnded);
                let text = "the plan shown is no longer the one prepared: press esc and D again"
                    .to_owned();
                app.update(AppEvent::Notice { text, error: true });
            }
        },
        AppEffect::DeployControl(c) => {
            if let Some(control) = &deploy.control {
                let _ = control.send(c);
            }
        }
        AppEffect::Quit => return true,
        AppEffect::LoadTimeline { targets, since } => {
            // Audit records now (a local file); Docker events in a task, each
            // host bounded, over the actors' open sessions.
            let until = jiff::Timestamp::now();
            let after = i128::from(since) * 1_000_000_000 - 1;
            let mut entries =
                ops::timeline::audit_entries(audit, &app.fleet, after, until.as_nanosecond());
            let handles = ops::timeline::handles(fleet, &app.fleet);
            let loaded = loaded.clone();
            tokio::spawn(async move {
                let (mut docker, failed) = ops::timeline::fetch(handles, since, until).await;
                entries.append(&mut docker);
                entries.retain(|e| ops::timeline::matches(e, &targets));
                ops::timeline::sort(&mut entries);
                let _ = loaded
                    .send(AppEvent::TimelineLoaded { entries, failed })
                    .await;
            });
        }
        // Taken by the loop before it gets here (it needs the terminal).
        AppEffect::Shell { .. } => {}
        AppEffect::Host(host, cmd) => {
            if let Some(kind) = fleet.offer(host, cmd) {
                follow_up.push_back(AppEvent::Fleet(FleetEvent { host, kind }));
            }
        }
        AppEffect::Audit(record) => {
            if let Err(text) = ops::act::audit(audit, &record) {
                app.update(AppEvent::Notice { text, error: true });
            }
        }
        AppEffect::LoadAudit => match audit.tail(AUDIT_VIEW_LIMIT) {
            Ok((records, bad)) => {
                app.update(AppEvent::AuditLoaded(records));
                if bad > 0 {
                    let text = format!("{bad} unreadable line(s) in {}", audit.path().display());
                    app.update(AppEvent::Notice { text, error: true });
                }
            }
            Err(e) => {
                let text = format!("cannot read audit log {}: {e}", audit.path().display());
                app.update(AppEvent::Notice { text, error: true });
            }
        },
        AppEffect::ReadKept { title, path } => {
            // A local file of at most ~400 KB (kept::LINE_CHARS × KEEP_LINES).
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string());
            follow_up.push_back(AppEvent::KeptRead { title, path, text });
        }
        AppEffect::GatherSnapshot => gather_snapshot(app, fleet, audit, loaded),
        AppEffect::ReadCompose => {
            let state = app.fleet.clone();
            let handles = ops::triage::collect::handles(fleet, &state);
            let loaded = loaded.clone();
            tokio::spawn(async move {
                let within = ops::triage::incident::EVIDENCE_WITHIN;
                let reading = ops::triage::collect::compose_drift(&handles, &state, within).await;
                let _ = loaded.send(AppEvent::ComposeRead(reading)).await;
            });
        }
        AppEffect::Snapshot { markdown, json } => {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
            let base = audit.path().with_file_name(format!("incident-{stamp}"));
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
            app.update(AppEvent::Notice { text, error });
        }
        AppEffect::SaveLogs { path, text } => {
            let (text, error) = match std::fs::write(&path, text) {
                Ok(()) => (format!("saved logs to {path}"), false),
                Err(e) => (format!("cannot save logs to {path}: {e}"), true),
            };
            app.update(AppEvent::Notice { text, error });
        }
    }
    false
}
