//! Owned snapshots of what a host reports: plain data, cheap to send between tasks.

use std::collections::BTreeMap;

use serde::Serialize;

/// One container as `flotilla ps` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub host: String,
    pub id: String,
    pub name: String,
    pub image: String,
    /// Docker's state: running, exited, restarting, paused, created, dead, …
    pub state: ContainerState,
    /// healthy, unhealthy, starting; `None` without a health check.
    pub health: Option<Health>,
    /// Only for exited/dead containers.
    pub exit_code: Option<i64>,
    /// Docker's human text ("Up 5 minutes (healthy)").
    pub status: String,
    /// RFC 3339.
    pub created: String,
    pub labels: BTreeMap<String, String>,
    /// Published ports, `host_ip:host_port→container_port/proto`, sorted.
    pub ports: Vec<String>,
    /// From inspect (TUI only; headless `ps` stays at one API call per host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i64>,
    /// RFC 3339, from inspect (TUI only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// Docker's container state. Values this version does not know are kept as
/// written, so nothing a daemon reports is lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    #[default]
    Unknown,
    Other(String),
}

impl ContainerState {
    pub fn as_str(&self) -> &str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
            ContainerState::Unknown => "unknown",
            ContainerState::Other(s) => s,
        }
    }

    /// Stopped for good (until someone starts it): exited or dead.
    pub fn is_stopped(&self) -> bool {
        matches!(self, ContainerState::Exited | ContainerState::Dead)
    }
}

impl From<&str> for ContainerState {
    fn from(s: &str) -> Self {
        match s {
            "created" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "removing" => ContainerState::Removing,
            "exited" => ContainerState::Exited,
            "dead" => ContainerState::Dead,
            "" | "unknown" => ContainerState::Unknown,
            other => ContainerState::Other(other.to_owned()),
        }
    }
}

/// A container's health-check verdict (only for containers that have one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
    Other(String),
}

impl Health {
    pub fn as_str(&self) -> &str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Other(s) => s,
        }
    }
}

impl From<&str> for Health {
    fn from(s: &str) -> Self {
        match s {
            "starting" => Health::Starting,
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            other => Health::Other(other.to_owned()),
        }
    }
}

/// Both serialize as Docker's own words (`ps --json` stays as it was).
macro_rules! as_docker_word {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
as_docker_word!(ContainerState, Health);

/// One one-shot stats reading of a container; CPU % needs two of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSample {
    pub cpu_total: u64,
    pub system_total: u64,
    pub online_cpus: u32,
    /// Bytes in use, page cache excluded (what `docker stats` shows).
    pub mem_used: u64,
    pub mem_limit: u64,
}

impl StatsSample {
    pub fn from_response(r: &bollard::models::ContainerStatsResponse) -> Option<StatsSample> {
        let cpu = r.cpu_stats.as_ref()?;
        let mem = r.memory_stats.as_ref()?;
        let cache = mem
            .stats
            .as_ref()
            .and_then(|s| s.get("inactive_file").or_else(|| s.get("cache")).copied())
            .unwrap_or(0);
        Some(StatsSample {
            cpu_total: cpu.cpu_usage.as_ref()?.total_usage?,
            system_total: cpu.system_cpu_usage?,
            online_cpus: cpu.online_cpus.unwrap_or(1).max(1),
            mem_used: mem.usage.unwrap_or(0).saturating_sub(cache),
            mem_limit: mem.limit.unwrap_or(0),
        })
    }

    /// CPU use between two samples, in % of one core (like `docker stats`).
    pub fn cpu_percent(prev: &StatsSample, now: &StatsSample) -> Option<f64> {
        let cpu = now.cpu_total.checked_sub(prev.cpu_total)? as f64;
        let system = now.system_total.checked_sub(prev.system_total)? as f64;
        (system > 0.0).then(|| cpu / system * f64::from(now.online_cpus) * 100.0)
    }
}

/// The label of a deploy's lock container (`flotilla-lock-SERVICE`, created,
/// never started); its value is the service being deployed.
pub const DEPLOY_LOCK_LABEL: &str = "flotilla.lock";

