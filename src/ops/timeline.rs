//! What changed, when: Docker events of every host and flotilla's own audit
//! records as one time-ordered list. Pure; `flotilla events` fetches.

use serde::Serialize;

use futures::StreamExt;

use super::audit::{AuditLog, AuditRecord};
use crate::fleet::{Fleet, FleetState};

/// Records read from the audit log to find those in a window.
const AUDIT_SCAN: usize = 100_000;

/// Container actions worth a line (health checks' exec_* noise is not).
pub const CONTAINER_ACTIONS: [&str; 9] = [
    "create",
    "start",
    "die",
    "kill",
    "oom",
    "restart",
    "health_status",
    "destroy",
    "stop",
];
pub use crate::fleet::event::IMAGE_ACTIONS;

/// Where an entry comes from: Docker's event stream or flotilla's audit log.
/// Ordered as their names are: entries at the same instant list audit first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Audit,
    Docker,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Docker => "docker",
            Source::Audit => "audit",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// RFC 3339 with nanoseconds, UTC.
    pub time: String,
    pub host: String,
    pub source: Source,
    /// Docker's object type (container, image); "container" for audit records.
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    pub container: Option<String>,
    pub service: Option<String>,
    pub detail: String,
    #[serde(skip)]
    pub nanos: i128,
    /// Container id (Docker events only), for target matching.
    #[serde(skip)]
    pub id: Option<String>,
    /// The kept log lines of a container a deploy removed (audit only).
    #[serde(skip)]
    pub kept: Option<String>,
}

/// One Docker event as an entry; None for actions not followed.
pub fn from_docker(host: &str, ev: &bollard::models::EventMessage) -> Option<Entry> {
    let kind = ev
        .typ
        .and_then(|t| serde_json::to_value(t).ok()?.as_str().map(str::to_owned))?;
    let action = ev.action.clone()?;
    // "health_status: unhealthy" is filtered by its verb.
    let verb = action.split(':').next().unwrap_or("").trim();
    let wanted = match kind.as_str() {
        "container" => CONTAINER_ACTIONS.contains(&verb),
        "image" => IMAGE_ACTIONS.contains(&verb),
        _ => false,
    };
    if !wanted {
        return None;
    }
    let nanos = ev
        .time_nano
        .map(i128::from)
        .or_else(|| ev.time.map(|s| i128::from(s) * 1_000_000_000))?;
    let empty = std::collections::HashMap::new();
    let actor = ev.actor.as_ref();
    let attrs = actor.and_then(|a| a.attributes.as_ref()).unwrap_or(&empty);
    let (container, service, id) = if kind == "container" {
        (
            attrs.get("name").cloned(),
            attrs.get("com.docker.compose.service").cloned(),
            actor.and_then(|a| a.id.clone()),
        )
    } else {
        (None, None, None)
    };
    let mut detail: Vec<String> = Vec::new();
    for key in ["exitCode", "signal"] {
        if let Some(v) = attrs.get(key) {
            detail.push(format!("{key}={v}"));
        }
    }
    if kind == "image" {
        detail.push(
            attrs
                .get("name")
                .cloned()
                .or_else(|| actor.and_then(|a| a.id.clone()))
                .unwrap_or_default(),
        );
    } else if matches!(verb, "create" | "start")
        && let Some(image) = attrs.get("image")
    {
        detail.push(format!("image={image}"));
    }
    Some(Entry {
        time: crate::logs::format_ts_nanos(nanos),
        host: host.to_owned(),
        source: Source::Docker,
        kind,
        action,
        container,
        service,
        detail: detail.join(" "),
        nanos,
        id,
        kept: None,
    })
}

/// One audit record as an entry; `service` is looked up by the caller.
pub fn from_audit(r: &AuditRecord, service: Option<String>) -> Option<Entry> {
    let ts = r.time;
    let nanos = ts.as_nanosecond();
    Some(Entry {
        time: crate::logs::format_ts_nanos(nanos),
        host: r.host.clone(),
        source: Source::Audit,
        kind: "container".to_owned(),
        action: r.action.to_string(),
        container: (!r.container.is_empty()).then(|| r.container.clone()),
        service,
        detail: match &r.logs {
            Some(path) => format!("by {}: {}; logs kept in {path}", r.user, r.result),
            None => format!("by {}: {}", r.user, r.result),
        },
        nanos,
        id: None,
        kept: r.logs.clone(),
    })
}

