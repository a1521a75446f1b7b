//! `flotilla restart|stop|start|kill TARGET...`: resolve targets across the
//! fleet, confirm, run, audit, report.

use std::io::{IsTerminal, Write};

use clap::Args;
use clap_complete::engine::ArgValueCandidates;
use serde::Serialize;

use super::{Cli, CliError, Exit, Selection, actor_config, load_inventory, print_json, select};
use crate::fleet::{ActorConfig, Fleet, FleetState, HostEvent, Link, Resolved, update};
use crate::ops::act;
use crate::ops::{AuditLog, ContainerAction};

#[derive(Debug, Args)]
pub struct ActArgs {
    /// Container names, service names (Compose service label) or id prefixes.
    #[arg(required = true, value_name = "TARGET", add = ArgValueCandidates::new(super::completions::target_names))]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub select: Selection,
    /// Don't ask for confirmation (required when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Print JSON results instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The fleet, connected, with the targets found on it.
pub struct Targeted {
    pub state: FleetState,
    pub fleet: Fleet,
    pub targets: Vec<Resolved>,
    /// `Exit::Unreachable` when some host did not answer (already reported).
    pub unreachable: Exit,
    /// The inventory's `[ui]`/`[logs]` settings.
    pub settings: crate::config::UiSettings,
}

/// Connects to the selected hosts and resolves `names`; a name that matches
/// nothing is `NotFound` (and the fleet is shut down).
pub async fn connect_to_targets(
    cli: &Cli,
    sel: &Selection,
    names: &[String],
    json: bool,
) -> Result<Targeted, CliError> {
    connect_to_targets_with(cli, sel, names, json, actor_config(cli)).await
}

/// [`connect_to_targets`] with chosen actor settings; with `reconnect` the
/// actors keep retrying, but a host whose first attempt failed counts as
/// answered.
pub async fn connect_to_targets_with(
    cli: &Cli,
    sel: &Selection,
    names: &[String],
    json: bool,
    cfg: ActorConfig,
) -> Result<Targeted, CliError> {
    let inventory = select(&load_inventory(cli)?, sel)?;
    let mut state = FleetState::new(&inventory);
    let mut fleet = Fleet::spawn(&inventory, cfg.clone());
    if cfg.reconnect {
        while !state
            .hosts
            .iter()
            .all(|h| h.settled() || matches!(h.link, Link::Down { .. }))
        {
            let Some(event) = fleet.events.recv().await else {
                break;
            };
            for effect in update(&mut state, event) {
                fleet.apply(effect);
            }
        }
    } else {
        fleet.settle(&mut state).await;
    }
    let unreachable = super::report_unreachable(&state, json);
    let (targets, missing) = state.resolve(names);
    if !missing.is_empty() {
        return Err(missing_targets(&state, &missing));
    }
    Ok(Targeted {
        state,
        fleet,
        targets,
        unreachable,
        settings: inventory.ui,
    })
}

/// Targets that matched nothing: not found when every selected host
/// answered, unreachable when a host that did not answer may hold them.
fn missing_targets(state: &FleetState, missing: &[String]) -> CliError {
    let down: Vec<&str> = state
        .hosts
        .iter()
        .filter(|h| !h.is_up())
        .map(|h| h.spec.name.as_str())
        .collect();
    if down.is_empty() {
        CliError {
            exit: Exit::NotFound,
            message: format!("no container or service named {}", missing.join(", ")),
        }
    } else {
        CliError {
            exit: Exit::Unreachable,
            message: format!(
                "{} not found on the hosts that answered; unreachable: {}",
                missing.join(", "),
                down.join(", ")
            ),
        }
    }
}

#[derive(Debug, Serialize)]
struct ActResult {
    host: String,
    container: String,
    action: ContainerAction,
    ok: bool,
    error: Option<String>,
}

pub async fn run(
    cli: &Cli,
    action: ContainerAction,
    args: &ActArgs,
    read_only: bool,
) -> Result<Exit, CliError> {
    let Targeted {
        state,
        mut fleet,
        targets,
        unreachable,
        ..
    } = connect_to_targets(cli, &args.select, &args.targets, args.json).await?;
    let act_targets = act::Target::of_resolved(&state, &targets);
    // Targets were found on hosts that answered; the actors answer for any
    // that dropped since.
    let policy = act::Policy { read_only };
    if let Err(refusal) = policy.authorize(&state, action, &act_targets, false) {
        return Err(CliError {
            exit: Exit::Refused,
            message: refusal.to_string(),
        });
    }
    if !args.yes && !confirm(action, &targets, &state)? {
        return Err(CliError {
            exit: Exit::Refused,
            message: "cancelled".into(),
        });
    }

    for (host, cmd) in act::commands(action, &act_targets) {
        fleet.send(host, cmd).await;
    }
    let audit = AuditLog::from_env();
    let mut results = Vec::new();
    while results.len() < targets.len() {
        let Some(event) = fleet.events.recv().await else {
            break;
        };
        let HostEvent::ActionDone {
            container, result, ..
        } = event.kind
        else {
            continue;
        };
        let host = state.hosts[event.host].spec.name.clone();
        let name = targets
            .iter()
            .find(|r| r.host == event.host && r.container.id == container)
            .map_or(container, |r| r.container.name.clone());
        let (record, _) = act::outcome(&host, &name, action, &result);
        if let Err(e) = act::audit(&audit, &record) {
            eprintln!("flotilla: warning: {e}");
        }
        results.push(ActResult {
            host,
            container: name,
            action,
            ok: result.is_ok(),
            error: result.err(),
        });
    }
    fleet.shutdown().await;

    if args.json {
        print_json(&results)?;
    } else {
        for r in &results {
            match &r.error {
                None => println!("{}  {}  {}: ok", r.host, r.container, r.action),
                Some(e) => println!("{}  {}  {}: FAILED: {e}", r.host, r.container, r.action),
            }
        }
    }
    let failed = results.iter().any(|r| !r.ok) || results.len() < targets.len();
    Ok(if failed { Exit::Failed } else { unreachable })
}

/// Asks on the terminal; refuses when there is no terminal to ask on.
fn confirm(
    action: ContainerAction,
    targets: &[Resolved],
    state: &FleetState,
) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError {
            exit: Exit::Refused,
            message: format!("refusing to {action} without confirmation: pass --yes"),
        });
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "About to {action} {} container(s):", targets.len());
    for r in targets {
        let _ = writeln!(
            err,
            "  {} on {}",
            r.container.name, state.hosts[r.host].spec.name
        );
    }
    let _ = write!(err, "Proceed? [y/N] ");
    drop(err);
    super::answered_yes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostSpec, Inventory, Target};
    use crate::fleet::{ContainerInfo, HostId, HostState};

    fn container(host: &str, name: &str, service: &str, id: &str) -> ContainerInfo {
        ContainerInfo {
            host: host.into(),
            id: id.into(),
            name: name.into(),
            image: "img".into(),
            state: "running".into(),
            health: None,
            exit_code: None,
            status: String::new(),
            created: String::new(),
            labels: [("com.docker.compose.service".to_owned(), service.to_owned())]
                .into_iter()
                .collect(),
            ports: Vec::new(),
            restart_count: None,
            started_at: None,
        }
    }

    fn state() -> FleetState {
        let spec = |n: &str| HostSpec {
            name: n.into(),
            address: n.into(),
            groups: vec![],
            read_only: false,
            target: Target::Local {
                socket: "/x".into(),
            },
        };
        let mut s = FleetState::new(&Inventory {
            source: None,
            ui: Default::default(),
            alerts: Default::default(),
            hosts: vec![spec("a"), spec("b")],
        });
        let mut a = HostState::new(spec("a"));
        a.containers = vec![
            container("a", "shop-web-1", "web", "aaaa1111"),
            container("a", "db", "db", "bbbb2222"),
        ];
        let mut b = HostState::new(spec("b"));
        b.containers = vec![container("b", "shop-web-1", "web", "cccc3333")];
        s.hosts = vec![a, b];
        s
    }

    #[test]
    fn a_missing_target_is_unreachable_while_a_host_is_down() {
        let mut s = state();
        let up = crate::fleet::Link::Up {
            info: crate::fleet::HostInfo {
                docker_version: "28".into(),
                api_version: "1.47".into(),
                tunnel: "unix".into(),
            },
            rtt: std::time::Duration::ZERO,
        };
        for h in &mut s.hosts {
            h.link = up.clone();
        }
        let err = missing_targets(&s, &["nope".to_owned()]);
        assert_eq!(err.exit, Exit::NotFound);
        s.hosts[1].link = crate::fleet::Link::Down {
            reason: "connection refused".into(),
            retry_in: None,
        };
        let err = missing_targets(&s, &["nope".to_owned()]);
        assert_eq!(err.exit, Exit::Unreachable);
        assert!(err.message.contains("unreachable: b"), "{}", err.message);
    }

    #[test]
    fn service_name_resolves_on_every_host() {
        let (found, missing) = state().resolve(&["web".to_owned()]);
        assert!(missing.is_empty());
        let hosts: Vec<HostId> = found.iter().map(|r| r.host).collect();
        assert_eq!(hosts, [0, 1]);
    }

    #[test]
    fn names_ids_and_missing_targets() {
        let (found, missing) = state().resolve(&[
            "db".to_owned(),
            "cccc".to_owned(),
            "nope".to_owned(),
            "shop-web-1".to_owned(),
        ]);
        let ids: Vec<&str> = found.iter().map(|r| r.container.id.as_str()).collect();
        assert_eq!(ids, ["bbbb2222", "cccc3333", "aaaa1111"], "no duplicates");
        assert_eq!(missing, ["nope"]);
    }

    #[test]
    fn short_id_prefixes_do_not_match() {
        let (found, missing) = state().resolve(&["aaa".to_owned()]);
        assert!(found.is_empty());
        assert_eq!(missing, ["aaa"]);
    }
}
