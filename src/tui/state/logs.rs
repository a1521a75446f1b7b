//! State of the logs view: one container, or one service merged across hosts.

use std::time::{Duration, Instant};

use crate::fleet::{HostCommand, HostId, LogStream, RawLogLine};
use crate::logs::{
    Cursor, LogBuffer, Search, Stream, filtered_indices, parse_docker_line, sanitize,
};

/// A stream that ends again this soon after being re-issued waits for the
/// container list to show the container running, instead of retrying at once.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Why a stream is re-issued, for the notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The host's session dropped and is back.
    Reconnect,
    /// The stream ended while the container is (again) running.
    Restart,
}

/// Follow state of one source's stream.
#[derive(Debug, Clone, Default)]
struct SourceStream {
    cursor: Cursor,
    /// The stream ended (container stopped, restarted, error).
    ended: bool,
    /// The host's session dropped; the actor dropped the stream with it.
    lost: bool,
    issued: Option<Instant>,
}

/// One container whose logs feed the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub host: HostId,
    pub host_name: String,
    pub container_id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct LogsState {
    pub title: String,
    pub sources: Vec<LogSource>,
    pub buffer: LogBuffer,
    /// Stick to the newest line.
    pub follow: bool,
    pub timestamps: bool,
    pub wrap: bool,
    pub search: Option<Search>,
    /// Show only matching lines (search always highlights, never hides, unless this is on).
    pub filter_mode: bool,
    /// First visible row (index into `visible()`) when not following.
    pub top: usize,
    /// Buffer index of the current search match.
    pub current: Option<usize>,
    /// Why streams ended, newest last.
    pub notices: Vec<String>,
    /// What was asked for first (used until a line gives a resume point).
    pub tail: u32,
    pub since: Option<i64>,
    pub max_line_bytes: usize,
    /// Per source, in `sources` order.
    streams: Vec<SourceStream>,
}

impl LogsState {
    pub fn new(title: String, sources: Vec<LogSource>, max_lines: usize, max_bytes: usize) -> Self {
        let now = Instant::now();
        let streams = sources
            .iter()
            .map(|_| SourceStream {
                issued: Some(now),
                ..SourceStream::default()
            })
            .collect();
        LogsState {
            tail: 500,
            since: None,
            max_line_bytes: crate::fleet::logs::DEFAULT_MAX_LINE_BYTES,
            streams,
            title,
            sources,
            buffer: LogBuffer::new(max_lines, max_bytes),
            follow: true,
            timestamps: false,
            wrap: false,
            search: None,
            filter_mode: false,
            top: 0,
            current: None,
            notices: Vec::new(),
        }
    }

    pub fn is_merged(&self) -> bool {
        self.sources.len() > 1
    }

    /// The command that (re)starts source `i`'s stream where it got to.
    fn command(&mut self, i: usize) -> Option<(HostId, HostCommand)> {
        let src = self.sources.get(i)?;
        let st = self.streams.get_mut(i)?;
        st.cursor.resume();
        st.issued = Some(Instant::now());
        st.ended = false;
        st.lost = false;
        let (tail, since) = match st.cursor.since() {
            // Everything since the last line's second; the cursor drops the replay.
            Some(s) => (u32::MAX, Some(s)),
            None => (self.tail, self.since),
        };
        let cmd = HostCommand::FollowLogs {
            container_id: src.container_id.clone(),
            tail,
            since,
            follow: true,
            max_line_bytes: self.max_line_bytes,
        };
        Some((src.host, cmd))
    }

    fn index_of(&self, host: HostId, container_id: &str) -> Option<usize> {
        self.sources
            .iter()
            .position(|s| s.host == host && s.container_id == container_id)
    }

    /// A stream ended. Returns the command that resumes it at once when the
    /// container is running and the stream had been up a while; otherwise it
    /// waits for [`LogsState::resume`].
    pub fn ended(
        &mut self,
        host: HostId,
        container_id: &str,
        reason: &str,
        running: bool,
    ) -> Option<(HostId, HostCommand)> {
        let i = self.index_of(host, container_id)?;
        let src = &self.sources[i];
        let st = &mut self.streams[i];
        let was_ended = st.ended;
        st.ended = true;
        let note = format!("{} on {}: {reason}", src.name, src.host_name);
        if !was_ended && self.notices.last() != Some(&note) {
            self.notices.push(note);
        }
        let settled = st.issued.is_none_or(|at| at.elapsed() >= RETRY_AFTER);
        if running && !st.lost && settled {
            let cmd = self.command(i);
            self.note_resumed(i, Resume::Restart);
            return cmd;
        }
        None
    }

