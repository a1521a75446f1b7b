//! Resuming a followed log stream without duplicates.
//!
//! Docker's `since` is whole seconds, so a re-issued follow asks for
//! `floor(last timestamp)` and drops, client-side, every line older than the
//! last one seen, plus as many lines *at* that timestamp as were already seen
//! (several lines can share one nanosecond timestamp).

use super::buffer::Nanos;

const NANOS_PER_SEC: Nanos = 1_000_000_000;

/// How far one container's stream got.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// Newest timestamp seen.
    last: Option<Nanos>,
    /// Lines seen with exactly `last`.
    at_last: usize,
    /// While resuming: lines at `last` still to drop as already shown.
    skip: Option<usize>,
}

impl Cursor {
    /// Whether any timestamped line was seen (so a resume can use `since`).
    pub fn has_position(&self) -> bool {
        self.last.is_some()
    }

    /// Unix seconds to ask Docker for: the second of the last line seen.
    pub fn since(&self) -> Option<i64> {
        self.last
            .and_then(|t| i64::try_from(t.div_euclid(NANOS_PER_SEC)).ok())
    }

    /// A new stream from `since()` starts now: drop what was already seen.
    pub fn resume(&mut self) {
        if self.last.is_some() {
            self.skip = Some(self.at_last);
        }
    }

    /// Whether a line with this timestamp is new; records it if so.
    pub fn admit(&mut self, ts: Option<Nanos>) -> bool {
        if let (Some(skip), Some(last), Some(t)) = (self.skip, self.last, ts) {
            if t < last {
                return false;
            }
            if t == last && skip > 0 {
                self.skip = Some(skip - 1);
                return false;
            }
        }
        // Past the old position (or an untimed line): the replay is over.
        self.skip = None;
        match (ts, self.last) {
            (Some(t), Some(last)) if t == last => self.at_last += 1,
            (Some(t), Some(last)) if t < last => {}
            (Some(t), _) => {
                self.last = Some(t);
                self.at_last = 1;
            }
            (None, _) => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = NANOS_PER_SEC;

    #[test]
    fn resume_drops_exactly_what_was_seen() {
        let mut c = Cursor::default();
        assert_eq!(c.since(), None);
        // Three lines share one timestamp; the stream drops after two of them.
        for t in [5 * S + 1, 7 * S + 3, 7 * S + 3] {
            assert!(c.admit(Some(t)));
        }
        assert_eq!(c.since(), Some(7));
        c.resume();
        // Docker replays from second 7.
        let replay = [7 * S, 7 * S + 3, 7 * S + 3, 7 * S + 3, 7 * S + 9, 8 * S];
        let kept: Vec<bool> = replay.iter().map(|t| c.admit(Some(*t))).collect();
        assert_eq!(kept, [false, false, false, true, true, true]);
        // A second drop right after: the third same-timestamp line is known.
        c.resume();
        let kept: Vec<bool> = [7 * S + 3, 7 * S + 9, 8 * S, 8 * S + 1]
            .iter()
            .map(|t| c.admit(Some(*t)))
            .collect();
        assert_eq!(kept, [false, false, false, true]);
    }

    #[test]
    fn nothing_seen_means_nothing_dropped() {
        let mut c = Cursor::default();
        c.resume();
        assert!(c.admit(Some(3 * S)));
        assert!(c.admit(None));
        assert!(!c.has_position() || c.since() == Some(3));
    }

    #[test]
    fn untimed_lines_pass_and_negative_times_floor() {
        let mut c = Cursor::default();
        assert!(c.admit(Some(-1)));
        assert_eq!(c.since(), Some(-1));
        c.resume();
        assert!(c.admit(None), "untimed lines are never dropped");
        assert!(c.admit(Some(-1)), "the replay ended at the untimed line");
    }
}
