//! The daemon: one SSH session per host, held between commands, and a unix
//! socket that hands out channels to the hosts' Docker APIs (spliced to the
//! client's connection) and runs commands on the hosts. It verifies host
//! keys with the same code as a direct connection and exits after `idle`
//! without clients.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use russh::ChannelStream;
use russh::client::Msg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use super::lock;
use super::wire::{self, ExecHeader, Reply, Request};
use crate::config::{HostSpec, Target};
use crate::transport::SshSession;
use crate::transport::api_versions::{self, ApiVersions};
use crate::transport::channel;

/// A client has this long to send its request line.
const REQUEST_WITHIN: Duration = Duration::from_secs(10);
/// A channel open that takes longer means a dead session: reconnect.
const CHANNEL_WITHIN: Duration = Duration::from_secs(10);
/// A spare channel older than this is not trusted (dockerd may have closed it).
const SPARE_MAX_AGE: Duration = Duration::from_secs(60);
/// Spares are renewed in the background before they get that old.
const SPARE_RENEW_EVERY: Duration = Duration::from_secs(20);

/// How a daemon's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It served until idle, stopped or signalled.
    Served,
    /// Another daemon holds the lock (a race, or one that does not answer).
    LockHeld,
}

/// Runs the daemon for the inventory at `config` on `socket` until idle,
/// stopped, or signalled. Returns when it has stopped listening.
pub async fn run(
    config: &Path,
    socket: &Path,
    idle: Duration,
) -> Result<Ended, super::PersistError> {
    serve_inventory(config, socket, idle)
        .await
        .map_err(super::PersistError::Daemon)
}

async fn serve_inventory(config: &Path, socket: &Path, idle: Duration) -> Result<Ended, String> {
    // Out of the starting command's session: its terminal closing is not our end.
    if let Err(e) = rustix::process::setsid() {
        tracing::debug!("setsid: {e}");
    }
    let inventory = crate::config::load(Some(config)).map_err(|e| e.to_string())?;
    let dir = socket.parent().ok_or("the socket has no directory")?;
    super::ensure_private_dir(dir)?;
    if super::socket_path(dir, &inventory)? != socket {
        return Err(format!(
            "{} changed since the daemon was asked for; not serving it",
            config.display()
        ));
    }
    // Whoever holds the lock owns the socket path: two commands starting a
    // daemon at once leave one, and only the owner removes a stale socket.
    let lock = match lock::take(&lock::path(socket))? {
        lock::Holder::Nobody(lock) => lock,
        lock::Holder::Other(pid) => {
            tracing::info!(?pid, "another daemon serves {}", socket.display());
            return Ok(Ended::LockHeld);
        }
    };
    match std::fs::remove_file(socket) {
        Ok(()) => tracing::info!("removed a stale socket at {}", socket.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", socket.display())),
    }
    let listener = UnixListener::bind(socket)
        .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    // The directory already keeps others out; the socket says so too.
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot chmod {}: {e}", socket.display()))?;
    tracing::info!(
        "serving {} on {} (idle timeout {:?})",
        config.display(),
        socket.display(),
        idle
    );

    let daemon = Arc::new(Daemon::new(&inventory.hosts));
    let renew = tokio::spawn(renew_spares(Arc::clone(&daemon)));
    let result = accept_loop(&daemon, &listener, idle).await;
    renew.abort();
    drop(listener);
    if let Err(e) = std::fs::remove_file(socket) {
        tracing::warn!("cannot remove {}: {e}", socket.display());
    }
    // Release the stop request's connection only now that nobody can connect.
    daemon.stopped.store(true, Ordering::SeqCst);
    daemon.stopped_notify.notify_waiters();
    drop(lock);
    tracing::info!("stopped");
    result.map(|()| Ended::Served)
}

async fn accept_loop(
    daemon: &Arc<Daemon>,
    listener: &UnixListener,
    idle: Duration,
) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let sig = |kind| signal(kind).map_err(|e| format!("cannot watch signals: {e}"));
    let (mut term, mut int, mut hup) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::hangup())?,
    );
    let me = super::my_uid();
    let check_every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut tick = tokio::time::interval(check_every);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let conn = match accepted {
                    Ok((conn, _)) => conn,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        continue;
                    }
                };
                // The socket's directory is ours alone, but check the peer anyway.
                match conn.peer_cred() {
                    Ok(cred) if cred.uid() == me => {
                        tokio::spawn(serve(Arc::clone(daemon), conn));
                    }
                    Ok(cred) => tracing::warn!("refused a client with uid {}", cred.uid()),
                    Err(e) => tracing::warn!("refused a client whose uid is unknown: {e}"),
                }
            }
            _ = tick.tick() => {
                if daemon.activity.idle_for().is_some_and(|d| d >= idle) {
                    tracing::info!("idle for {idle:?}; exiting");
                    return Ok(());
                }
            }
            () = daemon.stop.notified() => {
                tracing::info!("asked to stop");
                return Ok(());
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            // Like sshd: a hangup is not a reason to drop the sessions.
            _ = hup.recv() => {}
        }
    }
}

