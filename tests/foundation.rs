//! End-to-end: the real binary against the real test fleet (sshd + dockerd per host).

mod common;

use std::collections::BTreeSet;

use common::{Testbed, flotilla, json, run, write};

/// (name, id, image, state) for every container a host's dockerd really has.
fn truth(tb: &Testbed, host: &str) -> BTreeSet<(String, String, String, String)> {
    tb.docker(
        host,
        &[
            "ps",
            "-a",
            "--no-trunc",
            "--format",
            "{{.Names}}\t{{.ID}}\t{{.Image}}\t{{.State}}",
        ],
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        (
            f[0].to_owned(),
            f[1].to_owned(),
            f[2].to_owned(),
            f[3].to_owned(),
        )
    })
    .filter(|c| is_shared_workload(&c.0))
    .collect()
}

/// Other tests create and remove their own containers concurrently; compare
/// only the testbed's standing workloads.
fn is_shared_workload(name: &str) -> bool {
    name.starts_with("shop-")
}

#[test]
fn ps_json_matches_every_dockerd() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.args(["--config"])
        .arg(tb.config())
        .args(["ps", "--all", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let list = json(&out.stdout);
    let list = list.as_array().expect("array");
    for host in tb.host_names() {
        let ours: BTreeSet<_> = list
            .iter()
            .filter(|c| c["host"] == host.as_str())
            .filter(|c| is_shared_workload(c["name"].as_str().unwrap_or_default()))
            .map(|c| {
                (
                    c["name"].as_str().expect("name").to_owned(),
                    c["id"].as_str().expect("id").to_owned(),
                    c["image"].as_str().expect("image").to_owned(),
                    c["state"].as_str().expect("state").to_owned(),
                )
            })
            .collect();
        let theirs = truth(&tb, &host);
        // A crash-looping container may flip between running and restarting
        // between the two reads; compare it without its state.
        let strip =
            |s: &BTreeSet<(String, String, String, String)>| -> BTreeSet<(String, String, String)> {
                s.iter()
                    .map(|(n, i, im, _)| (n.clone(), i.clone(), im.clone()))
                    .collect()
            };
        assert_eq!(strip(&ours), strip(&theirs), "containers differ on {host}");
        for c in &ours {
            if !c.0.contains("crashloop") {
                assert!(theirs.contains(c), "state of {c:?} differs on {host}");
            }
        }
        assert!(!ours.is_empty(), "{host} has workloads");
    }
    // The workloads the testbed promises, with the fields the contract promises.
    let find = |host: &str, name: &str| {
        list.iter()
            .find(|c| c["host"] == host && c["name"] == name)
            .unwrap_or_else(|| panic!("{name} on {host} missing"))
            .clone()
    };
    let web = find("fleet-1", "shop-web-1");
    assert_eq!(web["health"], "healthy");
    assert_eq!(web["labels"]["com.docker.compose.service"], "web");
    assert_eq!(
        web["compose"],
        serde_json::json!({"project": "shop", "service": "web", "working_dir": null, "config_files": []})
    );
    // Every row says whether Compose made it: null exactly where its labels don't.
    for c in list {
        let labelled = c["labels"]["com.docker.compose.project"].is_string()
            && c["labels"]["com.docker.compose.service"].is_string();
        assert_eq!(
            c.get("compose").map(serde_json::Value::is_object),
            Some(labelled),
            "{c}"
        );
    }
    assert!(web["created"].as_str().expect("created").ends_with('Z'));
    assert!(web["status"].as_str().expect("status").starts_with("Up"));
    assert_eq!(find("fleet-1", "shop-sick-1")["health"], "unhealthy");
    let batch = find("fleet-2", "shop-batch-1");
    assert_eq!(batch["state"], "exited");
    assert_eq!(batch["exit_code"], 3);
    assert_eq!(
        find("fleet-2", "shop-web-1")["image"],
        "flotilla-test/app:v2"
    );
}

#[test]
fn ps_hides_stopped_containers_without_all_and_filters_by_host_and_group() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["ps", "--json", "--host", "fleet-2"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = json(&out.stdout);
    let list = list.as_array().expect("array");
    assert!(!list.is_empty());
    assert!(list.iter().all(|c| c["host"] == "fleet-2"));
    assert!(
        list.iter().all(|c| c["state"] != "exited"),
        "stopped containers hidden"
    );

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["ps", "--json", "--group", "web"]);
    let out = run(cmd);
    let hosts: BTreeSet<String> = json(&out.stdout)
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["host"].as_str().expect("host").to_owned())
        .collect();
    assert_eq!(
        hosts,
        BTreeSet::from(["fleet-1".to_owned(), "fleet-2".to_owned()])
    );

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["ps", "--host", "nope"]);
    let out = run(cmd);
    assert_eq!(out.code, 4);
    assert!(
        out.stderr.contains("no host named \"nope\""),
        "{}",
        out.stderr
    );
}

