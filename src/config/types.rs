//! Resolved inventory types shared by the transport and fleet layers.

use std::path::PathBuf;
use std::time::Duration;

use super::labels;

/// How strictly unknown host keys are handled (OpenSSH's StrictHostKeyChecking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrictHostKeyChecking {
    /// Unknown keys are refused (default, and `ask`, since flotilla never prompts mid-connect).
    Yes,
    /// Unknown keys are recorded; changed keys are still refused.
    AcceptNew,
}

/// One SSH endpoint, fully resolved through ssh_config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshEndpoint {
    /// What the user wrote (alias, hostname or IP), for messages. Host keys are
    /// looked up by `hostname`, as OpenSSH does.
    pub alias: String,
    /// Hostname or IP to connect to (ssh_config HostName, else the alias).
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// Identity files to try in order (after the agent). Missing files are skipped.
    pub identity_files: Vec<PathBuf>,
    /// known_hosts files to consult, in order; the first one is where new keys are recorded.
    pub known_hosts_files: Vec<PathBuf>,
    pub strict_host_key_checking: StrictHostKeyChecking,
    /// Bounds the TCP connect and the server's banner (OpenSSH's ConnectTimeout).
    pub connect_timeout: Duration,
    /// ssh_config ProxyCommand with its `%` tokens expanded, run with `sh -c`;
    /// only ever set on the first endpoint of a chain.
    pub proxy_command: Option<String>,
    /// ssh_config HostKeyAlias: the name host keys are looked up and recorded under.
    pub host_key_alias: Option<String>,
}

impl SshEndpoint {
    /// The name this host's keys are recorded under in known_hosts, as OpenSSH
    /// does: HostKeyAlias verbatim, else `hostname`, or `[hostname]:port` off port 22.
    pub fn known_hosts_name(&self) -> String {
        match &self.host_key_alias {
            Some(alias) => alias.clone(),
            None if self.port == 22 => self.hostname.clone(),
            None => format!("[{}]:{}", self.hostname, self.port),
        }
    }
}

/// How flotilla reaches a host's Docker daemon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// Built once per host at load time; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Target {
    /// Over SSH: jump hosts first (outermost first), then the host itself.
    Ssh {
        endpoint: SshEndpoint,
        jumps: Vec<SshEndpoint>,
        /// Remote path of the Docker socket.
        docker_socket: String,
    },
    /// The local Docker daemon on a unix socket (no config file, or `address = "local"`).
    Local { socket: PathBuf },
}

/// A host of the fleet after config + ssh_config resolution.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostSpec {
    pub name: String,
    /// The address exactly as configured (for display).
    pub address: String,
    pub groups: Vec<String>,
    pub read_only: bool,
    pub target: Target,
}

/// One `[keys]` entry: an action name and the keys that replace its defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyOverride {
    pub action: String,
    pub keys: Vec<String>,
    /// Where it was written, for error messages (1-based).
    pub line: usize,
    pub col: usize,
}

/// `[ui]` settings of the TUI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UiSettings {
    /// Lines kept per log view (ring buffer).
    pub log_lines: usize,
    /// Lines fetched from each container when a log view opens.
    pub log_tail: u32,
    /// `[logs] max_line_bytes`: longer log lines are cut with a marker (TUI
    /// and headless `logs`).
    pub log_max_line_bytes: usize,
    /// `[ui] shell`: what `e` runs in a container, the first that exists.
    pub shell: Vec<String>,
    pub keys: Vec<KeyOverride>,
    /// Top-level `persist`: how long a background process keeps the SSH
    /// sessions of headless commands open after the last use (off: `None`).
    pub persist: Option<Duration>,
    /// The ssh_config file the hosts were resolved through, if any (its
    /// content is part of a persistent session's identity).
    pub ssh_config_file: Option<PathBuf>,
}

