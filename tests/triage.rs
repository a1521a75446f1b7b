//! End-to-end: `flotilla triage` groups what is broken across the real fleet,
//! with the evidence that explains it.

mod common;

use common::{Scratch, Testbed, flotilla, json, run, write};

fn groups(out: &str) -> Vec<serde_json::Value> {
    json(out).as_array().cloned().expect("an array of findings")
}

fn find<'a>(groups: &'a [serde_json::Value], kind: &str, service: &str) -> &'a serde_json::Value {
    groups
        .iter()
        .find(|g| g["kind"] == kind && g["service"] == service)
        .unwrap_or_else(|| panic!("no {kind} group for {service}: {groups:#?}"))
}

fn evidence(g: &serde_json::Value) -> String {
    g["evidence"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn triage_groups_real_problems_with_evidence_and_exits_7() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    // The fleet plus a host whose sshd is not there.
    let ssh = std::fs::read_to_string(tb.ssh_config()).expect("ssh_config");
    let ssh =
        format!("{ssh}\nHost gone\n  HostName 127.0.10.252\n  User root\n  ConnectTimeout 3\n");
    let ssh_path = write(dir.path(), "ssh_config", &ssh);
    let mut toml = format!("ssh_config = \"{}\"\n", ssh_path.display());
    for h in tb.host_names().iter().map(String::as_str).chain(["gone"]) {
        toml.push_str(&format!("[[host]]\nname = \"{h}\"\naddress = \"{h}\"\n"));
    }
    let config = write(dir.path(), "flotilla.toml", &toml);

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(&config)
        .args(["triage", "--json", "--window", "2m"]);
    let out = run(cmd);
    assert_eq!(out.code, 7, "{}", out.stderr);
    let all = groups(&out.stdout);
    assert_eq!(all[0]["severity"], "critical", "{all:#?}");

    let down = all
        .iter()
        .find(|g| g["kind"] == "host_down")
        .expect("host_down group");
    assert_eq!(down["severity"], "critical");
    assert_eq!(down["hosts"], serde_json::json!(["gone"]));
    assert!(evidence(down).starts_with("gone: "), "{down:#}");
    assert!(down["since"].is_string(), "{down:#}");

    // The crash loop: one group for every host running it, its FATAL line cited.
    let crash = find(&all, "crash_loop", "crashloop");
    assert_eq!(crash["severity"], "high");
    let hosts: Vec<&str> = crash["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h.as_str())
        .collect();
    assert!(hosts.contains(&"fleet-1"), "{crash:#}");
    assert_eq!(
        crash["containers"].as_array().map(Vec::len),
        Some(hosts.len())
    );
    assert_eq!(crash["containers"][0]["name"], "shop-crashloop-1");
    let text = evidence(crash);
    assert!(
        text.contains("shop-crashloop-1: exit code 1, OOMKilled no"),
        "{text}"
    );
    assert!(
        text.contains("] FATAL crasher: cannot open /etc/crasher.conf"),
        "{text}"
    );
    assert!(text.contains("[stderr "), "{text}");
    assert!(crash["since"].is_string());
    assert!(
        crash["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("crashloop crash-looping on ")),
        "{crash:#}"
    );
    assert!(
        crash["suggestion"]
            .as_str()
            .is_some_and(|s| s.starts_with("flotilla logs crashloop")),
        "{crash:#}"
    );

    // Unhealthy: the health check's own output and exit code.
    let sick = find(&all, "unhealthy", "sick");
    assert_eq!(sick["hosts"], serde_json::json!(["fleet-1"]));
    let text = evidence(sick);
    assert!(
        text.contains("exit 1: GET /health 503: database unreachable"),
        "{text}"
    );
    assert!(sick["since"].is_string());

    // Exited non-zero: one group across hosts, stderr cited.
    let batch = find(&all, "exited_non_zero", "batch");
    assert_eq!(
        batch["hosts"].as_array().map(Vec::len),
        Some(tb.host_names().len())
    );
    assert!(
        evidence(batch).contains("] batch: ERROR migration 0042 failed"),
        "{batch:#}"
    );
    assert!(
        batch["summary"]
            .as_str()
            .is_some_and(|s| s.contains("(exit 3)")),
        "{batch:#}"
    );

    // Healthy web is only ever an error burst or its known image drift.
    assert!(
        all.iter().all(|g| g["service"] != "web"
            || g["kind"] == "error_burst"
            || g["kind"] == "image_drift"),
        "{all:#?}"
    );
    // Each (kind, service) once.
    let mut keys: Vec<String> = all
        .iter()
        .map(|g| format!("{}/{}", g["kind"], g["service"]))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "grouped: {all:#?}");
    // Sorted by severity.
    let order = |s: &str| {
        ["critical", "high", "medium", "low"]
            .iter()
            .position(|x| *x == s)
            .unwrap_or(9)
    };
    let sev: Vec<usize> = all
        .iter()
        .map(|f| order(f["severity"].as_str().unwrap_or("")))
        .collect();
    assert!(sev.windows(2).all(|w| w[0] <= w[1]), "{sev:?}");
}

#[test]
fn a_fatal_exit_and_a_crash_loop_show_up_grouped_with_their_last_lines() {
    let tb = Testbed::get();
    let id = std::process::id();
    let fatal = format!("fatal{id}");
    let looping = format!("loop{id}");
    let script = "echo 'starting worker'; echo 'FATAL: config /etc/app.toml missing' >&2; exit 4";
    let a = tb.run_sh("fleet-1", "tri-fatal", &fatal, script);
    let b = tb.run_sh("fleet-2", "tri-fatal", &fatal, script);
    let crash = Scratch::start(
        &tb,
        "fleet-2",
        "tri-loop",
        &looping,
        &[
            "--restart",
            "always",
            "flotilla-test/base:latest",
            "sh",
            "-c",
            "echo 'FATAL: cannot bind :8080' >&2; exit 2",
        ],
    );
    for c in [&a, &b] {
        c.wait_for("exited", |c| c.inspect("{{.State.Status}}") == "exited");
    }
    crash.wait_for("3 restarts", |c| {
        c.inspect("{{.RestartCount}}")
            .parse::<u32>()
            .is_ok_and(|n| n >= 3)
    });

    let mut cmd = flotilla();
    cmd.arg("--config").arg(tb.config()).args([
        "triage",
        "--json",
        "--no-logs",
        "--host",
        "fleet-1",
        "--host",
        "fleet-2",
    ]);
    let out = run(cmd);
    assert_eq!(out.code, 7, "{}", out.stderr);
    let all = groups(&out.stdout);

    let g = find(&all, "exited_non_zero", &fatal);
    assert_eq!(g["hosts"], serde_json::json!(["fleet-1", "fleet-2"]));
    let names: Vec<&str> = g["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&a.name.as_str()) && names.contains(&b.name.as_str()));
    assert!(
        g["containers"][0]["id"]
            .as_str()
            .is_some_and(|id| id.len() == 64)
    );
    let text = evidence(g);
    assert!(
        text.contains(&format!(
            "fleet-1 {}: exit code 4, OOMKilled no, 0 restarts",
            a.name
        )),
        "{text}"
    );
    assert!(
        text.contains("] FATAL: config /etc/app.toml missing"),
        "{text}"
    );
    assert!(text.contains("[stderr "), "stderr first: {text}");
    assert!(text.contains("] starting worker"), "stdout tops up: {text}");
    let since: jiff::Timestamp = g["since"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("since");
    let finished: jiff::Timestamp = a
        .inspect("{{.State.FinishedAt}}")
        .parse()
        .expect("FinishedAt");
    assert!(since <= finished, "{since} > {finished}");
    assert!(
        g["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with(&format!(
                "{fatal} exited non-zero on 2/2 hosts (fleet-1 fleet-2) (exit 4) since "
            ))),
        "{g:#}"
    );
    assert_eq!(g["suggestion"], format!("flotilla logs {fatal} -n 50 -t"));

    let l = find(&all, "crash_loop", &looping);
    assert_eq!(l["hosts"], serde_json::json!(["fleet-2"]));
    let text = evidence(l);
    assert!(text.contains("exit code 2"), "{text}");
    assert!(text.contains("] FATAL: cannot bind :8080"), "{text}");

    // --per-container: one finding per container, each named.
    let mut cmd = flotilla();
    cmd.arg("--config").arg(tb.config()).args([
        "triage",
        "--json",
        "--no-logs",
        "--per-container",
        "--lines",
        "1",
        "--host",
        "fleet-1",
        "--host",
        "fleet-2",
    ]);
    let out = run(cmd);
    assert_eq!(out.code, 7, "{}", out.stderr);
    let each: Vec<serde_json::Value> = groups(&out.stdout)
        .into_iter()
        .filter(|g| g["kind"] == "exited_non_zero" && g["service"] == fatal.as_str())
        .collect();
    assert_eq!(each.len(), 2, "{each:#?}");
    for g in &each {
        let text = evidence(g);
        assert_eq!(text.lines().count(), 2, "facts and one line: {text}");
        assert!(text.contains("FATAL: config"), "{text}");
    }

    // The text form shows the same, indented under each finding.
    let mut cmd = flotilla();
    cmd.arg("--config").arg(tb.config()).args([
        "triage",
        "--no-logs",
        "--host",
        "fleet-1",
        "--host",
        "fleet-2",
    ]);
    let out = run(cmd);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "MEDIUM    {fatal} exited non-zero on 2/2 hosts (fleet-1 fleet-2) (exit 4)"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("→ flotilla logs {fatal} -n 50 -t")),
        "{}",
        out.stdout
    );
}

