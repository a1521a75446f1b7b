//! Host actors, the events they send, and the state the front end derives from them.

pub mod action;
pub mod actor;
pub mod compose;
pub mod details;
pub mod disk;
pub mod event;
#[cfg(test)]
pub mod fixtures;
pub mod logs;
pub mod model;
pub mod state;
pub mod top;
pub mod vitals;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use action::ContainerAction;
pub use actor::ActorConfig;
pub use compose::ComposeRef;
pub use details::ContainerDetails;
pub use event::{
    FleetEvent, HostCommand, HostEvent, HostId, HostKeyProblem, LogStream, RawLogLine,
};
pub use model::{ContainerInfo, ContainerState, DEPLOY_LOCK_LABEL, Health, HostInfo, natural_cmp};
pub use state::{
    Effect, FleetState, HostState, HostSummary, Link, Resolved, majority_image, update,
};

use crate::config::Inventory;

/// Bound on queued events from all actors; back-pressure slows actors, never the loop.
const EVENT_CAPACITY: usize = 256;
const COMMAND_CAPACITY: usize = 16;
/// Actors read commands promptly, so they are gone well within this.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// What a connected actor shares: its Docker client and the SSH session
/// under it (None for a local daemon), for work beside the actor's own.
#[derive(Clone)]
pub struct Handles {
    pub docker: bollard::Docker,
    pub remote: Option<crate::transport::Remote>,
    /// Plain GETs over the same connections (answers bollard cannot read).
    pub raw: crate::transport::docker::RawApi,
}

/// Running host actors: one command sender each, one shared event stream.
pub struct Fleet {
    commands: Vec<mpsc::Sender<HostCommand>>,
    /// Each actor publishes its Docker client while connected, so operations
    /// (deploys) ride the same SSH session instead of opening another.
    dockers: Vec<tokio::sync::watch::Receiver<Option<Handles>>>,
    pub events: mpsc::Receiver<FleetEvent>,
    tasks: JoinSet<()>,
}

impl Fleet {
    /// Starts one actor per inventory host.
    pub fn spawn(inventory: &Inventory, cfg: ActorConfig) -> Fleet {
        let (event_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let mut tasks = JoinSet::new();
        let mut commands = Vec::with_capacity(inventory.hosts.len());
        let mut dockers = Vec::with_capacity(inventory.hosts.len());
        for (id, spec) in inventory.hosts.iter().cloned().enumerate() {
            let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_CAPACITY);
            commands.push(cmd_tx);
            let (docker_tx, docker_rx) = tokio::sync::watch::channel(None);
            dockers.push(docker_rx);
            tasks.spawn(actor::run(
                id,
                spec,
                cfg.clone(),
                event_tx.clone(),
                cmd_rx,
                docker_tx,
            ));
        }
        Fleet {
            commands,
            dockers,
            events,
            tasks,
        }
    }

    /// Delivers an effect's command. A full queue means the actor is busy with
    /// the same kind of work, so dropping a Refresh is harmless.
    pub fn apply(&self, effect: Effect) {
        match effect {
            Effect::Host(id, cmd) => {
                if let Some(tx) = self.commands.get(id)
                    && let Err(e) = tx.try_send(cmd)
                {
                    tracing::debug!(host = id, "command not delivered: {e}");
                }
            }
        }
    }

    /// Runs the loop until every host has answered or given up, then stops the actors.
    pub async fn collect(mut self, state: &mut FleetState) {
        self.settle(state).await;
        self.shutdown().await;
    }

    /// Runs the loop until every host has answered or given up; actors stay up.
    pub async fn settle(&mut self, state: &mut FleetState) {
        self.settle_until(state, FleetState::all_settled).await;
    }

    /// Runs the loop until `done(state)`; actors stay up.
    pub async fn settle_until(&mut self, state: &mut FleetState, done: fn(&FleetState) -> bool) {
        while !done(state) {
            let Some(event) = self.events.recv().await else {
                break;
            };
            for effect in update(state, event) {
                self.apply(effect);
            }
        }
    }

    /// The host's Docker client while it is connected.
    pub fn docker(&self, host: HostId) -> Option<bollard::Docker> {
        self.handles(host).map(|h| h.docker)
    }

    /// The host's Docker client and SSH session while it is connected.
    pub fn handles(&self, host: HostId) -> Option<Handles> {
        self.dockers.get(host).and_then(|rx| rx.borrow().clone())
    }

