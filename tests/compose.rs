//! End-to-end: real Compose projects (docker-compose v1) on two test hosts;
//! flotilla knows them and shows where a host differs from its file.

mod common;

use common::compose::{Project, one_service};
use common::{Testbed, json, run};

/// The testbed inventory plus `[service.capp]` on fleet-1 and fleet-2.
fn config(tb: &Testbed, dir: &std::path::Path, project: &str) -> std::path::PathBuf {
    let base = std::fs::read_to_string(tb.config()).expect("testbed config");
    let path = dir.join("flotilla.toml");
    std::fs::write(
        &path,
        format!(
            "{base}\n[service.capp]\nhosts = [\"fleet-1\", \"fleet-2\"]\n\
             compose = {{ project = \"{project}\", service = \"capp\" }}\n"
        ),
    )
    .expect("write config");
    path
}

#[test]
fn status_and_triage_show_a_host_whose_file_differs_from_what_runs() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("cdemo{}", std::process::id());
    let projects: Vec<Project> = ["fleet-1", "fleet-2"]
        .iter()
        .map(|h| {
            Project::up(
                &tb,
                h,
                &name,
                &dir.path().join(h).join(&name),
                &one_service("flotilla-test/app:v1"),
            )
        })
        .collect();
    let cfg = config(&tb, dir.path(), &name);
    let audit = dir.path().join("audit.jsonl");
    let verb = |args: &[&str]| {
        let mut cmd = common::flotilla();
        cmd.env("FLOTILLA_AUDIT_LOG", &audit)
            .arg("--config")
            .arg(&cfg)
            .args(args);
        run(cmd)
    };

    // ps names the project of each container.
    let ps = verb(&["ps", "--json", "--host", "fleet-1"]);
    let rows = json(&ps.stdout);
    let row = rows
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|c| c["name"] == projects[0].container("capp").as_str())
        })
        .unwrap_or_else(|| panic!("{} in ps: {}", projects[0].container("capp"), ps.stdout));
    assert_eq!(row["compose"]["project"], name.as_str());
    assert_eq!(row["compose"]["service"], "capp");
    assert_eq!(
        row["compose"]["working_dir"],
        projects[0].dir.to_string_lossy().as_ref()
    );

    // In step with the files: no drift.
    let status = verb(&["status", "capp", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let s = json(&status.stdout);
    for h in s["hosts"].as_array().expect("hosts") {
        assert_eq!(h["compose"]["project"], name.as_str(), "{h}");
        assert_eq!(h["compose"]["tool"], "standalone", "{h}");
        assert_eq!(h["compose"]["drift"], serde_json::json!([]), "{h}");
    }

    // fleet-2's file is edited by hand: drift there, and only there.
    projects[1].write(&one_service("flotilla-test/app:v2"));
    let text = verb(&["status", "capp"]).stdout;
    let says = format!(
        "fleet-2: compose drift: {} file says flotilla-test/app:v2, running flotilla-test/app:v1",
        projects[1].container("capp")
    );
    assert!(text.contains(&says), "{text}");
    assert!(!text.contains("fleet-1: compose drift"), "{text}");
    assert!(
        text.contains(&format!(
            "fleet-1: compose project {name} in {} (docker-compose.yml), read with docker-compose",
            projects[0].dir.display()
        )),
        "{text}"
    );

    let triage = verb(&[
        "triage",
        "--json",
        "--no-logs",
        "--host",
        "fleet-1",
        "--host",
        "fleet-2",
    ]);
    let groups = json(&triage.stdout);
    let drift: Vec<&serde_json::Value> = groups
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["kind"] == "compose_drift")
        .collect();
    assert_eq!(drift.len(), 1, "{groups:#}");
    assert_eq!(drift[0]["severity"], "low");
    assert_eq!(drift[0]["hosts"], serde_json::json!(["fleet-2"]));
    assert!(
        drift[0]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with(
                "capp compose drift on 1/2 hosts (fleet-2): file says flotilla-test/app:v2, running flotilla-test/app:v1"
            )),
        "{:#}",
        drift[0]
    );

    // What Compose itself does next agrees: `up -d` recreates it from the file.
    projects[1].compose(&["up", "-d"]);
    let after = json(&verb(&["status", "capp", "--json"]).stdout);
    for h in after["hosts"].as_array().expect("hosts") {
        assert_eq!(h["compose"]["drift"], serde_json::json!([]), "{h}");
    }
}
