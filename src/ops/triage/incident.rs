//! The grouped incident snapshot end to end, for `flotilla triage
//! --markdown` and the TUI's `S` alike: findings with their evidence (read
//! over the hosts' open connections, each host bounded), the affected
//! services' timeline, the recent audit records and the vitals, as Markdown.
//! Takes owned handles and state so it can run in a background task.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{ErrorCount, Evidence, Group, GroupOptions, Snapshot, collect};
use crate::fleet::vitals::Vitals;
use crate::fleet::{FleetState, Handles};
use crate::ops::audit::{AuditLog, AuditRecord};
use crate::ops::timeline::{self, Entry};

/// Bound on each API call gathering evidence, and on reading a host's vitals.
pub const EVIDENCE_WITHIN: Duration = Duration::from_secs(4);
/// Bound on reading a host's /system/df: the daemon sizes every container
/// for it, which takes longer than the other evidence.
const DISK_WITHIN: Duration = Duration::from_secs(10);
/// Audit records a snapshot shows.
const SNAPSHOT_AUDIT: usize = 15;

/// What to look at.
#[derive(Debug, Clone)]
pub struct Request {
    /// As typed ("5m"): the error scan's window and the timeline's.
    pub window: String,
    /// Start of the window, unix seconds.
    pub since: i64,
    pub now: jiff::Timestamp,
    pub opts: GroupOptions,
}

/// Every finding grouped with its evidence.
pub async fn assess(
    handles: &[Option<Handles>],
    state: &FleetState,
    errors: BTreeMap<(usize, String), ErrorCount>,
    req: &Request,
) -> (Vec<Group>, Evidence) {
    let mut evidence = Evidence {
        window: req.window.clone(),
        errors,
        ..Evidence::default()
    };
    let mut findings = super::assess(state, &evidence.errors);
    findings.extend(super::image_drift(state));
    // Vitals, Compose files and container evidence at once: a slow host
    // delays them by one bound.
    (evidence.vitals, evidence.containers, evidence.compose) = tokio::join!(
        collect::vitals(handles, state, EVIDENCE_WITHIN),
        collect::containers(handles, state, &findings, EVIDENCE_WITHIN),
        collect::compose_drift(handles, state, EVIDENCE_WITHIN),
    );
    findings.extend(super::compose_drift(state, &evidence.compose));
    let readable: BTreeMap<String, Vitals> = evidence
        .vitals
        .iter()
        .filter_map(|(h, v)| Some((h.clone(), v.as_ref().ok()?.clone())))
        .collect();
    findings.extend(super::assess_vitals(&readable));
    docker_disks(handles, state, &mut evidence).await;
    super::rank(&mut findings);
    let groups = super::group(state, &findings, &evidence, &req.opts, req.now);
    (groups, evidence)
}

/// Docker's disk usage of the hosts short of disk space, for their
/// finding's evidence (read only there: the daemon sizes every container).
async fn docker_disks(handles: &[Option<Handles>], state: &FleetState, evidence: &mut Evidence) {
    let pressed: BTreeSet<String> = evidence
        .vitals
        .iter()
        .filter(|(_, v)| v.as_ref().is_ok_and(super::disk_pressure))
        .map(|(h, _)| h.clone())
        .collect();
    if pressed.is_empty() {
        return;
    }
    let read = collect::docker_disks(handles, state, Some(&pressed), DISK_WITHIN).await;
    for (host, disk) in read {
        if let Some(Ok(v)) = evidence.vitals.get_mut(&host) {
            v.docker_disk = Some(disk);
        }
    }
}

/// What happened to the affected services within the window: Docker events
/// (each host bounded) and audit records, in time order.
pub async fn affected_timeline(
    handles: &[Option<Handles>],
    state: &FleetState,
    audit: &AuditLog,
    groups: &[Group],
    req: &Request,
) -> Vec<Entry> {
    let affected: Vec<String> = groups.iter().filter_map(|g| g.service.clone()).collect();
    if affected.is_empty() {
        return Vec::new();
    }
    let dockers = state
        .hosts
        .iter()
        .zip(handles)
        .filter_map(|(h, x)| Some((h.spec.name.clone(), Some(x.as_ref()?.docker.clone()))))
        .collect();
    let (mut entries, _failed) = timeline::fetch(dockers, req.since, req.now).await;
    entries.extend(timeline::audit_entries(
        audit,
        state,
        i128::from(req.since) * 1_000_000_000,
        req.now.as_nanosecond(),
    ));
    entries.retain(|e| timeline::matches(e, &affected));
    timeline::sort(&mut entries);
    entries
}

/// The selected hosts' newest audit records (a wider scan, then the newest).
pub fn recent_audit(audit: &AuditLog, state: &FleetState) -> Vec<AuditRecord> {
    let (mut records, _bad) = audit.tail(SNAPSHOT_AUDIT * 100).unwrap_or_else(|e| {
        tracing::warn!("audit log {}: {e}", audit.path().display());
        (Vec::new(), 0)
    });
    records.retain(|r| state.host_named(&r.host).is_some());
    records.split_off(records.len().saturating_sub(SNAPSHOT_AUDIT))
}

/// The whole snapshot: Markdown, and the groups it was made of.
pub async fn markdown(
    handles: &[Option<Handles>],
    state: &FleetState,
    errors: BTreeMap<(usize, String), ErrorCount>,
    audit: &AuditLog,
    req: &Request,
) -> (String, Vec<Group>) {
    let (groups, evidence) = assess(handles, state, errors, req).await;
    let timeline = affected_timeline(handles, state, audit, &groups, req).await;
    let records = recent_audit(audit, state);
    let stamp = req.now.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    let md = super::snapshot(
        state,
        &Snapshot {
            now: &stamp,
            window: &req.window,
            groups: &groups,
            timeline: &timeline,
            audit: &records,
            vitals: &evidence.vitals,
        },
    );
    (md, groups)
}
