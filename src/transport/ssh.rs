//! One russh session per host: connect (directly, through ProxyJump hops, or
//! over a ProxyCommand's stdin/stdout), verify the host key, authenticate,
//! keep alive, and open channels on demand.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::HashAlg;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, ChannelStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{oneshot, watch};

use super::TransportError;
use super::known_hosts::{self, Verdict};
use super::proxy::{ProxyProcess, spawn_proxy};
use crate::config::{SshEndpoint, StrictHostKeyChecking};

/// How often an idle session is probed, and after how many missed probes it is dropped.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 3;

/// An authenticated SSH session. Cheap to share: channel opens take `&self`.
pub struct SshSession {
    handle: Handle<ClientHandler>,
    closed: watch::Receiver<Option<String>>,
    endpoint: SshEndpoint,
    /// The host key this session was verified with.
    host_key: Arc<OnceLock<PublicKey>>,
    /// Jump sessions must outlive the tunnelled one.
    jump: Option<Arc<SshSession>>,
    /// The ProxyCommand carrying this session, killed when the session is dropped.
    _proxy: Option<ProxyProcess>,
}

/// Result of running a command over an exec channel.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// The last `n` lines it printed (stdout, then stderr), cleaned of
    /// escapes and secrets: what says why it failed.
    pub fn last_lines(&self, n: usize) -> Vec<String> {
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        );
        let said = crate::redact::clean(said.trim());
        let mut tail: Vec<String> = said.lines().rev().take(n).map(str::to_owned).collect();
        tail.reverse();
        tail
    }
}

impl SshSession {
    /// Connects through `jumps` (outermost first) to `endpoint`.
    pub async fn connect(
        endpoint: &SshEndpoint,
        jumps: &[SshEndpoint],
        accept_new: bool,
    ) -> Result<Arc<SshSession>, TransportError> {
        let mut via: Option<Arc<SshSession>> = None;
        for hop in jumps.iter().chain(std::iter::once(endpoint)) {
            let session = connect_one(hop, via.take(), accept_new).await?;
            via = Some(Arc::new(session));
        }
        via.ok_or_else(|| TransportError::Protocol("no endpoint to connect to".into()))
    }

    /// Whether the session is gone (remote closed, keepalive failed, …) and why.
    pub fn closed_reason(&self) -> Option<String> {
        if let Some(reason) = self.closed.borrow().clone() {
            return Some(reason);
        }
        self.handle
            .is_closed()
            .then(|| "SSH session closed".to_owned())
    }

    /// Checks the keys this session (and each jump host) was verified with
    /// against known_hosts as it is now, as a new connection would: a key
    /// revoked or replaced since is refused. Reads files only, no round trip.
    pub fn recheck_host_keys(&self, accept_new: bool) -> Result<(), TransportError> {
        let key = self.host_key.get().ok_or_else(|| {
            TransportError::Protocol("the session's host key was never verified".into())
        })?;
        check_host_key(&self.endpoint, key, accept_new)?;
        match &self.jump {
            Some(jump) => jump.recheck_host_keys(accept_new),
            None => Ok(()),
        }
    }

