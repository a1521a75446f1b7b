//! Command-line surface: clap definitions and the headless verbs, which run the
//! same fleet core as the TUI and only differ in how they print.

pub mod act;
pub mod completions;
pub mod deploy;
pub mod events;
pub mod exec;
pub mod exit;
pub mod hook;
pub mod logs;
pub mod persist;
pub mod prune;
pub mod silence;
pub mod table;
pub mod top;
pub mod triage;
pub mod watch;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::config::{self, HostSpec, Inventory, Target};
use crate::fleet::{ActorConfig, ComposeRef, ContainerInfo, Fleet, FleetState, HostSummary};
use crate::ops::ContainerAction;
use crate::transport::ConnectOptions;
pub use exit::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "flotilla",
    version,
    about = "Operate a small fleet of Docker hosts over SSH",
    after_help = exit::EXIT_CODES_HELP
)]
pub struct Cli {
    /// Inventory file (default: $XDG_CONFIG_HOME/flotilla/config.toml, else the local Docker daemon).
    #[arg(long, global = true, env = "FLOTILLA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Trust and record unknown SSH host keys (like StrictHostKeyChecking=accept-new).
    /// Changed keys are always refused.
    #[arg(long, global = true)]
    pub accept_new: bool,
    /// Refuse every mutating action (also per group: `read_only = true`).
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Keep SSH sessions open in a background process for this long after
    /// the last command (like ControlPersist), e.g. `10m`; `0` or `off`
    /// connects directly this once. Default: the config's `persist`, else off.
    #[arg(long, global = true, value_name = "DURATION", value_parser = persist::parse_flag)]
    pub persist: Option<persist::PersistFlag>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Each host's reachability, Docker version, round-trip time and vitals.
    Hosts(HostsArgs),
    /// Containers on every host (running only, unless --all).
    Ps(PsArgs),
    /// What is broken across the fleet right now, ranked by severity.
    Triage(triage::TriageArgs),
    /// Docker events of every host and flotilla's audit records, in time order.
    Events(events::EventsArgs),
    /// Print findings as they appear and resolve, send them to webhooks;
    /// optionally autoheal.
    Watch(watch::WatchArgs),
    /// Hold back watch's notifications about a service, host or container
    /// for a while (`silence api --for 1h`); without a target, list silences.
    Silence(silence::SilenceArgs),
    /// Every container on every host ranked by CPU, memory, network or
    /// block I/O, with the last hour's history (cgroup counters, one exec
    /// per host per interval).
    Top(top::TopArgs),
    /// Logs of containers or services, merged across hosts by time.
    Logs(logs::LogsArgs),
    /// Restart containers (by name, Compose service or id prefix).
    Restart(act::ActArgs),
    /// Stop containers.
    Stop(act::ActArgs),
    /// Start stopped containers.
    Start(act::ActArgs),
    /// Kill containers (SIGKILL).
    Kill(act::ActArgs),
    /// Run a command in a container (exit code = the command's), e.g.
    /// `flotilla exec web --host fleet-1 -it -- sh`.
    Exec(exec::ExecArgs),
    /// Roll a new image out to a service's hosts, batch by batch, health-gated.
    Deploy(deploy::DeployArgs),
    /// Return a service's hosts to the image they ran before the last deploy.
    Rollback(deploy::RollbackArgs),
    /// A service per host: image, health, deploy lock, half-done deploys, last deploys.
    Status(deploy::StatusArgs),
    /// Remove stopped containers and unused images (with --volumes, unused
    /// anonymous volumes) across the fleet; never a rollback's image.
    Prune(prune::PruneArgs),
    /// Stop the persistent-session daemon of this inventory (like `ssh -O exit`).
    Disconnect,
    /// The persistent-session daemon (started by flotilla itself).
    #[command(name = "persist-daemon", hide = true)]
    PersistDaemon(persist::DaemonArgs),
    /// Inspect the inventory.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (host, group, service and container
    /// names complete dynamically), e.g. `source <(flotilla completions bash)`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_name = "SHELL", value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
        shell: String,
    },
    /// Print the man page (roff), e.g. `flotilla man > ~/.local/share/man/man1/flotilla.1`.
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print the resolved hosts; contacts nothing.
    Check {
        #[arg(long)]
        json: bool,
    },
}

