//! End-to-end deploys of a scaled Compose service: three replicas per host on
//! two fleet hosts, matched by `com.docker.compose.service`. The test creates
//! its own `rt-*` containers (and a volume) and removes them on drop, also
//! when it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Outcome, Testbed, json, run};
use serde_json::Value;

const V1: &str = "flotilla-test/app:v1";
const V2: &str = "flotilla-test/app:v2";
const BROKEN: &str = "flotilla-test/app:broken";
const NUMBER: &str = "com.docker.compose.container-number";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// docker against one fleet host's daemon, without asserting success.
fn docker_raw(tb: &Testbed, host: &str, args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", tb.socket(host).display()))
        .args(args)
        .output()
        .expect("run docker")
}

/// The scaled service `rt-…`: containers NAME-1..3 on two hosts, its
/// config and audit log. Dropping it removes every container it left.
struct Scaled {
    tb: Testbed,
    name: String,
    hosts: Vec<String>,
    _dir: tempfile::TempDir,
    config: PathBuf,
    audit: PathBuf,
}

impl Scaled {
    fn new() -> Scaled {
        let tb = Testbed::get();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Short enough for the matrix's service column (22).
        let name = format!("rt-{}-{nanos:x}", std::process::id());
        let hosts: Vec<String> = tb.host_names().into_iter().take(2).collect();
        assert_eq!(hosts.len(), 2, "the replica test needs 2 hosts");
        let dir = tempfile::tempdir().expect("tempdir");
        let inventory = std::fs::read_to_string(tb.config()).expect("testbed inventory");
        let quoted: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        let text = format!(
            "{inventory}\n[service.{name}]\nhosts = [{}]\n\
             match = {{ label = \"{COMPOSE_SERVICE}={name}\" }}\n\
             health_timeout = \"30s\"\nserial = [1]\norder = \"stop-first\"\n",
            quoted.join(", ")
        );
        let config = dir.path().join("flotilla.toml");
        std::fs::write(&config, text).expect("write config");
        let audit = dir.path().join("audit.jsonl");
        let svc = Scaled {
            tb,
            name,
            hosts,
            _dir: dir,
            config,
            audit,
        };
        for host in &svc.hosts {
            for i in 1..=3 {
                svc.create(host, i);
            }
        }
        svc
    }

    fn replica(&self, i: usize) -> String {
        format!("{}-{i}", self.name)
    }

