//! Findings folded by (kind, service) across hosts, worded with their
//! evidence, a "since" and the command to run next. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::evidence::{self, Evidence};
use super::{Finding, Kind, Severity};
use crate::fleet::FleetState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    pub host: String,
    pub name: String,
    pub id: String,
}

/// One problem, wherever it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub severity: Severity,
    pub kind: Kind,
    pub service: Option<String>,
    pub hosts: Vec<String>,
    pub containers: Vec<ContainerRef>,
    /// RFC 3339; the earliest of its members.
    pub since: Option<String>,
    pub summary: String,
    pub evidence: Vec<String>,
    /// A flotilla command line to run next.
    pub suggestion: String,
}

impl Group {
    /// Service labels and container output are untrusted: what every
    /// printer shows (text, JSON, Markdown, TUI, watch) is cleaned here once.
    fn cleaned(mut self) -> Self {
        self.summary = crate::redact::clean(&self.summary);
        self.suggestion = crate::redact::clean(&self.suggestion);
        for line in &mut self.evidence {
            *line = crate::redact::clean(line);
        }
        self
    }
}

#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// One group per container instead of per (kind, service).
    pub per_container: bool,
    /// Log lines cited per container.
    pub lines: usize,
    /// Containers whose evidence a group cites in full; the rest are counted.
    pub cited: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            per_container: false,
            lines: 5,
            cited: 3,
        }
    }
}

/// Host names a summary lists before "…".
const NAMED_HOSTS: usize = 3;

/// Groups ranked findings. Ranking: severity, then the widest spread, then
/// kind and service.
pub fn group(
    fleet: &FleetState,
    findings: &[Finding],
    ev: &Evidence,
    opts: &GroupOptions,
    now: jiff::Timestamp,
) -> Vec<Group> {
    let mut buckets: BTreeMap<(Kind, Option<String>, usize), Vec<&Finding>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        // Host-level kinds share one bucket per kind; per-container keeps each apart.
        let key = if opts.per_container {
            (f.kind, f.service.clone(), i)
        } else {
            (f.kind, f.service.clone(), 0)
        };
        buckets.entry(key).or_default().push(f);
    }
    let total = fleet.hosts.len();
    let mut groups: Vec<Group> = buckets
        .into_values()
        .filter_map(|members| build(fleet, &members, ev, opts, total, now))
        .map(Group::cleaned)
        .collect();
    groups.sort_by(|a, b| {
        (
            a.severity,
            std::cmp::Reverse(a.hosts.len()),
            a.kind,
            &a.service,
        )
            .cmp(&(
                b.severity,
                std::cmp::Reverse(b.hosts.len()),
                b.kind,
                &b.service,
            ))
    });
    groups
}

/// What a group's members say together: where, which containers, the
/// evidence lines cited, and the facts its summary counts.
#[derive(Default)]
struct Gathered {
    hosts: Vec<String>,
    containers: Vec<ContainerRef>,
    lines: Vec<String>,
    since: Option<jiff::Timestamp>,
    restarts: Vec<i64>,
    exits: Vec<i64>,
    error_lines: usize,
    images: BTreeMap<String, usize>,
    cited: usize,
}

