//! The local terminal's size changes, followed for a container session
//! with a TTY (headless `exec -t` and the TUI's shell alike).

use tokio::sync::mpsc;

/// Stops following when dropped.
pub struct Resizes(tokio::task::JoinHandle<()>);

impl Drop for Resizes {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Each new size (columns, rows) after a SIGWINCH, until the guard drops
/// or the receiver does.
pub fn follow_resizes() -> (mpsc::Receiver<(u16, u16)>, Resizes) {
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(async move {
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Ok(size) = crossterm::terminal::size()
                && tx.send(size).await.is_err()
            {
                return;
            }
        }
    });
    (rx, Resizes(task))
}
