//! Shared helpers for end-to-end tests against the real local test fleet
//! (`scripts/testbed up`), never mocks.
#![allow(dead_code)]

pub mod compose;
pub mod https;
pub mod proxy;
pub mod tmux;
pub mod web;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// The running test fleet, as laid out by scripts/testbed.
pub struct Testbed {
    pub dir: PathBuf,
}

impl Testbed {
    /// Fails loudly (rather than skipping) when the fleet is not up.
    pub fn get() -> Testbed {
        let dir = std::env::var_os("FLOTILLA_TESTBED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/flotilla-testbed"));
        assert!(
            dir.join("client/flotilla.toml").exists(),
            "the test fleet is not up at {}: run `scripts/testbed up` (or ./scripts/test)",
            dir.display()
        );
        Testbed { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("client/flotilla.toml")
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("client/ssh_config")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("client/known_hosts")
    }

    pub fn identity(&self) -> PathBuf {
        self.dir.join("client/id_ed25519")
    }

    /// Names of the fleet's hosts, from the generated inventory.
    pub fn host_names(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.config()).expect("read testbed inventory");
        text.lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .map(|l| l.trim_end_matches('"').to_owned())
            .collect()
    }

    pub fn socket(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host).join("docker.sock")
    }

    /// Runs the docker CLI directly against a fleet host's daemon (ground truth).
    pub fn docker(&self, host: &str, args: &[&str]) -> String {
        let out = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket(host).display()))
            .args(args)
            .output()
            .expect("run docker");
        assert!(
            out.status.success(),
            "docker {args:?} on {host} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// docker against one fleet host's daemon, without asserting success.
    pub fn docker_raw(&self, host: &str, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket(host).display()))
            .args(args)
            .output()
            .expect("run docker")
    }

    /// The host's sshd address and port, from the generated ssh_config.
    pub fn address(&self, host: &str) -> (String, u16) {
        let text = std::fs::read_to_string(self.ssh_config()).expect("read ssh_config");
        let mut in_block = false;
        let (mut name, mut port) = (None, 22);
        for line in text.lines().map(str::trim) {
            if let Some(h) = line.strip_prefix("Host ") {
                in_block = h.trim() == host;
            } else if in_block {
                if let Some(v) = line.strip_prefix("HostName ") {
                    name = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("Port ") {
                    port = v.trim().parse().expect("port");
                }
            }
        }
        (name.expect("host in ssh_config"), port)
    }

    /// The key flotilla's api-versions files use for `host`'s daemon at
    /// `socket` (the testbed logs in as root).
    pub fn api_key(&self, host: &str, socket: &str) -> String {
        let (addr, port) = self.address(host);
        format!("ssh://root@{addr}:{port}{socket}")
    }
}

