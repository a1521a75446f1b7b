//! Gathers the evidence of findings over the hosts' open connections: an
//! inspect and the log tail per flagged container, one event query per host
//! (for "since"), and each host's vitals. Hosts in parallel, each bounded.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;

use super::evidence::{ContainerEvidence, EvidenceLine};
use super::{ErrorCount, Finding, Kind};
use crate::fleet::compose::{
    self,
    file::{Drift, ProjectRef},
};
use crate::fleet::disk::{self, DockerDisk};
use crate::fleet::vitals::{self, Vitals};
use crate::fleet::{ContainerDetails, Fleet, FleetState, Handles, HostId, LogStream};

/// Log lines fetched per container to find its newest stderr lines.
const LOG_TAIL: &str = "200";
/// Concurrent API calls per host (dial-stdio hosts cap sessions).
const PER_HOST: usize = 4;
/// How far back the daemon's event buffer is asked for "since".
const EVENT_LOOKBACK_S: i64 = 24 * 3600;

/// Which kinds are explained by a container's own state and logs.
fn wants_container(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::CrashLoop
            | Kind::Dead
            | Kind::ExitedNonZero
            | Kind::Unhealthy
            | Kind::HealthStarting
            | Kind::ImageDrift
    )
}

/// Each host's Docker client and session while connected, by host index:
/// what the collectors read over (owned, so a background task can).
pub fn handles(fleet: &Fleet, state: &FleetState) -> Vec<Option<Handles>> {
    state
        .hosts
        .iter()
        .enumerate()
        .map(|(hi, h)| fleet.handles(hi).filter(|_| h.is_up()))
        .collect()
}

/// Evidence of every flagged container, by (host name, id). Each API call is
/// bounded by `within` and each host by twice that: a hung daemon costs a
/// few seconds and the evidence gathered so far, never the verb.
pub async fn containers(
    handles: &[Option<Handles>],
    state: &FleetState,
    findings: &[Finding],
    within: Duration,
) -> HashMap<(String, String), ContainerEvidence> {
    let mut per_host: HashMap<HostId, Vec<(Kind, String)>> = HashMap::new();
    for f in findings.iter().filter(|f| wants_container(f.kind)) {
        let (Some(id), Some(hi)) = (f.id.clone(), state.host_named(&f.host).map(|(id, _)| id))
        else {
            continue;
        };
        per_host.entry(hi).or_default().push((f.kind, id));
    }
    let work = per_host.into_iter().map(|(hi, wanted)| {
        let name = state
            .hosts
            .get(hi)
            .map(|h| h.spec.name.clone())
            .unwrap_or_default();
        let docker = handles.get(hi).cloned().flatten().map(|h| h.docker);
        async move {
            let Some(docker) = docker else {
                return Vec::new();
            };
            host_evidence(&docker, wanted, within)
                .await
                .into_iter()
                .map(|(id, e)| ((name.clone(), id), e))
                .collect::<Vec<_>>()
        }
    });
    futures::future::join_all(work)
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn host_evidence(
    docker: &bollard::Docker,
    wanted: Vec<(Kind, String)>,
    within: Duration,
) -> Vec<(String, ContainerEvidence)> {
    let deadline = tokio::time::Instant::now() + within * 2;
    let mut ids: Vec<String> = wanted.iter().map(|(_, id)| id.clone()).collect();
    ids.sort();
    ids.dedup();
    // Without events "since" falls back to the state timestamps.
    let events = tokio::time::timeout(within, container_events(docker, &ids))
        .await
        .unwrap_or_default();
    let mut found = futures::stream::iter(ids)
        .map(|id| {
            let needs_logs = wanted.iter().any(|(k, i)| {
                i == &id && matches!(k, Kind::CrashLoop | Kind::Dead | Kind::ExitedNonZero)
            });
            let events = events.get(&id).cloned().unwrap_or_default();
            async move {
                let mut ev = ContainerEvidence::default();
                inspect_into(&mut ev, docker, &id, within).await;
                if needs_logs {
                    let got = tokio::time::timeout(within, logs(docker, &id))
                        .await
                        .unwrap_or_else(|_| Err(format!("no answer within {}s", within.as_secs())));
                    match got {
                        Ok(lines) => ev.logs = lines,
                        Err(e) => ev.error = Some(format!("logs: {e}")),
                    }
                }
                events_into(&mut ev, &events);
                (id, ev)
            }
        })
        .buffer_unordered(PER_HOST);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            next = found.next() => match next {
                Some(got) => out.push(got),
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => {
                tracing::debug!("evidence still pending after {:?}", within * 2);
                break;
            }
        }
    }
    out
}

