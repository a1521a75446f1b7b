//! A command run inside a container over the host's open session (Docker's
//! exec API, attached through the tunnel): the headless `flotilla exec` and
//! the TUI's shell both use it. Names and commands go to Docker as values,
//! never through a shell.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
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

/// Why an exec could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec in {container}: {source}")]
    Docker {
        container: String,
        source: bollard::errors::Error,
    },
    #[error("Docker started the exec detached")]
    Detached,
    #[error("exec stream: {0}")]
    Stream(bollard::errors::Error),
    #[error("exec status: {0}")]
    Status(bollard::errors::Error),
    /// Writing the command's output here failed (a closed pipe, as with `| head`).
    #[error("writing output: {0}")]
    Output(std::io::Error),
}

/// Runs the command to its end: `input` feeds its stdin (when attached),
/// `resizes` its TTY size; returns its exit code.
///
/// Only reading `output` happens in this loop's arms; everything else (the
/// stdin pump, the exit check, resizes) runs beside it. An SSH channel's
/// buffer is bounded, and a full one stops the whole session's read loop: a
/// request awaited while `output` sits unread never gets its answer.
pub async fn run<I, O, E>(
    docker: &Docker,
    req: &ExecRequest,
    input: Option<I>,
    mut sinks: Sinks<O, E>,
    resizes: mpsc::Receiver<(u16, u16)>,
) -> Result<i64, ExecError>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let failed = |source| ExecError::Docker {
        container: req.container.clone(),
        source,
    };
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
        .map_err(failed)?
        .id;
    let start = StartExecOptions {
        detach: false,
        tty: req.tty,
        output_capacity: None,
    };
    let StartExecResults::Attached {
        mut output,
        input: remote_in,
    } = docker.start_exec(&id, Some(start)).await.map_err(failed)?
    else {
        return Err(ExecError::Detached);
    };
    if let (true, Some((width, height))) = (req.tty, req.size) {
        resize(docker, &id, width, height).await;
    }
    let _resizer = req
        .tty
        .then(|| Background::spawn(forward_resizes(docker.clone(), id.clone(), resizes)));
    // Through `docker system dial-stdio` the attached stream can outlive the
    // command (the relay waits for our stdin); Docker is asked now and then.
    let mut exited = Background::spawn(wait_exit(docker.clone(), id.clone()));
    let pump = pump(input.filter(|_| req.stdin), remote_in);
    tokio::pin!(pump);
    let mut pumping = true;
    loop {
        tokio::select! {
            () = &mut pump, if pumping => pumping = false,
            chunk = output.next() => match chunk {
                Some(Ok(chunk)) => deliver(&mut sinks, chunk).await?,
                Some(Err(e)) => return Err(ExecError::Stream(e)),
                None => break,
            },
            _ = exited.finished() => {
                // Whatever output is still in flight arrives right away.
                while let Ok(Some(Ok(chunk))) =
                    tokio::time::timeout(EXIT_DRAIN, output.next()).await
                {
                    deliver(&mut sinks, chunk).await?;
                }
                break;
            }
        }
    }
    let inspected = docker.inspect_exec(&id).await.map_err(ExecError::Status)?;
    Ok(inspected.exit_code.unwrap_or(-1))
}

/// One chunk of output to its sink.
async fn deliver<O, E>(sinks: &mut Sinks<O, E>, chunk: LogOutput) -> Result<(), ExecError>
where
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    match chunk {
        LogOutput::StdErr { message } => write(&mut sinks.err, &message).await,
        LogOutput::StdOut { message }
        | LogOutput::Console { message }
        | LogOutput::StdIn { message } => write(&mut sinks.out, &message).await,
    }
}

async fn write<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> Result<(), ExecError> {
    w.write_all(bytes)
        .await
        .and(w.flush().await)
        .map_err(ExecError::Output)
}

/// Feeds `input` to the command's stdin and closes it at the end of input
/// (like `docker exec -i`). Without input it never ends: stdin stays open.
async fn pump<I: AsyncRead + Unpin>(
    input: Option<I>,
    mut remote: std::pin::Pin<Box<dyn AsyncWrite + Send>>,
) {
    let Some(mut input) = input else {
        return std::future::pending().await;
    };
    // A command that stops reading ends the copy with an error: nothing to report.
    if let Err(e) = tokio::io::copy(&mut input, &mut remote).await {
        tracing::debug!("exec stdin: {e}");
    }
    let _ = remote.shutdown().await;
}

/// Returns once Docker says the exec is no longer running.
async fn wait_exit(docker: Docker, id: String) {
    let mut check = tokio::time::interval(EXIT_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.reset();
    loop {
        check.tick().await;
        if let Ok(state) = docker.inspect_exec(&id).await
            && state.running == Some(false)
        {
            return;
        }
    }
}

async fn forward_resizes(docker: Docker, id: String, mut resizes: mpsc::Receiver<(u16, u16)>) {
    while let Some((width, height)) = resizes.recv().await {
        resize(&docker, &id, width, height).await;
    }
}

/// A task that ends with its owner.
struct Background {
    task: tokio::task::JoinHandle<()>,
    done: bool,
}

impl Background {
    fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> Background {
        Background {
            task: tokio::spawn(task),
            done: false,
        }
    }

    /// Completes once when the task has ended; pending after that.
    async fn finished(&mut self) {
        if self.done {
            return std::future::pending().await;
        }
        let _ = (&mut self.task).await;
        self.done = true;
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn resize(docker: &Docker, id: &str, width: u16, height: u16) {
    let size = ResizeExecOptions { height, width };
    if let Err(e) = docker.resize_exec(id, size).await {
        tracing::debug!("exec resize: {e}");
    }
}

/// The audit action of an exec: the command as given (never keystrokes).
pub fn audit_action(cmd: &[String]) -> crate::ops::AuditAction {
    crate::ops::AuditAction::Exec(crate::quote::sh_join(cmd))
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
        assert_eq!(
            audit_action(&cmd).to_string(),
            r#"exec sh -c 'echo it'\''s $HOME' ''"#
        );
    }
}
