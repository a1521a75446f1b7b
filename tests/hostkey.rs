//! End-to-end: host keys in the TUI. An unknown key opens a dialog with its
//! fingerprint; `y` records it and connects. A changed key is a warning that
//! cannot be accepted from flotilla.

mod common;

use common::tmux::Tmux;
use common::{Testbed, Via};

fn tui(config: &std::path::Path, dir: &std::path::Path) -> Tmux {
    let cmd = format!(
        "exec env XDG_STATE_HOME={} {} --config {}",
        dir.display(),
        env!("CARGO_BIN_EXE_flotilla"),
        config.display()
    );
    Tmux::start(&cmd, 120, 32)
}

#[test]
fn an_unknown_key_is_trusted_from_the_dialog() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tb.inventory_via(dir.path(), "newhost", "fleet-1", &Via::default());
    let known = dir.path().join("known_hosts");
    std::fs::write(&known, "").expect("empty known_hosts");
    let key = std::fs::read_to_string(tb.dir.join("hosts/fleet-1/ssh_host_ed25519_key.pub"))
        .expect("host key");
    let key_b64 = key.split_whitespace().nth(1).expect("key").to_owned();

    let ui = tui(&config, dir.path());
    let screen = ui.wait_for("the dialog", |s| s.contains("Unknown host key"));
    assert!(screen.contains("ssh-ed25519"), "{screen}");
    assert!(screen.contains("SHA256:"), "{screen}");
    assert!(
        screen.contains(&known.display().to_string()[..20]),
        "{screen}"
    );
    assert_eq!(
        std::fs::read_to_string(&known).expect("read"),
        "",
        "nothing before yes"
    );
    ui.keys(&["y"]);
    ui.wait_for("the host connects", |s| s.contains("hosts 1/1 up"));
    let recorded = std::fs::read_to_string(&known).expect("read");
    assert!(
        recorded.starts_with("127.0.10.1 ssh-ed25519 ") && recorded.contains(&key_b64),
        "{recorded}"
    );
}

#[test]
fn a_changed_key_is_refused_with_a_warning() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tb.inventory_via(dir.path(), "swapped", "fleet-1", &Via::default());
    // fleet-2's key recorded for fleet-1's address: fleet-1 now looks changed.
    let other = std::fs::read_to_string(tb.dir.join("hosts/fleet-2/ssh_host_ed25519_key.pub"))
        .expect("fleet-2 key");
    let other: Vec<&str> = other.split_whitespace().take(2).collect();
    let known = dir.path().join("known_hosts");
    let text = format!("127.0.10.1 {}\n", other.join(" "));
    std::fs::write(&known, &text).expect("write known_hosts");

    let ui = tui(&config, dir.path());
    let screen = ui.wait_for("the warning", |s| s.contains("HOST KEY HAS CHANGED"));
    assert!(screen.contains("known_hosts:1"), "{screen}");
    ui.keys(&["y"]);
    ui.wait_for("the warning closes", |s| {
        !s.contains("HOST KEY HAS CHANGED")
    });
    let later = ui.screen();
    assert!(later.contains("hosts 0/1 up"), "{later}");
    assert_eq!(
        std::fs::read_to_string(&known).expect("read"),
        text,
        "never replaced"
    );
}
