//! A connected host's loop: commands from the front end, Docker's events,
//! the list task, the timers and the session's end, one method each.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::listing::{Inspected, Listed, list_and_inspect, merge_inspected, read_stats};
use super::{ActorConfig, Ended, LogTasks, closed_reason, events_filter, lost_reason, relist_at};
use crate::config::HostSpec;
use crate::fleet::details::ContainerDetails;
use crate::fleet::event::{FleetEvent, HostCommand, HostEvent, HostId};
use crate::transport::DockerLink;

/// What the loop does after an event.
enum Then {
    Go,
    Refresh,
    End(Ended),
}

/// What the loop keeps between events.
struct Session<'a> {
    id: HostId,
    spec: &'a HostSpec,
    cfg: &'a ActorConfig,
    link: &'a DockerLink,
    events: &'a mpsc::Sender<FleetEvent>,
    /// Docker events arrive in bursts (a restart is 3-4 events): list once
    /// per burst, and at most once per RELIST_EVERY (a flapping health check
    /// or a fast crash loop must not turn into a list a quarter second).
    pending_refresh: Option<Instant>,
    last_list: Option<Instant>,
    log_tasks: LogTasks,
    inspected: HashMap<String, Inspected>,
    /// A sick daemon must never stop this loop from reading commands: the
    /// list runs in its own task, one at a time; requests meanwhile fold
    /// into one more run. Stats likewise, one read at a time.
    listing: Option<JoinHandle<Result<Listed, String>>>,
    list_again: bool,
    /// Containers whose cached inspect went stale while a list was running.
    stale: Vec<String>,
    stats: Option<JoinHandle<()>>,
}

