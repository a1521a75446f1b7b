//! Everything that knows about SSH: sessions, host keys, and the Docker API tunnel.
//! Nothing above this layer sees russh.

pub mod api_versions;
mod channel;
pub mod docker;
pub mod known_hosts;
pub mod persist;
mod proxy;
mod remote;
pub mod ssh;
mod tcp;

use std::path::PathBuf;
use std::time::Duration;

pub use api_versions::ApiVersions;
pub use docker::ConnectOptions;
pub use docker::{DockerLink, connect_docker};
pub use remote::{Pipe, Remote, RunError};
pub use ssh::SshSession;

/// Records `key` (OpenSSH format, as in `TransportError::HostKeyUnknown`)
/// for `name` in `file`: the explicit trust a user gave after seeing it.
pub fn trust_host_key(name: &str, key: &str, file: &std::path::Path) -> Result<(), String> {
    let parsed =
        russh::keys::PublicKey::from_openssh(key).map_err(|e| format!("not a public key ({e})"))?;
    known_hosts::record(name, &parsed, file)
        .map_err(|e| format!("could not record the host key in {}: {e}", file.display()))
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "timed out after {}s connecting to {addr} (ConnectTimeout: TCP connect and SSH banner)",
        after.as_secs()
    )]
    Timeout { addr: String, after: Duration },
    #[error(
        "SSH handshake and authentication with {addr} did not finish within {}s",
        after.as_secs()
    )]
    HandshakeTimeout { addr: String, after: Duration },
    #[error(
        "host key for {host} is not known ({key_type} {fingerprint}); refusing to connect. \
         Verify the fingerprint, then trust it with `flotilla --accept-new …` \
         (records it in {}) or `ssh-keyscan`",
        file.display()
    )]
    HostKeyUnknown {
        host: String,
        key_type: String,
        fingerprint: String,
        file: PathBuf,
        /// The key itself (OpenSSH format), so a front end can record exactly
        /// the key it showed.
        key: String,
    },
    #[error(
        "HOST KEY FOR {host} HAS CHANGED: the server presents {presented}, but \
         {}:{line} records a different key for it ({recorded}); this may be a \
         man-in-the-middle attack. Refusing to connect (--accept-new never replaces a \
         recorded key). If the change is legitimate, remove the old key \
         (ssh-keygen -R '{host}' -f {}) and verify the new one",
        file.display(),
        file.display()
    )]
    HostKeyChanged {
        host: String,
        /// Key type and fingerprint, as in `ssh-ed25519 SHA256:…`.
        presented: String,
        file: PathBuf,
        line: usize,
        /// The recorded key: its type and, when it can be read, `SHA256:…`.
        recorded: String,
    },
    #[error(
        "host key for {host} ({fingerprint}) is marked @revoked at {}:{line}; refusing to connect",
        file.display()
    )]
    HostKeyRevoked {
        host: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },
    #[error("{}", auth_failed_message(user, host, tried, encrypted))]
    AuthFailed {
        user: String,
        host: String,
        tried: Vec<String>,
        encrypted: Vec<PathBuf>,
    },
    #[error("ProxyCommand `{command}` {message}")]
    ProxyCommand { command: String, message: String },
    #[error("SSH: {0}")]
    Protocol(String),
    /// A connection error as the persistent-session daemon met it, verbatim.
    #[error("{0}")]
    Relayed(String),
    #[error("Docker API: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("Docker API on {socket}: {message}")]
    DockerTunnel { socket: String, message: String },
}

fn auth_failed_message(user: &str, host: &str, tried: &[String], encrypted: &[PathBuf]) -> String {
    let mut msg = format!("authentication as {user}@{host} failed");
    if tried.is_empty() {
        msg.push_str(" (no usable key: no ssh-agent keys and no identity file found)");
    } else {
        msg.push_str(&format!(" (tried: {})", tried.join(", ")));
    }
    for path in encrypted {
        msg.push_str(&format!(
            "; {} is passphrase-protected: load it into ssh-agent (ssh-add {}) and set SSH_AUTH_SOCK",
            path.display(),
            path.display()
        ));
    }
    msg
}