/// The container's details and health check timing, or why not.
async fn inspect_into(
    ev: &mut ContainerEvidence,
    docker: &bollard::Docker,
    id: &str,
    within: Duration,
) {
    let inspected = tokio::time::timeout(within, docker.inspect_container(id, None))
        .await
        .unwrap_or_else(|_| Err(timed_out(within)));
    match inspected {
        Ok(r) => {
            ev.failing_streak = r
                .state
                .as_ref()
                .and_then(|s| s.health.as_ref()?.failing_streak);
            ev.health_interval = r
                .config
                .as_ref()
                .and_then(|c| c.healthcheck.as_ref()?.interval)
                .and_then(|ns| u64::try_from(ns).ok())
                .filter(|ns| *ns > 0)
                .map(Duration::from_nanos)
                // Docker's default when the image sets none.
                .or(Some(Duration::from_secs(30)));
            ev.details = Some(ContainerDetails::from_inspect(r));
        }
        Err(e) => ev.error = Some(format!("inspect: {e}")),
    }
}

/// "Since" facts from the container's buffered events, oldest first.
fn events_into(ev: &mut ContainerEvidence, events: &[(String, Option<String>, jiff::Timestamp)]) {
    let failures = || {
        events
            .iter()
            .filter(|(action, exit, _)| action == "die" && exit.as_deref() != Some("0"))
    };
    ev.failing_since = failures().map(|(_, _, t)| *t).min();
    ev.failures_seen = failures().count();
    ev.last_exit = events
        .iter()
        .rev()
        .find(|(action, _, _)| action == "die")
        .and_then(|(_, exit, _)| exit.as_deref()?.parse().ok());
    // The latest turn to unhealthy after the last healthy verdict.
    ev.unhealthy_since = events
        .iter()
        .rev()
        .take_while(|(action, _, _)| action != "health_status: healthy")
        .filter(|(action, _, _)| action == "health_status: unhealthy")
        .map(|(_, _, t)| *t)
        .min();
}

/// A bollard error for a call that did not answer in time.
fn timed_out(within: Duration) -> bollard::errors::Error {
    bollard::errors::Error::IOError {
        err: std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {}s", within.as_secs()),
        ),
    }
}

/// The daemon's buffered die and health events of these containers, oldest
/// first: (action, exit code, time) by container id.
async fn container_events(
    docker: &bollard::Docker,
    ids: &[String],
) -> HashMap<String, Vec<(String, Option<String>, jiff::Timestamp)>> {
    let now = jiff::Timestamp::now().as_second();
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        ("container".to_owned(), ids.to_vec()),
    ]);
    let opts = bollard::query_parameters::EventsOptionsBuilder::default()
        .since(&(now - EVENT_LOOKBACK_S).to_string())
        .until(&now.to_string())
        .filters(&filters)
        .build();
    let mut out: HashMap<String, Vec<(String, Option<String>, jiff::Timestamp)>> = HashMap::new();
    let mut stream = docker.events(Some(opts));
    while let Some(Ok(ev)) = stream.next().await {
        let (Some(action), Some(actor)) = (ev.action, ev.actor) else {
            continue;
        };
        if !(action == "die" || action.starts_with("health_status")) {
            continue;
        }
        let Some(id) = actor.id else { continue };
        let nanos = ev
            .time_nano
            .map(i128::from)
            .or_else(|| ev.time.map(|s| i128::from(s) * 1_000_000_000));
        let Some(t) = nanos.and_then(|n| jiff::Timestamp::from_nanosecond(n).ok()) else {
            continue;
        };
        let exit = actor.attributes.and_then(|a| a.get("exitCode").cloned());
        out.entry(id).or_default().push((action, exit, t));
    }
    out
}

/// The container's newest log lines, both streams, oldest first.
async fn logs(docker: &bollard::Docker, id: &str) -> Result<Vec<EvidenceLine>, String> {
    let opts = bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(LOG_TAIL)
        .build();
    let mut out = Vec::new();
    let mut stream = docker.logs(id, Some(opts));
    while let Some(item) = stream.next().await {
        let item = item.map_err(|e| e.to_string())?;
        let (stream, bytes) = match item {
            bollard::container::LogOutput::StdErr { message } => (LogStream::Stderr, message),
            bollard::container::LogOutput::StdOut { message }
            | bollard::container::LogOutput::Console { message } => (LogStream::Stdout, message),
            bollard::container::LogOutput::StdIn { .. } => continue,
        };
        for raw in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let (ts, body) = crate::logs::parse_docker_line(raw);
            let text = crate::logs::plain(body);
            out.push(EvidenceLine {
                stream,
                time: ts,
                text,
            });
        }
    }
    Ok(out)
}

/// Lines scanned per container for the error burst check.
const SCAN_TAIL: usize = 3000;
/// The baseline an error burst is compared with: this many windows before it.
const BASELINE_WINDOWS: i64 = 5;

