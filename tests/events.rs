//! End-to-end: `flotilla events` merges Docker events of several hosts with
//! flotilla's audit records, in time order.

mod common;

use common::{Scratch, Testbed, json, run};

#[test]
fn events_of_two_hosts_and_a_restart_audit_in_time_order() {
    let tb = Testbed::get();
    let service = format!("ev{}", std::process::id());
    let a = Scratch::run(&tb, "fleet-1", "ev-a", &service, "flotilla-test/app:v1");
    let b = Scratch::run(&tb, "fleet-3", "ev-b", &service, "flotilla-test/app:v1");
    for c in [&a, &b] {
        c.wait_for("running", |c| c.inspect("{{.State.Running}}") == "true");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let out = run(tb.verb(&audit, &["restart", &b.name, "--yes"]));
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = run(tb.verb(&audit, &["events", &service, "--since", "2m", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let entries: Vec<serde_json::Value> = out.stdout.lines().map(json).collect();
    let times: Vec<jiff::Timestamp> = entries
        .iter()
        .map(|e| {
            e["time"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("time")
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{entries:#?}");
    assert!(
        entries.iter().all(|e| e["service"] == service.as_str()),
        "only the target: {entries:#?}"
    );
    let has = |host: &str, source: &str, action: &str, name: &str| {
        entries.iter().position(|e| {
            e["host"] == host
                && e["source"] == source
                && e["action"] == action
                && e["container"] == name
                && e["type"] == "container"
        })
    };
    assert!(
        has("fleet-1", "docker", "create", &a.name).is_some(),
        "{entries:#?}"
    );
    assert!(has("fleet-1", "docker", "start", &a.name).is_some());
    assert!(
        has("fleet-3", "docker", "start", &b.name).is_some(),
        "{entries:#?}"
    );
    let restart = has("fleet-3", "audit", "restart", &b.name).expect("audit record");
    assert!(
        entries[restart]["detail"]
            .as_str()
            .is_some_and(|d| d.ends_with(": ok")),
        "{entries:#?}"
    );
    let died = has("fleet-3", "docker", "die", &b.name).expect("the restart's die");
    assert!(
        entries[died]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("exitCode=")),
        "{entries:#?}"
    );
    // Docker's restart event lands before flotilla records the result.
    let restarted = has("fleet-3", "docker", "restart", &b.name).expect("restart event");
    assert!(restarted < restart, "{entries:#?}");

    // Text: host-prefixed lines.
    let out = run(tb.verb(
        &audit,
        &["events", &service, "--since", "2m", "--host", "fleet-3"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.lines().all(|l| l.starts_with("fleet-3 ")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(" audit container restart ") && l.contains(&b.name)),
        "{}",
        out.stdout
    );
}
