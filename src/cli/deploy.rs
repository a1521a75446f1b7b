//! `flotilla deploy|rollback|status SERVICE`: the headless face of rolling
//! deploys. The core (probe, plan, execute) lives in `ops::deploy`; this file
//! connects, decides what the user asked for, confirms, and prints events.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::{Cli, CliError, Exit, Selection, actor_config, select};
use crate::config::{self, Amount, ServiceSpec};
use crate::fleet::{Fleet, FleetState};
use crate::ops::AuditLog;
use crate::ops::deploy::exec::NotStarted;
use crate::ops::deploy::plan::{self, Interrupted};
use crate::ops::deploy::prepare::{
    self, Failure, Mode, PrepareError, Prepared, Ready, interrupted_message,
};
use crate::ops::deploy::{
    Control, Delivery, DeployEvent, HostHandle, HostProbe, Job, Liveness, Plan, RunOutcome,
    SourceRef, image, probe,
};

/// Events buffered between the executor and the printer.
const EVENT_CAPACITY: usize = 256;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The service: a [service.NAME] table of the config.
    pub service: String,
    /// The image to roll out (IMAGE[:TAG]; no tag means latest).
    #[arg(long, value_name = "IMAGE[:TAG]")]
    pub image: Option<String>,
    /// Print the plan (batches, per host current → new image) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Batch sizes instead of the service's `serial`, e.g. 1,2,50% (the last repeats).
    #[arg(long, value_name = "SIZES")]
    pub serial: Option<String>,
    /// Failed hosts tolerated before the rollout stops (N or N%), instead of `max_fail`.
    #[arg(long, value_name = "N")]
    pub max_fail: Option<String>,
    /// Hosts pull the image from its registry (default: stream it over SSH from a
    /// host that has it).
    #[arg(long, conflicts_with = "from")]
    pub registry: bool,
    /// Stream the image from this fleet host, or `local` for the local Docker
    /// daemon (default: the first host that has it).
    #[arg(long, value_name = "HOST|local")]
    pub from: Option<String>,
    /// Finish an interrupted deploy of this service.
    #[arg(long, conflicts_with = "rollback")]
    pub resume: bool,
    /// Undo an interrupted deploy of this service.
    #[arg(long)]
    pub rollback: bool,
    /// Remove other deploys' locks on the service's hosts first.
    #[arg(long)]
    pub break_lock: bool,
    /// Don't ask for confirmation (required when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// One JSON event per line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The service: a [service.NAME] table of the config.
    pub service: String,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove other deploys' locks on the service's hosts first.
    #[arg(long)]
    pub break_lock: bool,
    /// Don't ask for confirmation (required when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// One JSON event per line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The service: a [service.NAME] table of the config.
    pub service: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

struct Request {
    service: String,
    mode: Mode,
    image: Option<String>,
    dry_run: bool,
    serial: Option<Vec<Amount>>,
    max_fail: Option<Amount>,
    delivery: Delivery,
    break_lock: bool,
    yes: bool,
    json: bool,
}

fn from_prepare(e: PrepareError) -> CliError {
    let exit = match e.kind {
        Failure::Unreachable => Exit::Unreachable,
        Failure::Usage => Exit::Usage,
        Failure::NotFound => Exit::NotFound,
        Failure::Refused => Exit::Refused,
        Failure::Failed => Exit::Failed,
    };
    err(exit, e.message)
}

fn err(exit: Exit, message: impl Into<String>) -> CliError {
    CliError {
        exit,
        message: message.into(),
    }
}