fn gather(
    fleet: &FleetState,
    members: &[&Finding],
    kind: Kind,
    ev: &Evidence,
    opts: &GroupOptions,
) -> Gathered {
    let mut g = Gathered::default();
    for f in members {
        if !g.hosts.contains(&f.host) {
            g.hosts.push(f.host.clone());
        }
        let Some((hi, h)) = fleet.host_named(&f.host) else {
            continue;
        };
        if kind.is_host() {
            let vitals = ev.vitals.get(&f.host).and_then(|v| v.as_ref().ok());
            g.lines.extend(evidence::host_lines(kind, h, vitals));
            if kind == Kind::HostDown {
                g.since = earliest(g.since, h.down_since);
            }
            continue;
        }
        let Some(c) = h.containers.iter().find(|c| {
            Some(&c.id) == f.id.as_ref() || f.id.is_none() && f.container.as_ref() == Some(&c.name)
        }) else {
            continue;
        };
        g.containers.push(ContainerRef {
            host: f.host.clone(),
            name: c.name.clone(),
            id: c.id.clone(),
        });
        let cev = ev.containers.get(&(f.host.clone(), c.id.clone()));
        let errors = ev.errors.get(&(hi, c.id.clone()));
        g.since = earliest(g.since, evidence::container_since(kind, c, cev, errors));
        let details = cev.and_then(|e| e.details.as_ref());
        if let Some(r) = details.map(|d| d.restart_count).or(c.restart_count) {
            g.restarts.push(r);
        }
        if let Some(x) = cev.and_then(|e| e.last_exit).or(c.exit_code) {
            g.exits.push(x);
        }
        g.error_lines += errors.map_or(0, |e| e.lines);
        *g.images.entry(c.image.clone()).or_default() += 1;
        // Drift lists every host's image; other kinds cite a few in full.
        if kind == Kind::ImageDrift || g.cited < opts.cited {
            g.cited += 1;
            g.lines.extend(evidence::container_lines(
                kind, c, cev, errors, &ev.window, opts.lines,
            ));
        }
    }
    g
}

fn build(
    fleet: &FleetState,
    members: &[&Finding],
    ev: &Evidence,
    opts: &GroupOptions,
    total: usize,
    now: jiff::Timestamp,
) -> Option<Group> {
    let first = members.first()?;
    let kind = first.kind;
    let Gathered {
        hosts,
        containers,
        mut lines,
        since,
        restarts,
        exits,
        error_lines,
        images,
        cited,
    } = gather(fleet, members, kind, ev, opts);
    let shown_containers = if kind == Kind::ImageDrift {
        containers.len()
    } else {
        cited
    };
    if containers.len() > shown_containers {
        lines.push(format!(
            "… and {} more container(s) (--per-container shows each)",
            containers.len() - shown_containers
        ));
    }
    let subject = match (opts.per_container, &first.container, &first.service) {
        (true, Some(name), _) => name.clone(),
        (_, _, Some(service)) => service.clone(),
        _ => String::new(),
    };
    let summary = summary(
        kind,
        &subject,
        &hosts,
        total,
        Facts {
            restarts: &restarts,
            exits: &exits,
            error_lines,
            images: &images,
            window: &ev.window,
            single: members.len() == 1 && kind.is_host(),
            first_summary: &first.summary,
        },
        since,
        now,
    );
    let suggestion = suggestion(kind, first.service.as_deref(), &containers, &hosts, total);
    Some(Group {
        severity: members
            .iter()
            .map(|f| f.severity)
            .min()
            .unwrap_or(first.severity),
        kind,
        service: first.service.clone(),
        hosts,
        containers,
        since: since.map(|t| t.to_string()),
        summary,
        evidence: lines,
        suggestion,
    })
}

fn earliest(a: Option<jiff::Timestamp>, b: Option<jiff::Timestamp>) -> Option<jiff::Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a summary counts across the group's members.
struct Facts<'a> {
    restarts: &'a [i64],
    exits: &'a [i64],
    error_lines: usize,
    images: &'a BTreeMap<String, usize>,
    window: &'a str,
    /// A lone host finding keeps its own wording (it names the figures).
    single: bool,
    first_summary: &'a str,
}

/// "on 6/20 hosts (h3 h6 h9 …)".
pub fn where_phrase(hosts: &[String], total: usize) -> String {
    let mut names: Vec<&str> = hosts.iter().take(NAMED_HOSTS).map(String::as_str).collect();
    if hosts.len() > NAMED_HOSTS {
        names.push("…");
    }
    format!("on {}/{total} hosts ({})", hosts.len(), names.join(" "))
}