    /// Ends the session (and with it every channel on it). Bounded: a
    /// session too busy to take the message ends when its last handle drops.
    pub async fn close(&self, why: &str) {
        let closing = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, why, "");
        match tokio::time::timeout(Duration::from_secs(1), closing).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!("closing the session: {e}"),
            Err(_) => tracing::debug!("closing the session: no room to say so within 1s"),
        }
    }

    /// Changes to `Some(reason)` when the session ends.
    pub fn closed_watch(&self) -> watch::Receiver<Option<String>> {
        self.closed.clone()
    }

    /// A bidirectional stream to a unix socket on the remote host.
    pub async fn open_streamlocal(
        &self,
        path: &str,
    ) -> Result<ChannelStream<client::Msg>, russh::Error> {
        let channel = self.handle.channel_open_direct_streamlocal(path).await?;
        Ok(channel.into_stream())
    }

    /// A stream over the stdin/stdout of a remote command.
    pub async fn exec_stream(
        &self,
        command: &str,
    ) -> Result<ChannelStream<client::Msg>, russh::Error> {
        let channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        Ok(channel.into_stream())
    }

    /// Runs a command to completion, collecting at most `limit` bytes of each output.
    pub async fn exec(&self, command: &str, limit: usize) -> Result<ExecOutput, russh::Error> {
        let mut channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        let mut out = ExecOutput {
            exit_status: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => append_bounded(&mut out.stdout, &data, limit),
                ChannelMsg::ExtendedData { data, .. } => {
                    append_bounded(&mut out.stderr, &data, limit)
                }
                ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Opens a TCP stream from the remote host to `host:port` (used for ProxyJump).
    async fn open_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<ChannelStream<client::Msg>, russh::Error> {
        let channel = self
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await?;
        Ok(channel.into_stream())
    }
}

fn append_bounded(buf: &mut Vec<u8>, data: &[u8], limit: usize) {
    let room = limit.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// The bound on one hop's whole connection (TCP, handshake, authentication):
/// ConnectTimeout only covers reaching the server and its banner, like
/// OpenSSH, so a slow but live link gets several round trips more.
pub fn handshake_bound(connect_timeout: Duration) -> Duration {
    HANDSHAKE_MIN.max(connect_timeout.saturating_mul(4))
}

const HANDSHAKE_MIN: Duration = Duration::from_secs(30);

async fn connect_one(
    ep: &SshEndpoint,
    via: Option<Arc<SshSession>>,
    accept_new: bool,
) -> Result<SshSession, TransportError> {
    let (closed_tx, closed_rx) = watch::channel(None);
    let host_key = Arc::new(OnceLock::new());
    let handler = ClientHandler {
        endpoint: ep.clone(),
        accept_new,
        closed: closed_tx,
        host_key: Arc::clone(&host_key),
    };
    let mut proxy: Option<ProxyProcess> = None;
    let bound = handshake_bound(ep.connect_timeout);
    let establishing = establish(ep, via.as_deref(), handler, &mut proxy);
    let established = tokio::time::timeout(bound, establishing)
        .await
        .unwrap_or_else(|_| {
            Err(TransportError::HandshakeTimeout {
                addr: format!("{}:{}", ep.hostname, ep.port),
                after: bound,
            })
        });
    let handle = match established {
        Ok(handle) => handle,
        Err(e) => {
            return Err(match proxy {
                Some(process) => process.failure(e).await,
                None => e,
            });
        }
    };

    Ok(SshSession {
        handle,
        closed: closed_rx,
        endpoint: ep.clone(),
        host_key,
        jump: via,
        _proxy: proxy,
    })
}

/// Reaches the server (directly, through `via`, or over the ProxyCommand,
/// left in `proxy` so its stderr can explain a failure), then handshakes
/// and authenticates.
async fn establish(
    ep: &SshEndpoint,
    via: Option<&SshSession>,
    handler: ClientHandler,
    proxy: &mut Option<ProxyProcess>,
) -> Result<Handle<ClientHandler>, TransportError> {
    let addr = format!("{}:{}", ep.hostname, ep.port);
    let config = Arc::new(client_config(ep));
    // Like OpenSSH: ConnectTimeout covers the TCP connect (or channel open
    // through a jump host) and the server's banner, not what follows.
    let banner_deadline = tokio::time::Instant::now() + ep.connect_timeout;
    let handshake = match (via, &ep.proxy_command) {
        (None, Some(command)) => {
            let (process, stream) = spawn_proxy(command)?;
            *proxy = Some(process);
            handshake(config, stream, handler, banner_deadline).await
        }
        (None, None) => {
            let tcp = tcp_stream(ep, &addr, banner_deadline).await?;
            handshake(config, tcp, handler, banner_deadline).await
        }
        (Some(jump), _) => {
            let stream = jump_stream(jump, ep, &addr, banner_deadline).await?;
            handshake(config, stream, handler, banner_deadline).await
        }
    };
    let mut handle = handshake
        .ok_or_else(|| too_slow(ep, &addr))?
        .map_err(|e| e.into_transport(&addr))?;
    authenticate(&mut handle, ep).await?;
    Ok(handle)
}

/// The server's banner did not arrive within ConnectTimeout.
fn too_slow(ep: &SshEndpoint, addr: &str) -> TransportError {
    TransportError::Timeout {
        addr: addr.to_owned(),
        after: ep.connect_timeout,
    }
}

/// A direct TCP connection to `addr`, by `banner_deadline`.
async fn tcp_stream(
    ep: &SshEndpoint,
    addr: &str,
    banner_deadline: tokio::time::Instant,
) -> Result<super::tcp::QuickAck, TransportError> {
    let tcp = tokio::time::timeout_at(banner_deadline, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| too_slow(ep, addr))?
        .map_err(|e| TransportError::Connect {
            addr: addr.to_owned(),
            source: e,
        })?;
    tcp.set_nodelay(true).ok();
    Ok(super::tcp::QuickAck::new(tcp))
}

/// A channel through the jump host to the endpoint, by `banner_deadline`.
async fn jump_stream(
    jump: &SshSession,
    ep: &SshEndpoint,
    addr: &str,
    banner_deadline: tokio::time::Instant,
) -> Result<ChannelStream<client::Msg>, TransportError> {
    tokio::time::timeout_at(banner_deadline, jump.open_tcp(&ep.hostname, ep.port))
        .await
        .map_err(|_| too_slow(ep, addr))?
        .map_err(|e| TransportError::Connect {
            addr: addr.to_owned(),
            source: std::io::Error::other(format!("through jump host: {e}")),
        })
}

/// russh's handshake over `stream`; `None` if the server's banner has not
/// arrived by `banner_deadline` (afterwards only the caller's bound applies).
async fn handshake<S>(
    config: Arc<client::Config>,
    stream: S,
    handler: ClientHandler,
    banner_deadline: tokio::time::Instant,
) -> Option<Result<Handle<ClientHandler>, HandlerError>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (seen_tx, seen_rx) = oneshot::channel();
    let stream = BannerWatch {
        inner: stream,
        seen: Some(seen_tx),
    };
    let connecting = client::connect_stream(config, stream, handler);
    tokio::pin!(connecting);
    tokio::select! {
        done = &mut connecting => return Some(done),
        // Err(RecvError) means the stream is gone: `connecting` ends with the reason.
        banner = tokio::time::timeout_at(banner_deadline, seen_rx) => {
            if banner.is_err() {
                return None;
            }
        }
    }
    Some(connecting.await)
}

/// Passes a stream through, signalling once the first line (the server's
/// identification string) has been read.
struct BannerWatch<S> {
    inner: S,
    seen: Option<oneshot::Sender<()>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for BannerWatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.seen.is_some()
            && buf.filled()[before..].contains(&b'\n')
            && let Some(seen) = self.seen.take()
        {
            let _ = seen.send(());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BannerWatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn client_config(ep: &SshEndpoint) -> client::Config {
    let mut config = client::Config {
        keepalive_interval: Some(KEEPALIVE_INTERVAL),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        ..Default::default()
    };
    // Prefer the key types we already know for this host, as OpenSSH does.
    let known = known_hosts::known_algorithms(&ep.known_hosts_name(), &ep.known_hosts_files);
    if !known.is_empty() {
        let (mut first, rest): (Vec<_>, Vec<_>) = config
            .preferred
            .key
            .iter()
            .cloned()
            .partition(|alg| known.iter().any(|k| same_family(k, alg)));
        first.extend(rest);
        config.preferred.key = first.into();
    }
    config
}

/// rsa-sha2-256/512 are negotiated names for a recorded `ssh-rsa` key.
fn same_family(a: &russh::keys::Algorithm, b: &russh::keys::Algorithm) -> bool {
    use russh::keys::Algorithm;
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        _ => a == b,
    }
}

async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    ep: &SshEndpoint,
) -> Result<(), TransportError> {
    let mut tried = Vec::new();
    // Asked only for an RSA key: it may wait up to 1 s for the server's EXT_INFO.
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    // ssh-agent first, like OpenSSH.
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match AgentClient::connect_env().await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_else(|e| {
                    tracing::warn!("ssh-agent: listing identities failed: {e}");
                    Vec::new()
                });
                for id in identities {
                    let key: PublicKey = id.public_key().into_owned();
                    tried.push(format!("agent key {}", known_hosts::fingerprint(&key)));
                    let hash = rsa_hash_for(handle, key.algorithm(), &mut rsa_hash).await;
                    match handle
                        .authenticate_publickey_with(&ep.user, key, hash, &mut agent)
                        .await
                    {
                        Ok(result) if result.success() => return Ok(()),
                        Ok(_) => {}
                        Err(e) => tracing::debug!("agent signing failed: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!("ssh-agent at SSH_AUTH_SOCK unusable: {e}"),
        }
    }

    let mut encrypted: Vec<PathBuf> = Vec::new();
    for path in &ep.identity_files {
        if !path.exists() {
            continue;
        }
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                encrypted.push(path.clone());
                continue;
            }
            Err(e) => {
                tried.push(format!("{} (unreadable: {e})", path.display()));
                continue;
            }
        };
        tried.push(path.display().to_string());
        let hash = rsa_hash_for(handle, key.algorithm(), &mut rsa_hash).await;
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let result = handle
            .authenticate_publickey(&ep.user, key)
            .await
            .map_err(|e| TransportError::Protocol(format!("authentication: {e}")))?;
        if result.success() {
            return Ok(());
        }
    }
    Err(TransportError::AuthFailed {
        user: ep.user.clone(),
        host: ep.alias.clone(),
        tried,
        encrypted,
    })
}

