//! End-to-end: a deploy of a never-healthy image rolls back, and the failed
//! container's last log lines survive it: kept in the state directory, named
//! by the audit record, shown by `flotilla events` and in the TUI.

mod common;

use common::tmux::Tmux;
use common::{Testbed, json, run};

/// A `dtest-kept-…` container on fleet-1 (removed on drop, with what a
/// deploy leaves) and a config naming it as a service.
struct Svc<'a> {
    tb: &'a Testbed,
    name: String,
}

impl Drop for Svc<'_> {
    fn drop(&mut self) {
        for name in [
            self.name.clone(),
            format!("{}-flotilla-old", self.name),
            format!("flotilla-lock-{}", self.name),
        ] {
            let _ = std::process::Command::new("docker")
                .arg("-H")
                .arg(format!("unix://{}", self.tb.socket("fleet-1").display()))
                .args(["rm", "-f", &name])
                .output();
        }
    }
}

#[test]
fn a_rolled_back_deploy_keeps_the_failed_containers_logs_and_shows_them() {
    let tb = Testbed::get();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let svc = Svc {
        tb: &tb,
        name: format!("dtest-kept-{}-{nanos:x}", std::process::id()),
    };
    let mut args = common::detached(&svc.name);
    args.extend([
        "--restart",
        "unless-stopped",
        "-e",
        "APP_NAME=keptsvc",
        "--label",
        "dtest.owner=deploy-tests",
        "flotilla-test/app:v1",
    ]);
    tb.docker("fleet-1", &args);
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = std::fs::read_to_string(tb.config()).expect("inventory");
    let config = dir.path().join("flotilla.toml");
    std::fs::write(
        &config,
        format!(
            "{inventory}\n[service.{0}]\nhosts = [\"fleet-1\"]\ncontainer = \"{0}\"\nhealth_timeout = \"20s\"\n",
            svc.name
        ),
    )
    .expect("config");
    let state = dir.path().join("state");
    let audit = state.join("flotilla/audit.jsonl");
    let verb = |args: &[&str]| {
        let mut cmd = common::flotilla();
        cmd.env("FLOTILLA_AUDIT_LOG", &audit)
            .env("XDG_STATE_HOME", &state)
            .arg("--config")
            .arg(&config)
            .args(args);
        cmd
    };
    let out = run(verb(&[
        "deploy",
        &svc.name,
        "--image",
        "flotilla-test/app:broken",
        "--yes",
    ]));
    assert_eq!(out.code, 5, "rolled back: {}\n{}", out.stdout, out.stderr);

    // The audit record names the file; the file holds the failed version's lines.
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .map(json)
        .collect();
    let kept = records
        .iter()
        .find(|r| {
            r["action"].as_str().is_some_and(|a| {
                a.starts_with("deploy:kept-logs flotilla-test/app:broken (failed, rolled back)")
            })
        })
        .unwrap_or_else(|| panic!("no kept-logs record: {records:#?}"));
    assert_eq!(kept["result"], "ok", "{kept}");
    assert_eq!(kept["container"], svc.name.as_str());
    let path = kept["logs"].as_str().expect("a path");
    assert!(
        path.starts_with(&state.join("flotilla/kept-logs").display().to_string()),
        "{path}"
    );
    let text = std::fs::read_to_string(path).expect("the kept file");
    // Raw lines may hold credentials: closed to others from the start.
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
    };
    let flotilla_dir = state.join("flotilla");
    for (file, want) in [
        (std::path::PathBuf::from(path), 0o600),
        (audit.clone(), 0o600),
        (flotilla_dir.join("api-versions"), 0o600),
        (flotilla_dir.join("kept-logs"), 0o700),
        (flotilla_dir.clone(), 0o700),
    ] {
        assert_eq!(mode(&file), want, "mode of {}", file.display());
    }
    assert!(
        text.lines()
            .any(|l| l.contains(" stdout keptsvc broken starting") && l.starts_with("20")),
        "stamped lines of the failed version: {text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("# health check ") && l.contains("exit 1: GET /health 503")),
        "its failed health checks: {text}"
    );

    // Headless: the event's detail carries the path.
    let out = run(verb(&["events", &svc.name, "--since", "10m", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.lines().map(json).any(|e| e["source"] == "audit"
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.ends_with(&format!("logs kept in {path}")))),
        "{}",
        out.stdout
    );

    // TUI: the Audit view's record opens the kept lines in the Logs view.
    let ui = Tmux::start(
        &format!(
            "exec env FLOTILLA_AUDIT_LOG={} {} --config {}",
            audit.display(),
            env!("CARGO_BIN_EXE_flotilla"),
            config.display()
        ),
        200,
        50,
    );
    ui.wait_for("the fleet", |s| s.contains("hosts 3/3 up"));
    ui.keys(&["4"]);
    ui.wait_for("the audit view", |s| s.contains("enter: kept logs"));
    let mut on_it = false;
    for _ in 0..30 {
        let screen = ui.screen();
        if screen
            .lines()
            .any(|l| l.starts_with('▶') && l.contains("enter: kept logs"))
        {
            on_it = true;
            break;
        }
        // Wait for the frame of this key (tmux answers before the TUI drew it).
        let selected = |s: &str| s.lines().find(|l| l.starts_with('▶')).map(str::to_owned);
        let before = selected(&screen);
        ui.keys(&["k"]);
        // At the top the cursor stays put: then this only waits.
        ui.shows_within(std::time::Duration::from_secs(2), |s| selected(s) != before);
    }
    assert!(on_it, "the kept-logs record: {}", ui.screen());
    ui.keys(&["Enter"]);
    ui.wait_for("the kept lines", |s| {
        s.contains(&format!("kept logs: {}", svc.name))
            && s.contains("keptsvc broken starting")
            && s.contains("# health check ")
    });
}
