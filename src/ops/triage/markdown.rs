//! Incident snapshots in Markdown, to paste into the incident channel as is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Group, Severity};
use crate::fleet::FleetState;
use crate::fleet::vitals::{Vitals, bytes};
use crate::ops::audit::AuditRecord;
use crate::ops::timeline::{self, Entry};

/// The heading and fleet summary both snapshots start with: hosts up,
/// containers running, findings per severity.
fn summary(
    md: &mut String,
    fleet: &FleetState,
    now: &str,
    severities: impl Iterator<Item = Severity>,
) {
    let up = fleet.hosts.iter().filter(|h| h.is_up()).count();
    let running = fleet
        .hosts
        .iter()
        .filter(|h| h.is_up())
        .flat_map(|h| h.containers.iter())
        .filter(|c| c.is_running())
        .count();
    let _ = writeln!(md, "## Incident snapshot — {now}\n");
    let _ = writeln!(md, "- hosts up: {up}/{}", fleet.hosts.len());
    let _ = writeln!(md, "- containers running: {running}");
    let mut by_sev: BTreeMap<Severity, usize> = BTreeMap::new();
    for sev in severities {
        *by_sev.entry(sev).or_default() += 1;
    }
    let counts: Vec<String> = by_sev
        .iter()
        .map(|(sev, n)| format!("{n} {}", sev.label().to_lowercase()))
        .collect();
    let _ = writeln!(
        md,
        "- findings: {}\n",
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        }
    );
}

/// Timeline entries a snapshot shows (the newest).
const TIMELINE_LINES: usize = 60;

/// What the full snapshot shows besides the groups.
pub struct Snapshot<'a> {
    pub now: &'a str,
    pub window: &'a str,
    pub groups: &'a [Group],
    /// Events of the affected services within the window, time-ordered.
    pub timeline: &'a [Entry],
    pub audit: &'a [AuditRecord],
    pub vitals: &'a BTreeMap<String, Result<Vitals, String>>,
}

/// The incident snapshot of `triage --markdown`: summary, every group with
/// its evidence and next command, the timeline, recent audit, vitals.
pub fn snapshot(fleet: &FleetState, s: &Snapshot) -> String {
    let mut md = String::new();
    summary(&mut md, fleet, s.now, s.groups.iter().map(|g| g.severity));
    if s.groups.is_empty() {
        let _ = writeln!(md, "Nothing broken.\n");
    }
    for g in s.groups {
        let _ = writeln!(md, "### {} {}\n", g.severity.label(), inline(&g.summary));
        if !g.evidence.is_empty() {
            let _ = writeln!(md, "{}", fenced(&g.evidence.join("\n")));
        }
        let _ = writeln!(md, "Next: `{}`\n", g.suggestion);
    }
    timeline_section(&mut md, s);
    audit_section(&mut md, s.audit);
    vitals_section(&mut md, fleet, s.vitals);
    md
}

/// The newest timeline entries, and how to see the rest: a crash loop
/// alone fills pages.
fn timeline_section(md: &mut String, s: &Snapshot) {
    let _ = writeln!(md, "### Timeline (last {})\n", s.window);
    if s.timeline.is_empty() {
        let _ = writeln!(md, "No events of the affected services.\n");
        return;
    }
    let skip = s.timeline.len().saturating_sub(TIMELINE_LINES);
    let mut lines: Vec<String> = Vec::new();
    if skip > 0 {
        lines.push(format!(
            "… {skip} earlier events (flotilla events SERVICE --since {})",
            s.window
        ));
    }
    lines.extend(s.timeline.iter().skip(skip).map(timeline::line));
    let _ = writeln!(md, "{}", fenced(&lines.join("\n")));
}

/// The audit log's recent records, one line each.
fn audit_section(md: &mut String, audit: &[AuditRecord]) {
    let _ = writeln!(md, "### Recent flotilla actions\n");
    if audit.is_empty() {
        let _ = writeln!(md, "None recorded.\n");
        return;
    }
    let lines: Vec<String> = audit
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} by {}: {}",
                r.time, r.host, r.action, r.container, r.user, r.result
            )
        })
        .collect();
    let _ = writeln!(md, "{}", fenced(&lines.join("\n")));
}

