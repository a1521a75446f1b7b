//! End-to-end: persistent sessions (`persist`, `--persist`, `disconnect`)
//! against the real test fleet. Each test has its own XDG_RUNTIME_DIR and
//! state directory, and a guard that stops (and if need be kills) every
//! daemon it started.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Outcome, Testbed, flotilla, json, run, write};

/// A private runtime and state directory, and the daemons started under it.
struct Persist {
    runtime: tempfile::TempDir,
    state: tempfile::TempDir,
    configs: std::cell::RefCell<Vec<PathBuf>>,
}

impl Persist {
    fn new() -> Persist {
        Persist {
            runtime: tempfile::tempdir().expect("runtime dir"),
            state: tempfile::tempdir().expect("state dir"),
            configs: Default::default(),
        }
    }

    /// `flotilla --config CONFIG ARGS…` in this test's directories.
    fn cmd(&self, config: &Path, args: &[&str]) -> Command {
        self.configs.borrow_mut().push(config.to_path_buf());
        let mut cmd = flotilla();
        cmd.env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("XDG_STATE_HOME", self.state.path())
            .env("FLOTILLA_AUDIT_LOG", self.state.path().join("audit.jsonl"))
            .arg("--config")
            .arg(config)
            .args(args);
        cmd
    }

    fn run(&self, config: &Path, args: &[&str]) -> Outcome {
        run(self.cmd(config, args))
    }

    fn dir(&self) -> PathBuf {
        self.runtime.path().join("flotilla")
    }

    /// Control sockets present now.
    fn sockets(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sock"))
            .collect();
        found.sort();
        found
    }