pub async fn deploy(cli: &Cli, a: &DeployArgs) -> Result<Exit, CliError> {
    let mode = match (a.resume, a.rollback) {
        (true, _) => Mode::Resume,
        (_, true) => Mode::Recover,
        _ => Mode::Deploy,
    };
    if mode == Mode::Deploy && a.image.is_none() {
        return Err(CliError::usage(
            "--image IMAGE[:TAG] is required (or --resume / --rollback for an interrupted deploy)",
        ));
    }
    if mode == Mode::Recover && a.image.is_some() {
        return Err(CliError::usage(
            "--rollback undoes an interrupted deploy and takes no --image",
        ));
    }
    let serial = a
        .serial
        .as_deref()
        .map(|s| Amount::parse_list(s, 1))
        .transpose()
        .map_err(|e| CliError::usage(format!("--serial: {e}")))?;
    let max_fail = a
        .max_fail
        .as_deref()
        .map(|s| Amount::parse(s, 0))
        .transpose()
        .map_err(|e| CliError::usage(format!("--max-fail: {e}")))?;
    let delivery = if a.registry {
        Delivery::Registry
    } else {
        Delivery::Stream {
            from: a.from.as_deref().map(|f| match f {
                "local" => SourceRef::Local,
                host => SourceRef::Host(host.to_owned()),
            }),
        }
    };
    run(
        cli,
        Request {
            service: a.service.clone(),
            mode,
            image: a.image.as_deref().map(image::normalize),
            dry_run: a.dry_run,
            serial,
            max_fail,
            delivery,
            break_lock: a.break_lock,
            yes: a.yes,
            json: a.json,
        },
    )
    .await
}

pub async fn rollback(cli: &Cli, a: &RollbackArgs) -> Result<Exit, CliError> {
    run(
        cli,
        Request {
            service: a.service.clone(),
            mode: Mode::Rollback,
            image: None,
            dry_run: a.dry_run,
            serial: None,
            max_fail: None,
            delivery: Delivery::Stream { from: None },
            break_lock: a.break_lock,
            yes: a.yes,
            json: a.json,
        },
    )
    .await
}

/// The service's hosts, connected once; the fleet keeps their sessions open.
struct Connected {
    service: ServiceSpec,
    fleet: Fleet,
    state: FleetState,
    /// Reachable hosts, inventory order.
    hosts: Vec<HostHandle>,
}

async fn connect(cli: &Cli, name: &str) -> Result<Connected, CliError> {
    let (inventory, services) = config::load_fleet(cli.config.as_deref())?;
    let Some(service) = services.into_iter().find(|s| s.name == name) else {
        let known: Vec<String> = config::load_fleet(cli.config.as_deref())?
            .1
            .into_iter()
            .map(|s| s.name)
            .collect();
        return Err(err(
            Exit::NotFound,
            if known.is_empty() {
                format!("no service {name:?}: the config has no [service.NAME] tables")
            } else {
                format!("no service {name:?} (known: {})", known.join(", "))
            },
        ));
    };
    let inventory = select(
        &inventory,
        &Selection {
            hosts: service.hosts.clone(),
            groups: Vec::new(),
        },
    )?;
    let mut state = FleetState::new(&inventory);
    let mut fleet = Fleet::spawn(&inventory, actor_config(cli));
    fleet.settle(&mut state).await;
    // Unreachable hosts are reported from the state (`Connected::unreachable`).
    let names: Vec<String> = inventory.hosts.iter().map(|h| h.name.clone()).collect();
    let hosts = crate::ops::deploy::reach::handles(&state, &fleet, &names).hosts;
    Ok(Connected {
        service,
        fleet,
        state,
        hosts,
    })
}

impl Connected {
    fn unreachable(&self) -> Vec<(String, String)> {
        self.state
            .unreachable()
            .map(|h| {
                (
                    h.spec.name.clone(),
                    h.last_error.clone().unwrap_or_else(|| "no answer".into()),
                )
            })
            .collect()
    }

    async fn probes(&self, target: Option<&str>) -> Result<Vec<HostProbe>, CliError> {
        let all = futures::future::join_all(
            self.hosts
                .iter()
                .map(|h| probe::probe_host(&h.name, h.engine.as_ref(), &self.service, target)),
        )
        .await;
        all.into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| err(Exit::Failed, e.to_string()))
    }
}

