//! The TUI's background work: each task runs over the actors' open
//! sessions, bounded per host, and answers the loop on a channel.

use tokio::sync::mpsc;

use super::app::AppEvent;
use super::state::deploy::{DeployRequest, PlanSummary};
use crate::config::ServiceSpec;
use crate::fleet::{Fleet, FleetState};
use crate::ops;
use crate::ops::AuditLog;
use crate::ops::deploy::prepare::{self, Mode, Prepared, Request};
use crate::ops::deploy::{Delivery, Deployment};

pub(super) type PrepareResult = Result<(Box<Deployment>, PlanSummary), String>;

/// Probes and plans in a task, over the host actors' Docker clients (no new
/// connections); the answer arrives on `prepared_rx`.
pub(super) fn prepare_deploy(
    spec: ServiceSpec,
    request: DeployRequest,
    state: &FleetState,
    fleet: &Fleet,
    answer: mpsc::Sender<PrepareResult>,
) {
    let ops::deploy::reach::Reach { hosts, unreachable } =
        ops::deploy::reach::handles(state, fleet, &spec.hosts);
    let (mode, image) = match request {
        DeployRequest::Deploy { image } => (Mode::Deploy, Some(image)),
        DeployRequest::Rollback => (Mode::Rollback, None),
    };
    let req = Request {
        mode,
        image,
        serial: None,
        max_fail: None,
        // Missing images stream from a fleet host that has them.
        delivery: Delivery::Stream { from: None },
        break_lock: false,
    };
    let tx = answer;
    tokio::spawn(async move {
        let result = match prepare::prepare(&spec, hosts, &unreachable, &req).await {
            Ok(Prepared::Ready(ready)) => {
                let summary = PlanSummary {
                    deploy_id: ready.deployment.id.clone(),
                    service: spec.name.clone(),
                    kind: ready.mode,
                    image: ready.image.clone(),
                    plan: ready.deployment.plan.clone(),
                    pre_deploy: spec
                        .pre_deploy
                        .clone()
                        .filter(|_| ready.deployment.pre_deploy),
                    refusal: ready.refusal.map(|r| r.message),
                };
                Ok((Box::new(ready.deployment), summary))
            }
            Ok(Prepared::NothingToDo(msg)) => Err(msg),
            Err(e) => Err(e.message),
        };
        let _ = tx.send(result).await;
    });
}

/// The snapshot's window: `flotilla triage`'s default (error bursts and the timeline).
const SNAPSHOT_WINDOW: &str = "5m";

/// The grouped incident snapshot `flotilla triage --markdown` prints,
/// gathered in a task over the actors' open sessions, each host bounded; the
/// answer comes back as `SnapshotGathered`.
pub(super) fn gather_snapshot(
    state: &FleetState,
    fleet: &Fleet,
    audit: &AuditLog,
    loaded: &mpsc::Sender<AppEvent>,
) {
    let now = jiff::Timestamp::now();
    let since = match crate::logs::parse_since(SNAPSHOT_WINDOW, now) {
        Ok(s) => s,
        Err(e) => {
            let _ = loaded.try_send(AppEvent::SnapshotGathered(Err(e)));
            return;
        }
    };
    let req = ops::triage::incident::Request {
        window: SNAPSHOT_WINDOW.to_owned(),
        since,
        now,
        opts: ops::triage::GroupOptions::default(),
    };
    let state = state.clone();
    let handles = ops::triage::collect::handles(fleet, &state);
    let audit = audit.clone();
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let within = ops::triage::incident::EVIDENCE_WITHIN;
        let errors = ops::triage::collect::error_counts(
            &handles,
            &state,
            req.since,
            req.now.as_second(),
            within,
        )
        .await;
        let (markdown, groups) =
            ops::triage::incident::markdown(&handles, &state, errors, &audit, &req).await;
        let result = serde_json::to_string_pretty(&groups)
            .map(|json| (markdown, json))
            .map_err(|e| format!("JSON encoding failed: {e}"));
        let _ = loaded.send(AppEvent::SnapshotGathered(result)).await;
    });
}

