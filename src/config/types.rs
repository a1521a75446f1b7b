//! Resolved inventory types shared by the transport and fleet layers.

use std::path::PathBuf;
use std::time::Duration;

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
    pub connect_timeout: Duration,
}

/// How flotilla reaches a host's Docker daemon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
    pub keys: Vec<KeyOverride>,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            log_lines: 10_000,
            log_tail: 500,
            keys: Vec::new(),
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
}