/// The flotilla binary with a clean environment (no user config, no agent).
pub fn flotilla() -> Command {
    let mut cmd = Command::cargo_bin("flotilla").expect("flotilla binary");
    cmd.env_remove("SSH_AUTH_SOCK")
        .env_remove("DOCKER_HOST")
        .env_remove("FLOTILLA_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-flotilla-test");
    cmd
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `flotilla --config CONFIG ARGS…` with its audit records in `audit`, run.
pub fn flotilla_with(config: &Path, audit: &Path, args: &[&str]) -> Outcome {
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", audit)
        .arg("--config")
        .arg(config)
        .args(args);
    run(cmd)
}

pub fn run(mut cmd: Command) -> Outcome {
    let out = cmd.output().expect("run flotilla");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Writes a file into `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// A container created for one test on one fleet host, removed on drop, so
/// mutating tests never touch the shared workloads.
pub struct Scratch<'a> {
    pub tb: &'a Testbed,
    pub host: String,
    pub name: String,
}

impl<'a> Scratch<'a> {
    pub fn run(
        tb: &'a Testbed,
        host: &str,
        prefix: &str,
        service: &str,
        image: &str,
    ) -> Scratch<'a> {
        Scratch::start(tb, host, prefix, service, &[image])
    }

    /// `docker run -d` with a unique name and a Compose service label; `args`
    /// are the image and its command.
    pub fn start(
        tb: &'a Testbed,
        host: &str,
        prefix: &str,
        service: &str,
        args: &[&str],
    ) -> Scratch<'a> {
        let name = format!("{prefix}-{}-{}", std::process::id(), unique());
        let label = format!("com.docker.compose.service={service}");
        let mut cmd = detached(&name);
        cmd.extend(["--label", &label]);
        cmd.extend_from_slice(args);
        tb.docker(host, &cmd);
        Scratch {
            tb,
            host: host.to_owned(),
            name,
        }
    }

    /// `docker inspect -f FORMAT` of this container.
    pub fn inspect(&self, format: &str) -> String {
        self.tb
            .docker(&self.host, &["inspect", "-f", format, &self.name])
            .trim()
            .to_owned()
    }

    /// Waits (bounded) until `check` holds.
    pub fn wait_for(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !check(self) {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what} on {}",
                self.name
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.tb.socket(&self.host).display()))
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// `docker run` arguments of a detached, network-less test container from a
/// local image; callers add theirs (labels, env, image, command).
pub fn detached(name: &str) -> Vec<&str> {
    vec![
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "--pull",
        "never",
    ]
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    nanos ^ (NEXT.fetch_add(1, Ordering::Relaxed) << 32)
}

impl Testbed {
    /// Runs a one-off container with a shell command; removed on drop.
    pub fn run_sh<'a>(
        &'a self,
        host: &str,
        prefix: &str,
        service: &str,
        script: &str,
    ) -> Scratch<'a> {
        Scratch::start(
            self,
            host,
            prefix,
            service,
            &["flotilla-test/base:latest", "sh", "-c", script],
        )
    }
}

/// Extra `ssh_config` lines and a docker socket for a one-host inventory.
#[derive(Default)]
pub struct Via<'a> {
    /// Connect to 127.0.0.1:PORT (a proxy) instead of the host's own address.
    pub port: Option<u16>,
    /// More ssh_config lines under the host's block.
    pub ssh_lines: &'a [&'a str],
    /// `docker_socket` of the host (remote path), if not the default.
    pub docker_socket: Option<&'a Path>,
}

impl Testbed {
    /// Writes an inventory (in `dir`) with one host named `name` that reaches
    /// fleet host `host` as `via` says; known_hosts holds the host's real key
    /// under the address flotilla will look it up by. Returns the config path.
    pub fn inventory_via(&self, dir: &Path, name: &str, host: &str, via: &Via) -> PathBuf {
        let (addr, port) = self.address(host);
        let (addr, port) = match via.port {
            Some(p) => ("127.0.0.1".to_owned(), p),
            None => (addr, port),
        };
        let key = std::fs::read_to_string(
            self.dir
                .join("hosts")
                .join(host)
                .join("ssh_host_ed25519_key.pub"),
        )
        .expect("host key");
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        let pattern = if port == 22 {
            addr.clone()
        } else {
            format!("[{addr}]:{port}")
        };
        let known = write(
            dir,
            "known_hosts",
            &format!("{pattern} {}\n", key.join(" ")),
        );
        let mut ssh = format!(
            "Host {name}\n  HostName {addr}\n  Port {port}\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
            self.identity().display(),
            known.display()
        );
        for line in via.ssh_lines {
            ssh.push_str(&format!("  {line}\n"));
        }
        let ssh_config = write(dir, "ssh_config", &ssh);
        let socket = via
            .docker_socket
            .map(|p| format!("docker_socket = \"{}\"\n", p.display()))
            .unwrap_or_default();
        write(
            dir,
            "flotilla.toml",
            &format!(
                "ssh_config = \"{}\"\n\n[[host]]\nname = \"{name}\"\naddress = \"{name}\"\n{socket}",
                ssh_config.display()
            ),
        )
    }
}

impl Testbed {
    /// A TCP proxy (one-way `delay`) in front of fleet host `host`'s sshd,
    /// and a one-host inventory in `dir` whose host `name` goes through it
    /// (`ssh_lines` added under its ssh_config block).
    pub fn through_proxy(
        &self,
        dir: &Path,
        name: &str,
        host: &str,
        delay: std::time::Duration,
        ssh_lines: &[&str],
    ) -> (proxy::TcpProxy, PathBuf) {
        use std::net::ToSocketAddrs;
        let (addr, port) = self.address(host);
        let upstream = (addr.as_str(), port)
            .to_socket_addrs()
            .expect("resolve the host's sshd")
            .next()
            .expect("an sshd address");
        let proxy = proxy::TcpProxy::start(upstream, delay);
        let via = Via {
            port: Some(proxy.port()),
            ssh_lines,
            ..Via::default()
        };
        let config = self.inventory_via(dir, name, host, &via);
        (proxy, config)
    }
}

impl Testbed {
    /// `flotilla --config <testbed inventory> ARGS…`, writing its audit
    /// records to `audit`; run it with `run`.
    pub fn verb(&self, audit: &Path, args: &[&str]) -> Command {
        let mut cmd = flotilla();
        // State (watch's memory, silences) beside the audit file: per test.
        if let Some(dir) = audit.parent() {
            cmd.env("XDG_STATE_HOME", dir);
        }
        cmd.env("FLOTILLA_AUDIT_LOG", audit)
            .arg("--config")
            .arg(self.config())
            .args(args);
        cmd
    }
}

/// A user-defined network on one fleet host, removed on drop.
pub struct Network<'a> {
    pub tb: &'a Testbed,
    pub host: &'a str,
    pub name: String,
}

impl<'a> Network<'a> {
    /// On a subnet of its own: the fleet's daemons share this machine's
    /// routes, so a subnet another test (or fleet) uses would clash.
    pub fn create(tb: &'a Testbed, host: &'a str, name: String) -> Network<'a> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id();
        for i in 0..20u32 {
            let n = seed.wrapping_add(i.wrapping_mul(7919));
            let subnet = format!("10.{}.{}.0/24", 200 + n % 50, (n / 50) % 256);
            let made = tb.docker_raw(host, &["network", "create", "--subnet", &subnet, &name]);
            if made.status.success() {
                return Network { tb, host, name };
            }
        }
        panic!("no free subnet for {name} on {host}");
    }
}

impl Drop for Network<'_> {
    fn drop(&mut self) {
        let _ = self
            .tb
            .docker_raw(self.host, &["network", "rm", &self.name]);
    }
}

/// The child's stdout, line by line, read on a thread of its own.
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