    /// Queues a command without ever waiting (the UI loop must not wait on a
    /// host). A full or closed queue answers it at once with an error event
    /// (None for commands nobody waits on, like Refresh and Stats).
    pub fn offer(&self, host: HostId, cmd: HostCommand) -> Option<HostEvent> {
        let name = || format!("host #{host}");
        let Some(tx) = self.commands.get(host) else {
            return cmd.unanswered(&format!("{} is not in the fleet", name()));
        };
        match tx.try_send(cmd) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                tracing::debug!(host, ?cmd, "command queue full");
                cmd.unanswered("the host is not taking commands (queue full); try again")
            }
            Err(mpsc::error::TrySendError::Closed(cmd)) => {
                cmd.unanswered("the host's connection task has ended")
            }
        }
    }

    /// Sends a command to one host, waiting for queue space (headless verbs).
    pub async fn send(&self, host: HostId, cmd: HostCommand) -> bool {
        match self.commands.get(host) {
            Some(tx) => tx.send(cmd).await.is_ok(),
            None => false,
        }
    }

    pub async fn shutdown(mut self) {
        for tx in &self.commands {
            let _ = tx.try_send(HostCommand::Shutdown);
        }
        self.commands.clear();
        self.events.close();
        // Actors exit on Shutdown; one stuck in a slow connect is cut off.
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            self.tasks.abort_all();
        }
    }
}

/// The guard: a fleet dropped without `shutdown` (an early return, an
/// error, a refusal) still tells its actors to close their sessions, and
/// they get the same grace to do it while the runtime runs.
impl Drop for Fleet {
    fn drop(&mut self) {
        if self.commands.is_empty() {
            return; // shut down already
        }
        for tx in &self.commands {
            let _ = tx.try_send(HostCommand::Shutdown);
        }
        self.commands.clear();
        let mut tasks = std::mem::take(&mut self.tasks);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let drain = async { while tasks.join_next().await.is_some() {} };
                if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
                    tasks.abort_all();
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_fleet_tells_its_actors_to_shut_down_and_lets_them() {
        let (tx, mut actor) = mpsc::channel(COMMAND_CAPACITY);
        let (_events_tx, events) = mpsc::channel(1);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let mut tasks = JoinSet::new();
        // An actor that takes a moment to close its session after Shutdown.
        tasks.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = done_tx.send(());
        });
        drop(Fleet {
            commands: vec![tx],
            dockers: Vec::new(),
            events,
            tasks,
        });
        assert!(matches!(actor.recv().await, Some(HostCommand::Shutdown)));
        tokio::time::timeout(std::time::Duration::from_secs(2), done)
            .await
            .expect("the actor was not cut off at once")
            .expect("it finished");
    }

    #[tokio::test]
    async fn a_stalled_host_never_blocks_the_caller() {
        // An actor that never reads its queue.
        let (tx, _stalled) = mpsc::channel(COMMAND_CAPACITY);
        let (_events_tx, events) = mpsc::channel(1);
        let fleet = Fleet {
            commands: vec![tx],
            dockers: Vec::new(),
            events,
            tasks: JoinSet::new(),
        };
        for _ in 0..COMMAND_CAPACITY * 2 {
            assert_eq!(fleet.offer(0, HostCommand::Refresh), None);
        }
        let act = HostCommand::Act {
            container: "web".into(),
            action: ContainerAction::Restart,
        };
        match fleet.offer(0, act) {
            Some(HostEvent::ActionDone {
                container,
                result: Err(e),
                ..
            }) => {
                assert_eq!(container, "web");
                assert!(e.contains("queue full"), "{e}");
            }
            other => panic!("a refused action must be answered: {other:?}"),
        }
        let follow = HostCommand::FollowLogs {
            container_id: "abc".into(),
            tail: 10,
            since: None,
            follow: true,
            max_line_bytes: 1024,
        };
        assert!(matches!(
            fleet.offer(0, follow),
            Some(HostEvent::LogsEnded { .. })
        ));
        assert!(matches!(
            fleet.offer(
                7,
                HostCommand::Inspect {
                    container: "x".into()
                }
            ),
            Some(HostEvent::Inspected {
                details: Err(_),
                ..
            })
        ));
    }
}