#[test]
fn ps_table_is_aligned_and_names_every_host() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.arg("--config").arg(tb.config()).arg("ps");
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    let header = lines.next().expect("header");
    assert!(header.starts_with("HOST"), "{header}");
    let name_col = header.find("NAME").expect("NAME column");
    for line in lines {
        assert_eq!(&line[name_col - 2..name_col], "  ", "misaligned: {line}");
    }
    for host in tb.host_names() {
        assert!(out.stdout.contains(&host), "{host} missing");
    }
}

#[test]
fn hosts_reports_version_rtt_and_tunnel() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let hosts = json(&out.stdout);
    let hosts = hosts.as_array().expect("array");
    assert_eq!(hosts.len(), tb.host_names().len());
    let real_version = tb.docker("fleet-1", &["version", "--format", "{{.Server.Version}}"]);
    for h in hosts {
        assert_eq!(h["reachable"], true, "{h}");
        assert_eq!(h["docker_version"], real_version.trim());
        assert!(h["rtt_ms"].as_f64().expect("rtt") > 0.0);
        assert!(h["error"].is_null());
    }
    // fleet-3's sshd forbids stream-local forwarding: the dial-stdio fallback must carry it.
    let tunnel =
        |name: &str| hosts.iter().find(|h| h["name"] == name).expect("host")["tunnel"].clone();
    assert_eq!(tunnel("fleet-1"), "streamlocal");
    assert_eq!(tunnel("fleet-3"), "dial-stdio");
}

/// A copy of the testbed's ssh_config whose known_hosts is `known_hosts`.
fn isolated_config(
    tb: &Testbed,
    dir: &std::path::Path,
    known_hosts: &std::path::Path,
    hosts: &[&str],
) -> std::path::PathBuf {
    let ssh = std::fs::read_to_string(tb.ssh_config()).expect("ssh_config");
    let ssh = ssh.replace(
        &tb.known_hosts().display().to_string(),
        &known_hosts.display().to_string(),
    );
    let ssh_path = write(dir, "ssh_config", &ssh);
    let mut toml = format!("ssh_config = \"{}\"\n", ssh_path.display());
    for h in hosts {
        toml.push_str(&format!("[[host]]\nname = \"{h}\"\naddress = \"{h}\"\n"));
    }
    write(dir, "flotilla.toml", &toml)
}

#[test]
fn unknown_host_key_is_refused_then_accept_new_records_it() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let known = write(dir.path(), "known_hosts", "");
    let config = isolated_config(&tb, dir.path(), &known, &["fleet-1", "fleet-2"]);

    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 3, "unknown keys make hosts unreachable");
    for h in json(&out.stdout).as_array().expect("array") {
        assert_eq!(h["reachable"], false);
        let err = h["error"].as_str().expect("error");
        assert!(err.contains("is not known"), "{err}");
        assert!(err.contains("SHA256:"), "fingerprint shown: {err}");
        assert!(err.contains("--accept-new"), "how to trust: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(&known).expect("read"),
        "",
        "nothing recorded"
    );

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(&config)
        .args(["--accept-new", "hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let recorded = std::fs::read_to_string(&known).expect("read");
    let (addr2, port2) = tb.address("fleet-2");
    assert!(
        recorded.contains(&format!("[{addr2}]:{port2} ssh-ed25519 ")),
        "{recorded}"
    );
    let real_key = std::fs::read_to_string(tb.dir.join("hosts/fleet-2/ssh_host_ed25519_key.pub"))
        .expect("host key");
    let real_key: Vec<&str> = real_key.split_whitespace().take(2).collect();
    assert!(
        recorded.contains(&real_key.join(" ")),
        "recorded the real key"
    );

    // Now known: a plain run succeeds without the flag.
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["hosts", "--json"]);
    assert_eq!(run(cmd).code, 0);
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, port) = tb.address("fleet-1");
    let pattern = if port == 22 {
        addr.clone()
    } else {
        format!("[{addr}]:{port}")
    };
    // A valid but different ed25519 key.
    let known = write(
        dir.path(),
        "known_hosts",
        &format!(
            "{pattern} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINKfCgj96y2zLug3dRHmmAyCOPbbJQ79O6foIcTHtPla\n"
        ),
    );
    let config = isolated_config(&tb, dir.path(), &known, &["fleet-1"]);
    for extra in [&[][..], &["--accept-new"][..]] {
        let mut cmd = flotilla();
        cmd.arg("--config")
            .arg(&config)
            .args(extra)
            .args(["ps", "--json"]);
        let out = run(cmd);
        assert_eq!(out.code, 3, "{extra:?}");
        assert!(out.stderr.contains("HAS CHANGED"), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{}:1", known.display())),
            "names file:line: {}",
            out.stderr
        );
        assert_eq!(json(&out.stdout), serde_json::json!([]));
    }
    let after = std::fs::read_to_string(&known).expect("read");
    assert_eq!(after.lines().count(), 1, "known_hosts untouched: {after}");
}

