//! `flotilla watch`: long-running, driven by each host's Docker event stream
//! (plus host vitals every minute, Docker's disk usage every ten, and the
//! `[[alerts.rule]]` log streams);
//! prints a line when a finding opens or resolves, sends it on (webhooks in
//! each chat tool's format, `--exec`) unless silenced, remembers what it
//! announced in a state file, and (`--autoheal`) restarts opted-in
//! unhealthy containers.

mod disks;
mod look;
mod notify;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use tokio::sync::mpsc;

use super::hook::{ExecHook, ExecSpec};
use super::{Cli, CliError, Exit, Selection, select};
use crate::config::Inventory;
use crate::config::alerts::{Level, WebhookFormat, WebhookSpec};
use crate::fleet::{ActorConfig, Fleet, FleetState, HostEvent};
use crate::ops::alerts::deliver;
use crate::transport::ConnectOptions;
use look::Watching;
use notify::Notifier;

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub select: Selection,
    /// One JSON object per line: {"event": "new"|"resolved"|"autoheal"|"delivery_failed", …}.
    #[arg(long)]
    pub json: bool,
    /// Run CMD (with `sh -c`) for each notification, its JSON on stdin; its
    /// output is captured (first 8 KiB) and reported on stderr.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Longest one --exec run may take; then its process group is killed.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub exec_timeout: String,
    /// --exec runs at once; more wait (up to 32, then dropped and counted).
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub exec_jobs: u16,
    /// POST each notification to URL (https:// or http://; repeatable;
    /// added to `[[alerts.webhook]]`). 10 s per POST, failures on stderr.
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Body shape for --webhook URLs: slack, discord, ntfy, teams or json
    /// (default: guessed from the URL's host, else json).
    #[arg(long, value_name = "FORMAT")]
    pub webhook_format: Option<String>,
    /// Where watch remembers what it announced and how far it read logs, so
    /// a restart announces nothing old (default: watch-state.json in the
    /// state directory).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Restart unhealthy containers labelled autoheal=true or of a
    /// `[service.NAME]` with `autoheal = true` (at most once per
    /// cooldown and 3 times an hour; never while a deploy holds the lock or
    /// in a read-only group); every restart is audited as `autoheal`.
    #[arg(long)]
    pub autoheal: bool,
    /// Least time between two autoheal restarts of one container.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub autoheal_cooldown: String,
}

/// Findings are recomputed at most this often (events come in bursts).
const SETTLE: Duration = Duration::from_millis(500);
/// ... and at least this often: rule windows close and silences end by time.
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// Longest one vitals read may take.
const VITALS_WITHIN: Duration = Duration::from_secs(10);

/// The `--webhook` URLs, checked before anything is contacted.
fn cli_webhooks(args: &WatchArgs) -> Result<Vec<WebhookSpec>, CliError> {
    let format = match &args.webhook_format {
        Some(f) => Some(WebhookFormat::from_str(f).map_err(|_| {
            CliError::usage(format!(
                "--webhook-format {f:?}: one of slack, discord, ntfy, teams, json"
            ))
        })?),
        None => None,
    };
    args.webhook
        .iter()
        .map(|url| {
            WebhookSpec::new(url, format, Level::Low)
                .map_err(|e| CliError::usage(format!("--webhook {e}")))
        })
        .collect()
}

pub async fn run(cli: &Cli, args: &WatchArgs) -> Result<Exit, CliError> {
    let (inventory, mut w, mut reports) = prepare(cli, args)?;
    let mut state = FleetState::new(&inventory);
    // Event-driven like the TUI: actors follow Docker events and reconnect.
    let cfg = ActorConfig {
        // Runs for long and follows events: it holds its own sessions.
        connect: ConnectOptions {
            accept_new: cli.accept_new,
            persist: None,
        },
        ..ActorConfig::default()
    };
    let mut fleet = Fleet::spawn(&inventory, cfg);
    let (mut int, mut term) = super::stop_signals()?;
    let (vitals_tx, mut vitals_rx) = mpsc::channel(1);
    let mut vitals_tick = tokio::time::interval(w.vitals_every());
    let mut disks = disks::Disks::default();
    let mut dirty = false;
    let mut started = false;
    let mut last_look = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(SETTLE);
    loop {
        tokio::select! {
            event = fleet.events.recv() => {
                let Some(event) = event else { break };
                dirty |= w.on_event(&state, &event)?;
                for effect in crate::fleet::update(&mut state, event) {
                    fleet.apply(effect);
                }
            }
            Some(report) = reports.recv() => w.on_report(&report)?,
            Some(mut vitals) = vitals_rx.recv() => {
                disks.merge(&mut vitals, tokio::time::Instant::now());
                w.vitals = vitals;
                dirty = true;
            }
            _ = vitals_tick.tick() => {
                let plan = disks.plan(tokio::time::Instant::now());
                read_vitals(&fleet, &state, &vitals_tx, plan);
            }
            _ = tick.tick() => {
                // The first look waits until every host answered once.
                if !started && !state.all_settled() {
                    continue;
                }
                started = true;
                if !std::mem::take(&mut dirty) && last_look.elapsed() < LOOK_EVERY {
                    continue;
                }
                last_look = tokio::time::Instant::now();
                w.look(&fleet, &state)?;
            }
            _ = int.recv() => break,
            _ = term.recv() => break,
        }
    }
    fleet.shutdown().await;
    w.finish().await;
    Ok(Exit::Ok)
}