struct Daemon {
    hosts: HashMap<String, Arc<Host>>,
    activity: Activity,
    stop: Notify,
    stopped: AtomicBool,
    stopped_notify: Notify,
}

impl Daemon {
    fn new(specs: &[HostSpec]) -> Daemon {
        let hosts = specs
            .iter()
            .filter_map(|spec| match &spec.target {
                Target::Ssh { .. } => Some((
                    spec.name.clone(),
                    Arc::new(Host {
                        spec: spec.clone(),
                        held: Mutex::new(None),
                    }),
                )),
                Target::Local { .. } => None,
            })
            .collect();
        Daemon {
            hosts,
            activity: Activity::new(),
            stop: Notify::new(),
            stopped: AtomicBool::new(false),
            stopped_notify: Notify::new(),
        }
    }

    fn host(&self, name: &str) -> Result<&Arc<Host>, String> {
        self.hosts
            .get(name)
            .ok_or_else(|| format!("no SSH host named {name:?} in the daemon's inventory"))
    }
}

/// One client connection: one request, then a splice or an answer.
async fn serve(daemon: Arc<Daemon>, mut conn: UnixStream) {
    let _active = daemon.activity.begin();
    let req = match tokio::time::timeout(REQUEST_WITHIN, wire::read_line(&mut conn)).await {
        Ok(Ok(line)) => Request::parse(&line).map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(format!("reading the request: {e}")),
        Err(_) => Err("no request in time".to_owned()),
    };
    let req = match req {
        Ok(req) => req,
        Err(e) => {
            tracing::debug!("bad request: {e}");
            let _ = reply(&mut conn, Reply::Err(e)).await;
            return;
        }
    };
    let outcome = match req {
        Request::Hello => {
            let hello = format!("flotilla {}", env!("CARGO_PKG_VERSION"));
            reply(&mut conn, Reply::Ok(hello)).await
        }
        Request::Stop => {
            let sent = reply(&mut conn, Reply::Ok(String::new())).await;
            daemon.stop.notify_one();
            // Hold the connection until the socket is gone, so that
            // `disconnect` returns only once the daemon has stopped listening.
            let stopped = daemon.stopped_notify.notified();
            if !daemon.stopped.load(Ordering::SeqCst) {
                let _ = tokio::time::timeout(Duration::from_secs(3), stopped).await;
            }
            sent
        }
        Request::Open { host, accept_new } => open(&daemon, &mut conn, &host, accept_new).await,
        Request::Exec {
            host,
            accept_new,
            limit,
            command_len,
        } => exec(&daemon, &mut conn, &host, accept_new, limit, command_len).await,
    };
    if let Err(e) = outcome {
        tracing::debug!("client connection: {e}");
    }
}

async fn reply(conn: &mut UnixStream, reply: Reply) -> std::io::Result<()> {
    let line = reply.line().map_err(std::io::Error::other)?;
    conn.write_all(line.as_bytes()).await
}

async fn open(
    daemon: &Daemon,
    conn: &mut UnixStream,
    host: &str,
    accept_new: bool,
) -> std::io::Result<()> {
    let channel = match daemon.host(host) {
        Ok(h) => h.channel(accept_new).await,
        Err(e) => Err(e),
    };
    let (mut channel, dial_stdio) = match channel {
        Ok(opened) => opened,
        Err(e) => return reply(conn, Reply::Err(e)).await,
    };
    // How the daemon reaches the API, for `hosts` to show.
    let how = if dial_stdio {
        wire::DIAL_STDIO
    } else {
        wire::STREAMLOCAL
    };
    reply(conn, Reply::Ok(how.to_owned())).await?;
    // Both ways until either side ends (the command exits, or dockerd closes).
    tokio::io::copy_bidirectional(conn, &mut channel).await?;
    Ok(())
}

