//! `flotilla status SERVICE`: what each host runs, locks, interrupted deploys
//! and the last deploys from the audit log.

use serde::Serialize;

use super::{Connected, StatusArgs, connect};
use crate::cli::{Cli, CliError, Exit, print_json, table};
use crate::ops::AuditLog;
use crate::ops::deploy::Liveness;
use crate::ops::deploy::plan::{self, Interrupted};
use crate::ops::deploy::prepare::interrupted_message;

/// One host in `flotilla status`.
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
    let conn = connect(cli, &a.service).await?;
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
            hosts.push(HostStatus {
                host: name.clone(),
                reachable: false,
                error,
                container: None,
                image: None,
                state: None,
                health: None,
                previous_image: None,
                deploy_id: None,
                lock: None,
                half_done: None,
                old_container: None,
            });
            continue;
        };
        let c = p.current.as_ref();
        hosts.push(HostStatus {
            host: p.host.clone(),
            reachable: true,
            error: None,
            container: p.container.clone(),
            image: c.map(|c| c.image.clone()),
            state: c.map(|c| c.state.clone()),
            health: c.and_then(|c| c.health.clone()),
            previous_image: c.and_then(|c| c.previous_image.clone()),
            deploy_id: c.and_then(|c| c.deploy_id.clone()),
            lock: p.lock.clone(),
            half_done: plan::half_done(p),
            old_container: p.old.clone(),
        });
    }
    let audit = AuditLog::from_env();
    let (records, _) = audit.tail(10_000).unwrap_or_default();
    let mut last: Vec<crate::ops::AuditRecord> = records
        .into_iter()
        .filter(|r| {
            crate::ops::deploy::is_final_record(&r.action)
                && hosts.iter().any(|h| {
                    h.host == r.host && h.container.as_deref() == Some(r.container.as_str())
                })
        })
        .collect();
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
    Ok(if conn.unreachable().is_empty() {
        Exit::Ok
    } else {
        Exit::Unreachable
    })
}

fn print_status(s: &ServiceStatus, interrupted: &Interrupted) {
    println!("service {} ({})", s.service, s.selector);
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = s
        .hosts
        .iter()
        .map(|h| {
            if !h.reachable {
                return vec![
                    h.host.clone(),
                    "UNREACHABLE".into(),
                    h.error.clone().unwrap_or_default(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                ];
            }
            vec![
                h.host.clone(),
                h.container.clone().unwrap_or_else(|| "(none)".into()),
                h.image.clone().unwrap_or_else(dash),
                h.state.clone().unwrap_or_else(dash),
                h.health.clone().unwrap_or_else(dash),
                h.previous_image.clone().unwrap_or_else(dash),
                match &h.lock {
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
                },
            ]
        })
        .collect();
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
