//! `flotilla deploy|rollback|status SERVICE`: the headless face of rolling
//! deploys. The core (probe, plan, execute) lives in `ops::deploy`; this module
//! connects and decides what the user asked for; `printer` confirms and prints
//! events, `status` answers `flotilla status`.

use clap::Args;
use clap_complete::engine::ArgValueCandidates;
use tokio::sync::{mpsc, watch};

use super::{Cli, CliError, Exit, Selection, actor_config, select};
use crate::config::{self, Amount, ServiceSpec};
use crate::fleet::{Fleet, FleetState};
use crate::ops::deploy::prepare::{self, Failure, Mode, PrepareError, Prepared, Ready};
use crate::ops::deploy::run::NotStarted;
use crate::ops::deploy::{
    Control, Delivery, DeployEvent, HostHandle, HostProbe, Plan, RunOutcome, SourceRef, compose,
    image, probe,
};
use crate::transport::api_versions::{self, ApiVersions};

/// Events buffered between the executor and the printer.
const EVENT_CAPACITY: usize = 256;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The service: a [service.NAME] table of the config.
    #[arg(add = ArgValueCandidates::new(crate::cli::completions::service_names))]
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
    #[arg(add = ArgValueCandidates::new(crate::cli::completions::service_names))]
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
    #[arg(add = ArgValueCandidates::new(crate::cli::completions::service_names))]
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
    /// Spoke remembered API versions without asking the daemons.
    remembered: bool,
}

/// Whether `connect` asks each daemon its API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AskVersion {
    /// Only when one of the hosts has none remembered.
    IfUnknown,
    Always,
}

