//! One task per host: owns the SSH session and the Docker client, reports
//! owned events, and reconnects with backoff. A slow host only delays itself.

use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::details::ContainerDetails;
use super::event::{FleetEvent, HostCommand, HostEvent, HostId};
use std::collections::{HashMap, HashSet};

use super::model::{ContainerInfo, HostInfo, StatsSample};
use crate::config::HostSpec;
use crate::transport::api_versions::{self, ApiVersions};
use crate::transport::{ConnectOptions, DockerLink, connect_docker};
use bollard::{API_DEFAULT_VERSION, ClientVersion};

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
    /// On connect, ask `/version` (Docker version) and time one `/_ping` on
    /// the open connection (RTT): TUI and `hosts`. Plain listing skips both.
    pub probe: bool,
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
            probe: true,
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
    docker_out: tokio::sync::watch::Sender<Option<super::Handles>>,
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
        // Commands keep being answered while a slow host connects.
        let connecting = connect(&spec, &cfg);
        tokio::pin!(connecting);
        let connected = loop {
            tokio::select! {
                res = &mut connecting => break res,
                cmd = commands.recv() => {
                    if answer_while_down(&spec, cmd, &send, "is still connecting").await == Next::End {
                        return;
                    }
                }
            }
        };
        let reason = match connected {
            Ok((link, info, rtt, learning)) => {
                attempt = 0;
                // Shared with the front end (deploys, triage evidence, vitals).
                docker_out.send_replace(Some(super::Handles {
                    docker: link.docker.clone(),
                    session: link.session.clone(),
                }));
                if !send(HostEvent::Connected { info, rtt }).await {
                    return;
                }
                match serve(id, &spec, &cfg, &link, &send, &events, &mut commands).await {
                    Ended::Shutdown => {
                        // A version asked beside the list is worth keeping,
                        // but not worth waiting long for.
                        if let Some(task) = learning {
                            let _ = tokio::time::timeout(LEARN_GRACE, task).await;
                        }
                        return;
                    }
                    Ended::Lost(reason) => reason,
                }
            }
            Err(Failure { reason, key }) => {
                // The front end may offer to trust an unknown key.
                if let Some(problem) = key
                    && !send(HostEvent::HostKey(problem)).await
                {
                    return;
                }
                reason
            }
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
                cmd = commands.recv() => match answer_while_down(&spec, cmd, &send, "is unreachable").await {
                    Next::End => return,
                    // A key was just trusted: connect now, not after the backoff.
                    Next::Reconnect => {
                        attempt = 0;
                        break;
                    }
                    Next::Stay => {}
                },
            }
        }
    }
}

/// What an actor without a session does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Stay,
    Reconnect,
    End,
}

/// Answers a command at once while the host has no session, so nobody waits
/// on it; a trusted key is recorded (then connect again at once).
async fn answer_while_down<F, Fut>(
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
struct Failure {
    reason: String,
    key: Option<super::event::HostKeyProblem>,
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure { reason, key: None }
    }
}

