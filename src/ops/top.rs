//! `top` across the fleet: rates from consecutive counter readings, an hour
//! of history per container in a fixed-size ring, rows ranked by a resource.
//! Pure: readings come in, rows go out.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;

use crate::fleet::FleetState;
use crate::fleet::top::{Counters, HostCounters, Reading, Round};

/// An hour of readings at the default 5 s interval.
pub const RING: usize = 720;

/// What rows are ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Cpu,
    Mem,
    Net,
    Io,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Cpu, Sort::Mem, Sort::Net, Sort::Io];

    pub fn name(self) -> &'static str {
        match self {
            Sort::Cpu => "cpu",
            Sort::Mem => "mem",
            Sort::Net => "net",
            Sort::Io => "io",
        }
    }

    /// The least a sparkline scales to: an idle row stays flat instead of
    /// showing noise at full height.
    pub fn spark_floor(self) -> f64 {
        match self {
            Sort::Cpu => 5.0,
            Sort::Mem | Sort::Net | Sort::Io => 1024.0,
        }
    }

    /// The next key (the TUI cycles with one key).
    pub fn next(self) -> Sort {
        let i = Sort::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Sort::ALL[(i + 1) % Sort::ALL.len()]
    }
}

impl std::str::FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sort::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown sort key {s:?} (cpu, mem, net or io)"))
    }
}

/// The columns a ranking shows, the last one the history of `key`.
pub fn columns(key: Sort) -> [String; 7] {
    [
        "HOST".to_owned(),
        "CONTAINER".to_owned(),
        "CPU%".to_owned(),
        "MEM".to_owned(),
        "NET/s".to_owned(),
        "IO/s".to_owned(),
        format!("{} (LAST HOUR)", key.name().to_uppercase()),
    ]
}

/// A container's use over the last interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Percent of one CPU, as `docker stats` counts it.
    pub cpu_pct: f64,
    pub mem_bytes: u64,
    pub mem_limit_bytes: Option<u64>,
    /// Received plus sent, bytes per second.
    pub net_bps: f64,
    /// Read plus written, bytes per second.
    pub io_bps: f64,
}

impl Rates {
    /// "88.4 MiB / 512.0 MiB", or the use alone without a limit.
    pub fn mem_phrase(&self) -> String {
        let used = crate::human::bytes(self.mem_bytes);
        match self.mem_limit_bytes {
            Some(limit) => format!("{used} / {}", crate::human::bytes(limit)),
            None => used,
        }
    }

    pub fn get(&self, key: Sort) -> f64 {
        match key {
            Sort::Cpu => self.cpu_pct,
            Sort::Mem => self.mem_bytes as f64,
            Sort::Net => self.net_bps,
            Sort::Io => self.io_bps,
        }
    }
}

/// One point of history, compact (16 bytes): an hour of 400 containers
/// is under 5 MB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Point {
    /// Tenths of a percent of one CPU.
    cpu: u32,
    mem_kib: u32,
    net_bps: u32,
    io_bps: u32,
}

impl Point {
    fn of(r: &Rates) -> Point {
        let clamp = |v: f64| v.clamp(0.0, f64::from(u32::MAX)) as u32;
        Point {
            cpu: clamp(r.cpu_pct * 10.0),
            mem_kib: clamp(r.mem_bytes as f64 / 1024.0),
            net_bps: clamp(r.net_bps),
            io_bps: clamp(r.io_bps),
        }
    }

    fn get(&self, key: Sort) -> f64 {
        match key {
            Sort::Cpu => f64::from(self.cpu) / 10.0,
            Sort::Mem => f64::from(self.mem_kib) * 1024.0,
            Sort::Net => f64::from(self.net_bps),
            Sort::Io => f64::from(self.io_bps),
        }
    }
}

#[derive(Debug, Clone)]
struct Series {
    name: String,
    /// The host's uptime at the last reading, and the counters then.
    at_s: f64,
    last: Counters,
    rates: Option<Rates>,
    ring: VecDeque<Point>,
}

/// A host's own use, beside its containers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HostUse {
    /// Busy share of all the host's CPUs, percent.
    pub cpu_pct: Option<f64>,
    pub load1: f64,
    pub mem_used_pct: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct HostTop {
    last: Option<(f64, HostCounters)>,
    now: HostUse,
    containers: HashMap<String, Series>,
}

/// Every host's containers and their history.
#[derive(Debug, Clone, Default)]
pub struct Top {
    hosts: BTreeMap<String, HostTop>,
}

/// One ranked container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub host: String,
    pub container: String,
    pub id: String,
    #[serde(flatten)]
    pub rates: Rates,
    /// The ranked resource, oldest first, one value per reading.
    pub history: Vec<f64>,
}

