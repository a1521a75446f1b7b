//! The timeline view: what changed across the fleet (Docker events and
//! flotilla's audit records), newest last; optionally narrowed to the
//! containers of a triage finding. It reads the last hour once, then
//! follows live: the hosts' event streams and the audit log's new records
//! are merged in as they come, in a bounded buffer. Like `less +F`, a cursor
//! on the newest entry follows; anywhere else it stays on its entry.

use super::{Ctx, Msg, delta, moved};
use crate::fleet::FleetState;
use crate::ops::AuditRecord;
use crate::ops::timeline::{self, Entry};
use crate::tui::action::Action;
use crate::tui::msg::AppEffect;

/// How far back the view looks.
pub const WINDOW_SECS: i64 = 3600;
/// Entries kept; the oldest go first.
pub const MAX_ENTRIES: usize = 5000;

#[derive(Debug, Clone, Default)]
pub struct TimelineState {
    pub entries: Vec<Entry>,
    pub selected: usize,
    /// Container or service names the view is narrowed to (empty: everything).
    pub targets: Vec<String>,
    pub loading: bool,
    /// Hosts whose events could not be read, with why.
    pub failed: Vec<(String, String)>,
    /// Entries that arrived after the cursor while it was held.
    pub new_below: usize,
    /// Live entries that came while the window was being read.
    pending: Vec<Entry>,
    /// Newest audit record shown (unix ns): the audit tail may hand over
    /// records the window read already.
    audit_seen: i128,
}

impl TimelineState {
    /// Asks for the window again (entering the view, or `targets` changed).
    pub fn load(&mut self, targets: Vec<String>) -> AppEffect {
        self.targets = targets;
        self.loading = true;
        self.pending.clear();
        AppEffect::LoadTimeline {
            targets: self.targets.clone(),
            since: jiff::Timestamp::now().as_second() - WINDOW_SECS,
        }
    }

    /// The loop's answer; what came live meanwhile is merged in, and the
    /// cursor goes to the newest entry.
    pub fn loaded(&mut self, mut entries: Vec<Entry>, failed: Vec<(String, String)>) {
        self.loading = false;
        let skip = entries.len().saturating_sub(MAX_ENTRIES);
        entries.drain(..skip);
        self.audit_seen = audit_max(&entries);
        self.entries = entries;
        self.failed = failed;
        self.selected = self.entries.len().saturating_sub(1);
        self.new_below = 0;
        for e in std::mem::take(&mut self.pending) {
            self.insert(e);
        }
    }

    /// Whether the cursor is on the newest entry (and so follows).
    pub fn following(&self) -> bool {
        self.selected + 1 >= self.entries.len()
    }

    /// A Docker event from `host`'s stream.
    pub fn docker(&mut self, host: &str, ev: &bollard::models::EventMessage) {
        if let Some(e) = timeline::from_docker(host, ev) {
            self.live(e);
        }
    }

    /// Records appended to the audit log (by anyone), newer than those shown.
    pub fn audit(&mut self, fleet: &FleetState, records: &[AuditRecord]) {
        for r in records {
            let Some(e) = timeline::audit_entry(fleet, r) else {
                continue;
            };
            if e.nanos <= self.audit_seen {
                continue;
            }
            self.audit_seen = e.nanos;
            self.live(e);
        }
    }

    fn live(&mut self, e: Entry) {
        if !timeline::matches(&e, &self.targets) {
            return;
        }
        if self.loading {
            self.pending.push(e);
        } else {
            self.insert(e);
        }
    }