/// Everything checked and set up before any host is contacted: flags,
/// config, the HTTP client, the notifier, the state file.
fn prepare<'a>(
    cli: &'a Cli,
    args: &'a WatchArgs,
) -> Result<(Inventory, Watching<'a>, mpsc::Receiver<deliver::Report>), CliError> {
    let cooldown = humantime::parse_duration(&args.autoheal_cooldown).map_err(|e| {
        CliError::usage(format!(
            "--autoheal-cooldown {:?}: {e}",
            args.autoheal_cooldown
        ))
    })?;
    let exec_timeout = humantime::parse_duration(&args.exec_timeout)
        .map_err(|e| CliError::usage(format!("--exec-timeout {:?}: {e}", args.exec_timeout)))?;
    let mut hooks = cli_webhooks(args)?;
    let (inventory, services) = crate::config::load_fleet(cli.config.as_deref())?;
    let inventory = select(&inventory, &args.select)?;
    let alerts = inventory.alerts.clone();
    hooks.extend(alerts.webhooks.iter().cloned());
    let client = if hooks.is_empty() {
        None
    } else {
        Some(
            deliver::client(alerts.ca_file.as_deref())
                .map_err(|e| CliError::usage(e.to_string()))?,
        )
    };
    let (report_tx, reports) = mpsc::channel(notify::REPORTS);
    let out = Notifier::new(
        args.json,
        args.exec.as_ref().map(|cmd| {
            ExecHook::spawn(ExecSpec {
                cmd: cmd.clone(),
                timeout: exec_timeout,
                jobs: usize::from(args.exec_jobs),
            })
        }),
        hooks,
        client,
        &report_tx,
    );
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(crate::ops::alerts::state::default_path);
    let mut w = Watching::new(cli, args, services, alerts, out, state_path, cooldown)?;
    w.max_line_bytes = inventory.ui.log_max_line_bytes;
    Ok((inventory, w, reports))
}

/// Reads every reachable host's vitals in a task of its own (one small
/// exec each over the open session), and the disk usage of the hosts `plan`
/// wants; a read still running is not doubled.
fn read_vitals(fleet: &Fleet, state: &FleetState, to: &mpsc::Sender<Vitals>, plan: disks::Plan) {
    let Ok(permit) = to.clone().try_reserve_owned() else {
        return;
    };
    let handles: Vec<_> = (0..state.hosts.len()).map(|h| fleet.handles(h)).collect();
    let state = state.clone();
    tokio::spawn(async move {
        use crate::ops::triage::collect;
        let read = collect::vitals(&handles, &state, VITALS_WITHIN).await;
        let mut ok: Vitals = read
            .into_iter()
            .filter_map(|(host, v)| v.ok().map(|v| (host, v)))
            .collect();
        let wanted: std::collections::BTreeSet<String> = ok
            .iter()
            .filter(|(host, v)| plan.wants(host, v))
            .map(|(host, _)| host.clone())
            .collect();
        if !wanted.is_empty() {
            let disks = collect::docker_disks(&handles, &state, Some(&wanted), VITALS_WITHIN).await;
            for (host, disk) in disks {
                if let Some(v) = ok.get_mut(&host) {
                    v.docker_disk = Some(disk);
                }
            }
        }
        permit.send(ok);
    });
}

type Vitals = std::collections::BTreeMap<String, crate::fleet::vitals::Vitals>;

/// Whether an event changes what a look would find.
fn changes_findings(event: &HostEvent) -> bool {
    matches!(
        event,
        HostEvent::Containers { .. } | HostEvent::Disconnected { .. } | HostEvent::Connected { .. }
    )
}
