//! The front end's single source of truth and the pure function that evolves it.

use std::time::Duration;

use serde::Serialize;

use super::event::{FleetEvent, HostCommand, HostEvent, HostId};
use super::model::{ContainerInfo, HostInfo};
use crate::config::{HostSpec, Inventory, ServiceSpec};

/// Where a host's connection stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting {
        attempt: u32,
    },
    Up {
        info: HostInfo,
        rtt: Duration,
    },
    Down {
        reason: String,
        retry_in: Option<Duration>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostState {
    pub spec: HostSpec,
    pub link: Link,
    /// Last known containers; kept (and marked stale) while the host is down.
    pub containers: Vec<ContainerInfo>,
    /// Whether a container list has ever arrived.
    pub listed: bool,
    pub stale: bool,
    /// Last known Docker facts, kept across disconnects.
    pub info: Option<HostInfo>,
    pub rtt: Option<Duration>,
    pub last_error: Option<String>,
    /// When the current run of failed connections began.
    pub down_since: Option<jiff::Timestamp>,
}

impl HostState {
    pub fn new(spec: HostSpec) -> Self {
        HostState {
            spec,
            link: Link::Connecting { attempt: 0 },
            containers: Vec::new(),
            listed: false,
            stale: false,
            info: None,
            rtt: None,
            last_error: None,
            down_since: None,
        }
    }

    pub fn is_up(&self) -> bool {
        matches!(self.link, Link::Up { .. })
    }

    /// Why the host cannot be reached: while down, and while reconnecting
    /// after a failure (a retry is not yet an answer).
    pub fn unreachable(&self) -> Option<&str> {
        match &self.link {
            Link::Down { reason, .. } => Some(reason),
            Link::Connecting { .. } => self.last_error.as_deref(),
            Link::Up { .. } => None,
        }
    }

    /// Headless verbs wait until every host is listed, or down for good.
    pub fn settled(&self) -> bool {
        match &self.link {
            Link::Up { .. } => self.listed,
            Link::Down { retry_in, .. } => retry_in.is_none() || self.listed,
            Link::Connecting { .. } => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FleetState {
    pub hosts: Vec<HostState>,
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Host(HostId, HostCommand),
}

impl FleetState {
    /// The host named `name`, with its id.
    pub fn host_named(&self, name: &str) -> Option<(HostId, &HostState)> {
        self.hosts
            .iter()
            .enumerate()
            .find(|(_, h)| h.spec.name == name)
    }

    pub fn host_named_mut(&mut self, name: &str) -> Option<&mut HostState> {
        self.hosts.iter_mut().find(|h| h.spec.name == name)
    }

    pub fn new(inventory: &Inventory) -> Self {
        FleetState {
            hosts: inventory
                .hosts
                .iter()
                .cloned()
                .map(HostState::new)
                .collect(),
        }
    }

    pub fn all_settled(&self) -> bool {
        self.hosts.iter().all(HostState::settled)
    }

    /// Every host connected (its daemon answered) or given up, listed or
    /// not: enough for callers that ask the daemons themselves.
    pub fn all_linked(&self) -> bool {
        self.hosts.iter().all(|h| h.is_up() || h.settled())
    }

    pub fn unreachable(&self) -> impl Iterator<Item = &HostState> {
        self.hosts.iter().filter(|h| !h.is_up())
    }

    /// Matches targets against every known container: exact name, Compose
    /// service, or an id prefix of at least 4 characters. Returns the matches
    /// and the targets that matched nothing.
    pub fn resolve(&self, targets: &[String]) -> (Vec<Resolved>, Vec<String>) {
        let mut found: Vec<Resolved> = Vec::new();
        let mut missing = Vec::new();
        for target in targets {
            let before = found.len();
            for (host, h) in self.hosts.iter().enumerate() {
                for c in &h.containers {
                    let hit = c.name == *target
                        || c.labels.get("com.docker.compose.service") == Some(target)
                        || (target.len() >= 4 && c.id.starts_with(target.as_str()));
                    if hit
                        && !found
                            .iter()
                            .any(|r| r.container.id == c.id && r.host == host)
                    {
                        found.push(Resolved {
                            host,
                            container: c.clone(),
                        });
                    }
                }
            }
            if found.len() == before {
                missing.push(target.clone());
            }
        }
        (found, missing)
    }

    /// Every known container, host order then name order.
    pub fn containers(&self) -> impl Iterator<Item = &ContainerInfo> {
        self.hosts.iter().flat_map(|h| h.containers.iter())
    }

    /// Every service name in the fleet, sorted; a deploy's lock container is
    /// not a service of its own.
    pub fn service_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .containers()
            .filter(|c| c.deploy_lock().is_none())
            .map(|c| c.service().to_owned())
            .collect();
        names.sort_by(|a, b| super::model::natural_cmp(a, b));
        names.dedup();
        names
    }

    /// The image most of a configured service's containers (every replica
    /// its `match` finds) run now.
    pub fn service_image(&self, spec: &ServiceSpec) -> Option<String> {
        majority_image(self.hosts.iter().flat_map(|h| {
            h.containers
                .iter()
                .filter(|c| c.of_service(spec, &h.spec.name))
        }))
    }
}

/// The image most of `cells` run (ties: the first by name); others are drift.
pub fn majority_image<'a>(cells: impl Iterator<Item = &'a ContainerInfo>) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for c in cells {
        *counts.entry(c.image.as_str()).or_default() += 1;
    }
    let max = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|(_, n)| *n == max)
        .map(|(img, _)| img.to_owned())
}

