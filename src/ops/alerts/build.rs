//! A finding in words for people: triage's grouping gives the title, the
//! evidence and the command to run next; rule hits bring their own.

use std::collections::BTreeMap;

use super::{Alert, Event, key};
use crate::fleet::FleetState;
use crate::fleet::vitals::Vitals;
use crate::ops::triage::{Evidence, Finding, GroupOptions, Severity};

/// Evidence lines one notification carries at most.
const EVIDENCE_MAX: usize = 10;

/// What a rule saw, which triage's evidence does not know.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub evidence: Vec<String>,
    pub next: Option<String>,
}

/// The alert for `f`; `opened` is when it was first announced (resolves).
pub fn alert(
    event: Event,
    fleet: &FleetState,
    f: &Finding,
    seen: Option<&Seen>,
    vitals: &BTreeMap<String, Vitals>,
    opened: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> Alert {
    let (title, mut evidence, next) = match seen {
        Some(s) => (plain_what(f), s.evidence.clone(), s.next.clone()),
        None => grouped(fleet, f, vitals, now),
    };
    evidence.truncate(EVIDENCE_MAX);
    let text = match (event, &next) {
        (Event::Resolved, _) => format!(":white_check_mark: resolved: {title}"),
        (_, Some(next)) => format!("{} {title} — {next}", marker(f.severity)),
        (_, None) => format!("{} {title}", marker(f.severity)),
    };
    Alert {
        event,
        severity: f.severity,
        key: key(f),
        title: crate::redact::clean(&title),
        text: crate::redact::clean(&super::format::slack_escape(&text)),
        evidence: evidence.iter().map(|l| crate::redact::clean(l)).collect(),
        next,
        host: f.host.clone(),
        container: f.container.clone(),
        service: f.service.clone(),
        opened,
        at: now,
        finding: serde_json::to_value(f).unwrap_or(serde_json::Value::Null),
    }
}

/// Title, evidence and next command in triage's words, for one finding.
fn grouped(
    fleet: &FleetState,
    f: &Finding,
    vitals: &BTreeMap<String, Vitals>,
    now: jiff::Timestamp,
) -> (String, Vec<String>, Option<String>) {
    let opts = GroupOptions {
        per_container: true,
        ..GroupOptions::default()
    };
    let evidence = Evidence {
        vitals: vitals
            .iter()
            .map(|(h, v)| (h.clone(), Ok(v.clone())))
            .collect(),
        ..Evidence::default()
    };
    let groups = crate::ops::triage::group(fleet, std::slice::from_ref(f), &evidence, &opts, now);
    match groups.into_iter().next() {
        Some(g) => (g.summary, g.evidence, Some(g.suggestion)),
        None => (plain_what(f), Vec::new(), None),
    }
}

/// "shop-web-1 on fleet-1: unhealthy: Up 3 minutes".
fn plain_what(f: &Finding) -> String {
    match &f.container {
        Some(c) => format!("{} on {}: {}", c, f.host, f.summary),
        None => format!("{}: {}", f.host, f.summary),
    }
}

fn marker(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => ":red_circle:",
        Severity::Medium => ":large_orange_circle:",
        Severity::Low => ":large_yellow_circle:",
    }
}

/// An autoheal restart (or giving up) as a notification of its own.
pub fn autoheal_note(
    host: &str,
    container: &str,
    result: &str,
    text: &str,
    now: jiff::Timestamp,
) -> Alert {
    Alert {
        event: Event::Autoheal,
        severity: Severity::Medium,
        key: format!("autoheal/{host}/{container}"),
        title: text.to_owned(),
        text: format!(":adhesive_bandage: {}", super::format::slack_escape(text)),
        evidence: Vec::new(),
        next: Some(format!("flotilla logs {container} --host {host} -n 50 -t")),
        host: host.to_owned(),
        container: Some(container.to_owned()),
        service: None,
        opened: None,
        at: now,
        finding: serde_json::json!({"host": host, "container": container, "result": result}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixtures::sample_fleet;
    use crate::ops::triage::{Kind, assess};

    #[test]
    fn built_in_findings_read_as_triage_says_them() {
        let fleet = sample_fleet();
        let findings = assess(&fleet, &BTreeMap::new());
        let crash = findings
            .iter()
            .find(|f| f.kind == Kind::CrashLoop)
            .expect("crash loop");
        let now: jiff::Timestamp = "2026-11-25T20:00:00Z".parse().expect("time");
        let a = alert(Event::New, &fleet, crash, None, &BTreeMap::new(), None, now);
        assert!(
            a.text
                .starts_with(":red_circle: shop-crashloop-1 crash-looping on 1/3 hosts (fleet-1)"),
            "{}",
            a.text
        );
        assert!(
            a.text
                .ends_with(" — flotilla logs shop-crashloop-1 --host fleet-1 -n 50 -t"),
            "{}",
            a.text
        );
        assert_eq!(a.key, "crash_loop/fleet-1/shop-crashloop-1");
        assert_eq!(
            a.next.as_deref(),
            Some("flotilla logs shop-crashloop-1 --host fleet-1 -n 50 -t")
        );
        let gone = alert(
            Event::Resolved,
            &fleet,
            crash,
            None,
            &BTreeMap::new(),
            Some(now),
            now,
        );
        assert!(
            gone.text
                .starts_with(":white_check_mark: resolved: shop-crashloop-1"),
            "{}",
            gone.text
        );
    }

    #[test]
    fn rule_hits_bring_their_own_evidence_and_next() {
        let fleet = sample_fleet();
        let f = Finding {
            severity: Severity::High,
            kind: Kind::Rule,
            host: "fleet-1".into(),
            container: Some("api-1".into()),
            id: None,
            service: Some("api".into()),
            summary: "log rule \"fatal\": 2 lines <&>".into(),
            rule: Some("fatal".into()),
        };
        let seen = Seen {
            evidence: (0..20).map(|i| format!("FATAL <{i}>")).collect(),
            next: Some("flotilla logs api-1".into()),
        };
        let now: jiff::Timestamp = "2026-11-25T20:00:00Z".parse().expect("time");
        let a = alert(
            Event::New,
            &fleet,
            &f,
            Some(&seen),
            &BTreeMap::new(),
            None,
            now,
        );
        assert_eq!(a.key, "rule/fleet-1/api-1#fatal");
        assert_eq!(a.title, "api-1 on fleet-1: log rule \"fatal\": 2 lines <&>");
        assert_eq!(a.evidence.len(), EVIDENCE_MAX);
        assert!(a.text.contains("&lt;"), "chat text escaped: {}", a.text);
        assert_eq!(
            a.evidence[0], "FATAL <0>",
            "evidence itself is not chat-escaped"
        );
    }
}
