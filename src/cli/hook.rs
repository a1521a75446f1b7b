//! `watch --exec CMD`: runs the user's command (`sh -c`) for each
//! notification, its JSON on stdin. Bounded every way a command can run away:
//! at most `jobs` run at once and a bounded queue waits (a notification that
//! finds it full is dropped and counted); each run has a timeout, after which
//! its whole process group is killed; its output (stdout and stderr together)
//! is captured, capped and reported on stderr, never passed to watch's own
//! output; and when watch ends, whatever still runs is killed the same way.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::human::bytes;

/// Output bytes of one run kept for the report.
pub const KEEP: usize = 8 * 1024;
/// Output bytes read from one run at most; past this the command is left
/// blocked on its full pipe until its timeout ends it.
pub const READ_MAX: u64 = 16 * 1024 * 1024;
/// Notifications waiting for a free slot.
pub const QUEUE: usize = 32;
/// How long a command has to end after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// What to run and how much of it.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub cmd: String,
    pub timeout: Duration,
    pub jobs: usize,
}

/// The sending end: `send` never waits.
pub struct ExecHook {
    cmd: String,
    queue: mpsc::Sender<String>,
    stop: watch::Sender<bool>,
    runner: tokio::task::JoinHandle<()>,
    dropped: std::cell::Cell<u64>,
}

impl ExecHook {
    /// Starts the runner task (needs a tokio runtime).
    pub fn spawn(spec: ExecSpec) -> ExecHook {
        let (queue, rx) = mpsc::channel(QUEUE);
        let (stop, stopped) = watch::channel(false);
        let cmd = spec.cmd.clone();
        let runner = tokio::spawn(runner(Arc::new(spec), rx, stopped));
        ExecHook {
            cmd,
            queue,
            stop,
            runner,
            dropped: std::cell::Cell::new(0),
        }
    }

    /// Queues one notification's JSON.
    pub fn send(&self, json: String) {
        if self.queue.try_send(json).is_err() {
            self.dropped.set(self.dropped.get() + 1);
            eprintln!(
                "flotilla: --exec {:?}: falling behind, notification not run ({} dropped so far)",
                self.cmd,
                self.dropped.get()
            );
        }
    }

    /// Kills what still runs (process groups: SIGTERM, then SIGKILL) and
    /// says how many waiting notifications were never run.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        drop(self.queue);
        // Each run ends within its grace; a little more for the reports.
        if tokio::time::timeout(TERM_GRACE * 3, self.runner)
            .await
            .is_err()
        {
            eprintln!(
                "flotilla: --exec {:?}: commands still ending when watch stopped",
                self.cmd
            );
        }
    }
}

async fn runner(
    spec: Arc<ExecSpec>,
    mut queue: mpsc::Receiver<String>,
    stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(spec.jobs.max(1)));
    let mut running = JoinSet::new();
    let (mut stopped, mut stopped_waiting) = (stop.clone(), stop.clone());
    let mut unrun = 0;
    loop {
        let json = tokio::select! {
            biased;
            _ = stopped.wait_for(|s| *s) => break,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
            json = queue.recv() => json,
        };
        let Some(json) = json else { break };
        let slot = tokio::select! {
            _ = stopped_waiting.wait_for(|s| *s) => None,
            slot = slots.clone().acquire_owned() => slot.ok(),
        };
        let Some(slot) = slot else {
            unrun += 1;
            break;
        };
        let (spec, stop) = (spec.clone(), stop.clone());
        running.spawn(async move {
            let report = run_one(&spec, json, stop).await;
            drop(slot);
            if let Some(r) = report {
                eprint!("{r}");
            }
        });
    }
    queue.close();
    not_run(&spec, &mut queue, unrun).await;
    while running.join_next().await.is_some() {}
}

/// Reports notifications that were queued but never run.
async fn not_run(spec: &ExecSpec, queue: &mut mpsc::Receiver<String>, mut n: usize) {
    while queue.recv().await.is_some() {
        n += 1;
    }
    if n > 0 {
        eprintln!(
            "flotilla: --exec {:?}: {n} waiting notification(s) not run (watch ended)",
            spec.cmd
        );
    }
}

/// How one run ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Exited(Option<i32>),
    TimedOut,
    /// Watch ended while it ran.
    Stopped,
}

/// Output of one run: the first `KEEP` bytes and how many there were.
#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    total: u64,
}

/// Runs the command once; the report to print, if there is anything to say.
async fn run_one(spec: &ExecSpec, json: String, mut stop: watch::Receiver<bool>) -> Option<String> {
    let started = Instant::now();
    let (mut child, output) = match spawn(&spec.cmd) {
        Ok(c) => c,
        Err(e) => return Some(format!("flotilla: --exec {:?}: {e}\n", spec.cmd)),
    };
    let pid = child.id();
    let stdin = child.stdin.take();
    let mut captured = Captured::default();
    let ended = {
        let work = async {
            let feed = async {
                if let Some(mut stdin) = stdin {
                    // A command that ignores its stdin may close it early.
                    let _ = stdin.write_all(json.as_bytes()).await;
                    let _ = stdin.write_all(b"\n").await;
                }
            };
            let (_, _, status) = tokio::join!(feed, capture(output, &mut captured), child.wait());
            status.ok().and_then(|s| s.code())
        };
        tokio::select! {
            code = work => Ended::Exited(code),
            _ = tokio::time::sleep(spec.timeout) => Ended::TimedOut,
            _ = stop.wait_for(|s| *s) => Ended::Stopped,
        }
    };
    if !matches!(ended, Ended::Exited(_)) {
        // Whatever it started goes with it.
        kill_group(pid, &mut child).await;
    }
    report(spec, &ended, started.elapsed(), &captured)
}

