//! `[[alerts.rule]]` checks: log patterns counted in a window per container
//! (read from each host's logs through its open session, each line once),
//! restarts in a window, and thresholds on host vitals. A rule that holds is
//! a `Kind::Rule` finding, opened and resolved like triage's own.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use super::severity;
use crate::config::ServiceSpec;
use crate::config::alerts::{Check, RuleSpec};
use crate::fleet::vitals::Vitals;
use crate::fleet::{ContainerInfo, FleetState, HostId, RawLogLine};
use crate::logs::{Cursor, Search, parse_docker_line};
use crate::ops::triage::{Finding, Kind};

/// Matching lines kept per container and rule to show as evidence.
const EVIDENCE_LINES: usize = 5;
/// Longest evidence line kept, in bytes.
const EVIDENCE_BYTES: usize = 300;

/// A finding a rule raised, with what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub finding: Finding,
    pub evidence: Vec<String>,
    pub next: String,
}

/// A log stream to start: `since` in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub host: HostId,
    pub container_id: String,
    pub since: i64,
}

#[derive(Debug, Default)]
struct Matches {
    /// Times (Unix ns) of matching lines inside the window, at most `count`.
    times: VecDeque<i128>,
    /// The newest matching lines with their times, at most `EVIDENCE_LINES`.
    recent: VecDeque<(i128, String)>,
}

#[derive(Debug, Default)]
struct Stream {
    host: String,
    name: String,
    following: bool,
    cursor: Cursor,
    /// Lines before this (Unix ns) were logged before the watch began; a
    /// stream restored from a state file has none: its cursor decides.
    floor: Option<i128>,
    /// By rule index.
    matches: HashMap<usize, Matches>,
}

/// The rules and what they have seen.
#[derive(Debug)]
pub struct Rules {
    rules: Vec<(RuleSpec, Option<Search>)>,
    /// By "host/container id".
    streams: HashMap<String, Stream>,
    /// Restart counts seen, by "host/container id": (when, count).
    restarts: HashMap<String, VecDeque<(jiff::Timestamp, i64)>>,
    /// Lines older than this were logged before the watch began.
    started: jiff::Timestamp,
}

fn stream_key(host: &str, id: &str) -> String {
    format!("{host}/{id}")
}

impl Rules {
    /// Patterns were checked when the config was read; one that no longer
    /// compiles simply never matches.
    pub fn new(specs: &[RuleSpec], started: jiff::Timestamp) -> Rules {
        let rules = specs
            .iter()
            .map(|r| {
                let search = match &r.check {
                    Check::Log { pattern, .. } => Search::parse(pattern).ok(),
                    _ => None,
                };
                (r.clone(), search)
            })
            .collect();
        Rules {
            rules,
            streams: HashMap::new(),
            restarts: HashMap::new(),
            started,
        }
    }

    /// Where each stream got to, to be kept across restarts.
    pub fn cursors(&self) -> BTreeMap<String, Cursor> {
        self.streams
            .iter()
            .filter(|(_, s)| s.cursor.has_position())
            .map(|(k, s)| (k.clone(), s.cursor.clone()))
            .collect()
    }

    /// Streams resume where a previous watch stopped: no line twice.
    pub fn restore(&mut self, cursors: BTreeMap<String, Cursor>) {
        for (key, cursor) in cursors {
            self.streams.entry(key).or_default().cursor = cursor;
        }
    }

    fn log_rules_for(&self, host: &str, c: &ContainerInfo, services: &[ServiceSpec]) -> bool {
        self.rules
            .iter()
            .any(|(r, s)| s.is_some() && applies(r, host, c, services))
    }

    /// Log streams to start: running containers some log rule covers that
    /// are not followed yet.
    pub fn to_follow(&mut self, state: &FleetState, services: &[ServiceSpec]) -> Vec<Follow> {
        let started = self.started.as_second();
        let mut out = Vec::new();
        for (hi, h) in state.hosts.iter().enumerate().filter(|(_, h)| h.is_up()) {
            for c in h.containers.iter().filter(|c| c.is_running()) {
                if !self.log_rules_for(&h.spec.name, c, services) {
                    continue;
                }
                let s = self
                    .streams
                    .entry(stream_key(&h.spec.name, &c.id))
                    .or_default();
                if s.following {
                    continue;
                }
                s.following = true;
                s.host.clone_from(&h.spec.name);
                s.name.clone_from(&c.name);
                let since = if s.cursor.has_position() {
                    s.cursor.resume();
                    s.cursor.since().unwrap_or(started)
                } else {
                    s.floor = Some(self.started.as_nanosecond());
                    started
                };
                out.push(Follow {
                    host: hi,
                    container_id: c.id.clone(),
                    since,
                });
            }
        }
        out
    }

