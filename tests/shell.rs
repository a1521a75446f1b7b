//! End-to-end: shell completion in a real bash (host names from the
//! inventory, container names from the live fleet) and the man page.

mod common;

use std::time::Duration;

use common::Testbed;
use common::tmux::Tmux;

/// A plain bash with flotilla on PATH, the testbed's inventory, and the
/// completion script sourced the way the README says.
fn bash_with_completions(tb: &Testbed) -> Tmux {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_flotilla"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let cmd = format!(
        "env -i HOME=/tmp TERM=xterm PATH={}:/usr/bin:/bin FLOTILLA_CONFIG={} bash --norc --noprofile",
        bin_dir.display(),
        tb.config().display()
    );
    let sh = Tmux::start(&cmd, 120, 30);
    sh.literal("source <(flotilla completions bash) && echo sourced-ok");
    sh.keys(&["Enter"]);
    sh.wait_for("completion script sourced", |s| {
        s.lines().any(|l| l.trim() == "sourced-ok")
    });
    sh
}

#[test]
fn bash_completes_host_and_container_names() {
    let tb = Testbed::get();
    let sh = bash_with_completions(&tb);
    sh.literal("flotilla ps --host fleet-");
    sh.keys(&["Tab", "Tab"]);
    let screen = sh.wait_for_within("host names offered", Duration::from_secs(10), |s| {
        s.contains("fleet-1") && s.contains("fleet-2") && s.contains("fleet-3")
    });
    assert!(!screen.contains("--json"), "only hosts offered: {screen}");
    sh.keys(&["C-u"]);
    // Container names come from the live fleet.
    sh.literal("flotilla restart shop-wo");
    sh.keys(&["Tab"]);
    sh.wait_for_within("container name completed", Duration::from_secs(10), |s| {
        s.contains("flotilla restart shop-worker-1")
    });
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let mut cmd = common::flotilla();
        cmd.args(["completions", shell]);
        let out = common::run(cmd);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("COMPLETE"), "{shell}: {}", out.stdout);
    }
    let mut cmd = common::flotilla();
    cmd.args(["completions", "tcsh"]);
    assert_eq!(common::run(cmd).code, 2);
    let mut cmd = common::flotilla();
    cmd.arg("man");
    let out = common::run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH flotilla 1"), "{}", out.stdout);
    for verb in ["deploy", "triage", "completions"] {
        assert!(out.stdout.contains(verb), "man page lists {verb}");
    }
}