/// Default cap on one reassembled log line (`[logs] max_line_bytes`):
/// longer lines are cut, visibly, so one runaway line cannot exhaust memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            log_lines: 10_000,
            log_tail: 500,
            log_max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            shell: vec!["bash".to_owned(), "sh".to_owned()],
            keys: Vec::new(),
            persist: None,
            ssh_config_file: None,
        }
    }
}

/// The whole inventory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inventory {
    /// Where it came from; `None` for the implicit local fleet.
    pub source: Option<PathBuf>,
    pub hosts: Vec<HostSpec>,
    #[serde(skip)]
    pub ui: UiSettings,
    #[serde(skip)]
    pub alerts: super::AlertsConfig,
}

/// A number of hosts, absolute or as a share of the hosts in a rollout
/// (`serial` batch sizes, `max_fail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    Count(usize),
    /// 0..=100.
    Percent(u8),
}

impl Amount {
    /// Parses `3` or `"50%"`; `min` is the smallest count (and percentage) allowed.
    pub fn parse(text: &str, min: usize) -> Result<Amount, String> {
        let t = text.trim();
        let amount = if let Some(p) = t.strip_suffix('%') {
            let p: u8 = p
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| format!("{t:?} is not a percentage between 0% and 100%"))?;
            Amount::Percent(p)
        } else {
            Amount::Count(
                t.parse()
                    .map_err(|_| format!("{t:?} is neither a host count nor a percentage"))?,
            )
        };
        let value = match amount {
            Amount::Count(n) => n,
            Amount::Percent(p) => usize::from(p),
        };
        if value < min {
            return Err(format!("{t:?} must be at least {min}"));
        }
        Ok(amount)
    }

    /// Parses a comma-separated list (`1,2,50%`), each at least `min`.
    pub fn parse_list(text: &str, min: usize) -> Result<Vec<Amount>, String> {
        let list: Vec<Amount> = text
            .split(',')
            .map(|item| Amount::parse(item, min))
            .collect::<Result<_, _>>()?;
        if list.is_empty() {
            return Err("the list must not be empty".to_owned());
        }
        Ok(list)
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// How a service's container is found on each of its hosts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerSelector {
    /// The same container name on every host.
    Name(String),
    /// Every container carrying this label (`key=value`, or just `key`):
    /// several per host for a scaled Compose service.
    Label { key: String, value: Option<String> },
    /// The containers Compose created for one service of one project.
    Compose { project: String, service: String },
}

impl ContainerSelector {
    /// The label filters a container must pass, the first one narrow enough
    /// to ask Docker for (`key` or `key=value`); empty for `Name`.
    pub fn label_filters(&self) -> Vec<(String, Option<String>)> {
        match self {
            ContainerSelector::Name(_) => Vec::new(),
            ContainerSelector::Label { key, value } => vec![(key.clone(), value.clone())],
            ContainerSelector::Compose { project, service } => vec![
                (labels::SERVICE.to_owned(), Some(service.clone())),
                (labels::PROJECT.to_owned(), Some(project.clone())),
            ],
        }
    }

    /// Whether a container whose labels `get` reads passes every filter.
    pub fn labels_match<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.label_filters()
            .iter()
            .all(|(k, want)| get(k).is_some_and(|v| want.as_deref().is_none_or(|w| v == w)))
    }
}

impl std::fmt::Display for ContainerSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerSelector::Name(n) => f.write_str(n),
            ContainerSelector::Label { key, value: None } => write!(f, "label {key}"),
            ContainerSelector::Label {
                key,
                value: Some(v),
            } => write!(f, "label {key}={v}"),
            ContainerSelector::Compose { project, service } => {
                write!(f, "compose {project}/{service}")
            }
        }
    }
}