#[test]
fn the_markdown_snapshot_carries_evidence_timeline_audit_and_vitals() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let out = run(tb.verb(
        &audit,
        &["triage", "--markdown", "--no-logs", "--window", "30m"],
    ));
    assert_eq!(out.code, 7, "{}", out.stderr);
    let md = &out.stdout;
    assert!(md.starts_with("## Incident snapshot"), "{md}");
    assert!(md.contains(&format!(
        "- hosts up: {}/{}",
        tb.host_names().len(),
        tb.host_names().len()
    )));
    assert!(md.contains("### HIGH crashloop crash-looping on "), "{md}");
    assert!(
        md.contains("] FATAL crasher: cannot open /etc/crasher.conf"),
        "{md}"
    );
    assert!(md.contains("```text\n"), "{md}");
    assert!(md.contains("Next: `flotilla logs crashloop"), "{md}");
    assert!(md.contains("exit 1: GET /health 503: database unreachable"));
    assert!(md.contains("### Timeline (last 30m)"));
    assert!(
        md.contains(" docker container die shop-crashloop-1"),
        "{md}"
    );
    assert!(
        md.contains("### Recent flotilla actions\n\nNone recorded."),
        "{md}"
    );
    assert!(md.contains("### Host vitals"));
    for h in tb.host_names() {
        assert!(
            md.lines()
                .any(|l| l.starts_with(&format!("| {h} | ")) && l.contains("/data |")),
            "a vitals row for {h}: {md}"
        );
    }
}

