//! Fleet events into the TUI: the pure fleet update, then what each view
//! makes of the host's news (logs resuming, deploys, inspects, triage).

use super::{App, AppEffect, Overlay, View, key_id};
use crate::fleet::{FleetEvent, FleetState, HostEvent, HostId, update};
use crate::ops::act;
use crate::tui::state::logs::Resume;

impl App {
    pub(super) fn on_fleet(&mut self, ev: FleetEvent) -> Vec<AppEffect> {
        match self.on_host_news(ev.host, &ev.kind) {
            Some(effects) => effects,
            None => self.on_fleet_change(ev),
        }
    }

    /// News a view takes as it is (logs, stats, inspects, action results,
    /// keys); `None` for what changes the fleet state too.
    fn on_host_news(&mut self, host: HostId, kind: &HostEvent) -> Option<Vec<AppEffect>> {
        let host_name = self
            .fleet
            .hosts
            .get(host)
            .map(|h| h.spec.name.clone())
            .unwrap_or_default();
        match kind {
            HostEvent::Logs {
                container_id,
                lines,
            } => {
                if let Some(logs) = &mut self.state.logs {
                    logs.push(host, container_id, lines.clone());
                }
            }
            HostEvent::LogsEnded {
                container_id,
                reason,
            } => {
                let running = container_running(&self.fleet, host, container_id);
                if let Some(logs) = &mut self.state.logs
                    && let Some((h, cmd)) = logs.ended(host, container_id, reason, running)
                {
                    return Some(vec![AppEffect::Host(h, cmd)]);
                }
            }
            // The Timeline view follows them while open (it re-reads on entry).
            HostEvent::DockerEvent(ev) => {
                if self.view == View::Timeline {
                    self.state.timeline.docker(&host_name, ev);
                }
            }
            HostEvent::Stats { samples } => self.state.containers.sampled(host, samples),
            HostEvent::Inspected { container, details } => {
                if let Some(ins) = &mut self.state.inspect {
                    ins.inspected(&host_name, container, details);
                }
            }
            HostEvent::ActionDone {
                container,
                action,
                result,
            } => return Some(self.action_done(host, &host_name, container, *action, result)),
            HostEvent::HostKey(problem) => self.ask_host_key(host, host_name, problem),
            HostEvent::KeyTrusted { result } => match result {
                Ok(()) => self.say(format!("{host_name}: host key recorded; connecting")),
                Err(e) => self.fail(format!("{host_name}: {e}")),
            },
            HostEvent::Disconnected { reason, .. } => {
                self.news(format!("{host_name}: {reason}"));
                if let Some(logs) = &mut self.state.logs {
                    logs.lost(host);
                }
                return None;
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    fn action_done(
        &mut self,
        host: HostId,
        host_name: &str,
        container: &str,
        action: crate::fleet::ContainerAction,
        result: &Result<(), String>,
    ) -> Vec<AppEffect> {
        self.pending_actions = self.pending_actions.saturating_sub(1);
        let name = self
            .fleet
            .hosts
            .get(host)
            .and_then(|h| h.containers.iter().find(|c| c.id == container))
            .map_or_else(|| container.to_owned(), |c| c.name.clone());
        let (record, text) = act::outcome(host_name, &name, action, result);
        if result.is_ok() {
            self.say(text);
        } else {
            self.fail(text);
        }
        self.state.audit.records.push(record.clone());
        vec![AppEffect::Audit(record)]
    }

    /// Asked once per key, and never over another dialog.
    fn ask_host_key(
        &mut self,
        host: HostId,
        host_name: String,
        problem: &crate::fleet::HostKeyProblem,
    ) {
        if self.declined_keys.contains(&key_id(problem)) || self.overlay != Overlay::None {
            return;
        }
        let address = self
            .fleet
            .hosts
            .get(host)
            .map(|h| h.spec.address.clone())
            .unwrap_or_default();
        self.overlay = Overlay::HostKey {
            host,
            host_name,
            address,
            problem: problem.clone(),
        };
    }

    /// The pure fleet update; log streams that died with the session or
    /// the container's run are followed again.
    fn on_fleet_change(&mut self, ev: FleetEvent) -> Vec<AppEffect> {
        let host = ev.host;
        let resume = match &ev.kind {
            HostEvent::Connected { .. } => Some(Resume::Reconnect),
            HostEvent::Containers { .. } => Some(Resume::Restart),
            _ => None,
        };
        let connected = matches!(ev.kind, HostEvent::Connected { .. });
        let mut effects: Vec<AppEffect> = update(&mut self.fleet, ev)
            .into_iter()
            .map(|crate::fleet::Effect::Host(h, cmd)| AppEffect::Host(h, cmd))
            .collect();
        // The Hosts view shows Docker's disk usage from the first connection.
        if connected
            && self.view == View::Hosts
            && let Some(name) = self.fleet.hosts.get(host).map(|h| h.spec.name.clone())
        {
            let msgs = self.state.hosts.connected(&name);
            effects.extend(self.apply(msgs));
        }
        if let (Some(why), Some(logs)) = (resume, &mut self.state.logs) {
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
}

/// Whether the fleet state shows this container running on this host.
fn container_running(fleet: &FleetState, host: HostId, id: &str) -> bool {
    fleet
        .hosts
        .get(host)
        .and_then(|h| h.containers.iter().find(|c| c.id == id))
        .is_some_and(|c| c.is_running())
}