impl ContainerInfo {
    /// Whether it is `service`'s, on `host`.
    pub fn of_service(&self, service: &crate::config::ServiceSpec, host: &str) -> bool {
        service.owns(host, &self.name, |k| self.labels.get(k).map(String::as_str))
    }

    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
    }

    /// The service whose deploy this container locks, if it is such a lock.
    pub fn deploy_lock(&self) -> Option<&str> {
        self.labels.get(DEPLOY_LOCK_LABEL).map(String::as_str)
    }

    /// Compose service label, else the container name.
    pub fn service(&self) -> &str {
        self.labels
            .get(super::compose::SERVICE)
            .map(String::as_str)
            .unwrap_or(&self.name)
    }

    /// Builds the owned snapshot from Docker's list entry.
    pub fn from_summary(host: &str, summary: bollard::models::ContainerSummary) -> Self {
        let status = summary.status.unwrap_or_default();
        let state = summary.state.map_or(ContainerState::Unknown, |s| {
            ContainerState::from(s.to_string().as_str())
        });
        let health = summary
            .health
            .and_then(|h| h.status)
            .map(|s| Health::from(s.to_string().as_str()))
            .filter(|h| !matches!(h, Health::Other(_)))
            .or_else(|| health_from_status(&status).map(Health::from));
        let exit_code = if state.is_stopped() {
            exit_code_from_status(&status)
        } else {
            None
        };
        let name = summary
            .names
            .and_then(|names| names.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default();
        ContainerInfo {
            host: host.to_owned(),
            id: summary.id.unwrap_or_default(),
            name,
            image: summary.image.unwrap_or_default(),
            state,
            health,
            exit_code,
            status,
            created: summary
                .created
                .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
                .map(|t| t.to_string())
                .unwrap_or_default(),
            labels: summary.labels.unwrap_or_default().into_iter().collect(),
            ports: published_ports(summary.ports.unwrap_or_default()),
            restart_count: None,
            started_at: None,
        }
    }
}

/// `0.0.0.0:8080→80/tcp` for each published port (Docker lists IPv4 and
/// IPv6 bindings separately; both are kept), sorted and deduplicated.
fn published_ports(ports: Vec<bollard::models::PortSummary>) -> Vec<String> {
    let mut out: Vec<String> = ports
        .into_iter()
        .filter_map(|p| {
            let public = p.public_port?;
            let proto = p.typ.map_or_else(|| "tcp".to_owned(), |t| t.to_string());
            let ip =
                p.ip.filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into());
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip
            };
            Some(format!("{ip}:{public}→{}/{proto}", p.private_port))
        })
        .collect();
    out.sort_by(|a, b| natural_cmp(a, b));
    out.dedup();
    out
}

/// Names as people read them: `h2` before `h10`, `web-9` before `web-10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    alphanumeric_sort::compare_str(a, b)
}

/// Older APIs (before 1.52) only put health in the status text.
pub fn health_from_status(status: &str) -> Option<&'static str> {
    if status.contains("(healthy)") {
        Some("healthy")
    } else if status.contains("(unhealthy)") {
        Some("unhealthy")
    } else if status.contains("(health: starting)") {
        Some("starting")
    } else {
        None
    }
}

/// "Exited (3) 5 minutes ago" → 3.
pub fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

/// What a host says about itself once connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    pub docker_version: String,
    pub api_version: String,
    /// How the API is reached: unix, streamlocal or dial-stdio.
    pub tunnel: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_naturally() {
        let mut names = vec!["h10", "h2", "h1", "web-10", "web-9", "db"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["db", "h1", "h2", "h10", "web-9", "web-10"]);
    }

    #[test]
    fn health_parsed_from_status_text() {
        assert_eq!(
            health_from_status("Up 3 minutes (healthy)"),
            Some("healthy")
        );
        assert_eq!(
            health_from_status("Up 3 seconds (health: starting)"),
            Some("starting")
        );
        assert_eq!(
            health_from_status("Up 1 hour (unhealthy)"),
            Some("unhealthy")
        );
        assert_eq!(health_from_status("Up 1 hour"), None);
    }

    #[test]
    fn exit_code_parsed_from_status_text() {
        assert_eq!(exit_code_from_status("Exited (3) 5 minutes ago"), Some(3));
        assert_eq!(
            exit_code_from_status("Exited (137) 1 second ago"),
            Some(137)
        );
        assert_eq!(exit_code_from_status("Up 2 seconds"), None);
    }

    #[test]
    fn cpu_percent_is_the_delta_share_times_cores() {
        let a = StatsSample {
            cpu_total: 1_000,
            system_total: 100_000,
            online_cpus: 2,
            mem_used: 0,
            mem_limit: 0,
        };
        let b = StatsSample {
            cpu_total: 6_000,
            system_total: 200_000,
            ..a
        };
        let pct = StatsSample::cpu_percent(&a, &b).expect("pct");
        assert!((pct - 10.0).abs() < 1e-9, "{pct}");
        assert_eq!(
            StatsSample::cpu_percent(&b, &a),
            None,
            "counters went backwards (restart)"
        );
    }

    #[test]
    fn summary_becomes_owned_snapshot() {
        let summary = bollard::models::ContainerSummary {
            id: Some("abc123".into()),
            names: Some(vec!["/web".into()]),
            image: Some("app:v1".into()),
            state: Some(bollard::models::ContainerSummaryStateEnum::EXITED),
            status: Some("Exited (3) 2 minutes ago".into()),
            created: Some(1_700_000_000),
            labels: Some(
                [("com.docker.compose.service".to_owned(), "api".to_owned())]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        let c = ContainerInfo::from_summary("fleet-1", summary);
        assert_eq!(c.name, "web");
        assert_eq!(c.state, ContainerState::Exited);
        assert_eq!(c.exit_code, Some(3));
        assert_eq!(c.health, None);
        assert_eq!(c.created, "2023-11-14T22:13:20Z");
        assert_eq!(c.service(), "api");
        assert!(!c.is_running());
    }
}
