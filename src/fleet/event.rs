//! Messages between host actors and the front-end loop. All owned values.

use std::time::Duration;

use super::model::{ContainerInfo, HostInfo};

/// Index of a host in the inventory (and in `FleetState::hosts`).
pub type HostId = usize;

/// Something a host actor observed.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetEvent {
    pub host: HostId,
    pub kind: HostEvent,
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
}

/// What the front end asks a host actor to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    /// List containers again.
    Refresh,
    /// Close the session and end the actor.
    Shutdown,
}
