//! One task per host: owns the SSH session and the Docker client, reports
//! owned events, and reconnects with backoff. A slow host only delays itself.

use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use tokio::sync::mpsc;

use super::event::{FleetEvent, HostCommand, HostEvent, HostId};
use super::model::{ContainerInfo, HostInfo};
use crate::config::HostSpec;
use crate::transport::{ConnectOptions, DockerLink, connect_docker};

/// How an actor behaves after losing its host.
#[derive(Debug, Clone, Copy)]
pub struct ActorConfig {
    pub connect: ConnectOptions,
    /// Keep retrying (TUI) or give up after the first failure (headless verbs).
    pub reconnect: bool,
    /// Upper bound for one Docker API call.
    pub call_timeout: Duration,
}

impl Default for ActorConfig {
    fn default() -> Self {
        ActorConfig {
            connect: ConnectOptions::default(),
            reconnect: true,
            call_timeout: Duration::from_secs(20),
        }
    }
}

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Exponential backoff: 1 s, 2 s, 4 s … capped at 30 s.
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX)
}

enum Ended {
    Shutdown,
    Lost(String),
}

pub async fn run(
    id: HostId,
    spec: HostSpec,
    cfg: ActorConfig,
    events: mpsc::Sender<FleetEvent>,
    mut commands: mpsc::Receiver<HostCommand>,
) {
    let send = |kind: HostEvent| {
        let events = events.clone();
        async move { events.send(FleetEvent { host: id, kind }).await.is_ok() }
    };
    let mut attempt: u32 = 0;
    loop {
        if !send(HostEvent::Connecting { attempt }).await {
            return;
        }
        let reason = match connect(&spec, &cfg).await {
            Ok((link, info, rtt)) => {
                attempt = 0;
                if !send(HostEvent::Connected { info, rtt }).await {
                    return;
                }
                match serve(&spec, &cfg, &link, &send, &mut commands).await {
                    Ended::Shutdown => return,
                    Ended::Lost(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        let retry_in = cfg.reconnect.then(|| backoff(attempt));
        tracing::info!(host = %spec.name, %reason, ?retry_in, "host unreachable");
        if !send(HostEvent::Disconnected { reason, retry_in }).await {
            return;
        }
        let Some(wait) = retry_in else {
            return;
        };
        attempt = attempt.saturating_add(1);
        // Wait out the backoff, but stay responsive to Shutdown.
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                cmd = commands.recv() => match cmd {
                    None | Some(HostCommand::Shutdown) => return,
                    Some(HostCommand::Refresh) => {}
                },
            }
        }
    }
}

async fn connect(
    spec: &HostSpec,
    cfg: &ActorConfig,
) -> Result<(DockerLink, HostInfo, Duration), String> {
    let link = connect_docker(&spec.target, cfg.connect)
        .await
        .map_err(|e| e.to_string())?;
    let version = tokio::time::timeout(cfg.call_timeout, link.docker.version())
        .await
        .map_err(|_| "Docker API did not answer /version in time".to_owned())?
        .map_err(|e| format!("Docker API: {e}"))?;
    // Warm round trip: the connection is pooled now.
    let started = Instant::now();
    tokio::time::timeout(cfg.call_timeout, link.docker.ping())
        .await
        .map_err(|_| "Docker API did not answer /_ping in time".to_owned())?
        .map_err(|e| format!("Docker API: {e}"))?;
    let rtt = started.elapsed();
    let info = HostInfo {
        docker_version: version.version.unwrap_or_default(),
        api_version: link.docker.client_version().to_string(),
        tunnel: serde_json::to_value(link.tunnel())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    };
    Ok((link, info, rtt))
}

async fn serve<F, Fut>(
    spec: &HostSpec,
    cfg: &ActorConfig,
    link: &DockerLink,
    send: &F,
    commands: &mut mpsc::Receiver<HostCommand>,
) -> Ended
where
    F: Fn(HostEvent) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut closed = link.closed_watch();
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None | Some(HostCommand::Shutdown) => return Ended::Shutdown,
                Some(HostCommand::Refresh) => {
                    match list(spec, cfg, link).await {
                        Ok((containers, rtt)) => {
                            if !send(HostEvent::Containers { containers, rtt }).await {
                                return Ended::Shutdown;
                            }
                        }
                        Err(reason) => return Ended::Lost(reason),
                    }
                }
            },
            reason = closed_reason(&mut closed) => return Ended::Lost(reason),
        }
    }
}

/// Resolves when the session reports it is gone; never for local sockets.
async fn closed_reason(
    closed: &mut Option<tokio::sync::watch::Receiver<Option<String>>>,
) -> String {
    let Some(rx) = closed else {
        return std::future::pending().await;
    };
    match rx.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone().unwrap_or_default(),
        Err(_) => "SSH session closed".to_owned(),
    }
}

async fn list(
    spec: &HostSpec,
    cfg: &ActorConfig,
    link: &DockerLink,
) -> Result<(Vec<ContainerInfo>, Duration), String> {
    let started = Instant::now();
    let options = ListContainersOptionsBuilder::default().all(true).build();
    let summaries =
        tokio::time::timeout(cfg.call_timeout, link.docker.list_containers(Some(options)))
            .await
            .map_err(|_| "Docker API did not list containers in time".to_owned())?
            .map_err(|e| match link.closed_reason() {
                Some(reason) => reason,
                None => format!("Docker API: {e}"),
            })?;
    let rtt = started.elapsed();
    let mut containers: Vec<ContainerInfo> = summaries
        .into_iter()
        .map(|s| ContainerInfo::from_summary(&spec.name, s))
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((containers, rtt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(16));
        assert_eq!(backoff(5), Duration::from_secs(30));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
