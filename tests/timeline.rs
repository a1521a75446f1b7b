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

    let ui = Tmux::flotilla(&tb.config(), &audit, dir.path(), 160, 60);
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

#[test]
fn the_open_timeline_follows_new_events_live() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-1", "tl-live", "tllive", "sleep 300");
    let dir = tempfile::tempdir().expect("tempdir");
    let ui = Tmux::flotilla(
        &tb.config(),
        &dir.path().join("audit.jsonl"),
        dir.path(),
        180,
        60,
    );
    ui.wait_for("the fleet", |s| s.contains("hosts 3/3 up"));
    ui.keys(&["6"]);
    ui.wait_for("the live timeline", |s| s.contains("● live, following"));
    let before = ui.screen();
    assert!(
        !before
            .lines()
            .any(|l| l.contains(&c.name) && l.contains("restart")),
        "no restart yet: {before}"
    );
    // Restarted behind the TUI's back: its events come in without a re-read.
    let restarted = std::time::Instant::now();
    tb.docker("fleet-1", &["restart", "-t", "1", &c.name]);
    let screen = ui.wait_for_within(
        "the restart's events",
        std::time::Duration::from_secs(10),
        |s| {
            let rows: Vec<&str> = s.lines().filter(|l| l.contains(&c.name)).collect();
            rows.iter()
                .any(|l| l.contains("docker") && l.contains("restart"))
                && rows
                    .iter()
                    .any(|l| l.contains("docker") && l.contains("die"))
        },
    );
    eprintln!("appeared {:?} after the restart", restarted.elapsed());
    // Still following: the newest row is selected.
    assert!(screen.contains("● live, following"), "{screen}");
    let last_row = screen
        .lines()
        .rfind(|l| l.contains(" docker ") || l.contains(" audit "))
        .unwrap_or_default();
    assert!(last_row.starts_with('▶'), "{screen}");

    // An image removed behind its back shows up too (image events are followed
    // live, not only when the timeline is read afresh).
    let image = format!("flotilla-test/tl-live:{}", c.name);
    tb.docker("fleet-1", &["commit", &c.name, &image]);
    let id = tb.docker("fleet-1", &["image", "inspect", "-f", "{{.Id}}", &image]);
    tb.docker("fleet-1", &["image", "rm", &image]);
    let short = id
        .trim()
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect::<String>();
    ui.wait_for_within(
        "the image removal",
        std::time::Duration::from_secs(10),
        |s| {
            s.lines()
                .any(|l| l.contains("delete") && l.contains(&short))
        },
    );
}
