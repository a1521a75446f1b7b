//! The command's side: find (or start) the daemon for this inventory, then
//! ask it for streams to hosts' Docker APIs and for commands run on hosts.
//! Every wait is bounded; a daemon that cannot be used costs a warning and a
//! direct connection, never a hang.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::OnceCell;

use super::lock;
use super::wire::{self, Reply, Request};
use crate::config::Target;
use crate::transport::ssh::{ExecOutput, handshake_bound};

/// How long a live daemon takes at most to accept and answer `HELLO`.
const HELLO_WITHIN: Duration = Duration::from_secs(1);
/// How long a freshly started daemon may take to listen.
const START_WITHIN: Duration = Duration::from_secs(3);
/// Longest unix socket path (sun_path is 108 bytes, NUL included).
const MAX_SOCKET_PATH: usize = 107;
/// Beyond the SSH connection's own bounds, for the daemon's share of an answer.
const ANSWER_SLACK: Duration = Duration::from_secs(5);

/// Why a stream or command could not be had through the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The daemon tried the host and failed: the connection's own error.
    Host(String),
    /// The daemon itself failed (gone, stuck, refused).
    Daemon(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Host(m) => f.write_str(m),
            OpenError::Daemon(m) => write!(f, "persistent-session daemon: {m}"),
        }
    }
}

/// The daemon of one inventory, started on first use.
pub struct Client {
    /// The inventory file, absolute (the daemon reads it itself).
    config: PathBuf,
    socket: PathBuf,
    idle: Duration,
    /// Whether the daemon answered; asked once per process.
    ready: OnceCell<bool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("persist::Client")
            .field("socket", &self.socket)
            .field("idle", &self.idle)
            .finish()
    }
}

impl Client {
    /// The daemon for the inventory in `config`, kept `idle` after last use.
    /// `None` when the inventory has no SSH host (nothing to hold).
    pub fn new(config: &Path, idle: Duration) -> Result<Option<Client>, super::PersistError> {
        Self::for_inventory(config, idle).map_err(super::PersistError::Unusable)
    }

