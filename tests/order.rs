//! End-to-end: start-first deploys keep a service on a user network answering
//! (a probe asks it by its network alias every 50 ms), a failed gate never
//! touches the old container, and a container publishing a host port goes
//! stop-first by default.

mod common;

use std::time::Duration;

use common::{Network, Testbed, flotilla, json, run};

/// A tiny web server image per version (busybox httpd serving its version);
/// `None` serves nothing, so its health check fails. Like many servers it
/// stops answering at SIGTERM and exits a second later: a proxy that still
/// sends to it then fails.
fn tiny(tb: &Testbed, host: &str, name: &str, version: Option<&str>) -> String {
    let tag = version.unwrap_or("broken");
    let image = format!("otest/{name}:{tag}");
    let src = format!("{name}-src-{tag}");
    tb.docker(
        host,
        &["create", "--name", &src, "flotilla-test/base:latest"],
    );
    let serve = match version {
        Some(v) => format!("mkdir -p /www && echo tiny{v} > /www/index.html && "),
        None => "mkdir -p /www && ".to_owned(),
    };
    let cmd = format!(
        "CMD [\"sh\", \"-c\", \"{serve}httpd -f -p 8080 -h /www & trap 'kill $!; sleep 1; exit 0' TERM; wait\"]"
    );
    tb.docker(host, &["commit", "--change", &cmd, &src, &image]);
    tb.docker(host, &["rm", &src]);
    image
}

/// What the service answers by its network alias, asked from a one-off
/// container on the network.
fn answer(tb: &Testbed, host: &str, net: &Network, alias: &str) -> String {
    let url = format!("http://{alias}:8080/");
    let args = [
        "run",
        "--rm",
        "--network",
        &net.name,
        "flotilla-test/base:latest",
        "wget",
        "-qO-",
        &url,
    ];
    let out = tb.docker_raw(host, &args);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits (bounded) until the service answers `want` by its alias.
fn wait_for_answer(tb: &Testbed, host: &str, net: &Network, alias: &str, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while answer(tb, host, net, alias) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{alias} never answered {want}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

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
    let probe = format!("{name}-probe");
    let _cleanup = Cleanup {
        tb: &tb,
        host,
        containers: vec![name.clone(), probe.clone(), format!("{name}-flotilla-new")],
    };
    tb.docker(
        host,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net.name,
            "--network-alias",
            "sfweb",
            &v1,
        ],
    );
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
    // A probe asks by alias every 50 ms (bounded: 1200 tries) through the deploy.
    tb.docker(
        host,
        &[
            "run",
            "-d",
            "--name",
            &probe,
            "--network",
            &net.name,
            "flotilla-test/base:latest",
            "sh",
            "-c",
            "i=0; while [ $i -lt 1200 ]; do if wget -qO- http://sfweb:8080/ >/dev/null 2>&1; \
             then echo OK; else echo FAIL; fi; i=$((i+1)); sleep 0.05; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = verb(&["deploy", &name, "--image", &v2, "--yes", "--json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    std::thread::sleep(Duration::from_millis(500));
    let answers = tb.docker(host, &["logs", &probe]);
    tb.docker(host, &["rm", "-f", &probe]);
    let (ok, failed) = (
        answers.matches("OK").count(),
        answers.matches("FAIL").count(),
    );
    assert!(
        ok > 10,
        "the probe ran through the deploy: {ok} answers: {answers:.400}"
    );
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during a start-first deploy",
        ok + failed
    );
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

/// Starts a deploy and SIGKILLs flotilla while the old container drains
/// (the candidate healthy and serving, the old one unlisted).
fn kill_while_draining(cfg: &std::path::Path, audit: &std::path::Path, name: &str, image: &str) {
    use std::io::{BufRead, BufReader};
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", audit)
        .arg("--config")
        .arg(cfg)
        .args(["deploy", name, "--image", image, "--yes", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn deploy");
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let draining = line.contains("\"event\":\"step\"") && line.contains("draining");
        seen.push(line);
        if draining {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.last().is_some_and(|l| l.contains("draining")),
        "never drained: {seen:#?}"
    );
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
    tb.docker(
        host,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net.name,
            "--network-alias",
            "kweb",
            &v1,
        ],
    );
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
