//! ProxyCommand: SSH over a local command's stdin/stdout, as OpenSSH runs it.

use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, ReadBuf};

use super::TransportError;

/// How much of a ProxyCommand's stderr is kept for error messages.
const PROXY_STDERR_KEEP: usize = 4096;

/// A running ProxyCommand; killed when dropped.
pub(super) struct ProxyProcess {
    child: tokio::process::Child,
    command: String,
    /// The tail of its stderr (every line is also logged).
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: tokio::task::JoinHandle<()>,
}

/// Starts `command` with `/bin/sh -c` as OpenSSH does (with `exec`, so the shell
/// is replaced and killing it ends the command); SSH runs over its stdin/stdout.
pub(super) fn spawn_proxy(command: &str) -> Result<(ProxyProcess, ProxyStream), TransportError> {
    let failed = |message: String| TransportError::ProxyCommand {
        command: command.to_owned(),
        message,
    };
    let script = if command.trim_start().starts_with("exec ") {
        command.to_owned()
    } else {
        format!("exec {command}")
    };
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("could not be started with /bin/sh -c: {e}")))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(failed("started without its stdio pipes".to_owned()));
    };
    let kept = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&kept);
    let logged_as = command.to_owned();
    let stderr_reader = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(proxy_command = %logged_as, "stderr: {line}");
            if let Ok(mut buf) = sink.lock() {
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
                let excess = buf.len().saturating_sub(PROXY_STDERR_KEEP);
                buf.drain(..excess);
            }
        }
    });
    let process = ProxyProcess {
        child,
        command: command.to_owned(),
        stderr: kept,
        stderr_reader,
    };
    Ok((process, ProxyStream { stdin, stdout }))
}

impl ProxyProcess {
    /// `cause` explained by the command's exit status and stderr; host key
    /// and authentication failures are about the host, so they stay as they are.
    pub(super) async fn failure(mut self, cause: TransportError) -> TransportError {
        if matches!(
            cause,
            TransportError::HostKeyUnknown { .. }
                | TransportError::HostKeyChanged { .. }
                | TransportError::HostKeyRevoked { .. }
                | TransportError::AuthFailed { .. }
                | TransportError::ProxyCommand { .. }
        ) {
            return cause;
        }
        // A command that is exiting gets a moment to be reaped and drain stderr.
        let grace = Duration::from_millis(500);
        let status = tokio::time::timeout(grace, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        let _ = tokio::time::timeout(grace, &mut self.stderr_reader).await;
        let stderr = self
            .stderr
            .lock()
            .map(|buf| String::from_utf8_lossy(&buf).trim().to_owned())
            .unwrap_or_default();
        let mut message = match status {
            Some(status) => format!("ended ({status}) before the SSH connection was up ({cause})"),
            None => format!("is running, but SSH over it failed: {cause}"),
        };
        if stderr.is_empty() {
            message.push_str("; it wrote nothing to stderr");
        } else {
            message.push_str(&format!("; its stderr: {stderr}"));
        }
        TransportError::ProxyCommand {
            command: std::mem::take(&mut self.command),
            message,
        }
    }
}

/// The ProxyCommand's stdout (from the server) and stdin (to it) as one stream.
pub(super) struct ProxyStream {
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

impl AsyncRead for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}
