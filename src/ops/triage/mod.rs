//! Fleet-wide triage: what is broken right now, ranked by severity. The rules
//! here are pure functions of the fleet state (plus log error counts and host
//! vitals); `group` folds them by (kind, service) with their evidence,
//! `collect` gathers that evidence over the open host connections.

pub mod collect;
pub mod evidence;
pub mod group;
pub mod incident;
pub mod markdown;

pub use evidence::{ContainerEvidence, Evidence};
pub use group::{ContainerRef, Group, GroupOptions, group};
pub use markdown::{Snapshot, snapshot};

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;

use crate::fleet::{ContainerState as S, FleetState, Health};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    HostDown,
    DiskPressure,
    MemoryPressure,
    CrashLoop,
    Dead,
    Unhealthy,
    ErrorBurst,
    ExitedNonZero,
    HighLoad,
    ImageDrift,
    HealthStarting,
    /// A Compose-managed container differs from what its project's files say.
    ComposeDrift,
    /// An `[[alerts.rule]]` of `watch` matched (`Finding::rule` names it).
    Rule,
}

impl Kind {
    /// Host-level findings have no container.
    pub fn is_host(self) -> bool {
        matches!(
            self,
            Kind::HostDown | Kind::DiskPressure | Kind::MemoryPressure | Kind::HighLoad
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: Kind,
    pub host: String,
    pub container: Option<String>,
    /// The container's full id (None for host findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub service: Option<String>,
    pub summary: String,
    /// The `[[alerts.rule]]` behind a `Kind::Rule` finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Restarts at or above this count mark a running container as crash-looping.
const CRASH_LOOP_RESTARTS: i64 = 3;
/// Error lines in the scanned window that make a burst.
pub const ERROR_BURST_LINES: usize = 10;

/// Error lines seen in one container's recent logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCount {
    pub lines: usize,
    pub sample: String,
    /// The newest matching lines, oldest first (at most `RECENT_ERRORS`).
    pub recent: Vec<String>,
    /// Unix nanoseconds of the first matching line scanned (baseline
    /// included: errors that began before the window began then), when
    /// Docker stamped it.
    pub first: Option<i128>,
    /// Error lines before the window (the container's own baseline), and
    /// the seconds the baseline and the window span.
    pub baseline: usize,
    pub baseline_secs: i64,
    pub window_secs: i64,
    /// Lines scanned and the earliest one's time: a scan that hit its tail
    /// limit only reaches back that far.
    pub scanned: usize,
    pub earliest: Option<i128>,
}

/// Matching lines kept as evidence of an error burst.
pub const RECENT_ERRORS: usize = 5;

impl ErrorCount {
    /// Counts one line (with its Docker timestamp, if any).
    pub fn add(&mut self, pattern: &Regex, line: &str, ts: Option<i128>) {
        if !pattern.is_match(line) {
            return;
        }
        self.lines += 1;
        line.trim().clone_into(&mut self.sample);
        if self.recent.len() == RECENT_ERRORS {
            self.recent.remove(0);
        }
        self.recent.push(self.sample.clone());
        if let Some(ts) = ts {
            self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        }
    }
}

/// Matches the words that mark an error line in most logs.
pub fn error_pattern() -> Option<Regex> {
    Regex::new(r"(?i)\b(error|err|fatal|panic|exception|critical|traceback)\b").ok()
}

impl ErrorCount {
    /// Counts one scanned line: before `window_start` (unix ns) into the
    /// baseline, else into the window.
    pub fn add_scanned(
        &mut self,
        pattern: &Regex,
        line: &str,
        ts: Option<i128>,
        window_start: i128,
    ) {
        self.scanned += 1;
        if let Some(t) = ts {
            self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
        }
        match ts {
            Some(t) if t < window_start => {
                if pattern.is_match(line) {
                    self.baseline += 1;
                    self.first = Some(self.first.map_or(t, |f| f.min(t)));
                }
            }
            _ => self.add(pattern, line, ts),
        }
    }

    /// Settles the spans once scanned: the baseline runs from `scan_start`
    /// (or the earliest line, if the scan hit `tail`) to the window start.
    pub fn finish(&mut self, scan_start: i64, window_start: i64, now: i64, tail: usize) {
        let reached = if self.scanned >= tail {
            self.earliest
                .map_or(window_start, |e| (e / 1_000_000_000) as i64)
                .max(scan_start)
        } else {
            scan_start
        };
        self.baseline_secs = (window_start - reached).max(0);
        self.window_secs = (now - window_start).max(0);
    }

    /// "3.0/min; 0.4/min in the 25m before", when there is a baseline.
    pub fn rate_phrase(&self) -> Option<String> {
        let per_min = |n: usize, secs: i64| n as f64 * 60.0 / secs as f64;
        if self.window_secs <= 0 {
            return None;
        }
        let now = per_min(self.lines, self.window_secs);
        if self.baseline_secs < 60 {
            return Some(format!("{now:.1}/min"));
        }
        Some(format!(
            "{now:.1}/min; {:.1}/min in the {} before",
            per_min(self.baseline, self.baseline_secs),
            span(self.baseline_secs)
        ))
    }
}

/// "25m", "2h", "1h30m".
fn span(secs: i64) -> String {
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// Counts error lines; keeps the newest as a sample.
pub fn count_errors<'a>(pattern: &Regex, lines: impl IntoIterator<Item = &'a str>) -> ErrorCount {
    let mut count = ErrorCount::default();
    for line in lines {
        count.add(pattern, line, None);
    }
    count
}

/// Ranks every problem in the fleet: most severe first, then by host and name.
/// `errors` maps (host index, container id) to recent error lines, if scanned.
pub fn assess(fleet: &FleetState, errors: &BTreeMap<(usize, String), ErrorCount>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (hi, h) in fleet.hosts.iter().enumerate() {
        let host = h.spec.name.clone();
        if let Some(reason) = h.unreachable() {
            out.push(Finding {
                severity: Severity::Critical,
                kind: Kind::HostDown,
                host: host.clone(),
                container: None,
                id: None,
                service: None,
                summary: format!("unreachable: {reason}"),
                rule: None,
            });
            continue;
        }
        for c in &h.containers {
            let mut add = |severity, kind, summary: String| {
                out.push(Finding {
                    severity,
                    kind,
                    host: host.clone(),
                    container: Some(c.name.clone()),
                    id: Some(c.id.clone()),
                    service: Some(c.service().to_owned()),
                    summary,
                    rule: None,
                })
            };
            let restarts = c.restart_count.unwrap_or(0);
            match (&c.state, c.health.as_ref()) {
                (S::Restarting, _) => add(
                    Severity::High,
                    Kind::CrashLoop,
                    format!("crash-looping: {}{}", c.status, restart_note(restarts)),
                ),
                (S::Running, _) if restarts >= CRASH_LOOP_RESTARTS => add(
                    Severity::High,
                    Kind::CrashLoop,
                    format!("restarted {restarts} times, now {}", c.status),
                ),
                (S::Dead, _) => add(Severity::High, Kind::Dead, format!("dead: {}", c.status)),
                (S::Running, Some(Health::Unhealthy)) => add(
                    Severity::High,
                    Kind::Unhealthy,
                    format!("unhealthy: {}", c.status),
                ),
                (S::Running, Some(Health::Starting)) => add(
                    Severity::Low,
                    Kind::HealthStarting,
                    format!("health check starting: {}", c.status),
                ),
                (S::Exited, _) if c.exit_code.unwrap_or(0) != 0 => {
                    add(Severity::Medium, Kind::ExitedNonZero, c.status.clone())
                }
                _ => {}
            }
            if let Some(e) = errors
                .get(&(hi, c.id.clone()))
                .filter(|e| e.lines >= ERROR_BURST_LINES)
            {
                add(
                    Severity::Medium,
                    Kind::ErrorBurst,
                    format!("{} error lines recently, last: {}", e.lines, e.sample),
                )
            }
        }
    }
    rank(&mut out);
    out
}

/// Most severe first, then by kind, host and container.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.severity, a.kind, &a.host, &a.container).cmp(&(
            b.severity,
            b.kind,
            &b.host,
            &b.container,
        ))
    });
}

