//! End-to-end: `flotilla triage` ranks what is broken across the real fleet.

mod common;

use common::{Testbed, flotilla, json, run, write};

#[test]
fn triage_ranks_real_problems_and_exits_7() {
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
    let findings = json(&out.stdout);
    let findings = findings.as_array().expect("array");
    let first = &findings[0];
    assert_eq!(
        (
            first["severity"].as_str(),
            first["kind"].as_str(),
            first["host"].as_str()
        ),
        (Some("critical"), Some("host_down"), Some("gone"))
    );
    let has = |kind: &str, host: &str, name: &str| {
        findings
            .iter()
            .any(|f| f["kind"] == kind && f["host"] == host && f["container"] == name)
    };
    assert!(
        has("crash_loop", "fleet-1", "shop-crashloop-1"),
        "{findings:?}"
    );
    assert!(has("unhealthy", "fleet-1", "shop-sick-1"), "{findings:?}");
    assert!(
        has("exited_non_zero", "fleet-2", "shop-batch-1"),
        "{findings:?}"
    );
    assert!(
        !findings
            .iter()
            .any(|f| f["container"] == "shop-web-1" && f["kind"] != "error_burst"),
        "healthy web is not a problem"
    );
    // Sorted by severity.
    let order = |s: &str| {
        ["critical", "high", "medium", "low"]
            .iter()
            .position(|x| *x == s)
            .unwrap_or(9)
    };
    let sev: Vec<usize> = findings
        .iter()
        .map(|f| order(f["severity"].as_str().unwrap_or("")))
        .collect();
    assert!(sev.windows(2).all(|w| w[0] <= w[1]), "{sev:?}");

    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(&config)
        .args(["triage", "--markdown", "--no-logs"]);
    let out = run(cmd);
    assert_eq!(out.code, 7);
    assert!(
        out.stdout.starts_with("## Incident snapshot"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&format!(
        "- hosts up: {}/{}",
        tb.host_names().len(),
        tb.host_names().len() + 1
    )));
}
