//! Resource counters of every running container on a host, read over the
//! host's open SSH session: the kernel's cgroup files (v1 or v2, found once
//! per container start through its /proc/PID/cgroup, so any cgroup driver
//! and parent works) and its network namespace's /proc/PID/net/dev, all read
//! by one `grep` per reading that prints only the lines that matter, in a
//! shell kept running on a pipe. No Docker stats streams: the daemon does
//! no work at all.

mod parse;
pub mod script;

pub use parse::parse;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;

use crate::transport::Remote;

/// Longest output kept (a few hundred bytes per container).
const OUTPUT_LIMIT: usize = 1024 * 1024;

/// One reading of a host: cumulative counters at the host's uptime `at_s`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Seconds since boot on the host: rates use the host's clock, not the
    /// round trip's.
    pub at_s: f64,
    pub host: HostCounters,
    pub containers: HashMap<String, Counters>,
    /// Containers whose PID no longer belongs to them (restarted since the
    /// PID was looked up): look it up again.
    pub stale: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostCounters {
    /// Jiffies from /proc/stat's `cpu` line: busy and all.
    pub cpu_busy: u64,
    pub cpu_all: u64,
    pub load1: f64,
    pub mem_total: u64,
    pub mem_available: u64,
}

/// Cumulative counters of one container (memory is a level, not a counter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub cpu_ns: Option<u64>,
    /// Usage minus inactive file cache, as `docker stats` counts it.
    pub mem_bytes: Option<u64>,
    pub mem_limit: Option<u64>,
    pub net_rx: u64,
    pub net_tx: u64,
    pub io_read: u64,
    pub io_write: u64,
}

/// PIDs of running containers, looked up once per container start (one
/// inspect each) and kept until the counters say the PID moved on.
#[derive(Debug, Default)]
pub struct Pids {
    known: HashMap<String, (String, i64)>,
}

impl Pids {
    /// (id, PID) for `running` (id, start time), inspecting the new ones.
    pub async fn resolve(
        &mut self,
        docker: &bollard::Docker,
        running: &[(String, String)],
    ) -> Vec<(String, i64)> {
        self.known
            .retain(|id, _| running.iter().any(|(r, _)| r == id));
        let missing: Vec<(String, String)> = running
            .iter()
            .filter(|(id, started)| self.known.get(id).is_none_or(|(s, _)| s != started))
            .cloned()
            .collect();
        let mut looked = futures::stream::iter(missing)
            .map(|(id, started)| async move {
                let pid = docker
                    .inspect_container(&id, None)
                    .await
                    .ok()
                    .and_then(|i| i.state)
                    .and_then(|s| s.pid)
                    .filter(|p| *p > 0);
                (id, started, pid)
            })
            .buffer_unordered(4);
        // Keyed by the start time the caller knows (none without inspects):
        // a restart under that time is caught by the reading's `stale`.
        while let Some((id, started, pid)) = looked.next().await {
            if let Some(pid) = pid {
                self.known.insert(id, (started, pid));
            }
        }
        running
            .iter()
            .filter_map(|(id, _)| self.known.get(id).map(|(_, pid)| (id.clone(), *pid)))
            .collect()
    }

    /// Forgets PIDs the last reading called stale.
    pub fn forget(&mut self, stale: &[String]) {
        for id in stale {
            self.known.remove(id);
        }
    }
}

/// A host's reader: PIDs looked up as containers start, each container's
/// counter files, and the looping script's pipe while the session lasts.
#[derive(Default)]
pub struct Collector {
    pids: Pids,
    /// Container id → (PID, " FILE FILE…").
    files: HashMap<String, (i64, String)>,
    pipe: Option<Piped>,
}

struct Piped {
    io: tokio::io::BufReader<crate::transport::Pipe>,
    /// The files the script holds (the last `S` line).
    holds: String,
}

