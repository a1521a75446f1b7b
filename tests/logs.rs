//! End-to-end: `flotilla logs` against real containers: sanitized, merged by
//! time across hosts, filtered, JSON.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::proxy::TcpProxy;
use common::{Testbed, flotilla, json, run, write};

#[test]
fn escape_sequences_never_reach_the_output() {
    let tb = Testbed::get();
    let c = tb.run_sh(
        "fleet-1",
        "logs-esc",
        "logsesc",
        r#"printf 'hello \033]0;pwned\007world\033[2J\n'; printf '\033[31mred\033[0m\n'; echo oops >&2; sleep 600"#,
    );
    c.wait_for("output", |c| {
        tb.docker(&c.host, &["logs", &c.name]).contains("red")
    });
    let mut cmd = flotilla();
    cmd.arg("--config").arg(tb.config()).args(["logs", &c.name]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // stdout and stderr interleave by Docker's own timestamps, so compare as a set.
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["hello world", "oops", "red"]);
    assert!(!out.stdout.contains('\x1b'));

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", &c.name, "--json", "--grep", "oops"]);
    let out = run(cmd);
    let line = json(out.stdout.trim());
    assert_eq!(line["stream"], "stderr");
    assert_eq!(line["host"], "fleet-1");
    assert_eq!(line["container"], c.name.as_str());
    assert!(line["time"].as_str().expect("time").ends_with('Z'));
}