    /// Like `docker compose up --scale NAME=3` would: Compose labels, the
    /// replica's number. Replica 2 also checks a flag volume, so a test can
    /// make it (and only it) refuse one version.
    fn create(&self, host: &str, i: usize) {
        let name = self.replica(i);
        let project = format!("com.docker.compose.project={}", self.name);
        let service = format!("{COMPOSE_SERVICE}={}", self.name);
        let number = format!("{NUMBER}={i}");
        let owner = format!("rtest.svc={}", self.name);
        let volume = format!("{}-flag:/flag", self.name);
        let mut args = common::detached(&name);
        args.extend([
            "--restart",
            "unless-stopped",
            "-e",
            "APP_NAME=rtest",
            "--label",
            &project,
            "--label",
            &service,
            "--label",
            &number,
            "--label",
            &owner,
        ]);
        if i == 2 {
            args.extend_from_slice(&[
                "-v",
                &volume,
                "--health-cmd",
                "test -f /tmp/healthy && test ! -f /flag/refuse-$APP_VERSION",
                "--health-interval",
                "1s",
                "--health-retries",
                "2",
                "--health-start-period",
                "3s",
            ]);
        }
        args.push(V1);
        self.tb.docker(host, &args);
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let mut cmd = common::flotilla();
        cmd.arg("--config")
            .arg(&self.config)
            .env("FLOTILLA_AUDIT_LOG", &self.audit)
            .args(args);
        let out = run(cmd);
        eprintln!(
            "$ flotilla {}\n=> exit {}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        );
        out
    }

    fn inspect(&self, host: &str, name: &str) -> Option<Value> {
        let out = docker_raw(&self.tb, host, &["inspect", name]);
        out.status
            .success()
            .then(|| json(&String::from_utf8_lossy(&out.stdout))[0].clone())
    }

    /// Names of every container of the test on `host`, sorted.
    fn names(&self, host: &str) -> Vec<String> {
        let filter = format!("label=rtest.svc={}", self.name);
        let out = self.tb.docker(
            host,
            &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
        );
        let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
        names.sort();
        names
    }

    /// Waits (bounded) until every replica on every host is healthy.
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(40);
        for host in &self.hosts {
            for i in 1..=3 {
                let name = self.replica(i);
                while self
                    .inspect(host, &name)
                    .map(|c| c["State"]["Health"]["Status"].clone())
                    != Some(Value::from("healthy"))
                {
                    assert!(Instant::now() < deadline, "{name} not healthy on {host}");
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    }

    /// On `host` exactly the three replicas run `image`, healthy, under their
    /// names with their Compose labels; nothing aside, no lock. Returns ids.
    fn assert_replicas(&self, host: &str, image: &str) -> Vec<String> {
        let expected: Vec<String> = (1..=3).map(|i| self.replica(i)).collect();
        assert_eq!(
            self.names(host),
            expected,
            "{host}: never fewer or more containers"
        );
        assert!(
            self.inspect(host, &format!("flotilla-lock-{}", self.name))
                .is_none(),
            "{host}: lock left"
        );
        expected
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let c = self.inspect(host, name).expect("replica");
                assert_eq!(c["Config"]["Image"], image, "{host} {name}");
                assert_eq!(c["State"]["Running"], true, "{host} {name}");
                assert_eq!(c["State"]["Health"]["Status"], "healthy", "{host} {name}");
                let labels = &c["Config"]["Labels"];
                assert_eq!(labels[NUMBER], (i + 1).to_string(), "{host} {name}");
                assert_eq!(labels[COMPOSE_SERVICE], self.name.as_str(), "{host} {name}");
                c["Id"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }
}

impl Scaled {
    /// The TUI's services matrix (in tmux) shows `cell` for the service on
    /// every one of `hosts`.
    fn matrix_shows(&self, hosts: &[&str], cell: &str) {
        let cmd = format!(
            "env FLOTILLA_AUDIT_LOG={} XDG_STATE_HOME={} {} --config {}",
            self.audit.display(),
            self._dir.path().display(),
            env!("CARGO_BIN_EXE_flotilla"),
            self.config.display()
        );
        let tui = common::tmux::Tmux::start(&cmd, 200, 60);
        tui.wait_for("hosts listed", |s| hosts.iter().all(|h| s.contains(h)));
        tui.keys(&["3"]);
        let ours = |l: &&str| {
            l.trim_start_matches('▶')
                .trim_start()
                .starts_with(&format!("{} ", self.name))
        };
        let screen = tui.wait_for("the service's row", |s| s.lines().any(|l| ours(&l)));
        let row = screen.lines().find(ours).unwrap_or_default().to_owned();
        assert_eq!(row.matches(cell).count(), hosts.len(), "{row}\n{screen}");
        tui.keys(&["q"]);
    }
}

impl Drop for Scaled {
    fn drop(&mut self) {
        for host in &self.hosts {
            let filter = format!("label=rtest.svc={}", self.name);
            let out = docker_raw(&self.tb, host, &["ps", "-aq", "--filter", &filter]);
            let ids = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.split_whitespace());
            let lock = format!("flotilla-lock-{}", self.name);
            args.push(&lock);
            let _ = docker_raw(&self.tb, host, &args);
            let volume = format!("{}-flag", self.name);
            let _ = docker_raw(&self.tb, host, &["volume", "rm", "-f", &volume]);
        }
    }
}

#[test]
fn scaled_service_deploys_replica_by_replica_and_fails_back_as_a_host() {
    let svc = Scaled::new();
    svc.wait_healthy();
    let (h1, h2) = (svc.hosts[0].as_str(), svc.hosts[1].as_str());

    // The plan lists the replicas of each host, in text and JSON.
    let out = svc.run(&["deploy", &svc.name, "--image", V2, "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("3 replicas, one at a time"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("(3/3) {}", svc.replica(3))),
        "{}",
        out.stdout
    );
    let out = svc.run(&["deploy", &svc.name, "--image", V2, "--dry-run", "--json"]);
    let plan = json(out.stdout.lines().next().expect("plan line"));
    let replicas = plan["plan"]["batches"][0][0]["replicas"]
        .as_array()
        .expect("replicas");
    assert_eq!(replicas.len(), 3, "{plan}");

    // v2: every replica replaced, one at a time, names and labels kept.
    let out = svc.run(&["deploy", &svc.name, "--image", V2, "--yes"]);
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    for i in 1..=3 {
        let at = format!("{h2} {} ({i}/3): waiting for health", svc.replica(i));
        assert!(out.stdout.contains(&at), "{at}: {}", out.stdout);
    }
    for host in [h1, h2] {
        svc.assert_replicas(host, V2);
    }
    svc.matrix_shows(&[h1, h2], "● v2 ×3");
    let status = svc.run(&["status", &svc.name, "--json"]);
    let status = json(&status.stdout);
    for h in status["hosts"].as_array().expect("hosts") {
        let replicas = h["replicas"].as_array().expect("replicas");
        assert_eq!(replicas.len(), 3);
        assert!(
            replicas
                .iter()
                .all(|r| r["image"] == V2 && r["previous_image"] == V1)
        );
    }

    // broken: the first host fails, every replica back on v2; the rollout stops.
    let before = svc.assert_replicas(h1, V2);
    let out = svc.run(&["deploy", &svc.name, "--image", BROKEN, "--yes"]);
    assert_eq!(
        out.code, 5,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("rolled back"), "{}", out.stdout);
    assert_eq!(
        svc.assert_replicas(h1, V2),
        before,
        "the same containers, put back"
    );
    svc.assert_replicas(h2, V2);

    // Replica 2 refuses v1 only: a rollback replaces replica 1, fails on
    // replica 2, and puts the host back on v2 — replica 1 included.
    svc.tb
        .docker(h1, &["exec", &svc.replica(2), "touch", "/flag/refuse-v1"]);
    let out = svc.run(&["rollback", &svc.name, "--yes"]);
    assert_eq!(
        out.code, 5,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let replaced = format!("{h1} {} (1/3): healthy", svc.replica(1));
    assert!(out.stdout.contains(&replaced), "{}", out.stdout);
    let failed = format!("{h1} {} (2/3): unhealthy", svc.replica(2));
    assert!(out.stdout.contains(&failed), "{}", out.stdout);
    let after = svc.assert_replicas(h1, V2);
    assert_ne!(
        after[0], before[0],
        "replica 1 was replaced, then put back on v2"
    );
    assert_eq!(
        after[1..],
        before[1..],
        "replica 2's old container is back, 3 untouched"
    );
    let r1 = svc.inspect(h1, &svc.replica(1)).expect("replica 1");
    assert_eq!(
        r1["Config"]["Labels"]["flotilla.previous-image"], V1,
        "its labels too"
    );
    svc.assert_replicas(h2, V2);
}