/// Which hosts a verb applies to; repeatable, combined with OR.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Only this host (repeatable).
    #[arg(long = "host", value_name = "NAME", add = ArgValueCandidates::new(completions::host_names))]
    pub hosts: Vec<String>,
    /// Only hosts in this group (repeatable).
    #[arg(long = "group", value_name = "GROUP", add = ArgValueCandidates::new(completions::group_names))]
    pub groups: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HostsArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Include stopped containers.
    #[arg(short, long)]
    pub all: bool,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A failure that maps to an exit code and a one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    /// Writing to stdout failed; a closed pipe (the reader is done, as with
    /// `| head`) is a quiet, successful end.
    pub fn output(e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError {
                exit: Exit::Ok,
                message: String::new(),
            }
        } else {
            CliError {
                exit: Exit::Internal,
                message: format!("writing output: {e}"),
            }
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Usage,
            message: message.into(),
        }
    }
}

impl From<config::ConfigError> for CliError {
    fn from(e: config::ConfigError) -> Self {
        CliError::usage(e.to_string())
    }
}

/// Loads the inventory named on the command line (or the default one).
pub fn load_inventory(cli: &Cli) -> Result<Inventory, CliError> {
    Ok(config::load(cli.config.as_deref())?)
}

/// Restricts the inventory to the selected hosts; unknown names are usage errors.
pub fn select(inventory: &Inventory, sel: &Selection) -> Result<Inventory, CliError> {
    for name in &sel.hosts {
        if !inventory.hosts.iter().any(|h| &h.name == name) {
            let known: Vec<&str> = inventory.hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(CliError {
                exit: Exit::NotFound,
                message: format!("no host named {name:?} (known: {})", known.join(", ")),
            });
        }
    }
    for group in &sel.groups {
        if !inventory.hosts.iter().any(|h| h.groups.contains(group)) {
            return Err(CliError {
                exit: Exit::NotFound,
                message: format!("no host is in group {group:?}"),
            });
        }
    }
    let everything = sel.hosts.is_empty() && sel.groups.is_empty();
    let hosts = inventory
        .hosts
        .iter()
        .filter(|h| {
            everything
                || sel.hosts.contains(&h.name)
                || h.groups.iter().any(|g| sel.groups.contains(g))
        })
        .cloned()
        .collect();
    Ok(Inventory {
        source: inventory.source.clone(),
        hosts,
        ui: inventory.ui.clone(),
        alerts: inventory.alerts.clone(),
    })
}

fn actor_config(cli: &Cli) -> ActorConfig {
    ActorConfig {
        connect: ConnectOptions {
            accept_new: cli.accept_new,
            persist: persist::client(cli),
        },
        reconnect: false,
        watch_events: false,
        inspect: false,
        refresh_every: None,
        probe: false,
        ..ActorConfig::default()
    }
}

/// Connects to every selected host once and waits for each to answer or fail.
async fn snapshot(cli: &Cli, sel: &Selection, probe: bool) -> Result<FleetState, CliError> {
    let inventory = select(&load_inventory(cli)?, sel)?;
    let mut state = FleetState::new(&inventory);
    let cfg = ActorConfig {
        probe,
        ..actor_config(cli)
    };
    Fleet::spawn(&inventory, cfg).collect(&mut state).await;
    Ok(state)
}

/// Reports unreachable hosts on stderr; returns the exit code they imply.
fn report_unreachable(state: &FleetState, json: bool) -> Exit {
    let mut exit = Exit::Ok;
    let mut err = std::io::stderr().lock();
    for host in state.unreachable() {
        exit = Exit::Unreachable;
        let reason = host.last_error.as_deref().unwrap_or("no answer");
        let _ = if json {
            writeln!(
                err,
                "{}",
                serde_json::json!({"host": host.spec.name, "error": reason})
            )
        } else {
            writeln!(err, "flotilla: {}: unreachable: {reason}", host.spec.name)
        };
    }
    exit
}

