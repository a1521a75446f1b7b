//! The Docker Engine API tunnelled through the host's SSH session: each HTTP
//! connection is a direct-streamlocal channel to the remote socket, or, where
//! the server forbids stream-local forwarding, `docker system dial-stdio` over
//! an exec channel. hyper's pool keeps connections open, so a warm request costs
//! one round trip and no new channel. Connecting sends no request of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{BollardRequest, ClientVersion, Docker};
use http_body_util::{BodyExt, Limited};
use hyper::Uri;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use russh::ChannelStream;
use russh::client::Msg;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::api_versions::{self, ApiVersions};
use super::persist::{self, Client as PersistClient};
use super::{Remote, SshSession, TransportError};
use crate::config::Target;

/// Options that come from the command line rather than the inventory.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `--accept-new`: record unknown host keys (never changed ones).
    pub accept_new: bool,
    /// Reach SSH hosts through a persistent-session daemon (headless verbs
    /// with `persist` on); direct connections when `None` or when it fails.
    pub persist: Option<Arc<PersistClient>>,
}

/// Seconds bollard waits for a response head (streams run longer).
const REQUEST_TIMEOUT_SECS: u64 = 30;

/// How a host's Docker API is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tunnel {
    Unix,
    Streamlocal,
    DialStdio,
}

/// Builds a client for the same transport at another API version.
type Rebuild = Arc<dyn Fn(&ClientVersion) -> Result<Docker, bollard::errors::Error> + Send + Sync>;

/// A connected Docker client plus the session that carries it.
#[derive(Clone)]
pub struct DockerLink {
    pub docker: Docker,
    /// The host's SSH session (directly or through the persistent daemon);
    /// `None` for a local socket.
    pub remote: Option<Remote>,
    tunnel_mode: Option<Arc<AtomicBool>>,
    rebuild: Rebuild,
    /// Plain requests over the same connections.
    pub raw: RawApi,
}

/// A sent request's response, or why there is none.
type Sent = Pin<Box<dyn Future<Output = Result<hyper::Response<Incoming>, String>> + Send>>;

/// Plain GETs of the Engine API over a link's own connections, for answers
/// bollard's models cannot read (its request helpers are private).
#[derive(Clone)]
pub struct RawApi(Arc<dyn Fn(BollardRequest) -> Sent + Send + Sync>);

/// Largest answer a plain GET reads (a /system/df of a big host is a few MB).
const RAW_MAX_BYTES: usize = 64 << 20;

impl RawApi {
    fn over<F, Fut, E>(send: F) -> RawApi
    where
        F: Fn(BollardRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<hyper::Response<Incoming>, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        RawApi(Arc::new(move |req| {
            let sent = send(req);
            Box::pin(async move { sent.await.map_err(|e| e.to_string()) })
        }))
    }

    /// The body of `GET path` (e.g. "/v1.41/system/df"); an answer other
    /// than 2xx is an error carrying the daemon's message.
    pub async fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        let req = hyper::Request::get(format!("http://docker{path}"))
            .body(bollard::body_full(hyper::body::Bytes::new()))
            .map_err(|e| format!("GET {path}: {e}"))?;
        let resp = (self.0)(req)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), RAW_MAX_BYTES)
            .collect()
            .await
            .map_err(|e| format!("GET {path}: reading the answer: {e}"))?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(format!("GET {path}: {status}: {}", text.trim()));
        }
        Ok(body.to_vec())
    }
}

impl DockerLink {
    pub fn tunnel(&self) -> Tunnel {
        match &self.tunnel_mode {
            None => Tunnel::Unix,
            Some(dial) if dial.load(Ordering::Relaxed) => Tunnel::DialStdio,
            Some(_) => Tunnel::Streamlocal,
        }
    }

    /// Changes to `Some(reason)` when a directly held SSH session ends.
    pub fn closed_watch(&self) -> Option<tokio::sync::watch::Receiver<Option<String>>> {
        self.remote.as_ref().and_then(Remote::closed_watch)
    }

    /// Why the underlying session is gone, if it is.
    pub fn closed_reason(&self) -> Option<String> {
        self.remote.as_ref().and_then(Remote::closed_reason)
    }

