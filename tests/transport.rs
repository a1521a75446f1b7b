//! End-to-end transport tests against the real test fleet: host key types,
//! ProxyCommand, unsupported ssh_config options, and timeouts on slow links.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Testbed, Via, flotilla, json, run, write};
use flotilla::fleet::{ActorConfig, Fleet, HostEvent};

/// The name OpenSSH records a host's key under.
fn known_hosts_name(addr: &str, port: u16) -> String {
    if port == 22 {
        addr.to_owned()
    } else {
        format!("[{addr}]:{port}")
    }
}

/// A fresh RSA public key (`ssh-rsa AAAA…`), generated into `dir`.
fn rsa_public_key(dir: &Path) -> String {
    let key = dir.join("other_rsa");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    let text = std::fs::read_to_string(key.with_extension("pub")).expect("read rsa pub");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn recorded_key_of_another_type_is_a_changed_key_even_with_accept_new() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tb.inventory_via(dir.path(), "swap", "fleet-1", &Via::default());
    // The server only has an ed25519 host key; known_hosts only an RSA one.
    let (addr, port) = tb.address("fleet-1");
    let known_text = format!(
        "# recorded long ago\n{} {}\n",
        known_hosts_name(&addr, port),
        rsa_public_key(dir.path())
    );
    let known = write(dir.path(), "known_hosts", &known_text);

    for extra in [&[][..], &["--accept-new"][..]] {
        let mut cmd = flotilla();
        cmd.arg("--config")
            .arg(&config)
            .args(extra)
            .args(["ps", "--json"]);
        let out = run(cmd);
        assert_eq!(out.code, 3, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains("HAS CHANGED"), "{}", out.stderr);
        assert!(out.stderr.contains("ssh-rsa"), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{}:2", known.display())),
            "names file:line: {}",
            out.stderr
        );
        assert_eq!(json(&out.stdout), serde_json::json!([]));
        assert_eq!(
            std::fs::read_to_string(&known).expect("read known_hosts"),
            known_text,
            "{extra:?}: known_hosts must not change"
        );
    }
}

/// Names of fleet-1's containers (running or not: some crash-loop), straight
/// from its daemon.
fn containers_on_fleet_1(tb: &Testbed) -> BTreeSet<String> {
    tb.docker("fleet-1", &["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs `flotilla ps --all --json` (args first) and checks it lists fleet-1's
/// containers under `host`. Other tests start and remove scratch containers
/// meanwhile, so only those running before and after must be listed.
fn assert_ps_lists_fleet_1(tb: &Testbed, host: &str, args: &[&OsStr]) {
    let before = containers_on_fleet_1(tb);
    let mut cmd = flotilla();
    cmd.args(args).args(["ps", "--all", "--json"]);
    let out = run(cmd);
    let after = containers_on_fleet_1(tb);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let listed = json(&out.stdout);
    let listed = listed.as_array().expect("ps --json is an array");
    let names: BTreeSet<String> = listed
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect();
    assert!(listed.iter().all(|c| c["host"] == host), "{listed:?}");
    let stable: BTreeSet<String> = before.intersection(&after).cloned().collect();
    assert!(stable.contains("shop-web-1"), "{stable:?}");
    assert!(stable.is_subset(&names), "{stable:?} not all in {names:?}");
}

#[test]
fn connect_timeout_bounds_tcp_and_banner_not_the_whole_handshake() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    // 2 s round trips: the handshake and auth take several, far over 5 s.
    let delay = Duration::from_millis(1000);
    let (_proxy, config) =
        tb.through_proxy(dir.path(), "slow", "fleet-1", delay, &["ConnectTimeout 5"]);

    assert_ps_lists_fleet_1(&tb, "slow", &["--config".as_ref(), config.as_ref()]);

    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let hosts = json(&out.stdout);
    let rtt = hosts[0]["rtt_ms"].as_f64().expect("rtt_ms");
    // One request is one round trip (2 s), not two.
    assert!((1900.0..3000.0).contains(&rtt), "rtt {rtt} ms");
}

#[test]
fn black_holed_host_times_out_after_connect_timeout() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, config) = tb.through_proxy(
        dir.path(),
        "dark",
        "fleet-1",
        Duration::ZERO,
        &["ConnectTimeout 2"],
    );
    proxy.set_blackhole(true);

    let started = Instant::now();
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["ps", "--json"]);
    let out = run(cmd);
    let took = started.elapsed();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("timed out after 2s"), "{}", out.stderr);
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(4)).contains(&took),
        "took {took:?}"
    );
}