/// One container a target resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub host: HostId,
    pub container: ContainerInfo,
}

/// Applies one event; returns the commands it implies.
pub fn update(state: &mut FleetState, event: FleetEvent) -> Vec<Effect> {
    let Some(host) = state.hosts.get_mut(event.host) else {
        return Vec::new();
    };
    match event.kind {
        HostEvent::Connecting { attempt } => {
            host.link = Link::Connecting { attempt };
            Vec::new()
        }
        HostEvent::Connected { info, rtt } => {
            host.info = Some(info.clone());
            host.rtt = Some(rtt);
            host.link = Link::Up { info, rtt };
            host.last_error = None;
            host.down_since = None;
            vec![Effect::Host(event.host, HostCommand::Refresh)]
        }
        HostEvent::Containers { containers, rtt } => {
            host.containers = containers;
            host.listed = true;
            host.stale = false;
            host.rtt = Some(rtt);
            Vec::new()
        }
        HostEvent::Disconnected { reason, retry_in } => {
            host.last_error = Some(reason.clone());
            host.down_since.get_or_insert_with(jiff::Timestamp::now);
            host.stale = host.listed;
            host.link = Link::Down { reason, retry_in };
            Vec::new()
        }
        // Actions, logs: the front end consumes these directly.
        HostEvent::ActionDone { .. }
        | HostEvent::Logs { .. }
        | HostEvent::LogsEnded { .. }
        | HostEvent::Inspected { .. }
        | HostEvent::Stats { .. }
        | HostEvent::HostKey(_)
        | HostEvent::KeyTrusted { .. }
        | HostEvent::DockerEvent(_) => Vec::new(),
    }
}

/// A host's row for `flotilla hosts` (and the Hosts view).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSummary {
    pub name: String,
    pub address: String,
    pub groups: Vec<String>,
    pub reachable: bool,
    pub docker_version: Option<String>,
    pub api_version: Option<String>,
    pub tunnel: Option<String>,
    pub rtt_ms: Option<f64>,
    pub containers: usize,
    pub running: usize,
    pub error: Option<String>,
    /// Read by `flotilla hosts` over the host's session; null with a reason
    /// in `vitals_error` where it could not be (local host, exec refused).
    pub vitals: Option<super::vitals::Vitals>,
    pub vitals_error: Option<String>,
    /// Docker's own disk usage (`/system/df`, through the Docker API: local
    /// hosts too); null with the reason in `docker_disk_error`.
    pub docker_disk: Option<super::disk::DockerDisk>,
    pub docker_disk_error: Option<String>,
}

