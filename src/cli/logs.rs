//! `flotilla logs TARGET...`: one container's logs, or a service's merged
//! across hosts, time-ordered, sanitized, optionally followed and filtered.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Args;
use clap_complete::engine::ArgValueCandidates;

use super::{Cli, CliError, Exit, Selection};
use crate::fleet::Resolved;
use crate::fleet::{Fleet, FleetState, HostCommand, HostEvent, HostId, LogStream};
use crate::logs::{Cursor, KMerge, LogLine, Search, Stream, parse_docker_line, sanitize};

/// Look-ahead of the time-ordered merge of several containers, per container:
/// memory stays bounded whatever the size of the logs.
const MERGE_LINES: usize = 8192;
const MERGE_BYTES: usize = 8 * 1024 * 1024;
/// Output buffer (flushed after each batch, so `--follow` stays live).
const OUT_BUFFER: usize = 64 * 1024;

/// `-n`: a line count, or `all` (Docker's `--tail all`).
fn parse_tail(s: &str) -> Result<u32, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(ALL_LINES);
    }
    s.parse()
        .map_err(|_| format!("{s:?} is not a line count or \"all\""))
}

/// `-n all`, sent to Docker as `tail=all`.
pub const ALL_LINES: u32 = u32::MAX;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Container names, Compose service names or id prefixes.
    #[arg(required = true, value_name = "TARGET", add = ArgValueCandidates::new(super::completions::target_names))]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub select: Selection,
    /// Keep streaming new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from the end of each container's log, or `all`.
    #[arg(short = 'n', long, default_value = "100", value_parser = parse_tail, value_name = "N|all")]
    pub tail: u32,
    /// Only lines newer than this: a duration ("10m", "2h") or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Prefix lines with their timestamp.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only lines matching this (substring, smart case; `re:` prefix for a regex).
    #[arg(long, value_name = "PATTERN")]
    pub grep: Option<String>,
    /// One JSON object per line: host, container, stream, time, line.
    #[arg(long)]
    pub json: bool,
    /// With --follow: how long a host whose connection dropped may take to
    /// come back; its logs then resume where they stopped. Past it, exit 3.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub reconnect_timeout: String,
}

fn grep(pattern: &str) -> Result<Search, CliError> {
    Search::parse(pattern).map_err(|e| CliError::usage(format!("--grep: {e}")))
}

struct Printer {
    json: bool,
    timestamps: bool,
    prefix: bool,
    color: bool,
    grep: Option<Search>,
}

impl Printer {
    fn print(&self, out: &mut impl Write, l: &LogLine) -> std::io::Result<()> {
        if let Some(g) = &self.grep
            && !g.is_match(&l.line.text)
        {
            return Ok(());
        }
        if self.json {
            let time = l.ts.map(crate::logs::format_ts_nanos);
            let stream = match l.stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            let obj = serde_json::json!({
                "host": l.host, "container": l.container, "stream": stream,
                "time": time, "line": l.line.text,
            });
            return writeln!(out, "{obj}");
        }
        if self.prefix {
            if self.color {
                write!(out, "\x1b[36m{}\x1b[0m {} | ", l.host, l.container)?;
            } else {
                write!(out, "{} {} | ", l.host, l.container)?;
            }
        }
        if self.timestamps {
            let time = l.ts.map(crate::logs::format_ts);
            write!(out, "{} ", time.unwrap_or_default())?;
        }
        writeln!(out, "{}", l.line.text)
    }
}

