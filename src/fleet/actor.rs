//! One task per host: owns the SSH session and the Docker client, reports
//! owned events, and reconnects with backoff. A slow host only delays itself.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

mod connect;
mod listing;

use super::details::ContainerDetails;
use super::event::{FleetEvent, HostCommand, HostEvent, HostId};
use crate::config::HostSpec;
use crate::transport::{ConnectOptions, DockerLink};
use connect::{Failure, LEARN_GRACE, Next, answer_while_down, connect};
use listing::{Inspected, Listed, list_and_inspect, merge_inspected, read_stats};

/// How an actor behaves after losing its host.
#[derive(Debug, Clone)]
pub struct ActorConfig {
    pub connect: ConnectOptions,
    /// Keep retrying (TUI) or give up after the first failure (headless verbs).
    pub reconnect: bool,
    /// Upper bound for one Docker API call.
    pub call_timeout: Duration,
    /// Follow Docker's event stream and re-list on container changes (TUI).
    pub watch_events: bool,
    /// Also pass each of those events on as `HostEvent::DockerEvent` (the
    /// TUI's live timeline); others would only have to drop them.
    pub forward_events: bool,
    /// Inspect containers for restart counts and start times (TUI, triage);
    /// plain `ps` skips it to stay at one API call per host.
    pub inspect: bool,
    /// Re-list this often even without events (keeps "Up 5 minutes" fresh).
    pub refresh_every: Option<Duration>,
    /// On connect, ask `/version` (Docker version) and time one `/_ping` on
    /// the open connection (RTT): TUI and `hosts`. Plain listing skips both.
    pub probe: bool,
    /// With `probe`, also time a `/_ping` (the RTT the Hosts view and
    /// `hosts` show); a deploy only needs the version: one round trip less.
    pub ping: bool,
}

impl Default for ActorConfig {
    fn default() -> Self {
        ActorConfig {
            connect: ConnectOptions::default(),
            reconnect: true,
            call_timeout: Duration::from_secs(20),
            watch_events: true,
            forward_events: false,
            inspect: true,
            refresh_every: Some(Duration::from_secs(15)),
            probe: true,
            ping: true,
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
                    remote: link.remote.clone(),
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
        .then(|| Box::pin(link.docker.events(Some(events_filter(cfg.forward_events)))));
    // Docker events arrive in bursts (a restart is 3-4 events): list once per
    // burst, and at most once per RELIST_EVERY (a flapping health check or a
    // fast crash loop must not turn into a list a quarter second).
    let mut pending_refresh: Option<tokio::time::Instant> = None;
    let mut last_list: Option<tokio::time::Instant> = None;
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
                    if cfg.forward_events && !send(HostEvent::DockerEvent(Box::new(ev.clone()))).await {
                        break Ended::Shutdown;
                    }
                    // An image pulled or removed: the rows stay as they are.
                    if ev.typ == Some(bollard::models::EventMessageTypeEnum::IMAGE) {
                        continue;
                    }
                    // Restart counts and start times change only with events.
                    if let Some(cid) = ev.actor.and_then(|a| a.id) {
                        inspected.remove(&cid);
                        if listing.is_some() {
                            stale.push(cid);
                        }
                    }
                    pending_refresh.get_or_insert_with(|| relist_at(tokio::time::Instant::now(), last_list));
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
                let (spec, cfg, docker) = (spec.clone(), cfg.clone(), link.docker.clone());
                let link = link.clone();
                last_list = Some(tokio::time::Instant::now());
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
const RELIST_EVERY: Duration = Duration::from_secs(1);

/// When to re-list after a Docker event at `now`: after the burst settles,
/// and not sooner than RELIST_EVERY after the last list began.
fn relist_at(
    now: tokio::time::Instant,
    last_list: Option<tokio::time::Instant>,
) -> tokio::time::Instant {
    let settled = now + EVENT_DEBOUNCE;
    last_list.map_or(settled, |last| settled.max(last + RELIST_EVERY))
}
/// Container events that change what a list shows, and with `images` (a live
/// timeline) the image events it shows. Health-check execs
/// (`exec_create/exec_start/exec_die`, three per check) and attach/resize/top
/// would only wake the actor to re-list the same rows.
fn events_filter(images: bool) -> bollard::query_parameters::EventsOptions {
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
    let mut types = vec!["container".to_owned()];
    let mut actions: Vec<String> = USED.iter().map(|e| (*e).to_owned()).collect();
    if images {
        // No image action shares a name with a container one.
        types.push("image".to_owned());
        actions.extend(super::event::IMAGE_ACTIONS.iter().map(|e| (*e).to_owned()));
    }
    let filters = std::collections::HashMap::from([
        ("type".to_owned(), types),
        ("event".to_owned(), actions),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_events_only_for_a_live_timeline() {
        let filters = |images| events_filter(images).filters.unwrap_or_default();
        let plain = filters(false);
        assert_eq!(plain["type"], ["container"]);
        assert!(!plain["event"].iter().any(|e| e == "pull" || e == "delete"));
        assert!(plain["event"].iter().any(|e| e == "die"));
        let live = filters(true);
        assert_eq!(live["type"], ["container", "image"]);
        for e in ["pull", "delete", "die", "health_status"] {
            assert!(live["event"].iter().any(|x| x == e), "{e}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(16));
        assert_eq!(backoff(5), Duration::from_secs(30));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }

    #[test]
    fn event_driven_relists_wait_for_the_burst_and_come_at_most_once_a_second() {
        let t0 = tokio::time::Instant::now();
        assert_eq!(relist_at(t0, None), t0 + EVENT_DEBOUNCE);
        let long_ago = t0 - Duration::from_secs(5);
        assert_eq!(relist_at(t0, Some(long_ago)), t0 + EVENT_DEBOUNCE);
        let just_now = t0 - Duration::from_millis(100);
        assert_eq!(relist_at(t0, Some(just_now)), just_now + RELIST_EVERY);
    }
}
