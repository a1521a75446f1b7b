//! End-to-end: start-first deploys keep a service on a user network answering
//! (a probe asks it by its network alias every 50 ms), a failed gate never
//! touches the old container, and a container publishing a host port goes
//! stop-first by default.

mod common;

use common::web::{Probe, answer, kill_while_draining, serve, tiny, wait_for_answer};
use common::{Network, Testbed, flotilla, json, run};

/// A config with `[service.NAME]` on one host; `extra` TOML lines.
fn config(
    tb: &Testbed,
    dir: &std::path::Path,
    name: &str,
    host: &str,
    extra: &str,
) -> std::path::PathBuf {
    let inventory = std::fs::read_to_string(tb.config()).expect("inventory");
    let path = dir.join("flotilla.toml");
    std::fs::write(
        &path,
        format!(
            "{inventory}\n[service.{name}]\nhosts = [\"{host}\"]\ncontainer = \"{name}\"\n\
             health_timeout = \"20s\"\nhealth_cmd = \"wget -qO- http://localhost:8080/\"\n{extra}\n"
        ),
    )
    .expect("write config");
    path
}

/// The container's id and start time.
fn identity(tb: &Testbed, host: &str, name: &str) -> String {
    tb.docker(
        host,
        &["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name],
    )
    .trim()
    .to_owned()
}

struct Cleanup<'a> {
    tb: &'a Testbed,
    host: &'a str,
    containers: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.tb.docker_raw(self.host, &["rm", "-f", c]);
        }
    }
}

#[test]
fn start_first_keeps_the_service_answering_and_a_failed_gate_never_touches_the_old() {
    let tb = Testbed::get();
    let host = "fleet-1";
    let name = format!("otest-sf-{}", std::process::id());
    let net = Network::create(&tb, host, format!("{name}-net"));
    let (v1, v2, broken) = (
        tiny(&tb, host, &name, Some("1")),
        tiny(&tb, host, &name, Some("2")),
        tiny(&tb, host, &name, None),
    );
    let _cleanup = Cleanup {
        tb: &tb,
        host,
        containers: vec![name.clone(), format!("{name}-flotilla-new")],
    };
    serve(&tb, host, &name, &net, "sfweb", &v1);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&tb, dir.path(), &name, host, "# default order");
    let verb = |args: &[&str]| common::flotilla_with(&cfg, &dir.path().join("audit.jsonl"), args);
    wait_for_answer(&tb, host, &net, "sfweb", "tiny1");
    let plan = verb(&["deploy", &name, "--image", &v2, "--dry-run"]);
    assert!(
        plan.stdout
            .contains("start-first: it publishes no host port"),
        "{}",
        plan.stdout
    );
    let probe = Probe::start(&tb, host, &net, "sfweb");
    let out = verb(&["deploy", &name, "--image", &v2, "--yes", "--json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    probe.no_failures("a start-first deploy");
    let done: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(json)
        .filter(|e| e["event"] == "host_done")
        .collect();
    assert_eq!(done.len(), 1, "{}", out.stdout);
    assert_eq!(done[0]["timings"]["down_ms"], 0, "{}", done[0]);
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    assert!(
        audit
            .lines()
            .any(|l| l.contains("deploy:deployed ") && l.contains("] down 0 ms")),
        "the final record says the service was never down: {audit}"
    );
    let after = tb.docker(
        host,
        &["inspect", "-f", "{{.Config.Image}} {{.Name}}", &name],
    );
    assert_eq!(after.trim(), format!("{v2} /{name}"));

    // A never-healthy image: the candidate goes, the old one never stopped.
    let before = identity(&tb, host, &name);
    let out = verb(&["deploy", &name, "--image", &broken, "--yes"]);
    assert_eq!(out.code, 5, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        identity(&tb, host, &name),
        before,
        "the same container, never restarted"
    );
    let left = tb.docker(
        host,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}-flotilla"),
            "--format",
            "{{.Names}}",
        ],
    );
    assert_eq!(left.trim(), "", "no candidate or old container left");
}