impl From<&HostState> for HostSummary {
    fn from(h: &HostState) -> Self {
        let reachable = h.is_up();
        HostSummary {
            name: h.spec.name.clone(),
            address: h.spec.address.clone(),
            groups: h.spec.groups.clone(),
            reachable,
            docker_version: h.info.as_ref().map(|i| i.docker_version.clone()),
            api_version: h.info.as_ref().map(|i| i.api_version.clone()),
            tunnel: h.info.as_ref().map(|i| i.tunnel.clone()),
            rtt_ms: reachable
                .then_some(h.rtt)
                .flatten()
                .map(|d| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
            containers: h.containers.len(),
            running: h.containers.iter().filter(|c| c.is_running()).count(),
            error: h.last_error.clone(),
            vitals: None,
            vitals_error: None,
            docker_disk: None,
            docker_disk_error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;

    fn spec(name: &str) -> HostSpec {
        HostSpec {
            name: name.into(),
            address: name.into(),
            groups: vec![],
            read_only: false,
            target: Target::Local {
                socket: "/var/run/docker.sock".into(),
            },
        }
    }

    fn container(host: &str, name: &str, state: &str) -> ContainerInfo {
        ContainerInfo {
            host: host.into(),
            id: format!("{name}-id"),
            name: name.into(),
            image: "img".into(),
            state: state.into(),
            health: None,
            exit_code: None,
            status: String::new(),
            created: String::new(),
            labels: Default::default(),
            ports: Vec::new(),
            restart_count: None,
            started_at: None,
        }
    }

    fn fleet() -> FleetState {
        FleetState {
            hosts: vec![HostState::new(spec("a")), HostState::new(spec("b"))],
        }
    }

    fn info() -> HostInfo {
        HostInfo {
            docker_version: "26.1.5".into(),
            api_version: "1.45".into(),
            tunnel: "streamlocal".into(),
        }
    }

    #[test]
    fn connected_requests_a_list_and_settles_after_it() {
        let mut s = fleet();
        let effects = update(
            &mut s,
            FleetEvent {
                host: 1,
                kind: HostEvent::Connected {
                    info: info(),
                    rtt: Duration::from_millis(3),
                },
            },
        );
        assert_eq!(effects, vec![Effect::Host(1, HostCommand::Refresh)]);
        assert!(!s.hosts[1].settled());
        update(
            &mut s,
            FleetEvent {
                host: 1,
                kind: HostEvent::Containers {
                    containers: vec![container("b", "web", "running")],
                    rtt: Duration::from_millis(2),
                },
            },
        );
        assert!(s.hosts[1].settled());
        assert!(!s.all_settled(), "host a has not answered yet");
        assert_eq!(s.containers().count(), 1);
    }

    #[test]
    fn linked_means_connected_or_given_up_listed_or_not() {
        let mut s = fleet();
        let connected = || HostEvent::Connected {
            info: info(),
            rtt: Duration::from_millis(3),
        };
        update(
            &mut s,
            FleetEvent {
                host: 0,
                kind: connected(),
            },
        );
        assert!(!s.all_linked(), "host b is still connecting");
        update(
            &mut s,
            FleetEvent {
                host: 1,
                kind: HostEvent::Disconnected {
                    reason: "connection refused".into(),
                    retry_in: None,
                },
            },
        );
        assert!(s.all_linked());
        assert!(!s.all_settled(), "host a has not listed yet");
    }

    #[test]
    fn disconnect_keeps_last_containers_as_stale() {
        let mut s = fleet();
        update(
            &mut s,
            FleetEvent {
                host: 0,
                kind: HostEvent::Containers {
                    containers: vec![container("a", "web", "running")],
                    rtt: Duration::from_millis(2),
                },
            },
        );
        update(
            &mut s,
            FleetEvent {
                host: 0,
                kind: HostEvent::Disconnected {
                    reason: "connection reset".into(),
                    retry_in: Some(Duration::from_secs(2)),
                },
            },
        );
        let h = &s.hosts[0];
        assert!(h.stale);
        assert_eq!(h.containers.len(), 1);
        assert_eq!(h.last_error.as_deref(), Some("connection reset"));
        let summary = HostSummary::from(h);
        assert!(!summary.reachable);
        assert_eq!(summary.rtt_ms, None);
    }

    #[test]
    fn final_disconnect_settles_without_a_list() {
        let mut s = fleet();
        update(
            &mut s,
            FleetEvent {
                host: 0,
                kind: HostEvent::Disconnected {
                    reason: "refused".into(),
                    retry_in: None,
                },
            },
        );
        assert!(s.hosts[0].settled());
        assert_eq!(s.unreachable().count(), 2, "b is still connecting");
    }

    #[test]
    fn events_for_unknown_hosts_are_ignored() {
        let mut s = fleet();
        let before = s.clone();
        let effects = update(
            &mut s,
            FleetEvent {
                host: 9,
                kind: HostEvent::Connecting { attempt: 1 },
            },
        );
        assert!(effects.is_empty());
        assert_eq!(s, before);
    }
}
