//! End-to-end transport tests against the real test fleet: host key types,
//! ProxyCommand, unsupported ssh_config options, and timeouts on slow links.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Testbed, Via, flotilla, json, run, write};

/// The name OpenSSH records a host's key under.
fn known_hosts_name(addr: &str, port: u16) -> String {
    if port == 22 {
        addr.to_owned()
    } else {
        format!("[{addr}]:{port}")
    }
}

/// A fresh RSA public key (`ssh-rsa AAAA…`), generated into `dir`.
fn rsa_public_key(dir: &Path) -> String {
    let key = dir.join("other_rsa");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    let text = std::fs::read_to_string(key.with_extension("pub")).expect("read rsa pub");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn recorded_key_of_another_type_is_a_changed_key_even_with_accept_new() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tb.inventory_via(dir.path(), "swap", "fleet-1", &Via::default());
    // The server only has an ed25519 host key; known_hosts only an RSA one.
    let (addr, port) = tb.address("fleet-1");
    let known_text = format!(
        "# recorded long ago\n{} {}\n",
        known_hosts_name(&addr, port),
        rsa_public_key(dir.path())
    );
    let known = write(dir.path(), "known_hosts", &known_text);

    for extra in [&[][..], &["--accept-new"][..]] {
        let mut cmd = flotilla();
        cmd.arg("--config")
            .arg(&config)
            .args(extra)
            .args(["ps", "--json"]);
        let out = run(cmd);
        assert_eq!(out.code, 3, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains("HAS CHANGED"), "{}", out.stderr);
        assert!(out.stderr.contains("ssh-rsa"), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{}:2", known.display())),
            "names file:line: {}",
            out.stderr
        );
        assert_eq!(json(&out.stdout), serde_json::json!([]));
        assert_eq!(
            std::fs::read_to_string(&known).expect("read known_hosts"),
            known_text,
            "{extra:?}: known_hosts must not change"
        );
    }
}