/// "since 02:04 UTC", or with the date when not today.
pub fn since_phrase(since: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let same_day = since.strftime("%F").to_string() == now.strftime("%F").to_string();
    if same_day {
        format!("since {} UTC", since.strftime("%H:%M"))
    } else {
        format!("since {} UTC", since.strftime("%F %H:%M"))
    }
}

fn summary(
    kind: Kind,
    subject: &str,
    hosts: &[String],
    total: usize,
    facts: Facts,
    since: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> String {
    let on = where_phrase(hosts, total);
    let mut text = match kind {
        Kind::HostDown => format!("unreachable {on}"),
        Kind::DiskPressure | Kind::MemoryPressure | Kind::HighLoad if facts.single => {
            format!("{} {}", hosts.join(" "), facts.first_summary)
        }
        Kind::DiskPressure => format!("disk pressure {on}"),
        Kind::MemoryPressure => format!("memory pressure {on}"),
        Kind::HighLoad => format!("high load {on}"),
        Kind::CrashLoop => format!(
            "{subject} crash-looping {on}{}",
            range(facts.restarts, " (", " restarts)")
        ),
        Kind::Dead => format!("{subject} dead {on}"),
        Kind::Unhealthy => format!("{subject} unhealthy {on}"),
        Kind::ErrorBurst => format!(
            "{subject} logging errors {on}: {} error lines in {}",
            facts.error_lines, facts.window
        ),
        Kind::ExitedNonZero => format!(
            "{subject} exited non-zero {on}{}",
            list(facts.exits, " (exit ", ")")
        ),
        Kind::HealthStarting => format!("{subject} health check starting {on}"),
        Kind::Rule => format!("{subject} {on}: {}", facts.first_summary),
        Kind::ComposeDrift => format!("{subject} compose drift {on}: {}", facts.first_summary),
        Kind::ImageDrift => {
            let images: Vec<String> = facts
                .images
                .iter()
                .map(|(image, n)| format!("{image} ×{n}"))
                .collect();
            format!(
                "{subject} runs {} images {on}: {}",
                facts.images.len(),
                images.join(", ")
            )
        }
    };
    if let Some(t) = since {
        text.push(' ');
        text.push_str(&since_phrase(t, now));
    }
    text
}

/// "(7 restarts)" or "(3–12 restarts)"; empty without counts.
fn range(values: &[i64], open: &str, close: &str) -> String {
    match (values.iter().min(), values.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => format!("{open}{lo}{close}"),
        (Some(lo), Some(hi)) => format!("{open}{lo}–{hi}{close}"),
        _ => String::new(),
    }
}

/// "(exit 1, 3)": distinct values.
fn list(values: &[i64], open: &str, close: &str) -> String {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        return String::new();
    }
    let v: Vec<String> = v.iter().map(i64::to_string).collect();
    format!("{open}{}{close}", v.join(", "))
}

