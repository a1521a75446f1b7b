//! End-to-end: container actions headless, with confirmation, read-only and audit.

mod common;

use common::{Scratch, Testbed, flotilla, json, run};

fn audit_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(json)
        .collect()
}

#[test]
fn restart_by_name_restarts_audits_and_reports_json() {
    let tb = Testbed::get();
    let c = Scratch::run(
        &tb,
        "fleet-2",
        "act-restart",
        "actsvc",
        "flotilla-test/app:v1",
    );
    c.wait_for("running", |c| c.inspect("{{.State.Running}}") == "true");
    let started = c.inspect("{{.State.StartedAt}}");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");

    let out = run(tb.verb(&audit, &["restart", &c.name, "--yes", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let results = json(&out.stdout);
    assert_eq!(results[0]["host"], "fleet-2");
    assert_eq!(results[0]["container"], c.name.as_str());
    assert_eq!(results[0]["ok"], true);
    assert_ne!(
        c.inspect("{{.State.StartedAt}}"),
        started,
        "really restarted"
    );

    let records = audit_lines(&audit);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["host"], "fleet-2");
    assert_eq!(records[0]["container"], c.name.as_str());
    assert_eq!(records[0]["action"], "restart");
    assert_eq!(records[0]["result"], "ok");
}

#[test]
fn stop_then_start_by_service_across_hosts() {
    let tb = Testbed::get();
    let service = format!("svc{}", std::process::id());
    let a = Scratch::run(&tb, "fleet-1", "act-svc", &service, "flotilla-test/app:v1");
    let b = Scratch::run(&tb, "fleet-3", "act-svc", &service, "flotilla-test/app:v1");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    for verb in ["stop", "start"] {
        let out = run(tb.verb(&audit, &[verb, &service, "--yes"]));
        assert_eq!(out.code, 0, "{verb}: {}", out.stderr);
        assert!(
            out.stdout
                .contains(&format!("fleet-1  {}  {verb}: ok", a.name)),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains(&format!("fleet-3  {}  {verb}: ok", b.name)),
            "{}",
            out.stdout
        );
        let running = if verb == "stop" { "false" } else { "true" };
        assert_eq!(a.inspect("{{.State.Running}}"), running);
        assert_eq!(b.inspect("{{.State.Running}}"), running);
    }
    assert_eq!(audit_lines(&audit).len(), 4);
}

#[test]
fn refusals_change_nothing() {
    let tb = Testbed::get();
    let c = Scratch::run(
        &tb,
        "fleet-1",
        "act-refuse",
        "refusesvc",
        "flotilla-test/app:v1",
    );
    c.wait_for("running", |c| c.inspect("{{.State.Running}}") == "true");
    let started = c.inspect("{{.State.StartedAt}}");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");

    // No terminal and no --yes: refused.
    let out = run(tb.verb(&audit, &["kill", &c.name]));
    assert_eq!(out.code, 6);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);

    // Read-only: refused even with --yes.
    let out = run(tb.verb(&audit, &["--read-only", "kill", &c.name, "--yes"]));
    assert_eq!(out.code, 6);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);

    // Unknown target: not found.
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", &audit)
        .arg("--config")
        .arg(tb.config())
        .args(["kill", "no-such-container-xyz", "--yes"]);
    assert_eq!(run(cmd).code, 4);

    assert_eq!(c.inspect("{{.State.StartedAt}}"), started);
    assert_eq!(c.inspect("{{.State.Running}}"), "true");
    assert!(
        audit_lines(&audit).is_empty(),
        "nothing audited when nothing ran"
    );
}

#[test]
fn failed_action_is_exit_5_and_audited_as_failure() {
    let tb = Testbed::get();
    let c = Scratch::run(
        &tb,
        "fleet-2",
        "act-fail",
        "failsvc",
        "flotilla-test/app:v1",
    );
    tb.docker("fleet-2", &["stop", "-t", "1", &c.name]);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    // Killing a stopped container fails in Docker.
    let out = run(tb.verb(&audit, &["kill", &c.name, "--yes"]));
    assert_eq!(out.code, 5, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("FAILED"), "{}", out.stdout);
    let records = audit_lines(&audit);
    assert_eq!(records.len(), 1);
    assert_ne!(records[0]["result"], "ok");
}