/// The RSA signature hash the server prefers, for RSA keys only; asked once.
async fn rsa_hash_for(
    handle: &Handle<ClientHandler>,
    alg: russh::keys::Algorithm,
    known: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if !matches!(alg, russh::keys::Algorithm::Rsa { .. }) {
        return None;
    }
    if known.is_none() {
        let best = handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        *known = Some(best);
    }
    known.flatten()
}

/// Looks `key` up in the endpoint's known_hosts files, exactly as OpenSSH
/// would at connect time: `Ok` for a known key (or an unknown one recorded
/// because new keys are accepted), the refusal otherwise.
fn check_host_key(
    ep: &SshEndpoint,
    key: &PublicKey,
    accept_new: bool,
) -> Result<(), TransportError> {
    let name = ep.known_hosts_name();
    let fingerprint = known_hosts::fingerprint(key);
    match known_hosts::verify(&name, key, &ep.known_hosts_files) {
        Verdict::Known => Ok(()),
        Verdict::Changed {
            file,
            line,
            recorded_type,
        } => Err(TransportError::HostKeyChanged {
            recorded: match known_hosts::recorded_fingerprint(&name, &file, line) {
                Some(fp) => format!("{recorded_type} {fp}"),
                None => recorded_type,
            },
            host: name,
            presented: format!("{} {fingerprint}", key.algorithm()),
            file,
            line,
        }),
        Verdict::Revoked { file, line } => Err(TransportError::HostKeyRevoked {
            host: name,
            fingerprint,
            file,
            line,
        }),
        Verdict::Unknown => {
            let file = ep
                .known_hosts_files
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("~/.ssh/known_hosts"));
            let accept_new =
                accept_new || ep.strict_host_key_checking == StrictHostKeyChecking::AcceptNew;
            if !accept_new {
                let openssh = key
                    .to_openssh()
                    .map_err(|e| TransportError::Protocol(format!("host key: {e}")))?;
                return Err(TransportError::HostKeyUnknown {
                    host: name,
                    key_type: key.algorithm().to_string(),
                    fingerprint,
                    file,
                    key: openssh,
                });
            }
            known_hosts::record(&name, key, &file).map_err(|e| {
                TransportError::Protocol(format!(
                    "could not record host key in {}: {e}",
                    file.display()
                ))
            })?;
            tracing::info!(
                "recorded new host key for {name} ({fingerprint}) in {}",
                file.display()
            );
            Ok(())
        }
    }
}

