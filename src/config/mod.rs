//! Fleet inventory: where it comes from, how it is parsed, and how each host
//! is resolved through the OpenSSH client config.

pub mod alerts;
mod file;
pub mod labels;
pub mod names;
mod sshcfg;
pub mod types;

pub use alerts::AlertsConfig;
pub use names::check_host_name;
pub use types::*;

use std::path::{Path, PathBuf};

/// Remote Docker socket used when a host does not set `docker_socket`.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Everything the loader reads from the process environment, injectable for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// Home directory: expands `~`, `%d`, and locates `~/.ssh/*` defaults.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`; `None` (or a relative path, per the XDG spec) means `~/.config`.
    pub xdg_config_home: Option<PathBuf>,
    /// `$DOCKER_HOST`; empty counts as unset, like the docker CLI.
    pub docker_host: Option<String>,
    /// `$USER`: default remote user and `%u`.
    pub user: Option<String>,
    /// Local Docker socket used when `DOCKER_HOST` is unset.
    pub default_docker_socket: PathBuf,
    /// System-wide known_hosts appended (read-only) after the user's files.
    pub global_known_hosts: PathBuf,
}

impl Env {
    /// Reads the real process environment.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            // "/" keeps `~` expansion total when no home can be found at all;
            // default files under it simply do not exist.
            home: std::env::home_dir().unwrap_or_else(|| PathBuf::from("/")),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            docker_host: var("DOCKER_HOST"),
            user: var("USER"),
            default_docker_socket: PathBuf::from(DEFAULT_DOCKER_SOCKET),
            global_known_hosts: PathBuf::from("/etc/ssh/ssh_known_hosts"),
        }
    }

    /// The default inventory path: `$XDG_CONFIG_HOME/flotilla/config.toml`.
    pub fn default_config_path(&self) -> PathBuf {
        let base = match &self.xdg_config_home {
            // The XDG spec says relative values must be ignored.
            Some(dir) if dir.is_absolute() => dir.clone(),
            _ => self.home.join(".config"),
        };
        base.join("flotilla").join("config.toml")
    }

    /// Expands a leading `~` or `~/` against [`Env::home`]; `~user` is left alone.
    pub fn expand_tilde(&self, path: &str) -> PathBuf {
        if path == "~" {
            self.home.clone()
        } else if let Some(rest) = path.strip_prefix("~/") {
            self.home.join(rest.trim_start_matches('/'))
        } else {
            PathBuf::from(path)
        }
    }

    fn local_user(&self) -> &str {
        self.user.as_deref().unwrap_or("root")
    }

    /// The local daemon socket: `DOCKER_HOST` (unix:// only) or the default socket.
    fn local_socket(&self) -> Result<PathBuf, ConfigError> {
        match self.docker_host.as_deref().filter(|h| !h.is_empty()) {
            None => Ok(self.default_docker_socket.clone()),
            Some(host) => match host.strip_prefix("unix://") {
                Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
                _ => Err(ConfigError::UnsupportedDockerHost(host.to_string())),
            },
        }
    }
}

/// Why the inventory could not be loaded. Positioned errors are 1-based.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {cause}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("{}:{line}:{col}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}: {message}", file.display())]
    SshConfig { file: PathBuf, message: String },
    #[error(
        "DOCKER_HOST={0:?} is not supported: flotilla reaches the local daemon only through a \
         unix:// socket; unset DOCKER_HOST or set it to unix:///path/to/docker.sock, and put \
         remote daemons in a config file as [[host]] entries (see config.example.toml)"
    )]
    UnsupportedDockerHost(String),
    #[error(
        "no fleet configured: there is no config file at {} and no local Docker socket at {}. \
         Create that file with one [[host]] table per Docker host (see config.example.toml), \
         pass --config FILE or set FLOTILLA_CONFIG, or start a local Docker daemon \
         (or point DOCKER_HOST at its unix:// socket)",
        config_path.display(),
        socket.display()
    )]
    NoFleet {
        config_path: PathBuf,
        socket: PathBuf,
    },
}

/// Loads the inventory using the real process environment. See [`load_with`].
pub fn load(explicit: Option<&Path>) -> Result<Inventory, ConfigError> {
    load_with(explicit, &Env::from_process())
}

