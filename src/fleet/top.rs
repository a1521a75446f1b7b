//! Resource counters of every running container on a host in one exec over
//! the host's open SSH session: the kernel's cgroup files (v1 or v2, found
//! through each container's /proc/PID/cgroup, so any cgroup driver and
//! parent works) and its network namespace's /proc/PID/net/dev, read by one
//! `grep` that prints only the lines that matter. No Docker stats streams:
//! the daemon does no work at all.

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

/// The lines `grep` keeps: single numbers (cpuacct.usage, memory.current …),
/// `max`, the memory.stat and cpu.stat keys used, block device lines,
/// interface lines, and the host's own /proc files.
const KEEP: &[&str] = &[
    "^[0-9]+$",
    "^max$",
    "^(total_)?inactive_file ",
    "^usage_usec ",
    "^[0-9]+:[0-9]+ ",
    "^Total ",
    "^ *[a-z0-9@._-]+: *[0-9]",
    "^cpu ",
    "^Mem(Total|Available):",
    "^[0-9.]+ [0-9.]+$",
    "^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+/",
];

/// Reads one frame for the targets in `$@`; `$u` is the cgroup v2 root.
fn frame_body() -> String {
    let keep: String = KEEP
        .iter()
        .map(|k| format!(" -e {}", crate::quote::sh(k)))
        .collect();
    format!(
        "F='/proc/uptime /proc/loadavg /proc/stat /proc/meminfo'\n\
         for e in \"$@\"; do id=${{e%:*}}; pid=${{e#*:}}; ok=gone\n\
         [ -r /proc/$pid/cgroup ] && while IFS=: read -r n c p; do\n\
         case $p in *$id*) ok=ok ;; *) continue ;; esac\n\
         case $c in\n\
         '') F=\"$F $u$p/cpu.stat $u$p/memory.current $u$p/memory.stat $u$p/memory.max $u$p/io.stat\" ;;\n\
         *cpuacct*) F=\"$F /sys/fs/cgroup/$c$p/cpuacct.usage\" ;;\n\
         memory) F=\"$F /sys/fs/cgroup/memory$p/memory.usage_in_bytes /sys/fs/cgroup/memory$p/memory.stat /sys/fs/cgroup/memory$p/memory.limit_in_bytes\" ;;\n\
         blkio) F=\"$F /sys/fs/cgroup/blkio$p/blkio.throttle.io_service_bytes\" ;;\n\
         esac; done < /proc/$pid/cgroup\n\
         [ $ok = ok ] && F=\"$F /proc/$pid/net/dev\"\n\
         echo \"@ $id $pid $ok\"; done\n\
         grep -sHE{keep} $F\n"
    )
}

const CGROUP_ROOT: &str =
    "u=/sys/fs/cgroup; [ -e $u/cgroup.controllers ] || u=/sys/fs/cgroup/unified\n";

/// The end of a frame on the pipe.
const END: &str = "@end";

/// The one-shot script for `targets` (container id, PID). POSIX sh.
pub fn script(targets: &[(String, i64)]) -> String {
    format!(
        "set -- {}\n{CGROUP_ROOT}{}",
        target_line(targets),
        frame_body()
    )
}

/// The long-running script: a frame for every line of targets on stdin,
/// so a reading costs the host no new session, shell or login, only one
/// `grep`. Ends when stdin closes.
pub fn looping_script() -> String {
    format!(
        "{CGROUP_ROOT}while read -r line; do set -- $line\n{}echo {END}; done\n",
        frame_body()
    )
}

fn target_line(targets: &[(String, i64)]) -> String {
    let pairs: Vec<String> = targets
        .iter()
        .map(|(id, pid)| format!("{id}:{pid}"))
        .collect();
    pairs.join(" ")
}

