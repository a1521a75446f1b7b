//! The audit view: the records read from the audit log, and a cursor.

use super::{Ctx, Msg, delta, moved};
use crate::ops::AuditRecord;
use crate::tui::action::Action;
use crate::tui::msg::AppEffect;

#[derive(Debug, Clone, Default)]
pub struct AuditState {
    /// Oldest first; the Deploy view lists its service's last deploys from here.
    pub records: Vec<AuditRecord>,
    pub selected: usize,
}

impl AuditState {
    /// A fresh read of the log: the cursor goes to the newest record.
    pub fn loaded(&mut self, records: Vec<AuditRecord>) {
        self.records = records;
        self.selected = self.records.len().saturating_sub(1);
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.selected = moved(self.selected, d, self.records.len());
        }
        match (action, self.records.get(self.selected)) {
            (Action::Open, Some(r)) => kept_logs(&r.host, &r.container, r.logs.as_deref()),
            _ => Vec::new(),
        }
    }
}

/// Enter on a record that kept a removed container's logs: read them into
/// the Logs view; on any other record, say why nothing opens.
pub fn kept_logs(host: &str, container: &str, path: Option<&str>) -> Vec<Msg> {
    match path {
        Some(path) => vec![Msg::Effect(AppEffect::ReadKept {
            title: format!("kept logs: {container} @ {host}"),
            path: path.to_owned(),
        })],
        None => vec![Msg::Say(
            "no kept logs here (a deploy keeps those of the containers it removes)".into(),
        )],
    }
}