/// Where the inventory comes from, in order: `explicit` (--config / FLOTILLA_CONFIG),
/// else `$XDG_CONFIG_HOME/flotilla/config.toml` if it exists, else the implicit
/// local fleet (one host "local" on `DOCKER_HOST` or the default socket if it exists),
/// else [`ConfigError::NoFleet`].
pub fn load_with(explicit: Option<&Path>, env: &Env) -> Result<Inventory, ConfigError> {
    if let Some(path) = explicit {
        return load_file(path, env);
    }
    let default = env.default_config_path();
    if default.exists() {
        return load_file(&default, env);
    }
    implicit_local_fleet(env, default)
}

/// Like [`load`], plus the `[service.NAME]` tables (deploys).
pub fn load_fleet(explicit: Option<&Path>) -> Result<(Inventory, Vec<ServiceSpec>), ConfigError> {
    load_fleet_with(explicit, &Env::from_process())
}

/// Like [`load_with`], plus the `[service.NAME]` tables; the implicit local
/// fleet has none.
pub fn load_fleet_with(
    explicit: Option<&Path>,
    env: &Env,
) -> Result<(Inventory, Vec<ServiceSpec>), ConfigError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let default = env.default_config_path();
            if !default.exists() {
                return Ok((implicit_local_fleet(env, default)?, Vec::new()));
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Io {
        file: path.clone(),
        cause,
    })?;
    parse_fleet(&text, &path, env)
}

/// Parses and resolves an inventory text; `path` is used in messages and as the
/// base for relative paths inside it.
pub fn parse_str(text: &str, path: &Path, env: &Env) -> Result<Inventory, ConfigError> {
    parse_fleet(text, path, env).map(|(inventory, _)| inventory)
}

/// Like [`parse_str`], plus the validated `[service.NAME]` tables.
pub fn parse_fleet(
    text: &str,
    path: &Path,
    env: &Env,
) -> Result<(Inventory, Vec<ServiceSpec>), ConfigError> {
    let mut doc = file::parse(text, path)?;
    let ssh = match &doc.ssh_config {
        Some(named) if named.get_ref() == "none" => sshcfg::SshResolver::empty(),
        Some(named) => {
            let mut resolved = env.expand_tilde(named.get_ref());
            if resolved.is_relative() {
                resolved = path.parent().unwrap_or(Path::new("")).join(resolved);
            }
            // An explicitly named file that is missing is a typo worth reporting.
            if !resolved.exists() {
                return Err(file::invalid_at(
                    path,
                    text,
                    named.span(),
                    format!("ssh_config file {} does not exist", resolved.display()),
                ));
            }
            sshcfg::SshResolver::load(&resolved, env)?
        }
        None => {
            let default = env.home.join(".ssh").join("config");
            if default.exists() {
                sshcfg::SshResolver::load(&default, env)?
            } else {
                sshcfg::SshResolver::empty()
            }
        }
    };
    doc.ui.ssh_config_file = ssh.file().map(Path::to_path_buf);

    let mut hosts = Vec::with_capacity(doc.hosts.len());
    for host in doc.hosts {
        let target = if host.address == file::LOCAL_ADDRESS {
            let socket = match &host.docker_socket {
                Some(socket) => env.expand_tilde(socket),
                None => env.local_socket()?,
            };
            Target::Local { socket }
        } else {
            let (endpoint, jumps) = ssh.resolve(
                &host.name,
                &host.address,
                host.user.as_deref(),
                host.port,
                env,
            )?;
            Target::Ssh {
                endpoint,
                jumps,
                docker_socket: host
                    .docker_socket
                    .unwrap_or_else(|| DEFAULT_DOCKER_SOCKET.to_string()),
            }
        };
        hosts.push(HostSpec {
            name: host.name,
            address: host.address,
            groups: host.groups,
            read_only: host.read_only,
            target,
        });
    }
    Ok((
        Inventory {
            source: Some(path.to_path_buf()),
            hosts,
            ui: doc.ui,
            alerts: doc.alerts,
        },
        doc.services,
    ))
}

fn load_file(path: &Path, env: &Env) -> Result<Inventory, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Io {
        file: path.to_path_buf(),
        cause,
    })?;
    parse_str(&text, path, env)
}

