//! End-to-end: the real TUI in tmux against the real test fleet: open, find a
//! container, read its logs, search, restart it through the confirm dialog,
//! see the restart reflected and audited.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{Scratch, Testbed};

#[test]
fn navigate_logs_search_restart_and_audit() {
    let tb = Testbed::get();
    let c = Scratch::run(&tb, "fleet-1", "tui-e2e", "tuisvc", "flotilla-test/app:v1");
    c.wait_for("running", |c| c.inspect("{{.State.Running}}") == "true");
    let started = c.inspect("{{.State.StartedAt}}");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "env FLOTILLA_AUDIT_LOG={} XDG_STATE_HOME={} {} --config {}",
        audit.display(),
        dir.path().display(),
        env!("CARGO_BIN_EXE_flotilla"),
        tb.config().display()
    );
    let tui = Tmux::start(&cmd, 160, 40);
    // Not "all hosts up": the reconnect test in this binary may have one down.
    tui.wait_for("our container listed", |s| s.contains(&c.name));

    // Filter down to our container, open its logs.
    tui.keys(&["/"]);
    tui.literal(&c.name);
    tui.keys(&["Enter"]);
    // The filter applies while typing; wait for the whole name to be in.
    tui.wait_for("filtered table", |s| {
        s.contains("Containers (1)")
            && s.contains(&format!("filter: {} ", c.name))
            && !s.contains("filter>")
    });
    tui.keys(&["Enter"]);
    tui.wait_for("log lines", |s| {
        s.contains(&format!("{} @ fleet-1", c.name)) && s.contains("GET /health 200")
    });

    // Search highlights and counts without hiding other lines.
    tui.keys(&["/"]);
    tui.literal("request");
    tui.keys(&["Enter"]);
    let screen = tui.wait_for("search result", |s| {
        s.contains("match(es) for \"request\"") && s.contains("/request/")
    });
    assert!(
        screen.contains("GET /health 200"),
        "context lines stay: {screen}"
    );

    // Back to the table; restart through the confirm dialog.
    tui.keys(&["Escape", "r"]);
    let screen = tui.wait_for("confirm dialog", |s| s.contains("Confirm restart"));
    assert!(
        screen.contains(&format!("{} on fleet-1", c.name)),
        "dialog names what and where: {screen}"
    );
    assert_eq!(
        c.inspect("{{.State.StartedAt}}"),
        started,
        "nothing happens before confirming"
    );
    tui.keys(&["y"]);
    tui.wait_for("restart result", |s| {
        s.contains(&format!("restart {} on fleet-1: ok", c.name))
    });
    assert_ne!(
        c.inspect("{{.State.StartedAt}}"),
        started,
        "really restarted"
    );
    // The restart shows up in the table by itself (Docker events), without a key press.
    tui.wait_for("fresh uptime", |s| {
        s.lines().any(|l| {
            l.contains(&c.name)
                && (l.contains("Less than a second")
                    || l.contains("Up 1 second")
                    || l.contains("Up 2 seconds"))
        })
    });

    // And in the audit view and file.
    tui.keys(&["4"]);
    let screen = tui.wait_for("audit view", |s| s.contains("Audit (1)"));
    assert!(
        screen
            .lines()
            .any(|l| l.contains(&c.name) && l.contains("restart") && l.contains("ok")),
        "{screen}"
    );
    let record: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&audit).expect("audit file").trim())
            .expect("json");
    assert_eq!(record["container"], c.name.as_str());
    assert_eq!(record["host"], "fleet-1");

    // q quits and gives the terminal back.
    tui.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tui.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tui.alive(), "flotilla did not exit on q");
}

