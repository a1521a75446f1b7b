//! Connecting a host: the SSH session and Docker client, the remembered API
//! version, and what an actor without a session answers (trusting a key).

use std::time::{Duration, Instant};

use super::super::event::{HostCommand, HostEvent};
use super::super::model::HostInfo;
use super::ActorConfig;
use crate::config::HostSpec;
use crate::transport::api_versions::{self, ApiVersions};
use crate::transport::{DockerLink, connect_docker};
use bollard::{API_DEFAULT_VERSION, ClientVersion};

/// What an actor without a session does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    Stay,
    Reconnect,
    End,
}

/// Answers a command at once while the host has no session, so nobody waits
/// on it; a trusted key is recorded (then connect again at once).
pub(super) async fn answer_while_down<F, Fut>(
    spec: &HostSpec,
    cmd: Option<HostCommand>,
    send: &F,
    why: &str,
) -> Next
where
    F: Fn(HostEvent) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let alive = |ok: bool| if ok { Next::Stay } else { Next::End };
    match cmd {
        None | Some(HostCommand::Shutdown) => Next::End,
        Some(HostCommand::TrustKey { name, key, file }) => {
            let result = crate::transport::trust_host_key(&name, &key, &file);
            let trusted = result.is_ok();
            if !send(HostEvent::KeyTrusted { result }).await {
                return Next::End;
            }
            if trusted { Next::Reconnect } else { Next::Stay }
        }
        Some(cmd) => match cmd.unanswered(&format!("{} {why}", spec.name)) {
            Some(event) => alive(send(event).await),
            None => Next::Stay,
        },
    }
}

/// Why a connection failed, and the host key behind it if that was the cause.
pub(super) struct Failure {
    pub(super) reason: String,
    pub(super) key: Option<super::super::event::HostKeyProblem>,
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure { reason, key: None }
    }
}

/// The front end's view of a refused host key.
pub(super) fn key_problem(
    e: &crate::transport::TransportError,
) -> Option<super::super::event::HostKeyProblem> {
    use super::super::event::HostKeyProblem;
    use crate::transport::TransportError as T;
    match e {
        T::HostKeyUnknown {
            host,
            key_type,
            fingerprint,
            file,
            key,
        } => Some(HostKeyProblem::Unknown {
            name: host.clone(),
            key_type: key_type.clone(),
            fingerprint: fingerprint.clone(),
            file: file.clone(),
            key: key.clone(),
        }),
        T::HostKeyChanged {
            host,
            presented,
            file,
            line,
            recorded,
        } => Some(HostKeyProblem::Changed {
            recorded: recorded.clone(),
            name: host.clone(),
            presented: presented.clone(),
            file: file.clone(),
            line: *line,
        }),
        _ => None,
    }
}

pub(super) async fn connect(
    spec: &HostSpec,
    cfg: &ActorConfig,
) -> Result<
    (
        DockerLink,
        HostInfo,
        Duration,
        Option<tokio::task::JoinHandle<()>>,
    ),
    Failure,
> {
    let versions = ApiVersions::from_env();
    let key = api_versions::target_key(&spec.target);
    let remembered = versions.get(&key);
    let link = connect_docker(
        &spec.name,
        &spec.target,
        &cfg.connect,
        remembered.as_ref().unwrap_or(API_DEFAULT_VERSION),
        Some(&versions),
    )
    .await
    .map_err(|e| Failure {
        reason: e.to_string(),
        key: key_problem(&e),
    })?;
    // Known once a first channel is open (stream-local may be refused).
    let tunnel = |link: &DockerLink| {
        serde_json::to_value(link.tunnel())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    if !cfg.probe {
        // No request before the list. A host not seen before learns its API
        // version beside the first list (a second channel, opened in parallel).
        let learning = remembered.is_none().then(|| {
            let docker = link.docker.clone();
            let within = cfg.call_timeout;
            tokio::spawn(async move {
                if let Ok(Ok(v)) = tokio::time::timeout(within, docker.version()).await {
                    remember(&versions, &key, v.api_version.as_deref());
                }
            })
        });
        let info = HostInfo {
            docker_version: String::new(),
            api_version: remembered.map(|v| v.to_string()).unwrap_or_default(),
            tunnel: String::new(),
        };
        return Ok((link, info, Duration::ZERO, learning));
    }
    let (version, rtt) = probe(&link, cfg).await?;
    let negotiated = remember(&versions, &key, version.api_version.as_deref());
    let mut link = link;
    if let Some(v) = negotiated
        && v != link.docker.client_version()
    {
        link.docker = link.with_version(&v).map_err(|e| e.to_string())?;
    }
    let info = HostInfo {
        docker_version: version.version.unwrap_or_default(),
        api_version: link.docker.client_version().to_string(),
        tunnel: tunnel(&link),
    };
    Ok((link, info, rtt, None))
}

/// The daemon's `/version`, and the round trip of one `/_ping` when asked.
async fn probe(
    link: &DockerLink,
    cfg: &ActorConfig,
) -> Result<(bollard::models::SystemVersion, Duration), Failure> {
    let version = if cfg.watch_events {
        // Two channels at once: the event stream will hold one, and the
        // first list then finds the other open.
        let (version, ping) = tokio::join!(
            tokio::time::timeout(cfg.call_timeout, link.docker.version()),
            tokio::time::timeout(cfg.call_timeout, link.docker.ping()),
        );
        answered("/_ping", ping)?;
        answered("/version", version)?
    } else {
        answered(
            "/version",
            tokio::time::timeout(cfg.call_timeout, link.docker.version()).await,
        )?
    };
    // On an open connection, one request's time is the round trip.
    let rtt = if cfg.ping {
        let started = Instant::now();
        answered(
            "/_ping",
            tokio::time::timeout(cfg.call_timeout, link.docker.ping()).await,
        )?;
        started.elapsed()
    } else {
        Duration::ZERO
    };
    Ok((version, rtt))
}

/// How long a finished headless verb waits for a first `/version` answer.
pub(super) const LEARN_GRACE: Duration = Duration::from_millis(500);

/// A bounded Docker call's answer, or why there is none.
fn answered<T>(
    what: &str,
    answer: Result<Result<T, bollard::errors::Error>, tokio::time::error::Elapsed>,
) -> Result<T, String> {
    answer
        .map_err(|_| format!("Docker API did not answer {what} in time"))?
        .map_err(|e| format!("Docker API: {e}"))
}

/// The version to speak with a server whose newest is `server` (bollard's
/// own, if older), recorded for the next run.
fn remember(versions: &ApiVersions, key: &str, server: Option<&str>) -> Option<ClientVersion> {
    let server = api_versions::parse_version(server?)?;
    let v = if server < *API_DEFAULT_VERSION {
        server
    } else {
        *API_DEFAULT_VERSION
    };
    if let Err(e) = versions.set(key, Some(&v)) {
        tracing::debug!(
            "could not remember the API version in {:?}: {e}",
            versions.path()
        );
    }
    Some(v)
}