pub async fn run(cli: &Cli, args: &LogsArgs) -> Result<Exit, CliError> {
    let since = args
        .since
        .as_deref()
        .map(|s| crate::logs::parse_since(s, jiff::Timestamp::now()))
        .transpose()
        .map_err(CliError::usage)?;
    let grep = args.grep.as_deref().map(grep).transpose()?;
    let budget = humantime::parse_duration(&args.reconnect_timeout).map_err(|e| {
        CliError::usage(format!(
            "--reconnect-timeout {:?}: {e} (use e.g. 60s, 5m)",
            args.reconnect_timeout
        ))
    })?;
    // Following survives a dropped session: the actors keep reconnecting.
    let mut cfg = crate::fleet::ActorConfig {
        reconnect: args.follow,
        ..super::actor_config(cli)
    };
    if args.follow {
        // Resuming needs to see the session drop, which only a session held
        // here shows; a long follow gains nothing from a persistent one.
        cfg.connect.persist = None;
    }
    let super::act::Targeted {
        state,
        mut fleet,
        targets,
        unreachable,
        settings,
    } = super::act::connect_to_targets_with(cli, &args.select, &args.targets, args.json, cfg)
        .await?;
    let printer = Printer {
        json: args.json,
        timestamps: args.timestamps,
        prefix: targets.len() > 1,
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        grep,
    };
    let request = Request {
        tail: args.tail,
        since,
        follow: args.follow,
        max_line_bytes: settings.log_max_line_bytes,
        budget,
    };
    let mut followed: Vec<Followed> = targets.iter().map(|_| Followed::default()).collect();
    for (r, f) in targets.iter().zip(&followed) {
        fleet.send(r.host, request.command(r, &f.cursor)).await;
    }
    let result = stream(
        &mut fleet,
        &state,
        &targets,
        &mut followed,
        &printer,
        &request,
    )
    .await;
    fleet.shutdown().await;
    let lost = result.map_err(|e| CliError::output(&e))?;
    Ok(if lost {
        unreachable.worst(Exit::Unreachable)
    } else {
        unreachable
    })
}

/// What was asked for, to ask again after a reconnect.
struct Request {
    tail: u32,
    since: Option<i64>,
    follow: bool,
    max_line_bytes: usize,
    /// How long a lost host may take to come back while following.
    budget: Duration,
}

impl Request {
    /// The first request, or the resume from where `cursor` got to.
    fn command(&self, r: &Resolved, cursor: &Cursor) -> HostCommand {
        let (tail, since) = match cursor.since() {
            // Everything since the last line's second; the cursor drops the replay.
            Some(s) => (u32::MAX, Some(s)),
            None => (self.tail, self.since),
        };
        HostCommand::FollowLogs {
            container_id: r.container.id.clone(),
            tail,
            since,
            follow: self.follow,
            max_line_bytes: self.max_line_bytes,
        }
    }
}

/// After a stream ends while following, how long to wait for the host to be
/// reported lost before taking the end as the container's (the stream and the
/// session notice a cut independently, in either order).
const END_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Phase {
    #[default]
    Live,
    /// The stream ended; until this deadline it may still turn out to be a lost session.
    Ending(Instant),
    /// The host is gone since then; resumed when it is back.
    Lost(Instant),
    Done,
}

/// One target's stream: where it got to and whether it is live.
#[derive(Default)]
struct Followed {
    cursor: Cursor,
    phase: Phase,
}

/// Prints lines until every stream ends. Without --follow the lines of all
/// containers are merged by time first; with it, they print as they come, and
/// streams of a host whose session drops are resumed when it is back (within
/// the budget). Returns whether some stream was lost for good.
async fn stream(
    fleet: &mut Fleet,
    state: &FleetState,
    targets: &[Resolved],
    followed: &mut [Followed],
    printer: &Printer,
    request: &Request,
) -> std::io::Result<bool> {
    let mut s = Streams {
        state,
        targets,
        followed,
        printer,
        request,
        // Without --follow: merged by time as lines arrive, printed as they
        // are released. With it: printed as they come.
        merge: KMerge::new(targets.len(), MERGE_LINES, MERGE_BYTES),
        seq: 0,
        up: state.hosts.iter().map(|h| h.is_up()).collect(),
        gave_up: false,
    };
    while s.followed.iter().any(|f| f.phase != Phase::Done) {
        let next_deadline = s.next_deadline();
        let timer = async {
            match next_deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            event = fleet.events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            () = timer => {
                s.on_deadline(Instant::now());
                continue;
            }
        };
        let host = event.host;
        match event.kind {
            HostEvent::Logs {
                container_id,
                lines,
            } => s.on_lines(host, &container_id, lines)?,
            HostEvent::LogsEnded {
                container_id,
                reason,
            } => s.on_ended(host, &container_id, &reason),
            HostEvent::Disconnected { reason, .. } => s.on_disconnected(host, &reason),
            HostEvent::Connected { .. } => s.on_connected(host, fleet).await,
            _ => {}
        }
        // A finished stream no longer holds the merge back.
        if !request.follow {
            let done: Vec<usize> = (0..s.followed.len())
                .filter(|i| s.followed[*i].phase == Phase::Done)
                .collect();
            s.release(&done)?;
        }
    }
    let all: Vec<usize> = (0..targets.len()).collect();
    s.release(&all)?;
    Ok(s.gave_up)
}

