//! Shell integration: completion scripts (dynamic: host, group, service and
//! container names come from the inventory and the fleet, like kubectl's) and
//! the man page.

use std::io::Write;
use std::time::Duration;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;

use super::{Cli, CliError, Exit};
use crate::config;
use crate::fleet::{ActorConfig, Fleet, FleetState};

/// The environment variable the registration script calls flotilla back with.
const COMPLETE_VAR: &str = "COMPLETE";
/// Container names need the fleet; a Tab press waits at most this long.
const LIST_BUDGET: Duration = Duration::from_secs(3);

/// Answers a completion request (the shell calling back with `COMPLETE=…`)
/// and exits; returns for a normal run. Must run before anything is printed.
pub fn answer_completion_requests() {
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .complete();
}

/// `flotilla completions SHELL`: the script to source in the shell's rc file.
pub fn completions(shell: &str) -> Result<Exit, CliError> {
    let shells = Shells::builtins();
    let Some(completer) = shells.completer(shell) else {
        let known: Vec<&str> = shells.names().collect();
        return Err(CliError::usage(format!(
            "unknown shell {shell:?} (one of: {})",
            known.join(", ")
        )));
    };
    // The script calls this same binary back, wherever it is installed.
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "flotilla".to_owned());
    let mut out = std::io::stdout().lock();
    completer
        .write_registration(COMPLETE_VAR, "flotilla", "flotilla", &bin, &mut out)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(&e))?;
    Ok(Exit::Ok)
}

/// `flotilla man`: the roff man page on stdout.
pub fn man() -> Result<Exit, CliError> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(&e))?;
    Ok(Exit::Ok)
}

/// The inventory completion sees: `FLOTILLA_CONFIG` or the default path.
/// (A `--config` typed on the same line is not parsed yet at that point.)
fn fleet_config() -> Option<(config::Inventory, Vec<config::ServiceSpec>)> {
    let path = std::env::var_os("FLOTILLA_CONFIG").map(std::path::PathBuf::from);
    config::load_fleet(path.as_deref()).ok()
}

fn candidates(names: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort_by(|a, b| crate::fleet::natural_cmp(a, b));
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// Host names of the inventory.
pub fn host_names() -> Vec<CompletionCandidate> {
    let hosts = fleet_config().map(|(inv, _)| inv.hosts).unwrap_or_default();
    candidates(hosts.into_iter().map(|h| h.name))
}

/// Group names of the inventory.
pub fn group_names() -> Vec<CompletionCandidate> {
    let hosts = fleet_config().map(|(inv, _)| inv.hosts).unwrap_or_default();
    candidates(hosts.into_iter().flat_map(|h| h.groups))
}

/// `[service.NAME]` tables of the config.
pub fn service_names() -> Vec<CompletionCandidate> {
    let services = fleet_config().map(|(_, s)| s).unwrap_or_default();
    candidates(services.into_iter().map(|s| s.name))
}

/// Container and Compose service names on the fleet (asked within
/// `LIST_BUDGET`; hosts that do not answer by then are left out), plus the
/// config's services.
pub fn target_names() -> Vec<CompletionCandidate> {
    let Some((inventory, services)) = fleet_config() else {
        return Vec::new();
    };
    let mut names: Vec<String> = services.into_iter().map(|s| s.name).collect();
    let listed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| {
            rt.block_on(async {
                let mut state = FleetState::new(&inventory);
                let cfg = ActorConfig {
                    reconnect: false,
                    watch_events: false,
                    inspect: false,
                    refresh_every: None,
                    ..ActorConfig::default()
                };
                let mut fleet = Fleet::spawn(&inventory, cfg);
                let _ = tokio::time::timeout(LIST_BUDGET, fleet.settle(&mut state)).await;
                fleet.shutdown().await;
                state
            })
        });
    if let Ok(state) = listed {
        for c in state.containers() {
            names.push(c.name.clone());
            names.push(c.service().to_owned());
        }
    }
    candidates(names)
}
