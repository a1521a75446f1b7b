//! When to draw. A frame costs a couple of milliseconds (a whole table laid
//! out and diffed); an idle fleet of 20 hosts answers lists and stats a few
//! times a second. So input is answered with a frame at once, while changes
//! from the fleet wait for the next frame slot: at most one frame per `gap`,
//! and not before the change has had `settle` to gather company (the answers
//! to one stats tick arrive from 20 hosts within a few hundred ms: one frame).

use std::time::Duration;

use tokio::time::Instant;

use super::app::{AppEvent, View};
use crate::fleet::{FleetEvent, FleetState, HostEvent};

/// Why an event wants a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// Nothing on screen changes.
    None,
    /// The fleet changed: the next frame slot is soon enough.
    Background,
    /// The user (or an answer the user waits for): draw now.
    Input,
}

/// When fleet changes are drawn in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The shortest time between frames drawn for fleet changes.
    pub gap: Duration,
    /// How long the first change waits for the rest of its burst.
    pub settle: Duration,
}

/// Following logs wants motion; the tables want to stay cheap when idle.
pub fn slot(view: View) -> Slot {
    match view {
        View::Logs => Slot {
            gap: Duration::from_millis(100),
            settle: Duration::ZERO,
        },
        _ => Slot {
            gap: Duration::from_secs(1),
            settle: Duration::from_millis(300),
        },
    }
}

/// Whether `ev`, not yet applied to `app`'s fleet state, changes the screen.
pub fn cause(ev: &AppEvent, view: View, fleet: &FleetState) -> Cause {
    match ev {
        AppEvent::StatsTick | AppEvent::TopTick => Cause::None,
        AppEvent::TopRead(_) => Cause::Background,
        AppEvent::Fleet(FleetEvent { host, kind }) => match kind {
            // Outside the Timeline, the list refresh a Docker event causes is the change.
            HostEvent::DockerEvent(_) if view != View::Timeline => Cause::None,
            // A periodic re-list that found what is shown already (only the Hosts
            // view shows the round-trip time it also carries).
            HostEvent::Containers { containers, .. }
                if view != View::Hosts
                    && fleet
                        .hosts
                        .get(*host)
                        .is_some_and(|h| h.listed && !h.stale && h.containers == *containers) =>
            {
                Cause::None
            }
            _ => Cause::Background,
        },
        _ => Cause::Input,
    }
}

/// Frame bookkeeping of the TUI loop.
#[derive(Debug)]
pub struct Pacer {
    last: Option<Instant>,
    /// When the oldest fleet change not drawn yet arrived.
    since: Option<Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

impl Pacer {
    /// The first frame is due at once.
    pub fn new() -> Pacer {
        Pacer {
            last: None,
            since: None,
        }
    }

    /// Something is not on screen yet: a fleet change, or the first frame.
    fn pending(&self) -> bool {
        self.last.is_none() || self.since.is_some()
    }

    /// Notes the causes of a batch of events; true when a frame is due now.
    pub fn note(&mut self, cause: Cause, now: Instant, slot: Slot) -> bool {
        match cause {
            Cause::None => {}
            Cause::Background => {
                self.since.get_or_insert(now);
            }
            Cause::Input => return true,
        }
        self.pending()
            && self
                .last
                .is_none_or(|last| now >= self.slot_after(last, slot))
    }

    /// The earliest time for a frame that follows the one at `last`.
    fn slot_after(&self, last: Instant, slot: Slot) -> Instant {
        let settled = self.since.map_or(last, |since| since + slot.settle);
        settled.max(last + slot.gap)
    }

    /// When the pending fleet change is to be drawn, if there is one.
    pub fn due(&self, slot: Slot) -> Option<Instant> {
        if !self.pending() {
            return None;
        }
        let Some(last) = self.last else {
            // The first frame.
            return Some(Instant::now());
        };
        Some(self.slot_after(last, slot))
    }