/// Running containers of one service on reachable hosts that do not all run
/// the same image: one finding per container, grouped later. Apart from
/// `assess`, whose per-container list the TUI shows as is.
/// One low finding per Compose-managed container that differs from its file.
pub fn compose_drift(
    fleet: &FleetState,
    drift: &BTreeMap<String, Result<Vec<crate::fleet::compose::file::Drift>, String>>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in &fleet.hosts {
        let Some(Ok(found)) = drift.get(&h.spec.name) else {
            continue;
        };
        for d in found {
            let Some(c) = h.containers.iter().find(|c| c.name == d.container) else {
                continue;
            };
            out.push(Finding {
                severity: Severity::Low,
                kind: Kind::ComposeDrift,
                host: h.spec.name.clone(),
                container: Some(c.name.clone()),
                id: Some(c.id.clone()),
                service: Some(c.service().to_owned()),
                summary: d.phrase(),
                rule: None,
            });
        }
    }
    out
}

pub fn image_drift(fleet: &FleetState) -> Vec<Finding> {
    let mut by_service: BTreeMap<&str, Vec<(&str, &crate::fleet::ContainerInfo)>> = BTreeMap::new();
    for h in fleet.hosts.iter().filter(|h| h.is_up()) {
        for c in h.containers.iter().filter(|c| c.is_running()) {
            by_service
                .entry(c.service())
                .or_default()
                .push((h.spec.name.as_str(), c));
        }
    }
    let mut out = Vec::new();
    for (service, members) in by_service {
        let images: std::collections::BTreeSet<&str> =
            members.iter().map(|(_, c)| c.image.as_str()).collect();
        let hosts: std::collections::BTreeSet<&str> = members.iter().map(|(h, _)| *h).collect();
        // Drift is between hosts; two images on one host is a different story.
        if images.len() < 2 || hosts.len() < 2 {
            continue;
        }
        for (host, c) in members {
            out.push(Finding {
                severity: Severity::Low,
                kind: Kind::ImageDrift,
                host: host.to_owned(),
                container: Some(c.name.clone()),
                id: Some(c.id.clone()),
                service: Some(service.to_owned()),
                summary: format!("runs {} ({} images across hosts)", c.image, images.len()),
                rule: None,
            });
        }
    }
    out
}

