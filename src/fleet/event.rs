//! Messages between host actors and the front-end loop. All owned values.

use std::time::Duration;

use super::action::ContainerAction;
use super::details::ContainerDetails;
use super::model::{ContainerInfo, HostInfo, StatsSample};

/// Image events a timeline shows (a pull, a removal); others are noise there.
pub const IMAGE_ACTIONS: [&str; 2] = ["pull", "delete"];

/// Index of a host in the inventory (and in `FleetState::hosts`).
pub type HostId = usize;

/// Something a host actor observed.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetEvent {
    pub host: HostId,
    pub kind: HostEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One raw log line as Docker sent it (timestamp prefix still attached,
/// escape sequences not yet sanitized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLogLine {
    pub stream: LogStream,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    /// A (re)connection attempt started; `attempt` counts from 0.
    Connecting { attempt: u32 },
    /// Session and Docker API are up; `rtt` is one warm API round trip.
    Connected { info: HostInfo, rtt: Duration },
    /// A full container list (all states).
    Containers {
        containers: Vec<ContainerInfo>,
        rtt: Duration,
    },
    /// The host is unreachable; the actor retries after `retry_in` (or never).
    Disconnected {
        reason: String,
        retry_in: Option<Duration>,
    },
    /// An action finished on one container.
    ActionDone {
        container: String,
        action: ContainerAction,
        result: Result<(), String>,
    },
    /// A batch of log lines from a followed container.
    Logs {
        container_id: String,
        lines: Vec<RawLogLine>,
    },
    /// Answer to `HostCommand::Inspect`.
    Inspected {
        container: String,
        details: Result<Box<ContainerDetails>, String>,
    },
    /// One-shot resource readings, answer to `HostCommand::Stats`.
    Stats { samples: Vec<(String, StatsSample)> },
    /// The host presented a key flotilla refused (sent before `Disconnected`).
    HostKey(HostKeyProblem),
    /// Answer to `HostCommand::TrustKey`.
    KeyTrusted { result: Result<(), String> },
    /// A Docker event as it came, for a live timeline (only with
    /// `ActorConfig::forward_events`, which also brings `IMAGE_ACTIONS`).
    DockerEvent(Box<bollard::models::EventMessage>),
    /// A log stream ended (container gone, connection lost, …).
    LogsEnded {
        container_id: String,
        reason: String,
    },
}

/// A host key flotilla will not accept on its own, for a front end to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyProblem {
    /// Never seen: the user may trust it after checking the fingerprint.
    Unknown {
        /// The name known_hosts records it under (`host` or `[host]:port`).
        name: String,
        key_type: String,
        fingerprint: String,
        /// Where trusting it writes.
        file: std::path::PathBuf,
        /// The key, OpenSSH format.
        key: String,
    },
    /// Differs from the recorded one: never accepted from flotilla.
    Changed {
        name: String,
        /// Key type and fingerprint the server presents.
        presented: String,
        file: std::path::PathBuf,
        line: usize,
        /// The recorded key's type and, when readable, `SHA256:…`.
        recorded: String,
    },
}

/// What the front end asks a host actor to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    /// List containers again.
    Refresh,
    /// Run an action on one container (`container` is an id or name).
    Act {
        container: String,
        action: ContainerAction,
    },
    /// Stream a container's logs: the last `tail` lines (those after `since`,
    /// unix seconds, if set), then new ones while `follow`; lines over
    /// `max_line_bytes` are cut with a marker.
    FollowLogs {
        container_id: String,
        tail: u32,
        since: Option<i64>,
        follow: bool,
        max_line_bytes: usize,
    },
    /// Fetch a container's full configuration.
    Inspect { container: String },
    /// Read CPU and memory of these containers once.
    Stats { ids: Vec<String> },
    /// Stop every log stream of this host.
    StopLogs,
    /// The user trusts this unknown host key: record it and connect now.
    TrustKey {
        name: String,
        key: String,
        file: std::path::PathBuf,
    },
    /// Close the session and end the actor.
    Shutdown,
}

impl HostCommand {
    /// The answer to a command the host cannot take (down, or its queue is
    /// full), so nobody waits for it; `None` for commands nobody waits on.
    pub fn unanswered(self, reason: &str) -> Option<HostEvent> {
        match self {
            HostCommand::Act { container, action } => Some(HostEvent::ActionDone {
                container,
                action,
                result: Err(reason.to_owned()),
            }),
            HostCommand::Inspect { container } => Some(HostEvent::Inspected {
                container,
                details: Err(reason.to_owned()),
            }),
            HostCommand::FollowLogs { container_id, .. } => Some(HostEvent::LogsEnded {
                container_id,
                reason: reason.to_owned(),
            }),
            HostCommand::TrustKey { .. } => Some(HostEvent::KeyTrusted {
                result: Err(reason.to_owned()),
            }),
            HostCommand::Refresh
            | HostCommand::Stats { .. }
            | HostCommand::StopLogs
            | HostCommand::Shutdown => None,
        }
    }
}