async fn exec(
    daemon: &Daemon,
    conn: &mut UnixStream,
    host: &str,
    accept_new: bool,
    limit: usize,
    command_len: usize,
) -> std::io::Result<()> {
    let mut command = vec![0; command_len];
    tokio::time::timeout(REQUEST_WITHIN, conn.read_exact(&mut command))
        .await
        .map_err(|_| std::io::Error::other("no command in time"))??;
    let Ok(command) = String::from_utf8(command) else {
        return reply(conn, Reply::Err("the command is not UTF-8".into())).await;
    };
    let session = match daemon.host(host) {
        Ok(h) => h.session(accept_new).await,
        Err(e) => Err(e),
    };
    let out = match session {
        Ok(session) => session
            .exec(&command, limit)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let out = match out {
        Ok(out) => out,
        Err(e) => return reply(conn, Reply::Err(e)).await,
    };
    let header = ExecHeader {
        exit_status: out.exit_status,
        stdout_len: out.stdout.len(),
        stderr_len: out.stderr.len(),
    };
    reply(conn, Reply::Exec(header)).await?;
    conn.write_all(&out.stdout).await?;
    conn.write_all(&out.stderr).await
}

/// One host: its held session and the spare channel opened ahead of need.
struct Host {
    spec: HostSpec,
    held: Mutex<Option<Held>>,
}

struct Held {
    session: Arc<SshSession>,
    dial_stdio: Arc<AtomicBool>,
    spare: Option<Spare>,
}

impl Held {
    /// Ends the session now, with its spare and any stream spliced over it.
    async fn close(self) {
        if let Some(spare) = self.spare {
            spare.task.abort();
        }
        self.session.close("host key no longer trusted").await;
    }
}

/// A channel being opened (or open) in the background, for the next request.
struct Spare {
    since: Instant,
    task: JoinHandle<std::io::Result<ChannelStream<Msg>>>,
}

impl Host {
    fn socket(&self) -> &str {
        match &self.spec.target {
            Target::Ssh { docker_socket, .. } => docker_socket,
            Target::Local { .. } => "",
        }
    }

    /// The held session, connected (again) if there is none or it is gone.
    /// Host keys are checked exactly as for a direct connection, on every
    /// request: a held session whose key known_hosts no longer trusts is
    /// closed, and the new connection's check gives the direct error. A key
    /// is trusted beyond known_hosts only when this request says --accept-new.
    async fn ensure<'a>(
        &self,
        held: &'a mut Option<Held>,
        accept_new: bool,
    ) -> Result<&'a mut Held, String> {
        if let Some(h) = held.as_ref()
            && let Some(reason) = h.session.closed_reason()
        {
            tracing::info!(host = %self.spec.name, %reason, "session lost; reconnecting");
            *held = None;
        }
        if let Some(h) = held.as_ref()
            && let Err(e) = h.session.recheck_host_keys(accept_new)
        {
            tracing::warn!(host = %self.spec.name, "{e}; closing the held session");
            if let Some(old) = held.take() {
                old.close().await;
            }
        }
        if held.is_none() {
            let Target::Ssh {
                endpoint, jumps, ..
            } = &self.spec.target
            else {
                return Err(format!("{} is not an SSH host", self.spec.name));
            };
            let session = SshSession::connect(endpoint, jumps, accept_new)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(host = %self.spec.name, "connected");
            let known = ApiVersions::from_env().dial_stdio(&self.memory_key());
            *held = Some(Held {
                session,
                dial_stdio: Arc::new(AtomicBool::new(known)),
                spare: None,
            });
        }
        held.as_mut()
            .ok_or_else(|| format!("{}: no session", self.spec.name))
    }

    fn memory_key(&self) -> String {
        api_versions::target_key(&self.spec.target)
    }

    async fn session(&self, accept_new: bool) -> Result<Arc<SshSession>, String> {
        let mut held = self.held.lock().await;
        Ok(Arc::clone(
            &self.ensure(&mut held, accept_new).await?.session,
        ))
    }

    /// A channel to the Docker API: the spare if there is a fresh one (then
    /// the next spare starts opening), else a new one. A session that cannot
    /// open a channel is replaced once.
    /// Also says whether the channel is a `docker system dial-stdio` one.
    async fn channel(&self, accept_new: bool) -> Result<(ChannelStream<Msg>, bool), String> {
        let mut last = String::new();
        for _attempt in 0..2 {
            let (spare, session, dial_stdio) = {
                let mut held = self.held.lock().await;
                let h = self.ensure(&mut held, accept_new).await?;
                let spare = h.spare.take();
                h.spare = Some(self.spare(h));
                (spare, Arc::clone(&h.session), Arc::clone(&h.dial_stdio))
            };
            if let Some(spare) = spare {
                if spare.since.elapsed() < SPARE_MAX_AGE {
                    match spare.task.await {
                        Ok(Ok(stream)) => return Ok((stream, dial_stdio.load(Ordering::Relaxed))),
                        Ok(Err(e)) => tracing::debug!("spare channel failed: {e}"),
                        Err(e) => tracing::debug!("spare channel task: {e}"),
                    }
                } else {
                    spare.task.abort();
                }
            }
            let versions = ApiVersions::from_env();
            let key = self.memory_key();
            let opening = channel::open(
                &session,
                self.socket(),
                &dial_stdio,
                Some((&versions, &key)),
            );
            match tokio::time::timeout(CHANNEL_WITHIN, opening).await {
                Ok(Ok(stream)) => return Ok((stream, dial_stdio.load(Ordering::Relaxed))),
                Ok(Err(e)) => last = format!("Docker API on {}: {e}", self.socket()),
                Err(_) => {
                    last = format!("no channel to {} within {CHANNEL_WITHIN:?}", self.socket())
                }
            }
            // Drop this session (unless somebody replaced it already) and retry.
            let mut held = self.held.lock().await;
            if held
                .as_ref()
                .is_some_and(|h| Arc::ptr_eq(&h.session, &session))
            {
                tracing::info!(host = %self.spec.name, "{last}; reconnecting");
                *held = None;
            }
        }
        Err(last)
    }

    /// Starts opening a channel in the background.
    fn spare(&self, held: &Held) -> Spare {
        let session = Arc::clone(&held.session);
        let dial_stdio = Arc::clone(&held.dial_stdio);
        let socket = self.socket().to_owned();
        let key = self.memory_key();
        Spare {
            since: Instant::now(),
            task: tokio::spawn(async move {
                let versions = ApiVersions::from_env();
                let opening =
                    channel::open(&session, &socket, &dial_stdio, Some((&versions, &key)));
                tokio::time::timeout(CHANNEL_WITHIN, opening)
                    .await
                    .map_err(|_| std::io::Error::other("spare channel open timed out"))?
            }),
        }
    }
}

