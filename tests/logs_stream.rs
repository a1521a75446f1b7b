//! End-to-end: `flotilla logs -n all` streams a large log with bounded memory
//! and prints exactly what `docker logs` does.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Testbed, flotilla};

/// Lines of the big log (about 27 MB with the padding below).
const LINES: u32 = 300_000;
/// Peak RSS allowed for printing it: generous (a debug build), but far below
/// holding the log (the old buffering peaked at ~116 MB for 27 MB).
const MAX_HWM_KB: u64 = 64 * 1024;

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn logs_n_all_streams_a_big_log_in_bounded_memory() {
    let tb = Testbed::get();
    let script = format!(
        "awk 'BEGIN {{ for (i = 0; i < {LINES}; i++) printf \"line %07d %s\\n\", i, \
         \"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\" }}'; \
         echo done; sleep 600"
    );
    let c = tb.run_sh("fleet-1", "logs-big", "logsbig", &script);
    c.wait_for("the whole log", |c| {
        tb.docker(&c.host, &["logs", "--tail", "1", &c.name]).trim() == "done"
    });
    let truth = tb.docker(&c.host, &["logs", &c.name]);
    assert!(truth.len() > 25_000_000, "log is {} bytes", truth.len());

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", &c.name, "-n", "all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn flotilla");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).expect("read stdout");
        out
    });
    // VmHWM is the peak so far: the last reading before exit is the answer.
    let mut hwm = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "flotilla logs -n all took over 2 min"
        );
        if let Some(kb) = vm_hwm_kb(pid) {
            hwm = hwm.max(kb);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = child.wait().expect("wait");
    let out = reader.join().expect("reader");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "{status}: {err}");
    let out = String::from_utf8(out).expect("utf8");
    assert_eq!(out.lines().count(), truth.lines().count());
    assert!(out == truth, "output differs from docker logs");
    assert!(hwm > 0, "never saw the process's VmHWM");
    assert!(
        hwm <= MAX_HWM_KB,
        "peak RSS {hwm} kB for a {} byte log (bound {MAX_HWM_KB} kB)",
        truth.len()
    );
    eprintln!(
        "flotilla logs -n all: {} bytes, peak RSS {hwm} kB",
        out.len()
    );
}

#[test]
fn logs_n_all_merges_two_hosts_completely() {
    let tb = Testbed::get();
    let service = format!("mergeall{}", std::process::id());
    let script = |who: &str| {
        format!("for i in $(seq 1 2000); do echo {who}$i; done; echo {who}-done; sleep 600")
    };
    let a = tb.run_sh("fleet-1", "logs-mall", &service, &script("a"));
    let b = tb.run_sh("fleet-2", "logs-mall", &service, &script("b"));
    for c in [&a, &b] {
        c.wait_for("all lines", |c| {
            tb.docker(&c.host, &["logs", "--tail", "1", &c.name])
                .contains("-done")
        });
    }
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", &service, "-n", "all", "--json"]);
    let out = common::run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> = out.stdout.lines().map(common::json).collect();
    assert_eq!(lines.len(), 2 * 2001);
    let times: Vec<String> = lines
        .iter()
        .map(|l| l["time"].as_str().expect("time").to_owned())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    for who in ["a", "b"] {
        let mine: Vec<&str> = lines
            .iter()
            .filter_map(|l| l["line"].as_str())
            .filter(|l| l.starts_with(who))
            .collect();
        let expected: Vec<String> = (1..=2000)
            .map(|i| format!("{who}{i}"))
            .chain([format!("{who}-done")])
            .collect();
        assert_eq!(mine, expected, "{who}'s own order");
    }
}

#[test]
fn logs_rejects_a_bad_tail() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["logs", "shop-web-1", "-n", "lots"]);
    let out = common::run(cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("all"), "{}", out.stderr);
}