    /// The host's session dropped: its streams are gone until it is back.
    pub fn lost(&mut self, host: HostId) {
        for i in 0..self.sources.len() {
            if self.sources[i].host == host && !self.streams[i].lost {
                self.streams[i].lost = true;
                let src = &self.sources[i];
                self.notices.push(format!(
                    "{} on {}: connection lost; resuming when it is back",
                    src.name, src.host_name
                ));
            }
        }
    }

    /// Commands that resume this host's stopped streams: all of them after a
    /// reconnect, the ended ones of running containers after a container list.
    pub fn resume(
        &mut self,
        host: HostId,
        why: Resume,
        running: impl Fn(&str) -> bool,
    ) -> Vec<(HostId, HostCommand)> {
        let mut out = Vec::new();
        for i in 0..self.sources.len() {
            let (src, st) = (&self.sources[i], &self.streams[i]);
            let due = match why {
                Resume::Reconnect => st.lost || (st.ended && running(&src.container_id)),
                Resume::Restart => st.ended && !st.lost && running(&src.container_id),
            };
            if src.host == host
                && due
                && let Some(cmd) = self.command(i)
            {
                self.note_resumed(i, why);
                out.push(cmd);
            }
        }
        out
    }

    fn note_resumed(&mut self, i: usize, why: Resume) {
        if let Some(src) = self.sources.get(i) {
            let how = match why {
                Resume::Reconnect => "stream resumed after reconnect",
                Resume::Restart => "stream resumed (container running)",
            };
            self.notices
                .push(format!("{} on {}: {how}", src.name, src.host_name));
        }
    }

    /// Feeds a batch from one host; unknown containers are ignored, and lines
    /// a resumed stream replays are dropped.
    pub fn push(&mut self, host: HostId, container_id: &str, lines: Vec<RawLogLine>) {
        let Some(i) = self.index_of(host, container_id) else {
            return;
        };
        let src = &self.sources[i];
        let (host_name, name) = (src.host_name.clone(), src.name.clone());
        for l in lines {
            let stream = match l.stream {
                LogStream::Stdout => Stream::Stdout,
                LogStream::Stderr => Stream::Stderr,
            };
            let (ts, rest) = parse_docker_line(&l.bytes);
            if !self.streams[i].cursor.admit(ts) {
                continue;
            }
            let out = self.buffer.push(
                host_name.as_str(),
                name.as_str(),
                stream,
                ts,
                sanitize(rest),
            );
            if out.evicted > 0 {
                self.top = self.top.saturating_sub(out.evicted);
                self.current = self.current.and_then(|c| c.checked_sub(out.evicted));
            }
        }
    }

    /// Buffer indices shown, in order (all lines, or matches in filter mode).
    pub fn visible(&self) -> Vec<usize> {
        match (&self.search, self.filter_mode) {
            (Some(search), true) => filtered_indices(&self.buffer, search),
            _ => (0..self.buffer.len()).collect(),
        }
    }

    /// First row to draw for a viewport of `height` rows.
    pub fn first_row(&self, visible_len: usize, height: usize) -> usize {
        let last_page = visible_len.saturating_sub(height);
        if self.follow {
            last_page
        } else {
            self.top.min(last_page)
        }
    }

    pub fn scroll(&mut self, delta: isize, height: usize) {
        let len = self.visible().len();
        let from = self.first_row(len, height);
        let last_page = len.saturating_sub(height);
        let to = from.saturating_add_signed(delta).min(last_page);
        self.top = to;
        self.follow = to >= last_page && delta > 0;
    }

    pub fn to_top(&mut self) {
        self.follow = false;
        self.top = 0;
    }

    pub fn to_bottom(&mut self) {
        self.follow = true;
    }

    pub fn toggle_follow(&mut self, height: usize) {
        if self.follow {
            let len = self.visible().len();
            self.top = self.first_row(len, height);
            self.follow = false;
        } else {
            self.follow = true;
        }
    }