/// A table row per host: its vitals, or why there are none.
fn vitals_section(
    md: &mut String,
    fleet: &FleetState,
    vitals: &BTreeMap<String, Result<Vitals, String>>,
) {
    let _ = writeln!(md, "### Host vitals\n");
    let _ = writeln!(
        md,
        "| host | load 1m/5m | CPUs | memory available | Docker root free | uptime |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for h in &fleet.hosts {
        let name = &h.spec.name;
        match vitals.get(name) {
            Some(Ok(v)) => {
                let _ = writeln!(
                    md,
                    "| {name} | {:.2} / {:.2} | {} | {} of {} ({:.0} %) | {} of {} ({:.0} %) on {} | {} |",
                    v.load1,
                    v.load5,
                    v.cpus,
                    bytes(v.mem_available_bytes),
                    bytes(v.mem_total_bytes),
                    v.mem_available_ratio() * 100.0,
                    bytes(v.disk_free_bytes),
                    bytes(v.disk_total_bytes),
                    v.disk_free_ratio() * 100.0,
                    inline(&v.docker_root),
                    uptime(v.uptime_s)
                );
            }
            Some(Err(e)) => {
                let _ = writeln!(md, "| {name} | — | — | — | — | {} |", inline(e));
            }
            None => {
                let why = h.unreachable().unwrap_or("not read");
                let _ = writeln!(md, "| {name} | — | — | — | — | down: {} |", inline(why));
            }
        }
    }
}

/// Table- and heading-safe text: cleaned, one line, and inert where it is
/// pasted (Slack and GitHub act on `<!channel>`, `&`, `@here`, `@user`).
fn inline(s: &str) -> String {
    let text = crate::redact::clean(s)
        .replace('|', "\\|")
        .replace('\n', " ");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A zero-width space keeps the `@` readable but no longer a mention.
            '@' if chars.peek().is_some_and(|n| n.is_alphanumeric()) => out.push_str("@\u{200B}"),
            c => out.push(c),
        }
    }
    out
}

/// A fenced block no evidence line can close early.
fn fenced(body: &str) -> String {
    let body = crate::redact::clean(body);
    let mut fence = "```".to_owned();
    while body.contains(fence.as_str()) {
        fence.push('`');
    }
    format!("{fence}text\n{body}\n{fence}\n")
}