    /// A stream ended (container stopped, session lost): followed again
    /// from where it got when the container runs.
    pub fn ended(&mut self, host: &str, container_id: &str) {
        if let Some(s) = self.streams.get_mut(&stream_key(host, container_id)) {
            s.following = false;
        }
    }

    pub fn host_lost(&mut self, host: &str) {
        for s in self.streams.values_mut().filter(|s| s.host == host) {
            s.following = false;
        }
    }

    /// New lines of one container: each counted once, by every log rule
    /// that covers it. True when a line matched a rule: look soon, before
    /// a burst shorter than the look interval leaves the rule's window.
    pub fn lines(&mut self, host: &str, container_id: &str, lines: &[RawLogLine]) -> bool {
        let Some(s) = self.streams.get_mut(&stream_key(host, container_id)) else {
            return false;
        };
        let mut matched = false;
        let started = self.started.as_nanosecond();
        for raw in lines {
            let (ts, body) = parse_docker_line(&raw.bytes);
            let before_floor = matches!((ts, s.floor), (Some(t), Some(f)) if t < f);
            if before_floor || !s.cursor.admit(ts) {
                continue;
            }
            let text = crate::logs::sanitize::plain(body);
            for (i, (rule, search)) in self.rules.iter().enumerate() {
                let (Some(search), Check::Log { count, .. }) = (search, &rule.check) else {
                    continue;
                };
                if !search.is_match(&text) {
                    continue;
                }
                matched = true;
                let m = s.matches.entry(i).or_default();
                m.times.push_back(ts.unwrap_or(started));
                while m.times.len() > *count {
                    m.times.pop_front();
                }
                m.recent.push_back((ts.unwrap_or(started), cut(&text)));
                while m.recent.len() > EVIDENCE_LINES {
                    m.recent.pop_front();
                }
            }
        }
        matched
    }

    /// Every rule that holds at `now`. Forgets containers that are gone.
    pub fn check(
        &mut self,
        state: &FleetState,
        services: &[ServiceSpec],
        vitals: &BTreeMap<String, Vitals>,
        now: jiff::Timestamp,
    ) -> Vec<Hit> {
        self.forget_gone(state);
        let mut out = self.log_hits(state, now);
        out.extend(self.restart_hits(state, services, now));
        out.extend(self.vitals_hits(vitals));
        out
    }

    fn forget_gone(&mut self, state: &FleetState) {
        // Streams of a host that is down are kept: its containers come back.
        let mut live = HashSet::new();
        let mut down = HashSet::new();
        for h in &state.hosts {
            if !h.is_up() {
                down.insert(h.spec.name.as_str());
            }
            live.extend(h.containers.iter().map(|c| stream_key(&h.spec.name, &c.id)));
        }
        let alive = |key: &String| {
            live.contains(key)
                || key
                    .split_once('/')
                    .is_some_and(|(host, _)| down.contains(host))
        };
        self.streams.retain(|k, _| alive(k));
        self.restarts.retain(|k, _| alive(k));
    }

    fn log_hits(&mut self, state: &FleetState, now: jiff::Timestamp) -> Vec<Hit> {
        let now_ns = now.as_nanosecond();
        let mut out = Vec::new();
        for s in self.streams.values_mut() {
            for (i, m) in &mut s.matches {
                let Some((rule, _)) = self.rules.get(*i) else {
                    continue;
                };
                let Check::Log {
                    pattern,
                    count,
                    window,
                } = &rule.check
                else {
                    continue;
                };
                let from = now_ns - i128::try_from(window.as_nanos()).unwrap_or(i128::MAX);
                while m.times.front().is_some_and(|t| *t < from) {
                    m.times.pop_front();
                }
                while m.recent.front().is_some_and(|(t, _)| *t < from) {
                    m.recent.pop_front();
                }
                if m.times.len() < *count {
                    continue;
                }
                let service = state
                    .host_named(&s.host)
                    .and_then(|(_, h)| h.containers.iter().find(|c| c.name == s.name))
                    .map(|c| c.service().to_owned());
                let summary = format!(
                    "log rule {:?}: {}{} lines matching {pattern:?} in the last {}",
                    rule.name,
                    if *count > 1 { "at least " } else { "" },
                    m.times.len(),
                    humantime::format_duration(*window)
                );
                out.push(Hit {
                    finding: rule_finding(rule, &s.host, Some(&s.name), service, summary),
                    evidence: m.recent.iter().map(|(_, l)| l.clone()).collect(),
                    next: format!(
                        "flotilla logs {} --host {} --since {} --grep {}",
                        s.name,
                        s.host,
                        humantime::format_duration(*window),
                        crate::quote::sh(pattern)
                    ),
                });
            }
        }
        out.sort_by(|a, b| a.finding.container.cmp(&b.finding.container));
        out
    }