    /// Sets (or clears, with an empty query) the search; jumps to the last match.
    pub fn set_search(&mut self, search: Option<Search>, height: usize) {
        self.search = search;
        self.current = None;
        if self.search.is_some() {
            self.jump(false, height);
        } else {
            self.filter_mode = false;
        }
    }

    /// Moves to the next (or previous) match, wrapping; returns false without matches.
    pub fn jump(&mut self, forward: bool, height: usize) -> bool {
        let Some(search) = &self.search else {
            return false;
        };
        let n = self.buffer.len();
        if n == 0 {
            return false;
        }
        let found = match (self.current, forward) {
            (Some(c), true) => search.find_next(&self.buffer, (c + 1) % n),
            (Some(c), false) => search.find_prev(&self.buffer, c.checked_sub(1).unwrap_or(n - 1)),
            // First jump: the newest match, where an on-call engineer looks first.
            (None, _) => search.find_prev(&self.buffer, n - 1),
        };
        let Some(index) = found else {
            return false;
        };
        self.current = Some(index);
        let visible = self.visible();
        let row = visible.iter().position(|i| *i == index).unwrap_or(0);
        self.follow = false;
        self.top = row.saturating_sub(height / 2);
        true
    }

    pub fn match_count(&self) -> usize {
        self.search
            .as_ref()
            .map_or(0, |s| s.match_count(&self.buffer))
    }

