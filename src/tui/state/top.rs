//! The Top view: every container of the fleet ranked by a resource, with
//! its last hour. Readings come from a background reader (one per host per
//! tick, one round at a time); the cursor follows a container, not a
//! position, as rows re-rank.

use std::collections::BTreeMap;

use super::logs::LogSource;
use super::{Ctx, Msg, container_action, delta, moved};
use crate::fleet::FleetState;
use crate::ops::top::{Row, Sort, Top};
use crate::tui::action::Action;
use crate::tui::msg::{AppEffect, RowKey};

pub use crate::tui::msg::TopRound;

#[derive(Debug, Clone, Default)]
pub struct TopState {
    pub top: Top,
    pub sort: Sort,
    /// The selected container: (host, id).
    selected: Option<(String, String)>,
    /// Hosts whose last reading failed, and why.
    pub errors: BTreeMap<String, String>,
    /// Rounds read so far (rates need two).
    pub rounds: usize,
    reading: bool,
}

impl TopState {
    /// Time for a round: one now, unless one is still under way.
    pub fn tick(&mut self) -> Vec<Msg> {
        if std::mem::replace(&mut self.reading, true) {
            return Vec::new();
        }
        vec![Msg::Effect(AppEffect::ReadTop)]
    }

    /// A round came back.
    pub fn read(&mut self, round: TopRound, fleet: &FleetState) {
        self.reading = false;
        if round.is_empty() {
            return;
        }
        self.rounds += 1;
        let read: Vec<String> = round.iter().map(|(h, _)| h.clone()).collect();
        let failed = self.top.ingest_round(round, fleet);
        self.errors.retain(|h, _| !read.contains(h));
        self.errors.extend(failed);
    }

    pub fn rows(&self) -> Vec<Row> {
        self.top.rows(self.sort)
    }

    /// The cursor's row in `rows` (the first when its container left).
    pub fn cursor(&self, rows: &[Row]) -> usize {
        self.selected
            .as_ref()
            .and_then(|(h, id)| rows.iter().position(|r| &r.host == h && &r.id == id))
            .unwrap_or(0)
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        let rows = self.rows();
        if let Some(d) = delta(action, ctx.page) {
            let at = moved(self.cursor(&rows), d, rows.len());
            self.selected = rows.get(at).map(|r| (r.host.clone(), r.id.clone()));
            return Vec::new();
        }
        if action == Action::SortNext {
            self.sort = self.sort.next();
            return vec![Msg::Say(format!("ranked by {}", self.sort.name()))];
        }
        let Some(src) = rows
            .get(self.cursor(&rows))
            .and_then(|r| source(ctx.fleet, r))
        else {
            return Vec::new();
        };
        if let Some(act) = container_action(action) {
            let key = RowKey {
                host: src.host,
                id: src.container_id,
            };
            return vec![Msg::Confirm(act, vec![key])];
        }
        match action {
            Action::Open => vec![Msg::Logs {
                title: format!("{} @ {}", src.name, src.host_name),
                sources: vec![src],
            }],
            Action::Inspect => vec![Msg::Inspect(src)],
            Action::Shell => vec![Msg::Shell(src)],
            _ => Vec::new(),
        }
    }
}

/// The row's container as the other views name it.
fn source(fleet: &FleetState, row: &Row) -> Option<LogSource> {
    let (host, _) = fleet.host_named(&row.host)?;
    Some(LogSource {
        host,
        host_name: row.host.clone(),
        container_id: row.id.clone(),
        name: row.container.clone(),
    })
}

#[cfg(test)]
pub mod tests;