    fn for_inventory(config: &Path, idle: Duration) -> Result<Option<Client>, String> {
        let config = std::fs::canonicalize(config)
            .map_err(|e| format!("cannot resolve {}: {e}", config.display()))?;
        // Read from the absolute path, exactly as the daemon will, so both
        // derive the same socket name.
        let inventory = crate::config::load(Some(&config)).map_err(|e| e.to_string())?;
        if !super::has_ssh_hosts(&inventory) {
            return Ok(None);
        }
        let socket = super::socket_path(&super::socket_dir(), &inventory)?;
        Ok(Some(Client {
            config,
            socket,
            idle,
            ready: OnceCell::new(),
        }))
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A byte stream to `host`'s Docker API, and whether the daemon reaches
    /// it with `docker system dial-stdio`. `Ok(None)`: no daemon could be had
    /// (already warned about); connect directly.
    pub async fn open(
        &self,
        host: &str,
        target: &Target,
        accept_new: bool,
    ) -> Result<Option<(UnixStream, bool)>, OpenError> {
        if !self.ready().await {
            return Ok(None);
        }
        let req = Request::Open {
            host: host.to_owned(),
            accept_new,
        };
        let (stream, reply) = request(&self.socket, &req, b"", answer_bound(target))
            .await
            .map_err(OpenError::Daemon)?;
        match reply {
            Reply::Ok(how) => Ok(Some((stream, how == wire::DIAL_STDIO))),
            Reply::Err(message) => Err(OpenError::Host(message)),
            Reply::Exec(_) => Err(OpenError::Daemon("an exec's answer to an open".into())),
        }
    }

    /// Runs `command` on `host` over the daemon's session.
    pub async fn exec(
        &self,
        host: &str,
        accept_new: bool,
        command: &str,
        limit: usize,
    ) -> Result<ExecOutput, OpenError> {
        let req = Request::Exec {
            host: host.to_owned(),
            accept_new,
            limit,
            command_len: command.len(),
        };
        // Commands (vitals) carry their own bound; this one only guards the daemon.
        let within = Duration::from_secs(120);
        let (mut stream, reply) = request(&self.socket, &req, command.as_bytes(), within)
            .await
            .map_err(OpenError::Daemon)?;
        let header = match reply {
            Reply::Exec(header) => header
                .within(limit)
                .map_err(|e| OpenError::Daemon(e.to_string()))?,
            Reply::Err(message) => return Err(OpenError::Host(message)),
            Reply::Ok(_) => return Err(OpenError::Daemon("no exec header in the answer".into())),
        };
        let mut stdout = vec![0; header.stdout_len];
        let mut stderr = vec![0; header.stderr_len];
        let read = async {
            stream.read_exact(&mut stdout).await?;
            stream.read_exact(&mut stderr).await
        };
        tokio::time::timeout(within, read)
            .await
            .map_err(|_| OpenError::Daemon("no command output in time".into()))?
            .map_err(|e| OpenError::Daemon(format!("reading command output: {e}")))?;
        Ok(ExecOutput {
            exit_status: header.exit_status,
            stdout,
            stderr,
        })
    }

    async fn ready(&self) -> bool {
        *self
            .ready
            .get_or_init(|| async {
                match self.start().await {
                    Ok(()) => true,
                    Err(e) => {
                        warn_fallback(&e);
                        false
                    }
                }
            })
            .await
    }

    /// Greets a running daemon, or starts one and waits (bounded) until it listens.
    async fn start(&self) -> Result<(), String> {
        let dir = self.socket.parent().ok_or("the socket has no directory")?;
        // sun_path holds 108 bytes: a longer path could never be bound.
        if self.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "socket path {} is too long; set XDG_RUNTIME_DIR to a shorter directory",
                self.socket.display()
            ));
        }
        super::ensure_private_dir(dir)?;
        let first = match hello(&self.socket).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let silent = first == NoHello::Silent;
        tracing::debug!(
            "no persistent-session daemon at {:?} ({first}); starting one",
            self.socket
        );
        let mut child = self.spawn()?;
        let deadline = tokio::time::Instant::now() + START_WITHIN;
        let mut exited = false;
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let greeting = if exited {
                hello(&self.socket).await
            } else {
                // The child's end is news at once, even while a greeting waits.
                tokio::select! {
                    status = child.wait() => {
                        let status = status.map_err(|e| format!("waiting for the daemon: {e}"))?;
                        judge_exit(status, silent, &self.socket)?;
                        exited = true;
                        continue;
                    }
                    greeting = hello(&self.socket) => greeting,
                }
            };
            match greeting {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(format!(
                        "the daemon did not start within {}s ({e}); see {}",
                        START_WITHIN.as_secs(),
                        log_path().display()
                    ));
                }
                Err(_) => {}
            }
        }
    }

    /// Re-executes this binary as the daemon, detached: no terminal, its own
    /// session (it calls setsid), output to a log file in the state directory.
    fn spawn(&self) -> Result<tokio::process::Child, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find the flotilla binary: {e}"))?;
        let log = log_path();
        let stderr = crate::private::append(&log).map_or_else(
            |e| {
                tracing::debug!("no daemon log at {}: {e}", log.display());
                std::process::Stdio::null()
            },
            std::process::Stdio::from,
        );
        let child = tokio::process::Command::new(exe)
            .arg("--config")
            .arg(&self.config)
            .arg(super::DAEMON_SUBCOMMAND)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--idle")
            .arg(format!("{}ms", self.idle.as_millis()))
            // Holds no directory of the command's busy.
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| format!("cannot start the daemon: {e}"))?;
        // Not waited for beyond its start: it outlives us (tokio reaps it if
        // it ends first).
        Ok(child)
    }
}

/// The daemon's log: beside the audit log in the state directory.
pub fn log_path() -> PathBuf {
    crate::private::audit_log_path().with_file_name("persist.log")
}

/// Says once per process that the daemon is not used, and why.
pub fn warn_fallback(why: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "flotilla: warning: persistent sessions unavailable ({why}); connecting directly"
        );
    }
}

/// How long an `OPEN` may take: the daemon may have to connect every hop.
fn answer_bound(target: &Target) -> Duration {
    let hops = match target {
        Target::Ssh {
            endpoint, jumps, ..
        } => jumps
            .iter()
            .chain(std::iter::once(endpoint))
            .map(|ep| handshake_bound(ep.connect_timeout))
            .sum(),
        Target::Local { .. } => Duration::ZERO,
    };
    hops + ANSWER_SLACK
}

/// Why a daemon did not greet us.
#[derive(Debug, PartialEq, Eq)]
enum NoHello {
    /// Something listens (the kernel accepted) but does not answer in time.
    Silent,
    /// Nothing listens, or it answered wrongly.
    Failed(String),
}

impl std::fmt::Display for NoHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoHello::Silent => write!(f, "no answer within {}s", HELLO_WITHIN.as_secs_f32()),
            NoHello::Failed(e) => f.write_str(e),
        }
    }
}

/// `HELLO`, answered quickly by a live daemon.
async fn hello(socket: &Path) -> Result<(), NoHello> {
    match tokio::time::timeout(HELLO_WITHIN, exchange(socket, &Request::Hello, b"")).await {
        Err(_) => Err(NoHello::Silent),
        Ok(Err(e) | Ok((_, Reply::Err(e)))) => Err(NoHello::Failed(e)),
        Ok(Ok((_, Reply::Ok(_) | Reply::Exec(_)))) => Ok(()),
    }
}