/// The local daemon (`DOCKER_HOST=unix://…` or /var/run/docker.sock), if it answers.
async fn local_docker(required: bool) -> Result<Option<bollard::Docker>, CliError> {
    let socket = match std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        Some(h) => match h.strip_prefix("unix://") {
            Some(path) => path.to_owned(),
            None if required => {
                return Err(CliError::usage(format!(
                    "--from local: DOCKER_HOST={h} is not a unix:// socket"
                )));
            }
            None => return Ok(None),
        },
        None => config::DEFAULT_DOCKER_SOCKET.to_owned(),
    };
    if !std::path::Path::new(&socket).exists() {
        return if required {
            Err(CliError::usage(format!(
                "--from local: no Docker socket at {socket}"
            )))
        } else {
            Ok(None)
        };
    }
    let connected =
        match bollard::Docker::connect_with_unix(&socket, 30, bollard::API_DEFAULT_VERSION) {
            Ok(d) => {
                tokio::time::timeout(std::time::Duration::from_secs(10), d.negotiate_version())
                    .await
                    .map_err(|_| "timed out".to_owned())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            }
            Err(e) => Err(e.to_string()),
        };
    match connected {
        Ok(d) => Ok(Some(d)),
        Err(e) if required => Err(CliError::usage(format!("--from local: {socket}: {e}"))),
        Err(_) => Ok(None),
    }
}

async fn run(cli: &Cli, req: Request) -> Result<Exit, CliError> {
    let conn = connect(cli, &req.service).await?;
    let result = run_connected(cli, &req, &conn).await;
    conn.fleet.shutdown().await;
    result
}

async fn run_connected(cli: &Cli, req: &Request, conn: &Connected) -> Result<Exit, CliError> {
    let service = &conn.service;
    let prepared = prepare::prepare(
        service,
        conn.hosts.clone(),
        &conn.unreachable(),
        &prepare::Request {
            mode: req.mode,
            image: req.image.clone(),
            serial: req.serial.clone(),
            max_fail: req.max_fail,
            delivery: req.delivery.clone(),
            break_lock: req.break_lock,
        },
    )
    .await
    .map_err(from_prepare)?;
    let ready = match prepared {
        Prepared::Ready(ready) => *ready,
        Prepared::NothingToDo(msg) => {
            if req.json {
                println!(
                    "{}",
                    serde_json::json!({"event": "nothing_to_do", "message": msg})
                );
            } else {
                println!("{msg}");
            }
            return Ok(Exit::Ok);
        }
    };
    let Ready {
        mut deployment,
        mode,
        image,
        mut refusal,
    } = ready;
    if !req.dry_run
        && let Some(refusal) = refusal.take()
    {
        return Err(from_prepare(refusal));
    }
    let deploy_id = deployment.id.clone();
    let the_plan = deployment.plan.clone();
    let pre_deploy = deployment.pre_deploy;
    let mut printer = Printer::new(req.json);
    printer.plan(&deploy_id, mode, service, &the_plan, pre_deploy);

    if req.dry_run {
        if let Some(refusal) = refusal {
            printer.warning(&format!("a real run would be refused: {}", refusal.message));
        }
        if let Some(image) = &image
            && let Delivery::Stream { from } = &req.delivery
        {
            let candidates: Vec<(String, crate::ops::deploy::EngineRef)> = conn
                .hosts
                .iter()
                .filter(|h| match from {
                    Some(SourceRef::Host(name)) => h.name == *name,
                    Some(SourceRef::Local) => false,
                    None => true,
                })
                .map(|h| (h.name.clone(), h.engine.clone()))
                .collect();
            match image::find_source(image, &candidates).await {
                Ok(Some(source)) => printer.event(&DeployEvent::ImageSource {
                    image: image.clone(),
                    source: source.name,
                }),
                Ok(None) if from != &Some(SourceRef::Local) => printer.warning(&format!(
                    "image {image} is on none of the hosts: pass --registry to pull it"
                )),
                Ok(None) => {}
                Err(e) => printer.warning(&e.to_string()),
            }
        }
        return Ok(Exit::Ok);
    }
    if the_plan.is_empty() {
        printer.note(&format!("{}: nothing to change", service.name));
        return Ok(Exit::Ok);
    }
    let policy = crate::ops::act::Policy {
        read_only: cli.read_only,
    };
    let specs = conn.state.hosts.iter().map(|h| &h.spec);
    let hosts = the_plan.hosts().map(|h| h.host.as_str());
    if let Err(refusal) = policy.authorize_deploy(specs, mode.kind(), &service.name, hosts) {
        return Err(err(Exit::Refused, refusal.to_string()));
    }
    if !req.yes {
        confirm(mode, &service.name, &the_plan)?;
    }
    let local = match &req.delivery {
        Delivery::Stream {
            from: Some(SourceRef::Local),
        } => local_docker(true).await?,
        Delivery::Stream { from: None } => local_docker(false).await?,
        Delivery::Stream { .. } | Delivery::Registry => None,
    };

    deployment.local = local.map(crate::ops::deploy::DockerEngine::shared);
    let (tx, mut rx) = mpsc::channel(EVENT_CAPACITY);
    let (control, control_rx) = watch::channel(Control::Run);
    let mut task = tokio::spawn(crate::ops::deploy::execute(deployment, tx, control_rx));
    let mut interrupted_once = false;
    // Ends with the task, not the channel: a stray sender clone must not hang us.
    let joined = loop {
        tokio::select! {
            biased;
            Some(event) = rx.recv() => printer.event(&event),
            joined = &mut task => break joined,
            signal = tokio::signal::ctrl_c(), if !interrupted_once => {
                if signal.is_ok() {
                    interrupted_once = true;
                    let _ = control.send(Control::Abort);
                    printer.warning("interrupted: rolling back the hosts in flight, then stopping");
                }
            }
        }
    };
    while let Ok(event) = rx.try_recv() {
        printer.event(&event);
    }
    let summary = joined.map_err(|e| err(Exit::Internal, format!("deploy task failed: {e}")))?;
    match summary.outcome {
        RunOutcome::Succeeded => Ok(Exit::Ok),
        RunOutcome::Failed | RunOutcome::Aborted => Ok(Exit::Failed),
        RunOutcome::NotStarted => {
            let (exit, message) = match summary.not_started {
                Some(NotStarted::ImageMissing(m)) => (Exit::NotFound, m),
                Some(other) => (Exit::Refused, other.to_string()),
                None => (Exit::Refused, "nothing was started".into()),
            };
            Err(err(exit, format!("{message}; nothing was changed")))
        }
    }
}

