//! Listing a host's containers and filling what only inspect knows (restart
//! counts, start times), within deadlines; one-shot stats readings.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures::StreamExt;

use super::super::model::{ContainerInfo, StatsSample};
use super::ActorConfig;
use crate::config::HostSpec;
use crate::transport::DockerLink;
use crate::transport::api_versions::{self, ApiVersions};
use bollard::API_DEFAULT_VERSION;

/// Parallel API calls per host for inspect/stats; dial-stdio hosts cap
/// sessions per connection (OpenSSH MaxSessions, default 10).
pub(super) const PER_HOST_CONCURRENCY: usize = 4;

/// Longest a list waits for inspects of new containers; those not answered
/// by then go without restart count and start time until the next list.
const ENRICH_DEADLINE: Duration = Duration::from_secs(3);

/// What inspect adds to a list entry.
#[derive(Debug, Clone)]
pub(super) struct Inspected {
    pub(super) restart_count: i64,
    pub(super) started_at: String,
}

/// One container list and the inspects it took.
pub(super) struct Listed {
    pub(super) containers: Vec<ContainerInfo>,
    pub(super) rtt: Duration,
    pub(super) fetched: Vec<(String, Inspected)>,
}

/// Lists, then (when enabled) inspects containers not in `known`, within
/// `ENRICH_DEADLINE` in all.
pub(super) async fn list_and_inspect(
    spec: &HostSpec,
    cfg: &ActorConfig,
    docker: &bollard::Docker,
    link: &DockerLink,
    known: HashSet<String>,
) -> Result<Listed, String> {
    let session = link.remote.as_ref();
    let (containers, rtt) = match list(spec, cfg, docker, session).await {
        Err(e) if api_versions::is_version_mismatch(&e) => {
            // A remembered version the daemon no longer takes: ask it afresh.
            tracing::info!(host = %spec.name, "{e}; negotiating the API version again");
            let versions = ApiVersions::from_env();
            let key = api_versions::target_key(&spec.target);
            let _ = versions.set(&key, None);
            let fresh = link
                .with_version(API_DEFAULT_VERSION)
                .map_err(|e| e.to_string())?
                .negotiate_version()
                .await
                .map_err(|e| format!("Docker API: {e}"))?;
            let _ = versions.set(&key, Some(&fresh.client_version()));
            list(spec, cfg, &fresh, session).await?
        }
        Err(e) => {
            // A remembered dial-stdio fallback may be what broke (no docker
            // CLI on the host any more): the next run tries stream-local again.
            if link.tunnel() == crate::transport::docker::Tunnel::DialStdio {
                let versions = ApiVersions::from_env();
                let _ = versions.set_dial_stdio(&api_versions::target_key(&spec.target), false);
            }
            return Err(e);
        }
        Ok(listed) => listed,
    };
    let mut fetched = Vec::new();
    if cfg.inspect {
        let missing: Vec<String> = containers
            .iter()
            .filter(|c| !known.contains(&c.id))
            .map(|c| c.id.clone())
            .collect();
        let mut inspects = futures::stream::iter(missing)
            .map(|id| async move {
                let got = docker
                    .inspect_container(&id, None)
                    .await
                    .ok()
                    .map(|r| Inspected {
                        restart_count: r.restart_count.unwrap_or(0),
                        started_at: r.state.and_then(|s| s.started_at).unwrap_or_default(),
                    });
                (id, got)
            })
            .buffer_unordered(PER_HOST_CONCURRENCY);
        let deadline = tokio::time::sleep(ENRICH_DEADLINE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = inspects.next() => match next {
                    Some((id, Some(got))) => fetched.push((id, got)),
                    Some((_, None)) => {}
                    None => break,
                },
                () = &mut deadline => {
                    tracing::debug!(host = %spec.name, "inspects still pending after {ENRICH_DEADLINE:?}");
                    break;
                }
            }
        }
    }
    Ok(Listed {
        containers,
        rtt,
        fetched,
    })
}

