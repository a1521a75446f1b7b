//! `flotilla status SERVICE`: what each host runs, locks, interrupted deploys
//! and the last deploys from the audit log.

use serde::Serialize;

use super::{AskVersion, Connected, StatusArgs, connect};
use crate::cli::{Cli, CliError, Exit, print_json, table};
use crate::fleet::ContainerInfo;
use crate::fleet::compose::{self, file::ProjectRef};
use crate::ops::AuditLog;
use crate::ops::deploy::plan::{self, Interrupted};
use crate::ops::deploy::prepare::interrupted_message;
use crate::ops::deploy::{HostProbe, Liveness, ReplicaProbe};

/// One container of the service on a host.
#[derive(Debug, Serialize)]
struct ReplicaStatus {
    container: String,
    image: Option<String>,
    state: Option<String>,
    health: Option<String>,
    previous_image: Option<String>,
    deploy_id: Option<String>,
    old_container: Option<crate::ops::deploy::ContainerSnap>,
}

impl ReplicaStatus {
    fn of(r: &ReplicaProbe) -> Self {
        let c = r.current.as_ref();
        ReplicaStatus {
            container: r.name.clone(),
            image: c.map(|c| c.image.clone()),
            state: c.map(|c| c.state.clone()),
            health: c.and_then(|c| c.health.clone()),
            previous_image: c.and_then(|c| c.previous_image.clone()),
            deploy_id: c.and_then(|c| c.deploy_id.clone()),
            old_container: r.old.clone(),
        }
    }
}

/// One host in `flotilla status`: the container-level fields are the first
/// replica's; `replicas` has every container of the service there.
#[derive(Debug, Serialize)]
struct HostStatus {
    host: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    container: Option<String>,
    image: Option<String>,
    state: Option<String>,
    health: Option<String>,
    previous_image: Option<String>,
    deploy_id: Option<String>,
    lock: Option<crate::ops::deploy::LockInfo>,
    /// Why this host is half done by an interrupted deploy.
    half_done: Option<String>,
    old_container: Option<crate::ops::deploy::ContainerSnap>,
    replicas: Vec<ReplicaStatus>,
    /// What to do about the host's last failed deploy, when flotilla knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    /// The Compose project the service's containers belong to here (null
    /// when not Compose-managed), and where they differ from its files.
    compose: Option<ComposeStatus>,
}

