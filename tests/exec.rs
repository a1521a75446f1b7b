//! End-to-end: a command or a shell in a container over the host's session:
//! headless `flotilla exec` (exit code, stdin, TTY, several matches,
//! read-only, audit) and the TUI's `e` (suspend, shell, return).

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{Testbed, flotilla, run};

fn exec(tb: &Testbed, audit: &std::path::Path, args: &[&str]) -> common::Outcome {
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", audit)
        .arg("--config")
        .arg(tb.config())
        .arg("exec")
        .args(args);
    run(cmd)
}

#[test]
fn exec_passes_the_exit_code_streams_and_stdin_and_is_audited() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-1", "exec-e2e", "execsvc", "sleep 300");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");

    let out = exec(
        &tb,
        &audit,
        &[
            &c.name,
            "--",
            "sh",
            "-c",
            "echo to-out; echo to-err >&2; exit 3",
        ],
    );
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "to-out\n");
    assert!(out.stderr.contains("to-err"), "{}", out.stderr);

    // -i feeds stdin and closes it at its end (cat then exits 0).
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", &audit)
        .arg("--config")
        .arg(tb.config())
        .args(["exec", "-i", &c.name, "--", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"through stdin\n").expect("write");
    }
    let done = child.wait_with_output().expect("wait");
    assert_eq!(done.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&done.stdout), "through stdin\n");

    let text = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        text.lines().any(|l| l.contains(&c.name)
            && l.contains("\"exec sh -c 'echo to-out; echo to-err >&2; exit 3'\"")),
        "{text}"
    );
}

#[test]
fn a_target_on_several_hosts_needs_host_or_all_matching() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let out = exec(&tb, &audit, &["web", "--", "true"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--all-matching"), "{}", out.stderr);

    let out = exec(&tb, &audit, &["web", "--all-matching", "--", "echo", "hi"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for host in tb.host_names() {
        assert!(
            out.stdout.contains(&format!("{host}: hi")),
            "{}",
            out.stdout
        );
    }

    let out = exec(
        &tb,
        &audit,
        &["web", "--host", "fleet-2", "--", "echo", "one"],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "one\n"),
        "{}",
        out.stderr
    );

    let out = run(tb.verb(
        &audit,
        &[
            "--read-only",
            "exec",
            "web",
            "--host",
            "fleet-1",
            "--",
            "true",
        ],
    ));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);
}

#[test]
fn exec_with_a_tty_and_the_tui_shell() {
    let tb = Testbed::get();
    let c = tb.run_sh("fleet-3", "shell-e2e", "shellsvc", "sleep 300");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let bin = env!("CARGO_BIN_EXE_flotilla");

    // Headless -it on a real terminal; fleet-3 reaches Docker by dial-stdio.
    let sh = Tmux::start("bash --norc --noprofile", 100, 30);
    sh.literal(&format!(
        "{bin} --config {} exec -it {} -- sh; echo rc=$?",
        tb.config().display(),
        c.name
    ));
    sh.keys(&["Enter"]);
    sh.wait_for("a shell prompt", |s| s.contains("/ #"));
    sh.literal("echo $((6*7)); stty size; exit 5");
    sh.keys(&["Enter"]);
    let screen = sh.wait_for("shell ended", |s| s.contains("rc=5"));
    assert!(screen.contains("42"), "{screen}");
    assert!(
        screen.contains("30 100"),
        "terminal size forwarded: {screen}"
    );

    // The TUI: e on the container, a shell, exit, a key, back where we were.
    let tui = Tmux::flotilla(&tb.config(), &audit, dir.path(), 140, 35);
    tui.wait_for("the table", |s| s.contains("Containers ("));
    tui.keys(&["/"]);
    tui.literal(&c.name);
    tui.keys(&["Enter"]);
    tui.wait_for("filtered", |s| s.contains("Containers (1)"));
    tui.keys(&["e"]);
    tui.wait_for_within("shell in the container", Duration::from_secs(10), |s| {
        s.contains(&format!("in {} on fleet-3 (exit to return)", c.name)) && s.contains("/ #")
    });
    tui.literal("echo inside-$((40+2))");
    tui.keys(&["Enter"]);
    tui.wait_for("shell output", |s| s.contains("inside-42"));
    tui.literal("exit 4");
    tui.keys(&["Enter"]);
    tui.wait_for("exit shown", |s| s.contains("exited with 4; press any key"));
    tui.keys(&["x"]);
    let screen = tui.wait_for("back in the TUI", |s| {
        s.contains("Containers (1)") && s.contains(&format!("in {} on fleet-3", c.name))
    });
    assert!(!screen.contains("/ #"), "{screen}");
    // Keys work again.
    tui.keys(&["?"]);
    tui.wait_for("help opens", |s| s.contains("Keys"));
    let text = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        text.lines()
            .any(|l| l.contains(&c.name) && l.contains("shell sh (exit 4)")),
        "{text}"
    );
}

/// `flotilla exec ARGS` in bash, its stdout into `reader`, stdin from
/// `input`; killed after 90 s. Returns flotilla's exit code (137: killed, a
/// hang) and what the pipeline printed.
fn exec_piped(tb: &Testbed, args: &str, input: &str, reader: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = format!(
        "timeout -s KILL 90 {bin} --config {config} exec {args} < {input} | {reader}; \
         echo rc=${{PIPESTATUS[0]}}",
        bin = env!("CARGO_BIN_EXE_flotilla"),
        config = tb.config().display(),
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("DOCKER_HOST")
        .env_remove("FLOTILLA_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-flotilla-test")
        .env("FLOTILLA_AUDIT_LOG", dir.path().join("audit.jsonl"))
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = text
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("rc="))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no exit code: {text}{stderr}"));
    (code, format!("{text}{stderr}"))
}

#[test]
fn output_read_slowly_never_stalls_the_session() {
    // The reader sleeps while flotilla's buffers fill; the exit check then
    // asks Docker over the same session. It used to wait behind the unread
    // output for ever (in 3 of 3 runs).
    let tb = Testbed::get();
    for host in ["fleet-1", "fleet-3"] {
        let (code, out) = exec_piped(
            &tb,
            &format!("web --host {host} -- sh -c 'head -c 50000000 /dev/zero'"),
            "/dev/null",
            "(sleep 3; wc -c)",
        );
        assert_eq!(code, 0, "{host}: {out}");
        assert!(out.starts_with("50000000\n"), "{host}: {out}");
    }
}

#[test]
fn exec_i_ends_with_a_command_that_leaves_its_stdin_unread() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("5mb");
    std::fs::write(&input, vec![b'z'; 5_000_000]).expect("input file");
    for host in ["fleet-1", "fleet-3"] {
        let (code, out) = exec_piped(
            &tb,
            &format!("-i web --host {host} -- sh -c 'echo x; exit 9'"),
            &input.display().to_string(),
            "cat",
        );
        assert_eq!(code, 9, "{host}: {out}");
        assert_eq!(out, "x\nrc=9\n", "{host}");
    }
}

#[test]
fn a_reader_that_stops_early_ends_exec_quietly() {
    let tb = Testbed::get();
    let (code, out) = exec_piped(
        &tb,
        "web --host fleet-1 -- sh -c 'yes | head -c 20000000'",
        "/dev/null",
        "head -1",
    );
    assert_eq!((code, out.as_str()), (0, "y\nrc=0\n"));
}