async fn connect(cli: &Cli, name: &str, ask: AskVersion) -> Result<Connected, CliError> {
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
    // A deploy speaks each daemon's API version from the first call. Where
    // every host's is remembered, the probes go out right after the SSH
    // handshake (a daemon downgraded since fails them, and `run` asks again);
    // otherwise each daemon is asked on connect. Never the round-trip time.
    let versions = ApiVersions::from_env();
    let remembered = ask == AskVersion::IfUnknown
        && versions.knows_all(
            inventory
                .hosts
                .iter()
                .map(|h| api_versions::target_key(&h.target)),
        );
    let cfg = crate::fleet::ActorConfig {
        probe: !remembered,
        ping: false,
        ..actor_config(cli)
    };
    let mut fleet = Fleet::spawn(&inventory, cfg);
    // The probes read what the deploy needs: the actors' own container list
    // need not be waited for (one round trip less before anything starts).
    fleet.settle_until(&mut state, FleetState::all_linked).await;
    // Unreachable hosts are reported from the state (`Connected::unreachable`).
    let names: Vec<String> = inventory.hosts.iter().map(|h| h.name.clone()).collect();
    let hosts = crate::ops::deploy::reach::handles(&state, &fleet, &names).hosts;
    Ok(Connected {
        service,
        fleet,
        state,
        hosts,
        remembered,
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
    let mut ask = AskVersion::IfUnknown;
    loop {
        let conn = connect(cli, &req.service, ask).await?;
        let result = run_connected(cli, &req, &conn).await;
        conn.fleet.shutdown().await;
        match result {
            // A daemon downgraded (or replaced) since its version was remembered
            // refuses the probes, the first calls, so nothing was changed: forget
            // the versions and ask each daemon this time (then `remembered` is
            // false: at most one more run).
            Err(e) if conn.remembered && api_versions::is_version_mismatch(&e.message) => {
                tracing::info!("{}; asking the daemons their API versions", e.message);
                forget_versions(&conn.state);
                ask = AskVersion::Always;
            }
            result => return result,
        }
    }
}

fn forget_versions(state: &FleetState) {
    let versions = ApiVersions::from_env();
    for h in &state.hosts {
        if let Err(e) = versions.set(&api_versions::target_key(&h.spec.target), None) {
            tracing::debug!("could not forget an API version: {e}");
        }
    }
}

/// `deploy SERVICE` without `--image`: the image the hosts' compose files
/// name for the service, when they agree.
async fn image_from_files(conn: &Connected) -> Result<String, CliError> {
    let usage = |why: String| {
        CliError::usage(format!(
            "--image IMAGE[:TAG] is required{why} (or --resume / --rollback for an interrupted deploy)"
        ))
    };
    let probes = conn.probes(None).await?;
    let mut reads = Vec::new();
    for p in &probes {
        let t = match p.compose() {
            None => {
                return Err(usage(format!(
                    ": {} is not Compose-managed on {}, so there is no file to read it from",
                    conn.service.name, p.host
                )));
            }
            Some(Err(e)) => return Err(err(Exit::Refused, format!("{}: {e}", p.host))),
            Some(Ok(t)) => t,
        };
        let remote = conn
            .hosts
            .iter()
            .find(|h| h.name == p.host)
            .and_then(|h| h.remote.clone());
        reads.push(async move {
            let image = match &remote {
                Some(r) => compose::file_image(r, &t, std::time::Duration::from_secs(15)).await,
                None => Err("Compose files are read over SSH only".to_owned()),
            };
            (p.host.clone(), t, image)
        });
    }
    if reads.is_empty() {
        return Err(usage(String::new()));
    }
    let mut said: Vec<(String, String)> = Vec::new();
    for (host, t, image) in futures::future::join_all(reads).await {
        match image {
            Ok(Some(image)) => said.push((host, image)),
            Ok(None) => {
                return Err(usage(format!(
                    ": {}/{} on {host} names no image for {} (only a build)",
                    t.working_dir, t.file, t.service
                )));
            }
            Err(e) => return Err(err(Exit::Failed, format!("{host}: {e}"))),
        }
    }
    let first = said[0].1.clone();
    if said.iter().all(|(_, i)| *i == first) {
        return Ok(image::normalize(&first));
    }
    let each: Vec<String> = said.iter().map(|(h, i)| format!("{h} says {i}")).collect();
    Err(usage(format!(
        ": the hosts' compose files disagree ({}); make them agree, or pass --image",
        each.join(", ")
    )))
}

async fn run_connected(cli: &Cli, req: &Request, conn: &Connected) -> Result<Exit, CliError> {
    let service = &conn.service;
    let ready = match prepare_request(req, conn).await? {
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
        dry_run(req, conn, &mut printer, refusal, image.as_deref()).await;
        return Ok(Exit::Ok);
    }
    if the_plan.is_empty() {
        printer.note(&format!("{}: nothing to change", service.name));
        return Ok(Exit::Ok);
    }
    authorize(cli, conn, mode, &the_plan)?;
    if !req.yes {
        confirm(mode, &service.name, &the_plan)?;
    }
    let local = source_docker(&req.delivery).await?;

    deployment.local = local.map(crate::ops::deploy::DockerEngine::shared);
    follow_run(deployment, &mut printer).await
}

/// Probes and plans; a deploy without --image takes the image the compose
/// files name, and says so first.
async fn prepare_request(req: &Request, conn: &Connected) -> Result<Prepared, CliError> {
    let service = &conn.service;
    let from_files = match (req.mode, &req.image) {
        (Mode::Deploy, None) => {
            let image = image_from_files(conn).await?;
            if !req.json {
                println!(
                    "image {image}: what the compose files of {} say",
                    service.name
                );
            }
            Some(image)
        }
        _ => None,
    };
    prepare::prepare(
        service,
        conn.hosts.clone(),
        &conn.unreachable(),
        &prepare::Request {
            mode: req.mode,
            image: from_files.or_else(|| req.image.clone()),
            serial: req.serial.clone(),
            max_fail: req.max_fail,
            delivery: req.delivery.clone(),
            break_lock: req.break_lock,
        },
    )
    .await
    .map_err(from_prepare)
}

/// The read-only policy's word on changing the plan's hosts.
fn authorize(cli: &Cli, conn: &Connected, mode: Mode, the_plan: &Plan) -> Result<(), CliError> {
    let policy = crate::ops::act::Policy {
        read_only: cli.read_only,
    };
    let specs = conn.state.hosts.iter().map(|h| &h.spec);
    let hosts = the_plan.hosts().map(|h| h.host.as_str());
    policy
        .authorize_deploy(specs, mode, &conn.service.name, hosts)
        .map_err(|refusal| err(Exit::Refused, refusal.to_string()))
}

/// The local Docker daemon when the image streams from it: required with
/// `--from local`, tried when no source was named.
async fn source_docker(delivery: &Delivery) -> Result<Option<bollard::Docker>, CliError> {
    match delivery {
        Delivery::Stream {
            from: Some(SourceRef::Local),
        } => local_docker(true).await,
        Delivery::Stream { from: None } => local_docker(false).await,
        Delivery::Stream { .. } | Delivery::Registry => Ok(None),
    }
}

/// A dry run's extra word: a real run's refusal, and where the image would
/// stream from (or that it is nowhere).
async fn dry_run(
    req: &Request,
    conn: &Connected,
    printer: &mut Printer,
    refusal: Option<PrepareError>,
    image: Option<&str>,
) {
    if let Some(refusal) = refusal {
        printer.warning(&format!("a real run would be refused: {}", refusal.message));
    }
    if let Some(image) = image
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
                image: image.to_owned(),
                source: source.name,
            }),
            Ok(None) if from != &Some(SourceRef::Local) => printer.warning(&format!(
                "image {image} is on none of the hosts: pass --registry to pull it"
            )),
            Ok(None) => {}
            Err(e) => printer.warning(&e.to_string()),
        }
    }
}

/// Runs the deployment, printing its events; Ctrl-C aborts (the hosts in
/// flight roll back). The exit code says how it ended.
async fn follow_run(
    deployment: crate::ops::deploy::Deployment,
    printer: &mut Printer,
) -> Result<Exit, CliError> {
    let (tx, mut rx) = mpsc::channel(EVENT_CAPACITY);
    let (control, control_rx) = watch::channel(Control::Run);
    let mut task = tokio::spawn(crate::ops::deploy::execute(deployment, tx, control_rx));
    let mut interrupted_once = false;
    // Listening from the start: a ctrl_c() future made anew each turn of the
    // loop misses a Ctrl-C that arrives while an event is printed.
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::output(&e))?;
    // Ends with the task, not the channel: a stray sender clone must not hang us.
    let joined = loop {
        tokio::select! {
            biased;
            Some(event) = rx.recv() => printer.event(&event),
            joined = &mut task => break joined,
            signal = int.recv(), if !interrupted_once => {
                if signal.is_some() {
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
        // 5 means "failed and rolled back"; a lost host is unreachable.
        RunOutcome::Failed if summary.only_unreachable_failed() => Ok(Exit::Unreachable),
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

mod printer;
mod status;

use printer::{Printer, confirm};
pub use status::status;
