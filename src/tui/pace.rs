//! When to draw. A frame costs a couple of milliseconds (a whole table laid
//! out and diffed); an idle fleet of 20 hosts answers lists and stats a few
//! times a second. So input is answered with a frame at once, while changes
//! from the fleet wait for the next frame slot: at most one frame per `gap`.

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

/// The shortest time between frames drawn for fleet changes in `view`:
/// following logs wants motion, the tables want to stay cheap when idle.
pub fn gap(view: View) -> Duration {
    match view {
        View::Logs => Duration::from_millis(100),
        _ => Duration::from_secs(1),
    }
}

/// Whether `ev`, not yet applied to `app`'s fleet state, changes the screen.
pub fn cause(ev: &AppEvent, view: View, fleet: &FleetState) -> Cause {
    match ev {
        AppEvent::StatsTick => Cause::None,
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
    /// A fleet change not drawn yet.
    dirty: bool,
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
            dirty: true,
        }
    }

    /// Notes the causes of a batch of events; true when a frame is due now.
    pub fn note(&mut self, cause: Cause, now: Instant, gap: Duration) -> bool {
        match cause {
            Cause::None => {}
            Cause::Background => self.dirty = true,
            Cause::Input => return true,
        }
        self.dirty && self.last.is_none_or(|last| now >= last + gap)
    }

    /// When the pending fleet change is to be drawn, if there is one.
    pub fn due(&self, gap: Duration) -> Option<Instant> {
        match (self.dirty, self.last) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, Some(last)) => Some(last + gap),
        }
    }

    /// A frame was drawn at `now`: everything pending is on screen.
    pub fn drawn(&mut self, now: Instant) {
        self.last = Some(now);
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testutil::sample_fleet;

    const GAP: Duration = Duration::from_secs(1);

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
            p.note(Cause::None, t0, GAP),
            "the first frame is due at once"
        );
        p.drawn(t0);
        assert_eq!(p.due(GAP), None);

        let soon = t0 + Duration::from_millis(200);
        assert!(!p.note(Cause::Background, soon, GAP));
        assert_eq!(p.due(GAP), Some(t0 + GAP));
        assert!(
            !p.note(Cause::Background, soon, GAP),
            "still one pending frame"
        );

        assert!(p.note(Cause::Input, soon, GAP), "a key is answered at once");
        p.drawn(soon);
        assert_eq!(p.due(GAP), None, "that frame showed the fleet change too");

        let later = soon + GAP;
        assert!(p.note(Cause::Background, later, GAP), "a slot is free");
        p.drawn(later);
        assert!(!p.note(Cause::None, later + GAP, GAP), "nothing pending");
    }
}
