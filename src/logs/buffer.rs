//! Bounded, time-ordered store of log lines merged from many hosts.

use std::collections::VecDeque;

use super::sanitize::{StyledLine, sanitize};

/// Timestamp: nanoseconds since the Unix epoch, UTC.
///
/// `i128` so that any RFC 3339 year fits and so it converts losslessly to and
/// from `jiff::Timestamp::{from_nanosecond, as_nanosecond}`.
pub type Nanos = i128;

/// Default line cap of a [`LogBuffer`].
pub const DEFAULT_MAX_LINES: usize = 10_000;
/// Default byte cap of a [`LogBuffer`] (16 MiB).
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Arrival number: unique and increasing across evictions and `clear`.
    /// Buffer order is timestamp order, so `seq` need not increase by index.
    pub seq: u64,
    pub host: String,
    pub container: String,
    pub stream: Stream,
    pub ts: Option<Nanos>,
    pub line: StyledLine,
}

impl LogLine {
    /// Approximate memory held by this line, inline plus heap.
    fn cost(&self) -> usize {
        std::mem::size_of::<Entry>()
            + self.host.capacity()
            + self.container.capacity()
            + self.line.heap_bytes()
    }
}

/// What [`LogBuffer::push`] did, so a view can keep its scroll position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOutcome {
    pub seq: u64,
    /// Final index of the new line, or `None` if it was evicted at once
    /// (older than everything in a full buffer).
    pub index: Option<usize>,
    /// How many lines were evicted from the front (indices shift down by it).
    pub evicted: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Sort key: the timestamp, or for untimed lines the key of the line that
    /// was last when they arrived, which keeps the deque sorted by key.
    key: Nanos,
    cost: usize,
    line: LogLine,
}

/// Ring buffer of log lines, ordered by timestamp, bounded by a line count and
/// a byte estimate; whichever limit is hit first evicts the oldest lines.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    entries: VecDeque<Entry>,
    max_lines: usize,
    max_bytes: usize,
    bytes: usize,
    next_seq: u64,
    evicted: u64,
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINES, DEFAULT_MAX_BYTES)
    }
}

impl LogBuffer {
    /// A buffer keeping at most `max_lines` lines (at least 1) and roughly
    /// `max_bytes` bytes. The newest line is always kept even if it alone
    /// exceeds `max_bytes`, so a huge line is still visible.
    pub fn new(max_lines: usize, max_bytes: usize) -> Self {
        let max_lines = max_lines.max(1);
        Self {
            // Don't preallocate a huge default; grow with use.
            entries: VecDeque::with_capacity(max_lines.min(1024)),
            max_lines,
            max_bytes,
            bytes: 0,
            next_seq: 0,
            evicted: 0,
        }
    }

    /// Insert a line in timestamp order.
    ///
    /// Equal timestamps keep arrival order (so each host's own order is kept);
    /// lines without a timestamp go at the end. An in-order line is an O(1)
    /// append; a late one is found by galloping back from the end, so the cost
    /// is O(log d) for a line that belongs d places from the end (plus the
    /// deque shift of d elements).
    pub fn push(
        &mut self,
        host: impl Into<String>,
        container: impl Into<String>,
        stream: Stream,
        ts: Option<Nanos>,
        line: StyledLine,
    ) -> PushOutcome {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = match ts {
            Some(t) => t,
            None => self.entries.back().map_or(Nanos::MIN, |e| e.key),
        };
        let line = LogLine {
            seq,
            host: host.into(),
            container: container.into(),
            stream,
            ts,
            line,
        };
        let cost = line.cost();
        let pos = self.insert_pos(key);
        self.entries.insert(pos, Entry { key, cost, line });
        self.bytes += cost;

        let mut evicted = 0;
        while self.entries.len() > self.max_lines
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            match self.entries.pop_front() {
                Some(e) => {
                    self.bytes -= e.cost;
                    evicted += 1;
                }
                None => break,
            }
        }
        self.evicted += evicted as u64;
        PushOutcome {
            seq,
            index: pos.checked_sub(evicted),
            evicted,
        }
    }

    /// Parse Docker's optional timestamp prefix, sanitize the rest and push.
    pub fn push_raw(
        &mut self,
        host: impl Into<String>,
        container: impl Into<String>,
        stream: Stream,
        raw: &[u8],
    ) -> PushOutcome {
        let (ts, rest) = parse_docker_line(raw);
        self.push(host, container, stream, ts, sanitize(rest))
    }

    /// Index after the last entry whose key is <= `key` (upper bound).
    fn insert_pos(&self, key: Nanos) -> usize {
        let n = self.entries.len();
        let key_at = |i: usize| self.entries.get(i).map_or(Nanos::MAX, |e| e.key);
        if n == 0 || key_at(n - 1) <= key {
            return n;
        }
        // Invariant: the answer is in lo..=hi and key_at(hi) > key.
        let mut hi = n - 1;
        let mut step = 1;
        let mut lo = loop {
            if hi < step {
                break 0;
            }
            let probe = hi - step;
            if key_at(probe) <= key {
                break probe + 1;
            }
            hi = probe;
            step *= 2;
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key_at(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lines oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> + ExactSizeIterator + '_ {
        self.entries.iter().map(|e| &e.line)
    }

    pub fn get(&self, index: usize) -> Option<&LogLine> {
        self.entries.get(index).map(|e| &e.line)
    }

    /// Maximum number of lines kept.
    pub fn capacity(&self) -> usize {
        self.max_lines
    }

    /// Byte budget (an estimate, see [`LogBuffer::bytes`]).
    pub fn byte_capacity(&self) -> usize {
        self.max_bytes
    }

    /// Estimated memory held by the stored lines.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lines dropped by the caps since creation or the last `clear`.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Remove every line. `seq` keeps counting so it stays unique.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.evicted = 0;
    }
}

