//! End-to-end: `top` ranks a CPU-burning container first across the fleet,
//! with history, from cgroup counters read over each host's session.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Testbed, json, stdout_lines};

/// A container that keeps one CPU busy for `secs`, then idles; removed on drop.
struct Burner<'a> {
    tb: &'a Testbed,
    host: &'a str,
    name: String,
}

impl<'a> Burner<'a> {
    fn start(tb: &'a Testbed, host: &'a str, secs: u32) -> Burner<'a> {
        let name = format!("top-burner-{}", std::process::id());
        let script = format!(
            "end=$(($(date +%s)+{secs})); while [ $(date +%s) -lt $end ]; do :; done; sleep 600"
        );
        let base = "flotilla-test/base:latest";
        tb.docker(
            host,
            &["run", "-d", "--name", &name, base, "sh", "-c", &script],
        );
        Burner { tb, host, name }
    }
}

impl Drop for Burner<'_> {
    fn drop(&mut self) {
        let _ = self.tb.docker_raw(self.host, &["rm", "-f", &self.name]);
    }
}

#[test]
fn a_cpu_burner_ranks_first_within_two_intervals_with_history() {
    let tb = Testbed::get();
    let burner = Burner::start(&tb, "fleet-2", 60);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let args = ["top", "--watch", "--json", "--interval", "1s", "-n", "5"];
    let mut child = tb
        .verb(&audit, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn top");
    let rx = stdout_lines(&mut child);
    let started = Instant::now();
    let mut frames = Vec::new();
    while frames.len() < 3 && started.elapsed() < Duration::from_secs(30) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            frames.push(json(&line));
        }
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().expect("top ends");
    assert!(status.success(), "top ends cleanly on SIGINT: {status:?}");
    assert_eq!(frames.len(), 3, "a frame per interval: {frames:#?}");
    // The first frame comes after two readings: the burner already leads.
    for (i, f) in frames.iter().enumerate() {
        let first = &f["containers"][0];
        assert_eq!(first["container"], burner.name.as_str(), "frame {i}: {f:#}");
        assert_eq!(first["host"], "fleet-2");
        let cpu = first["cpu_pct"].as_f64().expect("cpu_pct");
        assert!(cpu > 20.0, "frame {i}: a busy loop shows: {cpu}");
        let history = first["history"].as_array().expect("history");
        assert_eq!(history.len(), i + 1, "one point per reading: {first:#}");
        assert!(history.iter().all(|v| v.as_f64().is_some_and(|v| v > 20.0)));
    }
    let hosts: Vec<&str> = frames[2]["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(
        hosts,
        ["fleet-1", "fleet-2", "fleet-3"],
        "each host's own use"
    );
    assert!(frames[2]["hosts"][0]["cpu_pct"].as_f64().is_some());

    // One-shot text, ranked by memory: header, then rows with sparklines.
    let out = tb
        .verb(
            &audit,
            &["top", "--host", "fleet-2", "--sort", "mem", "-n", "3"],
        )
        .output()
        .expect("top");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("fleet-2 cpu "), "{text}");
    assert!(
        lines[1].starts_with("HOST") && lines[1].contains("MEM (LAST HOUR)"),
        "{text}"
    );
    assert_eq!(lines.len(), 5, "-n 3 rows: {text}");
}

#[test]
fn a_bad_sort_key_is_a_usage_error_naming_the_keys() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tb
        .verb(&dir.path().join("a.jsonl"), &["top", "--sort", "disk"])
        .output()
        .expect("top");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cpu, mem, net or io"), "{err}");
}
