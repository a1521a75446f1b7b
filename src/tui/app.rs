//! The TUI's shared state and the pure update function: (state, event) →
//! effects. Keys become actions (keymap), which go to the overlay or to the
//! current view's state (`super::state`); the run loop owns one `App`, and
//! views only read it.

mod fleet;
mod kept;
mod overlay;

use crossterm::event::KeyEvent;

pub use super::msg::{ActionTarget, AppEffect, AppEvent, InputKind, Overlay, Settings, View};

use super::action::{Action, Keymap};
use super::state::audit::AuditState;
use super::state::containers::{ContainersState, RowKey, container};
use super::state::deploy::Deploys;
use super::state::hosts::HostsState;
use super::state::inspect::InspectState;
use super::state::logs::{self as logview, LogSource, LogsState};
use super::state::services::ServicesState;
use super::state::triage::TriageState;
use super::state::{Ctx, Msg};
use crate::fleet::{FleetState, HostCommand};
use crate::ops::ContainerAction;
use crate::ops::act::{self, Policy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    /// Host news (a drop, a retry), not an answer to the operator: it never
    /// covers an answer the operator has not read yet.
    pub news: bool,
}

/// Each view's own state.
#[derive(Debug, Clone, Default)]
pub struct ViewStates {
    pub hosts: HostsState,
    pub containers: ContainersState,
    pub services: ServicesState,
    pub audit: AuditState,
    pub triage: TriageState,
    pub timeline: crate::tui::state::timeline::TimelineState,
    pub top: crate::tui::state::top::TopState,
    pub disk: crate::tui::state::disk::DiskState,
    /// Open while the Logs view is.
    pub logs: Option<LogsState>,
    /// Open while the Inspect view is.
    pub inspect: Option<InspectState>,
    pub deploy: Deploys,
    /// Not a view's: the Services and Triage views both show it.
    pub compose: crate::tui::state::compose::ComposeState,
}

pub struct App {
    pub fleet: FleetState,
    pub keymap: Keymap,
    pub settings: Settings,
    pub view: View,
    /// The tab to return to from Logs / Inspect / Deploy.
    pub tab: View,
    pub overlay: Overlay,
    pub status: Option<Status>,
    /// Container actions sent and not yet answered (the header shows them).
    pub pending_actions: usize,
    pub size: (u16, u16),
    pub state: ViewStates,
    /// Host keys the user declined (or was warned about): not asked again.
    pub declined_keys: std::collections::BTreeSet<String>,
}

/// What identifies a refused key: host and fingerprint.
pub(crate) fn key_id(problem: &crate::fleet::HostKeyProblem) -> String {
    match problem {
        crate::fleet::HostKeyProblem::Unknown {
            name, fingerprint, ..
        } => format!("{name} {fingerprint}"),
        crate::fleet::HostKeyProblem::Changed {
            name, presented, ..
        } => format!("{name} {presented}"),
    }
}

