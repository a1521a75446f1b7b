//! End-to-end: `flotilla watch --autoheal` restarts only the container that
//! opted in, once per cooldown, audited as `autoheal`, and tells `--exec`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Scratch, Testbed, flotilla, json};

#[test]
fn autoheal_restarts_only_the_labelled_container_once_per_cooldown() {
    let tb = Testbed::get();
    let id = std::process::id();
    let healed = Scratch::start(
        &tb,
        "fleet-2",
        "heal-yes",
        &format!("healyes{id}"),
        &["--label", "autoheal=true", "flotilla-test/app:broken"],
    );
    let left = Scratch::start(
        &tb,
        "fleet-2",
        "heal-no",
        &format!("healno{id}"),
        &["flotilla-test/app:broken"],
    );
    for c in [&healed, &left] {
        c.wait_for("unhealthy", |c| {
            c.inspect("{{.State.Health.Status}}") == "unhealthy"
        });
    }
    let left_started = left.inspect("{{.State.StartedAt}}");
    let healed_started = healed.inspect("{{.State.StartedAt}}");

    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let sent = dir.path().join("exec.jsonl");
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", &audit)
        .arg("--config")
        .arg(tb.config())
        .args([
            "watch",
            "--autoheal",
            "--json",
            "--host",
            "fleet-2",
            "--exec",
        ])
        .arg(format!("cat >> '{}'", sent.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    // Until the restart, then long enough for the healed container to turn
    // unhealthy again (≈ 6 s) inside its cooldown.
    let mut healed_at: Option<Instant> = None;
    while Instant::now() < deadline {
        if healed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(12)) {
            break;
        }
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("\"event\":\"autoheal\"") {
                healed_at.get_or_insert_with(Instant::now);
            }
            lines.push(line);
        }
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(healed_at.is_some(), "no autoheal event: {lines:#?}");

    let events: Vec<serde_json::Value> = lines.iter().map(|l| json(l)).collect();
    let heals: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "autoheal").collect();
    assert_eq!(heals.len(), 1, "once per cooldown: {events:#?}");
    assert_eq!(heals[0]["finding"]["container"], healed.name.as_str());
    assert_eq!(heals[0]["finding"]["result"], "ok");
    assert!(
        events.iter().any(|e| e["event"] == "new"
            && e["finding"]["kind"] == "unhealthy"
            && e["finding"]["container"] == left.name.as_str()),
        "{events:#?}"
    );

    let records: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap_or_default()
        .lines()
        .map(json)
        .collect();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["user"], "autoheal");
    assert_eq!(records[0]["action"], "restart");
    assert_eq!(records[0]["container"], healed.name.as_str());
    assert_eq!(records[0]["host"], "fleet-2");

    assert_ne!(healed.inspect("{{.State.StartedAt}}"), healed_started);
    assert_eq!(
        left.inspect("{{.State.StartedAt}}"),
        left_started,
        "not labelled: never restarted"
    );
    let sent = std::fs::read_to_string(&sent).unwrap_or_default();
    assert!(
        sent.lines().any(|l| l.contains("\"event\":\"autoheal\"")),
        "--exec got the JSON on stdin: {sent}"
    );
}
