//! End-to-end: `ps` does not depend on the remembered Docker API versions
//! being right: a corrupt or stale file only costs a renegotiation.

mod common;

use common::{Testbed, flotilla, run};

fn ps(tb: &Testbed, versions: &std::path::Path) -> common::Outcome {
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_API_VERSIONS", versions)
        .arg("--config")
        .arg(tb.config())
        .args(["ps", "-a"]);
    run(cmd)
}

fn keys(tb: &Testbed) -> Vec<String> {
    tb.host_names()
        .iter()
        .map(|h| tb.api_key(h, "/var/run/docker.sock"))
        .collect()
}

#[test]
fn ps_works_with_a_corrupt_api_version_file_and_repairs_it() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("api-versions");
    std::fs::write(&file, b"\xff\xfegarbage\nno tab here\nssh://x\t1.x\n").expect("write");
    let out = ps(&tb, &file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let hosts = tb.host_names();
    assert_eq!(out.stdout.matches("shop-web-1").count(), hosts.len());
    // Learned beside the list: every host's version is on record afterwards.
    let text = std::fs::read_to_string(&file).expect("rewritten as text");
    for key in keys(&tb) {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key}\t1."))),
            "{key} not remembered in {text:?}"
        );
    }
}

#[test]
fn ps_works_with_stale_api_versions() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("api-versions");
    // Too new and too old for any daemon of the fleet.
    let stale: String = keys(&tb)
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k}\t{}\n", if i % 2 == 0 { "1.99" } else { "1.5" }))
        .collect();
    std::fs::write(&file, &stale).expect("write");
    let out = ps(&tb, &file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.matches("shop-web-1").count(),
        tb.host_names().len(),
        "{}",
        out.stdout
    );
    // `hosts` asks /version and corrects the record.
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_API_VERSIONS", &file)
        .arg("--config")
        .arg(tb.config())
        .args(["hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(
        !text.contains("1.99") && !text.contains("\t1.5\n"),
        "{text}"
    );
}

#[test]
fn a_host_that_refused_stream_local_is_reached_by_dial_stdio_directly_next_time() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("api-versions");
    let ps3 = || {
        let mut cmd = flotilla();
        cmd.env("FLOTILLA_API_VERSIONS", &file)
            .env("FLOTILLA_LOG", "flotilla=info")
            .arg("--config")
            .arg(tb.config())
            .args(["ps", "--host", "fleet-3"]);
        run(cmd)
    };
    let first = ps3();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains("shop-web-1"), "{}", first.stdout);
    assert!(
        first.stderr.contains("stream-local forwarding refused"),
        "{}",
        first.stderr
    );
    let remembered = std::fs::read_to_string(dir.path().join("api-versions.dial-stdio"))
        .expect("dial-stdio hosts file");
    assert_eq!(
        remembered.trim(),
        tb.api_key("fleet-3", "/var/run/docker.sock")
    );
    let second = ps3();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stdout.contains("shop-web-1"), "{}", second.stdout);
    assert!(
        !second.stderr.contains("stream-local forwarding refused"),
        "asked again: {}",
        second.stderr
    );
}