/// What `stream` keeps while it runs: each target's cursor and phase, which
/// hosts are up, the merge of lines not yet printed.
struct Streams<'a> {
    state: &'a FleetState,
    targets: &'a [Resolved],
    followed: &'a mut [Followed],
    printer: &'a Printer,
    request: &'a Request,
    merge: KMerge<LogLine>,
    seq: u64,
    up: Vec<bool>,
    gave_up: bool,
}

impl Streams<'_> {
    fn host_name(&self, h: HostId) -> &str {
        self.state.hosts[h].spec.name.as_str()
    }

    fn index_of(&self, host: HostId, id: &str) -> Option<usize> {
        self.targets
            .iter()
            .position(|r| r.host == host && r.container.id == id)
    }

    /// The next moment a stream's grace or budget runs out.
    fn next_deadline(&self) -> Option<Instant> {
        self.followed
            .iter()
            .filter_map(|f| match f.phase {
                Phase::Ending(at) => Some(at),
                Phase::Lost(since) => Some(since + self.request.budget),
                Phase::Live | Phase::Done => None,
            })
            .min()
    }

    fn on_deadline(&mut self, now: Instant) {
        for i in 0..self.targets.len() {
            let r = &self.targets[i];
            match self.followed[i].phase {
                // The host is still up: the container's stream really ended.
                Phase::Ending(at) if at <= now && self.up[r.host] => {
                    self.followed[i].phase = Phase::Done;
                }
                Phase::Ending(at) if at <= now => self.followed[i].phase = Phase::Lost(now),
                Phase::Lost(since) if since + self.request.budget <= now => {
                    eprintln!(
                        "flotilla: {}: did not come back within {}; stopped following {}",
                        self.host_name(r.host),
                        humantime::format_duration(self.request.budget),
                        r.container.name
                    );
                    self.followed[i].phase = Phase::Done;
                    self.gave_up = true;
                }
                _ => {}
            }
        }
    }

    fn on_lines(
        &mut self,
        host: HostId,
        container_id: &str,
        lines: Vec<crate::fleet::event::RawLogLine>,
    ) -> std::io::Result<()> {
        let Some(i) = self.index_of(host, container_id) else {
            return Ok(());
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(OUT_BUFFER, stdout.lock());
        for raw in lines {
            let stream = match raw.stream {
                LogStream::Stdout => Stream::Stdout,
                LogStream::Stderr => Stream::Stderr,
            };
            let (ts, rest) = parse_docker_line(&raw.bytes);
            if !self.followed[i].cursor.admit(ts) {
                continue;
            }
            let line = LogLine {
                seq: self.seq,
                host: self.host_name(host).to_owned(),
                container: self.targets[i].container.name.clone(),
                stream,
                ts,
                line: sanitize(rest),
            };
            self.seq += 1;
            if self.request.follow {
                self.printer.print(&mut out, &line)?;
            } else {
                self.merge.push(i, ts, raw.bytes.len(), line);
                while let Some(l) = self.merge.pop() {
                    self.printer.print(&mut out, &l)?;
                }
            }
        }
        out.flush()
    }

    fn on_ended(&mut self, host: HostId, container_id: &str, reason: &str) {
        let Some(i) = self.index_of(host, container_id) else {
            return;
        };
        tracing::debug!(%container_id, %reason, "log stream ended");
        let follow = self.request.follow;
        let f = &mut self.followed[i];
        f.phase = match f.phase {
            Phase::Live if follow && self.up[host] => Phase::Ending(Instant::now() + END_GRACE),
            Phase::Live if follow => Phase::Lost(Instant::now()),
            Phase::Lost(since) => Phase::Lost(since),
            _ => Phase::Done,
        };
    }

    fn on_disconnected(&mut self, host: HostId, reason: &str) {
        self.up[host] = false;
        let follow = self.request.follow;
        let mut lost = Vec::new();
        for (r, f) in self.targets.iter().zip(self.followed.iter_mut()) {
            if r.host == host && matches!(f.phase, Phase::Live | Phase::Ending(_)) {
                f.phase = if follow {
                    Phase::Lost(Instant::now())
                } else {
                    self.gave_up = true;
                    Phase::Done
                };
                lost.push(r.container.name.as_str());
            }
        }
        if !lost.is_empty() {
            let what = if follow {
                "resuming logs when it is back…"
            } else {
                "logs may be incomplete"
            };
            eprintln!(
                "flotilla: {}: connection lost ({reason}); {what}",
                self.host_name(host)
            );
        }
    }

    async fn on_connected(&mut self, host: HostId, fleet: &Fleet) {
        self.up[host] = true;
        let mut resumed = false;
        for (r, f) in self.targets.iter().zip(self.followed.iter_mut()) {
            if r.host == host && matches!(f.phase, Phase::Lost(_) | Phase::Ending(_)) {
                // The actor dropped the old stream with the session.
                f.cursor.resume();
                fleet.send(host, self.request.command(r, &f.cursor)).await;
                f.phase = Phase::Live;
                resumed = true;
            }
        }
        if resumed {
            eprintln!("flotilla: {}: resumed following logs", self.host_name(host));
        }
    }

    /// Closes the merge's `done` streams and prints what that releases.
    fn release(&mut self, done: &[usize]) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(OUT_BUFFER, stdout.lock());
        for i in done {
            self.merge.close(*i);
        }
        while let Some(l) = self.merge.pop() {
            self.printer.print(&mut out, &l)?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogBuffer;

    #[test]
    fn json_time_keeps_nanoseconds_and_order_within_a_millisecond() {
        let mut buf = LogBuffer::default();
        // Same millisecond, arriving out of order (two hosts).
        buf.push_raw(
            "b",
            "c",
            Stream::Stdout,
            b"2026-01-01T00:00:00.000000200Z second",
        );
        buf.push_raw(
            "a",
            "c",
            Stream::Stdout,
            b"2026-01-01T00:00:00.000000100Z first",
        );
        let printer = Printer {
            json: true,
            timestamps: false,
            prefix: true,
            color: false,
            grep: None,
        };
        let mut out = Vec::new();
        for l in buf.iter() {
            printer.print(&mut out, l).expect("print");
        }
        let text = String::from_utf8(out).expect("utf8");
        let times: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                format!(
                    "{} {}",
                    v["time"].as_str().unwrap_or("-"),
                    v["line"].as_str().unwrap_or("-")
                )
            })
            .collect();
        assert_eq!(
            times,
            [
                "2026-01-01T00:00:00.000000100Z first",
                "2026-01-01T00:00:00.000000200Z second"
            ]
        );
    }

    #[test]
    fn tail_takes_a_count_or_all() {
        assert_eq!(parse_tail("all"), Ok(ALL_LINES));
        assert_eq!(parse_tail("ALL"), Ok(ALL_LINES));
        assert_eq!(parse_tail("25"), Ok(25));
        assert!(parse_tail("-1").is_err());
        assert!(parse_tail("lots").is_err());
    }

    #[test]
    fn grep_supports_regex_prefix_and_reports_bad_patterns() {
        assert!(grep("re:^ERR").expect("regex").is_match("ERROR x"));
        assert!(!grep("re:^ERR").expect("regex").is_match("an ERROR"));
        assert!(
            grep("error").expect("plain").is_match("an ERROR"),
            "smart case"
        );
        assert!(grep("re:(").is_err());
    }
}