/// Split Docker's `timestamps=true` prefix (`2024-01-02T03:04:05.123456789Z `,
/// RFC 3339 with 0-9 fraction digits, `Z` or a `±HH:MM` offset) from the
/// line. Without a valid prefix followed by a space (or the end of input) the
/// line is returned whole with `None`.
pub fn parse_docker_line(raw: &[u8]) -> (Option<Nanos>, &[u8]) {
    let Some((ts, used)) = parse_rfc3339(raw) else {
        return (None, raw);
    };
    match raw.get(used) {
        None => (Some(ts), &[]),
        Some(b' ') => (Some(ts), raw.get(used + 1..).unwrap_or_default()),
        Some(_) => (None, raw),
    }
}

/// Parse an RFC 3339 timestamp at the start of `b`; returns it and the number
/// of bytes used.
fn parse_rfc3339(b: &[u8]) -> Option<(Nanos, usize)> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(r)?;
        let mut v = 0i64;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
        }
        Some(v)
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));

    let year = num(0..4)?;
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let min = num(14..16)?;
    let sec = num(17..19)?;
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }

    let mut i = 19;
    let mut frac: i64 = 0;
    if sep(i, b".") {
        i += 1;
        let start = i;
        let mut scale = 100_000_000;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            // Digits past nanosecond precision are accepted but ignored.
            frac += i64::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }

    let offset_secs = match b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        &s @ (b'+' | b'-') => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if !sep(i + 3, b":") || oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let off = oh * 3600 + om * 60;
            if s == b'-' { -off } else { off }
        }
        _ => return None,
    };

    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some((Nanos::from(secs) * 1_000_000_000 + Nanos::from(frac), i))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    fn push_ts(buf: &mut LogBuffer, host: &str, ts: Option<Nanos>, text: &str) -> PushOutcome {
        buf.push(host, "c", Stream::Stdout, ts, StyledLine::unstyled(text))
    }

    fn texts(buf: &LogBuffer) -> Vec<&str> {
        buf.iter().map(|l| l.line.text.as_str()).collect()
    }

    #[test]
    fn evicts_by_line_count() {
        let mut buf = LogBuffer::new(3, usize::MAX);
        for i in 0..5 {
            push_ts(&mut buf, "h", Some(i), &format!("l{i}"));
        }
        assert_eq!(texts(&buf), ["l2", "l3", "l4"]);
        assert_eq!(buf.len(), 3);
        assert_eq!(buf.capacity(), 3);
        assert_eq!(buf.evicted(), 2);
    }

    #[test]
    fn evicts_by_bytes() {
        let mut probe = LogBuffer::new(100, usize::MAX);
        push_ts(&mut probe, "h", Some(0), "0123456789");
        let one = probe.bytes();
        assert!(one > 10);

        let mut buf = LogBuffer::new(100, one * 2);
        for i in 0..5 {
            push_ts(&mut buf, "h", Some(i), "0123456789");
        }
        assert_eq!(buf.len(), 2);
        assert_eq!(buf.evicted(), 3);
        assert!(buf.bytes() <= buf.byte_capacity());
        assert_eq!(buf.get(0).map(|l| l.ts), Some(Some(3)));
    }

    #[test]
    fn oversized_line_is_kept_alone() {
        let mut buf = LogBuffer::new(100, 10);
        push_ts(&mut buf, "h", Some(0), "a");
        let out = push_ts(&mut buf, "h", Some(1), &"x".repeat(1000));
        assert_eq!(buf.len(), 1);
        assert_eq!(out.index, Some(0));
        assert_eq!(out.evicted, 1);
    }

    #[test]
    fn seq_is_monotonic_across_eviction_and_clear() {
        let mut buf = LogBuffer::new(2, usize::MAX);
        let seqs: Vec<u64> = (0..5)
            .map(|i| push_ts(&mut buf, "h", Some(i), "x").seq)
            .collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
        assert_eq!(buf.iter().map(|l| l.seq).collect::<Vec<_>>(), [3, 4]);
        buf.clear();
        assert!(buf.is_empty());
        assert_eq!(buf.bytes(), 0);
        assert_eq!(buf.evicted(), 0);
        assert_eq!(push_ts(&mut buf, "h", None, "x").seq, 5);
    }

    #[test]
    fn merges_interleaved_hosts_by_time() {
        let mut buf = LogBuffer::default();
        // Each host in its own order; arrival interleaved arbitrarily.
        let arrivals = [
            ("a", 10, "a1"),
            ("a", 20, "a2"),
            ("b", 5, "b1"),
            ("a", 30, "a3"),
            ("b", 15, "b2"),
            ("c", 20, "c1"), // ties a2: arrives later, goes after it
            ("b", 25, "b3"),
            ("b", 40, "b4"),
            ("c", 1, "c0?"), // very late, goes first
        ];
        for (h, t, s) in arrivals {
            push_ts(&mut buf, h, Some(t * S), s);
        }
        assert_eq!(
            texts(&buf),
            ["c0?", "b1", "a1", "b2", "a2", "c1", "b3", "a3", "b4"]
        );
        let ts: Vec<_> = buf.iter().map(|l| l.ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn push_reports_index_for_view_adjustment() {
        let mut buf = LogBuffer::new(3, usize::MAX);
        assert_eq!(push_ts(&mut buf, "a", Some(10), "x").index, Some(0));
        assert_eq!(push_ts(&mut buf, "a", Some(30), "y").index, Some(1));
        assert_eq!(push_ts(&mut buf, "b", Some(20), "z").index, Some(1));
        // Full: a line older than everything is evicted immediately.
        let out = push_ts(&mut buf, "b", Some(5), "old");
        assert_eq!((out.index, out.evicted), (None, 1));
        // A mid line evicts the front and lands one lower.
        let out = push_ts(&mut buf, "b", Some(25), "mid");
        assert_eq!((out.index, out.evicted), (Some(1), 1));
        assert_eq!(texts(&buf), ["z", "mid", "y"]);
    }

    #[test]
    fn untimed_lines_go_to_the_end() {
        let mut buf = LogBuffer::default();
        push_ts(&mut buf, "a", None, "n0");
        push_ts(&mut buf, "a", Some(10), "t10");
        push_ts(&mut buf, "a", None, "n1");
        push_ts(&mut buf, "a", Some(5), "t5");
        push_ts(&mut buf, "a", Some(10), "t10b");
        assert_eq!(texts(&buf), ["n0", "t5", "t10", "n1", "t10b"]);
    }

    #[test]
    fn many_late_lines_stay_sorted() {
        // Deterministic pseudo-random jitter exercises the galloping search.
        let mut buf = LogBuffer::new(10_000, usize::MAX);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..5_000i128 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let jitter = Nanos::from((x % 200) as u16);
            push_ts(&mut buf, "h", Some(i * 10 - jitter), "x");
        }
        let ts: Vec<_> = buf.iter().map(|l| l.ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(buf.len(), 5_000);
    }

    #[test]
    fn parses_docker_timestamp_prefix() {
        let (ts, rest) = parse_docker_line(b"2024-01-02T03:04:05.123456789Z hello world");
        // `date -u -d 2024-01-02T03:04:05Z +%s` = 1704164645
        assert_eq!(ts, Some(1_704_164_645 * S + 123_456_789));
        assert_eq!(rest, b"hello world");

        assert_eq!(
            parse_docker_line(b"1970-01-01T00:00:00Z x"),
            (Some(0), &b"x"[..])
        );
        // Go's RFC3339Nano trims trailing zeros.
        assert_eq!(
            parse_docker_line(b"1970-01-01T00:00:01.5Z x").0,
            Some(S + 500_000_000)
        );
        // Offsets are normalised to UTC.
        assert_eq!(parse_docker_line(b"1970-01-01T01:00:00+01:00 x").0, Some(0));
        assert_eq!(
            parse_docker_line(b"1969-12-31T23:59:59.999999999Z x").0,
            Some(-1)
        );
        // Leap day; empty line after the prefix.
        let (ts, rest) = parse_docker_line(b"2024-02-29T00:00:00Z ");
        assert_eq!(ts, Some(1_709_164_800 * S));
        assert!(rest.is_empty());
        assert_eq!(parse_docker_line(b"2024-02-29T00:00:00Z").1, b"");
    }

    #[test]
    fn rejects_non_timestamps() {
        for raw in [
            &b"hello"[..],
            b"",
            b"2023-02-29T00:00:00Z x",
            b"2024-13-01T00:00:00Z x",
            b"2024-01-01T24:00:00Z x",
            b"2024-01-01T00:00:00 x",
            b"2024-01-01T00:00:00.Z x",
            b"2024-01-01T00:00:00Zx",
            b"2024-01-01 00:00:00Z x",
        ] {
            assert_eq!(
                parse_docker_line(raw),
                (None, raw),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn push_raw_parses_and_sanitizes() {
        let mut buf = LogBuffer::default();
        buf.push_raw(
            "h",
            "c",
            Stream::Stderr,
            b"1970-01-01T00:00:02Z \x1b[31merr\x1b[0m",
        );
        buf.push_raw("h", "c", Stream::Stdout, b"1970-01-01T00:00:01Z ok");
        assert_eq!(texts(&buf), ["ok", "err"]);
        let err = buf.get(1).expect("line");
        assert_eq!((err.ts, err.stream), (Some(2 * S), Stream::Stderr));
        assert_eq!(err.line.spans.len(), 1);
        assert!(buf.get(2).is_none());
    }
}
