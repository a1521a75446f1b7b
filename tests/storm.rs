//! End-to-end: flotilla holds up when a host's Docker daemon is sick while its
//! SSH session stays up (issue 7, defect 1): the TUI keeps answering keys and
//! signals, and the host's other requests still get through.

mod common;

use std::time::{Duration, Instant};

use common::proxy::DockerProxy;
use common::tmux::Tmux;
use common::{Testbed, Via};

/// `GET /vX/containers/{id}/json` (inspect) never gets an answer; the list
/// (`/containers/json`) and everything else do.
fn hang_inspect(method: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    method == "GET"
        && path.ends_with("/json")
        && path.contains("/containers/")
        && !path.ends_with("/containers/json")
}

/// Opens help and closes it again; true if both showed within a second each.
fn answers_keys(tui: &Tmux) -> bool {
    tui.keys(&["?"]);
    let opened = tui.shows_within(Duration::from_secs(1), |s| s.contains("Keys"));
    tui.keys(&["Escape"]);
    let closed = tui.shows_within(Duration::from_secs(1), |s| !s.contains("Keys"));
    opened && closed
}

#[test]
fn a_hung_docker_api_never_freezes_the_tui() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = DockerProxy::start(
        &tb.socket("fleet-1"),
        &dir.path().join("docker.sock"),
        hang_inspect,
    );
    let via = Via {
        docker_socket: Some(proxy.path()),
        ..Via::default()
    };
    let config = tb.inventory_via(dir.path(), "sick", "fleet-1", &via);
    let tui = Tmux::flotilla(
        &config,
        &dir.path().join("audit.jsonl"),
        dir.path(),
        160,
        40,
    );
    // The list arrives although every inspect hangs.
    tui.wait_for("the sick host's containers", |s| s.contains("shop-web-1"));
    assert!(proxy.hung() > 0, "the proxy never hung an inspect");

    // Keep asking the host for things whose answers hang (inspect), and things
    // that queue up behind them; keys must stay answered throughout.
    // FLOTILLA_STORM_SECS=360 for the six-minute reproduction.
    let secs = std::env::var("FLOTILLA_STORM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let until = Instant::now() + Duration::from_secs(secs);
    let mut rounds = 0;
    while Instant::now() < until {
        tui.keys(&["i", "Escape", "i", "Escape", "i", "Escape", "i", "Escape"]);
        assert!(
            answers_keys(&tui),
            "keys not answered after {rounds} rounds; screen:\n{}",
            tui.screen()
        );
        rounds += 1;
    }
    assert!(rounds >= secs / 4, "only {rounds} rounds in {secs} s");

    // Headless verbs on the same sick host finish in bounded time.
    for verb in [&["ps"][..], &["triage", "--json"][..]] {
        let started = Instant::now();
        let mut cmd = common::flotilla();
        cmd.arg("--config").arg(&config).args(verb);
        let out = common::run(cmd);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{verb:?} took {:?}",
            started.elapsed()
        );
        assert!(
            out.stdout.contains("shop-web-1") || out.stdout.contains("sick"),
            "{verb:?} exit {}: {}{}",
            out.code,
            out.stdout,
            out.stderr
        );
    }

    // SIGTERM ends it within a second, terminal given back.
    let pid = tui.pid().expect("pane pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(
        tui.exits_within(Duration::from_secs(1)),
        "flotilla ignored SIGTERM for over a second; screen:\n{}",
        tui.screen()
    );
}

/// Runs flotilla with its stdout closed at once (`| head -0`); returns exit
/// code and stderr.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let tb = Testbed::get();
    let mut cmd = common::flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn flotilla");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    let logs = ["logs", "shop-web-1", "--host", "fleet-1", "-n", "100"];
    for args in [
        &["ps"][..],
        &["ps", "--json"][..],
        &["hosts"][..],
        &logs[..],
    ] {
        let (code, stderr) = with_closed_stdout(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }
}

#[test]
fn acting_on_a_target_behind_an_unreachable_host_exits_3() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 1: connection refused at once.
    let via = Via {
        port: Some(1),
        ..Via::default()
    };
    let config = tb.inventory_via(dir.path(), "gone", "fleet-1", &via);
    let mut cmd = common::flotilla();
    cmd.arg("--config")
        .arg(&config)
        .args(["restart", "web", "--yes"]);
    let out = common::run(cmd);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("unreachable"), "{}", out.stderr);
    assert!(out.stderr.contains("gone"), "{}", out.stderr);
}
