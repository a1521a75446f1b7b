//! End-to-end: the TUI's Timeline view (6) shows what changed across the
//! fleet: Docker events and flotilla's own audit records, in time order.

mod common;

use common::tmux::Tmux;
use common::{Testbed, run};

#[test]
fn the_timeline_shows_a_restart_from_docker_and_from_the_audit_log() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-2", "tl-e2e", "tlsvc", "sleep 300");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let out = run(tb.verb(&audit, &["restart", &c.name, "--yes"]));
    assert_eq!(out.code, 0, "{}", out.stderr);

    let ui = Tmux::start(
        &format!(
            "exec env FLOTILLA_AUDIT_LOG={} XDG_STATE_HOME={} {} --config {}",
            audit.display(),
            dir.path().display(),
            env!("CARGO_BIN_EXE_flotilla"),
            tb.config().display()
        ),
        160,
        60,
    );
    // Events are read from the hosts connected when the view opens.
    ui.wait_for("the fleet", |s| s.contains("hosts 3/3 up"));
    ui.keys(&["6"]);
    let screen = ui.wait_for("the restart in the timeline", |s| {
        s.contains("Timeline (")
            && s.lines()
                .any(|l| l.contains(&c.name) && l.contains("audit") && l.contains("restart"))
            && s.lines()
                .any(|l| l.contains(&c.name) && l.contains("docker") && l.contains("die"))
    });
    // Docker's die comes before its start, and both before the audit record
    // (written when the restart had finished).
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains(&c.name)).collect();
    let first = |what: &str| rows.iter().position(|l| l.contains(what));
    let last = |what: &str| rows.iter().rposition(|l| l.contains(what));
    // created and started, then the restart: die, start again, and flotilla's record.
    assert!(first("docker die") < last("docker start"), "{screen}");
    assert!(last("docker start") < first("audit"), "{screen}");
}
