//! What a connected host offers besides its Docker API: running a command on
//! the host itself (vitals read /proc) and noticing that the session is gone.
//! Directly over the host's SSH session, or relayed by the persistent-session
//! daemon, which holds that session instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::persist::Client;
use super::ssh::{ExecOutput, SshSession};

/// A remote command's stdin (write) and stdout (read).
pub type Pipe = russh::ChannelStream<russh::client::Msg>;

/// A handle on the host's SSH session, wherever it is held. Cheap to clone.
#[derive(Clone)]
pub enum Remote {
    Ssh(Arc<SshSession>),
    Persist {
        client: Arc<Client>,
        host: String,
        accept_new: bool,
    },
}

impl Remote {
    /// Runs `command` on the host, keeping at most `limit` bytes of each output.
    pub async fn exec(&self, command: &str, limit: usize) -> Result<ExecOutput, RunError> {
        match self {
            Remote::Ssh(session) => session
                .exec(command, limit)
                .await
                .map_err(|e| RunError::Refused(e.to_string())),
            Remote::Persist {
                client,
                host,
                accept_new,
            } => client
                .exec(host, *accept_new, command, limit)
                .await
                .map_err(|e| RunError::Refused(e.to_string())),
        }
    }

    /// `exec`, bounded by `within`: the one way a command runs on a host
    /// with a deadline (Compose's files and commands).
    pub async fn run(
        &self,
        command: &str,
        limit: usize,
        within: Duration,
    ) -> Result<ExecOutput, RunError> {
        tokio::time::timeout(within, self.exec(command, limit))
            .await
            .map_err(|_| RunError::Timeout(within))?
    }

    /// A long-running command's stdin and stdout as one stream, over the
    /// session held directly; None through the daemon (it relays whole
    /// commands only): callers fall back to [`Remote::run`].
    pub async fn pipe(&self, command: &str) -> Result<Option<Pipe>, RunError> {
        match self {
            Remote::Ssh(session) => session
                .exec_stream(command)
                .await
                .map(Some)
                .map_err(|e| RunError::Refused(e.to_string())),
            Remote::Persist { .. } => Ok(None),
        }
    }

    /// Why the session is gone, if it is known to be. The daemon reconnects
    /// on the next request, so through it there is nothing to report.
    pub fn closed_reason(&self) -> Option<String> {
        match self {
            Remote::Ssh(session) => session.closed_reason(),
            Remote::Persist { .. } => None,
        }
    }

    /// Changes to `Some(reason)` when a directly held session ends.
    pub fn closed_watch(&self) -> Option<watch::Receiver<Option<String>>> {
        match self {
            Remote::Ssh(session) => Some(session.closed_watch()),
            Remote::Persist { .. } => None,
        }
    }
}

/// Why a command on the host gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The session refused the exec, or is gone.
    #[error("{0}")]
    Refused(String),
    #[error("no answer within {}s", .0.as_secs())]
    Timeout(Duration),
}