    /// A client at `version` over the same connections (bollard can only
    /// lower a client's version in place).
    pub fn with_version(&self, version: &ClientVersion) -> Result<Docker, TransportError> {
        Ok((self.rebuild)(version)?)
    }
}

/// Connects to host `name`'s Docker daemon without any request: the caller
/// says which API version to speak (remembered, or negotiated on the link
/// later). `memory`, if given, says whether the host refused stream-local
/// forwarding before (then the first channel skips that attempt) and learns
/// it if so. With `opts.persist`, SSH hosts are reached through the
/// persistent-session daemon, or directly (with a warning) when it fails.
pub async fn connect_docker(
    name: &str,
    target: &Target,
    opts: &ConnectOptions,
    version: &ClientVersion,
    memory: Option<&ApiVersions>,
) -> Result<DockerLink, TransportError> {
    match target {
        Target::Local { socket } => {
            let path = socket.to_string_lossy().into_owned();
            let rebuild: Rebuild = Arc::new(move |v: &ClientVersion| {
                Docker::connect_with_unix(&path, REQUEST_TIMEOUT_SECS, v)
            });
            let raw = raw_unix(socket.clone());
            Ok(DockerLink {
                docker: rebuild(version)?,
                remote: None,
                tunnel_mode: None,
                rebuild,
                raw,
            })
        }
        Target::Ssh {
            endpoint,
            jumps,
            docker_socket,
        } => {
            if let Some(client) = &opts.persist
                && let Some(link) =
                    connect_persistent(client, name, target, opts.accept_new, version).await?
            {
                return Ok(link);
            }
            let session = SshSession::connect(endpoint, jumps, opts.accept_new).await?;
            let memory = memory.map(|m| (m.clone(), api_versions::target_key(target)));
            let known = memory.as_ref().is_some_and(|(m, key)| m.dial_stdio(key));
            let dial_stdio = Arc::new(AtomicBool::new(known));
            let connector = SshConnector {
                session: Arc::clone(&session),
                socket: docker_socket.clone(),
                dial_stdio: Arc::clone(&dial_stdio),
                memory: memory.map(Arc::new),
            };
            let (rebuild, raw) = pooled(connector);
            Ok(DockerLink {
                docker: rebuild(version)?,
                remote: Some(Remote::Ssh(session)),
                tunnel_mode: Some(dial_stdio),
                rebuild,
                raw,
            })
        }
    }
}

/// Through the persistent-session daemon: the first stream is opened now, so
/// that a host the daemon cannot reach fails here with the daemon's (the
/// direct connection's) error. `None`: the daemon is unusable, connect directly.
async fn connect_persistent(
    client: &Arc<PersistClient>,
    name: &str,
    target: &Target,
    accept_new: bool,
    version: &ClientVersion,
) -> Result<Option<DockerLink>, TransportError> {
    let (first, dial) = match client.open(name, target, accept_new).await {
        Ok(Some(opened)) => opened,
        Ok(None) => return Ok(None),
        Err(persist::OpenError::Host(message)) => return Err(TransportError::Relayed(message)),
        Err(persist::OpenError::Daemon(message)) => {
            persist::client::warn_fallback(&message);
            return Ok(None);
        }
    };
    let dial_stdio = Arc::new(AtomicBool::new(dial));
    let connector = PersistConnector {
        dial_stdio: Arc::clone(&dial_stdio),
        client: Arc::clone(client),
        host: name.to_owned(),
        target: target.clone(),
        accept_new,
        first: Arc::new(std::sync::Mutex::new(Some(first))),
    };
    let (rebuild, raw) = pooled(connector);
    Ok(Some(DockerLink {
        docker: rebuild(version)?,
        remote: Some(Remote::Persist {
            client: Arc::clone(client),
            host: name.to_owned(),
            accept_new,
        }),
        // As the daemon reaches the API (this side only sees a stream).
        tunnel_mode: Some(dial_stdio),
        rebuild,
        raw,
    }))
}

