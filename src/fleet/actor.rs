//! One task per host: owns the SSH session and the Docker client, reports
//! owned events, and reconnects with backoff. A slow host only delays itself.

use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::details::ContainerDetails;
use super::event::{FleetEvent, HostCommand, HostEvent, HostId};
use std::collections::HashMap;

use super::model::{ContainerInfo, HostInfo, StatsSample};
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
    /// Follow Docker's event stream and re-list on container changes (TUI).
    pub watch_events: bool,
    /// Inspect containers for restart counts and start times (TUI, triage);
    /// plain `ps` skips it to stay at one API call per host.
    pub inspect: bool,
    /// Re-list this often even without events (keeps "Up 5 minutes" fresh).
    pub refresh_every: Option<Duration>,
}

impl Default for ActorConfig {
    fn default() -> Self {
        ActorConfig {
            connect: ConnectOptions::default(),
            reconnect: true,
            call_timeout: Duration::from_secs(20),
            watch_events: true,
            inspect: true,
            refresh_every: Some(Duration::from_secs(15)),
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
    docker_out: tokio::sync::watch::Sender<Option<bollard::Docker>>,
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
                docker_out.send_replace(Some(link.docker.clone()));
                if !send(HostEvent::Connected { info, rtt }).await {
                    return;
                }
                match serve(id, &spec, &cfg, &link, &send, &events, &mut commands).await {
                    Ended::Shutdown => return,
                    Ended::Lost(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        docker_out.send_replace(None);
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
                    Some(HostCommand::Refresh | HostCommand::StopLogs | HostCommand::Stats { .. }) => {}
                    // Answer at once so nobody waits on a host that is down.
                    Some(HostCommand::Act { container, action }) => {
                        let result = Err(format!("{} is unreachable", spec.name));
                        if !send(HostEvent::ActionDone { container, action, result }).await {
                            return;
                        }
                    }
                    Some(HostCommand::Inspect { container }) => {
                        let details = Err(format!("{} is unreachable", spec.name));
                        if !send(HostEvent::Inspected { container, details }).await {
                            return;
                        }
                    }
                    Some(HostCommand::FollowLogs { container_id, .. }) => {
                        let reason = format!("{} is unreachable", spec.name);
                        if !send(HostEvent::LogsEnded { container_id, reason }).await {
                            return;
                        }
                    }
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
    // /version and /_ping at once: one rides the open pooled connection, the
    // other opens a second SSH channel (two round trips), which the event
    // stream and the first list then find ready. The faster one is a single
    // request on an open connection: the RTT.
    let started = Instant::now();
    let (version, ping) = tokio::join!(
        async {
            let answer = tokio::time::timeout(cfg.call_timeout, link.docker.version()).await;
            (answer, started.elapsed())
        },
        async {
            let answer = tokio::time::timeout(cfg.call_timeout, link.docker.ping()).await;
            (answer, started.elapsed())
        },
    );
    let rtt = version.1.min(ping.1);
    let version = version
        .0
        .map_err(|_| "Docker API did not answer /version in time".to_owned())?
        .map_err(|e| format!("Docker API: {e}"))?;
    ping.0
        .map_err(|_| "Docker API did not answer /_ping in time".to_owned())?
        .map_err(|e| format!("Docker API: {e}"))?;
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
    id: HostId,
    spec: &HostSpec,
    cfg: &ActorConfig,
    link: &DockerLink,
    send: &F,
    events: &mpsc::Sender<FleetEvent>,
    commands: &mut mpsc::Receiver<HostCommand>,
) -> Ended
where
    F: Fn(HostEvent) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut closed = link.closed_watch();
    let mut docker_events = cfg
        .watch_events
        .then(|| Box::pin(link.docker.events(Some(container_events_filter()))));
    // Docker events arrive in bursts (a restart is 3-4 events): list once per burst.
    let mut pending_refresh: Option<tokio::time::Instant> = None;
    let mut periodic = cfg.refresh_every.map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut log_tasks = LogTasks::default();
    let mut inspected: HashMap<String, Inspected> = HashMap::new();
    let result = loop {
        let debounce = async {
            match pending_refresh {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let tick = async {
            match periodic.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        let docker_event = async {
            match docker_events.as_mut() {
                Some(stream) => stream.next().await,
                None => std::future::pending().await,
            }
        };
        let mut refresh = false;
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None | Some(HostCommand::Shutdown) => break Ended::Shutdown,
                Some(HostCommand::Refresh) => refresh = true,
                Some(HostCommand::Act { container, action }) => {
                    let docker = link.docker.clone();
                    let events = events.clone();
                    tokio::spawn(async move {
                        let result = action.apply(&docker, &container).await;
                        let kind = HostEvent::ActionDone { container, action, result };
                        let _ = events.send(FleetEvent { host: id, kind }).await;
                    });
                }
                Some(HostCommand::FollowLogs { container_id, tail, since, follow }) => {
                    let request = super::logs::LogRequest { tail, since, follow };
                    let task = tokio::spawn(super::logs::follow(
                        id,
                        link.docker.clone(),
                        container_id.clone(),
                        request,
                        events.clone(),
                    ));
                    log_tasks.replace(container_id, task);
                }
                Some(HostCommand::StopLogs) => log_tasks.stop_all(),
                Some(HostCommand::Stats { ids }) => {
                    let docker = link.docker.clone();
                    let events = events.clone();
                    tokio::spawn(async move {
                        let samples = read_stats(&docker, ids).await;
                        let kind = HostEvent::Stats { samples };
                        let _ = events.send(FleetEvent { host: id, kind }).await;
                    });
                }
                Some(HostCommand::Inspect { container }) => {
                    let docker = link.docker.clone();
                    let events = events.clone();
                    tokio::spawn(async move {
                        let details = docker
                            .inspect_container(&container, None)
                            .await
                            .map(|r| Box::new(ContainerDetails::from_inspect(r)))
                            .map_err(|e| e.to_string());
                        let kind = HostEvent::Inspected { container, details };
                        let _ = events.send(FleetEvent { host: id, kind }).await;
                    });
                }
            },
            event = docker_event => match event {
                Some(Ok(ev)) => {
                    // Restart counts and start times change only with events.
                    if let Some(cid) = ev.actor.and_then(|a| a.id) {
                        inspected.remove(&cid);
                    }
                    pending_refresh.get_or_insert_with(|| tokio::time::Instant::now() + EVENT_DEBOUNCE);
                }
                Some(Err(e)) => break Ended::Lost(lost_reason(link, &e.to_string())),
                None => break Ended::Lost(lost_reason(link, "Docker event stream ended")),
            },
            () = debounce => refresh = true,
            () = tick => refresh = true,
            reason = closed_reason(&mut closed) => break Ended::Lost(reason),
        }
        if refresh {
            pending_refresh = None;
            match list(spec, cfg, link).await {
                Ok((mut containers, rtt)) => {
                    if cfg.inspect {
                        enrich(&link.docker, &mut containers, &mut inspected).await;
                    }
                    if !send(HostEvent::Containers { containers, rtt }).await {
                        break Ended::Shutdown;
                    }
                }
                Err(reason) => break Ended::Lost(reason),
            }
        }
    };
    log_tasks.stop_all();
    result
}

const EVENT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Parallel API calls per host for inspect/stats; dial-stdio hosts cap
/// sessions per connection (OpenSSH MaxSessions, default 10).
const PER_HOST_CONCURRENCY: usize = 4;

/// What inspect adds to a list entry.
#[derive(Debug, Clone)]
struct Inspected {
    restart_count: i64,
    started_at: String,
}

/// Fills restart count and start time, inspecting only containers not seen
/// since their last Docker event.
async fn enrich(
    docker: &bollard::Docker,
    containers: &mut [ContainerInfo],
    cache: &mut HashMap<String, Inspected>,
) {
    let missing: Vec<String> = containers
        .iter()
        .filter(|c| !cache.contains_key(&c.id))
        .map(|c| c.id.clone())
        .collect();
    let fetched: Vec<(String, Option<Inspected>)> = futures::stream::iter(missing)
        .map(|id| async move {
            let got = docker
                .inspect_container(&id, None)
                .await
                .ok()
                .map(|r| Inspected {
                    restart_count: r.restart_count.unwrap_or(0),
                    started_at: r.state.and_then(|s| s.started_at).unwrap_or_default(),
                });
            (id, got)
        })
        .buffer_unordered(PER_HOST_CONCURRENCY)
        .collect()
        .await;
    for (id, got) in fetched {
        if let Some(got) = got {
            cache.insert(id, got);
        }
    }
    cache.retain(|id, _| containers.iter().any(|c| &c.id == id));
    for c in containers {
        if let Some(i) = cache.get(&c.id) {
            c.restart_count = Some(i.restart_count);
            c.started_at = Some(i.started_at.clone());
        }
    }
}

/// One-shot stats for each container (no streaming connections held open).
async fn read_stats(docker: &bollard::Docker, ids: Vec<String>) -> Vec<(String, StatsSample)> {
    let opts = bollard::query_parameters::StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    futures::stream::iter(ids)
        .map(|id| {
            let opts = opts.clone();
            async move {
                let first = docker.stats(&id, Some(opts)).next().await;
                let sample = first
                    .and_then(Result::ok)
                    .as_ref()
                    .and_then(StatsSample::from_response);
                sample.map(|s| (id, s))
            }
        })
        .buffer_unordered(PER_HOST_CONCURRENCY)
        .filter_map(std::future::ready)
        .collect()
        .await
}

fn container_events_filter() -> bollard::query_parameters::EventsOptions {
    let filters =
        std::collections::HashMap::from([("type".to_owned(), vec!["container".to_owned()])]);
    bollard::query_parameters::EventsOptionsBuilder::default()
        .filters(&filters)
        .build()
}

fn lost_reason(link: &DockerLink, fallback: &str) -> String {
    link.closed_reason().unwrap_or_else(|| fallback.to_owned())
}

/// Running log streams of this host, by container id.
#[derive(Default)]
struct LogTasks(Vec<(String, tokio::task::JoinHandle<()>)>);

impl LogTasks {
    fn replace(&mut self, container_id: String, task: tokio::task::JoinHandle<()>) {
        self.0.retain(|(id, t)| {
            let keep = id != &container_id;
            if !keep {
                t.abort();
            }
            keep
        });
        self.0.push((container_id, task));
    }

    fn stop_all(&mut self) {
        for (_, t) in self.0.drain(..) {
            t.abort();
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
