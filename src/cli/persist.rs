//! `persist` / `--persist`, `flotilla disconnect`, and the hidden daemon
//! subcommand: the command-line side of persistent sessions.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::Args;

use super::{Cli, CliError, Exit};
use crate::transport::persist::client::Stopped;
use crate::transport::persist::{self, Client};

/// `--persist DURATION`: `0`/`off` turns persistence off for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistFlag(pub Option<Duration>);

/// clap's parser for `--persist`.
pub fn parse_flag(text: &str) -> Result<PersistFlag, String> {
    crate::config::parse_persist(text).map(PersistFlag)
}

/// Arguments of the hidden daemon subcommand (started by flotilla itself).
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The control socket to listen on.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    /// Exit after this long without clients.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
    pub idle: Duration,
}

/// The persistent-session client of this run, if persistence is on and the
/// inventory has SSH hosts. Set up once per process.
pub fn client(cli: &Cli) -> Option<Arc<Client>> {
    static CLIENT: OnceLock<Option<Arc<Client>>> = OnceLock::new();
    CLIENT
        .get_or_init(|| match setup(cli) {
            Ok(client) => client.map(Arc::new),
            Err(e) => {
                persist::client::warn_fallback(&e.to_string());
                None
            }
        })
        .clone()
}

fn setup(cli: &Cli) -> Result<Option<Client>, persist::PersistError> {
    // A config that does not load is the verb's own error to report.
    let Ok(inventory) = super::load_inventory(cli) else {
        return Ok(None);
    };
    let idle = match cli.persist {
        Some(PersistFlag(flag)) => flag,
        None => inventory.ui.persist,
    };
    let (Some(idle), Some(source)) = (idle, inventory.source.as_ref()) else {
        return Ok(None);
    };
    Client::new(source, idle)
}

/// `flotilla disconnect`: stops this inventory's daemon, like `ssh -O exit`.
pub async fn disconnect(cli: &Cli) -> Result<Exit, CliError> {
    let inventory = super::load_inventory(cli)?;
    let internal = |e: persist::PersistError| CliError {
        exit: Exit::Internal,
        message: e.to_string(),
    };
    let client = match &inventory.source {
        Some(source) => Client::new(source, Duration::ZERO).map_err(internal)?,
        None => None,
    };
    let Some(client) = client else {
        println!("no persistent sessions: this inventory has no SSH hosts");
        return Ok(Exit::Ok);
    };
    let socket = client.socket().display().to_string();
    match persist::client::stop(client.socket())
        .await
        .map_err(internal)?
    {
        Stopped::Asked => println!("stopped the persistent-session daemon ({socket})"),
        Stopped::Ended(pid) => println!(
            "stopped the persistent-session daemon (pid {pid}), which did not answer ({socket})"
        ),
        Stopped::NoneRunning => println!("no persistent-session daemon was running ({socket})"),
    }
    Ok(Exit::Ok)
}

/// The daemon itself (`flotilla --config FILE persist-daemon …`).
pub async fn daemon(cli: &Cli, args: &DaemonArgs) -> Result<Exit, CliError> {
    let Some(config) = cli.config.as_deref() else {
        return Err(CliError::usage("the daemon needs --config"));
    };
    let ended = persist::server::run(config, &args.socket, args.idle)
        .await
        .map_err(|e| CliError {
            exit: Exit::Internal,
            message: e.to_string(),
        })?;
    Ok(match ended {
        persist::server::Ended::Served => Exit::Ok,
        persist::server::Ended::LockHeld => Exit::Refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_that_finds_the_lock_held_exits_as_its_starter_expects() {
        assert_eq!(Exit::Refused.code(), persist::LOCK_HELD_EXIT);
    }
}
