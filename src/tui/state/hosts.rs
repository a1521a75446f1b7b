//! The hosts view: a cursor over the inventory.

use super::filter::Filter;
use super::{Ctx, Msg, delta, moved};
use crate::tui::action::Action;

#[derive(Debug, Clone, Default)]
pub struct HostsState {
    pub selected: usize,
}

impl HostsState {
    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.selected = moved(self.selected, d, ctx.fleet.hosts.len());
            return Vec::new();
        }
        match action {
            // Enter: that host's containers.
            Action::Open => ctx
                .fleet
                .hosts
                .get(self.selected)
                .map(|h| {
                    let filter = Filter::parse(&format!("host:{}", h.spec.name));
                    Msg::Containers(filter.unwrap_or_default())
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }
}