/// Parses the script's output.
pub fn parse(out: &str) -> Result<Reading, String> {
    let mut r = Reading::default();
    let mut by_pid: HashMap<&str, &str> = HashMap::new();
    let mut ids: Vec<&str> = Vec::new();
    let mut v1_mem: HashMap<String, (Option<u64>, Option<u64>)> = HashMap::new();
    let mut v2_mem: HashMap<String, (Option<u64>, Option<u64>)> = HashMap::new();
    let mut v2_cpu: HashMap<String, u64> = HashMap::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("@ ") {
            let mut f = rest.split(' ');
            if let (Some(id), Some(pid), Some(ok)) = (f.next(), f.next(), f.next()) {
                if ok == "ok" {
                    by_pid.insert(pid, id);
                    ids.push(id);
                    r.containers.insert(id.to_owned(), Counters::default());
                } else {
                    r.stale.push(id.to_owned());
                }
            }
            continue;
        }
        let Some((path, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(host) = path.strip_prefix("/proc/") {
            host_line(&mut r, host, value, &by_pid);
            continue;
        }
        let Some(id) = ids.iter().find(|id| path.contains(**id)) else {
            continue;
        };
        let c = r.containers.entry((*id).to_owned()).or_default();
        let file = path.rsplit('/').next().unwrap_or(path);
        let num = || value.trim().parse::<u64>().ok();
        match file {
            "cpuacct.usage" => c.cpu_ns = num(),
            "cpu.stat" => {
                if let Some(us) = key_value(value, "usage_usec") {
                    v2_cpu.insert((*id).to_owned(), us * 1000);
                }
            }
            "memory.usage_in_bytes" => v1_mem.entry((*id).to_owned()).or_default().0 = num(),
            "memory.current" => v2_mem.entry((*id).to_owned()).or_default().0 = num(),
            "memory.stat" => {
                if let Some(v) = key_value(value, "total_inactive_file") {
                    v1_mem.entry((*id).to_owned()).or_default().1 = Some(v);
                } else if let Some(v) = key_value(value, "inactive_file") {
                    v2_mem.entry((*id).to_owned()).or_default().1 = Some(v);
                }
            }
            // v1 says "no limit" with a huge number, v2 with `max`.
            "memory.limit_in_bytes" | "memory.max" => {
                c.mem_limit = num().filter(|l| *l < (1 << 60));
            }
            "blkio.throttle.io_service_bytes" => block_v1(c, value),
            "io.stat" => block_v2(c, value),
            _ => {}
        }
    }
    for (id, c) in &mut r.containers {
        // v1 counters where the host has them (hybrid hosts have both).
        c.cpu_ns = c.cpu_ns.or_else(|| v2_cpu.get(id).copied());
        let mem = v1_mem
            .get(id)
            .filter(|m| m.0.is_some())
            .or_else(|| v2_mem.get(id));
        if let Some((Some(used), inactive)) = mem {
            c.mem_bytes = Some(used.saturating_sub(inactive.unwrap_or(0)));
        }
    }
    if r.at_s <= 0.0 {
        return Err(format!(
            "unreadable counters (no /proc/uptime): {:?}",
            crate::logs::sanitize::plain(out.lines().next().unwrap_or("").as_bytes())
        ));
    }
    Ok(r)
}

/// `key N` in a stat file's line.
fn key_value(line: &str, key: &str) -> Option<u64> {
    let (k, v) = line.split_once(' ')?;
    (k == key).then(|| v.trim().parse().ok()).flatten()
}

fn host_line(r: &mut Reading, path: &str, value: &str, by_pid: &HashMap<&str, &str>) {
    match path {
        "uptime" => {
            r.at_s = value
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
        }
        "loadavg" => {
            r.host.load1 = value
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
        }
        "stat" => {
            let f: Vec<u64> = value
                .split_whitespace()
                .skip(1)
                .filter_map(|n| n.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
            let all: u64 = f.iter().take(8).sum();
            r.host.cpu_all = all;
            r.host.cpu_busy = all.saturating_sub(idle);
        }
        "meminfo" => {
            let kib = || {
                value
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .map_or(0, |k| k * 1024)
            };
            if value.starts_with("MemTotal") {
                r.host.mem_total = kib();
            } else if value.starts_with("MemAvailable") {
                r.host.mem_available = kib();
            }
        }
        other => net_line(r, other, value, by_pid),
    }
}

/// `PID/net/dev:  eth0: rx_bytes … (8 fields) tx_bytes …`; loopback is
/// the container talking to itself.
fn net_line(r: &mut Reading, path: &str, value: &str, by_pid: &HashMap<&str, &str>) {
    let Some(pid) = path.strip_suffix("/net/dev") else {
        return;
    };
    let Some(id) = by_pid.get(pid) else {
        return;
    };
    // grep split at the first colon: `value` is ` eth0: 123 …`.
    let Some((iface, nums)) = value.split_once(':') else {
        return;
    };
    if iface.trim() == "lo" {
        return;
    }
    let f: Vec<u64> = nums
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    if let (Some(rx), Some(tx), Some(c)) = (f.first(), f.get(8), r.containers.get_mut(*id)) {
        c.net_rx += rx;
        c.net_tx += tx;
    }
}

/// `8:0 Read 4096` lines (the `Total` line would count both twice).
fn block_v1(c: &mut Counters, value: &str) {
    let mut f = value.split_whitespace();
    let (Some(_dev), Some(op), Some(n)) = (f.next(), f.next(), f.next()) else {
        return;
    };
    let Ok(n) = n.parse::<u64>() else { return };
    match op {
        "Read" => c.io_read += n,
        "Write" => c.io_write += n,
        _ => {}
    }
}

/// `8:0 rbytes=N wbytes=N rios=N …`.
fn block_v2(c: &mut Counters, value: &str) {
    for kv in value.split_whitespace().skip(1) {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let Ok(v) = v.parse::<u64>() else { continue };
        match k {
            "rbytes" => c.io_read += v,
            "wbytes" => c.io_write += v,
            _ => {}
        }
    }
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

/// A host's reader: its PIDs, looked up as containers start, and the
/// looping script's pipe while the session lasts.
#[derive(Default)]
pub struct Collector {
    pids: Pids,
    pipe: Option<tokio::io::BufReader<crate::transport::Pipe>>,
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
            self.frame(remote, &targets).await
        };
        let reading = match tokio::time::timeout(within, work).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.pipe = None;
                return Err(e);
            }
            Err(_) => {
                // A half-read frame would be taken for the next one.
                self.pipe = None;
                return Err(format!("counters not read within {}s", within.as_secs()));
            }
        };
        self.pids.forget(&reading.stale);
        Ok(reading)
    }

    /// One frame through the pipe (opened on first use), or one exec where
    /// the session cannot give a pipe.
    async fn frame(
        &mut self,
        remote: &Remote,
        targets: &[(String, i64)],
    ) -> Result<Reading, String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        if self.pipe.is_none() {
            match remote
                .pipe(&looping_script())
                .await
                .map_err(|e| e.to_string())?
            {
                Some(p) => self.pipe = Some(tokio::io::BufReader::new(p)),
                None => return read(remote, targets).await,
            }
        }
        let Some(pipe) = self.pipe.as_mut() else {
            return Err("no pipe".to_owned());
        };
        let line = format!("{}\n", target_line(targets));
        let io = |e: std::io::Error| format!("counters pipe: {e}");
        pipe.get_mut()
            .write_all(line.as_bytes())
            .await
            .map_err(io)?;
        pipe.get_mut().flush().await.map_err(io)?;
        let mut out = String::new();
        loop {
            let before = out.len();
            let n = pipe.read_line(&mut out).await.map_err(io)?;
            if n == 0 {
                return Err(format!("counters pipe closed: {}", last(&out)));
            }
            if out[before..].trim_end() == END {
                out.truncate(before);
                return parse(&out);
            }
            if out.len() > OUTPUT_LIMIT {
                return Err(format!("a counters frame over {OUTPUT_LIMIT} bytes"));
            }
        }
    }
}

/// The last line of what a closed pipe gave (the shell's complaint).
fn last(out: &str) -> String {
    crate::logs::sanitize::plain(out.lines().last().unwrap_or("no output").as_bytes())
}

/// The running containers of a host as [`Collector::read`] takes them.
pub fn running(host: &super::HostState) -> Vec<(String, String)> {
    host.containers
        .iter()
        .filter(|c| c.is_running())
        .map(|c| (c.id.clone(), c.started_at.clone().unwrap_or_default()))
        .collect()
}

/// One reading of `targets` with one exec.
async fn read(remote: &Remote, targets: &[(String, i64)]) -> Result<Reading, String> {
    let out = remote
        .exec(&script(targets), OUTPUT_LIMIT)
        .await
        .map_err(|e| e.to_string())?;
    parse(&String::from_utf8_lossy(&out.stdout))
}

#[cfg(test)]
mod tests;
