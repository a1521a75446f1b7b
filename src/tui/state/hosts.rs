//! The hosts view: a cursor over the inventory, and Docker's disk usage
//! per host, read in the background while the view is open (at most every
//! `DISK_EVERY`: the daemon sizes every container for it), one read at a time.

use super::filter::Filter;
use super::{Ctx, Msg, delta, moved};
use crate::tui::action::Action;
use crate::tui::msg::{AppEffect, DiskReading};

#[derive(Debug, Clone, Default)]
pub struct HostsState {
    pub selected: usize,
    /// The last read of each host's Docker disk usage.
    pub disks: DiskReading,
    reading: bool,
    /// Asked for during a read (a host came up): read again after it.
    again: bool,
}

impl HostsState {
    /// Time for a disk read: one now, or one after the read under way.
    pub fn disk_tick(&mut self) -> Vec<Msg> {
        if self.reading {
            self.again = true;
            return Vec::new();
        }
        self.reading = true;
        vec![Msg::Effect(AppEffect::ReadDisks)]
    }

    /// A disk read came back; a host not in it (down) keeps its last figures.
    pub fn disks_read(&mut self, reading: DiskReading) -> Vec<Msg> {
        self.reading = false;
        self.disks.extend(reading);
        if std::mem::take(&mut self.again) {
            return self.disk_tick();
        }
        Vec::new()
    }

    /// A host connected: read its disk usage now if the view shows none yet.
    pub fn connected(&mut self, host: &str) -> Vec<Msg> {
        if self.disks.contains_key(host) {
            return Vec::new();
        }
        self.disk_tick()
    }

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

    #[test]
    fn one_disk_read_at_a_time_and_one_more_when_a_host_came_up_meanwhile() {
        let mut hosts = HostsState::default();
        let read = |msgs: &[Msg]| matches!(msgs, [Msg::Effect(AppEffect::ReadDisks)]);
        assert!(read(&hosts.disk_tick()));
        assert!(hosts.connected("fleet-1").is_empty(), "under way");
        let got: DiskReading = [("fleet-1".to_owned(), Err("refused".to_owned()))].into();
        assert!(read(&hosts.disks_read(got)), "fleet-1 came up meanwhile");
        let got: DiskReading = [("fleet-2".to_owned(), Ok(Default::default()))].into();
        assert!(hosts.disks_read(got).is_empty());
        assert_eq!(
            hosts.disks.len(),
            2,
            "a host not read keeps its last figures"
        );
        assert!(hosts.connected("fleet-2").is_empty(), "already shown");
        assert!(read(&hosts.connected("fleet-3")));
    }
}
