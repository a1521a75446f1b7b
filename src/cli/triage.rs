//! `flotilla triage`: what is broken across the fleet right now, ranked.

use std::collections::BTreeMap;

use clap::Args;

use super::{
    Cli, CliError, Exit, Selection, actor_config, load_inventory, print_json, select, table,
};
use crate::fleet::{Fleet, FleetState, HostCommand, HostEvent};
use crate::logs::plain;
use crate::ops::triage::{self, ErrorCount, Finding};

#[derive(Debug, Args)]
pub struct TriageArgs {
    #[command(flatten)]
    pub select: Selection,
    /// How far back to scan logs for error bursts.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub window: String,
    /// Skip the log scan (one request per running container).
    #[arg(long)]
    pub no_logs: bool,
    /// Print a JSON array of findings.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print a Markdown incident snapshot to paste into the incident channel.
    #[arg(long)]
    pub markdown: bool,
}

/// Lines scanned per container for the error burst check.
const SCAN_TAIL: u32 = 1000;

pub async fn run(cli: &Cli, args: &TriageArgs) -> Result<Exit, CliError> {
    let since =
        crate::logs::parse_since(&args.window, jiff::Timestamp::now()).map_err(CliError::usage)?;
    let inventory = select(&load_inventory(cli)?, &args.select)?;
    let mut state = FleetState::new(&inventory);
    let mut cfg = actor_config(cli);
    cfg.inspect = true;
    let mut fleet = Fleet::spawn(&inventory, cfg);
    fleet.settle(&mut state).await;
    let errors = if args.no_logs {
        BTreeMap::new()
    } else {
        scan_logs(&mut fleet, &state, since).await
    };
    fleet.shutdown().await;

    let findings = triage::assess(&state, &errors);
    if args.json {
        print_json(&findings)?;
    } else if args.markdown {
        print!(
            "{}",
            triage::markdown(
                &state,
                &findings,
                &jiff::Timestamp::now()
                    .strftime("%Y-%m-%d %H:%M:%S UTC")
                    .to_string()
            )
        );
    } else {
        print_table(&state, &findings);
    }
    Ok(if findings.is_empty() {
        Exit::Ok
    } else {
        Exit::Problems
    })
}

fn print_table(state: &FleetState, findings: &[Finding]) {
    let up = state.hosts.iter().filter(|h| h.is_up()).count();
    println!(
        "{up}/{} hosts up, {} finding(s)",
        state.hosts.len(),
        findings.len()
    );
    if findings.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            vec![
                f.severity.label().to_owned(),
                f.host.clone(),
                f.container.clone().unwrap_or_else(|| "-".into()),
                f.summary.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["SEVERITY", "HOST", "CONTAINER", "WHAT"], &rows)
    );
}

/// Counts error lines in each running container's recent logs, all hosts at once.
async fn scan_logs(
    fleet: &mut Fleet,
    state: &FleetState,
    since: i64,
) -> BTreeMap<(usize, String), ErrorCount> {
    let Some(pattern) = triage::error_pattern() else {
        return BTreeMap::new();
    };
    let mut open = 0;
    for (hi, h) in state.hosts.iter().enumerate().filter(|(_, h)| h.is_up()) {
        for c in h.containers.iter().filter(|c| c.is_running()) {
            let cmd = HostCommand::FollowLogs {
                container_id: c.id.clone(),
                tail: SCAN_TAIL,
                since: Some(since),
                follow: false,
                max_line_bytes: crate::fleet::logs::DEFAULT_MAX_LINE_BYTES,
            };
            if fleet.send(hi, cmd).await {
                open += 1;
            }
        }
    }
    let mut counts: BTreeMap<(usize, String), ErrorCount> = BTreeMap::new();
    while open > 0 {
        let Some(event) = fleet.events.recv().await else {
            break;
        };
        match event.kind {
            HostEvent::Logs {
                container_id,
                lines,
            } => {
                let texts: Vec<String> = lines
                    .iter()
                    .map(|l| plain(crate::logs::parse_docker_line(&l.bytes).1))
                    .collect();
                let found = triage::count_errors(&pattern, texts.iter().map(String::as_str));
                let entry = counts.entry((event.host, container_id)).or_default();
                entry.lines += found.lines;
                if found.lines > 0 {
                    entry.sample = found.sample;
                }
            }
            HostEvent::LogsEnded { .. } => open -= 1,
            _ => {}
        }
    }
    counts
}