#[test]
fn a_service_is_merged_across_hosts_in_time_order() {
    let tb = Testbed::get();
    let service = format!("merge{}", std::process::id());
    // Both start writing at the same wall-clock second (hosts share this
    // machine's clock), alternating every 250 ms, so a merge must interleave.
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3;
    let script = |offset: &str, first: u32, letter: char| {
        format!(
            "while [ $(date +%s) -lt {at} ]; do sleep 0.05; done; sleep {offset}; \
             for i in {} {} {}; do echo {letter}$i; sleep 0.5; done; sleep 600",
            first,
            first + 2,
            first + 4
        )
    };
    let a = tb.run_sh("fleet-1", "logs-merge", &service, &script("0", 1, 'a'));
    let b = tb.run_sh("fleet-2", "logs-merge", &service, &script("0.25", 2, 'b'));
    b.wait_for("all lines", |c| {
        tb.docker(&c.host, &["logs", &c.name]).contains("b6")
    });
    a.wait_for("all lines", |c| {
        tb.docker(&c.host, &["logs", &c.name]).contains("a5")
    });

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", &service]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bodies: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.rsplit(" | ").next().unwrap_or(l))
        .collect();
    // The order Docker's own timestamps give (a loaded machine may shift a
    // container's 0.25 s offset, so the interleaving is read, not assumed).
    let mut stamped: Vec<(jiff::Timestamp, String)> = [(&a, "fleet-1"), (&b, "fleet-2")]
        .iter()
        .flat_map(|(c, host)| {
            tb.docker(host, &["logs", "-t", &c.name])
                .lines()
                .filter_map(|l| {
                    let (ts, body) = l.split_once(' ')?;
                    Some((ts.parse().ok()?, body.to_owned()))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    stamped.sort();
    let expected: Vec<&str> = stamped.iter().map(|(_, body)| body.as_str()).collect();
    assert_eq!(expected.len(), 6, "{stamped:?}");
    assert_eq!(bodies, expected, "{}", out.stdout);
    assert!(
        out.stdout.starts_with(&format!("fleet-1 {} | a1", a.name)),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_target_is_exit_4() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", "no-such-thing-here"]);
    let out = run(cmd);
    assert_eq!(out.code, 4);
    assert!(out.stderr.contains("no-such-thing-here"));
}

#[test]
fn bidi_controls_never_reach_the_output_and_json_times_keep_nanoseconds() {
    let tb = Testbed::get();
    // U+202E (E2 80 AE) and U+2066 (E2 81 A6) around plain text; then a burst
    // of lines that land within the same millisecond.
    let c = tb.run_sh(
        "fleet-1",
        "logs-bidi",
        "logsbidi",
        r"printf 'evil \342\200\256gnp.exe\342\201\246 end\n'; for i in 1 2 3 4 5 6 7 8; do echo burst$i; done; sleep 600",
    );
    c.wait_for("output", |c| {
        tb.docker(&c.host, &["logs", &c.name]).contains("burst8")
    });
    let mut cmd = flotilla();
    cmd.arg("--config").arg(tb.config()).args(["logs", &c.name]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().next(), Some("evil gnp.exe end"));
    for bidi in ['\u{202E}', '\u{2066}'] {
        assert!(!out.stdout.contains(bidi), "{:?}", out.stdout);
    }

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", &c.name, "--json", "--grep", "burst"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<serde_json::Value> = out.stdout.lines().map(json).collect();
    let lines: Vec<&str> = rows.iter().filter_map(|r| r["line"].as_str()).collect();
    assert_eq!(
        lines,
        (1..=8).map(|i| format!("burst{i}")).collect::<Vec<_>>(),
        "Docker order kept"
    );
    let times: Vec<&str> = rows.iter().filter_map(|r| r["time"].as_str()).collect();
    for t in &times {
        // 2026-01-01T00:00:00.123456789Z: nine fractional digits.
        let frac = t
            .split_once('.')
            .map(|(_, f)| f.trim_end_matches('Z'))
            .unwrap_or_default();
        assert_eq!(frac.len(), 9, "{t}");
    }
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn a_megabyte_line_comes_back_byte_exact_and_longer_lines_are_cut_visibly() {
    let tb = Testbed::get();
    // Docker logs this 1 MiB line as 64 partial messages of 16 KiB.
    let c = tb.run_sh(
        "fleet-1",
        "logs-long",
        "logslong",
        "echo before; head -c 1048576 /dev/zero | tr '\\0' a; echo; echo after; sleep 600",
    );
    c.wait_for("output", |c| {
        tb.docker(&c.host, &["logs", &c.name]).contains("after")
    });
    let mut cmd = flotilla();
    cmd.arg("--config").arg(tb.config()).args(["logs", &c.name]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "one line, not pieces");
    assert_eq!((lines[0], lines[2]), ("before", "after"));
    assert_eq!(lines[1].len(), 1_048_576);
    assert!(lines[1].bytes().all(|b| b == b'a'), "no timestamps inside");

    // With -t the line carries one timestamp, its first piece's.
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", "-t", &c.name]);
    let out = run(cmd);
    let long = out.stdout.lines().nth(1).expect("long line");
    let (ts, text) = long.split_once(' ').expect("timestamp");
    assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    assert_eq!(text.len(), 1_048_576);

    // Above the configured cap: cut, and it says so.
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::read_to_string(tb.config()).expect("inventory");
    let config = write(
        dir.path(),
        "flotilla.toml",
        &format!("{base}\n[logs]\nmax_line_bytes = 100000\n"),
    );
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["logs", &c.name]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "{}",
        &out.stdout[..out.stdout.len().min(300)]
    );
    let marker = format!(" … [line cut: {} bytes dropped]", 1_048_576 - 100_000);
    assert!(lines[1].ends_with(&marker), "{}", &lines[1][99_990..]);
    assert_eq!(lines[1].len(), 100_000 + marker.len());
}

/// Collects a child's output lines as they arrive.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn read(from: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { return };
                sink.0.lock().expect("lines").push(line);
            }
        });
        lines
    }

    fn get(&self) -> Vec<String> {
        self.0.lock().expect("lines").clone()
    }

    fn wait_for(&self, what: &str, timeout: Duration, check: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !check(&self.get()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; got {:?}",
                self.get()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Numbers of the `nN` lines a counter container printed.
fn numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix('n').and_then(|n| n.parse().ok()))
        .collect()
}

/// Asserts `ns` counts up by one: nothing twice, nothing missing.
fn assert_continuous(ns: &[u64]) {
    assert!(!ns.is_empty());
    for w in ns.windows(2) {
        assert_eq!(w[1], w[0] + 1, "duplicate or gap in {ns:?}");
    }
}

const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.1; done";

/// A proxy in front of fleet-1's sshd and a one-host inventory through it.
fn via_proxy(tb: &Testbed, dir: &std::path::Path) -> (TcpProxy, std::path::PathBuf) {
    tb.through_proxy(dir, "edge", "fleet-1", Duration::ZERO, &[])
}

fn follow(config: &std::path::Path, extra: &[&str], name: &str) -> (Child, Lines, Lines) {
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(config)
        .args(["logs", "-f", "-n", "3"])
        .args(extra)
        .arg(name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn flotilla logs -f");
    let out = Lines::read(child.stdout.take().expect("stdout"));
    let err = Lines::read(child.stderr.take().expect("stderr"));
    (child, out, err)
}

#[test]
fn follow_resumes_after_the_session_drops_without_duplicates_or_gaps() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-1", "logs-resume", "logsresume", COUNTER);
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, config) = via_proxy(&tb, dir.path());
    let (mut child, out, err) = follow(&config, &[], &c.name);
    out.wait_for("lines", Duration::from_secs(30), |l| numbers(l).len() >= 10);
    proxy.cut();
    err.wait_for("loss notice", Duration::from_secs(10), |l| {
        l.iter().any(|l| l.contains("edge: connection lost"))
    });
    let before = numbers(&out.get()).len();
    err.wait_for("resume notice", Duration::from_secs(30), |l| {
        l.iter().any(|l| l.contains("edge: resumed"))
    });
    // A few seconds of lines after the resume, then the whole run is checked.
    out.wait_for("lines after resume", Duration::from_secs(30), |l| {
        numbers(l).len() >= before + 30
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_continuous(&numbers(&out.get()));
}

#[test]
fn follow_gives_up_with_exit_3_when_the_host_stays_dark() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-1", "logs-dark", "logsdark", COUNTER);
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, config) = via_proxy(&tb, dir.path());
    let (mut child, out, err) = follow(&config, &["--reconnect-timeout", "4s"], &c.name);
    out.wait_for("lines", Duration::from_secs(30), |l| numbers(l).len() >= 5);
    proxy.set_blackhole(true);
    let cut_at = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if cut_at.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            panic!(
                "still running 40 s after the host went dark: {:?}",
                err.get()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(3), "{:?}", err.get());
    assert!(
        cut_at.elapsed() >= Duration::from_secs(4),
        "waited the budget"
    );
    err.wait_for("give-up message", Duration::from_secs(5), |l| {
        l.iter()
            .any(|l| l.contains("edge") && l.contains("did not come back within 4s"))
    });
    assert_continuous(&numbers(&out.get()));
}
