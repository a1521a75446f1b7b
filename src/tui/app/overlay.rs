//! Overlays over the current view: help, the confirm dialogs and the
//! one-line input (filter, search, palette, save path, deploy image).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, AppEffect, InputKind, Overlay, View};
use crate::tui::action::Action;
use crate::tui::state::filter::Filter;
use crate::tui::state::logs::logs_by_name;

impl App {
    pub(super) fn on_overlay_key(&mut self, key: KeyEvent) -> Vec<AppEffect> {
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => Vec::new(),
            Overlay::Input { kind, text } => self.on_input_key(kind, text, key),
            Overlay::Confirm { action, targets } => match self.keymap.dialog_action(&key) {
                Some(Action::Confirm) => self.act(action, targets),
                Some(Action::Cancel) => {
                    self.say(format!("{action} cancelled"));
                    Vec::new()
                }
                // Anything else leaves the question open.
                _ => {
                    self.overlay = Overlay::Confirm { action, targets };
                    Vec::new()
                }
            },
            Overlay::Help { scroll } => {
                self.overlay = self.help_scrolled(scroll, &key);
                Vec::new()
            }
            Overlay::HostKey {
                host,
                host_name,
                address,
                problem,
            } => self.on_host_key_dialog(host, host_name, address, problem, key),
            Overlay::ConfirmPrune(plan) => match self.keymap.dialog_action(&key) {
                Some(Action::Confirm) => {
                    self.say(format!("pruning {}…", plan.host));
                    self.state.disk.pruning = Some(plan.host.clone());
                    vec![AppEffect::Prune(plan)]
                }
                Some(Action::Cancel) => {
                    self.say("prune cancelled");
                    Vec::new()
                }
                _ => {
                    self.overlay = Overlay::ConfirmPrune(plan);
                    Vec::new()
                }
            },
            // Only a yes aborts; any other key keeps the deploy going.
            Overlay::ConfirmAbort => {
                let msgs = match self.keymap.dialog_action(&key) {
                    Some(Action::Confirm) => self.state.deploy.abort(),
                    _ => vec![crate::tui::state::Msg::Say(
                        "abort cancelled; the deploy goes on".into(),
                    )],
                };
                self.apply(msgs)
            }
        }
    }

    /// Help scrolls with the movement keys; any other key closes it.
    fn help_scrolled(&self, scroll: usize, key: &KeyEvent) -> Overlay {
        let page = self.page();
        match self.keymap.action(key) {
            Some(Action::Down) => Overlay::Help { scroll: scroll + 1 },
            Some(Action::Up) => Overlay::Help {
                scroll: scroll.saturating_sub(1),
            },
            Some(Action::PageDown) => Overlay::Help {
                scroll: scroll + page,
            },
            Some(Action::PageUp) => Overlay::Help {
                scroll: scroll.saturating_sub(page),
            },
            _ => Overlay::None,
        }
    }

    /// Yes trusts an unknown host key; no (or yes to a changed key) leaves
    /// the host refused; anything else leaves the question open.
    fn on_host_key_dialog(
        &mut self,
        host: crate::fleet::HostId,
        host_name: String,
        address: String,
        problem: crate::fleet::HostKeyProblem,
        key: KeyEvent,
    ) -> Vec<AppEffect> {
        match (self.keymap.dialog_action(&key), &problem) {
            (
                Some(Action::Confirm),
                crate::fleet::HostKeyProblem::Unknown {
                    name, key, file, ..
                },
            ) => {
                self.say(format!("trusting {host_name}'s key; connecting…"));
                let cmd = crate::fleet::HostCommand::TrustKey {
                    name: name.clone(),
                    key: key.clone(),
                    file: file.clone(),
                };
                vec![AppEffect::Host(host, cmd)]
            }
            (Some(Action::Cancel | Action::Confirm), _) => {
                self.declined_keys.insert(super::key_id(&problem));
                self.fail(format!(
                    "{host_name}: host key not trusted; the host stays refused"
                ));
                Vec::new()
            }
            _ => {
                self.overlay = Overlay::HostKey {
                    host,
                    host_name,
                    address,
                    problem,
                };
                Vec::new()
            }
        }
    }

    fn on_input_key(&mut self, kind: InputKind, mut text: String, key: KeyEvent) -> Vec<AppEffect> {
        match key.code {
            KeyCode::Esc => Vec::new(),
            KeyCode::Enter => self.submit(kind, text.trim()),
            KeyCode::Backspace => {
                text.pop();
                self.live_input(kind, text);
                Vec::new()
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.live_input(kind, String::new());
                Vec::new()
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                text.push(c);
                self.live_input(kind, text);
                Vec::new()
            }
            _ => {
                self.overlay = Overlay::Input { kind, text };
                Vec::new()
            }
        }
    }

    /// Keeps the prompt open with `text`; the table filter applies as you
    /// type, and bad input waits for more.
    fn live_input(&mut self, kind: InputKind, text: String) {
        if kind == InputKind::Filter
            && let Ok(filter) = Filter::parse(&text)
        {
            self.state.containers.filter = filter;
        }
        self.overlay = Overlay::Input { kind, text };
    }

    fn submit(&mut self, kind: InputKind, text: &str) -> Vec<AppEffect> {
        match kind {
            InputKind::Filter => {
                match Filter::parse(text) {
                    Ok(f) => {
                        self.state.containers.filter = f;
                        self.status = None;
                    }
                    Err(e) => self.fail(e),
                }
                Vec::new()
            }
            InputKind::Search => {
                let page = self.page();
                let msgs = match &mut self.state.logs {
                    Some(logs) => logs.submit_search(text, page),
                    None => Vec::new(),
                };
                self.apply(msgs)
            }
            InputKind::SavePath => match &self.state.logs {
                Some(logs) if !text.is_empty() => vec![AppEffect::SaveLogs {
                    path: text.to_owned(),
                    text: logs.export(),
                }],
                _ => Vec::new(),
            },
            InputKind::Command => self.command(text),
            InputKind::DeployImage => {
                let msgs = self.state.deploy.submit_image(text);
                self.apply(msgs)
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
            "snapshot" => {
                let msgs = self.state.triage.snapshot();
                self.apply(msgs)
            }
            "help" => {
                self.overlay = Overlay::Help { scroll: 0 };
                Vec::new()
            }
            "filter" => self.submit(InputKind::Filter, arg),
            "since" | "tail" if self.state.logs.is_some() => self.reopen_logs(cmd, arg),
            "logs" | "log" if !arg.is_empty() => {
                let msg = logs_by_name(&self.fleet, arg);
                self.apply(vec![msg])
            }
            _ => {
                self.fail(format!(
                    "unknown command :{text} (try :hosts :ps :services :audit :logs NAME :q)"
                ));
                Vec::new()
            }
        }
    }
}