impl App {
    pub fn new(fleet: FleetState, keymap: Keymap, settings: Settings) -> Self {
        App {
            fleet,
            keymap,
            settings,
            view: View::Containers,
            tab: View::Containers,
            overlay: Overlay::None,
            status: None,
            pending_actions: 0,
            size: (80, 24),
            state: ViewStates::default(),
            declined_keys: std::collections::BTreeSet::new(),
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
            news: false,
        });
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
            news: false,
        });
    }

    /// A host's trouble, shown unless it would hide an unread answer.
    fn news(&mut self, text: impl Into<String>) {
        if self.status.as_ref().is_none_or(|s| s.news) {
            self.status = Some(Status {
                text: text.into(),
                error: true,
                news: true,
            });
        }
    }

    pub fn update(&mut self, event: AppEvent) -> Vec<AppEffect> {
        match event {
            AppEvent::Key(key) => self.on_key(key),
            AppEvent::Fleet(ev) => self.on_fleet(ev),
            AppEvent::Resize { width, height } => {
                self.size = (width, height);
                Vec::new()
            }
            AppEvent::StatsTick if self.view == View::Containers => {
                let page = self.page();
                self.state.containers.stats_requests(&self.fleet, page)
            }
            // The inspected container's CPU and memory history keeps growing.
            AppEvent::StatsTick if self.view == View::Inspect => {
                let keys = self
                    .state
                    .inspect
                    .as_ref()
                    .map(|i| i.keys(&self.fleet))
                    .unwrap_or_default();
                keys.into_iter()
                    .filter(|k| {
                        crate::tui::state::containers::container(&self.fleet, k)
                            .is_some_and(|c| c.is_running())
                    })
                    .map(|k| AppEffect::Host(k.host, HostCommand::Stats { ids: vec![k.id] }))
                    .collect()
            }
            AppEvent::StatsTick => Vec::new(),
            AppEvent::Notice { text, error } => {
                self.status = Some(Status {
                    text,
                    error,
                    news: false,
                });
                Vec::new()
            }
            AppEvent::DeployPrepared(result) => {
                self.state.deploy.prepared(result);
                Vec::new()
            }
            AppEvent::Deploy(ev) => self.state.deploy.apply(ev),
            AppEvent::DeployEnded => {
                self.state.deploy.ended();
                Vec::new()
            }
            AppEvent::SnapshotGathered(result) => {
                let msgs = self.state.triage.gathered(result);
                self.apply(msgs)
            }
            AppEvent::KeptRead { title, path, text } => self.kept_read(title, &path, text),
            AppEvent::AuditAppended(records) => {
                self.state.timeline.audit(&self.fleet, &records);
                Vec::new()
            }
            AppEvent::TimelineLoaded { entries, failed } => {
                self.state.timeline.loaded(entries, failed);
                Vec::new()
            }
            AppEvent::Silences(list) => {
                self.state.triage.silences = list;
                Vec::new()
            }
            AppEvent::AuditLoaded(records) => {
                self.state.audit.loaded(records);
                Vec::new()
            }
            other => self.on_reading(other),
        }
    }

    /// The periodic background reads: time for one, or one came back.
    fn on_reading(&mut self, event: AppEvent) -> Vec<AppEffect> {
        match event {
            AppEvent::ComposeTick => {
                let msgs = self.state.compose.tick();
                self.apply(msgs)
            }
            AppEvent::ComposeRead(reading) => {
                let msgs = self.state.compose.read(reading);
                self.apply(msgs)
            }
            AppEvent::DiskTick => {
                let msgs = self.state.hosts.disk_tick();
                self.apply(msgs)
            }
            AppEvent::DisksRead(reading) => {
                let msgs = self.state.hosts.disks_read(reading);
                self.apply(msgs)
            }
            AppEvent::TopTick => {
                let msgs = self.state.top.tick();
                self.apply(msgs)
            }
            AppEvent::PrunePlanned(plans) => {
                self.state.disk.planned(plans);
                Vec::new()
            }
            AppEvent::Pruned(result) => {
                let msgs = self.state.disk.pruned(result);
                self.apply(msgs)
            }
            AppEvent::TopRead(round) => {
                self.state.top.read(round, &self.fleet);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<AppEffect> {
        if self.overlay != Overlay::None {
            return self.on_overlay_key(key);
        }
        // A message stays until the next key, so it is read before it goes.
        self.status = None;
        match self.keymap.action(&key) {
            Some(action) => self.on_action(action),
            None => Vec::new(),
        }
    }

    /// Global actions here; the rest go to the current view's state.
    fn on_action(&mut self, action: Action) -> Vec<AppEffect> {
        let ctx = Ctx {
            fleet: &self.fleet,
            settings: &self.settings,
            page: self.page(),
            compose: &self.state.compose.hosts,
        };
        // The Deploy view's keys come first; what it leaves is global.
        if self.view == View::Deploy
            && let Some(msgs) = self.state.deploy.handle(action, &ctx)
        {
            return self.apply(msgs);
        }
        let msgs = match action {
            // Quitting would leave a host half done.
            Action::Quit if self.state.deploy.is_running() => vec![Msg::Fail(
                "a deploy is running: wait for it, or abort it (A) in the Deploy view".into(),
            )],
            Action::Quit => vec![Msg::Effect(AppEffect::Quit)],
            Action::Help => vec![Msg::Overlay(Overlay::Help { scroll: 0 })],
            Action::Command => vec![Msg::Overlay(Overlay::Input {
                kind: InputKind::Command,
                text: String::new(),
            })],
            Action::NextView | Action::PrevView => {
                let i = View::TABS.iter().position(|v| *v == self.tab).unwrap_or(1);
                let n = View::TABS.len();
                let next = if action == Action::NextView {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                vec![Msg::Switch(View::TABS[next])]
            }
            Action::ViewHosts => vec![Msg::Switch(View::Hosts)],
            Action::ViewContainers => vec![Msg::Switch(View::Containers)],
            Action::ViewServices => vec![Msg::Switch(View::Services)],
            Action::ViewAudit => vec![Msg::Switch(View::Audit)],
            Action::ViewTriage => vec![Msg::Switch(View::Triage)],
            Action::ViewTimeline => vec![Msg::Switch(View::Timeline)],
            Action::ViewTop => vec![Msg::Switch(View::Top)],
            Action::ViewDisk => vec![Msg::Switch(View::Disk)],
            // A triage problem's events: the timeline narrowed to its containers.
            Action::Events if self.view == View::Triage => {
                vec![Msg::Timeline(
                    self.state
                        .triage
                        .selected_targets(&self.fleet, &self.state.compose.hosts),
                )]
            }
            Action::Snapshot => self.state.triage.snapshot(),
            Action::Silence if self.view == View::Triage => self
                .state
                .triage
                .silence(&self.fleet, &self.state.compose.hosts),
            Action::Deploy => {
                let service = self.selected_service();
                self.state.deploy.open(service, &self.fleet)
            }
            Action::ServiceLogs => self
                .selected_service()
                .map(|name| logview::logs_by_name(&self.fleet, &name))
                .into_iter()
                .collect(),
            // The filter lives in the containers view: go there to type it.
            Action::Find if self.view != View::Logs => {
                self.view = View::Containers;
                self.tab = View::Containers;
                self.state.containers.handle(action, &ctx)
            }
            _ => self.for_view(action),
        };
        let msgs = if msgs.is_empty() {
            self.fallback(action)
        } else {
            msgs
        };
        self.apply(msgs)
    }

    /// An action for the current view's state.
    fn for_view(&mut self, action: Action) -> Vec<Msg> {
        let ctx = Ctx {
            fleet: &self.fleet,
            settings: &self.settings,
            page: self.page(),
            compose: &self.state.compose.hosts,
        };
        match self.view {
            View::Hosts => self.state.hosts.handle(action, &ctx),
            View::Containers => self.state.containers.handle(action, &ctx),
            View::Services => self.state.services.handle(action, &ctx),
            View::Audit => self.state.audit.handle(action, &ctx),
            View::Triage => self.state.triage.handle(action, &ctx),
            View::Timeline => self.state.timeline.handle(action, &ctx),
            View::Top => self.state.top.handle(action, &ctx),
            View::Disk => self.state.disk.handle(action, &ctx),
            View::Logs => self
                .state
                .logs
                .as_mut()
                .map(|l| l.handle(action, &ctx))
                .unwrap_or_default(),
            View::Inspect => self
                .state
                .inspect
                .as_mut()
                .map(|i| i.handle(action, &ctx))
                .unwrap_or_default(),
            View::Deploy => Vec::new(),
        }
    }

    /// What no view took: container actions outside a container view, and
    /// esc in a tab clearing the containers' marks or filter.
    fn fallback(&mut self, action: Action) -> Vec<Msg> {
        let tab = View::TABS.contains(&self.view);
        match action {
            Action::Restart | Action::Stop | Action::Start | Action::Kill
                if !matches!(self.view, View::Containers | View::Logs | View::Inspect) =>
            {
                vec![Msg::Fail(
                    "select containers in the Containers view first".into(),
                )]
            }
            Action::Back if tab && self.view != View::Containers => {
                self.state.containers.back();
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A shell in a container: refused like any mutation in read-only mode,
    /// and on a host that is down.
    fn shell(&mut self, src: LogSource) -> Option<AppEffect> {
        let policy = Policy {
            read_only: self.settings.read_only,
        };
        let target = act::Target {
            host: src.host,
            host_name: src.host_name.clone(),
            id: src.container_id.clone(),
            name: src.name.clone(),
        };
        if let Err(refusal) = policy.authorize_verb(&self.fleet, act::Verb::Shell, &[target], true)
        {
            self.fail(refusal.to_string());
            return None;
        }
        Some(AppEffect::Shell {
            host: src.host,
            host_name: src.host_name,
            container_id: src.container_id,
            name: src.name,
        })
    }

    /// Carries out what a view asked for; returns the effects for the loop.
    fn apply(&mut self, msgs: Vec<Msg>) -> Vec<AppEffect> {
        let mut effects = Vec::new();
        for msg in msgs {
            match msg {
                Msg::Effect(e) => effects.push(e),
                Msg::Say(text) => self.say(text),
                Msg::Fail(text) => self.fail(text),
                Msg::Overlay(o) => self.overlay = o,
                Msg::Confirm(action, keys) => self.confirm(action, &keys),
                Msg::Logs { title, sources } => {
                    let window = (self.settings.log_tail, None);
                    effects.extend(self.start_logs(title, sources, window));
                }
                Msg::Inspect(src) => {
                    effects.extend(self.leave_detail());
                    let (state, ask) = InspectState::open(src);
                    self.state.inspect = Some(state);
                    self.view = View::Inspect;
                    effects.push(ask);
                }
                Msg::Shell(src) => effects.extend(self.shell(src)),
                Msg::Timeline(targets) => {
                    effects.extend(self.leave_detail());
                    self.view = View::Timeline;
                    self.tab = View::Timeline;
                    effects.push(self.state.timeline.load(targets));
                }
                Msg::Containers(filter) => {
                    self.state.containers.filter = filter;
                    effects.extend(self.switch(View::Containers));
                }
                Msg::Switch(view) => effects.extend(self.switch(view)),
                Msg::Deploy => {
                    effects.extend(self.leave_detail());
                    self.view = View::Deploy;
                }
                Msg::Back => {
                    effects.extend(self.leave_detail());
                    self.view = self.tab;
                }
            }
        }
        effects
    }

    fn switch(&mut self, view: View) -> Vec<AppEffect> {
        let mut effects = self.leave_detail();
        self.view = view;
        self.tab = view;
        if view == View::Audit {
            effects.push(AppEffect::LoadAudit);
        }
        if view == View::Timeline {
            effects.push(self.state.timeline.load(Vec::new()));
        }
        if view == View::Disk {
            let msgs = self.state.disk.read();
            effects.extend(self.apply(msgs));
        }
        if view == View::Top {
            // The first figures after two rounds: the first one now.
            let msgs = self.state.top.tick();
            effects.extend(self.apply(msgs));
        }
        effects
    }

    /// Closes Logs / Inspect, stopping their streams.
    fn leave_detail(&mut self) -> Vec<AppEffect> {
        let effects = self
            .state
            .logs
            .take()
            .map(|logs| logs.stop())
            .unwrap_or_default();
        self.state.inspect = None;
        effects
    }

    /// Opens the Logs view over `sources`, with `(tail, since)`.
    fn start_logs(
        &mut self,
        title: String,
        sources: Vec<LogSource>,
        window: (u32, Option<i64>),
    ) -> Vec<AppEffect> {
        let mut effects = self.leave_detail();
        let (logs, follow) = logview::open(title, sources, window, &self.settings);
        effects.extend(follow);
        self.state.logs = Some(logs);
        self.view = View::Logs;
        effects
    }

    /// `:since 10m` / `:tail 2000` in a log view: refetch with that window.
    fn reopen_logs(&mut self, cmd: &str, arg: &str) -> Vec<AppEffect> {
        let Some(logs) = &self.state.logs else {
            return Vec::new();
        };
        match LogsState::window(cmd, arg, &self.settings) {
            Ok((window, suffix)) => {
                let title = format!("{} [{suffix}]", logs.title);
                let sources = logs.sources.clone();
                self.start_logs(title, sources, window)
            }
            Err(e) => {
                self.fail(e);
                Vec::new()
            }
        }
    }

    /// The service under the cursor: matrix row, or the selected container's service.
    fn selected_service(&self) -> Option<String> {
        match self.view {
            View::Services => self.state.services.selected(&self.fleet),
            _ => self.state.containers.selected_service(&self.fleet),
        }
    }

    /// Asks before acting on `keys`, unless the policy refuses at once.
    fn confirm(&mut self, action: ContainerAction, keys: &[RowKey]) {
        let targets: Vec<ActionTarget> = keys
            .iter()
            .filter_map(|k| {
                let c = container(&self.fleet, k)?;
                Some(ActionTarget {
                    host: k.host,
                    host_name: self.fleet.hosts.get(k.host)?.spec.name.clone(),
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

    /// The confirm dialog answered yes: act on every target.
    fn act(&mut self, action: ContainerAction, targets: Vec<ActionTarget>) -> Vec<AppEffect> {
        self.pending_actions += targets.len();
        self.say(format!("{action}: {} container(s)…", targets.len()));
        self.state.containers.marked.clear();
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
}

#[cfg(test)]
mod deploy_tests;
#[cfg(test)]
mod tests;
