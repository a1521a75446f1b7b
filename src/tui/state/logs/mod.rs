//! State of the logs view: one container, or one service merged across hosts.

use std::time::{Duration, Instant};

use super::{Ctx, Msg, container_action, delta};
use crate::fleet::{FleetState, HostCommand, HostId, LogStream, RawLogLine};
use crate::logs::{
    Cursor, LogBuffer, Search, Stream, filtered_indices, parse_docker_line, sanitize,
};
use crate::tui::action::Action;
use crate::tui::msg::RowKey;
use crate::tui::msg::{AppEffect, InputKind, Overlay, Settings};

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

/// Every container on a reachable host that `pick(host name, container)` accepts.
pub fn log_sources(
    fleet: &FleetState,
    pick: impl Fn(&str, &crate::fleet::ContainerInfo) -> bool,
) -> Vec<LogSource> {
    let mut out = Vec::new();
    for (i, h) in fleet.hosts.iter().enumerate().filter(|(_, h)| h.is_up()) {
        for c in h.containers.iter().filter(|c| pick(&h.spec.name, c)) {
            out.push(LogSource {
                host: i,
                host_name: h.spec.name.clone(),
                container_id: c.id.clone(),
                name: c.name.clone(),
            });
        }
    }
    out
}

/// Logs of every container whose name or service is `name`, merged.
pub fn logs_by_name(fleet: &FleetState, name: &str) -> Msg {
    let sources = log_sources(fleet, |_, c| c.name == name || c.service() == name);
    if sources.is_empty() {
        return Msg::Fail(format!(
            "no container or service named {name:?} on a reachable host"
        ));
    }
    let title = if sources.len() == 1 {
        format!("{} @ {}", sources[0].name, sources[0].host_name)
    } else {
        format!("{name} (merged, {} hosts)", sources.len())
    };
    Msg::Logs { title, sources }
}

impl LogsState {
    /// A view of lines read from a file (a removed container's kept logs):
    /// no sources, nothing follows.
    pub fn kept(
        title: String,
        headings: &[&str],
        lines: &[crate::ops::deploy::kept::KeptLine],
        settings: &Settings,
    ) -> LogsState {
        let mut logs = LogsState::new(title, Vec::new(), settings.log_lines, settings.log_bytes);
        logs.timestamps = lines.iter().any(|l| l.time.is_some());
        // Unstamped and first, so they stay on top: what and why, the state
        // and health checks.
        for h in headings {
            logs.buffer.push(
                "",
                "",
                Stream::Stdout,
                None,
                sanitize(format!("# {h}").as_bytes()),
            );
        }
        for l in lines {
            let stream = match l.stream {
                Some(LogStream::Stderr) => Stream::Stderr,
                _ => Stream::Stdout,
            };
            logs.buffer
                .push("", "", stream, l.time, sanitize(l.text.as_bytes()));
        }
        logs
    }
}

/// Follows every source with `tail` lines (since `since`); returns the view
/// and the commands.
pub fn open(
    title: String,
    sources: Vec<LogSource>,
    (tail, since): (u32, Option<i64>),
    settings: &Settings,
) -> (LogsState, Vec<AppEffect>) {
    let effects = sources
        .iter()
        .map(|s| {
            AppEffect::Host(
                s.host,
                HostCommand::FollowLogs {
                    container_id: s.container_id.clone(),
                    tail,
                    since,
                    follow: true,
                    max_line_bytes: settings.log_max_line_bytes,
                },
            )
        })
        .collect();
    let mut logs = LogsState::new(title, sources, settings.log_lines, settings.log_bytes);
    (logs.tail, logs.since) = (tail, since);
    logs.max_line_bytes = settings.log_max_line_bytes;
    (logs, effects)
}

impl LogsState {
    /// Stops this view's streams, one command per host.
    pub fn stop(&self) -> Vec<AppEffect> {
        let mut hosts: Vec<HostId> = self.sources.iter().map(|s| s.host).collect();
        hosts.dedup();
        hosts
            .into_iter()
            .map(|h| AppEffect::Host(h, HostCommand::StopLogs))
            .collect()
    }

    /// `:since 10m` / `:tail 2000`: the window to refetch, and the title's suffix.
    pub fn window(
        cmd: &str,
        arg: &str,
        settings: &Settings,
    ) -> Result<((u32, Option<i64>), String), String> {
        if cmd == "tail" {
            let tail = arg
                .parse::<u32>()
                .map_err(|_| format!(":tail needs a number of lines, not {arg:?}"))?;
            Ok(((tail, None), format!("tail {tail}")))
        } else {
            // Everything in the window, up to the buffer's size.
            let all = u32::try_from(settings.log_lines).unwrap_or(u32::MAX);
            let since = crate::logs::parse_since(arg, jiff::Timestamp::now())?;
            Ok(((all, Some(since)), format!("since {arg}")))
        }
    }

    /// `/` submitted: search (plain, or `re:PATTERN`), or clear with nothing.
    pub fn submit_search(&mut self, text: &str, page: usize) -> Vec<Msg> {
        if text.is_empty() {
            self.set_search(None, page);
            return Vec::new();
        }
        match Search::parse(text) {
            Ok(s) => {
                let query = s.query().to_owned();
                self.set_search(Some(s), page);
                let n = self.match_count();
                vec![Msg::Say(format!("{n} match(es) for {query:?}"))]
            }
            Err(e) => vec![Msg::Fail(e.to_string())],
        }
    }

    /// A file name for `ctrl-s`, from the title and the time.
    fn save_name(&self) -> String {
        let name: String = self
            .title
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S");
        format!("flotilla-{name}-{stamp}.log")
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        let page = ctx.page;
        if let Some(act) = container_action(action) {
            let keys = self
                .sources
                .iter()
                .map(|s| RowKey {
                    host: s.host,
                    id: s.container_id.clone(),
                })
                .collect();
            return vec![Msg::Confirm(act, keys)];
        }
        match action {
            Action::Top => self.to_top(),
            Action::Bottom => self.to_bottom(),
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                if let Some(d) = delta(action, page) {
                    self.scroll(d, page);
                }
            }
            Action::Back => return vec![Msg::Back],
            Action::Find => {
                let text = self
                    .search
                    .as_ref()
                    .map(|s| s.query().to_owned())
                    .unwrap_or_default();
                return vec![Msg::Overlay(Overlay::Input {
                    kind: InputKind::Search,
                    text,
                })];
            }
            Action::NextMatch | Action::PrevMatch
                if !self.jump(action == Action::NextMatch, page) =>
            {
                return vec![Msg::Fail("no match".into())];
            }
            Action::Follow => self.toggle_follow(page),
            Action::Timestamps => self.timestamps = !self.timestamps,
            Action::Wrap => self.wrap = !self.wrap,
            Action::FilterMode => {
                if self.search.is_none() {
                    return vec![Msg::Fail(
                        "search first (/), then F shows only matching lines".into(),
                    )];
                }
                self.filter_mode = !self.filter_mode;
                self.follow = true;
            }
            Action::SaveLogs => {
                return vec![Msg::Overlay(Overlay::Input {
                    kind: InputKind::SavePath,
                    text: self.save_name(),
                })];
            }
            _ => {}
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests;