/// Folds a list's inspects into the cache (minus entries an event made stale
/// meanwhile) and fills restart counts and start times from it.
pub(super) fn merge_inspected(
    listed: Listed,
    cache: &mut HashMap<String, Inspected>,
    stale: &[String],
) -> Vec<ContainerInfo> {
    let Listed {
        mut containers,
        fetched,
        ..
    } = listed;
    for (id, got) in fetched {
        if !stale.contains(&id) {
            cache.insert(id, got);
        }
    }
    cache.retain(|id, _| containers.iter().any(|c| &c.id == id));
    for c in &mut containers {
        if let Some(i) = cache.get(&c.id) {
            c.restart_count = Some(i.restart_count);
            c.started_at = Some(i.started_at.clone());
        }
    }
    containers
}

/// One-shot stats for each container (no streaming connections held open).
pub(super) async fn read_stats(
    docker: &bollard::Docker,
    ids: Vec<String>,
) -> Vec<(String, StatsSample)> {
    let opts = bollard::query_parameters::StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    futures::stream::iter(ids)
        .map(|id| {
            let opts = opts.clone();
            async move {
                let first = docker.stats(&id, Some(opts)).next().await;
                let sample = first
                    .and_then(Result::ok)
                    .as_ref()
                    .and_then(StatsSample::from_response);
                sample.map(|s| (id, s))
            }
        })
        .buffer_unordered(PER_HOST_CONCURRENCY)
        .filter_map(std::future::ready)
        .collect()
        .await
}

pub(super) async fn list(
    spec: &HostSpec,
    cfg: &ActorConfig,
    docker: &bollard::Docker,
    session: Option<&crate::transport::Remote>,
) -> Result<(Vec<ContainerInfo>, Duration), String> {
    let started = Instant::now();
    let options = ListContainersOptionsBuilder::default().all(true).build();
    let summaries = tokio::time::timeout(cfg.call_timeout, docker.list_containers(Some(options)))
        .await
        .map_err(|_| {
            format!(
                "Docker API did not list containers within {}s",
                cfg.call_timeout.as_secs()
            )
        })?
        .map_err(|e| match session.and_then(|s| s.closed_reason()) {
            Some(reason) => reason,
            None => format!("Docker API: {e}"),
        })?;
    let rtt = started.elapsed();
    let mut containers: Vec<ContainerInfo> = summaries
        .into_iter()
        .map(|s| ContainerInfo::from_summary(&spec.name, s))
        .collect();
    containers.sort_by(|a, b| super::super::model::natural_cmp(&a.name, &b.name));
    Ok((containers, rtt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: id.into(),
            ..ContainerInfo::default()
        }
    }

    fn inspected(n: i64) -> Inspected {
        Inspected {
            restart_count: n,
            started_at: format!("t{n}"),
        }
    }

    #[test]
    fn a_list_fills_from_the_cache_and_drops_stale_and_gone_entries() {
        let mut cache = HashMap::from([
            ("a".to_owned(), inspected(1)),
            ("gone".to_owned(), inspected(9)),
        ]);
        let listed = Listed {
            containers: vec![info("a"), info("b"), info("c")],
            rtt: Duration::ZERO,
            // b's answer predates an event that made it stale.
            fetched: vec![("b".into(), inspected(2)), ("c".into(), inspected(3))],
        };
        let out = merge_inspected(listed, &mut cache, &["b".to_owned()]);
        let counts: Vec<Option<i64>> = out.iter().map(|c| c.restart_count).collect();
        assert_eq!(counts, vec![Some(1), None, Some(3)]);
        assert_eq!(out[2].started_at.as_deref(), Some("t3"));
        let mut keys: Vec<&String> = cache.keys().collect();
        keys.sort();
        assert_eq!(keys, ["a", "c"]);
    }
}
