//! The timeline view: what changed across the fleet (Docker events and
//! flotilla's audit records), newest last; optionally narrowed to the
//! containers of a triage finding.

use super::{Ctx, Msg, delta, moved};
use crate::ops::timeline::Entry;
use crate::tui::action::Action;
use crate::tui::app::AppEffect;

/// How far back the view looks.
pub const WINDOW_SECS: i64 = 3600;

#[derive(Debug, Clone, Default)]
pub struct TimelineState {
    pub entries: Vec<Entry>,
    pub selected: usize,
    /// Container or service names the view is narrowed to (empty: everything).
    pub targets: Vec<String>,
    pub loading: bool,
    /// Hosts whose events could not be read, with why.
    pub failed: Vec<(String, String)>,
}

impl TimelineState {
    /// Asks for the window again (entering the view, or `targets` changed).
    pub fn load(&mut self, targets: Vec<String>) -> AppEffect {
        self.targets = targets;
        self.loading = true;
        AppEffect::LoadTimeline {
            targets: self.targets.clone(),
            since: jiff::Timestamp::now().as_second() - WINDOW_SECS,
        }
    }

    /// The loop's answer; the cursor goes to the newest entry.
    pub fn loaded(&mut self, entries: Vec<Entry>, failed: Vec<(String, String)>) {
        self.loading = false;
        self.selected = entries.len().saturating_sub(1);
        self.entries = entries;
        self.failed = failed;
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.selected = moved(self.selected, d, self.entries.len());
            return Vec::new();
        }
        match action {
            // Esc widens a narrowed timeline to the whole fleet.
            Action::Back if !self.targets.is_empty() => {
                vec![Msg::Effect(self.load(Vec::new()))]
            }
            Action::Open => match self.entries.get(self.selected) {
                Some(e) if e.source == "audit" => super::audit::kept_logs(
                    &e.host,
                    e.container.as_deref().unwrap_or("-"),
                    e.kept.as_deref(),
                ),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}
