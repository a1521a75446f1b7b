//! `e`: an interactive shell in a container, run on the plain terminal while
//! the TUI is suspended, over the host's open session.

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::ops::exec::{self, ExecRequest, Sinks};

/// Which container the shell opens in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellTarget {
    pub host: crate::fleet::HostId,
    pub host_name: String,
    pub container_id: String,
    pub name: String,
}

/// The first of `programs` the container has (each tried with `-c 'exit 0'`).
async fn pick(
    docker: &bollard::Docker,
    container: &str,
    programs: &[String],
) -> Result<String, String> {
    for program in programs {
        let probe = ExecRequest {
            container: container.to_owned(),
            cmd: vec![program.clone(), "-c".to_owned(), "exit 0".to_owned()],
            stdin: false,
            tty: false,
            size: None,
        };
        let sinks = Sinks {
            out: tokio::io::sink(),
            err: tokio::io::sink(),
        };
        let none: Option<tokio::io::Empty> = None;
        if let Ok(0) = exec::run(docker, &probe, none, sinks, mpsc::channel(1).1).await {
            return Ok(program.clone());
        }
    }
    Err(format!(
        "none of {} runs in the container",
        programs.join(", ")
    ))
}

/// Runs the shell to its end on the real terminal (raw mode, resizes
/// forwarded), then waits for a key so the user sees how it ended. Returns
/// the program and its exit code.
pub async fn run(
    docker: &bollard::Docker,
    target: &ShellTarget,
    programs: &[String],
) -> Result<(String, i64), String> {
    let program = pick(docker, &target.container_id, programs).await?;
    println!(
        "flotilla: {program} in {} on {} (exit to return)\r",
        target.name, target.host_name
    );
    let req = ExecRequest {
        container: target.container_id.clone(),
        cmd: vec![program.clone()],
        stdin: true,
        tty: true,
        size: crossterm::terminal::size().ok(),
    };
    let (resize_rx, resizes) = crate::terminal::follow_resizes();
    crossterm::terminal::enable_raw_mode().map_err(|e| format!("terminal: {e}"))?;
    // One stdin handle for the session and the key after it: a read still
    // pending when the shell ends completes with that key, not a lost one.
    let mut stdin = tokio::io::stdin();
    let sinks = Sinks {
        out: tokio::io::stdout(),
        err: tokio::io::stderr(),
    };
    let result = exec::run(docker, &req, Some(&mut stdin), sinks, resize_rx).await;
    drop(resizes);
    let how = match &result {
        Ok(code) => format!("{program} exited with {code}"),
        Err(e) => format!("shell failed: {e}"),
    };
    print!("\r\nflotilla: {how}; press any key to return\r\n");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let mut key = [0u8; 16];
    let _ = stdin.read(&mut key).await;
    let _ = crossterm::terminal::disable_raw_mode();
    result
        .map(|code| (program, code))
        .map_err(|e| e.to_string())
}
