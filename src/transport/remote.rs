//! What a connected host offers besides its Docker API: running a command on
//! the host itself (vitals read /proc) and noticing that the session is gone.
//! Directly over the host's SSH session, or relayed by the persistent-session
//! daemon, which holds that session instead.

use std::sync::Arc;

use tokio::sync::watch;

use super::persist::Client;
use super::ssh::{ExecOutput, SshSession};

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
    pub async fn exec(&self, command: &str, limit: usize) -> Result<ExecOutput, String> {
        match self {
            Remote::Ssh(session) => session
                .exec(command, limit)
                .await
                .map_err(|e| e.to_string()),
            Remote::Persist {
                client,
                host,
                accept_new,
            } => client
                .exec(host, *accept_new, command, limit)
                .await
                .map_err(|e| e.to_string()),
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
