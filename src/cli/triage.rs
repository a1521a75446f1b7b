//! `flotilla triage`: what is broken across the fleet right now, ranked.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;

use super::{Cli, CliError, Exit, Selection, actor_config, load_inventory, print_json, select};
use crate::fleet::vitals::Vitals;
use crate::fleet::{Fleet, FleetState, HostCommand, HostEvent};
use crate::logs::plain;
use crate::ops::AuditLog;
use crate::ops::timeline;
use crate::ops::triage::{self, ErrorCount, Evidence, Group, GroupOptions, Snapshot, collect};

#[derive(Debug, Args)]
pub struct TriageArgs {
    #[command(flatten)]
    pub select: Selection,
    /// How far back to scan logs for error bursts (and the snapshot's timeline).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub window: String,
    /// Skip the log scan (one request per running container).
    #[arg(long)]
    pub no_logs: bool,
    /// One finding per container instead of one per (kind, service).
    #[arg(long)]
    pub per_container: bool,
    /// Log lines cited as evidence per container (stderr first).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub lines: usize,
    /// Print a JSON array of findings.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print a Markdown incident snapshot to paste into the incident channel.
    #[arg(long)]
    pub markdown: bool,
}

/// Lines scanned per container for the error burst check.
const SCAN_TAIL: u32 = 3000;
/// The baseline an error burst is compared with: this many windows before it.
const BASELINE_WINDOWS: i64 = 5;
/// Bound on each API call gathering evidence, and on reading a host's vitals.
const EVIDENCE_WITHIN: Duration = Duration::from_secs(4);
/// Audit records a snapshot shows.
const SNAPSHOT_AUDIT: usize = 15;

pub async fn run(cli: &Cli, args: &TriageArgs) -> Result<Exit, CliError> {
    let now = jiff::Timestamp::now();
    let since = crate::logs::parse_since(&args.window, now).map_err(CliError::usage)?;
    let inventory = select(&load_inventory(cli)?, &args.select)?;
    let mut state = FleetState::new(&inventory);
    let mut cfg = actor_config(cli);
    cfg.inspect = true;
    let mut fleet = Fleet::spawn(&inventory, cfg);
    fleet.settle(&mut state).await;
    let mut evidence = Evidence {
        window: args.window.clone(),
        ..Evidence::default()
    };
    if !args.no_logs {
        evidence.errors = scan_logs(&mut fleet, &state, since, now.as_second()).await;
    }
    let mut findings = triage::assess(&state, &evidence.errors);
    findings.extend(triage::image_drift(&state));
    // Vitals and container evidence at once: a slow host delays both by one bound.
    (evidence.vitals, evidence.containers) = tokio::join!(
        collect::vitals(&fleet, &state, EVIDENCE_WITHIN),
        collect::containers(&fleet, &state, &findings, EVIDENCE_WITHIN),
    );
    let readable: BTreeMap<String, Vitals> = evidence
        .vitals
        .iter()
        .filter_map(|(h, v)| Some((h.clone(), v.as_ref().ok()?.clone())))
        .collect();
    findings.extend(triage::assess_vitals(&readable));
    triage::rank(&mut findings);
    let opts = GroupOptions {
        per_container: args.per_container,
        lines: args.lines,
        ..GroupOptions::default()
    };
    let groups = triage::group(&state, &findings, &evidence, &opts, now);
    // The snapshot's timeline: what happened to the affected services.
    let timeline = if args.markdown {
        let (mut entries, _failed) = crate::ops::timeline::fetch(
            crate::ops::timeline::connected(crate::ops::timeline::handles(&fleet, &state)),
            since,
            now,
        )
        .await;
        let audit = AuditLog::from_env();
        entries.extend(crate::ops::timeline::audit_entries(
            &audit,
            &state,
            i128::from(since) * 1_000_000_000,
            now.as_nanosecond(),
        ));
        let affected: Vec<String> = groups.iter().filter_map(|g| g.service.clone()).collect();
        entries.retain(|e| !affected.is_empty() && timeline::matches(e, &affected));
        timeline::sort(&mut entries);
        entries
    } else {
        Vec::new()
    };
    fleet.shutdown().await;

    if args.json {
        print_json(&groups)?;
    } else if args.markdown {
        let (mut audit, _bad) = AuditLog::from_env()
            .tail(SNAPSHOT_AUDIT * 100)
            .unwrap_or_else(|e| {
                tracing::warn!("audit log: {e}");
                (Vec::new(), 0)
            });
        // The selected hosts' records only (a wider scan, then the newest).
        audit.retain(|r| state.hosts.iter().any(|h| h.spec.name == r.host));
        let audit = audit.split_off(audit.len().saturating_sub(SNAPSHOT_AUDIT));
        let stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
        print!(
            "{}",
            triage::snapshot(
                &state,
                &Snapshot {
                    now: &stamp,
                    window: &args.window,
                    groups: &groups,
                    timeline: &timeline,
                    audit: &audit,
                    vitals: &evidence.vitals,
                }
            )
        );
    } else {
        print_groups(&state, &groups);
    }
    Ok(if groups.is_empty() {
        Exit::Ok
    } else {
        Exit::Problems
    })
}

/// Severity, summary, then the evidence and the next command indented.
fn print_groups(state: &FleetState, groups: &[Group]) {
    let up = state.hosts.iter().filter(|h| h.is_up()).count();
    println!(
        "{up}/{} hosts up, {} finding(s)",
        state.hosts.len(),
        groups.len()
    );
    for g in groups {
        println!("\n{:<9} {}", g.severity.label(), g.summary);
        for line in &g.evidence {
            println!("{:<9} {line}", "");
        }
        println!("{:<9} → {}", "", g.suggestion);
    }
}

/// Counts error lines in each running container's recent logs, all hosts at once.
async fn scan_logs(
    fleet: &mut Fleet,
    state: &FleetState,
    since: i64,
    now: i64,
) -> BTreeMap<(usize, String), ErrorCount> {
    let scan_start = since - BASELINE_WINDOWS * (now - since).max(0);
    let window_start = i128::from(since) * 1_000_000_000;
    let Some(pattern) = triage::error_pattern() else {
        return BTreeMap::new();
    };
    let mut open = 0;
    for (hi, h) in state.hosts.iter().enumerate().filter(|(_, h)| h.is_up()) {
        for c in h.containers.iter().filter(|c| c.is_running()) {
            let cmd = HostCommand::FollowLogs {
                container_id: c.id.clone(),
                tail: SCAN_TAIL,
                since: Some(scan_start),
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
                let entry = counts.entry((event.host, container_id)).or_default();
                for l in &lines {
                    let (ts, body) = crate::logs::parse_docker_line(&l.bytes);
                    entry.add_scanned(&pattern, &plain(body), ts, window_start);
                }
            }
            HostEvent::LogsEnded { .. } => open -= 1,
            _ => {}
        }
    }
    for c in counts.values_mut() {
        c.finish(scan_start, since, now, SCAN_TAIL as usize);
    }
    counts
}
