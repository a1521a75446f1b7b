//! One channel to a host's Docker API over its SSH session, as the tunnel
//! and the persistent-session daemon both open them.

use std::sync::atomic::{AtomicBool, Ordering};

use russh::ChannelStream;
use russh::client::Msg;

use super::api_versions::ApiVersions;
use super::ssh::SshSession;

/// One channel to the host's Docker API: stream-local to `socket`, or, once
/// the server has refused that (remembered in `dial_stdio` and `memory`),
/// `docker system dial-stdio` over an exec channel.
pub(crate) async fn open(
    session: &SshSession,
    socket: &str,
    dial_stdio: &AtomicBool,
    memory: Option<(&ApiVersions, &str)>,
) -> Result<ChannelStream<Msg>, std::io::Error> {
    if !dial_stdio.load(Ordering::Relaxed) {
        match session.open_streamlocal(socket).await {
            Ok(stream) => return Ok(stream),
            Err(russh::Error::ChannelOpenFailure(reason)) => {
                tracing::info!(
                    "stream-local forwarding refused ({reason:?}); using docker system dial-stdio"
                );
                dial_stdio.store(true, Ordering::Relaxed);
                if let Some((versions, key)) = memory
                    && let Err(e) = versions.set_dial_stdio(key, true)
                {
                    tracing::debug!("could not remember dial-stdio for {key}: {e}");
                }
            }
            Err(e) => return Err(std::io::Error::other(e)),
        }
    }
    session
        .exec_stream(&dial_stdio_command(socket))
        .await
        .map_err(std::io::Error::other)
}

/// `docker system dial-stdio`, pointed at a non-default socket when configured.
fn dial_stdio_command(socket: &str) -> String {
    if socket == "/var/run/docker.sock" || socket == "/run/docker.sock" {
        "docker system dial-stdio".to_owned()
    } else {
        format!(
            "docker -H unix://{} system dial-stdio",
            crate::quote::sh(socket)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_stdio_uses_default_socket_plainly_and_quotes_others() {
        assert_eq!(
            dial_stdio_command("/var/run/docker.sock"),
            "docker system dial-stdio"
        );
        assert_eq!(
            dial_stdio_command("/srv/d o'ck.sock"),
            r"docker -H unix://'/srv/d o'\''ck.sock' system dial-stdio"
        );
    }
}