/// The front end's view of a refused host key.
fn key_problem(e: &crate::transport::TransportError) -> Option<super::event::HostKeyProblem> {
    use super::event::HostKeyProblem;
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

async fn connect(
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
        &spec.target,
        cfg.connect,
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
    let started = Instant::now();
    answered(
        "/_ping",
        tokio::time::timeout(cfg.call_timeout, link.docker.ping()).await,
    )?;
    let rtt = started.elapsed();
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

/// How long a finished headless verb waits for a first `/version` answer.
const LEARN_GRACE: Duration = Duration::from_millis(500);

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
    // A sick daemon must never stop this loop from reading commands: the
    // list runs in its own task, one at a time; requests meanwhile fold into
    // one more run. Stats likewise, one read at a time.
    let mut listing: Option<tokio::task::JoinHandle<Result<Listed, String>>> = None;
    let mut list_again = false;
    // Containers whose cached inspect went stale while a list was running.
    let mut stale: Vec<String> = Vec::new();
    let mut stats: Option<tokio::task::JoinHandle<()>> = None;
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
        let listed = async {
            match listing.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        let mut refresh = false;
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None | Some(HostCommand::Shutdown) => break Ended::Shutdown,
                Some(HostCommand::Refresh) => refresh = true,
                Some(cmd @ HostCommand::TrustKey { .. }) => {
                    let why = format!("{} is connected: its key is already trusted", spec.name);
                    if let Some(kind) = cmd.unanswered(&why)
                        && !send(kind).await
                    {
                        break Ended::Shutdown;
                    }
                }
                Some(HostCommand::Act { container, action }) => {
                    let docker = link.docker.clone();
                    let events = events.clone();
                    tokio::spawn(async move {
                        let result = action.apply(&docker, &container).await;
                        let kind = HostEvent::ActionDone { container, action, result };
                        let _ = events.send(FleetEvent { host: id, kind }).await;
                    });
                }
                Some(HostCommand::FollowLogs { container_id, tail, since, follow, max_line_bytes }) => {
                    let request = super::logs::LogRequest { tail, since, follow, max_line_bytes };
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
                    // The next tick asks again; a read still running answers for it.
                    if stats.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                        let docker = link.docker.clone();
                        let events = events.clone();
                        let within = cfg.call_timeout;
                        stats = Some(tokio::spawn(async move {
                            let Ok(samples) =
                                tokio::time::timeout(within, read_stats(&docker, ids)).await
                            else {
                                return;
                            };
                            let kind = HostEvent::Stats { samples };
                            let _ = events.send(FleetEvent { host: id, kind }).await;
                        }));
                    }
                }
                Some(HostCommand::Inspect { container }) => {
                    let docker = link.docker.clone();
                    let events = events.clone();
                    let within = cfg.call_timeout;
                    tokio::spawn(async move {
                        let details =
                            match tokio::time::timeout(within, docker.inspect_container(&container, None)).await {
                                Ok(Ok(r)) => Ok(Box::new(ContainerDetails::from_inspect(r))),
                                Ok(Err(e)) => Err(e.to_string()),
                                Err(_) => Err(format!(
                                    "Docker API did not answer inspect within {}s",
                                    within.as_secs()
                                )),
                            };
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
                        if listing.is_some() {
                            stale.push(cid);
                        }
                    }
                    pending_refresh.get_or_insert_with(|| tokio::time::Instant::now() + EVENT_DEBOUNCE);
                }
                Some(Err(e)) => break Ended::Lost(lost_reason(link, &e.to_string())),
                None => break Ended::Lost(lost_reason(link, "Docker event stream ended")),
            },
            done = listed => {
                listing = None;
                let listed = match done {
                    Ok(Ok(listed)) => listed,
                    Ok(Err(reason)) => break Ended::Lost(reason),
                    Err(e) => break Ended::Lost(format!("container list failed: {e}")),
                };
                let rtt = listed.rtt;
                let containers = merge_inspected(listed, &mut inspected, &std::mem::take(&mut stale));
                if !send(HostEvent::Containers { containers, rtt }).await {
                    break Ended::Shutdown;
                }
                refresh = std::mem::take(&mut list_again);
            },
            () = debounce => refresh = true,
            () = tick => refresh = true,
            reason = closed_reason(&mut closed) => break Ended::Lost(reason),
        }
        if refresh {
            pending_refresh = None;
            if listing.is_some() {
                list_again = true;
            } else {
                let known: HashSet<String> = if cfg.inspect {
                    inspected.keys().cloned().collect()
                } else {
                    HashSet::new()
                };
                let (spec, cfg, docker) = (spec.clone(), *cfg, link.docker.clone());
                let link = link.clone();
                listing = Some(tokio::spawn(async move {
                    list_and_inspect(&spec, &cfg, &docker, &link, known).await
                }));
            }
        }
    };
    if let Some(task) = listing {
        task.abort();
    }
    if let Some(task) = stats {
        task.abort();
    }
    log_tasks.stop_all();
    result
}

const EVENT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Parallel API calls per host for inspect/stats; dial-stdio hosts cap
/// sessions per connection (OpenSSH MaxSessions, default 10).
const PER_HOST_CONCURRENCY: usize = 4;

/// Longest a list waits for inspects of new containers; those not answered
/// by then go without restart count and start time until the next list.
const ENRICH_DEADLINE: Duration = Duration::from_secs(3);

/// What inspect adds to a list entry.
#[derive(Debug, Clone)]
struct Inspected {
    restart_count: i64,
    started_at: String,
}

/// One container list and the inspects it took.
struct Listed {
    containers: Vec<ContainerInfo>,
    rtt: Duration,
    fetched: Vec<(String, Inspected)>,
}

/// Lists, then (when enabled) inspects containers not in `known`, within
/// `ENRICH_DEADLINE` in all.
async fn list_and_inspect(
    spec: &HostSpec,
    cfg: &ActorConfig,
    docker: &bollard::Docker,
    link: &DockerLink,
    known: HashSet<String>,
) -> Result<Listed, String> {
    let session = link.session.as_deref();
    let (containers, rtt) = match list(spec, cfg, docker, session).await {
        Err(e) if api_versions::is_version_mismatch(&e) => {
            // A remembered version the daemon no longer takes: ask it afresh.
            tracing::info!(host = %spec.name, "{e}; negotiating the API version again");
            let versions = ApiVersions::from_env();
            let key = api_versions::target_key(&spec.target);
            let _ = versions.set(&key, None);
            let fresh = link
                .with_version(API_DEFAULT_VERSION)
                .map_err(|e| e.to_string())?
                .negotiate_version()
                .await
                .map_err(|e| format!("Docker API: {e}"))?;
            let _ = versions.set(&key, Some(&fresh.client_version()));
            list(spec, cfg, &fresh, session).await?
        }
        Err(e) => {
            // A remembered dial-stdio fallback may be what broke (no docker
            // CLI on the host any more): the next run tries stream-local again.
            if link.tunnel() == crate::transport::docker::Tunnel::DialStdio {
                let versions = ApiVersions::from_env();
                let _ = versions.set_dial_stdio(&api_versions::target_key(&spec.target), false);
            }
            return Err(e);
        }
        Ok(listed) => listed,
    };
    let mut fetched = Vec::new();
    if cfg.inspect {
        let missing: Vec<String> = containers
            .iter()
            .filter(|c| !known.contains(&c.id))
            .map(|c| c.id.clone())
            .collect();
        let mut inspects = futures::stream::iter(missing)
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
            .buffer_unordered(PER_HOST_CONCURRENCY);
        let deadline = tokio::time::sleep(ENRICH_DEADLINE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = inspects.next() => match next {
                    Some((id, Some(got))) => fetched.push((id, got)),
                    Some((_, None)) => {}
                    None => break,
                },
                () = &mut deadline => {
                    tracing::debug!(host = %spec.name, "inspects still pending after {ENRICH_DEADLINE:?}");
                    break;
                }
            }
        }
    }
    Ok(Listed {
        containers,
        rtt,
        fetched,
    })
}

