//! One task per host: owns the SSH session and the Docker client, reports
//! owned events, and reconnects with backoff. A slow host only delays itself.

use std::time::Duration;

use tokio::sync::mpsc;

mod connect;
mod listing;
mod serve;

use super::event::{FleetEvent, HostCommand, HostEvent, HostId};
use crate::config::HostSpec;
use crate::transport::{ConnectOptions, DockerLink};
use connect::{Failure, LEARN_GRACE, Next, answer_while_down, connect};

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
        let Some(connected) = answering(&spec, connect(&spec, &cfg), &mut commands, &send).await
        else {
            return;
        };
        let reason = match connected {
            Ok((link, info, rtt, learning)) => {
                attempt = 0;
                // Shared with the front end (deploys, triage evidence, vitals).
                docker_out.send_replace(Some(super::Handles {
                    docker: link.docker.clone(),
                    remote: link.remote.clone(),
                    raw: link.raw.clone(),
                }));
                if !send(HostEvent::Connected { info, rtt }).await {
                    return;
                }
                match serve::serve(id, &spec, &cfg, &link, &events, &mut commands).await {
                    Ended::Shutdown => {
                        finish_learning(learning).await;
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
        match back_off(&spec, wait, &mut commands, &send).await {
            Next::End => return,
            // A key was just trusted: connect now, not after the backoff.
            Next::Reconnect => attempt = 0,
            Next::Stay => {}
        }
    }
}

/// A version asked beside the list is worth keeping, but not worth waiting
/// long for.
async fn finish_learning(learning: Option<tokio::task::JoinHandle<()>>) {
    if let Some(task) = learning {
        let _ = tokio::time::timeout(LEARN_GRACE, task).await;
    }
}

/// Awaits `connecting`, answering commands meanwhile: a slow host may take
/// long to connect. `None` on Shutdown.
async fn answering<T, F, Fut>(
    spec: &HostSpec,
    connecting: impl std::future::Future<Output = T>,
    commands: &mut mpsc::Receiver<HostCommand>,
    send: &F,
) -> Option<T>
where
    F: Fn(HostEvent) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::pin!(connecting);
    loop {
        tokio::select! {
            res = &mut connecting => return Some(res),
            cmd = commands.recv() => {
                if answer_while_down(spec, cmd, send, "is still connecting").await == Next::End {
                    return None;
                }
            }
        }
    }
}

/// Waits out the backoff, answering commands meanwhile: `End` on Shutdown,
/// `Reconnect` when a key was just trusted, else `Stay` once it has passed.
async fn back_off<F, Fut>(
    spec: &HostSpec,
    wait: Duration,
    commands: &mut mpsc::Receiver<HostCommand>,
    send: &F,
) -> Next
where
    F: Fn(HostEvent) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return Next::Stay,
            cmd = commands.recv() => match answer_while_down(spec, cmd, send, "is unreachable").await {
                Next::Stay => {}
                next => return next,
            },
        }
    }
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