/// A started daemon that ended: fine if it lost a race for the lock (the
/// winner is about to listen), unless the holder was listening already and
/// did not answer (`silent`): then none will. Any other failure is said at once.
fn judge_exit(status: std::process::ExitStatus, silent: bool, socket: &Path) -> Result<(), String> {
    let lock_held = status.code() == Some(super::LOCK_HELD_EXIT);
    if lock_held && silent {
        return Err(not_answering(socket));
    }
    if !lock_held && !status.success() {
        return Err(format!(
            "the daemon exited ({status}); see {}",
            log_path().display()
        ));
    }
    Ok(())
}

/// The daemon holding the lock does not answer: name it, and the way out.
fn not_answering(socket: &Path) -> String {
    let lock = lock::path(socket);
    match lock::pid_in(&lock).filter(|pid| lock::is_daemon(*pid, socket)) {
        Some(pid) => {
            format!("the daemon (pid {pid}) does not answer; `flotilla disconnect` ends it")
        }
        None => format!(
            "the process holding {} does not answer on {}",
            lock.display(),
            socket.display()
        ),
    }
}

/// Sends one request (and its payload) and reads the answer line, all within `within`.
async fn request(
    socket: &Path,
    req: &Request,
    payload: &[u8],
    within: Duration,
) -> Result<(UnixStream, Reply), String> {
    tokio::time::timeout(within, exchange(socket, req, payload))
        .await
        .map_err(|_| format!("no answer within {}s", within.as_secs_f32()))?
}

/// One request and its answer line, unbounded (callers bound it).
async fn exchange(
    socket: &Path,
    req: &Request,
    payload: &[u8],
) -> Result<(UnixStream, Reply), String> {
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    let mut out = req.line().map_err(|e| e.to_string())?.into_bytes();
    out.extend_from_slice(payload);
    stream
        .write_all(&out)
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let line = wire::read_line(&mut stream)
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    let reply = Reply::parse(&line).map_err(|e| e.to_string())?;
    Ok((stream, reply))
}

/// What `flotilla disconnect` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The daemon stopped when asked.
    Asked,
    /// The daemon with this pid did not answer and was ended by signal.
    Ended(u32),
    /// None was running (a dead one's socket, if any, is removed).
    NoneRunning,
}

/// `flotilla disconnect`: asks the daemon at `socket` to exit, or ends one
/// that holds its lock but does not answer.
pub async fn stop(socket: &Path) -> Result<Stopped, super::PersistError> {
    stop_daemon(socket)
        .await
        .map_err(super::PersistError::Daemon)
}

async fn stop_daemon(socket: &Path) -> Result<Stopped, String> {
    match request(socket, &Request::Stop, b"", HELLO_WITHIN).await {
        Ok((mut stream, Reply::Ok(_) | Reply::Exec(_))) => {
            // The daemon closes the connection once it has stopped listening.
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(START_WITHIN, stream.read_to_end(&mut rest)).await;
            Ok(Stopped::Asked)
        }
        Ok((_, Reply::Err(e))) => Err(e),
        Err(e) => {
            let lock_path = lock::path(socket);
            match lock::take(&lock_path)? {
                // Held while removing: no daemon starts and binds meanwhile.
                lock::Holder::Nobody(_held) => {
                    remove_socket(socket)?;
                    Ok(Stopped::NoneRunning)
                }
                lock::Holder::Other(Some(pid)) if lock::is_daemon(pid, socket) => {
                    terminate(pid, socket).await?;
                    Ok(Stopped::Ended(pid))
                }
                // Never remove the socket of a lock holder: it may be live.
                lock::Holder::Other(_) => Err(format!(
                    "{e}; and whoever holds {} is not a daemon of this socket",
                    lock_path.display()
                )),
            }
        }
    }
}

/// Removes a socket nobody serves (a dead daemon's), if there is one.
fn remove_socket(socket: &Path) -> Result<(), String> {
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", socket.display()))
        }
        _ => Ok(()),
    }
}

/// Ends the daemon `pid`, which holds the lock of `socket` but does not
/// answer: SIGTERM with SIGCONT (a stopped process acts on nothing else), so
/// it removes its socket itself; SIGKILL if it has not let go of the lock
/// within the start bound.
async fn terminate(pid: u32, socket: &Path) -> Result<(), String> {
    use rustix::process::{Pid, Signal, kill_process};
    let target = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| format!("bad pid {pid}"))?;
    let lock_path = lock::path(socket);
    for signals in [&[Signal::TERM, Signal::CONT][..], &[Signal::KILL]] {
        for signal in signals {
            match kill_process(target, *signal) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e) => return Err(format!("cannot signal the daemon (pid {pid}): {e}")),
            }
        }
        let deadline = tokio::time::Instant::now() + START_WITHIN;
        while tokio::time::Instant::now() < deadline {
            if let lock::Holder::Nobody(_held) = lock::take(&lock_path)? {
                // A killed daemon leaves its socket behind.
                return remove_socket(socket);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Err(format!("the daemon (pid {pid}) did not exit"))
}
