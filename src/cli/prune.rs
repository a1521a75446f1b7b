//! `flotilla prune`: plan per host what goes (stopped containers, unused
//! images, with `--volumes` unused anonymous volumes), show it with the
//! space it takes, then — confirmed, not read-only — remove exactly that.

use std::io::{IsTerminal, Write};

use clap::Args;
use serde::Serialize;

use super::{Cli, CliError, Exit, Selection, actor_config, print_json, select, table};
use crate::config::{self, ServiceSpec};
use crate::fleet::{Fleet, FleetState};
use crate::human::bytes;
use crate::ops::AuditLog;
use crate::ops::prune::{self, HostPlan, Item, Kinds, LabelFilter, collect, run};

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Stopped containers (with no kind named: containers and images).
    #[arg(long)]
    pub containers: bool,
    /// Images no container that stays uses (dangling or tagged).
    #[arg(long)]
    pub images: bool,
    /// Also unused anonymous volumes (named volumes are always kept).
    #[arg(long)]
    pub volumes: bool,
    /// Only objects carrying this label, KEY or KEY=VALUE (like
    /// `docker system prune --filter label=…`).
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub label: Option<String>,
    #[command(flatten)]
    pub select: Selection,
    /// List what would go, per host, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Don't ask for confirmation (required when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

impl PruneArgs {
    fn kinds(&self) -> Kinds {
        let unnamed = !self.containers && !self.images;
        Kinds {
            containers: self.containers || unnamed,
            images: self.images || unnamed,
            volumes: self.volumes,
        }
    }
}

/// One host in `--json`: its plan, and what was removed when it ran.
#[derive(Debug, Serialize)]
struct HostReport {
    #[serde(flatten)]
    plan: HostPlan,
    /// What the planned removals take.
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    removed: Option<Vec<run::Removal>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_freed: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Report {
    dry_run: bool,
    hosts: Vec<HostReport>,
    /// Hosts whose objects could not be listed, with why.
    errors: Vec<HostError>,
}

#[derive(Debug, Serialize)]
struct HostError {
    host: String,
    error: String,
}

pub async fn run(cli: &Cli, args: &PruneArgs) -> Result<Exit, CliError> {
    let filter = args
        .label
        .as_deref()
        .map(LabelFilter::parse)
        .transpose()
        .map_err(|e| CliError::usage(format!("--label: {e}")))?;
    let (inventory, services) = config::load_fleet(cli.config.as_deref())?;
    let inventory = select(&inventory, &args.select)?;
    if !args.dry_run {
        refuse_read_only(cli, &inventory)?;
    }
    let mut state = FleetState::new(&inventory);
    let mut fleet = Fleet::spawn(&inventory, actor_config(cli));
    fleet.settle_until(&mut state, FleetState::all_linked).await;
    let unreachable = super::report_unreachable(&state, args.json);
    let result = plan_and_prune(args, &fleet, &state, &services, filter.as_ref()).await;
    fleet.shutdown().await;
    Ok(result?.worst(unreachable))
}

/// The read-only policy: a prune changes every selected host.
fn refuse_read_only(cli: &Cli, inventory: &config::Inventory) -> Result<(), CliError> {
    let policy = crate::ops::act::Policy {
        read_only: cli.read_only,
    };
    match inventory.hosts.iter().find(|h| policy.read_only(h)) {
        Some(h) => Err(CliError {
            exit: Exit::Refused,
            message: format!("read-only: refusing to prune {}", h.name),
        }),
        None => Ok(()),
    }
}

async fn plan_and_prune(
    args: &PruneArgs,
    fleet: &Fleet,
    state: &FleetState,
    services: &[ServiceSpec],
    filter: Option<&LabelFilter>,
) -> Result<Exit, CliError> {
    let up: Vec<(String, bollard::Docker)> = state
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_up())
        .filter_map(|(id, h)| fleet.docker(id).map(|d| (h.spec.name.clone(), d)))
        .collect();
    let read = futures::future::join_all(up.iter().map(|(_, d)| collect::facts(d))).await;
    let mut report = Report {
        dry_run: args.dry_run,
        hosts: Vec::new(),
        errors: Vec::new(),
    };
    let mut dockers = Vec::new();
    for ((host, docker), facts) in up.into_iter().zip(read) {
        match facts {
            Ok(facts) => {
                let plan = prune::plan(&host, &facts, services, args.kinds(), filter);
                report.hosts.push(HostReport {
                    bytes: plan.bytes(),
                    plan,
                    removed: None,
                    bytes_freed: None,
                });
                dockers.push(docker);
            }
            Err(error) => report.errors.push(HostError { host, error }),
        }
    }
    let listed = if report.errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    };
    let planned: usize = report.hosts.iter().map(|h| h.plan.remove.len()).sum();
    if args.dry_run || planned == 0 {
        print_report(&report, args.json)?;
        return Ok(listed);
    }
    if !args.json {
        print_report(&report, false)?;
    }
    if !args.yes && !confirm(&report)? {
        return Err(CliError {
            exit: Exit::Refused,
            message: "cancelled".into(),
        });
    }
    let executed = execute(&mut report, &dockers).await;
    print_results(&report, args.json)?;
    Ok(listed.worst(executed))
}

