//! End-to-end: `flotilla watch` alerts against the real test fleet, delivered
//! over HTTPS to a local receiver (Python's http.server behind a CA made in
//! the test): every chat format, a refused certificate, a silence that holds
//! then ends, a log rule that fires once per burst, and a restarted watch
//! that announces nothing old. Everything goes to 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver as Lines;
use std::time::{Duration, Instant};

use common::https::Receiver;
use common::{Testbed, flotilla, json, stdout_lines};
use serde_json::Value;

/// The testbed's config plus `extra`, written into `dir`.
fn config_with(tb: &Testbed, dir: &Path, extra: &str) -> PathBuf {
    let base = std::fs::read_to_string(tb.config()).expect("testbed config");
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("{base}\n{extra}")).expect("write config");
    path
}

/// `flotilla watch --json …` with its state (and silences) in `dir`.
fn watch(dir: &Path, config: &Path, args: &[&str]) -> (Child, Lines<String>) {
    let mut child = flotilla()
        .env("XDG_STATE_HOME", dir)
        .env("FLOTILLA_AUDIT_LOG", dir.join("audit.jsonl"))
        .arg("--config")
        .arg(config)
        .args(["watch", "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let rx = stdout_lines(&mut child);
    (child, rx)
}

/// SIGINT, then its stderr; watch must end within 15 s of the one signal.
fn stop(mut child: Child) -> String {
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "watch did not end on SIGINT: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("wait");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Lines until one satisfies `pred` (or `within` passes); all seen so far.
fn until(
    rx: &Lines<String>,
    seen: &mut Vec<Value>,
    within: Duration,
    pred: impl Fn(&Value) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let v = json(&line);
            let hit = pred(&v);
            seen.push(v);
            if hit {
                return true;
            }
        }
    }
    false
}

fn on(v: &Value, event: &str, container: &str) -> bool {
    v["event"] == event && v["container"] == container
}

const CRASHER: &str = "shop-crashloop-1";

#[test]
fn every_format_reaches_a_local_https_receiver_and_discord_edits_the_original_on_resolve() {
    let tb = Testbed::get();
    let rx_https = Receiver::start(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut extra = format!("[alerts]\nca_file = {:?}\n", rx_https.ca_file());
    for (path, format) in [
        ("slack/T0/B0/X", "slack"),
        ("discord/api/webhooks/1/tok", "discord"),
        ("ntfy/ops-alerts", "ntfy"),
        ("teams/workflow", "teams"),
        ("json/hook", "json"),
    ] {
        extra.push_str(&format!(
            "[[alerts.webhook]]\nurl = {:?}\nformat = {format:?}\n",
            rx_https.url(path)
        ));
    }
    let config = config_with(&tb, dir.path(), &extra);
    // Unhealthy after a few seconds; removed later, so it resolves.
    let sick = common::Scratch::start(
        &tb,
        "fleet-1",
        "alertsick",
        &format!("alertsick{}", std::process::id()),
        &["flotilla-test/app:broken"],
    );
    let (child, lines) = watch(dir.path(), &config, &["--host", "fleet-1"]);
    let mut seen = Vec::new();
    let announced = until(&lines, &mut seen, Duration::from_secs(40), |v| {
        on(v, "new", &sick.name) && v["finding"]["kind"] == "unhealthy"
    });
    assert!(announced, "{seen:#?}");
    let first = rx_https.wait_for(5, Duration::from_secs(15));
    let by_path = |prefix: &str| -> Vec<Value> {
        rx_https
            .requests()
            .into_iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with(prefix)))
            .collect()
    };
    let body = |r: &Value| json(r["body"].as_str().unwrap_or("null"));
    // Each webhook has its own queue: wait for the one asked about.
    let crash_of = |prefix: &str, pick: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(b) = by_path(prefix).iter().map(body).find(|b| pick(b)) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix} body about {CRASHER}: {first:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let slack = crash_of("/slack/", &|b| {
        b["text"].as_str().is_some_and(|t| t.contains(CRASHER))
    });
    assert!(
        slack["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(":red_circle:")),
        "{slack}"
    );
    assert_eq!(
        slack["attachments"][0]["blocks"][0]["type"], "section",
        "{slack}"
    );
    assert!(
        slack["attachments"][0]["color"]
            .as_str()
            .is_some_and(|c| c.starts_with('#'))
    );
    let discord = crash_of("/discord/", &|b| {
        b["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.contains(CRASHER))
    });
    assert!(discord["embeds"][0]["color"].is_u64(), "{discord}");
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(
        by_path("/discord/")
            .iter()
            .filter(|r| r["method"] == "POST")
            .all(|r| r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("?wait=true"))),
        "every Discord POST asks for the message id"
    );
    let ntfy = crash_of("/ntfy/", &|b| {
        b["title"].as_str().is_some_and(|t| t.contains(CRASHER))
    });
    assert_eq!(ntfy["topic"], "ops-alerts", "{ntfy}");
    assert!(ntfy["priority"].as_u64().is_some_and(|p| p >= 4), "{ntfy}");
    let teams = crash_of("/teams/", &|b| b.to_string().contains(CRASHER));
    assert_eq!(teams["type"], "message");
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let own = crash_of("/json/", &|b| b["container"] == CRASHER);
    assert_eq!(own["event"], "new");
    assert_eq!(own["finding"]["kind"], "crash_loop");
    assert!(
        own["next"]
            .as_str()
            .is_some_and(|n| n.starts_with("flotilla logs")),
        "{own}"
    );
    for (name, b) in [
        ("slack", &slack),
        ("discord", &discord),
        ("ntfy", &ntfy),
        ("teams", &teams),
        ("json", &own),
    ] {
        println!(
            "--- {name} ---\n{}",
            serde_json::to_string_pretty(b).unwrap_or_default()
        );
    }

    // Gone: resolved, and Discord's opening message is edited in place.
    drop(sick);
    let resolved = until(&lines, &mut seen, Duration::from_secs(30), |v| {
        v["event"] == "resolved"
            && v["container"]
                .as_str()
                .is_some_and(|c| c.starts_with("alertsick"))
    });
    assert!(resolved, "{seen:#?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let patch = loop {
        let p = by_path("/discord/")
            .into_iter()
            .find(|r| r["method"] == "PATCH" && body(r).to_string().contains("alertsick"));
        if p.is_some() || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let patch =
        patch.unwrap_or_else(|| panic!("no PATCH of the opening: {:#?}", by_path("/discord/")));
    assert!(
        patch["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/discord/api/webhooks/1/tok/messages/")),
        "{patch}"
    );
    let edited = body(&patch);
    assert!(
        edited["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Resolved: ")),
        "{edited}"
    );
    let stderr = stop(child);
    assert!(!stderr.contains("not delivered"), "{stderr}");
}

