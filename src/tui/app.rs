//! All TUI state and the pure update function: (state, event) → effects.
//! The run loop owns one `App`; views only read it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Keymap};
use super::state::containers::{ContainersState, GroupBy, RowKey, container};
use super::state::deploy::{DeployRequest, DeployState, Pause, Phase, PlanSummary};
use super::state::filter::Filter;
use super::state::logs::{LogSource, LogsState, Resume};
use crate::config::ServiceSpec;
use crate::fleet::{
    ContainerDetails, FleetEvent, FleetState, HostCommand, HostEvent, HostId, update,
};
use crate::logs::{Search, SearchMode};
use crate::ops::act::{self, Policy};
use crate::ops::deploy::{Control, DeployEvent};
use crate::ops::{AuditRecord, ContainerAction};

/// Main views, in Tab order. Logs and Inspect are entered from a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Hosts,
    Containers,
    Services,
    Audit,
    Triage,
    Logs,
    Inspect,
    /// Entered from a service (D); not a tab.
    Deploy,
}

impl View {
    pub const TABS: [View; 5] = [
        View::Hosts,
        View::Containers,
        View::Services,
        View::Audit,
        View::Triage,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Hosts => "Hosts",
            View::Containers => "Containers",
            View::Services => "Services",
            View::Audit => "Audit",
            View::Triage => "Triage",
            View::Logs => "Logs",
            View::Inspect => "Inspect",
            View::Deploy => "Deploy",
        }
    }
}

/// What the one-line input is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Search,
    Command,
    SavePath,
    /// The image to deploy `App::deploy_target` with.
    DeployImage,
}

/// A container an action will touch.
pub use crate::ops::act::Target as ActionTarget;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help {
        scroll: usize,
    },
    Confirm {
        action: ContainerAction,
        targets: Vec<ActionTarget>,
    },
    Input {
        kind: InputKind,
        text: String,
    },
    /// Abort the running deploy (rolls back the hosts in flight)?
    ConfirmAbort,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone)]
pub struct InspectState {
    pub host_name: String,
    pub name: String,
    pub details: Option<Result<Box<ContainerDetails>, String>>,
    pub scroll: usize,
}

/// Input to `App::update`.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Fleet(FleetEvent),
    Resize {
        width: u16,
        height: u16,
    },
    AuditLoaded(Vec<AuditRecord>),
    /// Periodic: time to refresh CPU/memory of the visible rows.
    StatsTick,
    /// Outcome of an effect the loop carried out (saving logs, writing audit).
    Notice {
        text: String,
        error: bool,
    },
    /// The loop prepared (probed and planned) the requested deploy, or could not.
    DeployPrepared(Result<PlanSummary, String>),
    /// The running deploy reported progress.
    Deploy(DeployEvent),
    /// The running deploy's event channel closed.
    DeployEnded,
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEffect {
    Host(HostId, HostCommand),
    Audit(AuditRecord),
    LoadAudit,
    SaveLogs {
        path: String,
        text: String,
    },
    /// Write an incident snapshot next to the audit log.
    Snapshot {
        markdown: String,
        json: String,
    },
    /// Probe the service's hosts and plan; answer with `DeployPrepared`.
    PrepareDeploy {
        service: String,
        request: DeployRequest,
    },
    /// Run the deploy prepared last.
    StartDeploy,
    /// Forget the deploy prepared last.
    DiscardDeploy,
    /// Pause / continue / abort the running deploy.
    DeployControl(Control),
    Quit,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub read_only: bool,
    pub log_lines: usize,
    pub log_bytes: usize,
    pub log_tail: u32,
    pub log_max_line_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            read_only: false,
            log_lines: crate::logs::DEFAULT_MAX_LINES,
            log_bytes: crate::logs::DEFAULT_MAX_BYTES,
            log_tail: 500,
            log_max_line_bytes: crate::fleet::logs::DEFAULT_MAX_LINE_BYTES,
        }
    }
}

pub struct App {
    pub fleet: FleetState,
    pub keymap: Keymap,
    pub settings: Settings,
    pub view: View,
    /// The tab to return to from Logs / Inspect.
    pub tab: View,
    pub hosts_selected: usize,
    pub table: ContainersState,
    pub matrix: (usize, usize),
    pub logs: Option<LogsState>,
    pub inspect: Option<InspectState>,
    pub audit: Vec<AuditRecord>,
    pub audit_selected: usize,
    pub triage_selected: usize,
    pub overlay: Overlay,
    pub status: Option<Status>,
    pub pending_actions: usize,
    pub size: (u16, u16),
    /// CPU/memory of containers recently shown, keyed by host and id.
    pub stats: std::collections::HashMap<RowKey, ContainerStats>,
    /// `[service.NAME]` tables of the config: what `D` can deploy.
    pub services: Vec<ServiceSpec>,
    /// The Deploy view's deploy: prepared, running or finished.
    pub deploy: Option<DeployState>,
    /// The service the image prompt is for.
    pub deploy_target: Option<String>,
}

/// Resource use derived from two one-shot stats readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContainerStats {
    pub last: crate::fleet::model::StatsSample,
    pub cpu_percent: Option<f64>,
}

/// Rows whose stats are read per tick, at most: only what a screen can show.
const STATS_ROWS: usize = 100;

impl App {
    pub fn new(fleet: FleetState, keymap: Keymap, settings: Settings) -> Self {
        App {
            fleet,
            keymap,
            settings,
            view: View::Containers,
            tab: View::Containers,
            hosts_selected: 0,
            table: ContainersState::default(),
            matrix: (0, 0),
            logs: None,
            inspect: None,
            audit: Vec::new(),
            audit_selected: 0,
            triage_selected: 0,
            overlay: Overlay::None,
            status: None,
            pending_actions: 0,
            size: (80, 24),
            stats: std::collections::HashMap::new(),
            services: Vec::new(),
            deploy: None,
            deploy_target: None,
        }
    }