fn implicit_local_fleet(env: &Env, config_path: PathBuf) -> Result<Inventory, ConfigError> {
    let explicit_docker_host = env.docker_host.as_deref().is_some_and(|h| !h.is_empty());
    let socket = env.local_socket()?;
    // A socket named in DOCKER_HOST is the user's choice even if the daemon is down;
    // the default one only counts when it is actually there.
    if !explicit_docker_host && !socket.exists() {
        return Err(ConfigError::NoFleet {
            config_path,
            socket,
        });
    }
    Ok(Inventory {
        source: None,
        ui: UiSettings::default(),
        hosts: vec![HostSpec {
            name: file::LOCAL_ADDRESS.to_string(),
            address: file::LOCAL_ADDRESS.to_string(),
            groups: Vec::new(),
            read_only: false,
            target: Target::Local { socket },
        }],
        alerts: crate::config::AlertsConfig::default(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// An environment rooted in `home` with nothing set and no default socket.
    pub(crate) fn test_env(home: &Path) -> Env {
        Env {
            home: home.to_path_buf(),
            xdg_config_home: None,
            docker_host: None,
            user: Some("alice".to_string()),
            default_docker_socket: home.join("no-such-docker.sock"),
            global_known_hosts: PathBuf::from("/etc/ssh/ssh_known_hosts"),
        }
    }

    fn local_target(inv: &Inventory) -> Option<&Path> {
        match &inv.hosts.first()?.target {
            Target::Local { socket } => Some(socket),
            Target::Ssh { .. } => None,
        }
    }

    #[test]
    fn implicit_fleet_uses_unix_docker_host() -> TestResult {
        let home = tempfile::tempdir()?;
        let mut env = test_env(home.path());
        env.docker_host = Some("unix:///run/user/1000/docker.sock".to_string());
        let inv = load_with(None, &env)?;
        assert_eq!(inv.source, None);
        assert_eq!(inv.hosts.len(), 1);
        assert_eq!(inv.hosts[0].name, "local");
        assert_eq!(inv.hosts[0].address, "local");
        assert!(!inv.hosts[0].read_only);
        assert_eq!(
            local_target(&inv),
            Some(Path::new("/run/user/1000/docker.sock"))
        );
        Ok(())
    }

    #[test]
    fn implicit_fleet_uses_default_socket_when_present() -> TestResult {
        let home = tempfile::tempdir()?;
        let mut env = test_env(home.path());
        env.default_docker_socket = home.path().join("docker.sock");
        std::fs::write(&env.default_docker_socket, "")?;
        let inv = load_with(None, &env)?;
        assert_eq!(
            local_target(&inv),
            Some(env.default_docker_socket.as_path())
        );
        Ok(())
    }

    #[test]
    fn implicit_fleet_rejects_tcp_docker_host() -> TestResult {
        let home = tempfile::tempdir()?;
        let mut env = test_env(home.path());
        env.docker_host = Some("tcp://10.0.0.1:2375".to_string());
        let err = load_with(None, &env).err().ok_or("expected an error")?;
        assert!(
            matches!(&err, ConfigError::UnsupportedDockerHost(h) if h == "tcp://10.0.0.1:2375"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("tcp://10.0.0.1:2375"), "{msg}");
        assert!(msg.contains("unix://"), "{msg}");
        Ok(())
    }

    #[test]
    fn no_fleet_points_at_example_config() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let err = load_with(None, &env).err().ok_or("expected an error")?;
        let expected_path = home.path().join(".config/flotilla/config.toml");
        assert!(
            matches!(&err, ConfigError::NoFleet { config_path, .. } if *config_path == expected_path),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("config.example.toml"), "{msg}");
        assert!(msg.contains(&expected_path.display().to_string()), "{msg}");
        assert!(msg.contains("[[host]]"), "{msg}");
        Ok(())
    }

    #[test]
    fn xdg_config_file_wins_over_local_fleet() -> TestResult {
        let home = tempfile::tempdir()?;
        let xdg = home.path().join("xdg");
        std::fs::create_dir_all(xdg.join("flotilla"))?;
        let cfg = xdg.join("flotilla/config.toml");
        std::fs::write(&cfg, "[[host]]\nname = \"a\"\naddress = \"10.1.2.3\"\n")?;
        let mut env = test_env(home.path());
        env.xdg_config_home = Some(xdg);
        env.docker_host = Some("unix:///run/docker.sock".to_string());
        let inv = load_with(None, &env)?;
        assert_eq!(inv.source, Some(cfg));
        assert_eq!(inv.hosts.len(), 1);
        assert_eq!(inv.hosts[0].name, "a");
        Ok(())
    }

    #[test]
    fn relative_xdg_config_home_is_ignored() {
        let mut env = test_env(Path::new("/home/alice"));
        env.xdg_config_home = Some(PathBuf::from("relative/dir"));
        assert_eq!(
            env.default_config_path(),
            PathBuf::from("/home/alice/.config/flotilla/config.toml")
        );
        env.xdg_config_home = Some(PathBuf::from("/xdg"));
        assert_eq!(
            env.default_config_path(),
            PathBuf::from("/xdg/flotilla/config.toml")
        );
    }

    #[test]
    fn explicit_missing_file_is_io_error() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let missing = home.path().join("nope.toml");
        let err = load_with(Some(&missing), &env)
            .err()
            .ok_or("expected an error")?;
        assert!(
            matches!(&err, ConfigError::Io { file, cause }
                if *file == missing && cause.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert!(err.to_string().contains("nope.toml"));
        Ok(())
    }

    #[test]
    fn defaults_for_a_bare_host() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let path = home.path().join("config.toml");
        let inv = parse_str(
            "[[host]]\nname = \"web-1\"\naddress = \"web-1.example.com\"\n",
            &path,
            &env,
        )?;
        assert_eq!(inv.source, Some(path));
        let host = &inv.hosts[0];
        assert_eq!(host.name, "web-1");
        assert_eq!(host.address, "web-1.example.com");
        assert!(host.groups.is_empty());
        assert!(!host.read_only);
        let ssh = home.path().join(".ssh");
        let expected = Target::Ssh {
            endpoint: SshEndpoint {
                alias: "web-1.example.com".to_string(),
                hostname: "web-1.example.com".to_string(),
                port: 22,
                user: "alice".to_string(),
                identity_files: vec![
                    ssh.join("id_ed25519"),
                    ssh.join("id_ecdsa"),
                    ssh.join("id_rsa"),
                ],
                known_hosts_files: vec![
                    ssh.join("known_hosts"),
                    PathBuf::from("/etc/ssh/ssh_known_hosts"),
                ],
                strict_host_key_checking: StrictHostKeyChecking::Yes,
                connect_timeout: Duration::from_secs(10),
                proxy_command: None,
                host_key_alias: None,
            },
            jumps: Vec::new(),
            docker_socket: "/var/run/docker.sock".to_string(),
        };
        assert_eq!(host.target, expected);
        Ok(())
    }

    #[test]
    fn user_falls_back_to_root_without_env_user() -> TestResult {
        let home = tempfile::tempdir()?;
        let mut env = test_env(home.path());
        env.user = None;
        let inv = parse_str(
            "[[host]]\nname = \"a\"\naddress = \"a\"\n",
            &home.path().join("c.toml"),
            &env,
        )?;
        match &inv.hosts[0].target {
            Target::Ssh { endpoint, .. } => assert_eq!(endpoint.user, "root"),
            other => return Err(format!("unexpected target {other:?}").into()),
        }
        Ok(())
    }

    #[test]
    fn group_read_only_applies_to_members() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let text = r#"
[group.prod]
read_only = true

[group.unused]
read_only = true

[[host]]
name = "db"
address = "db"
groups = ["prod", "db"]
read_only = false

[[host]]
name = "dev"
address = "dev"
groups = ["dev"]

[[host]]
name = "solo"
address = "solo"
read_only = true
"#;
        let inv = parse_str(text, &home.path().join("c.toml"), &env)?;
        let flags: Vec<(&str, bool)> = inv
            .hosts
            .iter()
            .map(|h| (h.name.as_str(), h.read_only))
            .collect();
        assert_eq!(flags, vec![("db", true), ("dev", false), ("solo", true)]);
        assert_eq!(inv.hosts[0].groups, vec!["prod", "db"]);
        Ok(())
    }

    #[test]
    fn local_address_uses_docker_host_or_own_socket() -> TestResult {
        let home = tempfile::tempdir()?;
        let mut env = test_env(home.path());
        env.docker_host = Some("unix:///custom/docker.sock".to_string());
        let text = r#"
[[host]]
name = "here"
address = "local"

[[host]]
name = "rootless"
address = "local"
docker_socket = "~/docker.sock"
"#;
        let inv = parse_str(text, &home.path().join("c.toml"), &env)?;
        assert_eq!(
            inv.hosts[0].target,
            Target::Local {
                socket: PathBuf::from("/custom/docker.sock")
            }
        );
        assert_eq!(
            inv.hosts[1].target,
            Target::Local {
                socket: home.path().join("docker.sock")
            }
        );
        Ok(())
    }

    #[test]
    fn local_address_with_tcp_docker_host_is_rejected() -> TestResult {
        let home = tempfile::tempdir()?;
        let mut env = test_env(home.path());
        env.docker_host = Some("ssh://me@box".to_string());
        let err = parse_str(
            "[[host]]\nname = \"here\"\naddress = \"local\"\n",
            &home.path().join("c.toml"),
            &env,
        )
        .err()
        .ok_or("expected an error")?;
        assert!(
            matches!(&err, ConfigError::UnsupportedDockerHost(h) if h == "ssh://me@box"),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn explicit_missing_ssh_config_is_positioned() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let path = home.path().join("c.toml");
        let text =
            "# fleet\nssh_config = \"ssh/missing\"\n[[host]]\nname = \"a\"\naddress = \"a\"\n";
        let err = parse_str(text, &path, &env)
            .err()
            .ok_or("expected an error")?;
        let expected = format!(
            "{}:2:14: ssh_config file {} does not exist",
            path.display(),
            home.path().join("ssh/missing").display()
        );
        assert_eq!(err.to_string(), expected);
        Ok(())
    }

    #[test]
    fn missing_default_ssh_config_is_fine_and_none_disables_it() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let path = home.path().join("c.toml");
        // No ~/.ssh/config at all: defaults apply.
        let inv = parse_str("[[host]]\nname = \"a\"\naddress = \"a\"\n", &path, &env)?;
        assert_eq!(inv.hosts.len(), 1);
        // With one present, `ssh_config = "none"` must skip it.
        std::fs::create_dir_all(home.path().join(".ssh"))?;
        std::fs::write(home.path().join(".ssh/config"), "Host a\n  Port 2200\n")?;
        let read = parse_str("[[host]]\nname = \"a\"\naddress = \"a\"\n", &path, &env)?;
        let skipped = parse_str(
            "ssh_config = \"none\"\n[[host]]\nname = \"a\"\naddress = \"a\"\n",
            &path,
            &env,
        )?;
        let port = |inv: &Inventory| match &inv.hosts[0].target {
            Target::Ssh { endpoint, .. } => Some(endpoint.port),
            Target::Local { .. } => None,
        };
        assert_eq!(port(&read), Some(2200));
        assert_eq!(port(&skipped), Some(22));
        Ok(())
    }

    #[test]
    fn shipped_example_config_parses() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let text = include_str!("../../config.example.toml");
        let inv = parse_str(text, Path::new("config.example.toml"), &env)?;
        let summary: Vec<(&str, &str, bool)> = inv
            .hosts
            .iter()
            .map(|h| (h.name.as_str(), h.address.as_str(), h.read_only))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("web-1", "web-1.example.com", true),
                ("staging", "staging", false)
            ]
        );
        match &inv.hosts[0].target {
            Target::Ssh { endpoint, .. } => {
                assert_eq!((endpoint.user.as_str(), endpoint.port), ("deploy", 22));
            }
            other => return Err(format!("unexpected target {other:?}").into()),
        }
        Ok(())
    }

    #[test]
    fn shipped_example_services_parse() -> TestResult {
        let home = tempfile::tempdir()?;
        let env = test_env(home.path());
        let text = include_str!("../../config.example.toml");
        let (_, services) = parse_fleet(text, Path::new("config.example.toml"), &env)?;
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].name, "web");
        assert_eq!(services[0].hosts, ["web-1", "staging"]);
        assert_eq!(
            services[0].container,
            ContainerSelector::Name("shop-web-1".into())
        );
        Ok(())
    }

    #[test]
    fn load_fleet_without_config_has_no_services() -> TestResult {
        let home = tempfile::tempdir()?;
        let mut env = test_env(home.path());
        env.docker_host = Some("unix:///run/docker.sock".to_string());
        let (inv, services) = load_fleet_with(None, &env)?;
        assert_eq!(inv.hosts.len(), 1);
        assert!(services.is_empty());
        Ok(())
    }

    #[test]
    fn ssh_config_path_is_relative_to_the_config_file() -> TestResult {
        let dir = tempfile::tempdir()?;
        let env = test_env(&dir.path().join("home"));
        std::fs::write(
            dir.path().join("fleet_ssh"),
            "Host a\n  HostName 10.9.8.7\n",
        )?;
        let path = dir.path().join("c.toml");
        let text = "ssh_config = \"fleet_ssh\"\n[[host]]\nname = \"a\"\naddress = \"a\"\n";
        let inv = parse_str(text, &path, &env)?;
        match &inv.hosts[0].target {
            Target::Ssh { endpoint, .. } => assert_eq!(endpoint.hostname, "10.9.8.7"),
            other => return Err(format!("unexpected target {other:?}").into()),
        }
        Ok(())
    }
}
