//! `flotilla triage`: what is broken across the fleet right now, ranked.

use std::collections::BTreeMap;

use clap::Args;

use super::{Cli, CliError, Exit, Selection, actor_config, load_inventory, print_json, select};
use crate::fleet::{Fleet, FleetState};
use crate::ops::AuditLog;
use crate::ops::triage::{Group, GroupOptions, collect, incident};

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

pub async fn run(cli: &Cli, args: &TriageArgs) -> Result<Exit, CliError> {
    let now = jiff::Timestamp::now();
    let since = crate::logs::parse_since(&args.window, now).map_err(CliError::usage)?;
    let inventory = select(&load_inventory(cli)?, &args.select)?;
    let mut state = FleetState::new(&inventory);
    let mut cfg = actor_config(cli);
    cfg.inspect = true;
    let mut fleet = Fleet::spawn(&inventory, cfg);
    fleet.settle(&mut state).await;
    let handles = collect::handles(&fleet, &state);
    let errors = if args.no_logs {
        BTreeMap::new()
    } else {
        collect::error_counts(
            &handles,
            &state,
            since,
            now.as_second(),
            incident::EVIDENCE_WITHIN,
        )
        .await
    };
    let req = incident::Request {
        window: args.window.clone(),
        since,
        now,
        opts: GroupOptions {
            per_container: args.per_container,
            lines: args.lines,
            ..GroupOptions::default()
        },
    };
    let (groups, markdown) = if args.markdown {
        let audit = AuditLog::from_env();
        let (md, groups) = incident::markdown(&handles, &state, errors, &audit, &req).await;
        (groups, Some(md))
    } else {
        let (groups, evidence) = incident::assess(&handles, &state, errors, &req).await;
        // Said once, beside the findings: drift there could not be judged.
        for (host, read) in &evidence.compose {
            if let Err(e) = read {
                eprintln!("flotilla: {host}: compose files not read: {e}");
            }
        }
        (groups, None)
    };
    fleet.shutdown().await;

    if args.json {
        print_json(&groups)?;
    } else if let Some(md) = markdown {
        print!("{md}");
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