/// Whether an entry concerns one of the targets (name, service, id prefix);
/// every entry does when there are none. Image events name no container.
pub fn matches(e: &Entry, targets: &[String]) -> bool {
    targets.is_empty()
        || targets.iter().any(|t| {
            e.container.as_ref() == Some(t)
                || e.service.as_ref() == Some(t)
                || (t.len() >= 4 && e.id.as_deref().is_some_and(|id| id.starts_with(t.as_str())))
        })
}

/// Time order; ties by host then source, so output is stable.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| (a.nanos, &a.host, a.source).cmp(&(b.nanos, &b.host, b.source)));
}

/// `fleet-1    2026-11-30T04:58:01.123Z docker container die shop-crashloop-1 (crashloop)  exitCode=1`.
pub fn line(e: &Entry) -> String {
    format!("{:<10} {}", e.host, text(e))
}

/// An entry without its host: `2026-11-30T04:58:01.123Z docker container die …`.
pub fn text(e: &Entry) -> String {
    let when = crate::logs::format_ts(e.nanos);
    let mut line = format!("{when} {} {} {}", e.source, e.kind, e.action);
    if let Some(c) = &e.container {
        line.push(' ');
        line.push_str(c);
        if let Some(s) = e.service.as_ref().filter(|s| *s != c) {
            line.push_str(&format!(" ({s})"));
        }
    }
    if !e.detail.is_empty() {
        line.push_str("  ");
        line.push_str(&e.detail);
    }
    line
}

/// The connected hosts' Docker clients, by name (what `fetch` reads).
pub fn handles(fleet: &Fleet, state: &FleetState) -> Vec<(String, Option<bollard::Docker>)> {
    state
        .hosts
        .iter()
        .enumerate()
        // A host without a session is listed too: `fetch` reports it as not read.
        .map(|(hi, h)| (h.spec.name.clone(), fleet.docker(hi).filter(|_| h.is_up())))
        .collect()
}

/// Only the hosts with a session (headless verbs report the others already).
pub fn connected(
    hosts: Vec<(String, Option<bollard::Docker>)>,
) -> Vec<(String, Option<bollard::Docker>)> {
    hosts.into_iter().filter(|(_, d)| d.is_some()).collect()
}

/// Longest one host may take to answer a window of events: a sick daemon
/// costs its own entries, not the whole timeline.
const FETCH_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// Every given host's events in [since, until], and the hosts that failed.
pub async fn fetch(
    hosts: Vec<(String, Option<bollard::Docker>)>,
    since: i64,
    until: jiff::Timestamp,
) -> (Vec<Entry>, Vec<(String, String)>) {
    let work = hosts.into_iter().map(|(name, docker)| async move {
        let Some(docker) = docker else {
            return (name, Err("not connected".to_owned()));
        };
        let read = async {
            let mut stream = docker.events(Some(options(since, Some(until))));
            let mut got = Vec::new();
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(ev) => got.extend(from_docker(&name, &ev)),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(got)
        };
        let got = match tokio::time::timeout(FETCH_BOUND, read).await {
            Ok(got) => got,
            Err(_) => Err(format!(
                "Docker did not answer the events query within {}s",
                FETCH_BOUND.as_secs()
            )),
        };
        (name, got)
    });
    let mut entries = Vec::new();
    let mut failed = Vec::new();
    for (host, got) in futures::future::join_all(work).await {
        match got {
            Ok(mut e) => entries.append(&mut e),
            Err(e) => failed.push((host, e)),
        }
    }
    (entries, failed)
}

/// `until` to the nanosecond (Docker takes "seconds.nanoseconds"): whole
/// seconds would drop what happened in the current one.
pub fn options(
    since: i64,
    until: Option<jiff::Timestamp>,
) -> bollard::query_parameters::EventsOptions {
    let filters = std::collections::HashMap::from([(
        "type".to_owned(),
        vec!["container".to_owned(), "image".to_owned()],
    )]);
    let mut b = bollard::query_parameters::EventsOptionsBuilder::default()
        .since(&since.to_string())
        .filters(&filters);
    if let Some(until) = until {
        b = b.until(&format!(
            "{}.{:09}",
            until.as_second(),
            until.subsec_nanosecond()
        ));
    }
    b.build()
}

/// Audit records of the selected hosts newer than `after` (unix ns), up to `until`.
pub fn audit_entries(audit: &AuditLog, state: &FleetState, after: i128, until: i128) -> Vec<Entry> {
    let records = match audit.tail(AUDIT_SCAN) {
        Ok((records, _bad)) => records,
        Err(e) => {
            tracing::warn!("audit log {}: {e}", audit.path().display());
            return Vec::new();
        }
    };
    records
        .iter()
        .filter_map(|r| audit_entry(state, r))
        .filter(|e| e.nanos > after && e.nanos <= until)
        .collect()
}