/// The timeline since `since` (unix seconds): audit records now (a local
/// file), Docker events in a task; answered as `TimelineLoaded`.
pub(super) fn load_timeline(
    state: &FleetState,
    fleet: &Fleet,
    audit: &AuditLog,
    targets: Vec<String>,
    since: i64,
    loaded: &mpsc::Sender<AppEvent>,
) {
    let until = jiff::Timestamp::now();
    let after = i128::from(since) * 1_000_000_000 - 1;
    let mut entries = ops::timeline::audit_entries(audit, state, after, until.as_nanosecond());
    let handles = ops::timeline::handles(fleet, state);
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let (mut docker, failed) = ops::timeline::fetch(handles, since, until).await;
        entries.append(&mut docker);
        entries.retain(|e| ops::timeline::matches(e, &targets));
        ops::timeline::sort(&mut entries);
        let _ = loaded
            .send(AppEvent::TimelineLoaded { entries, failed })
            .await;
    });
}

/// Every host's Compose drift, in a task; answered as `ComposeRead`.
pub(super) fn read_compose(state: &FleetState, fleet: &Fleet, loaded: &mpsc::Sender<AppEvent>) {
    let state = state.clone();
    let handles = ops::triage::collect::handles(fleet, &state);
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let within = ops::triage::incident::EVIDENCE_WITHIN;
        let reading = ops::triage::collect::compose_drift(&handles, &state, within).await;
        let _ = loaded.send(AppEvent::ComposeRead(reading)).await;
    });
}

/// Bound on one host's /system/df read.
const DISK_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

/// Every host's Docker disk usage, in a task; answered as `DisksRead`.
pub(super) fn read_disks(state: &FleetState, fleet: &Fleet, loaded: &mpsc::Sender<AppEvent>) {
    let state = state.clone();
    let handles = ops::triage::collect::handles(fleet, &state);
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let reading = ops::triage::collect::docker_disks(&handles, &state, None, DISK_WITHIN).await;
        let _ = loaded.send(AppEvent::DisksRead(reading)).await;
    });
}

/// Bound on one host's counters reading.
const TOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The counters reader: one task for the TUI's life, holding each host's
/// collector (its PIDs and its pipe) between rounds; answers `TopRead`.
pub(super) fn top_reader(loaded: &mpsc::Sender<AppEvent>) -> mpsc::Sender<TopRequest> {
    let (tx, mut rx) = mpsc::channel::<TopRequest>(1);
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let mut collectors = Vec::new();
        while let Some(request) = rx.recv().await {
            let round = crate::fleet::top::read_round(&mut collectors, request, TOP_WITHIN).await;
            if loaded.send(AppEvent::TopRead(round)).await.is_err() {
                break;
            }
        }
    });
    tx
}

pub(super) use crate::fleet::top::Request as TopRequest;

/// Every connected host's prune plan, in a task; answered as `PrunePlanned`.
pub(super) fn plan_prune(
    state: &FleetState,
    fleet: &Fleet,
    services: &[ServiceSpec],
    kinds: ops::prune::Kinds,
    loaded: &mpsc::Sender<AppEvent>,
) {
    let hosts: Vec<(String, Option<bollard::Docker>)> = state
        .hosts
        .iter()
        .enumerate()
        .map(|(hi, h)| (h.spec.name.clone(), fleet.docker(hi).filter(|_| h.is_up())))
        .collect();
    let services = services.to_vec();
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let work = hosts.into_iter().map(|(host, docker)| {
            let services = &services;
            async move {
                let Some(docker) = docker else {
                    return (host, Err("not connected".to_owned()));
                };
                let facts = ops::prune::collect::facts(&docker).await;
                let plan = facts.map(|f| ops::prune::plan(&host, &f, services, kinds, None));
                (host, plan)
            }
        });
        let plans = futures::future::join_all(work).await.into_iter().collect();
        let _ = loaded.send(AppEvent::PrunePlanned(plans)).await;
    });
}

/// Carries a confirmed prune plan out over the host's open session;
/// answered as `Pruned`.
pub(super) fn prune(
    state: &FleetState,
    fleet: &Fleet,
    plan: ops::prune::HostPlan,
    audit: &AuditLog,
    loaded: &mpsc::Sender<AppEvent>,
) {
    let docker = state
        .host_named(&plan.host)
        .and_then(|(hi, h)| fleet.docker(hi).filter(|_| h.is_up()));
    let audit = audit.clone();
    let loaded = loaded.clone();
    tokio::spawn(async move {
        let result = match docker {
            Some(d) => Ok(ops::prune::run::execute(&d, &plan, &audit).await),
            None => Err("not connected".to_owned()),
        };
        let _ = loaded.send(AppEvent::Pruned(result)).await;
    });
}
