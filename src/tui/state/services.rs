//! The services × hosts matrix: a row (service) and a column (host) cursor.

use super::logs::logs_by_name;
use super::{Ctx, Msg, delta, moved};
use crate::fleet::FleetState;
use crate::tui::action::Action;

#[derive(Debug, Clone, Default)]
pub struct ServicesState {
    pub row: usize,
    pub col: usize,
}

impl ServicesState {
    /// The service of the selected row.
    pub fn selected(&self, fleet: &FleetState) -> Option<String> {
        fleet.service_names().get(self.row).cloned()
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.row = moved(self.row, d, ctx.fleet.service_names().len());
            return Vec::new();
        }
        match action {
            Action::Left => self.col = self.col.saturating_sub(1),
            Action::Right => {
                let cols = ctx.fleet.hosts.len().max(1);
                self.col = (self.col + 1).min(cols - 1);
            }
            // Enter: the service's logs, merged across hosts.
            Action::Open => {
                if let Some(name) = self.selected(ctx.fleet) {
                    return vec![logs_by_name(ctx.fleet, &name)];
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