pub(super) async fn serve(
    id: HostId,
    spec: &HostSpec,
    cfg: &ActorConfig,
    link: &DockerLink,
    events: &mpsc::Sender<FleetEvent>,
    commands: &mut mpsc::Receiver<HostCommand>,
) -> Ended {
    let mut closed = link.closed_watch();
    let mut docker_events = cfg
        .watch_events
        .then(|| Box::pin(link.docker.events(Some(events_filter(cfg.forward_events)))));
    let mut periodic = cfg.refresh_every.map(|every| {
        let mut t = tokio::time::interval_at(Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut s = Session {
        id,
        spec,
        cfg,
        link,
        events,
        pending_refresh: None,
        last_list: None,
        log_tasks: LogTasks::default(),
        inspected: HashMap::new(),
        listing: None,
        list_again: false,
        stale: Vec::new(),
        stats: None,
    };
    let ended = loop {
        let then = tokio::select! {
            cmd = commands.recv() => s.on_command(cmd).await,
            event = next_or_never(&mut docker_events) => s.on_docker_event(event).await,
            done = join_or_never(&mut s.listing) => s.on_listed(done).await,
            () = until_or_never(s.pending_refresh) => Then::Refresh,
            () = tick_or_never(&mut periodic) => Then::Refresh,
            reason = closed_reason(&mut closed) => Then::End(Ended::Lost(reason)),
        };
        match then {
            Then::Go => {}
            Then::Refresh => s.refresh(),
            Then::End(ended) => break ended,
        }
    };
    s.stop();
    ended
}

async fn next_or_never<S: futures::Stream + Unpin>(stream: &mut Option<S>) -> Option<S::Item> {
    match stream.as_mut() {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

async fn join_or_never<T>(task: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match task.as_mut() {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

async fn until_or_never(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn tick_or_never(interval: &mut Option<tokio::time::Interval>) {
    match interval.as_mut() {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Session<'_> {
    async fn send(&self, kind: HostEvent) -> bool {
        self.events
            .send(FleetEvent {
                host: self.id,
                kind,
            })
            .await
            .is_ok()
    }

    async fn on_command(&mut self, cmd: Option<HostCommand>) -> Then {
        match cmd {
            None | Some(HostCommand::Shutdown) => return Then::End(Ended::Shutdown),
            Some(HostCommand::Refresh) => return Then::Refresh,
            Some(cmd @ HostCommand::TrustKey { .. }) => {
                let why = format!(
                    "{} is connected: its key is already trusted",
                    self.spec.name
                );
                if let Some(kind) = cmd.unanswered(&why)
                    && !self.send(kind).await
                {
                    return Then::End(Ended::Shutdown);
                }
            }
            Some(HostCommand::Act { container, action }) => {
                let docker = self.link.docker.clone();
                let (events, id) = (self.events.clone(), self.id);
                tokio::spawn(async move {
                    let result = action.apply(&docker, &container).await;
                    let kind = HostEvent::ActionDone {
                        container,
                        action,
                        result,
                    };
                    let _ = events.send(FleetEvent { host: id, kind }).await;
                });
            }
            Some(HostCommand::FollowLogs {
                container_id,
                tail,
                since,
                follow,
                max_line_bytes,
            }) => {
                let request = crate::fleet::logs::LogRequest {
                    tail,
                    since,
                    follow,
                    max_line_bytes,
                };
                let task = tokio::spawn(crate::fleet::logs::follow(
                    self.id,
                    self.link.docker.clone(),
                    container_id.clone(),
                    request,
                    self.events.clone(),
                ));
                self.log_tasks.replace(container_id, task);
            }
            Some(HostCommand::StopLogs) => self.log_tasks.stop_all(),
            Some(HostCommand::Stats { ids }) => self.sample_stats(ids),
            Some(HostCommand::Inspect { container }) => self.inspect(container),
        }
        Then::Go
    }

    /// The next tick asks again; a read still running answers for it.
    fn sample_stats(&mut self, ids: Vec<String>) {
        if !self.stats.as_ref().is_none_or(JoinHandle::is_finished) {
            return;
        }
        let docker = self.link.docker.clone();
        let (events, id) = (self.events.clone(), self.id);
        let within = self.cfg.call_timeout;
        self.stats = Some(tokio::spawn(async move {
            let Ok(samples) = tokio::time::timeout(within, read_stats(&docker, ids)).await else {
                return;
            };
            let kind = HostEvent::Stats { samples };
            let _ = events.send(FleetEvent { host: id, kind }).await;
        }));
    }

    fn inspect(&self, container: String) {
        let docker = self.link.docker.clone();
        let (events, id) = (self.events.clone(), self.id);
        let within = self.cfg.call_timeout;
        tokio::spawn(async move {
            let details = match tokio::time::timeout(
                within,
                docker.inspect_container(&container, None),
            )
            .await
            {
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

    async fn on_docker_event(
        &mut self,
        event: Option<Result<bollard::models::EventMessage, bollard::errors::Error>>,
    ) -> Then {
        let ev = match event {
            Some(Ok(ev)) => ev,
            Some(Err(e)) => return Then::End(Ended::Lost(lost_reason(self.link, &e.to_string()))),
            None => {
                return Then::End(Ended::Lost(lost_reason(
                    self.link,
                    "Docker event stream ended",
                )));
            }
        };
        if self.cfg.forward_events
            && !self
                .send(HostEvent::DockerEvent(Box::new(ev.clone())))
                .await
        {
            return Then::End(Ended::Shutdown);
        }
        // An image pulled or removed: the rows stay as they are.
        if ev.typ == Some(bollard::models::EventMessageTypeEnum::IMAGE) {
            return Then::Go;
        }
        // Restart counts and start times change only with events.
        if let Some(cid) = ev.actor.and_then(|a| a.id) {
            self.inspected.remove(&cid);
            if self.listing.is_some() {
                self.stale.push(cid);
            }
        }
        let last_list = self.last_list;
        self.pending_refresh
            .get_or_insert_with(|| relist_at(Instant::now(), last_list));
        Then::Go
    }

    async fn on_listed(
        &mut self,
        done: Result<Result<Listed, String>, tokio::task::JoinError>,
    ) -> Then {
        self.listing = None;
        let listed = match done {
            Ok(Ok(listed)) => listed,
            Ok(Err(reason)) => return Then::End(Ended::Lost(reason)),
            Err(e) => return Then::End(Ended::Lost(format!("container list failed: {e}"))),
        };
        let rtt = listed.rtt;
        let stale = std::mem::take(&mut self.stale);
        let containers = merge_inspected(listed, &mut self.inspected, &stale);
        if !self.send(HostEvent::Containers { containers, rtt }).await {
            return Then::End(Ended::Shutdown);
        }
        if std::mem::take(&mut self.list_again) {
            Then::Refresh
        } else {
            Then::Go
        }
    }

    /// Lists now, or once more after the list running now.
    fn refresh(&mut self) {
        self.pending_refresh = None;
        if self.listing.is_some() {
            self.list_again = true;
            return;
        }
        let known: HashSet<String> = if self.cfg.inspect {
            self.inspected.keys().cloned().collect()
        } else {
            HashSet::new()
        };
        let (spec, cfg, link) = (self.spec.clone(), self.cfg.clone(), self.link.clone());
        self.last_list = Some(Instant::now());
        self.listing = Some(tokio::spawn(async move {
            list_and_inspect(&spec, &cfg, &link.docker, &link, known).await
        }));
    }

    fn stop(mut self) {
        if let Some(task) = self.listing.take() {
            task.abort();
        }
        if let Some(task) = self.stats.take() {
            task.abort();
        }
        self.log_tasks.stop_all();
    }
}