/// Error lines in each running container's recent logs: the window from
/// `since` to `now` (unix seconds) and `BASELINE_WINDOWS` windows before it,
/// by (host index, id). Hosts in parallel, `PER_HOST` containers at a time;
/// each read bounded by `within`, each host by four times that.
pub async fn error_counts(
    handles: &[Option<Handles>],
    state: &FleetState,
    since: i64,
    now: i64,
    within: Duration,
) -> std::collections::BTreeMap<(usize, String), ErrorCount> {
    let Some(pattern) = super::error_pattern() else {
        return std::collections::BTreeMap::new();
    };
    let scan_start = since - BASELINE_WINDOWS * (now - since).max(0);
    let window_start = i128::from(since) * 1_000_000_000;
    let work = state.hosts.iter().enumerate().filter_map(|(hi, h)| {
        let docker = handles.get(hi).cloned().flatten()?.docker;
        let ids: Vec<String> = h
            .containers
            .iter()
            .filter(|c| c.is_running())
            .map(|c| c.id.clone())
            .collect();
        let pattern = &pattern;
        Some(async move {
            let deadline = tokio::time::Instant::now() + within * 4;
            let mut scans = futures::stream::iter(ids)
                .map(|id| {
                    let docker = docker.clone();
                    async move {
                        let mut count = ErrorCount::default();
                        let read =
                            scan(&docker, &id, scan_start, pattern, window_start, &mut count);
                        if tokio::time::timeout(within, read).await.is_err() {
                            tracing::debug!("error scan of {id} cut after {within:?}");
                        }
                        count.finish(scan_start, since, now, SCAN_TAIL);
                        ((hi, id), count)
                    }
                })
                .buffer_unordered(PER_HOST);
            let mut out = Vec::new();
            loop {
                tokio::select! {
                    next = scans.next() => match next {
                        Some(got) => out.push(got),
                        None => break,
                    },
                    () = tokio::time::sleep_until(deadline) => break,
                }
            }
            out
        })
    });
    futures::future::join_all(work)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Counts one container's error lines since `scan_start` (its newest
/// `SCAN_TAIL` at most) into `count`.
async fn scan(
    docker: &bollard::Docker,
    id: &str,
    scan_start: i64,
    pattern: &regex::Regex,
    window_start: i128,
    count: &mut ErrorCount,
) {
    let opts = bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .since(i32::try_from(scan_start).unwrap_or(0))
        .tail(&SCAN_TAIL.to_string())
        .build();
    let mut stream = docker.logs(id, Some(opts));
    while let Some(Ok(item)) = stream.next().await {
        let bytes = item.into_bytes();
        for raw in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let (ts, body) = crate::logs::parse_docker_line(raw);
            count.add_scanned(pattern, &crate::logs::plain(body), ts, window_start);
        }
    }
}

/// Each reachable host's Compose drift (or why its projects could not be
/// read), by host name: one `config` read per project, hosts in parallel,
/// each host bounded by `within`. Hosts without Compose containers are left out.
pub async fn compose_drift(
    handles: &[Option<Handles>],
    state: &FleetState,
    within: Duration,
) -> std::collections::BTreeMap<String, Result<Vec<Drift>, String>> {
    let work = state
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_up())
        .filter_map(|(hi, h)| {
            let projects = ProjectRef::on_host(&h.containers);
            if projects.is_empty() {
                return None;
            }
            let name = h.spec.name.clone();
            let handle = handles.get(hi).cloned().flatten();
            let containers = h.containers.clone();
            Some(async move {
                let Some(handle) = handle else {
                    return (name, Err("the host's connection is gone".to_owned()));
                };
                let mut drift = Vec::new();
                for p in &projects {
                    match compose::file::judge(&handle, p, &containers, within).await {
                        Ok((_, found)) => drift.extend(found),
                        Err(e) => return (name, Err(format!("project {}: {e}", p.project))),
                    }
                }
                (name, Ok(drift))
            })
        });
    futures::future::join_all(work).await.into_iter().collect()
}

/// Each reachable host's vitals (or why not), by host name.
pub async fn vitals(
    handles: &[Option<Handles>],
    state: &FleetState,
    within: Duration,
) -> std::collections::BTreeMap<String, Result<Vitals, String>> {
    let work = state
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_up())
        .map(|(hi, h)| {
            let name = h.spec.name.clone();
            let handles = handles.get(hi).cloned().flatten();
            async move {
                let got = match handles {
                    Some(h) => vitals::read(&h.docker, h.remote.as_ref(), within).await,
                    None => Err("the host's connection is gone".to_owned()),
                };
                (name, got)
            }
        });
    futures::future::join_all(work).await.into_iter().collect()
}

/// Docker's disk usage (`/system/df`) of the reachable hosts `wanted` names
/// (all of them when None), or why not, by host name. Costly on the daemon
/// (it sizes every container's writable layer): callers read it seldom.
pub async fn docker_disks(
    handles: &[Option<Handles>],
    state: &FleetState,
    wanted: Option<&std::collections::BTreeSet<String>>,
    within: Duration,
) -> std::collections::BTreeMap<String, Result<DockerDisk, String>> {
    let work = state
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_up())
        .filter(|(_, h)| wanted.is_none_or(|w| w.contains(&h.spec.name)))
        .map(|(hi, h)| {
            let name = h.spec.name.clone();
            let handles = handles.get(hi).cloned().flatten();
            async move {
                let got = match handles {
                    Some(h) => disk::read(&h.docker, &h.raw, within).await,
                    None => Err("the host's connection is gone".to_owned()),
                };
                (name, got)
            }
        });
    futures::future::join_all(work).await.into_iter().collect()
}