impl Top {
    /// Folds in a host's reading; `names` maps container ids to names.
    /// Containers the reading lacks are gone (stopped), history and all;
    /// stale ones (PID looked up again) keep theirs.
    pub fn ingest(&mut self, host: &str, reading: &Reading, names: &HashMap<String, String>) {
        let h = self.hosts.entry(host.to_owned()).or_default();
        h.now = host_use(h.last, reading);
        h.last = Some((reading.at_s, reading.host));
        h.containers
            .retain(|id, _| reading.containers.contains_key(id) || reading.stale.contains(id));
        for (id, now) in &reading.containers {
            let name = names
                .get(id)
                .cloned()
                .unwrap_or_else(|| crate::human::short_id(id));
            let s = h.containers.entry(id.clone()).or_insert_with(|| Series {
                name: String::new(),
                at_s: reading.at_s,
                last: *now,
                rates: None,
                ring: VecDeque::new(),
            });
            s.name = name;
            if let Some(r) = rates(s.at_s, &s.last, reading.at_s, now) {
                if s.ring.len() == RING {
                    s.ring.pop_front();
                }
                s.ring.push_back(Point::of(&r));
                s.rates = Some(r);
            }
            s.at_s = reading.at_s;
            s.last = *now;
        }
    }

    /// Folds in a round, naming containers as `fleet` lists them; a host
    /// whose reading failed leaves the ranking. Returns those failures.
    pub fn ingest_round(&mut self, round: Round, fleet: &FleetState) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for (host, got) in round {
            match got {
                Ok(reading) => {
                    let names: HashMap<String, String> = fleet
                        .host_named(&host)
                        .map(|(_, h)| {
                            h.containers
                                .iter()
                                .map(|c| (c.id.clone(), c.name.clone()))
                                .collect()
                        })
                        .unwrap_or_default();
                    self.ingest(&host, &reading, &names);
                }
                Err(e) => {
                    self.hosts.remove(&host);
                    failed.push((host, e));
                }
            }
        }
        failed
    }

    /// Every container with rates, highest `key` first (ties by host, name).
    pub fn rows(&self, key: Sort) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .hosts
            .iter()
            .flat_map(|(host, h)| {
                h.containers.iter().filter_map(move |(id, s)| {
                    Some(Row {
                        host: host.clone(),
                        container: s.name.clone(),
                        id: id.clone(),
                        rates: s.rates?,
                        history: s.ring.iter().map(|p| p.get(key)).collect(),
                    })
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            b.rates
                .get(key)
                .total_cmp(&a.rates.get(key))
                .then_with(|| a.host.cmp(&b.host))
                .then_with(|| a.container.cmp(&b.container))
        });
        rows
    }

    /// Each host's own use, by name.
    pub fn hosts(&self) -> impl Iterator<Item = (&str, HostUse)> {
        self.hosts.iter().map(|(n, h)| (n.as_str(), h.now))
    }
}

/// Rates between two readings; None when the clock did not move or a
/// counter went back (the container restarted under the same id).
fn rates(at0: f64, c0: &Counters, at1: f64, c1: &Counters) -> Option<Rates> {
    let dt = at1 - at0;
    if dt <= 0.0 {
        return None;
    }
    let per_s = |a: u64, b: u64| b.checked_sub(a).map(|d| d as f64 / dt);
    let cpu_pct = match (c0.cpu_ns, c1.cpu_ns) {
        (Some(a), Some(b)) => b.checked_sub(a)? as f64 / (dt * 1e9) * 100.0,
        _ => 0.0,
    };
    Some(Rates {
        cpu_pct,
        mem_bytes: c1.mem_bytes.unwrap_or(0),
        mem_limit_bytes: c1.mem_limit,
        net_bps: per_s(c0.net_rx + c0.net_tx, c1.net_rx + c1.net_tx)?,
        io_bps: per_s(c0.io_read + c0.io_write, c1.io_read + c1.io_write)?,
    })
}

fn host_use(last: Option<(f64, HostCounters)>, now: &Reading) -> HostUse {
    let cpu_pct = last.and_then(|(_, h0)| {
        let all = now.host.cpu_all.checked_sub(h0.cpu_all)?;
        let busy = now.host.cpu_busy.checked_sub(h0.cpu_busy)?;
        (all > 0).then(|| busy as f64 / all as f64 * 100.0)
    });
    let h = &now.host;
    HostUse {
        cpu_pct,
        load1: h.load1,
        mem_used_pct: (h.mem_total > 0).then(|| {
            (h.mem_total.saturating_sub(h.mem_available)) as f64 / h.mem_total as f64 * 100.0
        }),
    }
}

/// `values` as `width` block characters, newest on the right; several
/// values per cell keep their highest. Scaled to the row's own peak, with
/// a floor so an idle row stays flat.
pub fn sparkline(values: &[f64], width: usize, floor: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let cells: Vec<f64> = values
        .rchunks(per)
        .rev()
        .map(|c| c.iter().copied().fold(0.0, f64::max))
        .collect();
    let peak = cells.iter().copied().fold(floor, f64::max);
    cells
        .iter()
        .map(|v| {
            let i = (v / peak * 7.0).round().clamp(0.0, 7.0) as usize;
            BARS[i]
        })
        .collect()
}

#[cfg(test)]
mod tests;