impl Collector {
    /// One reading of the `running` containers (id, start time) over the
    /// host's session, bounded by `within`.
    pub async fn read(
        &mut self,
        handles: &super::Handles,
        running: &[(String, String)],
        within: Duration,
    ) -> Result<Reading, String> {
        let Some(remote) = &handles.remote else {
            return Err("local Docker daemon: counters are read over SSH only".to_owned());
        };
        let work = async {
            let targets = self.pids.resolve(&handles.docker, running).await;
            self.reading(remote, &targets).await
        };
        let reading = match tokio::time::timeout(within, work).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.pipe = None;
                return Err(e);
            }
            Err(_) => {
                // A half-read answer would be taken for the next one.
                self.pipe = None;
                return Err(format!("counters not read within {}s", within.as_secs()));
            }
        };
        self.pids.forget(&reading.stale);
        for id in &reading.stale {
            self.files.remove(id);
        }
        Ok(reading)
    }

    async fn reading(
        &mut self,
        remote: &Remote,
        targets: &[(String, i64)],
    ) -> Result<Reading, String> {
        self.files
            .retain(|id, (pid, _)| targets.iter().any(|(t, p)| t == id && p == pid));
        let new: Vec<(String, i64)> = targets
            .iter()
            .filter(|(id, _)| !self.files.contains_key(id))
            .cloned()
            .collect();
        if !new.is_empty() {
            let pids: Vec<i64> = new.iter().map(|(_, p)| *p).collect();
            let out = self
                .ask(remote, &script::paths_line(&pids), || {
                    script::paths_command(&pids)
                })
                .await?;
            let found = script::files_from_paths(&out, &new);
            for (id, pid) in &new {
                match found.get(id) {
                    Some(files) => {
                        self.files.insert(id.clone(), (*pid, files.clone()));
                    }
                    // Gone, or its PID is another's now: looked up again next time.
                    None => self.pids.forget(std::slice::from_ref(id)),
                }
            }
        }
        let mut by_pid = HashMap::new();
        let mut files = String::new();
        for (id, pid) in targets {
            if let Some((_, f)) = self.files.get(id) {
                by_pid.insert(pid.to_string(), id.clone());
                files.push_str(f);
            }
        }
        self.open(remote).await?;
        if let Some(p) = self.pipe.as_mut().filter(|p| p.holds != files) {
            p.holds.clone_from(&files);
            let line = format!("S{files}");
            self.ask(remote, &line, String::new).await?;
        }
        let out = self
            .ask(remote, "", || script::reading_command(&files))
            .await?;
        parse(&out, &by_pid)
    }

    /// Opens the pipe unless it is open; false where the session cannot
    /// give one (through the persistent-session daemon).
    async fn open(&mut self, remote: &Remote) -> Result<bool, String> {
        if self.pipe.is_some() {
            return Ok(true);
        }
        let opened = remote
            .pipe(&script::looping_script())
            .await
            .map_err(|e| e.to_string())?;
        Ok(match opened {
            Some(p) => {
                self.pipe = Some(Piped {
                    io: tokio::io::BufReader::new(p),
                    holds: String::new(),
                });
                true
            }
            None => false,
        })
    }

    /// One answer: through the pipe (opened on first use), or from one exec
    /// of `command()` where the session cannot give a pipe.
    async fn ask(
        &mut self,
        remote: &Remote,
        line: &str,
        command: impl FnOnce() -> String,
    ) -> Result<String, String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        if !self.open(remote).await? {
            return exec(remote, &command()).await;
        }
        let Some(p) = self.pipe.as_mut() else {
            return Err("no pipe".to_owned());
        };
        let io = |e: std::io::Error| format!("counters pipe: {e}");
        p.io.get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(io)?;
        p.io.get_mut().flush().await.map_err(io)?;
        let mut out = String::new();
        loop {
            let before = out.len();
            if p.io.read_line(&mut out).await.map_err(io)? == 0 {
                return Err(format!("counters pipe closed: {}", last(&out)));
            }
            if out[before..].trim_end() == script::END {
                out.truncate(before);
                return Ok(out);
            }
            if out.len() > OUTPUT_LIMIT {
                return Err(format!("an answer over {OUTPUT_LIMIT} bytes"));
            }
        }
    }
}

/// The last line of what a closed pipe gave (the shell's complaint).
fn last(out: &str) -> String {
    crate::logs::sanitize::plain(out.lines().last().unwrap_or("no output").as_bytes())
}

/// One round's work: each host's name, handles (None when down) and
/// running containers (id, start time), in inventory order.
pub type Request = Vec<(String, Option<super::Handles>, Vec<(String, String)>)>;

/// Each read host's reading, or why it has none; hosts that are down are
/// left out.
pub type Round = Vec<(String, Result<Reading, String>)>;

/// This round's request: every host of `state`.
pub fn request(state: &super::FleetState, fleet: &super::Fleet) -> Request {
    state
        .hosts
        .iter()
        .enumerate()
        .map(|(hi, h)| {
            let handles = fleet.handles(hi).filter(|_| h.is_up());
            (h.spec.name.clone(), handles, running(h))
        })
        .collect()
}

/// Reads every connected host of `request` at once, each with its own
/// collector (`collectors` grows to the request's length).
pub async fn read_round(
    collectors: &mut Vec<Collector>,
    request: Request,
    within: Duration,
) -> Round {
    collectors.resize_with(request.len(), Default::default);
    let work = collectors
        .iter_mut()
        .zip(request)
        .map(|(c, (host, handles, running))| async move {
            let handles = handles?;
            Some((host, c.read(&handles, &running, within).await))
        });
    futures::future::join_all(work)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The running containers of a host as [`Collector::read`] takes them.
fn running(host: &super::HostState) -> Vec<(String, String)> {
    host.containers
        .iter()
        .filter(|c| c.is_running())
        .map(|c| (c.id.clone(), c.started_at.clone().unwrap_or_default()))
        .collect()
}

/// One command's output.
async fn exec(remote: &Remote, command: &str) -> Result<String, String> {
    let out = remote
        .exec(command, OUTPUT_LIMIT)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests;
