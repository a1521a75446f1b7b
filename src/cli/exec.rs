//! `flotilla exec TARGET [--host H] [-i] [-t] [--all-matching] -- CMD…`: run a
//! command in a container over the host's session; exit code = the command's.

use std::io::IsTerminal;

use clap::Args;
use clap_complete::engine::ArgValueCandidates;
use tokio::sync::mpsc;

use super::act::connect_to_targets;
use super::{Cli, CliError, Exit, Selection};
use crate::fleet::Resolved;
use crate::ops::act::{self, Policy};
use crate::ops::exec::{self as container_exec, ExecError, ExecRequest, Sinks};
use crate::ops::{AuditLog, AuditRecord};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A container name, Compose service or id prefix.
    #[arg(value_name = "TARGET", add = ArgValueCandidates::new(super::completions::target_names))]
    pub target: String,
    #[command(flatten)]
    pub select: Selection,
    /// Keep stdin open and feed it to the command.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal (needs a terminal here).
    #[arg(short, long)]
    pub tty: bool,
    /// Run on every container TARGET matches (output prefixed by host).
    #[arg(long)]
    pub all_matching: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

pub async fn run(cli: &Cli, args: &ExecArgs) -> Result<Exit, CliError> {
    let targeted =
        connect_to_targets(cli, &args.select, std::slice::from_ref(&args.target), false).await?;
    let (state, fleet, targets) = (targeted.state, targeted.fleet, targeted.targets);
    if targets.len() > 1 && !args.all_matching {
        let list: Vec<String> = targets
            .iter()
            .map(|r| format!("{} on {}", r.container.name, state.hosts[r.host].spec.name))
            .collect();
        return Err(CliError::usage(format!(
            "{} matches {} containers ({}): pass --host, a container name, or --all-matching",
            args.target,
            targets.len(),
            list.join(", ")
        )));
    }
    if args.tty && (args.all_matching && targets.len() > 1 || !std::io::stdin().is_terminal()) {
        return Err(CliError::usage(
            "-t needs a terminal on stdin and a single container",
        ));
    }
    let act_targets = act::Target::of_resolved(&state, &targets);
    let policy = Policy {
        read_only: cli.read_only,
    };
    if let Err(refusal) = policy.authorize_verb(&state, act::Verb::Exec, &act_targets, true) {
        return Err(CliError {
            exit: Exit::Refused,
            message: refusal.to_string(),
        });
    }
    let audit = AuditLog::from_env();
    let mut exit = Exit::Ok;
    let mut code_out: Option<i64> = None;
    let prefix = targets.len() > 1;
    for r in &targets {
        let host = state.hosts[r.host].spec.name.clone();
        let Some(docker) = fleet.docker(r.host) else {
            eprintln!("flotilla: {host}: no longer connected");
            exit = exit.worst(Exit::Unreachable);
            continue;
        };
        let result = one(&docker, r, args, prefix.then_some(host.as_str())).await;
        let record = AuditRecord::new(
            &host,
            &r.container.name,
            container_exec::audit_action(&args.cmd),
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        if let Err(e) = act::audit(&audit, &record) {
            eprintln!("flotilla: warning: {e}");
        }
        match result {
            Ok(code) => {
                if code != 0 && code_out.is_none_or(|c| c == 0) {
                    code_out = Some(code);
                }
                code_out.get_or_insert(code);
            }
            Err(e) => {
                eprintln!("flotilla: {host}: {e}");
                exit = exit.worst(Exit::Failed);
            }
        }
    }
    fleet.shutdown().await;
    if exit != Exit::Ok {
        return Ok(exit.worst(targeted.unreachable));
    }
    // The command's own exit code, like `docker exec`.
    Ok(match code_out.unwrap_or(0) {
        0 => targeted.unreachable,
        code => Exit::Command(u8::try_from(code.clamp(1, 255)).unwrap_or(255)),
    })
}

/// One container: wires the terminal (or pipes) to the exec.
async fn one(
    docker: &bollard::Docker,
    r: &Resolved,
    args: &ExecArgs,
    prefix: Option<&str>,
) -> Result<i64, String> {
    let size = crossterm::terminal::size().ok();
    let req = ExecRequest {
        container: r.container.id.clone(),
        cmd: args.cmd.clone(),
        stdin: args.interactive,
        tty: args.tty,
        size,
    };
    let _raw = if args.tty {
        Some(RawMode::enable().map_err(|e| format!("terminal: {e}"))?)
    } else {
        None
    };
    // Window size changes follow the session (none without a TTY).
    let (resize_rx, _resizes) = if args.tty {
        let (rx, guard) = crate::terminal::follow_resizes();
        (rx, Some(guard))
    } else {
        (mpsc::channel(1).1, None)
    };
    let input = args.interactive.then(tokio::io::stdin);
    let result = match prefix {
        None => {
            let sinks = Sinks {
                out: tokio::io::stdout(),
                err: tokio::io::stderr(),
            };
            container_exec::run(docker, &req, input, sinks, resize_rx).await
        }
        Some(host) => {
            let sinks = Sinks {
                out: Prefixed::new(host, tokio::io::stdout()),
                err: Prefixed::new(host, tokio::io::stderr()),
            };
            container_exec::run(docker, &req, input, sinks, resize_rx).await
        }
    };
    match result {
        // The reader is done (`| head`): a quiet, successful end, like `ps`.
        Err(ExecError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => other.map_err(|e| e.to_string()),
    }
}

/// Raw terminal for `-t`, restored on drop (also on errors).
struct RawMode;

impl RawMode {
    fn enable() -> std::io::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Prefixes every line with `host: ` (for `--all-matching`).
struct Prefixed<W> {
    prefix: Vec<u8>,
    at_line_start: bool,
    inner: W,
    pending: Vec<u8>,
}

impl<W> Prefixed<W> {
    fn new(host: &str, inner: W) -> Self {
        Prefixed {
            prefix: format!("{host}: ").into_bytes(),
            at_line_start: true,
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Prefixed<W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_empty() {
            for &b in buf {
                if this.at_line_start {
                    this.pending.extend_from_slice(&this.prefix);
                }
                this.pending.push(b);
                this.at_line_start = b == b'\n';
            }
        }
        while !this.pending.is_empty() {
            match std::pin::Pin::new(&mut this.inner).poll_write(cx, &this.pending) {
                std::task::Poll::Ready(Ok(n)) => {
                    this.pending.drain(..n);
                }
                std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => return std::task::Poll::Pending,
            }
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