/// A Compose-managed service on one host.
#[derive(Debug, Serialize)]
struct ComposeStatus {
    #[serde(flatten)]
    project: ProjectRef,
    /// Which Compose answered; null when the files could not be read.
    tool: Option<compose::file::Tool>,
    drift: Vec<compose::file::Drift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Bound on asking one host's Compose about the project.
const COMPOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(4);

/// Each Compose-managed host's project and drift, hosts in parallel.
async fn compose_status(conn: &Connected, probes: &[HostProbe]) -> Vec<(String, ComposeStatus)> {
    let work = probes.iter().filter_map(|p| {
        // As the containers were: name, image and Compose's labels.
        let containers: Vec<ContainerInfo> = p
            .replicas
            .iter()
            .filter_map(|r| r.current.as_ref())
            .map(|c| ContainerInfo {
                name: c.name.clone(),
                image: c.image.clone(),
                labels: c.labels.clone(),
                ..ContainerInfo::default()
            })
            .collect();
        let project = ProjectRef::on_host(&containers).into_iter().next()?;
        let handles = conn
            .state
            .host_named(&p.host)
            .map(|(id, _)| id)
            .and_then(|id| conn.fleet.handles(id));
        let host = p.host.clone();
        Some(async move {
            let read = match handles {
                Some(h) => compose::file::judge(&h, &project, &containers, COMPOSE_WITHIN)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("the host's connection is gone".to_owned()),
            };
            let status = match read {
                Ok((file, drift)) => ComposeStatus {
                    tool: Some(file.tool),
                    drift,
                    project,
                    error: None,
                },
                Err(e) => ComposeStatus {
                    project,
                    tool: None,
                    drift: Vec::new(),
                    error: Some(e),
                },
            };
            (host, status)
        })
    });
    futures::future::join_all(work).await
}

#[derive(Debug, Serialize)]
struct ServiceStatus {
    service: String,
    selector: String,
    hosts: Vec<HostStatus>,
    interrupted: bool,
    last_deploys: Vec<crate::ops::AuditRecord>,
}

pub async fn status(cli: &Cli, a: &StatusArgs) -> Result<Exit, CliError> {
    let conn = connect(cli, &a.service, AskVersion::Always).await?;
    let result = status_connected(&conn, a).await;
    conn.fleet.shutdown().await;
    result
}

async fn status_connected(conn: &Connected, a: &StatusArgs) -> Result<Exit, CliError> {
    let service = &conn.service;
    let probes = conn.probes(None).await?;
    let interrupted = plan::interrupted(&probes);
    let mut hosts: Vec<HostStatus> = Vec::new();
    for name in &service.hosts {
        let Some(p) = probes.iter().find(|p| p.host == *name) else {
            let error = conn
                .unreachable()
                .into_iter()
                .find(|(h, _)| h == name)
                .map(|(_, e)| e);
            let mut h = HostStatus::with(name.clone(), Vec::new());
            h.reachable = false;
            h.error = error;
            hosts.push(h);
            continue;
        };
        let mut h = HostStatus::with(
            p.host.clone(),
            p.replicas.iter().map(ReplicaStatus::of).collect(),
        );
        h.lock = p.lock.clone();
        h.half_done = plan::half_done(p);
        hosts.push(h);
    }
    let audit = AuditLog::from_env();
    let records = match audit.tail(10_000) {
        Ok((records, _)) => records,
        Err(e) => {
            eprintln!("flotilla: cannot read the audit log: {e}");
            Vec::new()
        }
    };
    let mut last: Vec<crate::ops::AuditRecord> = records
        .into_iter()
        .filter(|r| {
            r.action.ends_a_host()
                && hosts
                    .iter()
                    .any(|h| h.host == r.host && h.names(&r.container))
        })
        .collect();
    for h in &mut hosts {
        let newest = last.iter().rev().find(|r| r.host == h.host);
        h.hint = newest.and_then(crate::ops::deploy::lost_sandbox_hint);
    }
    for (host, c) in compose_status(conn, &probes).await {
        if let Some(h) = hosts.iter_mut().find(|h| h.host == host) {
            h.compose = Some(c);
        }
    }
    let keep_from = last.len().saturating_sub(10);
    last.drain(..keep_from);
    let report = ServiceStatus {
        service: service.name.clone(),
        selector: service.container.to_string(),
        interrupted: !interrupted.is_empty(),
        hosts,
        last_deploys: last,
    };
    if a.json {
        print_json(&report)?;
    } else {
        print_status(&report, &interrupted);
    }
    // A host an interrupted deploy left down is a failed action, as the
    // deploy's own exit would have said.
    let down = probes.iter().any(plan::down_after_interrupt);
    Ok(match (down, conn.unreachable().is_empty()) {
        (true, _) => Exit::Failed,
        (false, true) => Exit::Ok,
        (false, false) => Exit::Unreachable,
    })
}

impl HostStatus {
    /// A reachable host whose container-level fields are its first replica's.
    fn with(host: String, replicas: Vec<ReplicaStatus>) -> Self {
        let first = replicas.first();
        HostStatus {
            host,
            reachable: true,
            error: None,
            container: first.map(|r| r.container.clone()),
            image: first.and_then(|r| r.image.clone()),
            state: first.and_then(|r| r.state.clone()),
            health: first.and_then(|r| r.health.clone()),
            previous_image: first.and_then(|r| r.previous_image.clone()),
            deploy_id: first.and_then(|r| r.deploy_id.clone()),
            lock: None,
            half_done: None,
            old_container: first.and_then(|r| r.old_container.clone()),
            replicas,
            hint: None,
            compose: None,
        }
    }

    /// Whether an audit record's container is this host's: one of its
    /// replicas, or all of them as a deploy records a host.
    fn names(&self, container: &str) -> bool {
        let all: Vec<&str> = self.replicas.iter().map(|r| r.container.as_str()).collect();
        all.contains(&container) || (!all.is_empty() && all.join(", ") == container)
    }