/// `sh -c CMD` in a process group of its own, stdout and stderr into one pipe.
fn spawn(cmd: &str) -> std::io::Result<(tokio::process::Child, tokio::net::unix::pipe::Receiver)> {
    let (tx, rx) = tokio::net::unix::pipe::pipe()?;
    let out = tx.into_blocking_fd()?;
    let err = out.try_clone()?;
    let mut command = tokio::process::Command::new("sh");
    command
        .args(["-c", cmd])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true);
    let child = command.spawn()?;
    // Our copies of the write end go with the Command, so EOF can come.
    drop(command);
    Ok((child, rx))
}

/// Reads output until EOF or `READ_MAX`, keeping the first `KEEP` bytes.
async fn capture(mut from: impl AsyncRead + Unpin, into: &mut Captured) {
    let mut buf = vec![0u8; 16 * 1024];
    while into.total < READ_MAX {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                into.total += n as u64;
                let room = KEEP.saturating_sub(into.kept.len());
                into.kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    // Full: stop reading; the timeout ends a command that keeps writing.
    std::future::pending::<()>().await;
}

/// SIGTERM to the command's process group, SIGKILL after a grace.
async fn kill_group(pid: Option<u32>, child: &mut tokio::process::Child) {
    use rustix::process::{Pid, Signal, kill_process_group};
    let Some(group) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw)
    else {
        return;
    };
    let _ = kill_process_group(group, Signal::TERM);
    if tokio::time::timeout(TERM_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
    }
    // The group may outlive its shell.
    let _ = kill_process_group(group, Signal::KILL);
    let _ = child.wait().await;
}

/// What a person reads on stderr: how it ended and the output it gave,
/// cleaned like every output of watch. Nothing for a quiet success.
fn report(spec: &ExecSpec, ended: &Ended, took: Duration, out: &Captured) -> Option<String> {
    if *ended == Ended::Exited(Some(0)) && out.total == 0 {
        return None;
    }
    let how = match ended {
        Ended::Exited(Some(0)) => format!("ran in {:.1}s", took.as_secs_f64()),
        Ended::Exited(Some(code)) => format!("exited {code} after {:.1}s", took.as_secs_f64()),
        Ended::Exited(None) => format!("killed by a signal after {:.1}s", took.as_secs_f64()),
        Ended::TimedOut => format!(
            "timed out after {} (its process group was killed)",
            humantime::format_duration(spec.timeout)
        ),
        Ended::Stopped => "killed: watch ended".to_owned(),
    };
    let mut text = format!("flotilla: --exec {:?} {how}", spec.cmd);
    if out.total > 0 {
        let shown = out.kept.len() as u64;
        let more = if out.total >= READ_MAX {
            format!(", more than {} in all; stopped reading", bytes(READ_MAX))
        } else if out.total > shown {
            format!(" of {} in all", bytes(out.total))
        } else {
            String::new()
        };
        text.push_str(&format!("; output ({}{more}):", bytes(shown)));
    }
    text.push('\n');
    let body = crate::redact::clean(&String::from_utf8_lossy(&out.kept));
    for line in body.lines() {
        text.push_str("  | ");
        text.push_str(line);
        text.push('\n');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cmd: &str, timeout_ms: u64) -> ExecSpec {
        ExecSpec {
            cmd: cmd.into(),
            timeout: Duration::from_millis(timeout_ms),
            jobs: 2,
        }
    }

    fn never() -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        rx
    }

    #[tokio::test]
    async fn a_flood_is_capped_and_ended_by_the_timeout() {
        let started = Instant::now();
        let report = run_one(&spec("yes FLOOD", 1500), "{}".into(), never())
            .await
            .expect("a report");
        assert!(started.elapsed() < Duration::from_secs(5), "{report}");
        assert!(report.contains("timed out after 1s 500ms"), "{report}");
        assert!(report.contains("stopped reading"), "{report}");
        assert!(report.contains("  | FLOOD\n"), "{report}");
        assert!(report.len() < KEEP * 2, "capped: {} bytes", report.len());
    }

    #[tokio::test]
    async fn the_payload_is_on_stdin_and_output_with_the_exit_code_on_stderr() {
        let report = run_one(
            &spec("read x; echo \"got $x\"; echo oops >&2; exit 3", 5000),
            "{\"a\":1}".into(),
            never(),
        )
        .await
        .expect("a report");
        assert!(report.contains("exited 3 after"), "{report}");
        assert!(report.contains("  | got {\"a\":1}\n  | oops\n"), "{report}");
        assert_eq!(
            run_one(&spec("cat >/dev/null", 5000), "{}".into(), never()).await,
            None,
            "a quiet success says nothing"
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 600 & echo $! > '{}'; wait", pidfile.display());
        let report = run_one(&spec(&cmd, 500), "{}".into(), never())
            .await
            .expect("report");
        assert!(report.contains("timed out"), "{report}");
        let pid = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .to_owned();
        // Gone, or a zombie its new parent has not reaped yet; the signal
        // may take a moment to land.
        let ended = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "))
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        while !ended() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ended(), "the background sleep {pid} was killed too");
    }
}