    fn restart_hits(
        &mut self,
        state: &FleetState,
        services: &[ServiceSpec],
        now: jiff::Timestamp,
    ) -> Vec<Hit> {
        let rules: Vec<(&RuleSpec, i64, Duration)> = self
            .rules
            .iter()
            .filter_map(|(r, _)| match r.check {
                Check::Restarts { count, window } => Some((r, count, window)),
                _ => None,
            })
            .collect();
        // History is kept only for containers a restart rule covers, and
        // back to one entry before the longest window.
        let Some(longest) = rules.iter().map(|(_, _, w)| *w).max() else {
            return Vec::new();
        };
        let before = |window: Duration| {
            now.checked_sub(jiff::SignedDuration::try_from(window).unwrap_or_default())
                .unwrap_or(now)
        };
        let mut out = Vec::new();
        for h in state.hosts.iter().filter(|h| h.is_up()) {
            for c in &h.containers {
                let Some(count) = c.restart_count else {
                    continue;
                };
                let covering: Vec<_> = rules
                    .iter()
                    .filter(|(r, _, _)| applies(r, &h.spec.name, c, services))
                    .collect();
                if covering.is_empty() {
                    continue;
                }
                let seen = self
                    .restarts
                    .entry(stream_key(&h.spec.name, &c.id))
                    .or_default();
                if seen.back().is_none_or(|(_, n)| *n != count) {
                    seen.push_back((now, count));
                }
                for (rule, n, window) in covering {
                    let from = before(*window);
                    // The count when the window began: the last seen before it, else the first.
                    let base = seen
                        .iter()
                        .rev()
                        .find(|(t, _)| *t <= from)
                        .or(seen.front())
                        .map_or(count, |(_, n)| *n);
                    if count - base >= *n {
                        out.push(restart_hit(rule, &h.spec.name, c, count - base, *window));
                    }
                }
                let from = before(longest);
                while seen.len() > 1 && seen.get(1).is_some_and(|(t, _)| *t <= from) {
                    seen.pop_front();
                }
            }
        }
        out
    }

    fn vitals_hits(&self, vitals: &BTreeMap<String, Vitals>) -> Vec<Hit> {
        let mut out = Vec::new();
        for (host, v) in vitals {
            for (rule, _) in &self.rules {
                let (over, what) = match rule.check {
                    Check::LoadPerCpu(x) if v.cpus > 0 => {
                        (v.load1 / f64::from(v.cpus) >= x, v.load_phrase())
                    }
                    Check::MemoryPercent(x) if v.mem_total_bytes > 0 => {
                        ((1.0 - v.mem_available_ratio()) * 100.0 >= x, v.mem_phrase())
                    }
                    Check::DiskPercent(x) if v.disk_total_bytes > 0 => {
                        ((1.0 - v.disk_free_ratio()) * 100.0 >= x, v.disk_phrase())
                    }
                    _ => continue,
                };
                if over {
                    let summary = format!("threshold rule {:?}: {what}", rule.name);
                    out.push(Hit {
                        finding: rule_finding(rule, host, None, None, summary),
                        evidence: vec![format!("{host}: {what}")],
                        next: format!("flotilla hosts --host {host} --json"),
                    });
                }
            }
        }
        out
    }
}

/// A rule's `service` and `container` both admit this container.
fn applies(rule: &RuleSpec, host: &str, c: &ContainerInfo, services: &[ServiceSpec]) -> bool {
    rule.service.as_ref().is_none_or(|name| {
        services
            .iter()
            .any(|s| &s.name == name && c.of_service(s, host))
    }) && rule
        .container
        .as_ref()
        .is_none_or(|g| crate::glob::matches(g, &c.name))
}

/// A restart rule that holds for container `c` on `host`.
fn restart_hit(
    rule: &RuleSpec,
    host: &str,
    c: &ContainerInfo,
    restarts: i64,
    window: Duration,
) -> Hit {
    let summary = format!(
        "restart rule {:?}: {restarts} restarts in the last {}",
        rule.name,
        humantime::format_duration(window)
    );
    Hit {
        finding: rule_finding(
            rule,
            host,
            Some(&c.name),
            Some(c.service().to_owned()),
            summary,
        ),
        evidence: vec![format!("{host} {}: {}", c.name, c.status)],
        next: format!("flotilla logs {} --host {host} -n 50 -t", c.name),
    }
}

fn rule_finding(
    rule: &RuleSpec,
    host: &str,
    container: Option<&str>,
    service: Option<String>,
    summary: String,
) -> Finding {
    Finding {
        severity: severity(rule.severity),
        kind: Kind::Rule,
        host: host.to_owned(),
        container: container.map(str::to_owned),
        id: None,
        service,
        summary,
        rule: Some(rule.name.clone()),
    }
}

fn cut(text: &str) -> String {
    if text.len() <= EVIDENCE_BYTES {
        return text.to_owned();
    }
    let mut end = EVIDENCE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests;