/// A rebuild function whose clients all share one hyper pool over
/// `connector`, and plain requests over that pool.
fn pooled<C>(connector: C) -> (Rebuild, RawApi)
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(8)
        .build(connector);
    let send = move |req: BollardRequest| client.request(req);
    let raw = RawApi::over(send.clone());
    let rebuild: Rebuild = Arc::new(move |v: &ClientVersion| {
        let send = send.clone();
        let transport = move |req: BollardRequest| {
            let sent = send(req);
            async move {
                sent.await
                    .map_err(|err| bollard::errors::Error::HyperLegacyError { err })
            }
        };
        Docker::connect_with_custom_transport(
            transport,
            Some("http://docker"),
            REQUEST_TIMEOUT_SECS,
            v,
        )
    });
    (rebuild, raw)
}

/// Plain requests to a local socket, on a small pool of their own (bollard's
/// unix client keeps its pool to itself).
fn raw_unix(socket: std::path::PathBuf) -> RawApi {
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(UnixConnector(Arc::new(socket)));
    RawApi::over(move |req: BollardRequest| client.request(req))
}

/// hyper connector: a local Docker socket.
#[derive(Clone)]
struct UnixConnector(Arc<std::path::PathBuf>);

impl tower_service::Service<Uri> for UnixConnector {
    type Response = TokioIo<PersistIo>;
    type Error = std::io::Error;
    type Future = ConnectFuture<PersistIo>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let path = Arc::clone(&self.0);
        Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(path.as_path()).await?;
            Ok(TokioIo::new(Pooled(stream)))
        })
    }
}

/// hyper connector: one SSH channel per HTTP connection.
#[derive(Clone)]
struct SshConnector {
    session: Arc<SshSession>,
    socket: String,
    /// Set once the server has refused stream-local forwarding.
    dial_stdio: Arc<AtomicBool>,
    /// Where a refusal is remembered for the next run.
    memory: Option<Arc<(ApiVersions, String)>>,
}

type ConnectFuture<T> = Pin<Box<dyn Future<Output = Result<TokioIo<T>, std::io::Error>> + Send>>;

impl tower_service::Service<Uri> for SshConnector {
    type Response = TokioIo<SshIo>;
    type Error = std::io::Error;
    type Future = ConnectFuture<SshIo>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let memory = this.memory.as_deref().map(|(v, k)| (v, k.as_str()));
            let stream =
                super::channel::open(&this.session, &this.socket, &this.dial_stdio, memory).await?;
            Ok(TokioIo::new(Pooled(stream)))
        })
    }
}

/// hyper connector through the persistent-session daemon: one control-socket
/// connection (one daemon channel) per HTTP connection.
#[derive(Clone)]
struct PersistConnector {
    client: Arc<PersistClient>,
    host: String,
    target: Target,
    accept_new: bool,
    /// Whether the daemon's last channel was a dial-stdio one.
    dial_stdio: Arc<AtomicBool>,
    /// The stream opened while connecting, used by the first request.
    first: Arc<std::sync::Mutex<Option<tokio::net::UnixStream>>>,
}

impl tower_service::Service<Uri> for PersistConnector {
    type Response = TokioIo<PersistIo>;
    type Error = std::io::Error;
    type Future = ConnectFuture<PersistIo>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            // A poisoned lock only means another connect panicked: the slot is still valid.
            let first = this
                .first
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let stream = match first {
                Some(stream) => stream,
                None => match this
                    .client
                    .open(&this.host, &this.target, this.accept_new)
                    .await
                {
                    Ok(Some((stream, dial))) => {
                        this.dial_stdio.store(dial, Ordering::Relaxed);
                        stream
                    }
                    Ok(None) => {
                        return Err(std::io::Error::other(
                            "the persistent-session daemon is not available",
                        ));
                    }
                    Err(e) => return Err(std::io::Error::other(e.to_string())),
                },
            };
            Ok(TokioIo::new(Pooled(stream)))
        })
    }
}

/// A byte stream that hyper can pool: an SSH channel, or a control-socket
/// stream the persistent-session daemon splices to one.
pub struct Pooled<S>(S);

/// An SSH channel to the Docker API.
pub type SshIo = Pooled<ChannelStream<Msg>>;
/// A control-socket stream spliced to a channel by the daemon.
pub type PersistIo = Pooled<tokio::net::UnixStream>;

impl<S> Connection for Pooled<S> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Pooled<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Pooled<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