/// Removes every host's plan (hosts at once, each one item at a time).
async fn execute(report: &mut Report, dockers: &[bollard::Docker]) -> Exit {
    let audit = AuditLog::from_env();
    let results = futures::future::join_all(
        report
            .hosts
            .iter()
            .zip(dockers)
            .map(|(h, d)| run::execute(d, &h.plan, &audit)),
    )
    .await;
    let mut exit = Exit::Ok;
    for (host, result) in report.hosts.iter_mut().zip(results) {
        if result.removed.iter().any(|r| !r.ok) {
            exit = Exit::Failed;
        }
        for w in &result.warnings {
            eprintln!("flotilla: warning: {w}");
        }
        host.bytes_freed = Some(result.bytes_freed);
        host.removed = Some(result.removed);
    }
    exit
}

fn size(item: &Item) -> String {
    item.bytes.map_or_else(|| "-".to_owned(), bytes)
}

/// Per host: what goes and what a rule keeps, with sizes and totals.
fn print_report(report: &Report, json: bool) -> Result<(), CliError> {
    if json {
        return print_json(report);
    }
    let mut out = std::io::stdout().lock();
    for h in &report.hosts {
        let rows: Vec<Vec<String>> = h
            .plan
            .remove
            .iter()
            .map(|i| ("remove", i))
            .chain(h.plan.keep.iter().map(|i| ("keep", i)))
            .map(|(what, i)| {
                vec![
                    what.to_owned(),
                    i.kind.as_str().to_owned(),
                    i.name.clone(),
                    size(i),
                    i.why.clone(),
                ]
            })
            .collect();
        let verb = if report.dry_run {
            "would free"
        } else {
            "frees"
        };
        let head = format!(
            "{}: {} to remove, {verb} {}",
            h.plan.host,
            h.plan.remove.len(),
            bytes(h.bytes)
        );
        let body = if rows.is_empty() {
            String::new()
        } else {
            table::render(&["", "KIND", "NAME", "SIZE", "WHY"], &rows)
        };
        write!(out, "{head}\n{body}").map_err(|e| CliError::output(&e))?;
    }
    for e in &report.errors {
        writeln!(out, "{}: cannot list: {}", e.host, e.error).map_err(|e| CliError::output(&e))?;
    }
    if report.hosts.len() > 1 {
        let count: usize = report.hosts.iter().map(|h| h.plan.remove.len()).sum();
        let total: u64 = report.hosts.iter().map(|h| h.bytes).sum();
        writeln!(out, "total: {count} to remove, {}", bytes(total))
            .map_err(|e| CliError::output(&e))?;
    }
    Ok(())
}

/// After a real prune: each host's removals and the space freed.
fn print_results(report: &Report, json: bool) -> Result<(), CliError> {
    if json {
        return print_json(report);
    }
    let mut out = std::io::stdout().lock();
    for h in &report.hosts {
        let removed = h.removed.as_deref().unwrap_or_default();
        for r in removed.iter().filter(|r| !r.ok) {
            let why = r.error.as_deref().unwrap_or("failed");
            writeln!(
                out,
                "{}: {} {}: FAILED: {why}",
                h.plan.host,
                r.item.kind.as_str(),
                r.item.name
            )
            .map_err(|e| CliError::output(&e))?;
        }
        let ok = removed.iter().filter(|r| r.ok).count();
        let freed = bytes(h.bytes_freed.unwrap_or(0));
        writeln!(
            out,
            "{}: removed {ok} of {}, freed {freed}",
            h.plan.host,
            removed.len()
        )
        .map_err(|e| CliError::output(&e))?;
    }
    Ok(())
}

/// Asks on the terminal; refuses when there is no terminal to ask on.
fn confirm(report: &Report) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError {
            exit: Exit::Refused,
            message: "refusing to prune without confirmation: pass --yes".into(),
        });
    }
    let count: usize = report.hosts.iter().map(|h| h.plan.remove.len()).sum();
    let total: u64 = report.hosts.iter().map(|h| h.bytes).sum();
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "Remove {count} object(s), {}, from {} host(s)? [y/N] ",
        bytes(total),
        report.hosts.len()
    );
    drop(err);
    super::answered_yes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn kinds(args: &[&str]) -> Kinds {
        let cli = Cli::parse_from([&["flotilla", "prune"], args].concat());
        match cli.command {
            Some(super::super::Command::Prune(a)) => a.kinds(),
            other => panic!("not prune: {other:?}"),
        }
    }

    #[test]
    fn no_kind_means_containers_and_images_and_volumes_add() {
        let k = |c, i, v| Kinds {
            containers: c,
            images: i,
            volumes: v,
        };
        assert_eq!(kinds(&[]), k(true, true, false));
        assert_eq!(kinds(&["--volumes"]), k(true, true, true));
        assert_eq!(kinds(&["--images"]), k(false, true, false));
        assert_eq!(kinds(&["--containers", "--volumes"]), k(true, false, true));
    }
}