/// Thresholds of the host findings.
pub const DISK_FREE_MIN_RATIO: f64 = 0.10;
pub const DISK_FREE_MIN_BYTES: u64 = 5 * 1024 * 1024 * 1024;
pub const MEM_AVAILABLE_MIN_RATIO: f64 = 0.05;
pub const LOAD_PER_CPU_MAX: f64 = 2.0;

/// Whether the host's Docker data root is short of space.
pub fn disk_pressure(v: &crate::fleet::vitals::Vitals) -> bool {
    v.disk_total_bytes > 0
        && (v.disk_free_ratio() < DISK_FREE_MIN_RATIO || v.disk_free_bytes < DISK_FREE_MIN_BYTES)
}

/// Disk, memory and load findings from each reachable host's vitals.
pub fn assess_vitals(vitals: &BTreeMap<String, crate::fleet::vitals::Vitals>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (host, v) in vitals {
        let mut add = |severity, kind, summary: String| {
            out.push(Finding {
                severity,
                kind,
                host: host.clone(),
                container: None,
                id: None,
                service: None,
                summary,
                rule: None,
            })
        };
        if disk_pressure(v) {
            add(
                Severity::Critical,
                Kind::DiskPressure,
                format!("disk pressure: {}", v.disk_phrase()),
            );
        }
        if v.mem_total_bytes > 0 && v.mem_available_ratio() < MEM_AVAILABLE_MIN_RATIO {
            add(
                Severity::High,
                Kind::MemoryPressure,
                format!("memory pressure: {}", v.mem_phrase()),
            );
        }
        if v.cpus > 0 && v.load1 > LOAD_PER_CPU_MAX * f64::from(v.cpus) {
            add(
                Severity::Medium,
                Kind::HighLoad,
                format!("high load: {}", v.load_phrase()),
            );
        }
    }
    out
}

