//! Reading the output of one `grep -H` over the counter files.

use std::collections::{HashMap, HashSet};

use super::{Counters, Reading};

/// Parses a reading's `grep -H` output; `by_pid` names each PID's
/// container. A container whose /proc/PID/net/dev gave nothing has a PID
/// that is gone (restarted): it is `stale`.
pub fn parse(out: &str, by_pid: &HashMap<String, String>) -> Result<Reading, String> {
    let mut r = Reading::default();
    let ids: Vec<&str> = by_pid.values().map(String::as_str).collect();
    for id in &ids {
        r.containers.insert((*id).to_owned(), Counters::default());
    }
    let mut alive: HashSet<&str> = HashSet::new();
    let mut v1_mem: HashMap<String, (Option<u64>, Option<u64>)> = HashMap::new();
    let mut v2_mem: HashMap<String, (Option<u64>, Option<u64>)> = HashMap::new();
    let mut v2_cpu: HashMap<String, u64> = HashMap::new();
    for line in out.lines() {
        let Some((path, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(host) = path.strip_prefix("/proc/") {
            if let Some(id) = host_line(&mut r, host, value, by_pid) {
                alive.insert(id);
            }
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
    let stale: Vec<String> = ids
        .iter()
        .filter(|id| !alive.contains(**id))
        .map(|id| (*id).to_owned())
        .collect();
    for id in &stale {
        r.containers.remove(id);
    }
    r.stale = stale;
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

/// A host file's line, or a container's net/dev line (its id returned).
fn host_line<'a>(
    r: &mut Reading,
    path: &str,
    value: &str,
    by_pid: &'a HashMap<String, String>,
) -> Option<&'a str> {
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
        other => return net_line(r, other, value, by_pid),
    }
    None
}

/// `PID/net/dev:  eth0: rx_bytes … (8 fields) tx_bytes …`; loopback is
/// the container talking to itself.
fn net_line<'a>(
    r: &mut Reading,
    path: &str,
    value: &str,
    by_pid: &'a HashMap<String, String>,
) -> Option<&'a str> {
    let pid = path.strip_suffix("/net/dev")?;
    let id = by_pid.get(pid)?.as_str();
    // grep split at the first colon: `value` is ` eth0: 123 …`.
    let (iface, nums) = value.split_once(':')?;
    if iface.trim() == "lo" {
        return Some(id);
    }
    let f: Vec<u64> = nums
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    if let (Some(rx), Some(tx), Some(c)) = (f.first(), f.get(8), r.containers.get_mut(id)) {
        c.net_rx += rx;
        c.net_tx += tx;
    }
    Some(id)
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