/// Keeps each host's spare young enough to be trusted.
async fn renew_spares(daemon: Arc<Daemon>) {
    let mut tick = tokio::time::interval(SPARE_RENEW_EVERY);
    loop {
        tick.tick().await;
        for host in daemon.hosts.values() {
            // A busy host is being served: its spare is fresh anyway.
            let Ok(mut held) = host.held.try_lock() else {
                continue;
            };
            let Some(h) = held.as_mut() else { continue };
            if h.session.closed_reason().is_some() {
                continue;
            }
            if h.spare
                .as_ref()
                .is_some_and(|s| s.since.elapsed() >= SPARE_MAX_AGE - SPARE_RENEW_EVERY)
            {
                if let Some(old) = h.spare.take() {
                    old.task.abort();
                }
                h.spare = Some(host.spare(h));
            }
        }
    }
}

/// Client connections open now, and when the last one ended.
struct Activity {
    active: AtomicUsize,
    last: std::sync::Mutex<Instant>,
}

struct Active<'a>(&'a Activity);

impl Activity {
    fn new() -> Activity {
        Activity {
            active: AtomicUsize::new(0),
            last: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn begin(&self) -> Active<'_> {
        self.active.fetch_add(1, Ordering::SeqCst);
        Active(self)
    }

    fn touch(&self) {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// How long nobody has been connected; `None` while somebody is.
    fn idle_for(&self) -> Option<Duration> {
        if self.active.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(
            self.last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .elapsed(),
        )
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}
