//! The triage view: live findings, most severe first, and a cursor.

use super::logs::log_sources;
use super::{Ctx, Msg, delta, moved};
use crate::fleet::FleetState;
use crate::ops::triage::Finding;
use crate::tui::action::Action;
use crate::tui::app::{AppEffect, View};

#[derive(Debug, Clone, Default)]
pub struct TriageState {
    pub selected: usize,
}

/// Live findings (no log scan in the TUI: that is `flotilla triage`).
pub fn findings(fleet: &FleetState) -> Vec<Finding> {
    crate::ops::triage::assess(fleet, &std::collections::BTreeMap::new())
}

/// The incident snapshot of the fleet now, as Markdown and JSON.
pub fn snapshot(fleet: &FleetState) -> AppEffect {
    let findings = findings(fleet);
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    let markdown = crate::ops::triage::markdown(fleet, &findings, &now);
    let json = serde_json::to_string_pretty(&findings)
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    AppEffect::Snapshot { markdown, json }
}

impl TriageState {
    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.selected = moved(self.selected, d, findings(ctx.fleet).len());
            return Vec::new();
        }
        if action != Action::Open {
            return Vec::new();
        }
        // A container's finding opens its logs; a host's, the hosts view.
        match findings(ctx.fleet).into_iter().nth(self.selected) {
            Some(Finding {
                container: Some(name),
                host,
                ..
            }) => {
                let sources = log_sources(ctx.fleet, |h, c| h == host && c.name == name);
                if sources.is_empty() {
                    return Vec::new();
                }
                vec![Msg::Logs {
                    title: format!("{name} @ {host}"),
                    sources,
                }]
            }
            Some(_) => vec![Msg::Switch(View::Hosts)],
            None => Vec::new(),
        }
    }
}
