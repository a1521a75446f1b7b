//! The audit view: the records read from the audit log, and a cursor.

use super::{Ctx, Msg, delta, moved};
use crate::ops::AuditRecord;
use crate::tui::action::Action;

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
        Vec::new()
    }
}