#[test]
fn health_output_and_labels_reach_triage_cleaned_and_masked() {
    let tb = Testbed::get();
    let service = format!("evil{}<!channel>@here", std::process::id());
    let check = r"printf 'first line\n\033]0;TITLE\007\033[2Jfailing password: hunter9 Authorization: Bearer tok9\n'; exit 1";
    let sick = Scratch::start(
        &tb,
        "fleet-1",
        "tri-evil",
        &service,
        &[
            "--health-cmd",
            check,
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "flotilla-test/base:latest",
            "sleep",
            "600",
        ],
    );
    sick.wait_for("unhealthy", |c| {
        c.inspect("{{.State.Health.Status}}") == "unhealthy"
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    for format in [&[][..], &["--json"][..], &["--markdown"][..]] {
        let mut args = vec!["triage", "--no-logs", "--host", "fleet-1"];
        args.extend_from_slice(format);
        let out = run(tb.verb(&audit, &args));
        assert_eq!(out.code, 7, "{args:?}: {}", out.stderr);
        let text = &out.stdout;
        assert!(
            !text.contains('\x1b') && !text.contains("u001b") && !text.contains("TITLE"),
            "{args:?} passed a terminal escape through: {text:?}"
        );
        assert!(
            !text.contains("hunter9") && !text.contains("tok9"),
            "{args:?} leaked a secret: {text}"
        );
        assert!(
            text.contains("failing password: •••••• Authorization: Bearer ••••••"),
            "{args:?} shows the check's output: {text}"
        );
    }
    let md = run(tb.verb(
        &audit,
        &["triage", "--markdown", "--no-logs", "--host", "fleet-1"],
    ))
    .stdout;
    assert!(
        md.contains(&format!(
            "### HIGH evil{}&lt;!channel&gt;@\u{200B}here ",
            std::process::id()
        )),
        "the heading names the service inertly: {md}"
    );
}

/// Waits (bounded) until a web container has logged `n` ERROR lines in the
/// last 5 minutes: one comes every ~20 s, so a fleet started
/// moments ago has no burst yet.
fn wait_for_web_errors(tb: &Testbed, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let most = tb
            .host_names()
            .iter()
            .map(|h| {
                let out = std::process::Command::new("docker")
                    .arg("-H")
                    .arg(format!("unix://{}", tb.socket(h).display()))
                    .args(["logs", "--since", "5m", "shop-web-1"])
                    .output()
                    .expect("docker logs");
                String::from_utf8_lossy(&out.stderr)
                    .matches("ERROR")
                    .count()
            })
            .max()
            .unwrap_or(0);
        if most >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "web logged only {most} ERROR lines in 5 minutes"
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

#[test]
fn the_tuis_s_writes_the_grouped_snapshot_with_evidence() {
    let tb = Testbed::get();
    wait_for_web_errors(&tb, 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let ui = common::tmux::Tmux::flotilla(&tb.config(), &audit, dir.path(), 160, 50);
    ui.wait_for("the fleet", |s| s.contains("hosts 3/3 up"));
    ui.keys(&["5"]);
    // Every host listed (a host is "up" before its first list arrives).
    ui.wait_for("the crash loop in Triage", |s| {
        s.contains("crashloop crash-looping on 2/3 hosts")
    });
    ui.keys(&["S"]);
    let screen = ui.wait_for("the snapshot written", |s| {
        s.contains("incident snapshot: ")
    });
    let written: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    let [md] = written.as_slice() else {
        panic!("one snapshot file expected: {written:?}\n{screen}");
    };
    let md = std::fs::read_to_string(md).expect("read snapshot");
    // The grouped snapshot, with the crasher's evidence, not the short table.
    assert!(md.contains("### HIGH crashloop crash-looping on "), "{md}");
    assert!(
        md.contains("] FATAL crasher: cannot open /etc/crasher.conf"),
        "{md}"
    );
    assert!(md.contains("exit 1"), "{md}");
    assert!(md.contains("Next: `flotilla logs crashloop"), "{md}");
    // Like `triage --markdown`'s defaults: a 5m window, error bursts scanned
    // (the testbed's web logs an ERROR line every 20 s).
    assert!(md.contains("### Timeline (last 5m)"), "{md}");
    assert!(md.contains("### MEDIUM web logging errors on "), "{md}");
    assert!(
        md.contains(" docker container die shop-crashloop-1"),
        "{md}"
    );
    assert!(md.contains("### Host vitals"), "{md}");
    let json =
        std::fs::read_to_string(written[0].with_extension("json")).expect("the JSON beside it");
    assert!(json.contains("\"evidence\""), "{json}");
}