/// Asks on the terminal; refuses when there is none.
fn confirm(mode: Mode, service: &str, plan: &Plan) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(err(
            Exit::Refused,
            format!(
                "refusing to {} {service} without confirmation: pass --yes",
                mode.kind()
            ),
        ));
    }
    let mut out = std::io::stderr().lock();
    let _ = write!(
        out,
        "{} {service} on {} host(s)? [y/N] ",
        mode.kind(),
        plan.hosts().count()
    );
    let _ = out.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| err(Exit::Internal, format!("reading the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(err(Exit::Refused, "cancelled; nothing was changed"))
    }
}

/// Renders deploy events: text (with a live countdown on a terminal) or JSON lines.
struct Printer {
    json: bool,
    tty: bool,
    /// A countdown line is showing and must be cleared before the next line.
    dangling: bool,
}

impl Printer {
    fn new(json: bool) -> Self {
        Printer {
            json,
            tty: std::io::stdout().is_terminal(),
            dangling: false,
        }
    }

    fn line(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        if self.dangling {
            let _ = write!(out, "\r\x1b[K");
            self.dangling = false;
        }
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A line that the next one replaces (terminals only).
    fn transient(&mut self, text: &str) {
        if !self.tty {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[K{text}");
        let _ = out.flush();
        self.dangling = true;
    }

    fn json_line<T: Serialize>(&mut self, value: &T) {
        match serde_json::to_string(value) {
            Ok(text) => self.line(&text),
            Err(e) => eprintln!("flotilla: JSON encoding failed: {e}"),
        }
    }

    fn warning(&mut self, message: &str) {
        self.event(&DeployEvent::Warning {
            message: message.to_owned(),
        });
    }

    fn note(&mut self, message: &str) {
        if self.json {
            self.json_line(&serde_json::json!({"event": "nothing_to_do", "message": message}));
        } else {
            self.line(message);
        }
    }

    fn plan(&mut self, id: &str, mode: Mode, service: &ServiceSpec, plan: &Plan, pre_deploy: bool) {
        if self.json {
            self.json_line(&DeployEvent::Plan {
                deploy_id: id.to_owned(),
                service: service.name.clone(),
                plan: plan.clone(),
            });
        } else {
            let count = plan.hosts().count();
            self.line(&format!(
                "{} {} [{id}]: {count} host(s) in {} batch(es); stops after more than {} failure(s); \
                 health timeout {}s",
                mode.kind(),
                service.name,
                plan.batches.len(),
                plan.max_fail,
                service.health_timeout.as_secs()
            ));
            for (i, batch) in plan.batches.iter().enumerate() {
                for (j, h) in batch.iter().enumerate() {
                    let head = if j == 0 {
                        format!("  batch {}:", i + 1)
                    } else {
                        String::new()
                    };
                    let job = match h.job {
                        Job::Deploy => String::new(),
                        Job::Finish => " (finish the interrupted deploy)".into(),
                        Job::Restore => " (restore the old container)".into(),
                        Job::Keep => String::new(),
                    };
                    self.line(&format!(
                        "{head:<11} {}  {}  {} → {}{job}",
                        h.host, h.container, h.from, h.to
                    ));
                }
            }
            for h in &plan.unchanged {
                self.line(&format!(
                    "  unchanged: {}  {}  {}{}",
                    h.host,
                    h.container,
                    h.from,
                    h.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
        }
        if pre_deploy && let Some(cmd) = &service.pre_deploy {
            self.warning(&format!(
                "pre_deploy `{cmd}` runs once before the first host; database schema changes \
                 it makes are not undone by a rollback"
            ));
        }
    }

    fn event(&mut self, e: &DeployEvent) {
        if self.json {
            // The plan was printed before confirmation.
            if !matches!(e, DeployEvent::Plan { .. }) {
                self.json_line(e);
            }
            return;
        }
        let Some(text) = e.describe() else {
            return;
        };
        // Progress overwrites itself on a terminal; everything else is a line.
        if matches!(
            e,
            DeployEvent::Progress { .. } | DeployEvent::HealthWait { .. }
        ) {
            self.transient(&text);
        } else {
            for line in text.lines() {
                self.line(line);
            }
        }
    }
}

/// One host in `flotilla status`.
#[derive(Debug, Serialize)]
struct HostStatus {
    host: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    container: Option<String>,
    image: Option<String>,
    state: Option<String>,
    health: Option<String>,
    previous_image: Option<String>,
    deploy_id: Option<String>,
    lock: Option<crate::ops::deploy::LockInfo>,
    /// Why this host is half done by an interrupted deploy.
    half_done: Option<String>,
    old_container: Option<crate::ops::deploy::ContainerSnap>,
}

#[derive(Debug, Serialize)]
struct ServiceStatus {
    service: String,
    selector: String,
    hosts: Vec<HostStatus>,
    interrupted: bool,
    last_deploys: Vec<crate::ops::AuditRecord>,
}

pub async fn status(cli: &Cli, a: &StatusArgs) -> Result<Exit, CliError> {
    let conn = connect(cli, &a.service).await?;
    let result = status_connected(&conn, a).await;
    conn.fleet.shutdown().await;
    result
}

async fn status_connected(conn: &Connected, a: &StatusArgs) -> Result<Exit, CliError> {
    let service = &conn.service;
    let probes = conn.probes(None).await?;
    let interrupted = plan::interrupted(&probes);
    let mut hosts: Vec<HostStatus> = Vec::new();
    for name in &service.hosts {
        let Some(p) = probes.iter().find(|p| p.host == *name) else {
            let error = conn
                .unreachable()
                .into_iter()
                .find(|(h, _)| h == name)
                .map(|(_, e)| e);
            hosts.push(HostStatus {
                host: name.clone(),
                reachable: false,
                error,
                container: None,
                image: None,
                state: None,
                health: None,
                previous_image: None,
                deploy_id: None,
                lock: None,
                half_done: None,
                old_container: None,
            });
            continue;
        };
        let c = p.current.as_ref();
        hosts.push(HostStatus {
            host: p.host.clone(),
            reachable: true,
            error: None,
            container: p.container.clone(),
            image: c.map(|c| c.image.clone()),
            state: c.map(|c| c.state.clone()),
            health: c.and_then(|c| c.health.clone()),
            previous_image: c.and_then(|c| c.previous_image.clone()),
            deploy_id: c.and_then(|c| c.deploy_id.clone()),
            lock: p.lock.clone(),
            half_done: plan::half_done(p),
            old_container: p.old.clone(),
        });
    }
    let audit = AuditLog::from_env();
    let (records, _) = audit.tail(10_000).unwrap_or_default();
    let mut last: Vec<crate::ops::AuditRecord> = records
        .into_iter()
        .filter(|r| {
            crate::ops::deploy::is_final_record(&r.action)
                && hosts.iter().any(|h| {
                    h.host == r.host && h.container.as_deref() == Some(r.container.as_str())
                })
        })
        .collect();
    let keep_from = last.len().saturating_sub(10);
    last.drain(..keep_from);
    let report = ServiceStatus {
        service: service.name.clone(),
        selector: service.container.to_string(),
        interrupted: !interrupted.is_empty(),
        hosts,
        last_deploys: last,
    };
    if a.json {
        super::print_json(&report)?;
    } else {
        print_status(&report, &interrupted);
    }
    Ok(if conn.unreachable().is_empty() {
        Exit::Ok
    } else {
        Exit::Unreachable
    })
}

fn print_status(s: &ServiceStatus, interrupted: &Interrupted) {
    println!("service {} ({})", s.service, s.selector);
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = s
        .hosts
        .iter()
        .map(|h| {
            if !h.reachable {
                return vec![
                    h.host.clone(),
                    "UNREACHABLE".into(),
                    h.error.clone().unwrap_or_default(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                ];
            }
            vec![
                h.host.clone(),
                h.container.clone().unwrap_or_else(|| "(none)".into()),
                h.image.clone().unwrap_or_else(dash),
                h.state.clone().unwrap_or_else(dash),
                h.health.clone().unwrap_or_else(dash),
                h.previous_image.clone().unwrap_or_else(dash),
                match &h.lock {
                    None => dash(),
                    Some(l) => format!(
                        "{} pid {}{}",
                        l.holder,
                        l.pid,
                        match l.liveness {
                            Liveness::Alive => "",
                            Liveness::Dead => " (STALE: process gone)",
                            Liveness::Unknown => " (other machine)",
                        }
                    ),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        super::table::render(
            &[
                "HOST",
                "CONTAINER",
                "IMAGE",
                "STATE",
                "HEALTH",
                "PREVIOUS",
                "LOCK"
            ],
            &rows
        )
    );
    if !interrupted.is_empty() {
        println!();
        println!("{}", interrupted_message(&s.service, interrupted));
    }
    for h in &s.hosts {
        if let Some(l) = &h.lock
            && l.liveness != Liveness::Dead
        {
            println!(
                "{}: locked by deploy {} since {} (image {}); `flotilla deploy {} --break-lock` \
                 removes the lock if that deploy is gone",
                h.host, l.deploy_id, l.since, l.image, s.service
            );
        }
    }
    if !s.last_deploys.is_empty() {
        println!();
        println!("last deploys:");
        for r in &s.last_deploys {
            println!(
                "  {}  {}  {}  {}  {}",
                r.time, r.user, r.host, r.action, r.result
            );
        }
    }
}