/// A `[service.NAME]` table: what a rolling deploy acts on, and how.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceSpec {
    pub name: String,
    /// Host names in inventory order (`hosts` and members of `groups`).
    pub hosts: Vec<String>,
    pub container: ContainerSelector,
    /// How long a new container may take to become healthy.
    pub health_timeout: Duration,
    /// Batch sizes; the last one repeats.
    pub serial: Vec<Amount>,
    /// Failed hosts tolerated before the rollout stops.
    pub max_fail: Amount,
    /// Run once in a one-off container of the new image before the first host.
    pub pre_deploy: Option<String>,
    /// Health probe run with exec when the image has no HEALTHCHECK.
    pub health_cmd: Option<String>,
    /// Without any health check: running this long without a restart counts as healthy.
    pub stable_for: Duration,
    /// `flotilla watch --autoheal` may restart its unhealthy containers.
    pub autoheal: bool,
    /// How a container is replaced; `None`: start-first unless it publishes
    /// a host port.
    pub order: Option<Order>,
    /// Start-first: how long the old container keeps serving after the new
    /// one is healthy, before its stop (in-flight requests drain).
    pub stop_grace: Duration,
    /// `prune` keeps the N newest images of the service's repository on
    /// each host (its current and rollback images are kept regardless).
    pub keep_images: usize,
}

/// Which container runs while the other is replaced (Compose's
/// `deploy.update_config.order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// The new one starts beside the old, which stops once the new is healthy.
    StartFirst,
    /// The old one stops, then the new one starts (two cannot bind one port).
    StopFirst,
}

impl Order {
    pub fn label(self) -> &'static str {
        match self {
            Order::StartFirst => "start-first",
            Order::StopFirst => "stop-first",
        }
    }
}

impl ServiceSpec {
    /// Whether a container on `host`, named `name`, with the labels `label`
    /// looks up, is this service's.
    pub fn owns<'a>(
        &self,
        host: &str,
        name: &str,
        label: impl Fn(&str) -> Option<&'a str>,
    ) -> bool {
        self.hosts.iter().any(|h| h == host)
            && match &self.container {
                ContainerSelector::Name(n) => name == n,
                sel => sel.labels_match(label),
            }
    }

    pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_STABLE_FOR: Duration = Duration::from_secs(10);
}

/// Parses `90s`, `2m`, `1m30s`, `500ms`, `1h` (humantime's units); a bare
/// number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t).map_err(|_| {
        format!("{t:?} is not a duration (like \"30s\", \"2m\", \"1m30s\", \"500ms\")")
    })
}

/// `persist` / `--persist`: a duration like `10m`, or `0`/`off`/`no` for none.
pub fn parse_persist(text: &str) -> Result<Option<Duration>, String> {
    match text.trim() {
        "off" | "no" | "false" => Ok(None),
        t => parse_duration(t).map(|d| (!d.is_zero()).then_some(d)),
    }
}

#[cfg(test)]
mod service_type_tests {
    use super::*;

    #[test]
    fn amounts_parse_counts_and_percentages() {
        assert_eq!(Amount::parse("3", 1), Ok(Amount::Count(3)));
        assert_eq!(Amount::parse(" 50% ", 1), Ok(Amount::Percent(50)));
        assert_eq!(Amount::parse("0", 0), Ok(Amount::Count(0)));
        assert!(Amount::parse("0", 1).is_err());
        assert!(Amount::parse("0%", 1).is_err());
        assert!(Amount::parse("101%", 0).is_err());
        assert!(Amount::parse("x", 0).is_err());
        assert_eq!(
            Amount::parse_list("1,2,50%", 1),
            Ok(vec![
                Amount::Count(1),
                Amount::Count(2),
                Amount::Percent(50)
            ])
        );
        assert!(Amount::parse_list("1,,2", 1).is_err());
        assert_eq!(Amount::Percent(10).to_string(), "10%");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_persist("10m"), Ok(Some(Duration::from_secs(600))));
        assert_eq!(parse_persist("0"), Ok(None));
        assert_eq!(parse_persist("off"), Ok(None));
        assert!(parse_persist("soon").is_err());
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "10x", "m1", "-5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
