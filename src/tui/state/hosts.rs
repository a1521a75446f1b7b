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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::msg::Settings;
    use crate::tui::testutil::sample_fleet;

    #[test]
    fn the_cursor_stays_on_the_inventory_without_an_app() {
        let fleet = sample_fleet();
        let settings = Settings::default();
        let ctx = Ctx {
            fleet: &fleet,
            settings: &settings,
            page: 10,
            compose: &Default::default(),
        };
        let mut hosts = HostsState::default();
        assert!(hosts.handle(Action::PageDown, &ctx).is_empty());
        assert_eq!(hosts.selected, 2);
        hosts.handle(Action::Up, &ctx);
        let msgs = hosts.handle(Action::Open, &ctx);
        let [Msg::Containers(filter)] = msgs.as_slice() else {
            panic!("containers filter expected: {msgs:?}");
        };
        assert_eq!(filter.text(), "host:fleet-2");
    }
}