fn testbed(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed");
    let out = Command::new(script)
        .args(args)
        .output()
        .expect("scripts/testbed");
    assert!(
        out.status.success(),
        "testbed {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Brings a host's sshd back even when the test fails half-way.
struct Restart(&'static str);

impl Drop for Restart {
    fn drop(&mut self) {
        testbed(&["start-host", self.0]);
    }
}

#[test]
fn a_host_that_drops_is_shown_in_place_and_comes_back_by_itself() {
    // Only this test binary touches fleet-3's sshd, and the other TUI test
    // never looks at fleet-3; test binaries run one after another.
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let cmd = format!(
        "env XDG_STATE_HOME={} {} --config {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_flotilla"),
        tb.config().display()
    );
    let tui = Tmux::start(&cmd, 160, 30);
    let hosts = tb.host_names().len();
    tui.wait_for("all up", |s| {
        s.contains(&format!("hosts {hosts}/{hosts} up")) && s.contains("fleet-3")
    });
    tui.keys(&["1"]);
    tui.wait_for("hosts view", |s| s.contains("Hosts ("));

    let _restart = Restart("3");
    testbed(&["stop-host", "3"]);
    let screen = tui.wait_for("fleet-3 down", |s| {
        s.lines()
            .any(|l| l.contains("fleet-3") && (l.contains("down") || l.contains("reconnecting")))
    });
    assert!(
        screen.contains(&format!("hosts {}/{hosts} up", hosts - 1)),
        "{screen}"
    );
    // Its containers stay listed (greyed, marked `?`) instead of vanishing.
    tui.keys(&["2"]);
    let screen = tui.wait_for("stale rows", |s| {
        s.lines()
            .any(|l| l.contains("fleet-3") && l.contains("running?"))
    });
    assert!(
        screen
            .lines()
            .any(|l| l.contains("fleet-3") && l.contains("shop-web-1")),
        "{screen}"
    );

    testbed(&["start-host", "3"]);
    // Backoff is capped at 30 s; the first retries come within seconds.
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let s = tui.screen();
        if s.contains(&format!("hosts {hosts}/{hosts} up")) && !s.contains("running?") {
            break;
        }
        assert!(Instant::now() < deadline, "fleet-3 did not come back:\n{s}");
        std::thread::sleep(Duration::from_millis(300));
    }
    tui.keys(&["q"]);
}

/// A `tuidep-*` container on fleet-1 and fleet-2 (fleet-3 may be dropped by
/// the reconnect test), removed on drop.
struct DeploySvc {
    tb: Testbed,
    name: String,
}

impl DeploySvc {
    const HOSTS: [&'static str; 2] = ["fleet-1", "fleet-2"];

    fn image(&self, host: &str) -> String {
        self.tb
            .docker(host, &["inspect", "-f", "{{.Config.Image}}", &self.name])
            .trim()
            .to_owned()
    }

    fn health(&self, host: &str) -> String {
        self.tb
            .docker(
                host,
                &["inspect", "-f", "{{.State.Health.Status}}", &self.name],
            )
            .trim()
            .to_owned()
    }
}

impl Drop for DeploySvc {
    fn drop(&mut self) {
        for host in Self::HOSTS {
            for name in [
                self.name.clone(),
                format!("{}-flotilla-old", self.name),
                format!("flotilla-lock-{}", self.name),
            ] {
                let _ = Command::new("docker")
                    .arg("-H")
                    .arg(format!("unix://{}", self.tb.socket(host).display()))
                    .args(["rm", "-f", &name])
                    .output();
            }
        }
    }
}

#[test]
fn deploy_view_rolls_a_service_out_and_back() {
    let tb = Testbed::get();
    let name = format!("tuidep-{}", std::process::id());
    for host in DeploySvc::HOSTS {
        let mut args = common::detached(&name);
        args.push("flotilla-test/app:v1");
        tb.docker(host, &args);
    }
    let svc = DeploySvc {
        tb: Testbed::get(),
        name: name.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while DeploySvc::HOSTS.iter().any(|h| svc.health(h) != "healthy") {
        assert!(Instant::now() < deadline, "{name} never became healthy");
        std::thread::sleep(Duration::from_millis(200));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = std::fs::read_to_string(tb.config()).expect("testbed inventory");
    let config = dir.path().join("flotilla.toml");
    std::fs::write(
        &config,
        format!(
            "{inventory}\n[service.{name}]\nhosts = [\"fleet-1\", \"fleet-2\"]\n\
             container = {name:?}\nhealth_timeout = \"20s\"\nserial = [1]\n"
        ),
    )
    .expect("config");
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "env FLOTILLA_AUDIT_LOG={} XDG_STATE_HOME={} {} --config {}",
        audit.display(),
        dir.path().display(),
        env!("CARGO_BIN_EXE_flotilla"),
        config.display()
    );
    let tui = Tmux::start(&cmd, 160, 40);
    tui.wait_for("our containers listed", |s| s.contains(&name));
    tui.keys(&["/"]);
    tui.literal(&name);
    tui.keys(&["Enter"]);
    tui.wait_for("filtered table", |s| {
        s.contains("Containers (2)") && !s.contains("filter>")
    });

    // D: the image prompt, prefilled with what the hosts run now.
    tui.keys(&["D"]);
    tui.wait_for("image prompt", |s| {
        s.contains(&format!("deploy {name} image> flotilla-test/app:v1"))
    });
    tui.keys(&["C-u"]);
    tui.literal("flotilla-test/app:v2");
    tui.keys(&["Enter"]);
    let screen = tui.wait_for("plan", |s| s.contains("y start"));
    assert!(screen.contains("app:v1 → app:v2"), "{screen}");
    assert_eq!(svc.image("fleet-1"), "flotilla-test/app:v1", "plan only");

    tui.keys(&["y"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let screen = loop {
        let s = tui.screen();
        if s.contains("succeeded") || s.contains("FAILED") {
            break s;
        }
        assert!(Instant::now() < deadline, "deploy did not finish:\n{s}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(screen.contains("succeeded: 2 deployed"), "{screen}");
    for host in DeploySvc::HOSTS {
        assert_eq!(svc.image(host), "flotilla-test/app:v2", "{host}");
        assert_eq!(svc.health(host), "healthy", "{host}");
    }

    // R: a rollback, planned and confirmed the same way.
    tui.keys(&["R"]);
    let screen = tui.wait_for("rollback plan", |s| {
        s.contains("Rollback") && s.contains("y start")
    });
    assert!(screen.contains("app:v2 → app:v1"), "{screen}");
    tui.keys(&["y"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let screen = loop {
        let s = tui.screen();
        if s.contains("succeeded") || s.contains("FAILED") {
            break s;
        }
        assert!(Instant::now() < deadline, "rollback did not finish:\n{s}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(screen.contains("succeeded: 2 deployed"), "{screen}");
    for host in DeploySvc::HOSTS {
        assert_eq!(svc.image(host), "flotilla-test/app:v1", "{host}");
        assert_eq!(svc.health(host), "healthy", "{host}");
    }
    // The view lists the service's last deploys from the audit log.
    tui.wait_for("last deploys", |s| {
        s.contains("last deploys:") && s.contains("rollback:deployed")
    });
    let audited = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(audited.contains(&name), "deploys are audited: {audited}");
    tui.keys(&["Escape", "q"]);
}