    /// "app:v2 ×2, app:v1 ×1" when the host's replicas run different images.
    fn drift(&self) -> Option<String> {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for r in &self.replicas {
            let image = r.image.as_deref().unwrap_or("-");
            match counts.iter_mut().find(|(i, _)| *i == image) {
                Some((_, n)) => *n += 1,
                None => counts.push((image, 1)),
            }
        }
        counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        (counts.len() > 1).then(|| {
            counts
                .iter()
                .map(|(i, n)| format!("{i} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

fn print_status(s: &ServiceStatus, interrupted: &Interrupted) {
    println!("service {} ({})", s.service, s.selector);
    let rows: Vec<Vec<String>> = s.hosts.iter().flat_map(host_rows).collect();
    print!(
        "{}",
        table::render(
            &[
                "HOST",
                "CONTAINER",
                "IMAGE",
                "STATE",
                "HEALTH",
                "PREVIOUS",
                "LOCK"
            ],
            &rows
        )
    );
    for h in &s.hosts {
        if let Some(drift) = h.drift() {
            println!("{}: replicas run different images: {drift}", h.host);
        }
    }
    if !interrupted.is_empty() {
        println!();
        println!("{}", interrupted_message(&s.service, interrupted));
    }
    for h in &s.hosts {
        if let Some(l) = &h.lock
            && l.liveness != Liveness::Dead
        {
            println!(
                "{}: locked by deploy {} since {} (image {}); `flotilla deploy {} --break-lock` \
                 removes the lock if that deploy is gone",
                h.host, l.deploy_id, l.since, l.image, s.service
            );
        }
    }
    for hint in s.hosts.iter().filter_map(|h| h.hint.as_deref()) {
        println!("{hint}");
    }
    print_compose(&s.hosts);
    if !s.last_deploys.is_empty() {
        println!();
        println!("last deploys:");
        for r in &s.last_deploys {
            println!(
                "  {}  {}  {}  {}  {}",
                r.time, r.user, r.host, r.action, r.result
            );
        }
    }
}

/// A host's rows of the status table: one per replica (the host named on
/// its first), or one saying why there is none.
fn host_rows(h: &HostStatus) -> Vec<Vec<String>> {
    let dash = || "-".to_owned();
    if !h.reachable {
        return vec![vec![
            h.host.clone(),
            "UNREACHABLE".into(),
            h.error.clone().unwrap_or_default(),
            dash(),
            dash(),
            dash(),
            dash(),
        ]];
    }
    let lock = match &h.lock {
        None => dash(),
        Some(l) => format!(
            "{} pid {}{}",
            l.holder,
            l.pid,
            match l.liveness {
                Liveness::Alive => "",
                Liveness::Dead => " (STALE: process gone)",
                Liveness::Unknown => " (other machine)",
            }
        ),
    };
    if h.replicas.is_empty() {
        let none = "(none)".to_owned();
        return vec![vec![
            h.host.clone(),
            none,
            dash(),
            dash(),
            dash(),
            dash(),
            lock,
        ]];
    }
    // One row per replica; the host is named on its first.
    h.replicas
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                if i == 0 {
                    h.host.clone()
                } else {
                    String::new()
                },
                r.container.clone(),
                r.image.clone().unwrap_or_else(dash),
                r.state.clone().unwrap_or_else(dash),
                r.health.clone().unwrap_or_else(dash),
                r.previous_image.clone().unwrap_or_else(dash),
                if i == 0 { lock.clone() } else { String::new() },
            ]
        })
        .collect()
}

/// Where each host's project lives and where it differs from its files.
fn print_compose(hosts: &[HostStatus]) {
    for h in hosts {
        let Some(c) = &h.compose else { continue };
        let files = if c.project.config_files.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.project.config_files.join(", "))
        };
        let tool = c
            .tool
            .map(|t| format!(", read with {}", t.command()))
            .unwrap_or_default();
        println!(
            "{}: compose project {} in {}{files}{tool}",
            h.host, c.project.project, c.project.working_dir
        );
        if let Some(e) = &c.error {
            println!("{}: compose files not read: {e}", h.host);
        }
        for d in &c.drift {
            println!("{}: compose drift: {} {}", h.host, d.container, d.phrase());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(name: &str, image: &str) -> ReplicaStatus {
        ReplicaStatus {
            container: name.into(),
            image: Some(image.into()),
            state: Some("running".into()),
            health: Some("healthy".into()),
            previous_image: None,
            deploy_id: None,
            old_container: None,
        }
    }

    fn host(replicas: Vec<ReplicaStatus>) -> HostStatus {
        HostStatus::with("fleet-1".into(), replicas)
    }

    #[test]
    fn replicas_on_different_images_are_reported_most_common_first() {
        let h = host(vec![
            replica("api-1", "app:v1"),
            replica("api-2", "app:v2"),
            replica("api-3", "app:v2"),
        ]);
        assert_eq!(h.drift().as_deref(), Some("app:v2 ×2, app:v1 ×1"));
        assert_eq!(host(vec![replica("api-1", "app:v1")]).drift(), None);
        // Audit records name one replica, or the host's replicas together.
        assert!(h.names("api-2") && h.names("api-1, api-2, api-3"));
        assert!(!h.names("api-4"));
    }
}