#[test]
fn proxy_command_reaches_the_host_and_config_check_names_it() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    // fleet-1's own address, reached through fleet-2 by a real `ssh -W`.
    let proxy = format!(
        "ProxyCommand ssh -F {} -W %h:%p fleet-2",
        tb.ssh_config().display()
    );
    let via = Via {
        ssh_lines: &[&proxy],
        ..Via::default()
    };
    let config = tb.inventory_via(dir.path(), "proxied", "fleet-1", &via);
    let (addr, port) = tb.address("fleet-1");

    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["config", "check"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expanded = format!(
        "ProxyCommand: ssh -F {} -W {addr}:{port} fleet-2",
        tb.ssh_config().display()
    );
    assert!(out.stdout.contains(&expanded), "{}", out.stdout);

    assert_ps_lists_fleet_1(&tb, "proxied", &["--config".as_ref(), config.as_ref()]);
}

#[test]
fn proxy_command_that_exits_at_once_reports_its_stderr() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let via = Via {
        ssh_lines: &[r#"ProxyCommand sh -c "echo bastion.example: no route to host >&2; exit 7""#],
        ..Via::default()
    };
    let config = tb.inventory_via(dir.path(), "broken", "fleet-1", &via);
    let started = Instant::now();
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["ps", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(4), "fails fast");
    let err = &out.stderr;
    assert!(err.contains("ProxyCommand `sh -c"), "{err}");
    assert!(err.contains("exit status: 7"), "{err}");
    assert!(err.contains("bastion.example: no route to host"), "{err}");
}

#[test]
fn ssh_config_options_flotilla_does_not_honour_are_refused() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let via = Via {
        ssh_lines: &["PermitLocalCommand yes", "LocalCommand touch /tmp/pwned"],
        ..Via::default()
    };
    let config = tb.inventory_via(dir.path(), "local-cmd", "fleet-1", &via);
    for verb in [&["config", "check"][..], &["ps"][..]] {
        let mut cmd = flotilla();
        cmd.arg("--config").arg(&config).args(verb);
        let out = run(cmd);
        assert_eq!(out.code, 2, "{verb:?}: {}", out.stderr);
        let err = &out.stderr;
        assert!(err.contains("LocalCommand"), "{err}");
        assert!(err.contains("`Host local-cmd`"), "names the block: {err}");
        // inventory_via writes 8 lines before the extra ones.
        let ssh_config = dir.path().join("ssh_config");
        assert!(
            err.contains(&format!("{}:10", ssh_config.display())),
            "names file:line: {err}"
        );
    }
}

#[test]
fn host_key_alias_is_the_known_hosts_name() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let via = Via {
        ssh_lines: &["HostKeyAlias fleet-one.example"],
        ..Via::default()
    };
    let config = tb.inventory_via(dir.path(), "aliased", "fleet-1", &via);
    // Recorded under the alias only, as `ssh -o HostKeyAlias=…` would look it up.
    let key = std::fs::read_to_string(tb.dir.join("hosts/fleet-1/ssh_host_ed25519_key.pub"))
        .expect("host key");
    let key: Vec<&str> = key.split_whitespace().take(2).collect();
    write(
        dir.path(),
        "known_hosts",
        &format!("fleet-one.example {}\n", key.join(" ")),
    );
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out.stdout)[0]["reachable"], true);
}

#[test]
fn rtt_is_one_round_trip_also_while_the_event_stream_holds_a_connection() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    // 600 ms round trips: clearly apart from the 1.2 s of a request that
    // first has to open another SSH channel.
    let delay = Duration::from_millis(300);
    let (_proxy, config) = tb.through_proxy(dir.path(), "rtt", "fleet-1", delay, &[]);
    let inventory = flotilla::config::load(Some(&config)).expect("inventory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // The TUI's actor settings: the Docker event stream takes a pooled
    // connection before the first list.
    let rtts = runtime.block_on(async {
        let mut fleet = Fleet::spawn(&inventory, ActorConfig::default());
        let mut rtts = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while rtts.len() < 2 {
            match tokio::time::timeout_at(deadline, fleet.events.recv()).await {
                Ok(Some(event)) => match event.kind {
                    HostEvent::Connected { rtt, .. } => rtts.push(("connected", rtt)),
                    HostEvent::Containers { rtt, .. } => rtts.push(("first list", rtt)),
                    HostEvent::Disconnected { reason, .. } => panic!("disconnected: {reason}"),
                    _ => {}
                },
                other => panic!("no events: {other:?}"),
            }
        }
        fleet.shutdown().await;
        rtts
    });
    for (what, rtt) in rtts {
        assert!(
            (Duration::from_millis(550)..Duration::from_millis(1000)).contains(&rtt),
            "{what}: rtt {rtt:?}"
        );
    }
}