    /// Pids of running daemons whose socket is under this test's runtime dir.
    fn daemons(&self) -> Vec<u32> {
        let dir = self.dir().display().to_string();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(Result::ok)
        {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // A zombie has an empty cmdline: it is not running.
            if cmdline.contains("persist-daemon") && cmdline.contains(&dir) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Waits (bounded) until `check` holds.
    fn wait_until(&self, what: &str, within: Duration, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + within;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Persist {
    fn drop(&mut self) {
        for config in self.configs.borrow().iter() {
            let mut cmd = flotilla();
            cmd.env("XDG_RUNTIME_DIR", self.runtime.path())
                .env("XDG_STATE_HOME", self.state.path())
                .arg("--config")
                .arg(config)
                .arg("disconnect");
            let _ = cmd.output();
        }
        // Whatever is left (an inventory rewritten since) is killed by pid.
        for pid in self.daemons() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// `ps -a --json` rows of the standing workloads as (host, name, image,
/// state): other tests add and remove scratch containers meanwhile.
fn standing_rows(out: &Outcome) -> Vec<(String, String, String, String)> {
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut rows: Vec<_> = json(&out.stdout)
        .as_array()
        .expect("array")
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("shop-")))
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            // The testbed's crash-looping service flips between running and
            // restarting from one instant to the next, so two `ps` calls can
            // honestly disagree on it; every other state must match.
            let state = if s("name").contains("crashloop") {
                "(looping)".to_owned()
            } else {
                s("state")
            };
            (s("host"), s("name"), s("image"), state)
        })
        .collect();
    rows.sort();
    rows
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_second_ps_uses_the_daemon_and_disconnect_stops_it() {
    let tb = Testbed::get();
    let p = Persist::new();
    let config = tb.config();
    let cold = standing_rows(&p.run(&config, &["ps", "-a", "--json"]));
    assert!(!cold.is_empty());
    assert!(p.daemons().is_empty(), "persist is off by default");

    let first = p.run(&config, &["--persist", "1m", "ps", "-a", "--json"]);
    assert_eq!(standing_rows(&first), cold);
    let daemons = p.daemons();
    assert_eq!(daemons.len(), 1, "one daemon started");
    let sockets = p.sockets();
    assert_eq!(sockets.len(), 1);
    assert_eq!(mode(&p.dir()), 0o700, "socket directory");
    assert_eq!(mode(&sockets[0]), 0o600, "socket");

    let second = p.run(&config, &["--persist", "1m", "ps", "-a", "--json"]);
    assert_eq!(standing_rows(&second), cold);
    assert!(second.stderr.is_empty(), "{}", second.stderr);
    assert_eq!(p.daemons(), daemons, "the same daemon served it");

    let out = p.run(&config, &["disconnect"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("stopped"), "{}", out.stdout);
    assert!(p.sockets().is_empty(), "socket removed");
    p.wait_until("the daemon to exit", Duration::from_secs(5), |p| {
        p.daemons().is_empty()
    });
    let out = p.run(&config, &["disconnect"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("no persistent-session daemon"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_config_key_turns_it_on_and_the_flag_off() {
    let tb = Testbed::get();
    let p = Persist::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(tb.config()).expect("inventory");
    let config = write(
        dir.path(),
        "fleet.toml",
        &format!("persist = \"1m\"\n{text}"),
    );
    let out = p.run(&config, &["--persist", "off", "ps", "--host", "fleet-2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.daemons().is_empty(), "--persist off connects directly");
    let out = p.run(&config, &["ps", "--host", "fleet-2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(p.daemons().len(), 1, "persist = \"1m\" starts a daemon");
}

#[test]
fn an_idle_daemon_exits_on_its_own() {
    let tb = Testbed::get();
    let p = Persist::new();
    let out = p.run(
        &tb.config(),
        &["--persist", "3s", "ps", "--host", "fleet-1"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(p.daemons().len(), 1);
    let started = Instant::now();
    p.wait_until("the idle daemon to exit", Duration::from_secs(15), |p| {
        p.daemons().is_empty()
    });
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before its idle time"
    );
    assert!(p.sockets().is_empty(), "it removed its socket");
}

#[test]
fn a_changed_inventory_gets_a_daemon_of_its_own() {
    let tb = Testbed::get();
    let p = Persist::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(tb.config()).expect("inventory");
    let config = write(dir.path(), "fleet.toml", &text);
    let out = p.run(&config, &["--persist", "1m", "ps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = p.sockets();
    assert_eq!(before.len(), 1);

    write(dir.path(), "fleet.toml", &format!("# edited\n{text}"));
    let out = p.run(&config, &["--persist", "1m", "ps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = p.sockets();
    assert_eq!(after.len(), 2, "a fresh daemon beside the stale one");
    assert_eq!(p.daemons().len(), 2);
    // The guard stops the current one and kills the stale one.
}

#[test]
fn a_dead_daemons_socket_is_replaced_transparently() {
    let tb = Testbed::get();
    let p = Persist::new();
    let config = tb.config();
    let out = p.run(&config, &["--persist", "1m", "ps", "--host", "fleet-3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let old = p.daemons();
    assert_eq!(old.len(), 1);
    for pid in &old {
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
    }
    p.wait_until("the daemon to die", Duration::from_secs(5), |p| {
        p.daemons().is_empty()
    });
    assert_eq!(
        p.sockets().len(),
        1,
        "the dead daemon's socket is left behind"
    );

    let out = p.run(&config, &["--persist", "1m", "ps", "--host", "fleet-3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "no warning: {}", out.stderr);
    let new = p.daemons();
    assert_eq!(new.len(), 1);
    assert_ne!(new, old);
}

#[test]
fn a_stuck_daemon_costs_a_warning_not_a_hang() {
    let tb = Testbed::get();
    let p = Persist::new();
    let config = tb.config();
    let out = p.run(&config, &["--persist", "1m", "ps", "--host", "fleet-1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let socket = p.sockets().pop().expect("socket");
    assert_eq!(p.run(&config, &["disconnect"]).code, 0);
    // Something listens there but never answers (and holds no lock, so a
    // started daemon would replace it: keep the lock held too).
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let lock = std::fs::File::open(socket.with_extension("lock")).expect("lock file");
    lock.lock().expect("lock");

    let started = Instant::now();
    let out = p.run(
        &config,
        &["--persist", "1m", "ps", "--host", "fleet-1", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("persistent sessions unavailable"),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(!json(&out.stdout).as_array().expect("rows").is_empty());
}

#[test]
fn a_down_host_fails_as_without_persist_and_a_cut_session_reconnects() {
    let tb = Testbed::get();
    let p = Persist::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, config) = tb.through_proxy(
        dir.path(),
        "flaky",
        "fleet-1",
        Duration::ZERO,
        &["ConnectTimeout 2"],
    );
    let out = p.run(&config, &["--persist", "1m", "ps", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let daemon = p.daemons();
    assert_eq!(daemon.len(), 1);

    // The held session is cut (sshd restarted): the next command gets a new one.
    proxy.cut();
    std::thread::sleep(Duration::from_millis(200));
    let out = p.run(&config, &["--persist", "1m", "ps", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(p.daemons(), daemon, "the same daemon reconnected");

    // Down: the same message and exit code as a direct connection.
    proxy.set_blackhole(true);
    let direct = p.run(&config, &["ps"]);
    let persistent = p.run(&config, &["--persist", "1m", "ps"]);
    assert_eq!(direct.code, 3, "{}", direct.stderr);
    assert!(
        direct.stderr.contains("timed out after 2s"),
        "{}",
        direct.stderr
    );
    assert_eq!(persistent.code, direct.code);
    assert_eq!(persistent.stderr, direct.stderr);
    drop(proxy);
    let refused = p.run(&config, &["ps"]);
    let persistent = p.run(&config, &["--persist", "1m", "ps"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert_eq!(persistent.code, refused.code);
    assert_eq!(persistent.stderr, refused.stderr);
}

#[test]
fn logs_restart_exec_and_vitals_work_through_it() {
    let tb = Testbed::get();
    let p = Persist::new();
    let config = tb.config();
    let c = tb.run_sh(
        "fleet-2",
        "persist",
        "persistsvc",
        "echo one; echo two >&2; sleep 600",
    );
    c.wait_for("output", |c| {
        tb.docker(&c.host, &["logs", &c.name]).contains("one")
    });
    let on = ["--persist", "1m"];
    let with = |args: &[&str]| p.run(&config, &[&on[..], args].concat());

    let out = with(&["logs", &c.name]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["one", "two"]);
    assert_eq!(p.daemons().len(), 1, "served by the daemon");

    let out = with(&[
        "exec",
        &c.name,
        "--host",
        "fleet-2",
        "--",
        "sh",
        "-c",
        "echo in-$HOSTNAME; exit 4",
    ]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stdout.starts_with("in-"), "{}", out.stdout);

    let started = c.inspect("{{.State.StartedAt}}");
    let out = with(&["restart", &c.name, "--yes", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out.stdout)[0]["ok"], true);
    assert_ne!(
        c.inspect("{{.State.StartedAt}}"),
        started,
        "really restarted"
    );

    // Vitals run a command on the host itself: relayed by the daemon. The
    // tunnel shown is the daemon's (fleet-3 refuses stream-local forwarding).
    let direct = p.run(&config, &["hosts", "--json"]);
    assert_eq!(direct.code, 0, "{}", direct.stderr);
    let out = with(&["hosts", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (direct, hosts) = (json(&direct.stdout), json(&out.stdout));
    for (d, h) in direct
        .as_array()
        .expect("hosts")
        .iter()
        .zip(hosts.as_array().expect("hosts"))
    {
        assert!(h["vitals"]["cpus"].as_u64().is_some_and(|n| n > 0), "{h}");
        assert_eq!(h["tunnel"], d["tunnel"], "{h}");
        assert_eq!(h["api_version"], d["api_version"], "{h}");
        // Docker's disk usage: a plain GET over the daemon's connections.
        let images = h["docker_disk"]["images_bytes"].as_u64();
        assert!(images.is_some_and(|b| b > 0), "{h}");
    }
    assert_eq!(p.daemons().len(), 1, "still the one daemon");
}

#[test]
fn host_keys_are_checked_as_without_persist() {
    let tb = Testbed::get();
    let p = Persist::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tb.inventory_via(dir.path(), "keyed", "fleet-3", &common::Via::default());
    let known = dir.path().join("known_hosts");
    std::fs::write(&known, "").expect("forget the host key");

    let direct = p.run(&config, &["ps"]);
    let persistent = p.run(&config, &["--persist", "1m", "ps"]);
    assert_eq!(direct.code, 3, "{}", direct.stderr);
    assert!(direct.stderr.contains("is not known"), "{}", direct.stderr);
    assert_eq!(persistent.code, direct.code);
    assert_eq!(persistent.stderr, direct.stderr);
    assert!(
        std::fs::read_to_string(&known).expect("read").is_empty(),
        "nothing recorded without --accept-new"
    );

    // --accept-new records the key, through the daemon as without it ...
    let out = p.run(&config, &["--persist", "1m", "--accept-new", "ps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!std::fs::read_to_string(&known).expect("read").is_empty());
    // ... so the session it made is one a strict command may use.
    let out = p.run(&config, &["--persist", "1m", "ps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(p.daemons().len(), 1);
}

#[test]
fn an_unsafe_or_unusable_socket_directory_means_direct_connections() {
    let tb = Testbed::get();
    let p = Persist::new();
    // Somebody opened the directory up: refused, not repaired, not used.
    std::fs::create_dir(p.dir()).expect("mkdir");
    std::fs::set_permissions(p.dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = p.run(
        &tb.config(),
        &["--persist", "1m", "ps", "--host", "fleet-1"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("persistent sessions unavailable") && out.stderr.contains("0700"),
        "{}",
        out.stderr
    );
    assert!(p.daemons().is_empty());
    assert!(p.sockets().is_empty());

    // A runtime directory so deep that no socket fits: said at once.
    let deep = p.runtime.path().join("d".repeat(100));
    std::fs::create_dir(&deep).expect("mkdir");
    let started = Instant::now();
    let mut cmd = p.cmd(
        &tb.config(),
        &["--persist", "1m", "ps", "--host", "fleet-1"],
    );
    cmd.env("XDG_RUNTIME_DIR", &deep);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("too long"), "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait for a daemon"
    );
}

/// known_hosts rewritten under a running daemon: each later request is
/// checked against the file as it is now, as a direct connection would be.
#[test]
fn a_key_revoked_or_changed_under_the_daemon_is_refused() {
    let tb = Testbed::get();
    let p = Persist::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tb.inventory_via(dir.path(), "h1", "fleet-1", &common::Via::default());
    let known = dir.path().join("known_hosts");
    let trusted = std::fs::read_to_string(&known).expect("known_hosts");
    let (pattern, key) = trusted.trim_end().split_once(' ').expect("pattern and key");
    let c = tb.run_sh("fleet-1", "revoked", "revokedsvc", "sleep 600");
    let on = |args: &[&str]| p.run(&config, &[&["--persist", "10m"][..], args].concat());
    let exec = ["exec", c.name.as_str(), "--host", "h1", "--", "id"];
    for args in [&["ps"][..], &["hosts"], &exec] {
        let out = on(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    let daemon = p.daemons();
    assert_eq!(daemon.len(), 1);

    let other = std::fs::read_to_string(tb.dir.join("hosts/fleet-2/ssh_host_ed25519_key.pub"))
        .expect("fleet-2 key");
    let other: Vec<&str> = other.split_whitespace().take(2).collect();
    let revoked = format!("{trusted}@revoked {pattern} {key}\n");
    let changed = format!("{pattern} {}\n", other.join(" "));
    for (text, says) in [(&revoked, "is marked @revoked"), (&changed, "HAS CHANGED")] {
        std::fs::write(&known, text).expect("rewrite known_hosts");
        let direct = p.run(&config, &["--persist", "off", "ps"]);
        assert_eq!(direct.code, 3, "{}", direct.stderr);
        assert!(direct.stderr.contains(says), "{}", direct.stderr);
        let out = on(&["ps"]);
        assert_eq!((out.code, &out.stderr), (direct.code, &direct.stderr));
        for args in [&["hosts"][..], &exec] {
            let out = on(args);
            // `hosts` shows the error in its table, `exec` on stderr.
            let said = format!("{}{}", out.stdout, out.stderr);
            assert_eq!(out.code, 3, "{args:?}: {said}");
            assert!(said.contains(says), "{args:?}: {said}");
        }
    }
    // Trusted again: the same daemon serves the host (with a new session).
    std::fs::write(&known, &trusted).expect("restore known_hosts");
    let out = on(&exec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(p.daemons(), daemon, "the same daemon");
}

/// Resumes a process stopped by the test, whatever happens.
struct Continue(u32);

impl Drop for Continue {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// The state letter of `/proc/PID/stat` (`T`: stopped), if it runs.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "PID (comm) ": comm may hold spaces, so look after the last ')'.
    stat.rsplit_once(") ")?.1.chars().next()
}

#[test]
fn a_frozen_daemon_is_named_and_disconnect_ends_it() {
    let tb = Testbed::get();
    let p = Persist::new();
    let config = tb.config();
    let ps = ["--persist", "1m", "ps", "--host", "fleet-1", "--json"];
    let out = p.run(&config, &ps);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let [pid] = p.daemons()[..] else {
        panic!("one daemon: {:?}", p.daemons());
    };
    let _resume = Continue(pid);
    let stopped = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .expect("kill -STOP");
    assert!(stopped.success());
    p.wait_until("the daemon to stop", Duration::from_secs(5), |_| {
        proc_state(pid) == Some('T')
    });

    // It accepts (the kernel does) but never answers: given up on after the
    // 1 s greeting, not after a 3 s wait for a replacement that cannot start
    // (which took 4 s at least).
    let started = Instant::now();
    let out = p.run(&config, &ps);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!json(&out.stdout).as_array().expect("rows").is_empty());
    assert!(
        out.stderr.contains("persistent sessions unavailable")
            && out.stderr.contains(&format!("pid {pid}"))
            && !out.stderr.contains("did not start"),
        "{}",
        out.stderr
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(p.daemons(), [pid], "no second daemon");

    // disconnect ends it although it cannot answer, and names it.
    let out = p.run(&config, &["disconnect"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("stopped") && out.stdout.contains(&format!("pid {pid}")),
        "{}",
        out.stdout
    );
    p.wait_until("the daemon to exit", Duration::from_secs(5), |p| {
        p.daemons().is_empty()
    });
    assert!(p.sockets().is_empty(), "{:?}", p.sockets());
    let out = p.run(&config, &ps);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "a new daemon serves: {}", out.stderr);
    assert_eq!(p.daemons().len(), 1);
}
