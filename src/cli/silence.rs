//! `flotilla silence`: hold back notifications about a service, host or
//! container for a while. `watch` still prints and records what it finds;
//! it re-reads the silences file when it changes.

use std::io::Write;

use clap::Args;
use clap_complete::engine::ArgValueCandidates;

use super::{Cli, CliError, Exit};
use crate::ops::alerts::silence::{self, Silence};

#[derive(Debug, Args)]
pub struct SilenceArgs {
    /// A service (`[service.NAME]` or Compose service), host or container name.
    #[arg(value_name = "TARGET", add = ArgValueCandidates::new(super::completions::target_names))]
    pub target: Option<String>,
    /// How long, e.g. `30m`, `2h`, `1d`.
    #[arg(long = "for", value_name = "DURATION")]
    pub length: Option<String>,
    /// Why (shown wherever the silence holds a finding back).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// End silences early: one by its id, or every one of a target.
    #[arg(long, value_name = "ID|TARGET", conflicts_with_all = ["target", "length"])]
    pub remove: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &SilenceArgs) -> Result<Exit, CliError> {
    let path = silence::default_path();
    let now = jiff::Timestamp::now();
    let io = |e: silence::SilenceError| CliError {
        exit: Exit::Internal,
        message: e.to_string(),
    };
    if let Some(which) = &args.remove {
        let (ended, left) = silence::remove(&path, which, now).map_err(io)?;
        if ended == 0 {
            return Err(CliError {
                exit: Exit::NotFound,
                message: format!("no silence in force with id or target {which:?}"),
            });
        }
        return print(&left, args.json, &format!("ended {ended} silence(s)"));
    }
    let Some(target) = &args.target else {
        let list = silence::in_force(&path, now).map_err(io)?;
        return print(&list, args.json, "");
    };
    let Some(length) = &args.length else {
        return Err(CliError::usage(format!(
            "silence {target}: say for how long, e.g. --for 1h"
        )));
    };
    let length = humantime::parse_duration(length)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::usage(format!("--for {length:?}: a duration like 30m, 2h or 1d"))
        })?;
    warn_if_unknown(cli, target);
    let by = crate::ops::audit::local_user();
    let reason = args.reason.as_deref().unwrap_or("");
    let (s, _) = silence::add(&path, target, length, reason, &by, now).map_err(io)?;
    print(
        std::slice::from_ref(&s),
        args.json,
        &silence::said(&s, length),
    )
}

/// A target the config does not name may still be a container or a Compose
/// service; said once, so a typo is noticed.
fn warn_if_unknown(cli: &Cli, target: &str) {
    let Ok((inventory, services)) = crate::config::load_fleet(cli.config.as_deref()) else {
        return;
    };
    let known = inventory.hosts.iter().any(|h| h.name == target)
        || services.iter().any(|s| s.name == target);
    if !known {
        eprintln!(
            "flotilla: note: {target:?} is no host or [service.NAME] of the config; \
             it silences a container or Compose service of that name"
        );
    }
}

fn print(list: &[Silence], json: bool, headline: &str) -> Result<Exit, CliError> {
    let mut out = std::io::stdout().lock();
    let text = if json {
        serde_json::to_string_pretty(list).unwrap_or_default()
    } else if !headline.is_empty() {
        headline.to_owned()
    } else if list.is_empty() {
        "no silences in force".to_owned()
    } else {
        list.iter()
            .map(|s| {
                format!(
                    "{}  {:<20} until {} UTC  by {}{}",
                    s.id,
                    s.target,
                    s.until.strftime("%F %H:%M"),
                    if s.by.is_empty() { "?" } else { &s.by },
                    if s.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", s.reason)
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    writeln!(out, "{}", crate::redact::clean(&text)).map_err(|e| CliError::output(&e))?;
    Ok(Exit::Ok)
}
