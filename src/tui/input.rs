//! Terminal input on its own thread, pausable: while a shell runs in a
//! container the terminal's bytes must reach the shell, not our reader
//! (crossterm's EventStream keeps reading in the background and would
//! swallow them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::Event;
use tokio::sync::mpsc;

/// How long a poll waits before looking at the pause flag again, just after
/// input (a key may be about to open a shell, which pauses the reader)...
const POLL_BUSY: Duration = Duration::from_millis(20);
/// ...and once the user has been quiet for `BUSY_FOR`: an idle TUI wakes
/// once a second here, not ten times.
const POLL_IDLE: Duration = Duration::from_secs(1);
const BUSY_FOR: Duration = Duration::from_secs(3);
/// Bound on queued terminal events (keys arrive far slower than they drain).
const CAPACITY: usize = 64;

pub struct Input {
    rx: mpsc::Receiver<std::io::Result<Event>>,
    paused: Arc<AtomicBool>,
    /// Set by the reader once it has stopped touching the terminal.
    parked: Arc<AtomicBool>,
}

impl Input {
    pub fn start() -> Input {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let paused = Arc::new(AtomicBool::new(false));
        let parked = Arc::new(AtomicBool::new(false));
        let (p, k) = (paused.clone(), parked.clone());
        std::thread::spawn(move || read_loop(&tx, &p, &k));
        Input { rx, paused, parked }
    }

    pub async fn next(&mut self) -> Option<std::io::Result<Event>> {
        self.rx.recv().await
    }

    /// Stops reading the terminal; returns once the reader is parked.
    pub async fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + POLL_IDLE * 2;
        while !self.parked.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

/// The poll slice `since` the last input.
fn slice(since: Duration) -> Duration {
    if since < BUSY_FOR {
        POLL_BUSY
    } else {
        POLL_IDLE
    }
}

fn read_loop(tx: &mpsc::Sender<std::io::Result<Event>>, paused: &AtomicBool, parked: &AtomicBool) {
    let mut last_input = std::time::Instant::now();
    loop {
        if tx.is_closed() {
            return;
        }
        if paused.load(Ordering::SeqCst) {
            parked.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        parked.store(false, Ordering::SeqCst);
        match crossterm::event::poll(slice(last_input.elapsed())) {
            Ok(false) => {}
            Ok(true) => {
                last_input = std::time::Instant::now();
                let ev = crossterm::event::read();
                let failed = ev.is_err();
                if tx.blocking_send(ev).is_err() || failed {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_quickly_only_just_after_input() {
        assert_eq!(slice(Duration::ZERO), POLL_BUSY);
        assert_eq!(slice(BUSY_FOR - Duration::from_millis(1)), POLL_BUSY);
        assert_eq!(slice(BUSY_FOR), POLL_IDLE);
        assert_eq!(slice(Duration::from_secs(600)), POLL_IDLE);
    }
}