/// SIGINT and SIGTERM, listened to from now on: a `ctrl_c()` future made
/// anew each turn of a loop misses a signal that arrives between turns.
fn stop_signals() -> Result<(Signal, Signal), CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| signal(kind).map_err(|e| CliError::output(&e));
    Ok((
        listen(SignalKind::interrupt())?,
        listen(SignalKind::terminate())?,
    ))
}

/// A stop signal's stream.
type Signal = tokio::signal::unix::Signal;

/// Reads the answer to a question already printed on stderr: yes or not.
fn answered_yes() -> Result<bool, CliError> {
    use std::io::BufRead;
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError {
            exit: Exit::Internal,
            message: format!("reading the answer: {e}"),
        })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError {
        exit: Exit::Internal,
        message: format!("JSON encoding failed: {e}"),
    })?;
    println!("{text}");
    Ok(())
}

pub async fn hosts(cli: &Cli, args: &HostsArgs) -> Result<Exit, CliError> {
    let inventory = select(&load_inventory(cli)?, &args.select)?;
    let mut state = FleetState::new(&inventory);
    // Docker version and RTT are what this verb shows: probe them.
    let cfg = ActorConfig {
        probe: true,
        ..actor_config(cli)
    };
    let mut fleet = Fleet::spawn(&inventory, cfg);
    fleet.settle(&mut state).await;
    let handles = crate::ops::triage::collect::handles(&fleet, &state);
    let within = std::time::Duration::from_secs(10);
    let (mut vitals, mut disks) = tokio::join!(
        crate::ops::triage::collect::vitals(&handles, &state, within),
        crate::ops::triage::collect::docker_disks(&handles, &state, None, within),
    );
    fleet.shutdown().await;
    let rows: Vec<HostSummary> = state
        .hosts
        .iter()
        .map(|h| {
            let mut row = HostSummary::from(h);
            match vitals.remove(&h.spec.name) {
                Some(Ok(v)) => row.vitals = Some(v),
                Some(Err(e)) => row.vitals_error = Some(e),
                None => row.vitals_error = Some("host unreachable".to_owned()),
            }
            match disks.remove(&h.spec.name) {
                Some(Ok(d)) => row.docker_disk = Some(d),
                Some(Err(e)) => row.docker_disk_error = Some(e),
                None => row.docker_disk_error = Some("host unreachable".to_owned()),
            }
            row
        })
        .collect();
    if args.json {
        print_json(&rows)?;
    } else {
        print_hosts(&rows);
    }
    // The table already shows errors; JSON carries them too.
    Ok(if state.unreachable().next().is_some() {
        Exit::Unreachable
    } else {
        Exit::Ok
    })
}

/// The `hosts` table.
fn print_hosts(rows: &[HostSummary]) {
    use crate::human::bytes;
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|h| {
            let v = h.vitals.as_ref();
            vec![
                h.name.clone(),
                h.address.clone(),
                if h.reachable { "up" } else { "DOWN" }.to_owned(),
                h.docker_version.clone().unwrap_or_else(|| "-".into()),
                h.rtt_ms.map_or("-".into(), |ms| format!("{ms:.1}ms")),
                if h.reachable {
                    format!("{}/{}", h.running, h.containers)
                } else {
                    "-".into()
                },
                v.map_or("-".into(), |v| format!("{:.2}/{}", v.load1, v.cpus)),
                v.map_or("-".into(), |v| {
                    format!("{:.0}%", v.mem_available_ratio() * 100.0)
                }),
                v.map_or("-".into(), |v| {
                    format!(
                        "{} ({:.0}%)",
                        bytes(v.disk_free_bytes),
                        v.disk_free_ratio() * 100.0
                    )
                }),
                h.docker_disk.map_or("-".into(), |d| d.compact()),
                v.and_then(|v| v.compose.first().cloned())
                    .unwrap_or_else(|| "-".into()),
                h.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "HOST",
                "ADDRESS",
                "STATE",
                "DOCKER",
                "RTT",
                "RUNNING",
                "LOAD/CPUS",
                "MEM AVAIL",
                "DOCKER DISK FREE",
                "DOCKER DATA",
                "COMPOSE",
                "ERROR"
            ],
            &table
        )
    );
}