    /// A frame was drawn at `now`: everything pending is on screen.
    pub fn drawn(&mut self, now: Instant) {
        self.last = Some(now);
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testutil::sample_fleet;

    const GAP: Duration = Duration::from_secs(1);
    const SLOT: Slot = Slot {
        gap: GAP,
        settle: Duration::ZERO,
    };

    fn listed(fleet: &FleetState, host: usize) -> AppEvent {
        AppEvent::Fleet(FleetEvent {
            host,
            kind: HostEvent::Containers {
                containers: fleet.hosts[host].containers.clone(),
                rtt: Duration::from_millis(3),
            },
        })
    }

    #[test]
    fn a_relist_that_found_the_same_rows_draws_nothing() {
        let mut fleet = sample_fleet();
        let same = listed(&fleet, 0);
        assert_eq!(cause(&same, View::Containers, &fleet), Cause::None);
        // The Hosts view shows the round-trip time the list measured.
        assert_eq!(cause(&same, View::Hosts, &fleet), Cause::Background);
        // fleet-3 is down: its first list after reconnecting is news.
        assert_eq!(
            cause(&listed(&fleet, 2), View::Containers, &fleet),
            Cause::Background
        );
        let before = listed(&fleet, 0);
        fleet.hosts[0].containers[0].status = "Up 2 hours".into();
        assert_eq!(cause(&before, View::Containers, &fleet), Cause::Background);
    }

    #[test]
    fn keys_draw_at_once_and_the_stats_tick_never() {
        let fleet = sample_fleet();
        let key = AppEvent::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('j'),
        ));
        assert_eq!(cause(&key, View::Containers, &fleet), Cause::Input);
        assert_eq!(
            cause(&AppEvent::StatsTick, View::Containers, &fleet),
            Cause::None
        );
    }

    #[test]
    fn fleet_changes_wait_for_the_next_slot_and_input_does_not() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        assert!(
            p.note(Cause::None, t0, SLOT),
            "the first frame is due at once"
        );
        p.drawn(t0);
        assert_eq!(p.due(SLOT), None);

        let soon = t0 + Duration::from_millis(200);
        assert!(!p.note(Cause::Background, soon, SLOT));
        assert_eq!(p.due(SLOT), Some(t0 + GAP));
        assert!(
            !p.note(Cause::Background, soon, SLOT),
            "still one pending frame"
        );

        assert!(
            p.note(Cause::Input, soon, SLOT),
            "a key is answered at once"
        );
        p.drawn(soon);
        assert_eq!(p.due(SLOT), None, "that frame showed the fleet change too");

        let later = soon + GAP;
        assert!(p.note(Cause::Background, later, SLOT), "a slot is free");
        p.drawn(later);
        assert!(!p.note(Cause::None, later + GAP, SLOT), "nothing pending");
    }

    #[test]
    fn a_burst_of_changes_after_a_quiet_spell_is_one_frame() {
        let slot = Slot {
            gap: GAP,
            settle: Duration::from_millis(300),
        };
        let t0 = Instant::now();
        let mut p = Pacer::new();
        p.drawn(t0);
        // Quiet for 5 s, then the first stats answer: it waits for the others.
        let first = t0 + Duration::from_secs(5);
        assert!(!p.note(Cause::Background, first, slot));
        assert_eq!(p.due(slot), Some(first + slot.settle));
        let second = first + Duration::from_millis(120);
        assert!(!p.note(Cause::Background, second, slot));
        assert_eq!(
            p.due(slot),
            Some(first + slot.settle),
            "later answers do not push the frame back"
        );
        assert!(p.note(Cause::None, first + slot.settle, slot));
        p.drawn(first + slot.settle);
        // A change right after that frame still waits for the gap.
        let next = first + slot.settle + Duration::from_millis(10);
        assert!(!p.note(Cause::Background, next, slot));
        assert_eq!(p.due(slot), Some(first + slot.settle + GAP));
    }
}
