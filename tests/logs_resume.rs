//! End-to-end: the TUI's log view keeps following by itself when the host's
//! SSH session drops and comes back, and when the followed container is
//! restarted: no line twice, none missing. Real TUI in tmux, real fleet host
//! reached through a TCP proxy that can cut the session.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::proxy::TcpProxy;
use common::tmux::Tmux;
use common::{Scratch, Testbed};

/// Prints n1, n2, … every 100 ms; the count survives a container restart.
const COUNTER: &str = "i=$(cat /tmp/count 2>/dev/null || echo 0); \
    while true; do i=$((i+1)); echo n$i; echo $i > /tmp/count; sleep 0.1; done";

/// Numbers of the `nN` rows on screen (or in any text), in order.
fn numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('n').and_then(|n| n.parse().ok()))
        .collect()
}

/// The shown numbers are exactly what Docker has over the same range.
fn assert_matches_docker(shown: &[u64], c: &Scratch) {
    let truth = numbers(&c.tb.docker(&c.host, &["logs", &c.name]));
    let (Some(first), Some(last)) = (shown.first(), shown.last()) else {
        panic!("nothing shown");
    };
    let window: Vec<u64> = truth
        .iter()
        .copied()
        .skip_while(|n| n != first)
        .take_while(|n| n <= last)
        .collect();
    assert_eq!(shown, window, "the view must match Docker's log exactly");
}

/// A proxy in front of fleet-1's sshd and a one-host inventory through it
/// (host "edge"), with a short initial tail so the whole run fits on screen.
fn via_proxy(tb: &Testbed, dir: &Path) -> (TcpProxy, PathBuf) {
    let (proxy, config) = tb.through_proxy(dir, "edge", "fleet-1", Duration::ZERO, &[]);
    let mut text = std::fs::read_to_string(&config).expect("inventory");
    text.push_str("\n[ui]\nlog_tail = 5\n");
    std::fs::write(&config, text).expect("write inventory");
    (proxy, config)
}

/// The TUI on `config`, in the log view of `name`.
fn open_logs(config: &Path, dir: &Path, name: &str) -> Tmux {
    let cmd = format!(
        "env XDG_STATE_HOME={} FLOTILLA_AUDIT_LOG={}/audit.jsonl {} --config {}",
        dir.display(),
        dir.display(),
        env!("CARGO_BIN_EXE_flotilla"),
        config.display()
    );
    let tui = Tmux::start(&cmd, 220, 200);
    tui.wait_for_within("container listed", Duration::from_secs(30), |s| {
        s.contains(name)
    });
    tui.keys(&[":"]);
    tui.literal(&format!("logs {name}"));
    tui.keys(&["Enter"]);
    tui.wait_for_within("log lines", Duration::from_secs(20), |s| {
        numbers(s).len() >= 8
    });
    tui
}

#[test]
fn tui_follow_resumes_after_the_session_drops() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-1", "logs-tui-cut", "logstuicut", COUNTER);
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, config) = via_proxy(&tb, dir.path());
    let tui = open_logs(&config, dir.path(), &c.name);

    proxy.cut();
    tui.wait_for_within("loss noticed", Duration::from_secs(15), |s| {
        s.contains("edge:") || s.contains("connection lost")
    });
    let before = numbers(&tui.screen()).len();
    let screen = tui.wait_for_within("resumed", Duration::from_secs(30), |s| {
        s.contains("stream resumed after reconnect")
    });
    assert!(screen.contains("follow✓"), "{screen}");
    // Lines keep coming by themselves, and the view follows them.
    let screen = tui.wait_for_within("lines after the resume", Duration::from_secs(30), |s| {
        numbers(s).len() >= before + 30
    });
    let shown = numbers(&screen);
    assert_matches_docker(&shown, &c);
    for w in shown.windows(2) {
        assert_eq!(w[1], w[0] + 1, "no duplicate, no gap: {shown:?}");
    }
}

#[test]
fn tui_follow_resumes_after_the_container_restarts() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-1", "logs-tui-restart", "logstuirestart", COUNTER);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_proxy, config) = via_proxy(&tb, dir.path());
    let tui = open_logs(&config, dir.path(), &c.name);

    let started = c.inspect("{{.State.StartedAt}}");
    tb.docker(&c.host, &["restart", "-t", "1", &c.name]);
    assert_ne!(c.inspect("{{.State.StartedAt}}"), started, "restarted");
    let at_restart = numbers(&tb.docker(&c.host, &["logs", &c.name]))
        .last()
        .copied()
        .unwrap_or(0);
    tui.wait_for_within("resumed", Duration::from_secs(30), |s| {
        s.contains("stream resumed")
    });
    let screen = tui.wait_for_within("lines after the restart", Duration::from_secs(30), |s| {
        numbers(s).last().is_some_and(|n| *n >= at_restart + 30)
    });
    assert!(screen.contains("follow✓"), "{screen}");
    assert_matches_docker(&numbers(&screen), &c);
}