/// A `ps --json` row: the container, and its Compose project (null when none).
#[derive(serde::Serialize)]
struct PsRow<'a> {
    #[serde(flatten)]
    container: &'a ContainerInfo,
    compose: Option<ComposeRef>,
}

pub async fn ps(cli: &Cli, args: &PsArgs) -> Result<Exit, CliError> {
    let state = snapshot(cli, &args.select, false).await?;
    let containers: Vec<&ContainerInfo> = state
        .hosts
        .iter()
        .filter(|h| h.is_up())
        .flat_map(|h| h.containers.iter())
        .filter(|c| args.all || c.is_running())
        .collect();
    if args.json {
        let rows: Vec<PsRow> = containers
            .iter()
            .map(|c| PsRow {
                container: c,
                compose: ComposeRef::of(c),
            })
            .collect();
        print_json(&rows)?;
    } else {
        let rows: Vec<Vec<String>> = containers
            .iter()
            .map(|c| {
                vec![
                    c.host.clone(),
                    c.name.clone(),
                    c.image.clone(),
                    c.state.to_string(),
                    c.health.as_ref().map_or("-", |h| h.as_str()).to_owned(),
                    c.status.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(
                &["HOST", "NAME", "IMAGE", "STATE", "HEALTH", "STATUS"],
                &rows
            )
        );
    }
    Ok(report_unreachable(&state, args.json))
}

pub fn config_check(cli: &Cli, json: bool) -> Result<Exit, CliError> {
    let inventory = load_inventory(cli)?;
    if json {
        print_json(&inventory)?;
        return Ok(Exit::Ok);
    }
    match &inventory.source {
        Some(path) => println!("{}: ok, {} hosts", path.display(), inventory.hosts.len()),
        None => println!("no config file: using the local Docker daemon"),
    }
    let rows: Vec<Vec<String>> = inventory.hosts.iter().map(describe_host).collect();
    print!(
        "{}",
        table::render(
            &["HOST", "CONNECT", "VIA", "DOCKER SOCKET", "GROUPS"],
            &rows
        )
    );
    Ok(Exit::Ok)
}

fn describe_host(h: &HostSpec) -> Vec<String> {
    let (connect, via, socket) = match &h.target {
        Target::Ssh {
            endpoint,
            jumps,
            docker_socket,
        } => (
            format!(
                "ssh://{}@{}:{}",
                endpoint.user, endpoint.hostname, endpoint.port
            ),
            {
                // Only the outermost endpoint can have a ProxyCommand.
                let outermost = jumps.first().unwrap_or(endpoint);
                let hops: Vec<String> = outermost
                    .proxy_command
                    .iter()
                    .map(|c| format!("ProxyCommand: {c}"))
                    .chain(
                        jumps
                            .iter()
                            .map(|j| format!("{}@{}:{}", j.user, j.hostname, j.port)),
                    )
                    .collect();
                if hops.is_empty() {
                    "-".to_owned()
                } else {
                    hops.join(" > ")
                }
            },
            docker_socket.clone(),
        ),
        Target::Local { socket } => (
            "local".to_owned(),
            "-".to_owned(),
            socket.display().to_string(),
        ),
    };
    let groups = if h.groups.is_empty() {
        "-".to_owned()
    } else {
        h.groups.join(",")
    };
    vec![h.name.clone(), connect, via, socket, groups]
}

/// Default keys with the config's `[keys]` overrides; errors carry file:line:col.
fn keymap(inventory: &Inventory) -> Result<crate::tui::action::Keymap, CliError> {
    let mut map = crate::tui::action::Keymap::default();
    for o in &inventory.ui.keys {
        let one = std::collections::BTreeMap::from([(o.action.clone(), o.keys.clone())]);
        map = map.merged(&one).map_err(|e| {
            let file = inventory
                .source
                .as_ref()
                .map_or_else(|| "config".to_owned(), |p| p.display().to_string());
            CliError::usage(format!("{file}:{}:{}: {e}", o.line, o.col))
        })?;
    }
    Ok(map)
}

/// No verb: the interactive TUI (or `ps` when stdout is not a terminal).
async fn tui(cli: &Cli) -> Result<Exit, CliError> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        let args = PsArgs {
            select: Selection::default(),
            all: false,
            json: false,
        };
        return ps(cli, &args).await;
    }
    // The same tables `flotilla deploy` reads, so D deploys what the CLI would.
    let (inventory, services) = config::load_fleet(cli.config.as_deref())?;
    let opts = crate::tui::TuiOptions {
        actor: ActorConfig {
            // The TUI holds its own sessions for as long as it runs.
            connect: ConnectOptions {
                accept_new: cli.accept_new,
                persist: None,
            },
            // The Timeline view follows them live.
            forward_events: true,
            ..ActorConfig::default()
        },
        settings: crate::tui::app::Settings {
            read_only: cli.read_only,
            log_lines: inventory.ui.log_lines,
            log_tail: inventory.ui.log_tail,
            log_max_line_bytes: inventory.ui.log_max_line_bytes,
            shell: inventory.ui.shell.clone(),
            maintenance: inventory.alerts.maintenance.clone(),
            ..Default::default()
        },
        keymap: keymap(&inventory)?,
        services,
    };
    crate::tui::run(&inventory, opts)
        .await
        .map_err(|e| CliError {
            exit: Exit::Internal,
            message: format!("terminal: {e}"),
        })?;
    Ok(Exit::Ok)
}

