//! The real TUI in a tmux session, driven by keys and read off the screen.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    session: String,
}

impl Tmux {
    /// flotilla's TUI on `config`, with a test's own audit log and state dir.
    pub fn flotilla(config: &Path, audit: &Path, state: &Path, width: u16, height: u16) -> Tmux {
        Tmux::start(
            &format!(
                "exec env FLOTILLA_AUDIT_LOG={} XDG_STATE_HOME={} {} --config {}",
                audit.display(),
                state.display(),
                env!("CARGO_BIN_EXE_flotilla"),
                config.display()
            ),
            width,
            height,
        )
    }

    /// Starts `cmd` (run by the shell) in a detached session of this size.
    pub fn start(cmd: &str, width: u16, height: u16) -> Tmux {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("flotilla-e2e-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                cmd,
            ])
            .status()
            .expect("tmux (installed by scripts/test)");
        assert!(status.success(), "tmux failed to start");
        Tmux { session }
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let status = Command::new("tmux")
                .args(["send-keys", "-t", &self.session, k])
                .status()
                .expect("tmux");
            assert!(status.success());
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub fn literal(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .expect("tmux");
        assert!(status.success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Waits (20 s at most) until the screen satisfies `check`; returns it.
    pub fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(20), check)
    }

    /// Waits up to `timeout` until the screen satisfies `check`; returns it.
    pub fn wait_for_within(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}

impl Tmux {
    /// The pid of the pane's process (the command, when started with `exec`).
    pub fn pid(&self) -> Option<u32> {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// Waits up to `within` for the pane to close (the program exited).
    pub fn exits_within(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.alive() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Whether the screen satisfies `check` within `within` (no panic).
    pub fn shows_within(&self, within: Duration, check: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if check(&self.screen()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
