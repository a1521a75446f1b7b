//! A k-way merge of time-ordered log streams with bounded look-ahead: a line
//! is released once every open stream has a line queued (so the earliest
//! head is the earliest line overall), or once some stream has queued more
//! than its bound (then the earliest queued line goes, so memory stays
//! bounded even while another stream is silent or slow).

use std::collections::VecDeque;

use super::Nanos;

pub struct KMerge<T> {
    sources: Vec<Source<T>>,
    max_lines: usize,
    max_bytes: usize,
}

struct Source<T> {
    queue: VecDeque<(Nanos, T, usize)>,
    bytes: usize,
    open: bool,
    /// Key of the last line pushed: untimed lines sort with it, after it.
    last: Nanos,
}

impl<T> KMerge<T> {
    /// `sources` streams, each holding at most `max_lines` lines and about
    /// `max_bytes` bytes before lines are released regardless of the others.
    pub fn new(sources: usize, max_lines: usize, max_bytes: usize) -> Self {
        KMerge {
            sources: (0..sources)
                .map(|_| Source {
                    queue: VecDeque::new(),
                    bytes: 0,
                    open: true,
                    last: Nanos::MIN,
                })
                .collect(),
            max_lines: max_lines.max(1),
            max_bytes,
        }
    }

    /// Queues a line of stream `src` (lines of one stream arrive in order).
    pub fn push(&mut self, src: usize, ts: Option<Nanos>, cost: usize, item: T) {
        let Some(s) = self.sources.get_mut(src) else {
            return;
        };
        // A clock step back within one stream must not reorder that stream.
        let key = ts.map_or(s.last, |t| t.max(s.last));
        s.last = key;
        s.bytes += cost;
        s.queue.push_back((key, item, cost));
    }

    /// Stream `src` has ended: the others no longer wait for it.
    pub fn close(&mut self, src: usize) {
        if let Some(s) = self.sources.get_mut(src) {
            s.open = false;
        }
    }

    /// The next line that can be released now, in time order.
    pub fn pop(&mut self) -> Option<T> {
        let complete = self.sources.iter().all(|s| !s.open || !s.queue.is_empty());
        let overfull = || {
            self.sources
                .iter()
                .any(|s| s.queue.len() >= self.max_lines || s.bytes > self.max_bytes)
        };
        if !complete && !overfull() {
            return None;
        }
        // Earliest head; on a tie the lower stream index goes first.
        let src = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.queue.front().map(|(key, _, _)| (*key, i)))
            .min()?
            .1;
        let s = &mut self.sources[src];
        let (_, item, cost) = s.queue.pop_front()?;
        s.bytes -= cost;
        Some(item)
    }

    /// Lines held right now.
    pub fn queued(&self) -> usize {
        self.sources.iter().map(|s| s.queue.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &mut KMerge<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| m.pop()).collect()
    }

    #[test]
    fn waits_for_every_open_stream_then_releases_in_time_order() {
        let mut m = KMerge::new(2, 100, usize::MAX);
        m.push(0, Some(10), 1, "a10");
        m.push(0, Some(30), 1, "a30");
        assert_eq!(
            drain(&mut m),
            Vec::<&str>::new(),
            "stream 1 may still send older lines"
        );
        m.push(1, Some(20), 1, "b20");
        assert_eq!(drain(&mut m), ["a10", "b20"]);
        m.push(1, Some(40), 1, "b40");
        assert_eq!(drain(&mut m), ["a30"]);
        m.close(0);
        assert_eq!(drain(&mut m), ["b40"]);
        assert_eq!(m.queued(), 0);
    }

    #[test]
    fn ties_go_to_the_lower_stream_and_untimed_lines_stay_with_their_stream() {
        let mut m = KMerge::new(2, 100, usize::MAX);
        m.push(1, Some(5), 1, "b5");
        m.push(1, None, 1, "b-untimed");
        m.push(0, Some(5), 1, "a5");
        m.push(0, Some(7), 1, "a7");
        m.close(0);
        m.close(1);
        assert_eq!(drain(&mut m), ["a5", "b5", "b-untimed", "a7"]);
    }

    #[test]
    fn look_ahead_is_bounded_by_lines_and_bytes() {
        let mut m = KMerge::new(2, 3, usize::MAX);
        for (t, l) in [(1, "a1"), (2, "a2")] {
            m.push(0, Some(t), 1, l);
        }
        assert!(m.pop().is_none());
        m.push(0, Some(3), 1, "a3");
        // Stream 1 is silent, but stream 0 is at its bound: release.
        assert_eq!(m.pop(), Some("a1"));
        assert_eq!(m.pop(), None, "back under the bound");
        assert_eq!(m.queued(), 2);

        let mut m = KMerge::new(2, 1000, 10);
        m.push(0, Some(1), 6, "big1");
        assert!(m.pop().is_none());
        m.push(0, Some(2), 6, "big2");
        assert_eq!(m.pop(), Some("big1"));
        assert!(m.pop().is_none());
    }

    #[test]
    fn merges_many_streams_like_a_sort() {
        let k = 5;
        let mut m = KMerge::new(k, 4, usize::MAX);
        let mut out = Vec::new();
        // Interleaved arrival, each stream sorted: t = i * k + src.
        for i in 0..50i128 {
            for src in 0..k {
                m.push(
                    src,
                    Some(i * k as i128 + src as i128),
                    1,
                    i * k as i128 + src as i128,
                );
                out.extend(std::iter::from_fn(|| m.pop()));
            }
        }
        for src in 0..k {
            m.close(src);
        }
        out.extend(std::iter::from_fn(|| m.pop()));
        let expected: Vec<i128> = (0..50 * k as i128).collect();
        assert_eq!(out, expected);
    }
}