/// Runs the chosen verb and returns its exit status.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    match &cli.command {
        Some(Command::Hosts(args)) => hosts(&cli, args).await,
        Some(Command::Top(args)) => top::run(&cli, args).await,
        Some(Command::Ps(args)) => ps(&cli, args).await,
        Some(Command::Config(ConfigCommand::Check { json })) => config_check(&cli, *json),
        Some(Command::Logs(a)) => logs::run(&cli, a).await,
        Some(Command::Triage(a)) => triage::run(&cli, a).await,
        Some(Command::Events(a)) => events::run(&cli, a).await,
        Some(Command::Watch(a)) => watch::run(&cli, a).await,
        Some(Command::Silence(a)) => silence::run(&cli, a),
        Some(Command::Deploy(a)) => deploy::deploy(&cli, a).await,
        Some(Command::Rollback(a)) => deploy::rollback(&cli, a).await,
        Some(Command::Status(a)) => deploy::status(&cli, a).await,
        Some(Command::Prune(a)) => prune::run(&cli, a).await,
        Some(Command::Restart(a)) => {
            act::run(&cli, ContainerAction::Restart, a, cli.read_only).await
        }
        Some(Command::Stop(a)) => act::run(&cli, ContainerAction::Stop, a, cli.read_only).await,
        Some(Command::Start(a)) => act::run(&cli, ContainerAction::Start, a, cli.read_only).await,
        Some(Command::Kill(a)) => act::run(&cli, ContainerAction::Kill, a, cli.read_only).await,
        Some(Command::Exec(a)) => exec::run(&cli, a).await,
        Some(Command::Completions { shell }) => completions::completions(shell),
        Some(Command::Man) => completions::man(),
        Some(Command::Disconnect) => persist::disconnect(&cli).await,
        Some(Command::PersistDaemon(a)) => persist::daemon(&cli, a).await,
        None => tui(&cli).await,
    }
}