#[test]
fn an_untrusted_certificate_is_refused_with_a_clear_error() {
    let tb = Testbed::get();
    let bad = Receiver::start(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("[alerts]\nca_file = {:?}\n", bad.ca_file());
    let config = config_with(&tb, dir.path(), &extra);
    let url = bad.url("hook");
    let (child, lines) = watch(
        dir.path(),
        &config,
        &["--host", "fleet-1", "--webhook", &url],
    );
    let mut seen = Vec::new();
    let failed = until(&lines, &mut seen, Duration::from_secs(40), |v| {
        v["event"] == "delivery_failed"
    });
    let stderr = stop(child);
    assert!(failed, "{seen:#?}\n{stderr}");
    let report = seen
        .iter()
        .find(|v| v["event"] == "delivery_failed")
        .cloned()
        .unwrap_or_default();
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("invalid peer certificate"), "{error}");
    assert!(
        error.contains("[alerts] ca_file"),
        "says what to do: {error}"
    );
    assert_eq!(
        report["webhook"],
        format!("https://127.0.0.1:{}/…", bad.port()),
        "no secret path"
    );
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(bad.requests().is_empty(), "nothing was sent in the clear");
}

#[test]
fn a_silence_holds_a_finding_back_until_it_ends() {
    let tb = Testbed::get();
    let rx_https = Receiver::start(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[alerts]\nca_file = {:?}\n[[alerts.webhook]]\nurl = {:?}\n",
        rx_https.ca_file(),
        rx_https.url("hook")
    );
    let config = config_with(&tb, dir.path(), &extra);
    let silence = |args: &[&str]| {
        common::run({
            let mut c = flotilla();
            c.env("XDG_STATE_HOME", dir.path())
                .arg("--config")
                .arg(&config)
                .arg("silence")
                .args(args);
            c
        })
    };
    let out = silence(&[CRASHER]);
    assert_eq!(out.code, 2, "a silence needs --for: {}", out.stderr);
    let out = silence(&[CRASHER, "--for", "8s", "--reason", "e2e: known"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with(&format!("silenced {CRASHER} until ")),
        "{}",
        out.stdout
    );
    let listed = silence(&[]);
    assert!(
        listed.stdout.contains(CRASHER) && listed.stdout.contains("e2e: known"),
        "{}",
        listed.stdout
    );
    let set_at = Instant::now();

    let (child, lines) = watch(dir.path(), &config, &["--host", "fleet-1"]);
    let mut seen = Vec::new();
    let printed = until(&lines, &mut seen, Duration::from_secs(30), |v| {
        on(v, "new", CRASHER)
    });
    assert!(printed, "{seen:#?}");
    let line = seen
        .iter()
        .find(|v| on(v, "new", CRASHER))
        .cloned()
        .unwrap_or_default();
    assert!(
        line["silenced"]
            .as_str()
            .is_some_and(|s| s.starts_with("silenced until") && s.ends_with("e2e: known")),
        "printed and marked: {line}"
    );
    let sent = |rx: &Receiver| {
        rx.bodies()
            .iter()
            .any(|b| b["container"] == CRASHER && b["event"] == "new")
    };
    while set_at.elapsed() < Duration::from_secs(7) {
        assert!(!sent(&rx_https), "sent while silenced");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Ended: sent at the next look (at most 5 s later).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !sent(&rx_https) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let stderr = stop(child);
    assert!(sent(&rx_https), "sent once the silence ended: {stderr}");
    let sends = rx_https
        .bodies()
        .iter()
        .filter(|b| b["container"] == CRASHER)
        .count();
    assert_eq!(sends, 1, "sent once");
}

#[test]
fn a_log_rule_fires_once_per_burst_and_again_only_for_new_lines() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = "[[alerts.rule]]\nname = \"fatal\"\nlog = \"re:FATAL|panic\"\n\
                 container = \"alertlog-*\"\nwindow = \"4s\"\nseverity = \"critical\"\n";
    let config = config_with(&tb, dir.path(), extra);
    // Three FATAL lines each time /tmp/burst appears; bounded to ~2 minutes.
    let logger = tb.run_sh(
        "fleet-1",
        "alertlog",
        "alertlog",
        "i=0; while [ $i -lt 600 ]; do if [ -f /tmp/burst ]; then rm /tmp/burst; \
         echo 'FATAL one'; echo 'panic: two'; echo 'FATAL three'; fi; \
         echo 'all fine'; sleep 0.2; i=$((i+1)); done",
    );
    let (child, lines) = watch(dir.path(), &config, &["--host", "fleet-1"]);
    let mut seen = Vec::new();
    // The first look (every host answered) has started the log stream.
    until(&lines, &mut seen, Duration::from_secs(20), |v| {
        v["event"] == "new"
    });
    std::thread::sleep(Duration::from_secs(2));
    let burst = || tb.docker("fleet-1", &["exec", &logger.name, "touch", "/tmp/burst"]);
    let ours =
        |v: &Value, event: &str| on(v, event, &logger.name) && v["finding"]["rule"] == "fatal";

    burst();
    assert!(
        until(&lines, &mut seen, Duration::from_secs(20), |v| ours(
            v, "new"
        )),
        "{seen:#?}"
    );
    let first = seen
        .iter()
        .rev()
        .find(|v| ours(v, "new"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(first["severity"], "critical");
    let evidence: Vec<&str> = first["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        evidence.contains(&"FATAL one") && evidence.contains(&"panic: two"),
        "{first}"
    );
    assert!(
        !evidence.iter().any(|l| l.contains("all fine")),
        "only matching lines: {first}"
    );
    assert!(
        until(&lines, &mut seen, Duration::from_secs(20), |v| ours(
            v, "resolved"
        )),
        "{seen:#?}"
    );
    assert_eq!(
        seen.iter().filter(|v| ours(v, "new")).count(),
        1,
        "one burst, one alert"
    );

    // Quiet lines alone never fire; a new burst does.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(seen.iter().filter(|v| ours(v, "new")).count(), 1);
    burst();
    assert!(
        until(&lines, &mut seen, Duration::from_secs(20), |v| ours(
            v, "new"
        )),
        "{seen:#?}"
    );
    let stderr = stop(child);
    let news = seen.iter().filter(|v| ours(v, "new")).count();
    assert_eq!(news, 2, "{seen:#?}\n{stderr}");
}

#[test]
fn a_restarted_watch_with_its_state_announces_nothing_old() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tb.config();
    let state = dir.path().join("watch.json");
    let state_arg = state.to_string_lossy().into_owned();
    let args = ["--host", "fleet-1", "--state", state_arg.as_str()];
    let (child, lines) = watch(dir.path(), &config, &args);
    let mut seen = Vec::new();
    assert!(
        until(&lines, &mut seen, Duration::from_secs(30), |v| on(
            v, "new", CRASHER
        )),
        "{seen:#?}"
    );
    stop(child);
    let saved = json(&std::fs::read_to_string(&state).expect("state written"));
    assert!(
        saved["open"]
            .as_object()
            .is_some_and(|o| o.keys().any(|k| k.contains(CRASHER))),
        "{saved}"
    );

    let (child, lines) = watch(dir.path(), &config, &args);
    let mut again = Vec::new();
    until(&lines, &mut again, Duration::from_secs(10), |_| false);
    let stderr = stop(child);
    assert!(
        stderr.contains("announced before this watch started still hold and are not repeated"),
        "says why it is quiet: {stderr}"
    );
    assert!(
        !again.iter().any(|v| on(v, "new", CRASHER)),
        "announced again after a restart: {again:#?}"
    );
}