/// Errors surfaced from inside russh's handler callbacks.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    HostKey(TransportError),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl HandlerError {
    fn into_transport(self, addr: &str) -> TransportError {
        match self {
            HandlerError::HostKey(e) => e,
            HandlerError::Ssh(russh::Error::IO(e)) => TransportError::Connect {
                addr: addr.to_owned(),
                source: e,
            },
            HandlerError::Ssh(e) => TransportError::Protocol(e.to_string()),
        }
    }
}

pub(crate) struct ClientHandler {
    endpoint: SshEndpoint,
    /// `--accept-new` (StrictHostKeyChecking accept-new is the endpoint's).
    accept_new: bool,
    closed: watch::Sender<Option<String>>,
    /// Set once the server's key is verified, for `recheck_host_keys`.
    host_key: Arc<OnceLock<PublicKey>>,
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            return Err(HandlerError::HostKey(TransportError::Protocol(
                "host certificates are not supported; add the host's plain key to known_hosts"
                    .into(),
            )));
        };
        check_host_key(&self.endpoint, key, self.accept_new).map_err(HandlerError::HostKey)?;
        // A re-key presents the same key, already verified: the first one stays.
        self.host_key.get_or_init(|| key.clone());
        Ok(true)
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                format!("server disconnected: {}", info.message)
            }
            client::DisconnectReason::Error(HandlerError::Ssh(e)) => format!("SSH error: {e}"),
            client::DisconnectReason::Error(HandlerError::HostKey(e)) => e.to_string(),
        };
        self.closed.send_replace(Some(text));
        match reason {
            client::DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            client::DisconnectReason::Error(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::Algorithm;
    use russh::keys::ssh_key::HashAlg;

    #[test]
    fn the_last_lines_said_are_cleaned_and_in_order() {
        let out = ExecOutput {
            exit_status: Some(1),
            stdout: b"@@tool plugin\nstep one\n".to_vec(),
            stderr: b"\x1b[31mfailed\x1b[0m with password=hunter2secret\nno such service\n"
                .to_vec(),
        };
        let tail = out.last_lines(2);
        assert_eq!(tail.len(), 2);
        assert!(tail[0].starts_with("failed with password="), "{tail:?}");
        assert!(!tail[0].contains("hunter2secret"), "masked: {tail:?}");
        assert_eq!(tail[1], "no such service");
        assert_eq!(
            out.last_lines(9).first().map(String::as_str),
            Some("@@tool plugin")
        );
    }

    fn endpoint(known: PathBuf) -> SshEndpoint {
        SshEndpoint {
            alias: "h".into(),
            hostname: "10.0.0.9".into(),
            port: 2222,
            user: "u".into(),
            identity_files: Vec::new(),
            known_hosts_files: vec![known],
            strict_host_key_checking: StrictHostKeyChecking::Yes,
            connect_timeout: Duration::from_secs(5),
            proxy_command: None,
            host_key_alias: None,
        }
    }

    #[test]
    fn a_held_key_is_judged_by_known_hosts_as_it_is_now() {
        const KEY: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";
        const OTHER: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINKfCgj96y2zLug3dRHmmAyCOPbbJQ79O6foIcTHtPla";
        let dir = tempfile::tempdir().expect("tempdir");
        let known = dir.path().join("known_hosts");
        let ep = endpoint(known.clone());
        let key = PublicKey::from_openssh(KEY).expect("key");
        let write = |text: String| std::fs::write(&known, text).expect("write");
        write(format!("[10.0.0.9]:2222 {KEY}\n"));
        assert!(check_host_key(&ep, &key, false).is_ok());
        write(format!("[10.0.0.9]:2222 {KEY}\n@revoked * {KEY}\n"));
        assert!(matches!(
            check_host_key(&ep, &key, true),
            Err(TransportError::HostKeyRevoked { line: 2, .. })
        ));
        write(format!("[10.0.0.9]:2222 {OTHER}\n"));
        assert!(matches!(
            check_host_key(&ep, &key, true),
            Err(TransportError::HostKeyChanged { line: 1, .. })
        ));
        write(String::new());
        assert!(matches!(
            check_host_key(&ep, &key, false),
            Err(TransportError::HostKeyUnknown { .. })
        ));
        // --accept-new records it, as at connect time.
        assert!(check_host_key(&ep, &key, true).is_ok());
        assert!(check_host_key(&ep, &key, false).is_ok());
    }

    #[test]
    fn recorded_key_types_are_negotiated_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let known = dir.path().join("known_hosts");
        std::fs::write(
            &known,
            "[10.0.0.9]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n",
        )
        .expect("write");
        let ep = endpoint(known);
        let prefs = client_config(&ep).preferred.key;
        assert_eq!(
            prefs[..3],
            [
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512)
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256)
                },
                Algorithm::Rsa { hash: None },
            ]
        );
        // Nothing is dropped: the server may have none of the recorded types.
        assert!(prefs.contains(&Algorithm::Ed25519));
    }
}