#[test]
fn a_published_host_port_means_stop_first_by_default() {
    let tb = Testbed::get();
    let host = "fleet-1";
    let name = format!("otest-pub-{}", std::process::id());
    let net = Network::create(&tb, host, format!("{name}-net"));
    let (v1, v2) = (
        tiny(&tb, host, &name, Some("1")),
        tiny(&tb, host, &name, Some("2")),
    );
    let _cleanup = Cleanup {
        tb: &tb,
        host,
        containers: vec![name.clone()],
    };
    // A free port on the host's own address: bound then let go.
    let addr = tb.address(host).0;
    let port = std::net::TcpListener::bind((addr.as_str(), 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let publish = format!("{addr}:{port}:8080");
    tb.docker(
        host,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net.name,
            "-p",
            &publish,
            &v1,
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&tb, dir.path(), &name, host, "# default order");
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", dir.path().join("audit.jsonl"))
        .arg("--config")
        .arg(&cfg)
        .args(["deploy", &name, "--image", &v2, "--yes", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let plan = out
        .stdout
        .lines()
        .map(json)
        .find(|e| e["event"] == "plan")
        .unwrap_or_else(|| panic!("no plan event: {}", out.stdout));
    let order = plan["plan"]["batches"][0][0]["order"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        order.starts_with(&format!(
            "stop-first: it publishes host port {addr}:{port}->8080/tcp"
        )),
        "{plan}"
    );
    let done = out
        .stdout
        .lines()
        .map(json)
        .find(|e| e["event"] == "host_done")
        .expect("host_done");
    assert!(
        done["timings"]["down_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{done}"
    );
    let served = tb.docker(host, &["inspect", "-f", "{{.Config.Image}}", &name]);
    assert_eq!(served.trim(), v2);
}

#[test]
fn killed_while_draining_then_rollback_or_resume_leaves_one_container_answering() {
    let tb = Testbed::get();
    let host = "fleet-1";
    let name = format!("otest-kill-{}", std::process::id());
    let net = Network::create(&tb, host, format!("{name}-net"));
    let (v1, v2) = (
        tiny(&tb, host, &name, Some("1")),
        tiny(&tb, host, &name, Some("2")),
    );
    let candidate = format!("{name}-flotilla-new");
    let _cleanup = Cleanup {
        tb: &tb,
        host,
        containers: vec![name.clone(), candidate.clone()],
    };
    serve(&tb, host, &name, &net, "kweb", &v1);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cfg = config(
        &tb,
        dir.path(),
        &name,
        host,
        "stop_grace = \"8s\" # default order",
    );
    let verb = |args: &[&str]| common::flotilla_with(&cfg, &audit, args);
    let by_alias = || answer(&tb, host, &net, "kweb");
    let exists = |c: &str| tb.docker_raw(host, &["inspect", c]).status.success();
    wait_for_answer(&tb, host, &net, "kweb", "tiny1");
    let original = identity(&tb, host, &name);

    kill_while_draining(&cfg, &audit, &name, &v2);
    assert!(exists(&candidate), "the candidate runs beside the old one");
    let out = verb(&["deploy", &name, "--rollback", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!exists(&candidate), "the candidate is gone: {}", out.stdout);
    assert_eq!(
        identity(&tb, host, &name),
        original,
        "the old container stayed"
    );
    assert_eq!(by_alias(), "tiny1", "and answers by its alias again");

    kill_while_draining(&cfg, &audit, &name, &v2);
    let out = verb(&["deploy", &name, "--resume", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!exists(&candidate));
    let now = tb.docker(host, &["inspect", "-f", "{{.Config.Image}}", &name]);
    assert_eq!(now.trim(), v2);
    assert_eq!(by_alias(), "tiny2");
}

#[test]
fn a_scaled_service_goes_start_first_replica_by_replica_without_a_failed_request() {
    let tb = Testbed::get();
    let host = "fleet-1";
    let name = format!("otest-rs-{}", std::process::id());
    let net = Network::create(&tb, host, format!("{name}-net"));
    let (v1, v2) = (
        tiny(&tb, host, &name, Some("1")),
        tiny(&tb, host, &name, Some("2")),
    );
    let replicas = [format!("{name}-1"), format!("{name}-2")];
    let label = format!("otest.rs={name}");
    let _cleanup = Cleanup {
        tb: &tb,
        host,
        containers: replicas
            .iter()
            .flat_map(|r| [r.clone(), format!("{r}-flotilla-new")])
            .collect(),
    };
    for r in &replicas {
        let args = ["run", "-d", "--name", r, "--label", &label, "--network"];
        let rest = [net.name.as_str(), "--network-alias", "rsweb", &v1];
        tb.docker(host, &[&args[..], &rest[..]].concat());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let inventory = std::fs::read_to_string(tb.config()).expect("inventory");
    let cfg = dir.path().join("flotilla.toml");
    std::fs::write(
        &cfg,
        format!(
            "{inventory}\n[service.{name}]\nhosts = [\"{host}\"]\nmatch = {{ label = \"{label}\" }}\n\
             health_timeout = \"20s\"\nhealth_cmd = \"wget -qO- http://localhost:8080/\"\n"
        ),
    )
    .expect("write config");
    wait_for_answer(&tb, host, &net, "rsweb", "tiny1");
    let probe = Probe::start(&tb, host, &net, "rsweb");
    let out = common::flotilla_with(
        &cfg,
        &audit,
        &["deploy", &name, "--image", &v2, "--yes", "--json"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    probe.no_failures("a start-first deploy of two replicas");
    let events: Vec<serde_json::Value> = out.stdout.lines().map(json).collect();
    let done = events
        .iter()
        .find(|e| e["event"] == "host_done")
        .expect("host_done");
    assert_eq!(done["timings"]["down_ms"], 0, "{done}");
    for r in &replicas {
        let now = tb.docker(
            host,
            &["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", r],
        );
        assert_eq!(
            now.trim(),
            format!("{v2} true"),
            "{r} kept its name, runs v2"
        );
    }
    // One replica at a time: the second candidate is created only once the
    // first replica's old container is gone.
    let at = |replica: &str, step: &str| {
        events.iter().position(|e| {
            e["event"] == "step" && e["replica"]["container"] == replica && e["step"] == step
        })
    };
    let first_done = at(&replicas[0], "removing_old");
    let second_created = at(&replicas[1], "creating");
    assert!(
        matches!((first_done, second_created), (Some(a), Some(b)) if a < b),
        "replica by replica: {}",
        out.stdout
    );
}