fn restart_note(restarts: i64) -> String {
    if restarts > 0 {
        format!(" ({restarts} restarts)")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixtures::sample_fleet;

    #[test]
    fn ranks_host_down_then_crash_loops_and_unhealthy_then_exits() {
        let fleet = sample_fleet();
        let findings = assess(&fleet, &BTreeMap::new());
        let kinds: Vec<(Severity, Kind, &str)> = findings
            .iter()
            .map(|f| (f.severity, f.kind, f.host.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Severity::Critical, Kind::HostDown, "fleet-3"),
                (Severity::High, Kind::CrashLoop, "fleet-1"),
                (Severity::High, Kind::Unhealthy, "fleet-1"),
                (Severity::Medium, Kind::ExitedNonZero, "fleet-1"),
                (Severity::Medium, Kind::ExitedNonZero, "fleet-2"),
            ]
        );
        assert!(
            findings[1].summary.contains("7 restarts"),
            "{}",
            findings[1].summary
        );
        assert!(findings[0].summary.contains("Connection refused"));
    }

    #[test]
    fn error_bursts_need_enough_lines() {
        let fleet = sample_fleet();
        let web = fleet.hosts[1]
            .containers
            .iter()
            .find(|c| c.name == "shop-web-1")
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let re = error_pattern().expect("regex");
        let lines: Vec<String> = (0..12).map(|i| format!("ERROR db timeout {i}")).collect();
        let count = count_errors(&re, lines.iter().map(String::as_str));
        assert_eq!(count.lines, 12);
        assert_eq!(count.sample, "ERROR db timeout 11");
        let few = count_errors(
            &re,
            [
                "error once",
                "fine",
                "terrors and errors are not error words",
            ],
        );
        assert_eq!(few.lines, 2);
        assert_eq!(
            count_errors(&re, ["terrors", "errors", "mirror"]).lines,
            0,
            "whole words only"
        );
        let errors = BTreeMap::from([((1, web.clone()), count), ((0, "x".into()), few)]);
        let findings = assess(&fleet, &errors);
        let bursts: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.kind == Kind::ErrorBurst)
            .collect();
        assert_eq!(bursts.len(), 1);
        assert_eq!(bursts[0].host, "fleet-2");
        assert!(bursts[0].summary.starts_with("12 error lines"));
    }

    #[test]
    fn a_burst_is_measured_against_the_containers_own_baseline() {
        let re = error_pattern().expect("regex");
        let s = 1_000_000_000i128;
        let mut c = ErrorCount::default();
        // Window [1500, 1800); baseline scanned from 0.
        for t in (0..1500).step_by(300) {
            c.add_scanned(&re, "ERROR old", Some(t * s), 1500 * s);
        }
        for t in 1500..1515 {
            c.add_scanned(&re, "ERROR new", Some(t * s), 1500 * s);
        }
        c.add_scanned(&re, "fine", Some(1600 * s), 1500 * s);
        c.finish(0, 1500, 1800, 3000);
        assert_eq!((c.lines, c.baseline), (15, 5));
        assert_eq!(c.first, Some(0), "errors go back to the baseline");
        assert_eq!(
            c.rate_phrase().as_deref(),
            Some("3.0/min; 0.2/min in the 25m before")
        );
        // A scan that hit its tail limit only reaches back to its first line.
        c.finish(0, 1500, 1800, 10);
        assert_eq!(c.baseline_secs, 1500);
        let mut short = ErrorCount::default();
        short.add_scanned(&re, "x", Some(1400 * s), 1500 * s);
        short.finish(0, 1500, 1800, 1);
        assert_eq!(short.baseline_secs, 100);
    }

    #[test]
    fn a_host_stays_critical_while_it_reconnects() {
        let mut fleet = sample_fleet();
        let down = |f: &FleetState| {
            assess(f, &BTreeMap::new())
                .iter()
                .filter(|x| x.kind == Kind::HostDown && x.host == "fleet-3")
                .count()
        };
        assert_eq!(down(&fleet), 1);
        let retry = crate::fleet::FleetEvent {
            host: 2,
            kind: crate::fleet::HostEvent::Connecting { attempt: 1 },
        };
        crate::fleet::update(&mut fleet, retry);
        assert_eq!(down(&fleet), 1, "a retry is not an answer");
        let back = crate::fleet::FleetEvent {
            host: 2,
            kind: crate::fleet::HostEvent::Connected {
                info: crate::fleet::HostInfo {
                    docker_version: "28".into(),
                    api_version: "1.47".into(),
                    tunnel: "unix".into(),
                },
                rtt: std::time::Duration::ZERO,
            },
        };
        crate::fleet::update(&mut fleet, back);
        assert_eq!(down(&fleet), 0);
    }
}