/// The next command: look at logs for failures, at the timeline for health
/// and drift, at the host for host trouble. Narrowed to the group's hosts
/// when it does not span the fleet.
fn suggestion(
    kind: Kind,
    service: Option<&str>,
    containers: &[ContainerRef],
    hosts: &[String],
    total: usize,
) -> String {
    let host_args: String = if hosts.len() < total {
        hosts.iter().map(|h| format!(" --host {h}")).collect()
    } else {
        String::new()
    };
    // A lone container is named exactly; a group by its service.
    let target = match (containers, service) {
        ([one], _) => one.name.clone(),
        (_, Some(s)) => s.to_owned(),
        _ => String::new(),
    };
    match kind {
        Kind::HostDown => format!("flotilla hosts{host_args}"),
        Kind::DiskPressure | Kind::MemoryPressure | Kind::HighLoad => {
            format!("flotilla hosts --json{host_args}")
        }
        Kind::CrashLoop | Kind::Dead | Kind::ExitedNonZero => {
            format!("flotilla logs {target}{host_args} -n 50 -t")
        }
        Kind::ErrorBurst => format!("flotilla logs {target}{host_args} --since 10m --grep error"),
        Kind::Unhealthy | Kind::HealthStarting => {
            format!("flotilla events {target}{host_args} --since 1h")
        }
        Kind::ImageDrift => format!("flotilla events {target} --since 24h"),
        Kind::Rule => format!("flotilla logs {target}{host_args} --since 10m"),
        // The file's image, rolled out through Compose (a service named as in Compose).
        Kind::ComposeDrift => match service {
            Some(s) => format!("flotilla deploy {s} --dry-run"),
            None => format!("flotilla ps {target}{host_args} --json"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixtures::sample_fleet;
    use crate::ops::triage::{ContainerEvidence, image_drift, rank};

    fn now() -> jiff::Timestamp {
        "2026-11-25T20:00:00Z".parse().unwrap_or_default()
    }

    /// The sample fleet with fleet-3 back up, running the same workloads.
    fn wide_fleet() -> FleetState {
        let mut fleet = sample_fleet();
        let info = crate::fleet::HostInfo {
            docker_version: "28".into(),
            api_version: "1.47".into(),
            tunnel: "unix".into(),
        };
        let mut containers = fleet.hosts[0].containers.clone();
        for c in &mut containers {
            c.host = "fleet-3".into();
            c.id = c.id.replace('1', "3");
        }
        for kind in [
            crate::fleet::HostEvent::Connected {
                info,
                rtt: std::time::Duration::ZERO,
            },
            crate::fleet::HostEvent::Containers {
                containers,
                rtt: std::time::Duration::ZERO,
            },
        ] {
            crate::fleet::update(&mut fleet, crate::fleet::FleetEvent { host: 2, kind });
        }
        fleet
    }

    fn assess(
        fleet: &FleetState,
        errors: &BTreeMap<(usize, String), super::super::ErrorCount>,
    ) -> Vec<Finding> {
        let mut all = super::super::assess(fleet, errors);
        all.extend(image_drift(fleet));
        rank(&mut all);
        all
    }

    #[test]
    fn one_group_per_kind_and_service_across_hosts() {
        let fleet = wide_fleet();
        let findings = assess(&fleet, &BTreeMap::new());
        let groups = group(
            &fleet,
            &findings,
            &Evidence::default(),
            &GroupOptions::default(),
            now(),
        );
        let keys: Vec<(Kind, Option<&str>, Vec<&str>)> = groups
            .iter()
            .map(|g| {
                (
                    g.kind,
                    g.service.as_deref(),
                    g.hosts.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (
                    Kind::CrashLoop,
                    Some("crashloop"),
                    vec!["fleet-1", "fleet-3"]
                ),
                (Kind::Unhealthy, Some("sick"), vec!["fleet-1", "fleet-3"]),
                (
                    Kind::ExitedNonZero,
                    Some("batch"),
                    vec!["fleet-1", "fleet-2", "fleet-3"]
                ),
                (
                    Kind::ImageDrift,
                    Some("web"),
                    vec!["fleet-1", "fleet-2", "fleet-3"]
                ),
            ]
        );
        let crash = &groups[0];
        assert_eq!(
            crash.summary,
            "crashloop crash-looping on 2/3 hosts (fleet-1 fleet-3) (7 restarts) since 2026-11-25 19:49 UTC"
                .replace("2026-11-25 ", "")
        );
        assert_eq!(crash.since.as_deref(), Some("2026-11-25T19:49:36Z"));
        assert_eq!(crash.containers.len(), 2);
        assert_eq!(
            crash.suggestion,
            "flotilla logs crashloop --host fleet-1 --host fleet-3 -n 50 -t"
        );
        assert_eq!(
            groups[2].summary,
            "batch exited non-zero on 3/3 hosts (fleet-1 fleet-2 fleet-3) (exit 3)"
        );
        assert_eq!(groups[2].suggestion, "flotilla logs batch -n 50 -t");
        assert_eq!(
            groups[3].summary,
            "web runs 2 images on 3/3 hosts (fleet-1 fleet-2 fleet-3): \
             flotilla-test/app:v1 ×2, flotilla-test/app:v2 ×1 since 19:49 UTC"
        );
        assert_eq!(groups[3].evidence.len(), 3, "one image line per host");
    }

    #[test]
    fn per_container_keeps_each_and_names_it() {
        let fleet = wide_fleet();
        let findings = assess(&fleet, &BTreeMap::new());
        let opts = GroupOptions {
            per_container: true,
            ..GroupOptions::default()
        };
        let groups = group(&fleet, &findings, &Evidence::default(), &opts, now());
        assert_eq!(groups.len(), findings.len());
        let crash: Vec<&Group> = groups
            .iter()
            .filter(|g| g.kind == Kind::CrashLoop)
            .collect();
        assert_eq!(crash.len(), 2);
        assert!(
            crash[0]
                .summary
                .starts_with("shop-crashloop-1 crash-looping on 1/3 hosts (fleet-1)"),
            "{}",
            crash[0].summary
        );
        assert_eq!(
            crash[0].suggestion,
            "flotilla logs shop-crashloop-1 --host fleet-1 -n 50 -t"
        );
    }

    #[test]
    fn ranking_puts_severity_first_then_spread() {
        let fleet = sample_fleet();
        let findings = assess(&fleet, &BTreeMap::new());
        let groups = group(
            &fleet,
            &findings,
            &Evidence::default(),
            &GroupOptions::default(),
            now(),
        );
        let order: Vec<(Severity, Kind)> = groups.iter().map(|g| (g.severity, g.kind)).collect();
        assert_eq!(
            order,
            [
                (Severity::Critical, Kind::HostDown),
                (Severity::High, Kind::CrashLoop),
                (Severity::High, Kind::Unhealthy),
                (Severity::Medium, Kind::ExitedNonZero),
                (Severity::Low, Kind::ImageDrift),
            ]
        );
        let down = &groups[0];
        assert_eq!(
            down.summary.split(" since ").next(),
            Some("unreachable on 1/3 hosts (fleet-3)")
        );
        assert!(down.evidence[0].starts_with("fleet-3: cannot connect to 127.0.10.3:22"));
        assert_eq!(down.suggestion, "flotilla hosts --host fleet-3");
        // Spread breaks ties within a severity.
        let exited = &groups[3];
        assert_eq!(exited.hosts, ["fleet-1", "fleet-2"]);
    }

    #[test]
    fn big_groups_cite_a_few_and_count_the_rest() {
        let fleet = wide_fleet();
        let findings = assess(&fleet, &BTreeMap::new());
        let mut ev = Evidence::default();
        for c in fleet.containers().filter(|c| c.service() == "batch") {
            ev.containers.insert(
                (c.host.clone(), c.id.clone()),
                ContainerEvidence {
                    logs: vec![crate::ops::triage::evidence::EvidenceLine {
                        stream: crate::fleet::LogStream::Stderr,
                        time: None,
                        text: "batch: ERROR migration 0042 failed".into(),
                    }],
                    ..ContainerEvidence::default()
                },
            );
        }
        let opts = GroupOptions {
            cited: 2,
            ..GroupOptions::default()
        };
        let groups = group(&fleet, &findings, &ev, &opts, now());
        let batch = groups
            .iter()
            .find(|g| g.kind == Kind::ExitedNonZero)
            .expect("batch group");
        assert_eq!(
            batch.evidence,
            [
                "fleet-1 shop-batch-1: exit code 3, OOMKilled ?, 0 restarts",
                "  [stderr] batch: ERROR migration 0042 failed",
                "fleet-2 shop-batch-1: exit code 3, OOMKilled ?, 0 restarts",
                "  [stderr] batch: ERROR migration 0042 failed",
                "… and 1 more container(s) (--per-container shows each)",
            ]
        );
    }
}
