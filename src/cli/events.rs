//! `flotilla events [TARGET...]`: Docker events of every host merged with
//! flotilla's audit records, in time order; `-f` keeps following.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use futures::StreamExt;

use super::{Cli, CliError, Exit, Selection, actor_config, load_inventory, select};
use crate::fleet::{Fleet, FleetState, HostId};
use crate::ops::AuditLog;
use crate::ops::timeline::{self, Entry};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Container names, Compose service names or id prefixes (default: everything).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub select: Selection,
    /// Start of the window: a duration ("10m", "2h") or an RFC 3339 time.
    #[arg(long, default_value = "10m", value_name = "WHEN")]
    pub since: String,
    /// End of the window (default: now).
    #[arg(long, value_name = "WHEN", conflicts_with = "follow")]
    pub until: Option<String>,
    /// Keep printing new events.
    #[arg(short, long)]
    pub follow: bool,
    /// One JSON object per line: time, host, source, type, action, container, service, detail.
    #[arg(long)]
    pub json: bool,
}

/// How often `-f` looks for new audit records.
const AUDIT_POLL: Duration = Duration::from_secs(1);

pub async fn run(cli: &Cli, args: &EventsArgs) -> Result<Exit, CliError> {
    let now = jiff::Timestamp::now();
    let since = crate::logs::parse_since(&args.since, now).map_err(CliError::usage)?;
    let until = match &args.until {
        Some(u) => crate::logs::parse_since(u, now)
            .map_err(|e| CliError::usage(e.replace("--since", "--until")))
            .and_then(|s| {
                jiff::Timestamp::from_second(s).map_err(|e| CliError::usage(e.to_string()))
            })?,
        None => now,
    };
    if until.as_second() < since {
        return Err(CliError::usage("--until is before --since"));
    }
    let inventory = select(&load_inventory(cli)?, &args.select)?;
    let mut state = FleetState::new(&inventory);
    let mut fleet = Fleet::spawn(&inventory, actor_config(cli));
    fleet.settle(&mut state).await;
    let mut exit = super::report_unreachable(&state, args.json);

    let (mut entries, failed) = timeline::fetch(
        timeline::connected(timeline::handles(&fleet, &state)),
        since,
        until,
    )
    .await;
    for (host, e) in &failed {
        exit = Exit::Unreachable;
        eprintln!("flotilla: {host}: events: {e}");
    }
    let audit = AuditLog::from_env();
    let mut audit_seen = i128::from(since) * 1_000_000_000 - 1;
    entries.extend(timeline::audit_entries(
        &audit,
        &state,
        audit_seen,
        until.as_nanosecond(),
    ));
    entries.retain(|e| timeline::matches(e, &args.targets));
    timeline::sort(&mut entries);
    let printer = Printer {
        json: args.json,
        color: !args.json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none(),
    };
    {
        let mut out = std::io::stdout().lock();
        for e in &entries {
            printer
                .print(&mut out, e)
                .map_err(|e| CliError::output(&e))?;
        }
        out.flush().map_err(|e| CliError::output(&e))?;
    }
    if !args.follow {
        return Ok(exit);
    }
    if let Some(last) = entries
        .iter()
        .filter(|e| e.source == crate::ops::timeline::Source::Audit)
        .map(|e| e.nanos)
        .max()
    {
        audit_seen = last;
    }
    let result = follow(&fleet, &state, args, &printer, &audit, until, audit_seen).await;
    fleet.shutdown().await;
    result.map(|()| Exit::Unreachable)
}

struct Printer {
    json: bool,
    color: bool,
}

impl Printer {
    fn print(&self, out: &mut impl Write, e: &Entry) -> std::io::Result<()> {
        if self.json {
            let line = serde_json::to_string(e).map_err(std::io::Error::other)?;
            return writeln!(out, "{line}");
        }
        let text = timeline::text(e);
        if self.color {
            // A stable colour per host name.
            let hue = 31
                + e.host
                    .bytes()
                    .fold(0u32, |a, b| a.wrapping_add(u32::from(b)))
                    % 6;
            writeln!(out, "\x1b[{hue}m{:<10}\x1b[0m {text}", e.host)
        } else {
            writeln!(out, "{:<10} {text}", e.host)
        }
    }
}

/// Prints new events of every host and new audit records until every host's
/// stream has ended (or the reader goes away).
async fn follow(
    fleet: &Fleet,
    state: &FleetState,
    args: &EventsArgs,
    printer: &Printer,
    audit: &AuditLog,
    from: jiff::Timestamp,
    mut audit_seen: i128,
) -> Result<(), CliError> {
    // Events up to `from` are printed already; the stream restarts at its second.
    let floor = from.as_nanosecond();
    let streams = state
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_up())
        .filter_map(|(hi, h): (HostId, _)| {
            let docker = fleet.docker(hi)?;
            let name = h.spec.name.clone();
            Some(
                docker
                    .events(Some(timeline::options(from.as_second(), None)))
                    .map(move |ev| (name.clone(), ev))
                    .boxed(),
            )
        });
    let mut merged = futures::stream::select_all(streams);
    let mut poll = tokio::time::interval(AUDIT_POLL);
    loop {
        tokio::select! {
            next = merged.next() => match next {
                Some((host, Ok(ev))) => {
                    let Some(e) = timeline::from_docker(&host, &ev) else { continue };
                    if e.nanos <= floor || !timeline::matches(&e, &args.targets) {
                        continue;
                    }
                    let mut out = std::io::stdout().lock();
                    printer.print(&mut out, &e).and_then(|()| out.flush()).map_err(|e| CliError::output(&e))?;
                }
                Some((host, Err(e))) => eprintln!("flotilla: {host}: events: {e}"),
                None => return Ok(()),
            },
            _ = poll.tick() => {
                let mut fresh = timeline::audit_entries(audit, state, audit_seen, i128::MAX);
                fresh.retain(|e| timeline::matches(e, &args.targets));
                timeline::sort(&mut fresh);
                let mut out = std::io::stdout().lock();
                for e in &fresh {
                    audit_seen = audit_seen.max(e.nanos);
                    printer.print(&mut out, e).map_err(|e| CliError::output(&e))?;
                }
                out.flush().map_err(|e| CliError::output(&e))?;
            }
        }
    }
}
