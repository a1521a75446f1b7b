//! `flotilla logs TARGET...`: one container's logs, or a service's merged
//! across hosts, time-ordered, sanitized, optionally followed and filtered.

use std::io::{IsTerminal, Write};

use clap::Args;

use super::act::Resolved;
use super::{Cli, CliError, Exit, Selection};
use crate::fleet::{Fleet, FleetState, HostCommand, HostEvent, LogStream};
use crate::logs::{LogBuffer, LogLine, Search, SearchMode, Stream};

/// Lines held before printing a non-followed, merged result.
const MAX_BUFFERED_LINES: usize = 1_000_000;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Container names, Compose service names or id prefixes.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub select: Selection,
    /// Keep streaming new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from the end of each container's log.
    #[arg(short = 'n', long, default_value_t = 100)]
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
}

/// "10m" → now − 10 minutes; RFC 3339 → that instant; as unix seconds.
pub fn parse_since(text: &str, now: jiff::Timestamp) -> Result<i64, String> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    let d = humantime::parse_duration(text).map_err(|e| {
        format!("--since {text:?}: {e} (use e.g. 10m, 2h, or 2026-01-02T03:04:05Z)")
    })?;
    let secs =
        i64::try_from(d.as_secs()).map_err(|_| format!("--since {text:?} is too far back"))?;
    Ok(now.as_second() - secs)
}

fn grep(pattern: &str) -> Result<Search, CliError> {
    let (query, mode) = match pattern.strip_prefix("re:") {
        Some(q) => (q, SearchMode::Regex),
        None => (pattern, SearchMode::Plain),
    };
    Search::new(query, mode).map_err(|e| CliError::usage(format!("--grep: {e}")))
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
            let time = l.ts.map(crate::tui::logview::format_ts_nanos);
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
            let time = l.ts.map(crate::tui::logview::format_ts);
            write!(out, "{} ", time.unwrap_or_default())?;
        }
        writeln!(out, "{}", l.line.text)
    }
}

pub async fn run(cli: &Cli, args: &LogsArgs) -> Result<Exit, CliError> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, jiff::Timestamp::now()))
        .transpose()
        .map_err(CliError::usage)?;
    let grep = args.grep.as_deref().map(grep).transpose()?;
    let super::act::Targeted {
        state,
        mut fleet,
        targets,
        unreachable,
        settings,
    } = super::act::connect_to_targets(cli, &args.select, &args.targets, args.json).await?;
    let printer = Printer {
        json: args.json,
        timestamps: args.timestamps,
        prefix: targets.len() > 1,
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        grep,
    };
    for r in &targets {
        let cmd = HostCommand::FollowLogs {
            container_id: r.container.id.clone(),
            tail: args.tail,
            since,
            follow: args.follow,
            max_line_bytes: settings.log_max_line_bytes,
        };
        fleet.send(r.host, cmd).await;
    }
    let result = stream(&mut fleet, &state, &targets, &printer, args.follow).await;
    fleet.shutdown().await;
    result.map_err(|e| CliError {
        exit: Exit::Internal,
        message: format!("writing output: {e}"),
    })?;
    Ok(unreachable)
}

/// Prints lines until every stream ends. Without --follow the lines of all
/// containers are merged by time first; with it, they print as they come.
async fn stream(
    fleet: &mut Fleet,
    state: &FleetState,
    targets: &[Resolved],
    printer: &Printer,
    follow: bool,
) -> std::io::Result<()> {
    let mut open = targets.len();
    let mut buffer = LogBuffer::new(MAX_BUFFERED_LINES, usize::MAX);
    let stdout = std::io::stdout();
    while open > 0 {
        let Some(event) = fleet.events.recv().await else {
            break;
        };
        let host_name = &state.hosts[event.host].spec.name;
        let name_of = |id: &str| {
            targets
                .iter()
                .find(|r| r.host == event.host && r.container.id == id)
                .map(|r| r.container.name.clone())
        };
        match event.kind {
            HostEvent::Logs {
                container_id,
                lines,
            } => {
                let Some(name) = name_of(&container_id) else {
                    continue;
                };
                for raw in lines {
                    let stream = match raw.stream {
                        LogStream::Stdout => Stream::Stdout,
                        LogStream::Stderr => Stream::Stderr,
                    };
                    buffer.push_raw(host_name.as_str(), name.as_str(), stream, &raw.bytes);
                }
                if follow {
                    let mut out = stdout.lock();
                    for l in buffer.iter() {
                        printer.print(&mut out, l)?;
                    }
                    out.flush()?;
                    buffer.clear();
                }
            }
            HostEvent::LogsEnded {
                container_id,
                reason,
            } if name_of(&container_id).is_some() => {
                open -= 1;
                tracing::debug!(%container_id, %reason, "log stream ended");
            }
            _ => {}
        }
    }
    let mut out = stdout.lock();
    for l in buffer.iter() {
        printer.print(&mut out, l)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_timestamps() {
        let now: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().expect("ts");
        assert_eq!(parse_since("10m", now), Ok(now.as_second() - 600));
        assert_eq!(parse_since("2h", now), Ok(now.as_second() - 7200));
        assert_eq!(
            parse_since("2026-11-25T11:00:00Z", now),
            Ok(now.as_second() - 3600)
        );
        assert!(
            parse_since("yesterday-ish", now)
                .expect_err("bad")
                .contains("--since")
        );
    }

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