/// "3d 4h", "5h 12m", "12m".
fn uptime(s: u64) -> String {
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixtures::sample_fleet;
    use crate::ops::triage::{Evidence, GroupOptions, assess, group};

    #[test]
    fn the_snapshot_holds_groups_evidence_timeline_audit_and_vitals() {
        let fleet = sample_fleet();
        let mut findings = assess(&fleet, &BTreeMap::new());
        findings.extend(crate::ops::triage::image_drift(&fleet));
        crate::ops::triage::rank(&mut findings);
        let now: jiff::Timestamp = "2026-11-25T20:00:00Z".parse().expect("time");
        let mut groups = group(
            &fleet,
            &findings,
            &Evidence::default(),
            &GroupOptions::default(),
            now,
        );
        groups[1]
            .evidence
            .push("  [stderr] FATAL boom ``` DB_PASSWORD=hunter2".into());
        let audit = [AuditRecord {
            time: "2026-11-25T19:59:00Z".parse().expect("time"),
            user: "ana".into(),
            host: "fleet-1".into(),
            container: "shop-sick-1".into(),
            action: "restart".into(),
            result: "ok".into(),
            logs: None,
        }];
        let vitals = BTreeMap::from([
            (
                "fleet-1".to_owned(),
                Ok(Vitals {
                    load1: 0.5,
                    load5: 0.25,
                    cpus: 2,
                    mem_total_bytes: 8 << 30,
                    mem_available_bytes: 4 << 30,
                    disk_total_bytes: 100 << 30,
                    disk_free_bytes: 50 << 30,
                    docker_root: "/var/lib/docker".into(),
                    uptime_s: 90_000,
                    docker_disk: None,
                    compose: Vec::new(),
                }),
            ),
            (
                "fleet-2".to_owned(),
                Err("exec refused: no shell".to_owned()),
            ),
        ]);
        let md = snapshot(
            &fleet,
            &Snapshot {
                now: "2026-11-25 20:00:00 UTC",
                window: "30m",
                groups: &groups,
                timeline: &[],
                audit: &audit,
                vitals: &vitals,
            },
        );
        assert!(md.starts_with("## Incident snapshot — 2026-11-25 20:00:00 UTC"));
        assert!(
            md.contains("- findings: 1 critical, 2 high, 1 medium, 1 low"),
            "{md}"
        );
        assert!(
            md.contains("### HIGH crashloop crash-looping on 1/3 hosts (fleet-1) (7 restarts)"),
            "{md}"
        );
        assert!(
            md.contains("Next: `flotilla logs shop-crashloop-1 --host fleet-1 -n 50 -t`"),
            "{md}"
        );
        assert!(
            md.contains("````text\n"),
            "a longer fence around backticks: {md}"
        );
        assert!(md.contains("DB_PASSWORD=••••••") && !md.contains("hunter2"));
        assert!(
            md.contains("2026-11-25T19:59:00Z fleet-1 restart shop-sick-1 by ana: ok"),
            "{md}"
        );
        assert!(md.contains("| fleet-1 | 0.50 / 0.25 | 2 | 4.0 GiB of 8.0 GiB (50 %) | 50.0 GiB of 100.0 GiB (50 %) on /var/lib/docker | 1d 1h |"), "{md}");
        assert!(md.contains("| fleet-2 | — | — | — | — | exec refused: no shell |"));
        assert!(
            md.contains("| fleet-3 | — | — | — | — | down: cannot connect"),
            "{md}"
        );
    }

    #[test]
    fn untrusted_text_is_inert_in_headings_and_blocks() {
        let fleet = sample_fleet();
        let mut findings = assess(&fleet, &BTreeMap::new());
        crate::ops::triage::rank(&mut findings);
        let now: jiff::Timestamp = "2026-11-25T20:00:00Z".parse().expect("time");
        let mut groups = group(
            &fleet,
            &findings,
            &Evidence::default(),
            &GroupOptions::default(),
            now,
        );
        groups[0].summary = "svc<!channel> & @here \x1b]0;TITLE\x07\x1b[2Jdown".into();
        groups[0].evidence = vec![
            "  exit 1: SECRET_KEY='quoted value nine'".into(),
            "  next TOKEN=abc".into(),
            "  last line".into(),
        ];
        let md = snapshot(
            &fleet,
            &Snapshot {
                now: "now",
                window: "1h",
                groups: &groups,
                timeline: &[],
                audit: &[],
                vitals: &BTreeMap::new(),
            },
        );
        assert!(
            md.contains("svc&lt;!channel&gt; &amp; @\u{200B}here down\n"),
            "{md}"
        );
        assert!(!md.contains('\x1b') && !md.contains("TITLE"), "{md}");
        assert!(
            md.contains("  exit 1: SECRET_KEY='••••••'\n  next TOKEN=••••••\n  last line\n"),
            "each evidence line keeps its own line: {md}"
        );
        assert!(!md.contains("value nine"), "{md}");
    }

    #[test]
    fn a_long_timeline_keeps_the_newest() {
        let fleet = sample_fleet();
        let entries: Vec<Entry> = (0..70)
            .filter_map(|i| {
                let r = AuditRecord {
                    time: format!("2026-11-25T{:02}:{:02}:00Z", 10 + i / 60, i % 60)
                        .parse()
                        .expect("time"),
                    user: "ana".into(),
                    host: "fleet-1".into(),
                    container: format!("c{i}"),
                    action: "restart".into(),
                    result: "ok".into(),
                    logs: None,
                };
                timeline::from_audit(&r, None)
            })
            .collect();
        let md = snapshot(
            &fleet,
            &Snapshot {
                now: "now",
                window: "1h",
                groups: &[],
                timeline: &entries,
                audit: &[],
                vitals: &BTreeMap::new(),
            },
        );
        assert!(
            md.contains("… 10 earlier events (flotilla events SERVICE --since 1h)"),
            "{md}"
        );
        assert!(!md.contains(" c9 ") && md.contains(" c10 ") && md.contains(" c69 "));
    }
}