/// One audit record of a selected host as an entry, its service looked up
/// by the container's name; None for other hosts' records.
pub fn audit_entry(state: &FleetState, r: &AuditRecord) -> Option<Entry> {
    let h = state.host_named(&r.host).map(|(_, h)| h)?;
    let service = h
        .containers
        .iter()
        .find(|c| c.name == r.container)
        .map(|c| c.service().to_owned());
    from_audit(r, service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EventActor, EventMessage, EventMessageTypeEnum};

    fn event(
        typ: EventMessageTypeEnum,
        action: &str,
        secs: i64,
        attrs: &[(&str, &str)],
    ) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("abcdef123456".into()),
                attributes: Some(
                    attrs
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
            }),
            time: Some(secs),
            time_nano: Some(secs * 1_000_000_000 + 5),
            ..Default::default()
        }
    }

    #[test]
    fn docker_events_become_entries_and_noise_is_dropped() {
        let die = event(
            EventMessageTypeEnum::CONTAINER,
            "die",
            1_796_014_000,
            &[
                ("name", "shop-crashloop-1"),
                ("com.docker.compose.service", "crashloop"),
                ("exitCode", "1"),
                ("image", "flotilla-test/crasher:latest"),
            ],
        );
        let e = from_docker("fleet-1", &die).expect("die is followed");
        assert_eq!(e.time, "2026-11-30T04:46:40.000000005Z");
        assert_eq!(
            (e.kind.as_str(), e.action.as_str(), e.detail.as_str()),
            ("container", "die", "exitCode=1")
        );
        assert_eq!(e.service.as_deref(), Some("crashloop"));
        assert_eq!(
            line(&e),
            "fleet-1    2026-11-30T04:46:40.000Z docker container die shop-crashloop-1 (crashloop)  exitCode=1"
        );
        let health = event(
            EventMessageTypeEnum::CONTAINER,
            "health_status: unhealthy",
            1,
            &[("name", "shop-sick-1")],
        );
        assert!(from_docker("fleet-1", &health).is_some());
        let exec = event(
            EventMessageTypeEnum::CONTAINER,
            "exec_start: sh -c x",
            1,
            &[],
        );
        assert_eq!(from_docker("fleet-1", &exec), None);
        let pull = event(
            EventMessageTypeEnum::IMAGE,
            "pull",
            1,
            &[("name", "app:v2")],
        );
        let pull = from_docker("fleet-2", &pull).expect("pull");
        assert_eq!((pull.container, pull.detail.as_str()), (None, "app:v2"));
    }

    #[test]
    fn audit_and_docker_merge_in_time_order_and_filter_by_target() {
        let record = AuditRecord {
            time: "2026-11-30T04:46:40Z".parse().expect("time"),
            user: "ana".into(),
            host: "fleet-2".into(),
            container: "shop-web-1".into(),
            action: "restart".into(),
            result: "ok".into(),
            logs: None,
        };
        let a = from_audit(&record, Some("web".into())).expect("audit");
        assert_eq!(a.detail, "by ana: ok");
        let kept = AuditRecord {
            logs: Some("/state/kept-logs/d-1-fleet-2-web.log".into()),
            ..record.clone()
        };
        let k = from_audit(&kept, None).expect("kept");
        assert_eq!(
            k.detail,
            "by ana: ok; logs kept in /state/kept-logs/d-1-fleet-2-web.log"
        );
        assert_eq!(k.kept, kept.logs);
        let later = event(
            EventMessageTypeEnum::CONTAINER,
            "start",
            1_796_014_001,
            &[
                ("name", "shop-web-1"),
                ("com.docker.compose.service", "web"),
            ],
        );
        let earlier = event(
            EventMessageTypeEnum::CONTAINER,
            "kill",
            1_796_013_999,
            &[("name", "shop-batch-1"), ("signal", "15")],
        );
        let mut all = vec![
            from_docker("fleet-1", &later).expect("start"),
            a,
            from_docker("fleet-2", &earlier).expect("kill"),
        ];
        sort(&mut all);
        let order: Vec<(String, &str)> = all
            .iter()
            .map(|e| (e.source.to_string(), e.action.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("docker".to_owned(), "kill"),
                ("audit".to_owned(), "restart"),
                ("docker".to_owned(), "start")
            ]
        );
        let web: Vec<&Entry> = all.iter().filter(|e| matches(e, &["web".into()])).collect();
        assert_eq!(web.len(), 2);
        assert!(matches(&all[0], &["abcdef".into()]), "id prefix");
        assert!(!matches(&all[0], &["abc".into()]), "too short for an id");
    }
}