/// Folds a list's inspects into the cache (minus entries an event made stale
/// meanwhile) and fills restart counts and start times from it.
fn merge_inspected(
    listed: Listed,
    cache: &mut HashMap<String, Inspected>,
    stale: &[String],
) -> Vec<ContainerInfo> {
    let Listed {
        mut containers,
        fetched,
        ..
    } = listed;
    for (id, got) in fetched {
        if !stale.contains(&id) {
            cache.insert(id, got);
        }
    }
    cache.retain(|id, _| containers.iter().any(|c| &c.id == id));
    for c in &mut containers {
        if let Some(i) = cache.get(&c.id) {
            c.restart_count = Some(i.restart_count);
            c.started_at = Some(i.started_at.clone());
        }
    }
    containers
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

/// Container events that change what a list shows. Health-check execs
/// (`exec_create/exec_start/exec_die`, three per check) and attach/resize/top
/// would only wake the actor to re-list the same rows.
fn container_events_filter() -> bollard::query_parameters::EventsOptions {
    const USED: [&str; 13] = [
        "create",
        "start",
        "restart",
        "stop",
        "kill",
        "die",
        "oom",
        "destroy",
        "pause",
        "unpause",
        "rename",
        "update",
        // Matches `health_status: healthy` etc. (Docker matches this one by prefix).
        "health_status",
    ];
    let filters = std::collections::HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        (
            "event".to_owned(),
            USED.iter().map(|e| (*e).to_owned()).collect(),
        ),
    ]);
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
    docker: &bollard::Docker,
    session: Option<&crate::transport::SshSession>,
) -> Result<(Vec<ContainerInfo>, Duration), String> {
    let started = Instant::now();
    let options = ListContainersOptionsBuilder::default().all(true).build();
    let summaries = tokio::time::timeout(cfg.call_timeout, docker.list_containers(Some(options)))
        .await
        .map_err(|_| {
            format!(
                "Docker API did not list containers within {}s",
                cfg.call_timeout.as_secs()
            )
        })?
        .map_err(|e| match session.and_then(|s| s.closed_reason()) {
            Some(reason) => reason,
            None => format!("Docker API: {e}"),
        })?;
    let rtt = started.elapsed();
    let mut containers: Vec<ContainerInfo> = summaries
        .into_iter()
        .map(|s| ContainerInfo::from_summary(&spec.name, s))
        .collect();
    containers.sort_by(|a, b| super::model::natural_cmp(&a.name, &b.name));
    Ok((containers, rtt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: id.into(),
            ..ContainerInfo::default()
        }
    }

    fn inspected(n: i64) -> Inspected {
        Inspected {
            restart_count: n,
            started_at: format!("t{n}"),
        }
    }

    #[test]
    fn a_list_fills_from_the_cache_and_drops_stale_and_gone_entries() {
        let mut cache = HashMap::from([
            ("a".to_owned(), inspected(1)),
            ("gone".to_owned(), inspected(9)),
        ]);
        let listed = Listed {
            containers: vec![info("a"), info("b"), info("c")],
            rtt: Duration::ZERO,
            // b's answer predates an event that made it stale.
            fetched: vec![("b".into(), inspected(2)), ("c".into(), inspected(3))],
        };
        let out = merge_inspected(listed, &mut cache, &["b".to_owned()]);
        let counts: Vec<Option<i64>> = out.iter().map(|c| c.restart_count).collect();
        assert_eq!(counts, vec![Some(1), None, Some(3)]);
        assert_eq!(out[2].started_at.as_deref(), Some("t3"));
        let mut keys: Vec<&String> = cache.keys().collect();
        keys.sort();
        assert_eq!(keys, ["a", "c"]);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(16));
        assert_eq!(backoff(5), Duration::from_secs(30));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