    /// Rows available to a scrolling body (screen minus header, tabs, footer, borders).
    pub fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(7)).max(1)
    }

    fn say(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
        });
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
        });
    }

    pub fn update(&mut self, event: AppEvent) -> Vec<AppEffect> {
        match event {
            AppEvent::Key(key) => self.on_key(key),
            AppEvent::Fleet(ev) => self.on_fleet(ev),
            AppEvent::Resize { width, height } => {
                self.size = (width, height);
                Vec::new()
            }
            AppEvent::StatsTick => self.stats_requests(),
            AppEvent::Notice { text, error } => {
                self.status = Some(Status { text, error });
                Vec::new()
            }
            AppEvent::DeployPrepared(result) => {
                // A late answer to a request cancelled since must not show.
                if let Some(d) = &mut self.deploy
                    && d.phase == Phase::Preparing
                    && result.as_ref().map_or(true, |s| d.answers(s))
                {
                    d.prepared(result);
                }
                Vec::new()
            }
            AppEvent::Deploy(ev) => {
                let finished = matches!(ev, DeployEvent::Finished { .. });
                if let Some(d) = &mut self.deploy {
                    d.apply(ev);
                }
                // The view lists the service's last deploys from the audit log.
                if finished {
                    vec![AppEffect::LoadAudit]
                } else {
                    Vec::new()
                }
            }
            AppEvent::DeployEnded => {
                if let Some(d) = &mut self.deploy {
                    d.ended();
                }
                Vec::new()
            }
            AppEvent::AuditLoaded(records) => {
                self.audit = records;
                self.audit_selected = self.audit.len().saturating_sub(1);
                Vec::new()
            }
        }
    }

    /// Stats commands for the running containers the containers view shows.
    fn stats_requests(&mut self) -> Vec<AppEffect> {
        if self.view != View::Containers {
            return Vec::new();
        }
        let rows = self.table.rows(&self.fleet);
        // Only the rows on screen (the view keeps the selection in its window).
        let page = self.page().min(STATS_ROWS);
        let selected = self.table.selected_index(&self.fleet, &rows).unwrap_or(0);
        let offset = (selected + 1).saturating_sub(page);
        let mut per_host: std::collections::BTreeMap<HostId, Vec<String>> =
            std::collections::BTreeMap::new();
        for r in rows.iter().skip(offset).take(page) {
            let Some(h) = self.fleet.hosts.get(r.host) else {
                continue;
            };
            if let Some(c) = h
                .containers
                .get(r.index)
                .filter(|c| h.is_up() && c.is_running())
            {
                per_host.entry(r.host).or_default().push(c.id.clone());
            }
        }
        // Forget containers that are gone, so the map stays bounded.
        let fleet = &self.fleet;
        self.stats.retain(|k, _| container(fleet, k).is_some());
        per_host
            .into_iter()
            .map(|(h, ids)| AppEffect::Host(h, HostCommand::Stats { ids }))
            .collect()
    }

    fn on_fleet(&mut self, ev: FleetEvent) -> Vec<AppEffect> {
        let host = ev.host;
        let host_name = self
            .fleet
            .hosts
            .get(host)
            .map(|h| h.spec.name.clone())
            .unwrap_or_default();
        match &ev.kind {
            HostEvent::Logs {
                container_id,
                lines,
            } => {
                if let Some(logs) = &mut self.logs {
                    logs.push(host, container_id, lines.clone());
                }
                return Vec::new();
            }
            HostEvent::LogsEnded {
                container_id,
                reason,
            } => {
                let running = container_running(&self.fleet, host, container_id);
                if let Some(logs) = &mut self.logs
                    && let Some((h, cmd)) = logs.ended(host, container_id, reason, running)
                {
                    return vec![AppEffect::Host(h, cmd)];
                }
                return Vec::new();
            }
            HostEvent::Stats { samples } => {
                for (id, sample) in samples {
                    let key = RowKey {
                        host,
                        id: id.clone(),
                    };
                    let cpu_percent = self.stats.get(&key).and_then(|prev| {
                        crate::fleet::model::StatsSample::cpu_percent(&prev.last, sample)
                    });
                    self.stats.insert(
                        key,
                        ContainerStats {
                            last: *sample,
                            cpu_percent,
                        },
                    );
                }
                return Vec::new();
            }
            HostEvent::Inspected { container, details } => {
                if let Some(ins) = &mut self.inspect
                    && ins.host_name == host_name
                    && (ins.name == *container
                        || details.as_ref().is_ok_and(|d| d.id == *container))
                {
                    ins.details = Some(details.clone());
                }
                return Vec::new();
            }
            HostEvent::ActionDone {
                container,
                action,
                result,
            } => {
                self.pending_actions = self.pending_actions.saturating_sub(1);
                let name = self
                    .fleet
                    .hosts
                    .get(host)
                    .and_then(|h| h.containers.iter().find(|c| &c.id == container))
                    .map_or_else(|| container.clone(), |c| c.name.clone());
                let (record, text) = act::outcome(&host_name, &name, *action, result);
                if result.is_ok() {
                    self.say(text);
                } else {
                    self.fail(text);
                }
                self.audit.push(record.clone());
                return vec![AppEffect::Audit(record)];
            }
            HostEvent::Disconnected { reason, .. } => {
                self.fail(format!("{host_name}: {reason}"));
                if let Some(logs) = &mut self.logs {
                    logs.lost(host);
                }
            }
            _ => {}
        }
        let resume = match &ev.kind {
            HostEvent::Connected { .. } => Some(Resume::Reconnect),
            HostEvent::Containers { .. } => Some(Resume::Restart),
            _ => None,
        };
        let mut effects: Vec<AppEffect> = update(&mut self.fleet, ev)
            .into_iter()
            .map(|crate::fleet::Effect::Host(h, cmd)| AppEffect::Host(h, cmd))
            .collect();
        // Log streams die with the session or the container's run: follow again.
        if let (Some(why), Some(logs)) = (resume, &mut self.logs) {
            let fleet = &self.fleet;
            let running = |id: &str| container_running(fleet, host, id);
            effects.extend(
                logs.resume(host, why, running)
                    .into_iter()
                    .map(|(h, cmd)| AppEffect::Host(h, cmd)),
            );
        }
        effects
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<AppEffect> {
        match self.overlay.clone() {
            Overlay::Input { kind, text } => return self.on_input_key(kind, text, key),
            Overlay::Confirm { action, targets } => {
                return match self.keymap.dialog_action(&key) {
                    Some(Action::Confirm) => {
                        self.overlay = Overlay::None;
                        self.pending_actions += targets.len();
                        self.say(format!("{action}: {} container(s)…", targets.len()));
                        self.table.marked.clear();
                        targets
                            .into_iter()
                            .map(|t| {
                                AppEffect::Host(
                                    t.host,
                                    HostCommand::Act {
                                        container: t.id,
                                        action,
                                    },
                                )
                            })
                            .collect()
                    }
                    Some(Action::Cancel) => {
                        self.overlay = Overlay::None;
                        self.say(format!("{action} cancelled"));
                        Vec::new()
                    }
                    _ => Vec::new(),
                };
            }
            Overlay::Help { scroll } => {
                let action = self.keymap.action(&key);
                self.overlay = match action {
                    Some(Action::Down) => Overlay::Help { scroll: scroll + 1 },
                    Some(Action::Up) => Overlay::Help {
                        scroll: scroll.saturating_sub(1),
                    },
                    Some(Action::PageDown) => Overlay::Help {
                        scroll: scroll + self.page(),
                    },
                    Some(Action::PageUp) => Overlay::Help {
                        scroll: scroll.saturating_sub(self.page()),
                    },
                    _ => Overlay::None,
                };
                return Vec::new();
            }
            Overlay::ConfirmAbort => {
                self.overlay = Overlay::None;
                return match self.keymap.dialog_action(&key) {
                    Some(Action::Confirm)
                        if self.deploy.as_ref().is_some_and(DeployState::is_running) =>
                    {
                        self.say("aborting: rolling back the hosts in flight…");
                        vec![AppEffect::DeployControl(Control::Abort)]
                    }
                    _ => {
                        self.say("abort cancelled; the deploy goes on");
                        Vec::new()
                    }
                };
            }
            Overlay::None => {}
        }
        // A message stays until the next key, so it is read before it goes.
        self.status = None;
        if self.view == View::Deploy
            && let Some(effects) = self.deploy_key(key)
        {
            return effects;
        }
        match self.keymap.action(&key) {
            Some(action) => self.on_action(action),
            None => Vec::new(),
        }
    }

    fn on_input_key(&mut self, kind: InputKind, mut text: String, key: KeyEvent) -> Vec<AppEffect> {
        match key.code {
            KeyCode::Esc => {
                self.overlay = Overlay::None;
                Vec::new()
            }
            KeyCode::Enter => {
                self.overlay = Overlay::None;
                self.submit(kind, text.trim())
            }
            KeyCode::Backspace => {
                text.pop();
                self.overlay = Overlay::Input { kind, text };
                self.live_input(kind);
                Vec::new()
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.overlay = Overlay::Input {
                    kind,
                    text: String::new(),
                };
                self.live_input(kind);
                Vec::new()
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                text.push(c);
                self.overlay = Overlay::Input { kind, text };
                self.live_input(kind);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The table filter applies as you type; bad input waits for more.
    fn live_input(&mut self, kind: InputKind) {
        if let (InputKind::Filter, Overlay::Input { text, .. }) = (kind, &self.overlay)
            && let Ok(filter) = Filter::parse(text)
        {
            self.table.filter = filter;
        }
    }

    fn submit(&mut self, kind: InputKind, text: &str) -> Vec<AppEffect> {
        match kind {
            InputKind::Filter => {
                match Filter::parse(text) {
                    Ok(f) => {
                        self.table.filter = f;
                        self.status = None;
                    }
                    Err(e) => self.fail(e),
                }
                Vec::new()
            }
            InputKind::Search => {
                let page = self.page();
                let Some(logs) = &mut self.logs else {
                    return Vec::new();
                };
                if text.is_empty() {
                    logs.set_search(None, page);
                    return Vec::new();
                }
                // `/re:PATTERN` searches by regular expression.
                let (query, mode) = match text.strip_prefix("re:") {
                    Some(q) => (q, SearchMode::Regex),
                    None => (text, SearchMode::Plain),
                };
                match Search::new(query, mode) {
                    Ok(s) => {
                        logs.set_search(Some(s), page);
                        let n = logs.match_count();
                        self.say(format!("{n} match(es) for {query:?}"));
                    }
                    Err(e) => self.fail(e.to_string()),
                }
                Vec::new()
            }
            InputKind::SavePath => {
                let Some(logs) = &self.logs else {
                    return Vec::new();
                };
                if text.is_empty() {
                    return Vec::new();
                }
                vec![AppEffect::SaveLogs {
                    path: text.to_owned(),
                    text: logs.export(),
                }]
            }
            InputKind::Command => self.command(text),
            InputKind::DeployImage => {
                let Some(service) = self.deploy_target.take() else {
                    return Vec::new();
                };
                if text.is_empty() {
                    self.fail("deploy cancelled: no image");
                    return Vec::new();
                }
                let image = crate::ops::deploy::image::normalize(text);
                self.begin_deploy(&service, DeployRequest::Deploy { image })
            }
        }
    }

    /// `:` palette commands.
    fn command(&mut self, text: &str) -> Vec<AppEffect> {
        let (cmd, arg) = text
            .split_once(' ')
            .map_or((text, ""), |(c, a)| (c, a.trim()));
        match cmd {
            "q" | "quit" | "q!" => vec![AppEffect::Quit],
            "hosts" | "host" => self.switch(View::Hosts),
            "ps" | "containers" | "c" => self.switch(View::Containers),
            "services" | "svc" | "matrix" => self.switch(View::Services),
            "audit" => self.switch(View::Audit),
            "triage" => self.switch(View::Triage),
            "snapshot" => self.snapshot(),
            "help" => {
                self.overlay = Overlay::Help { scroll: 0 };
                Vec::new()
            }
            "filter" => self.submit(InputKind::Filter, arg),
            "since" | "tail" if self.logs.is_some() => self.reopen_logs(cmd, arg),
            "logs" | "log" if !arg.is_empty() => self.open_logs_by_name(arg),
            _ => {
                self.fail(format!(
                    "unknown command :{text} (try :hosts :ps :services :audit :logs NAME :q)"
                ));
                Vec::new()
            }
        }
    }

    fn switch(&mut self, view: View) -> Vec<AppEffect> {
        let mut effects = self.leave_detail();
        self.view = view;
        self.tab = view;
        if view == View::Audit {
            effects.push(AppEffect::LoadAudit);
        }
        effects
    }

    /// Closes Logs / Inspect, stopping their streams.
    fn leave_detail(&mut self) -> Vec<AppEffect> {
        let mut effects = Vec::new();
        if let Some(logs) = self.logs.take() {
            let mut hosts: Vec<HostId> = logs.sources.iter().map(|s| s.host).collect();
            hosts.dedup();
            effects.extend(
                hosts
                    .into_iter()
                    .map(|h| AppEffect::Host(h, HostCommand::StopLogs)),
            );
        }
        self.inspect = None;
        effects
    }

    fn on_action(&mut self, action: Action) -> Vec<AppEffect> {
        let page = self.page();
        match action {
            // Quitting would leave a host half done.
            Action::Quit if self.deploy.as_ref().is_some_and(DeployState::is_running) => {
                self.fail("a deploy is running: wait for it, or abort it (A) in the Deploy view");
            }
            Action::Quit => return vec![AppEffect::Quit],
            Action::Deploy => return self.open_deploy(),
            // Only meaningful in the Deploy view (`deploy_key`).
            Action::DeployStart
            | Action::DeployPause
            | Action::DeployContinue
            | Action::DeployAbort
            | Action::DeployRollback => {}
            // Dialog keys come from the dialog layer, never here.
            Action::Confirm | Action::Cancel => {}
            Action::Help => self.overlay = Overlay::Help { scroll: 0 },
            Action::Command => {
                self.overlay = Overlay::Input {
                    kind: InputKind::Command,
                    text: String::new(),
                }
            }
            Action::Back => return self.back(),
            Action::NextView | Action::PrevView => {
                let i = View::TABS.iter().position(|v| *v == self.tab).unwrap_or(1);
                let n = View::TABS.len();
                let next = if action == Action::NextView {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                return self.switch(View::TABS[next]);
            }
            Action::ViewHosts => return self.switch(View::Hosts),
            Action::ViewContainers => return self.switch(View::Containers),
            Action::ViewServices => return self.switch(View::Services),
            Action::ViewAudit => return self.switch(View::Audit),
            Action::ViewTriage => return self.switch(View::Triage),
            Action::Snapshot => return self.snapshot(),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(page as isize)),
            Action::PageDown => self.move_by(page as isize),
            Action::Top => self.edge(false),
            Action::Bottom => self.edge(true),
            Action::Left | Action::Right if self.view == View::Services => {
                let cols = self.fleet.hosts.len().max(1);
                self.matrix.1 = if action == Action::Right {
                    (self.matrix.1 + 1).min(cols - 1)
                } else {
                    self.matrix.1.saturating_sub(1)
                };
            }
            Action::Left | Action::Right => {}
            Action::Mark => {
                if self.view == View::Containers {
                    if let Some(key) = self.selected_key()
                        && !self.table.marked.remove(&key)
                    {
                        self.table.marked.insert(key);
                    }
                    self.move_by(1);
                }
            }
            Action::Open => return self.open(),
            Action::ServiceLogs => return self.open_service_logs(),
            Action::Inspect => return self.open_inspect(),
            Action::Restart => self.confirm(ContainerAction::Restart),
            Action::Stop => self.confirm(ContainerAction::Stop),
            Action::Start => self.confirm(ContainerAction::Start),
            Action::Kill => self.confirm(ContainerAction::Kill),
            Action::Find => {
                let (kind, text) = match self.view {
                    View::Logs => (
                        InputKind::Search,
                        self.logs
                            .as_ref()
                            .and_then(|l| l.search.as_ref())
                            .map(|s| s.query().to_owned())
                            .unwrap_or_default(),
                    ),
                    _ => (InputKind::Filter, self.table.filter.text().to_owned()),
                };
                if kind == InputKind::Filter && self.view != View::Containers {
                    self.view = View::Containers;
                    self.tab = View::Containers;
                }
                self.overlay = Overlay::Input { kind, text };
            }
            Action::NextMatch | Action::PrevMatch => {
                if let Some(logs) = &mut self.logs
                    && self.view == View::Logs
                    && !logs.jump(action == Action::NextMatch, page)
                {
                    self.fail("no match");
                }
            }
            Action::SortNext => self.table.sort = self.table.sort.next(),
            Action::SortReverse => self.table.reverse = !self.table.reverse,
            Action::GroupBy => {
                self.table.group = match self.table.group {
                    GroupBy::Host => GroupBy::Service,
                    GroupBy::Service => GroupBy::Host,
                }
            }
            Action::Follow => {
                if let Some(l) = &mut self.logs {
                    l.toggle_follow(page);
                }
            }
            Action::Timestamps => {
                if let Some(l) = &mut self.logs {
                    l.timestamps = !l.timestamps;
                }
            }
            Action::Wrap => {
                if let Some(l) = &mut self.logs {
                    l.wrap = !l.wrap;
                }
            }
            Action::FilterMode => {
                if let Some(l) = &mut self.logs {
                    if l.search.is_some() {
                        l.filter_mode = !l.filter_mode;
                        l.follow = true;
                    } else {
                        self.fail("search first (/), then F shows only matching lines");
                    }
                }
            }
            Action::SaveLogs => {
                if let Some(l) = &self.logs {
                    let name: String = l
                        .title
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || c == '-' {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S");
                    self.overlay = Overlay::Input {
                        kind: InputKind::SavePath,
                        text: format!("flotilla-{name}-{stamp}.log"),
                    };
                }
            }
        }
        Vec::new()
    }

    /// Live findings (no log scan in the TUI: that is `flotilla triage`).
    pub fn findings(&self) -> Vec<crate::ops::triage::Finding> {
        crate::ops::triage::assess(&self.fleet, &std::collections::BTreeMap::new())
    }

    fn snapshot(&mut self) -> Vec<AppEffect> {
        let findings = self.findings();
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M:%S UTC")
            .to_string();
        let markdown = crate::ops::triage::markdown(&self.fleet, &findings, &now);
        let json = serde_json::to_string_pretty(&findings)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        vec![AppEffect::Snapshot { markdown, json }]
    }

    /// `D`: the running deploy if any, else an image prompt for the selected service.
    fn open_deploy(&mut self) -> Vec<AppEffect> {
        if self.deploy.as_ref().is_some_and(DeployState::is_running) {
            let mut effects = self.leave_detail();
            effects.extend(self.enter_deploy_view());
            return effects;
        }
        let Some(name) = self.selected_service() else {
            self.fail("select a service (services matrix) or one of its containers");
            return Vec::new();
        };
        let Some(spec) = self.services.iter().find(|s| s.name == name) else {
            self.fail(format!(
                "{name} is not a configured service: add a [service.{name}] table"
            ));
            return Vec::new();
        };
        let image = self.fleet.service_image(spec).unwrap_or_default();
        self.deploy_target = Some(name);
        self.overlay = Overlay::Input {
            kind: InputKind::DeployImage,
            text: image,
        };
        Vec::new()
    }

    fn enter_deploy_view(&mut self) -> Vec<AppEffect> {
        if matches!(self.view, View::Logs | View::Inspect) {
            self.view = self.tab;
        }
        self.view = View::Deploy;
        Vec::new()
    }

    fn begin_deploy(&mut self, service: &str, request: DeployRequest) -> Vec<AppEffect> {
        self.deploy = Some(DeployState::preparing(service, request.clone()));
        let mut effects = self.leave_detail();
        effects.extend(self.enter_deploy_view());
        effects.push(AppEffect::PrepareDeploy {
            service: service.to_owned(),
            request,
        });
        effects.push(AppEffect::LoadAudit);
        effects
    }

    /// Keys of the Deploy view; `None` lets `on_action` handle the key.
    fn deploy_key(&mut self, key: KeyEvent) -> Option<Vec<AppEffect>> {
        let action = self.keymap.action(&key)?;
        let d = self.deploy.as_mut()?;
        match (d.phase, action) {
            (Phase::Planned, Action::DeployStart) => Some(self.start_deploy()),
            (Phase::Planned | Phase::Preparing | Phase::Failed, Action::Back) => {
                self.deploy = None;
                self.view = self.tab;
                self.say("deploy cancelled; nothing was changed");
                Some(vec![AppEffect::DiscardDeploy])
            }
            (Phase::Running, Action::DeployPause) => {
                if d.pause == Pause::No {
                    d.pause = Pause::Requested;
                }
                self.say("pausing after the current batch…");
                Some(vec![AppEffect::DeployControl(Control::Pause)])
            }
            (Phase::Running, Action::DeployContinue) => {
                d.pause = Pause::No;
                self.say("continuing");
                Some(vec![AppEffect::DeployControl(Control::Run)])
            }
            (Phase::Running, Action::DeployAbort) => {
                self.overlay = Overlay::ConfirmAbort;
                Some(Vec::new())
            }
            (Phase::Finished, Action::DeployRollback) => {
                let service = d.service.clone();
                Some(self.begin_deploy(&service, DeployRequest::Rollback))
            }
            // The deploy goes on (or stays shown) in the background; D returns.
            (Phase::Running | Phase::Finished, Action::Back) => {
                self.view = self.tab;
                Some(Vec::new())
            }
            _ => None,
        }
    }

    fn start_deploy(&mut self) -> Vec<AppEffect> {
        let Some(summary) = self.deploy.as_ref().and_then(|d| d.summary.clone()) else {
            return Vec::new();
        };
        if let Some(refusal) = &summary.refusal {
            self.fail(format!("refused: {refusal}"));
            return Vec::new();
        }
        if summary.plan.is_empty() {
            self.fail(format!("{}: nothing to change", summary.service));
            return Vec::new();
        }
        let policy = Policy {
            read_only: self.settings.read_only,
        };
        let specs = self.fleet.hosts.iter().map(|h| &h.spec);
        let hosts = summary.plan.hosts().map(|h| h.host.as_str());
        if let Err(refusal) = policy.authorize_deploy(specs, &summary.kind, &summary.service, hosts)
        {
            self.fail(refusal.to_string());
            return Vec::new();
        }
        if let Some(d) = &mut self.deploy {
            d.phase = Phase::Running;
        }
        self.say(format!("{} {} started", summary.kind, summary.service));
        vec![AppEffect::StartDeploy]
    }

    fn back(&mut self) -> Vec<AppEffect> {
        match self.view {
            View::Logs | View::Inspect => {
                let effects = self.leave_detail();
                self.view = self.tab;
                effects
            }
            _ if !self.table.marked.is_empty() => {
                self.table.marked.clear();
                Vec::new()
            }
            _ if !self.table.filter.is_empty() => {
                self.table.filter = Filter::default();
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn move_by(&mut self, delta: isize) {
        let page = self.page();
        match self.view {
            View::Hosts => {
                let n = self.fleet.hosts.len();
                self.hosts_selected = self
                    .hosts_selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            View::Containers => self.table.move_by(&self.fleet, delta),
            View::Services => {
                let n = self.fleet.service_names().len();
                self.matrix.0 = self
                    .matrix
                    .0
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            View::Audit => {
                let n = self.audit.len();
                self.audit_selected = self
                    .audit_selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            View::Triage => {
                let n = self.findings().len();
                self.triage_selected = self
                    .triage_selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            View::Logs => {
                if let Some(l) = &mut self.logs {
                    l.scroll(delta, page);
                }
            }
            View::Inspect => {
                if let Some(i) = &mut self.inspect {
                    i.scroll = i.scroll.saturating_add_signed(delta);
                }
            }
            View::Deploy => {}
        }
    }

    fn edge(&mut self, last: bool) {
        match self.view {
            View::Containers => self.table.select_edge(&self.fleet, last),
            View::Logs => {
                if let Some(l) = &mut self.logs {
                    if last { l.to_bottom() } else { l.to_top() }
                }
            }
            _ => self.move_by(if last { isize::MAX / 2 } else { isize::MIN / 2 }),
        }
    }

    fn selected_key(&self) -> Option<RowKey> {
        let rows = self.table.rows(&self.fleet);
        let i = self.table.selected_index(&self.fleet, &rows)?;
        ContainersState::key_of(&self.fleet, rows[i])
    }

    fn source(&self, key: &RowKey) -> Option<LogSource> {
        let c = container(&self.fleet, key)?;
        Some(LogSource {
            host: key.host,
            host_name: self.fleet.hosts[key.host].spec.name.clone(),
            container_id: c.id.clone(),
            name: c.name.clone(),
        })
    }

    fn open(&mut self) -> Vec<AppEffect> {
        match self.view {
            View::Containers => {
                let Some(key) = self.selected_key() else {
                    return Vec::new();
                };
                let Some(src) = self.source(&key) else {
                    return Vec::new();
                };
                let title = format!("{} @ {}", src.name, src.host_name);
                self.start_logs(title, vec![src])
            }
            View::Services => self.open_service_logs(),
            View::Triage => {
                let finding = self.findings().into_iter().nth(self.triage_selected);
                match finding {
                    Some(crate::ops::triage::Finding {
                        container: Some(name),
                        host,
                        ..
                    }) => {
                        let sources = self.log_sources(|h, c| h == host && c.name == name);
                        if sources.is_empty() {
                            return Vec::new();
                        }
                        self.start_logs(format!("{name} @ {host}"), sources)
                    }
                    Some(_) => self.switch(View::Hosts),
                    None => Vec::new(),
                }
            }
            View::Hosts => {
                let name = self
                    .fleet
                    .hosts
                    .get(self.hosts_selected)
                    .map(|h| h.spec.name.clone());
                if let Some(name) = name {
                    self.table.filter = Filter::parse(&format!("host:{name}")).unwrap_or_default();
                    return self.switch(View::Containers);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The service under the cursor: matrix row, or the selected container's service.
    fn selected_service(&self) -> Option<String> {
        match self.view {
            View::Services => self.fleet.service_names().get(self.matrix.0).cloned(),
            _ => {
                let key = self.selected_key()?;
                container(&self.fleet, &key).map(|c| c.service().to_owned())
            }
        }
    }

    fn open_service_logs(&mut self) -> Vec<AppEffect> {
        match self.selected_service() {
            Some(service) => self.open_logs_by_name(&service),
            None => Vec::new(),
        }
    }

    /// Every container on a reachable host that `pick(host name, container)` accepts.
    fn log_sources(
        &self,
        pick: impl Fn(&str, &crate::fleet::ContainerInfo) -> bool,
    ) -> Vec<LogSource> {
        let mut out = Vec::new();
        for (i, h) in self
            .fleet
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.is_up())
        {
            for c in h.containers.iter().filter(|c| pick(&h.spec.name, c)) {
                out.push(LogSource {
                    host: i,
                    host_name: h.spec.name.clone(),
                    container_id: c.id.clone(),
                    name: c.name.clone(),
                });
            }
        }
        out
    }

    /// Logs of every container whose name or service is `name`, merged.
    fn open_logs_by_name(&mut self, name: &str) -> Vec<AppEffect> {
        let sources = self.log_sources(|_, c| c.name == name || c.service() == name);
        if sources.is_empty() {
            self.fail(format!(
                "no container or service named {name:?} on a reachable host"
            ));
            return Vec::new();
        }
        let title = if sources.len() == 1 {
            format!("{} @ {}", sources[0].name, sources[0].host_name)
        } else {
            format!("{name} (merged, {} hosts)", sources.len())
        };
        self.start_logs(title, sources)
    }

    /// `:since 10m` / `:tail 2000` in a log view: refetch with that window.
    fn reopen_logs(&mut self, cmd: &str, arg: &str) -> Vec<AppEffect> {
        let Some(logs) = &self.logs else {
            return Vec::new();
        };
        let window = if cmd == "tail" {
            arg.parse::<u32>()
                .map(|n| (n, None))
                .map_err(|_| format!(":tail needs a number of lines, not {arg:?}"))
        } else {
            // Everything in the window, up to the buffer's size.
            let all = u32::try_from(self.settings.log_lines).unwrap_or(u32::MAX);
            crate::logs::parse_since(arg, jiff::Timestamp::now()).map(|s| (all, Some(s)))
        };
        let (tail, since) = match window {
            Ok(w) => w,
            Err(e) => {
                self.fail(e);
                return Vec::new();
            }
        };
        let (title, sources) = (logs.title.clone(), logs.sources.clone());
        let mut effects = self.leave_detail();
        effects.extend(sources.iter().map(|s| {
            AppEffect::Host(
                s.host,
                HostCommand::FollowLogs {
                    container_id: s.container_id.clone(),
                    tail,
                    since,
                    follow: true,
                    max_line_bytes: self.settings.log_max_line_bytes,
                },
            )
        }));
        let suffix = if cmd == "tail" {
            format!("tail {tail}")
        } else {
            format!("since {arg}")
        };
        let mut logs = LogsState::new(
            format!("{title} [{suffix}]"),
            sources,
            self.settings.log_lines,
            self.settings.log_bytes,
        );
        (logs.tail, logs.since) = (tail, since);
        logs.max_line_bytes = self.settings.log_max_line_bytes;
        self.logs = Some(logs);
        self.view = View::Logs;
        effects
    }

    fn start_logs(&mut self, title: String, sources: Vec<LogSource>) -> Vec<AppEffect> {
        let mut effects = self.leave_detail();
        let tail = self.settings.log_tail;
        effects.extend(sources.iter().map(|s| {
            AppEffect::Host(
                s.host,
                HostCommand::FollowLogs {
                    container_id: s.container_id.clone(),
                    tail,
                    since: None,
                    follow: true,
                    max_line_bytes: self.settings.log_max_line_bytes,
                },
            )
        }));
        let mut logs = LogsState::new(
            title,
            sources,
            self.settings.log_lines,
            self.settings.log_bytes,
        );
        logs.tail = tail;
        logs.max_line_bytes = self.settings.log_max_line_bytes;
        self.logs = Some(logs);
        self.view = View::Logs;
        effects
    }

    fn open_inspect(&mut self) -> Vec<AppEffect> {
        if self.view != View::Containers {
            return Vec::new();
        }
        let Some(key) = self.selected_key() else {
            return Vec::new();
        };
        let Some(src) = self.source(&key) else {
            return Vec::new();
        };
        let mut effects = self.leave_detail();
        self.inspect = Some(InspectState {
            host_name: src.host_name.clone(),
            name: src.name.clone(),
            details: None,
            scroll: 0,
        });
        self.view = View::Inspect;
        effects.push(AppEffect::Host(
            src.host,
            HostCommand::Inspect {
                container: src.name,
            },
        ));
        effects
    }

    fn confirm(&mut self, action: ContainerAction) {
        if !matches!(self.view, View::Containers | View::Logs | View::Inspect) {
            self.fail("select containers in the Containers view first");
            return;
        }
        let keys = match self.view {
            View::Containers => self.table.targets(&self.fleet),
            _ => {
                // From Logs/Inspect: the container(s) being viewed.
                let sources: Vec<(HostId, String)> = match (&self.logs, &self.inspect) {
                    (Some(l), _) => l
                        .sources
                        .iter()
                        .map(|s| (s.host, s.container_id.clone()))
                        .collect(),
                    (None, Some(i)) => self
                        .fleet
                        .hosts
                        .iter()
                        .enumerate()
                        .filter(|(_, h)| h.spec.name == i.host_name)
                        .flat_map(|(hi, h)| {
                            h.containers
                                .iter()
                                .filter(|c| c.name == i.name)
                                .map(move |c| (hi, c.id.clone()))
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                sources
                    .into_iter()
                    .map(|(host, id)| RowKey { host, id })
                    .collect()
            }
        };
        let targets: Vec<ActionTarget> = keys
            .iter()
            .filter_map(|k| {
                let c = container(&self.fleet, k)?;
                Some(ActionTarget {
                    host: k.host,
                    host_name: self.fleet.hosts[k.host].spec.name.clone(),
                    id: c.id.clone(),
                    name: c.name.clone(),
                })
            })
            .collect();
        let policy = Policy {
            read_only: self.settings.read_only,
        };
        if let Err(refusal) = policy.authorize(&self.fleet, action, &targets, true) {
            self.fail(refusal.to_string());
            return;
        }
        self.overlay = Overlay::Confirm { action, targets };
    }
}

/// Whether the fleet state shows this container running on this host.
fn container_running(fleet: &FleetState, host: HostId, id: &str) -> bool {
    fleet
        .hosts
        .get(host)
        .and_then(|h| h.containers.iter().find(|c| c.id == id))
        .is_some_and(|c| c.is_running())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testutil::sample_fleet;

    fn key(c: char) -> AppEvent {
        AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    fn code(c: KeyCode) -> AppEvent {
        AppEvent::Key(KeyEvent::new(c, KeyModifiers::NONE))
    }

    fn app() -> App {
        App::new(sample_fleet(), Keymap::default(), Settings::default())
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            app.update(key(c));
        }
    }

    #[test]
    fn restart_goes_through_confirm_and_names_what_and_where() {
        let mut app = app();
        // Row 0 is fleet-1/shop-batch-1; move to shop-crashloop-1.
        app.update(key('j'));
        assert!(
            app.update(key('r')).is_empty(),
            "nothing happens before confirming"
        );
        let Overlay::Confirm { action, targets } = &app.overlay else {
            panic!("confirm dialog expected, got {:?}", app.overlay);
        };
        assert_eq!(*action, ContainerAction::Restart);
        assert_eq!(targets.len(), 1);
        assert_eq!(
            (targets[0].host_name.as_str(), targets[0].name.as_str()),
            ("fleet-1", "shop-crashloop-1")
        );
        let effects = app.update(key('y'));
        assert_eq!(
            effects,
            vec![AppEffect::Host(
                0,
                HostCommand::Act {
                    container: targets_id(&app, "fleet-1", "shop-crashloop-1"),
                    action: ContainerAction::Restart
                }
            )]
        );
        assert_eq!(app.pending_actions, 1);
    }

    fn targets_id(app: &App, host: &str, name: &str) -> String {
        app.fleet
            .containers()
            .find(|c| c.host == host && c.name == name)
            .map(|c| c.id.clone())
            .unwrap_or_default()
    }

    #[test]
    fn cancelled_confirm_sends_nothing() {
        let mut app = app();
        app.update(key('s'));
        assert!(matches!(app.overlay, Overlay::Confirm { .. }));
        assert!(app.update(code(KeyCode::Esc)).is_empty());
        assert_eq!(app.overlay, Overlay::None);
    }

    #[test]
    fn marked_containers_are_all_targeted() {
        let mut app = app();
        app.update(key(' '));
        app.update(key(' '));
        app.update(key('K'));
        let Overlay::Confirm { targets, .. } = &app.overlay else {
            panic!("confirm expected");
        };
        assert_eq!(targets.len(), 2);
    }

    #[test]
    fn read_only_refuses_before_confirming() {
        let mut app = App::new(
            sample_fleet(),
            Keymap::default(),
            Settings {
                read_only: true,
                ..Settings::default()
            },
        );
        app.update(key('r'));
        assert_eq!(app.overlay, Overlay::None);
        assert!(
            app.status
                .as_ref()
                .is_some_and(|s| s.error && s.text.contains("read-only"))
        );
    }

    #[test]
    fn actions_on_a_down_host_are_refused() {
        let mut app = app();
        type_text(&mut app, "/host:fleet-3");
        app.update(code(KeyCode::Enter));
        app.update(key('r'));
        assert_eq!(app.overlay, Overlay::None);
        assert!(
            app.status
                .as_ref()
                .is_some_and(|s| s.text.contains("unreachable")),
            "{:?}",
            app.status
        );
    }

    #[test]
    fn action_result_is_reported_and_audited() {
        let mut app = app();
        let id = targets_id(&app, "fleet-1", "shop-web-1");
        let effects = app.update(AppEvent::Fleet(FleetEvent {
            host: 0,
            kind: HostEvent::ActionDone {
                container: id,
                action: ContainerAction::Stop,
                result: Err("conflict".into()),
            },
        }));
        let [AppEffect::Audit(record)] = effects.as_slice() else {
            panic!("audit effect expected: {effects:?}");
        };
        assert_eq!(
            (
                record.host.as_str(),
                record.container.as_str(),
                record.action.as_str()
            ),
            ("fleet-1", "shop-web-1", "stop")
        );
        assert_eq!(record.result, "conflict");
        assert!(app.status.as_ref().is_some_and(|s| s.error));
        assert_eq!(app.audit.len(), 1);
    }

    #[test]
    fn filter_applies_while_typing_and_esc_clears() {
        let mut app = app();
        type_text(&mut app, "/sick");
        assert_eq!(app.table.rows(&app.fleet).len(), 1);
        app.update(code(KeyCode::Enter));
        assert_eq!(app.table.filter.text(), "sick");
        app.update(code(KeyCode::Esc));
        assert!(app.table.filter.is_empty());
    }

    #[test]
    fn log_follow_is_reissued_when_the_host_is_back() {
        let mut app = app();
        app.update(code(KeyCode::Enter));
        let id = app.logs.as_ref().map(|l| l.sources[0].container_id.clone());
        let id = id.expect("log view");
        let lines = vec![crate::fleet::RawLogLine {
            stream: crate::fleet::LogStream::Stdout,
            bytes: b"2026-01-01T00:00:07.5Z x".to_vec(),
        }];
        let fleet = |kind| AppEvent::Fleet(FleetEvent { host: 0, kind });
        app.update(fleet(HostEvent::Logs {
            container_id: id.clone(),
            lines,
        }));
        app.update(fleet(HostEvent::Disconnected {
            reason: "SSH session closed".into(),
            retry_in: Some(std::time::Duration::from_secs(1)),
        }));
        let info = crate::fleet::HostInfo {
            docker_version: "27".into(),
            api_version: "1.47".into(),
            tunnel: "direct-streamlocal".into(),
        };
        let effects = app.update(fleet(HostEvent::Connected {
            info,
            rtt: std::time::Duration::from_millis(1),
        }));
        let resumed = effects.iter().any(|e| {
            matches!(e, AppEffect::Host(0, HostCommand::FollowLogs { container_id, since: Some(s), .. })
                if *container_id == id && *s == 1_767_225_607)
        });
        assert!(resumed, "{effects:?}");
        let notice = app.logs.as_ref().and_then(|l| l.notices.last().cloned());
        assert!(
            notice.is_some_and(|n| n.ends_with("stream resumed after reconnect")),
            "{:?}",
            app.logs.as_ref().map(|l| &l.notices)
        );
    }

    #[test]
    fn enter_opens_logs_and_esc_stops_them() {
        let mut app = app();
        let effects = app.update(code(KeyCode::Enter));
        assert_eq!(app.view, View::Logs);
        assert!(
            matches!(
                effects.as_slice(),
                [AppEffect::Host(0, HostCommand::FollowLogs { .. })]
            ),
            "{effects:?}"
        );
        let effects = app.update(code(KeyCode::Esc));
        assert_eq!(effects, vec![AppEffect::Host(0, HostCommand::StopLogs)]);
        assert_eq!(app.view, View::Containers);
        assert!(app.logs.is_none());
    }

    #[test]
    fn service_logs_merge_every_reachable_host() {
        let mut app = app();
        let effects = app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char(':'),
            KeyModifiers::NONE,
        )));
        assert!(effects.is_empty());
        type_text(&mut app, "logs web");
        let effects = app.update(code(KeyCode::Enter));
        let hosts: Vec<HostId> = effects
            .iter()
            .filter_map(|e| match e {
                AppEffect::Host(h, HostCommand::FollowLogs { .. }) => Some(*h),
                _ => None,
            })
            .collect();
        assert_eq!(hosts, [0, 1], "fleet-3 is down");
        assert!(
            app.logs
                .as_ref()
                .is_some_and(|l| l.is_merged() && l.title.contains("merged"))
        );
    }

    #[test]
    fn since_reopens_the_log_streams_with_a_window() {
        let mut app = app();
        app.update(code(KeyCode::Enter));
        app.update(key(':'));
        type_text(&mut app, "since 10m");
        let effects = app.update(code(KeyCode::Enter));
        let since = effects.iter().find_map(|e| match e {
            AppEffect::Host(0, HostCommand::FollowLogs { since, .. }) => *since,
            _ => None,
        });
        let expected = jiff::Timestamp::now().as_second() - 600;
        assert!(
            since.is_some_and(|s| (s - expected).abs() <= 2),
            "{effects:?}"
        );
        assert!(
            effects.contains(&AppEffect::Host(0, HostCommand::StopLogs)),
            "old stream stopped first"
        );
        assert!(
            app.logs
                .as_ref()
                .is_some_and(|l| l.title.ends_with("[since 10m]"))
        );
        app.update(key(':'));
        type_text(&mut app, "since soon");
        assert!(app.update(code(KeyCode::Enter)).is_empty());
        assert!(app.status.as_ref().is_some_and(|s| s.error));
    }

    #[test]
    fn tab_cycles_views_and_audit_loads() {
        let mut app = app();
        assert_eq!(app.view, View::Containers);
        app.update(code(KeyCode::Tab));
        assert_eq!(app.view, View::Services);
        assert_eq!(app.update(code(KeyCode::Tab)), vec![AppEffect::LoadAudit]);
        app.update(code(KeyCode::Tab));
        assert_eq!(app.view, View::Triage);
        app.update(code(KeyCode::Tab));
        assert_eq!(app.view, View::Hosts);
    }

    #[test]
    fn triage_enter_opens_the_findings_logs_and_snapshot_is_one_key() {
        let mut app = app();
        app.update(key('5'));
        assert_eq!(app.view, View::Triage);
        // Row 0 is the down host; row 1 the crash loop on fleet-1.
        app.update(key('j'));
        let effects = app.update(code(KeyCode::Enter));
        assert!(
            matches!(
                effects.as_slice(),
                [AppEffect::Host(0, HostCommand::FollowLogs { .. })]
            ),
            "{effects:?}"
        );
        assert!(
            app.logs
                .as_ref()
                .is_some_and(|l| l.title == "shop-crashloop-1 @ fleet-1")
        );
        let effects = app.update(key('S'));
        let [AppEffect::Snapshot { markdown, json }] = effects.as_slice() else {
            panic!("snapshot effect expected: {effects:?}");
        };
        assert!(markdown.contains("| CRITICAL | fleet-3 |"));
        assert!(json.contains("\"kind\": \"crash_loop\""));
    }

    #[test]
    fn quit_and_palette_quit() {
        let mut app = app();
        assert_eq!(app.update(key('q')), vec![AppEffect::Quit]);
        app.update(key(':'));
        app.update(key('q'));
        assert_eq!(app.update(code(KeyCode::Enter)), vec![AppEffect::Quit]);
    }

    #[test]
    fn disconnect_is_shown_and_containers_kept() {
        let mut app = app();
        app.update(AppEvent::Fleet(FleetEvent {
            host: 0,
            kind: HostEvent::Disconnected {
                reason: "reset".into(),
                retry_in: Some(std::time::Duration::from_secs(1)),
            },
        }));
        assert!(
            app.status
                .as_ref()
                .is_some_and(|s| s.error && s.text.contains("fleet-1: reset"))
        );
        assert!(app.fleet.hosts[0].stale);
        assert!(!app.fleet.hosts[0].containers.is_empty());
    }
}
