//! End-to-end: `flotilla watch --autoheal` restarts only the container that
//! opted in, once per cooldown, audited as `autoheal`, and tells `--exec`.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Scratch, Testbed, flotilla, json, stdout_lines};

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
        .env("XDG_STATE_HOME", dir.path())
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
    let rx = stdout_lines(&mut child);
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

/// One request a test HTTP server received: its head and body.
struct Received {
    head: String,
    body: String,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers 200 to everything and
/// hands each request over the channel; returns its port.
fn http_server() -> (u16, std::sync::mpsc::Receiver<Received>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                // Keep-alive: several requests may come on one connection.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    buf.drain(..end + 4 + len);
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                    if tx.send(Received { head, body }).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn webhook_receives_a_real_finding_with_a_slack_text() {
    let tb = Testbed::get();
    let (port, rx) = http_server();
    let dir = tempfile::tempdir().expect("tempdir");
    // fleet-1 runs the testbed's crash-looping `crasher` (shop-crashloop-1).
    let mut cmd = tb.verb(
        &dir.path().join("audit.jsonl"),
        &[
            "watch",
            "--host",
            "fleet-1",
            "--webhook",
            &format!("http://127.0.0.1:{port}/hook"),
        ],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn watch");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut crash = None;
    while Instant::now() < deadline && crash.is_none() {
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(200)) {
            let body = json(&r.body);
            if body["finding"]["kind"] == "crash_loop" {
                crash = Some((r.head.clone(), body));
            }
            got.push(r.body);
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let (head, body) = crash.unwrap_or_else(|| {
        panic!(
            "no crash-loop POST within 30 s: {got:#?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert_eq!(body["event"], "new");
    assert_eq!(body["finding"]["host"], "fleet-1");
    assert_eq!(body["finding"]["container"], "shop-crashloop-1");
    let text = body["text"].as_str().expect("text");
    assert!(
        text.starts_with(":red_circle: shop-crashloop-1 crash-looping on 1/1 hosts (fleet-1)"),
        "{text}"
    );
    assert!(text.contains(" — flotilla logs shop-crashloop-1"), "{text}");
}

#[test]
fn a_bad_webhook_url_is_a_usage_error_before_anything_is_contacted() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    for (url, says) in [
        (
            "ftp://hooks.example.com/x",
            "must start with https:// or http://",
        ),
        ("localhost:9", "must start with https:// or http://"),
    ] {
        let out = common::run(tb.verb(
            &dir.path().join("audit.jsonl"),
            &["watch", "--webhook", url],
        ));
        assert_eq!(out.code, 2, "{url}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{url}: {}", out.stderr);
    }
}

#[test]
fn a_dead_webhook_never_stops_watch() {
    let tb = Testbed::get();
    // Bound then closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = tb.verb(
        &dir.path().join("audit.jsonl"),
        &[
            "watch",
            "--json",
            "--host",
            "fleet-1",
            "--webhook",
            &format!("http://127.0.0.1:{port}/"),
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn watch");
    let rx = stdout_lines(&mut child);
    let first = rx.recv_timeout(Duration::from_secs(30));
    // Still running after the failed POSTs.
    std::thread::sleep(Duration::from_secs(2));
    let running = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.is_ok(), "a finding was printed; stderr: {stderr}");
    assert!(running, "watch went on; stderr: {stderr}");
    assert!(
        stderr.contains(&format!("webhook http://127.0.0.1:{port}/…"))
            && stderr.contains("not delivered"),
        "{stderr}"
    );
}

/// Whether a process whose command line holds `marker` still runs.
fn running(marker: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn exec_children_are_bounded_capped_and_end_with_watch() {
    let tb = Testbed::get();
    let marker = format!("FLOOD-{}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    // fleet-1's workloads give several findings at once; two run, the rest wait.
    let mut cmd = tb.verb(
        &dir.path().join("audit.jsonl"),
        &[
            "watch",
            "--host",
            "fleet-1",
            "--exec",
            &format!("yes {marker}"),
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn watch");
    let (mut stdout, mut stderr) = (
        child.stdout.take().expect("stdout"),
        child.stderr.take().expect("stderr"),
    );
    // Counted, never kept whole: the defect was an endless stream.
    let count = |r: &mut dyn std::io::Read| {
        let (mut n, mut head, mut buf) = (0usize, Vec::new(), [0u8; 65536]);
        while let Ok(k) = r.read(&mut buf) {
            if k == 0 || n > 64 << 20 {
                break;
            }
            n += k;
            if head.len() < 65536 {
                head.extend_from_slice(&buf[..k]);
            }
        }
        (n, String::from_utf8_lossy(&head).into_owned())
    };
    let out = std::thread::spawn(move || count(&mut stdout));
    let err = std::thread::spawn(move || count(&mut stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running(&marker) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(running(&marker), "--exec started");
    std::thread::sleep(Duration::from_secs(2));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let ended = Instant::now();
    let _ = child.wait();
    let took = ended.elapsed();
    let (out_bytes, out_text) = out.join().expect("stdout reader");
    let (err_bytes, err_text) = err.join().expect("stderr reader");
    std::thread::sleep(Duration::from_millis(300));
    let left = running(&marker);
    if left {
        let _ = std::process::Command::new("pkill")
            .args(["-f", &marker])
            .status();
    }
    assert!(!left, "no --exec child outlives watch; stderr: {err_text}");
    assert!(took < Duration::from_secs(8), "watch ended in {took:?}");
    assert!(
        out_bytes < 16 * 1024 && !out_text.contains(&marker),
        "the child's output never reaches watch's stdout ({out_bytes} bytes): {out_text:.300}"
    );
    assert!(
        err_bytes < 256 * 1024,
        "stderr is capped too: {err_bytes} bytes"
    );
    assert!(
        err_text.contains("killed: watch ended; output (8.0 KiB")
            && err_text.contains(&format!("  | {marker}\n")),
        "the captured head is reported: {err_text:.2000}"
    );
    assert!(
        err_text.contains("waiting notification(s) not run (watch ended)"),
        "at most two ran at once: {err_text:.2000}"
    );
}

#[test]
fn webhooks_still_queued_when_watch_ends_are_counted_not_lost_silently() {
    let tb = Testbed::get();
    // Accepts and never answers: each POST waits its full timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(16) {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = tb.verb(
        &dir.path().join("audit.jsonl"),
        &[
            "watch",
            "--host",
            "fleet-1",
            "--webhook",
            &format!("http://127.0.0.1:{port}/"),
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn watch");
    let rx = stdout_lines(&mut child);
    let first = rx.recv_timeout(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let ended = Instant::now();
    let out = child.wait_with_output().expect("wait");
    let took = ended.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.is_ok(), "a finding was printed; stderr: {stderr}");
    assert!(
        stderr.contains("notification(s) not delivered when watch ended"),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "waited a few seconds to deliver, then ended: {took:?}"
    );
}
