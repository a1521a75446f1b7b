//! `flotilla watch`: long-running, driven by each host's Docker event stream;
//! prints a line when a finding appears or resolves, optionally runs a
//! command with it, and (`--autoheal`) restarts opted-in unhealthy containers.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;

use super::hook::{ExecHook, ExecSpec};
use super::webhook::{self, Webhook};
use super::{Cli, CliError, Exit, Selection, select};
use crate::fleet::{ActorConfig, ContainerAction, Fleet, FleetState, HostCommand, HostEvent};
use crate::ops::triage::{self, Finding, Kind};
use crate::ops::watch::{self, Autoheal, Verdict};
use crate::ops::{AuditLog, AuditRecord};
use crate::transport::ConnectOptions;

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub select: Selection,
    /// One JSON object per line: {"event": "new"|"resolved"|"autoheal", "finding": …}.
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
    /// POST each notification's JSON (with a Slack-compatible `text`) to
    /// URL (http:// only; 10 s per POST, failures reported on stderr).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
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

/// Autoheal restarts of one container per hour before it gives up.
const AUTOHEAL_PER_HOUR: usize = 3;
/// Findings are recomputed at most this often (events come in bursts).
const SETTLE: Duration = Duration::from_millis(500);

pub async fn run(cli: &Cli, args: &WatchArgs) -> Result<Exit, CliError> {
    let cooldown = humantime::parse_duration(&args.autoheal_cooldown).map_err(|e| {
        CliError::usage(format!(
            "--autoheal-cooldown {:?}: {e}",
            args.autoheal_cooldown
        ))
    })?;
    let exec_timeout = humantime::parse_duration(&args.exec_timeout)
        .map_err(|e| CliError::usage(format!("--exec-timeout {:?}: {e}", args.exec_timeout)))?;
    // Checked before anything is contacted: a typo is a usage error.
    let webhook = match &args.webhook {
        Some(url) => Some(webhook::parse(url).map_err(CliError::usage)?),
        None => None,
    };
    let (inventory, services) = crate::config::load_fleet(cli.config.as_deref())?;
    let inventory = select(&inventory, &args.select)?;
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
    let out = Notifier {
        json: args.json,
        exec: args.exec.as_ref().map(|cmd| {
            ExecHook::spawn(ExecSpec {
                cmd: cmd.clone(),
                timeout: exec_timeout,
                jobs: usize::from(args.exec_jobs),
            })
        }),
        webhook: webhook.map(Webhook::spawn),
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::output(&e))?;
    let mut w = Watching {
        cli,
        args,
        services,
        out,
        audit: AuditLog::from_env(),
        heal: Autoheal::new(cooldown, AUTOHEAL_PER_HOUR),
        seen: BTreeMap::new(),
    };
    let mut dirty = false;
    let mut started = false;
    let mut tick = tokio::time::interval(SETTLE);
    loop {
        tokio::select! {
            event = fleet.events.recv() => {
                let Some(event) = event else { break };
                let host = event.host;
                match &event.kind {
                    HostEvent::ActionDone { container, action, result } => {
                        w.healed(&state, host, container, *action, result)?;
                    }
                    HostEvent::Containers { .. } | HostEvent::Disconnected { .. } | HostEvent::Connected { .. } => dirty = true,
                    _ => {}
                }
                for effect in crate::fleet::update(&mut state, event) {
                    fleet.apply(effect);
                }
            }
            _ = tick.tick() => {
                // The first look waits until every host answered once.
                if !started && !state.all_settled() {
                    continue;
                }
                started = true;
                if !std::mem::take(&mut dirty) {
                    continue;
                }
                w.look(&fleet, &state)?;
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    fleet.shutdown().await;
    w.out.finish().await;
    Ok(Exit::Ok)
}

/// What a watch keeps between looks.
struct Watching<'a> {
    cli: &'a Cli,
    args: &'a WatchArgs,
    services: Vec<crate::config::ServiceSpec>,
    out: Notifier,
    audit: AuditLog,
    heal: Autoheal,
    seen: BTreeMap<watch::Key, Finding>,
}

impl Watching<'_> {
    /// An autoheal restart's answer: audited (as user `autoheal`) and announced.
    fn healed(
        &mut self,
        state: &FleetState,
        host: crate::fleet::HostId,
        container: &str,
        action: ContainerAction,
        result: &Result<(), String>,
    ) -> Result<(), CliError> {
        let name = state
            .hosts
            .get(host)
            .map(|h| h.spec.name.clone())
            .unwrap_or_default();
        self.heal.answered(&name, container);
        let mut record = AuditRecord::new(
            &name,
            container,
            crate::ops::AuditAction::Container(action),
            result,
        );
        record.user = "autoheal".to_owned();
        if let Err(e) = crate::ops::act::audit(&self.audit, &record) {
            eprintln!("flotilla: {e}");
        }
        let text = match result {
            Ok(()) => format!("autoheal restarted {container} on {name}"),
            Err(e) => format!("autoheal could not restart {container} on {name}: {e}"),
        };
        self.out.notify(
            "autoheal",
            &serde_json::json!({
                "host": name, "container": container, "result": record.result,
            }),
            &text,
            &format!(":adhesive_bandage: {}", watch::slack_escape(&text)),
        )
    }

    /// One look at the fleet: what is new and what resolved since the
    /// last, then autoheal.
    fn look(&mut self, fleet: &Fleet, state: &FleetState) -> Result<(), CliError> {
        let findings = triage::assess(state, &BTreeMap::new());
        let (appeared, resolved) = watch::diff(&mut self.seen, &findings);
        for f in &appeared {
            let deploying = state
                .host_named(&f.host)
                .map(|(_, h)| h)
                .is_some_and(watch::deploy_in_progress);
            report(&self.out, state, "new", f, deploying)?;
        }
        for f in &resolved {
            report(&self.out, state, "resolved", f, false)?;
        }
        if self.args.autoheal {
            autoheal(
                self.cli,
                fleet,
                state,
                &findings,
                &self.services,
                &mut self.heal,
                &self.out,
            )?;
        }
        Ok(())
    }
}

/// Restarts what opted in and may be restarted now; reports giving up once.
fn autoheal(
    cli: &Cli,
    fleet: &Fleet,
    state: &FleetState,
    findings: &[Finding],
    services: &[crate::config::ServiceSpec],
    heal: &mut Autoheal,
    out: &Notifier,
) -> Result<(), CliError> {
    let now = Instant::now();
    for f in findings.iter().filter(|f| f.kind == Kind::Unhealthy) {
        let Some((hi, h)) = state.host_named(&f.host) else {
            continue;
        };
        let Some(c) = h.containers.iter().find(|c| Some(&c.id) == f.id.as_ref()) else {
            continue;
        };
        let opted_in = watch::opted_in(&h.spec.name, c, services);
        let policy = crate::ops::act::Policy {
            read_only: cli.read_only,
        };
        match heal.decide(now, h, c, opted_in, policy.read_only(&h.spec)) {
            Verdict::Restart => {
                // By name, so the audit record names it as people do.
                let cmd = HostCommand::Act {
                    container: c.name.clone(),
                    action: ContainerAction::Restart,
                };
                // Answered (even when refused) by an ActionDone, audited there.
                if let Some(HostEvent::ActionDone { result: Err(e), .. }) = fleet.offer(hi, cmd) {
                    heal.answered(&h.spec.name, &c.name);
                    eprintln!("flotilla: autoheal {} on {}: {e}", c.name, h.spec.name);
                }
            }
            Verdict::GaveUp { first: true } => {
                let text = format!(
                    "autoheal gave up on {} on {}: restarted {AUTOHEAL_PER_HOUR} times in the last hour",
                    c.name, h.spec.name
                );
                out.notify(
                    "autoheal",
                    &serde_json::json!({"host": h.spec.name, "container": c.name, "result": "gave up"}),
                    &text,
                    &format!(":warning: {}", watch::slack_escape(&text)),
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn report(
    out: &Notifier,
    state: &FleetState,
    event: &str,
    f: &Finding,
    deploying: bool,
) -> Result<(), CliError> {
    let mut finding = serde_json::to_value(f).unwrap_or(serde_json::Value::Null);
    if deploying && let Some(obj) = finding.as_object_mut() {
        obj.insert("deploy_in_progress".into(), true.into());
    }
    let line = format!(
        "{:<8} {:<8} {} {}: {}{}",
        event.to_uppercase(),
        f.severity.label(),
        f.host,
        f.container.as_deref().unwrap_or("-"),
        f.summary,
        if deploying {
            " (deploy in progress)"
        } else {
            ""
        }
    );
    let text = watch::slack_text(event, state, f, jiff::Timestamp::now());
    // A deploy's own churn is shown, never sent on.
    out.print(event, &finding, &line, &text, !deploying)
}

/// Where notifications go: stdout always; `--exec` and `--webhook` too.
struct Notifier {
    json: bool,
    exec: Option<ExecHook>,
    webhook: Option<Webhook>,
}

/// How long an ending watch waits for queued webhooks.
const WEBHOOK_FLUSH: Duration = Duration::from_secs(3);

impl Notifier {
    /// Sends what waits (bounded), ends running --exec commands.
    async fn finish(self) {
        if let Some(hook) = &self.webhook {
            hook.flush(WEBHOOK_FLUSH).await;
        }
        if let Some(exec) = self.exec {
            exec.shutdown().await;
        }
    }

    fn notify(
        &self,
        event: &str,
        finding: &serde_json::Value,
        line: &str,
        text: &str,
    ) -> Result<(), CliError> {
        self.print(event, finding, line, text, true)
    }

    /// `line` is what a person reads on stdout; `text` the one-line summary
    /// the JSON carries for chat tools.
    fn print(
        &self,
        event: &str,
        finding: &serde_json::Value,
        line: &str,
        text: &str,
        send: bool,
    ) -> Result<(), CliError> {
        // Container output and labels reach people and chat tools: cleaned.
        let (line, text) = (crate::redact::clean(line), crate::redact::clean(text));
        let json =
            serde_json::json!({"event": event, "finding": finding, "text": text}).to_string();
        let mut stdout = std::io::stdout().lock();
        let shown = if self.json { &json } else { &line };
        writeln!(stdout, "{shown}")
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::output(&e))?;
        if !send {
            return Ok(());
        }
        if let Some(hook) = &self.webhook {
            hook.send(json.clone());
        }
        if let Some(exec) = &self.exec {
            exec.send(json);
        }
        Ok(())
    }
}
