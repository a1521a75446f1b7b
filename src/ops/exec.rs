//! A command run inside a container over the host's open session (Docker's
//! exec API, attached through the tunnel): the headless `flotilla exec` and
//! the TUI's shell both use it. Names and commands go to Docker as values,
//! never through a shell.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// How often a running exec is asked whether it has ended.
const EXIT_CHECK: std::time::Duration = std::time::Duration::from_secs(1);
/// How long output may trail the end of the command.
const EXIT_DRAIN: std::time::Duration = std::time::Duration::from_millis(200);

/// What to run, and how to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Container id or name.
    pub container: String,
    pub cmd: Vec<String>,
    /// Attach stdin (`-i`).
    pub stdin: bool,
    /// Allocate a TTY (`-t`); output then comes as one stream.
    pub tty: bool,
    /// Initial TTY size (columns, rows).
    pub size: Option<(u16, u16)>,
}

/// Where output goes.
pub struct Sinks<O, E> {
    pub out: O,
    pub err: E,
}

/// Runs the command to its end: `input` feeds its stdin (when attached),
/// `resizes` its TTY size; returns its exit code.
pub async fn run<I, O, E>(
    docker: &Docker,
    req: &ExecRequest,
    input: Option<I>,
    mut sinks: Sinks<O, E>,
    mut resizes: mpsc::Receiver<(u16, u16)>,
) -> Result<i64, String>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let options = CreateExecOptions::<String> {
        attach_stdin: Some(req.stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(req.tty),
        cmd: Some(req.cmd.clone()),
        ..Default::default()
    };
    let id = docker
        .create_exec(&req.container, options)
        .await
        .map_err(|e| format!("exec in {}: {e}", req.container))?
        .id;
    let start = StartExecOptions {
        detach: false,
        tty: req.tty,
        output_capacity: None,
    };
    let StartExecResults::Attached {
        mut output,
        input: mut remote_in,
    } = docker
        .start_exec(&id, Some(start))
        .await
        .map_err(|e| format!("exec in {}: {e}", req.container))?
    else {
        return Err("Docker started the exec detached".to_owned());
    };
    if let (true, Some((width, height))) = (req.tty, req.size) {
        resize(docker, &id, width, height).await;
    }
    let mut input = input.filter(|_| req.stdin);
    let mut buf = vec![0u8; 16 * 1024];
    // Through `docker system dial-stdio` the attached stream can outlive the
    // command (the relay waits for our stdin); ask Docker now and then.
    let mut check = tokio::time::interval(EXIT_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.reset();
    loop {
        tokio::select! {
            _ = check.tick() => {
                if let Ok(state) = docker.inspect_exec(&id).await
                    && state.running == Some(false)
                {
                    // Whatever output is still in flight arrives right away.
                    while let Ok(Some(Ok(chunk))) =
                        tokio::time::timeout(EXIT_DRAIN, output.next()).await
                    {
                        let (sink_err, message) = match chunk {
                            LogOutput::StdErr { message } => (true, message),
                            LogOutput::StdOut { message }
                            | LogOutput::Console { message }
                            | LogOutput::StdIn { message } => (false, message),
                        };
                        if sink_err {
                            write(&mut sinks.err, &message).await?;
                        } else {
                            write(&mut sinks.out, &message).await?;
                        }
                    }
                    break;
                }
            },
            chunk = output.next() => match chunk {
                Some(Ok(LogOutput::StdErr { message })) => {
                    write(&mut sinks.err, &message).await?;
                }
                Some(Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                )) => write(&mut sinks.out, &message).await?,
                Some(Err(e)) => return Err(format!("exec stream: {e}")),
                None => break,
            },
            read = read_some(&mut input, &mut buf) => match read {
                Some(n) if n > 0 => {
                    if remote_in.write_all(&buf[..n]).await.is_err() {
                        input = None;
                    }
                }
                // End of our stdin: tell the command (like `docker exec -i`).
                _ => {
                    input = None;
                    let _ = remote_in.shutdown().await;
                }
            },
            size = resizes.recv(), if req.tty => match size {
                Some((width, height)) => resize(docker, &id, width, height).await,
                None => resizes = mpsc::channel(1).1,
            },
        }
    }
    let inspected = docker
        .inspect_exec(&id)
        .await
        .map_err(|e| format!("exec status: {e}"))?;
    Ok(inspected.exit_code.unwrap_or(-1))
}

async fn write<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> Result<(), String> {
    w.write_all(bytes)
        .await
        .and(w.flush().await)
        .map_err(|e| format!("writing output: {e}"))
}

/// Reads from `input` while there is one; pending forever once it is gone.
async fn read_some<I: AsyncRead + Unpin>(input: &mut Option<I>, buf: &mut [u8]) -> Option<usize> {
    match input {
        Some(i) => i.read(buf).await.ok(),
        None => std::future::pending().await,
    }
}

async fn resize(docker: &Docker, id: &str, width: u16, height: u16) {
    let size = ResizeExecOptions { height, width };
    if let Err(e) = docker.resize_exec(id, size).await {
        tracing::debug!("exec resize: {e}");
    }
}

/// The audit action of an exec: the command as given (never keystrokes).
pub fn audit_action(cmd: &[String]) -> String {
    format!("exec {}", shell_words(cmd))
}

/// Arguments joined for display, quoted where a shell would split them.
fn shell_words(cmd: &[String]) -> String {
    cmd.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_records_the_command_quoted_as_a_shell_would_read_it() {
        let cmd: Vec<String> = ["sh", "-c", "echo it's $HOME", ""]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(audit_action(&cmd), r#"exec sh -c 'echo it'\''s $HOME' ''"#);
    }
}