    /// In time order (a slow host's event may be late); an entry already
    /// there (read with the window, then streamed) is not added twice.
    fn insert(&mut self, e: Entry) {
        let follow = self.following();
        let key = |x: &Entry| (x.nanos, x.host.clone(), x.source);
        let pos = self.entries.partition_point(|x| key(x) <= key(&e));
        let same = |x: &Entry| {
            x.nanos == e.nanos
                && x.host == e.host
                && x.source == e.source
                && x.action == e.action
                && x.container == e.container
        };
        if self.entries[..pos].iter().rev().take(8).any(same) {
            return;
        }
        self.entries.insert(pos, e);
        if follow {
            self.selected = self.entries.len() - 1;
        } else if pos <= self.selected {
            self.selected += 1;
        } else {
            self.new_below += 1;
        }
        if self.entries.len() > MAX_ENTRIES {
            let over = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..over);
            self.selected = self.selected.saturating_sub(over);
        }
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.selected = moved(self.selected, d, self.entries.len());
            if self.following() {
                self.new_below = 0;
            }
            return Vec::new();
        }
        match action {
            // Esc widens a narrowed timeline to the whole fleet.
            Action::Back if !self.targets.is_empty() => {
                vec![Msg::Effect(self.load(Vec::new()))]
            }
            Action::Open => match self.entries.get(self.selected) {
                Some(e) if e.source == crate::ops::timeline::Source::Audit => {
                    super::audit::kept_logs(
                        &e.host,
                        e.container.as_deref().unwrap_or("-"),
                        e.kept.as_deref(),
                    )
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

fn audit_max(entries: &[Entry]) -> i128 {
    entries
        .iter()
        .filter(|e| e.source == crate::ops::timeline::Source::Audit)
        .map(|e| e.nanos)
        .max()
        .unwrap_or(i128::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(secs: i64, host: &str, action: &str) -> Entry {
        Entry {
            time: String::new(),
            host: host.into(),
            source: crate::ops::timeline::Source::Docker,
            kind: "container".into(),
            action: action.into(),
            container: Some("web".into()),
            service: Some("web".into()),
            detail: String::new(),
            nanos: i128::from(secs) * 1_000_000_000,
            id: None,
            kept: None,
        }
    }

    fn actions(tl: &TimelineState) -> Vec<String> {
        tl.entries.iter().map(|e| e.action.clone()).collect()
    }

    fn loaded(n: i64) -> TimelineState {
        let mut tl = TimelineState::default();
        let _ = tl.load(Vec::new());
        tl.loaded(
            (0..n).map(|i| entry(i, "h1", "start")).collect(),
            Vec::new(),
        );
        tl
    }

    #[test]
    fn at_the_bottom_it_follows_elsewhere_it_holds_its_entry() {
        let mut tl = loaded(3);
        assert!(tl.following());
        tl.insert(entry(10, "h1", "die"));
        assert_eq!(tl.selected, 3, "followed to the newest");
        // Up one: held on entry 2 whatever arrives after it.
        tl.selected = 2;
        tl.insert(entry(11, "h1", "kill"));
        tl.insert(entry(12, "h2", "stop"));
        assert_eq!((tl.selected, tl.new_below), (2, 2));
        assert!(!tl.following());
        // A late event before the cursor shifts it, so it stays on its entry.
        let held = tl.entries[tl.selected].clone();
        tl.insert(entry(1, "h2", "oom"));
        assert_eq!(tl.entries[tl.selected], held);
        assert_eq!(
            actions(&tl),
            ["start", "start", "oom", "start", "die", "kill", "stop"]
        );
    }

    #[test]
    fn the_buffer_is_bounded_and_the_cursor_keeps_its_entry() {
        let mut tl = loaded(MAX_ENTRIES as i64 + 20);
        assert_eq!(tl.entries.len(), MAX_ENTRIES, "the window is cut too");
        assert_eq!(tl.entries[0].nanos, 20 * 1_000_000_000);
        tl.selected = 100;
        let held = tl.entries[100].clone();
        for i in 0..10 {
            tl.insert(entry(1_000_000 + i, "h1", "die"));
        }
        assert_eq!(tl.entries.len(), MAX_ENTRIES);
        assert_eq!(tl.entries[tl.selected], held);
        // Following: stays at the newest.
        tl.selected = tl.entries.len() - 1;
        tl.insert(entry(2_000_000, "h1", "start"));
        assert_eq!(tl.selected, MAX_ENTRIES - 1);
    }

    #[test]
    fn live_entries_while_loading_merge_once_and_follow_the_targets() {
        let mut tl = TimelineState::default();
        let _ = tl.load(vec!["web".into()]);
        let mut other = entry(6, "h1", "start");
        other.container = Some("db".into());
        other.service = Some("db".into());
        tl.live(entry(5, "h1", "die"));
        tl.live(other);
        // The window read the same event the stream brought: one row.
        tl.loaded(
            vec![entry(4, "h1", "start"), entry(5, "h1", "die")],
            Vec::new(),
        );
        assert_eq!(actions(&tl), ["start", "die"]);
        tl.live(entry(7, "h2", "restart"));
        assert_eq!(actions(&tl), ["start", "die", "restart"]);
        assert_eq!(tl.selected, 2);
    }

    #[test]
    fn audit_records_already_shown_are_not_added_again() {
        let fleet = crate::tui::testutil::sample_fleet();
        let rec = |t: &str, c: &str| AuditRecord {
            time: t.parse().expect("time"),
            user: "ana".into(),
            host: "fleet-1".into(),
            container: c.into(),
            action: "restart".into(),
            result: "ok".into(),
            logs: None,
        };
        let old = rec("2026-11-25T20:00:00Z", "shop-web-1");
        let mut tl = TimelineState::default();
        let _ = tl.load(Vec::new());
        tl.loaded(
            timeline::audit_entry(&fleet, &old).into_iter().collect(),
            Vec::new(),
        );
        let new = rec("2026-11-25T20:00:05Z", "shop-sick-1");
        let elsewhere = AuditRecord {
            host: "not-in-the-fleet".into(),
            ..new.clone()
        };
        tl.audit(&fleet, &[old, new, elsewhere]);
        let names: Vec<_> = tl.entries.iter().map(|e| e.container.clone()).collect();
        assert_eq!(
            names,
            [Some("shop-web-1".into()), Some("shop-sick-1".into())]
        );
        assert_eq!(tl.entries[1].service.as_deref(), Some("sick"));
    }
}