    /// Plain text of what the view shows, for saving to a file.
    pub fn export(&self) -> String {
        let mut out = String::new();
        for i in self.visible() {
            if let Some(l) = self.buffer.get(i) {
                if self.is_merged() {
                    out.push_str(&l.host);
                    out.push(' ');
                }
                if let Some(ts) = l.ts {
                    out.push_str(&crate::logs::format_ts(ts));
                    out.push(' ');
                }
                out.push_str(&l.line.text);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::SearchMode;

    fn raw(ts: &str, text: &str) -> RawLogLine {
        RawLogLine {
            stream: LogStream::Stdout,
            bytes: format!("{ts} {text}").into_bytes(),
        }
    }

    fn merged() -> LogsState {
        let src = |host: usize, name: &str| LogSource {
            host,
            host_name: format!("fleet-{}", host + 1),
            container_id: format!("id{host}"),
            name: name.into(),
        };
        LogsState::new(
            "web".into(),
            vec![src(0, "shop-web-1"), src(1, "shop-web-1")],
            100,
            1 << 20,
        )
    }

    #[test]
    fn merged_lines_are_time_ordered_across_hosts() {
        let mut s = merged();
        s.push(
            0,
            "id0",
            vec![
                raw("2026-01-01T00:00:01Z", "a1"),
                raw("2026-01-01T00:00:03Z", "a3"),
            ],
        );
        s.push(1, "id1", vec![raw("2026-01-01T00:00:02Z", "b2")]);
        s.push(7, "id9", vec![raw("2026-01-01T00:00:00Z", "ignored")]);
        let texts: Vec<&str> = s.buffer.iter().map(|l| l.line.text.as_str()).collect();
        assert_eq!(texts, ["a1", "b2", "a3"]);
        assert_eq!(s.buffer.get(1).map(|l| l.host.as_str()), Some("fleet-2"));
        assert!(
            s.export()
                .starts_with("fleet-1 2026-01-01T00:00:01.000Z a1\n"),
            "{}",
            s.export()
        );
    }

    fn texts(s: &LogsState) -> Vec<&str> {
        s.buffer.iter().map(|l| l.line.text.as_str()).collect()
    }

    #[test]
    fn a_reconnect_resumes_from_the_last_second_without_duplicates() {
        let mut s = merged();
        s.push(
            0,
            "id0",
            vec![
                raw("2026-01-01T00:00:01.5Z", "a"),
                raw("2026-01-01T00:00:02.25Z", "b"),
                raw("2026-01-01T00:00:02.25Z", "c"),
            ],
        );
        s.lost(0);
        assert!(
            s.notices
                .last()
                .is_some_and(|n| n.contains("connection lost"))
        );
        assert!(
            s.resume(1, Resume::Reconnect, |_| true).is_empty(),
            "other host"
        );
        let cmds = s.resume(0, Resume::Reconnect, |_| true);
        let since = "2026-01-01T00:00:02Z"
            .parse::<jiff::Timestamp>()
            .expect("ts")
            .as_second();
        assert_eq!(
            cmds,
            [(
                0,
                HostCommand::FollowLogs {
                    container_id: "id0".into(),
                    tail: u32::MAX,
                    since: Some(since),
                    follow: true,
                    max_line_bytes: s.max_line_bytes,
                }
            )]
        );
        assert_eq!(
            s.notices.last().map(String::as_str),
            Some("shop-web-1 on fleet-1: stream resumed after reconnect")
        );
        // Docker replays second 2 on; a third line shares c's timestamp.
        s.push(
            0,
            "id0",
            vec![
                raw("2026-01-01T00:00:02.25Z", "b"),
                raw("2026-01-01T00:00:02.25Z", "c"),
                raw("2026-01-01T00:00:02.25Z", "c2"),
                raw("2026-01-01T00:00:03Z", "d"),
            ],
        );
        assert_eq!(texts(&s), ["a", "b", "c", "c2", "d"]);
        assert!(s.resume(0, Resume::Reconnect, |_| true).is_empty(), "once");
    }

    #[test]
    fn an_ended_stream_resumes_when_its_container_runs_again() {
        let mut s = merged();
        s.push(0, "id0", vec![raw("2026-01-01T00:00:01Z", "a")]);
        // Just issued: don't hammer a container that is still stopping.
        assert_eq!(s.ended(0, "id0", "log stream ended", true), None);
        assert!(
            s.notices
                .last()
                .is_some_and(|n| n.ends_with("log stream ended"))
        );
        assert!(
            s.resume(0, Resume::Restart, |_| false).is_empty(),
            "stopped"
        );
        let cmds = s.resume(0, Resume::Restart, |id| id == "id0");
        assert_eq!(cmds.len(), 1);
        assert!(
            s.notices
                .last()
                .is_some_and(|n| n.ends_with("stream resumed (container running)"))
        );
        assert!(
            s.resume(0, Resume::Restart, |_| true).is_empty(),
            "live again"
        );
    }

    #[test]
    fn search_highlights_without_hiding_and_filter_mode_hides() {
        let mut s = merged();
        let lines = (0..20)
            .map(|i| {
                raw(
                    &format!("2026-01-01T00:00:{i:02}Z"),
                    if i % 5 == 0 { "ERROR x" } else { "ok" },
                )
            })
            .collect();
        s.push(0, "id0", lines);
        s.set_search(
            Some(Search::new("error", SearchMode::Plain).expect("search")),
            6,
        );
        assert_eq!(s.visible().len(), 20, "context stays visible");
        assert_eq!(s.current, Some(15), "newest match first");
        assert!(!s.follow);
        assert!(s.jump(true, 6));
        assert_eq!(s.current, Some(0), "wraps around");
        assert!(s.jump(false, 6));
        assert_eq!(s.current, Some(15));
        assert_eq!(s.match_count(), 4);
        s.filter_mode = true;
        assert_eq!(s.visible(), [0, 5, 10, 15]);
    }

    #[test]
    fn scrolling_leaves_follow_and_bottom_returns_to_it() {
        let mut s = merged();
        s.push(
            0,
            "id0",
            (0..50)
                .map(|i| raw(&format!("2026-01-01T00:00:{i:02}Z"), "x"))
                .collect(),
        );
        assert_eq!(s.first_row(50, 10), 40);
        s.scroll(-5, 10);
        assert!(!s.follow);
        assert_eq!(s.first_row(50, 10), 35);
        s.scroll(100, 10);
        assert!(s.follow, "scrolling to the end follows again");
        s.to_top();
        assert_eq!(s.first_row(50, 10), 0);
    }

    #[test]
    fn eviction_keeps_the_viewport_on_the_same_lines() {
        let mut s = merged();
        s.push(
            0,
            "id0",
            (0..100)
                .map(|i| raw(&format!("2026-01-01T00:{:02}:{:02}Z", i / 60, i % 60), "x"))
                .collect(),
        );
        s.follow = false;
        s.top = 50;
        s.push(
            0,
            "id0",
            (0..10)
                .map(|i| raw(&format!("2026-01-01T01:00:{i:02}Z"), "y"))
                .collect(),
        );
        assert_eq!(s.buffer.len(), 100);
        assert_eq!(s.top, 40);
    }
}
