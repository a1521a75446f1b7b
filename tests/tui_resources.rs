//! End-to-end: the TUI's Top and Disk views in tmux against the real test
//! fleet: a CPU burner ranks first with history, `o` re-ranks; the Disk view
//! lists a stopped container a prune would remove and `P` asks first.

mod common;

use common::Testbed;
use common::tmux::Tmux;

/// A container removed on drop.
struct Made<'a> {
    tb: &'a Testbed,
    host: &'a str,
    name: String,
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        let _ = self.tb.docker_raw(self.host, &["rm", "-f", &self.name]);
    }
}

fn tui(tb: &Testbed, dir: &std::path::Path) -> Tmux {
    let cmd = format!(
        "env FLOTILLA_AUDIT_LOG={} XDG_STATE_HOME={} {} --config {}",
        dir.join("audit.jsonl").display(),
        dir.display(),
        env!("CARGO_BIN_EXE_flotilla"),
        tb.config().display()
    );
    Tmux::start(&cmd, 160, 40)
}

#[test]
fn top_ranks_a_burner_first_and_disk_lists_what_a_prune_removes() {
    let tb = Testbed::get();
    let pid = std::process::id();
    let base = "flotilla-test/base:latest";
    let burner = Made {
        tb: &tb,
        host: "fleet-2",
        name: format!("tui-burner-{pid}"),
    };
    let script = "end=$(($(date +%s)+90)); while [ $(date +%s) -lt $end ]; do :; done; sleep 600";
    tb.docker(
        "fleet-2",
        &[
            "run",
            "-d",
            "--name",
            &burner.name,
            base,
            "sh",
            "-c",
            script,
        ],
    );
    let stopped = Made {
        tb: &tb,
        host: "fleet-3",
        name: format!("tui-stopped-{pid}"),
    };
    tb.docker(
        "fleet-3",
        &["create", "--name", &stopped.name, base, "true"],
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let tui = tui(&tb, dir.path());
    tui.wait_for("the fleet listed", |s| s.contains(&burner.name));
    tui.keys(&["7"]);
    // Two readings 5 s apart; the burner leads from the first figures on.
    let screen = tui.wait_for("the burner ranked first", |s| {
        s.lines()
            .find(|l| l.starts_with('▶'))
            .is_some_and(|l| l.contains(&burner.name))
    });
    assert!(screen.contains("by cpu"), "{screen}");
    assert!(
        screen.contains("fleet-2 cpu "),
        "each host's own use: {screen}"
    );
    // A later reading adds a point to its history.
    tui.wait_for("two points of history", |s| {
        s.lines()
            .find(|l| l.starts_with('▶'))
            .is_some_and(|l| l.chars().filter(|c| ('▁'..='█').contains(c)).count() >= 2)
    });
    tui.keys(&["o"]);
    tui.wait_for("ranked by memory", |s| {
        s.contains("by mem") && s.contains("MEM (LAST HOUR)")
    });

    tui.keys(&["8"]);
    let screen = tui.wait_for("the stopped container listed", |s| {
        s.contains(&stopped.name)
    });
    let row = screen
        .lines()
        .find(|l| l.contains(&stopped.name))
        .unwrap_or_default();
    assert!(row.contains("remove container"), "{row}");
    // The cursor to fleet-3's rows, then P: a dialog, and no is no.
    for _ in 0..200 {
        let s = tui.screen();
        if s.lines()
            .any(|l| l.starts_with('▶') && l.contains(&stopped.name))
        {
            break;
        }
        tui.keys(&["j"]);
    }
    tui.keys(&["P"]);
    tui.wait_for("the dialog", |s| {
        s.contains("Confirm prune") && s.contains("Prune fleet-3")
    });
    tui.keys(&["n"]);
    tui.wait_for("cancelled", |s| s.contains("prune cancelled"));
    let left = tb.docker("fleet-3", &["inspect", "-f", "{{.Name}}", &stopped.name]);
    assert_eq!(left.trim(), format!("/{}", stopped.name), "nothing removed");
}