#[test]
fn dead_host_gives_exit_3_and_the_others_still_answer() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let ssh = std::fs::read_to_string(tb.ssh_config()).expect("ssh_config");
    // Nothing listens on this loopback address: a host whose sshd is down.
    let ssh = format!(
        "{ssh}\nHost dead\n  HostName 127.0.10.250\n  User root\n  IdentityFile {}\n  UserKnownHostsFile {}\n  ConnectTimeout 3\n",
        tb.identity().display(),
        tb.known_hosts().display()
    );
    let ssh_path = write(dir.path(), "ssh_config", &ssh);
    let mut toml = format!("ssh_config = \"{}\"\n", ssh_path.display());
    for h in tb.host_names().iter().map(String::as_str).chain(["dead"]) {
        toml.push_str(&format!("[[host]]\nname = \"{h}\"\naddress = \"{h}\"\n"));
    }
    let config = write(dir.path(), "flotilla.toml", &toml);

    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["ps", "--json"]);
    let started = std::time::Instant::now();
    let out = run(cmd);
    assert_eq!(out.code, 3);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a dead host must not stall"
    );
    let hosts: BTreeSet<String> = json(&out.stdout)
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["host"].as_str().expect("host").to_owned())
        .collect();
    assert_eq!(hosts, tb.host_names().into_iter().collect());
    let err = json(out.stderr.lines().next().expect("an error line"));
    assert_eq!(err["host"], "dead");
    assert!(
        err["error"]
            .as_str()
            .expect("error")
            .contains("127.0.10.250"),
        "{err}"
    );

    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).arg("hosts");
    let out = run(cmd);
    assert_eq!(out.code, 3);
    let dead = out
        .stdout
        .lines()
        .find(|l| l.starts_with("dead"))
        .expect("dead row");
    assert!(dead.contains("DOWN"), "{dead}");
}

fn jump_config(tb: &Testbed, dir: &std::path::Path, jump: &str) -> std::path::PathBuf {
    let ssh = std::fs::read_to_string(tb.ssh_config()).expect("ssh_config");
    let (addr, port) = tb.address("fleet-2");
    let ssh = format!(
        "Host behind\n  HostName {addr}\n  Port {port}\n  User root\n  ProxyJump {jump}\n  IdentityFile {}\n  UserKnownHostsFile {}\n\n{ssh}\nHost deadjump\n  HostName 127.0.10.251\n  User root\n  ConnectTimeout 3\n",
        tb.identity().display(),
        tb.known_hosts().display()
    );
    let ssh_path = write(dir, "ssh_config", &ssh);
    write(
        dir,
        "flotilla.toml",
        &format!(
            "ssh_config = \"{}\"\n[[host]]\nname = \"behind\"\naddress = \"behind\"\n",
            ssh_path.display()
        ),
    )
}

#[test]
fn proxy_jump_through_one_fleet_host_to_another() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = jump_config(&tb, dir.path(), "fleet-1");
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["ps", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = json(&out.stdout);
    let web = list
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["name"] == "shop-web-1")
        .expect("fleet-2's web through the jump");
    assert_eq!(
        web["image"], "flotilla-test/app:v2",
        "it is fleet-2's daemon"
    );
    assert_eq!(web["host"], "behind");

    // The jump is really used: through a dead jump host the same target fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = jump_config(&tb, dir.path(), "deadjump");
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["ps", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("127.0.10.251"), "{}", out.stderr);
}

#[test]
fn no_config_uses_docker_host_as_a_one_host_fleet() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.env(
        "DOCKER_HOST",
        format!("unix://{}", tb.socket("fleet-2").display()),
    )
    .args(["ps", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = json(&out.stdout);
    let list = list.as_array().expect("array");
    assert!(list.iter().all(|c| c["host"] == "local"));
    assert!(list.iter().any(|c| c["image"] == "flotilla-test/app:v2"));
}

#[test]
fn bad_config_is_a_usage_error_with_position_and_nothing_connects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "bad.toml",
        "[[host]]\nname = \"a\"\naddress = \"127.0.10.1\"\n\n[[host]]\nname = \"a\"\nadress = \"x\"\n",
    );
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).arg("ps");
    let out = run(cmd);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    let expected = format!("{}:7:1", config.display());
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert!(out.stderr.contains("adress"), "{}", out.stderr);
}

#[test]
fn config_check_prints_resolved_hosts() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["config", "check"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (addr, port) = tb.address("fleet-2");
    assert!(
        out.stdout.contains(&format!("ssh://root@{addr}:{port}")),
        "{}",
        out.stdout
    );

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["config", "check", "--json"]);
    let inv = json(&run(cmd).stdout);
    let hosts = inv["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), tb.host_names().len());
    assert_eq!(hosts[1]["target"]["endpoint"]["port"], port);
}

#[test]
fn help_documents_exit_codes() {
    let mut cmd = flotilla();
    cmd.arg("--help");
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("3  some hosts unreachable"),
        "{}",
        out.stdout
    );
}
