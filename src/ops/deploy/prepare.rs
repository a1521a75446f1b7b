//! Everything between "the user asked for a deploy" and `execute`: probe the
//! hosts, decide the mode, check locks and interrupted deploys, plan. Shared
//! by the headless CLI and the TUI; prints nothing and knows no CLI types.

use std::collections::BTreeSet;

use super::plan::{self, Interrupted};
use super::{
    Delivery, DeployError, Deployment, HostHandle, HostProbe, Intent, Liveness, LockInfo, Seen,
    SourceRef, probe, status_of,
};
use crate::config::{Amount, ServiceSpec};
use crate::ops::AuditLog;

pub use crate::ops::audit::Mode;

/// The user's request, after parsing.
#[derive(Debug, Clone)]
pub struct Request {
    pub mode: Mode,
    /// Normalized image reference.
    pub image: Option<String>,
    pub serial: Option<Vec<Amount>>,
    pub max_fail: Option<Amount>,
    pub delivery: Delivery,
    pub break_lock: bool,
}

/// Why nothing can be prepared; the CLI maps these to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Unreachable,
    Usage,
    NotFound,
    Refused,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PrepareError {
    pub kind: Failure,
    pub message: String,
}

fn fail(kind: Failure, message: impl Into<String>) -> PrepareError {
    PrepareError {
        kind,
        message: message.into(),
    }
}

/// A deploy ready to run (or to show as a dry run).
pub struct Ready {
    /// `local` is unset: only the CLI decides whether to use the local daemon.
    pub deployment: Deployment,
    /// The mode after looking at the hosts (a rollback may become a recovery).
    pub mode: Mode,
    /// The image rolled out, when the mode has one.
    pub image: Option<String>,
    /// A real run would be refused (lock held, interrupted deploy).
    pub refusal: Option<PrepareError>,
}

pub enum Prepared {
    Ready(Box<Ready>),
    /// Resume/recover with nothing interrupted: the message says so.
    NothingToDo(String),
}

/// Why the probes give no picture of the service.
#[derive(Debug, PartialEq, Eq)]
enum ProbeFailure {
    /// "HOST (why)" for each daemon that did not answer at all (its session
    /// is up, the daemon is not): unreachable, as if the connection had failed.
    Silent(Vec<String>),
    /// A daemon answered with an error.
    Failed(String),
}

/// Every probe's answer, or why not (an error answer before silence).
fn probed(answers: Vec<Result<HostProbe, DeployError>>) -> Result<Vec<HostProbe>, ProbeFailure> {
    let mut probes = Vec::with_capacity(answers.len());
    let mut silent = Vec::new();
    let mut failed = None;
    for answer in answers {
        match answer {
            Ok(p) => probes.push(p),
            Err(DeployError::Docker { host, source, .. }) if status_of(&source).is_none() => {
                silent.push(format!("{host} (Docker API: {source})"));
            }
            Err(DeployError::Timeout { host, what, after }) => {
                silent.push(format!(
                    "{host} ({what} timed out after {}s)",
                    after.as_secs()
                ));
            }
            Err(e) => {
                failed.get_or_insert_with(|| e.to_string());
            }
        }
    }
    match (failed, silent.is_empty()) {
        (Some(e), _) => Err(ProbeFailure::Failed(e)),
        (None, false) => Err(ProbeFailure::Silent(silent)),
        (None, true) => Ok(probes),
    }
}

/// `hosts`: "NAME (why)" each.
fn unreachable_error(service: &ServiceSpec, req: &Request, hosts: &[String]) -> PrepareError {
    fail(
        Failure::Unreachable,
        format!(
            "cannot {} {}: unreachable: {}; nothing was changed",
            req.mode.kind(),
            service.name,
            hosts.join(", ")
        ),
    )
}

/// Probes the reachable `hosts`, decides and plans. `unreachable` lists the
/// service's hosts that did not answer, with why: any of them refuses.
pub async fn prepare(
    service: &ServiceSpec,
    hosts: Vec<HostHandle>,
    unreachable: &[(String, String)],
    req: &Request,
) -> Result<Prepared, PrepareError> {
    check_request(service, &hosts, unreachable, req)?;
    let probes = probe_all(service, &hosts, req).await?;
    let interrupted = interrupted_unless_broken(req, &probes);
    let Some(mode) = decide_mode(req, &interrupted) else {
        return Ok(Prepared::NothingToDo(format!(
            "no interrupted deploy of {}: nothing to do",
            service.name
        )));
    };
    let takeover: BTreeSet<String> = if matches!(mode, Mode::Resume | Mode::Recover) {
        interrupted.deploy_ids.clone()
    } else {
        BTreeSet::new()
    };
    let refusal = refusal_for(service, req, mode, &probes, &interrupted, &takeover);
    let image = image_for(mode, req, &probes);
    let intent = intent_for(mode, image.as_deref())?;
    let the_plan = plan_hosts(service, req, &probes, &intent, &interrupted)?;
    Ok(Prepared::Ready(Box::new(Ready {
        deployment: Deployment {
            id: deploy_id(mode, &interrupted),
            kind: mode,
            service: service.clone(),
            plan: the_plan,
            hosts,
            local: None,
            delivery: req.delivery.clone(),
            takeover,
            break_lock: req.break_lock,
            pre_deploy: mode == Mode::Deploy && service.pre_deploy.is_some(),
            audit: Some(AuditLog::from_env()),
            lock_images: lock_images(&probes),
            seen: seen(req, &probes),
        },
        mode,
        image,
        refusal,
    })))
}

/// The interrupted deploys; locks we are about to break do not make a
/// deploy interrupted.
fn interrupted_unless_broken(req: &Request, probes: &[HostProbe]) -> Interrupted {
    if !req.break_lock {
        return plan::interrupted(probes);
    }
    let stripped: Vec<HostProbe> = probes
        .iter()
        .cloned()
        .map(|mut p| {
            p.lock = None;
            p
        })
        .collect();
    plan::interrupted(&stripped)
}

/// The image rolled out: a resume without `--image` finishes the one the
/// interrupted deploy was rolling out.
fn image_for(mode: Mode, req: &Request, probes: &[HostProbe]) -> Option<String> {
    match mode {
        Mode::Deploy => req.image.clone(),
        Mode::Resume => req.image.clone().or_else(|| plan::resume_image(probes)),
        Mode::Recover | Mode::Rollback => None,
    }
}

/// Each host's job and order, in batches.
fn plan_hosts(
    service: &ServiceSpec,
    req: &Request,
    probes: &[HostProbe],
    intent: &Intent,
    interrupted: &Interrupted,
) -> Result<plan::Plan, PrepareError> {
    let selector = service.container.to_string();
    let mut candidates = plan::candidates(probes, intent, &interrupted.deploy_ids, &selector)
        .map_err(|e| match e {
            plan::PlanError::ContainerMissing { .. } | plan::PlanError::NothingToRollBack => {
                fail(Failure::NotFound, format!("{}: {e}", service.name))
            }
            plan::PlanError::Compose { .. } => {
                fail(Failure::Refused, format!("{}: {e}", service.name))
            }
        })?;
    for h in &mut candidates {
        h.order = order_of(service, h, probes);
    }
    let serial = req.serial.clone().unwrap_or_else(|| service.serial.clone());
    Ok(plan::plan(
        candidates,
        &serial,
        req.max_fail.unwrap_or(service.max_fail),
    ))
}

/// A resume of one interrupted deploy keeps its id for the whole rollout,
/// so a later --rollback finds every host.
fn deploy_id(mode: Mode, interrupted: &Interrupted) -> String {
    match (mode, interrupted.deploy_ids.len()) {
        (Mode::Resume, 1) => interrupted
            .deploy_ids
            .first()
            .cloned()
            .unwrap_or_else(super::new_deploy_id),
        _ => super::new_deploy_id(),
    }
}

/// Refusals that need no host: an unreachable host, `--from` elsewhere.
fn check_request(
    service: &ServiceSpec,
    hosts: &[HostHandle],
    unreachable: &[(String, String)],
    req: &Request,
) -> Result<(), PrepareError> {
    if !unreachable.is_empty() {
        let list: Vec<String> = unreachable
            .iter()
            .map(|(h, why)| format!("{h} ({why})"))
            .collect();
        return Err(unreachable_error(service, req, &list));
    }
    if let Delivery::Stream {
        from: Some(SourceRef::Host(h)),
    } = &req.delivery
        && !hosts.iter().any(|x| x.name == *h)
    {
        return Err(fail(
            Failure::Usage,
            format!(
                "--from {h}: not a host of service {} (or `local`)",
                service.name
            ),
        ));
    }
    Ok(())
}

/// Every host's state for the service, all at once.
async fn probe_all(
    service: &ServiceSpec,
    hosts: &[HostHandle],
    req: &Request,
) -> Result<Vec<HostProbe>, PrepareError> {
    let answers = futures::future::join_all(
        hosts
            .iter()
            .map(|h| probe::probe_host(&h.name, h.engine.as_ref(), service, req.image.as_deref())),
    )
    .await;
    probed(answers).map_err(|e| match e {
        ProbeFailure::Silent(hosts) => unreachable_error(service, req, &hosts),
        ProbeFailure::Failed(message) => fail(Failure::Failed, message),
    })
}

/// What to do, given what the hosts look like; `None`: nothing (a resume
/// or recover with no interrupted deploy).
fn decide_mode(req: &Request, interrupted: &plan::Interrupted) -> Option<Mode> {
    let mut mode = req.mode;
    if mode == Mode::Rollback && !interrupted.is_empty() {
        mode = Mode::Recover;
    }
    if matches!(mode, Mode::Resume | Mode::Recover) && interrupted.is_empty() {
        if mode == Mode::Resume && req.image.is_some() {
            mode = Mode::Deploy;
        } else {
            return None;
        }
    }
    Some(mode)
}

/// A live deploy first; then an interrupted one (which says how to
/// recover); then a dead deploy's lock.
fn refusal_for(
    service: &ServiceSpec,
    req: &Request,
    mode: Mode,
    probes: &[HostProbe],
    interrupted: &plan::Interrupted,
    takeover: &BTreeSet<String>,
) -> Option<PrepareError> {
    let blocking = if req.break_lock {
        Vec::new()
    } else {
        plan::blocking_locks(probes, takeover)
    };
    if let Some((host, lock)) = blocking.iter().find(|(_, l)| l.liveness != Liveness::Dead) {
        Some(lock_refusal(&service.name, host, lock))
    } else if mode == Mode::Deploy && !interrupted.is_empty() {
        Some(fail(
            Failure::Refused,
            interrupted_message(&service.name, interrupted),
        ))
    } else {
        blocking
            .first()
            .map(|(host, lock)| lock_refusal(&service.name, host, lock))
    }
}

fn intent_for(mode: Mode, image: Option<&str>) -> Result<Intent, PrepareError> {
    Ok(match (mode, image) {
        (Mode::Deploy, Some(image)) => Intent::Deploy {
            image: image.to_owned(),
        },
        (Mode::Resume, Some(image)) => Intent::Resume {
            image: image.to_owned(),
        },
        (Mode::Resume, None) => {
            return Err(fail(
                Failure::Usage,
                "cannot tell which image the interrupted deploy was rolling out: pass --image",
            ));
        }
        (Mode::Recover, _) => Intent::Recover,
        _ => Intent::Rollback,
    })
}

/// A host's order and why, from its containers as probed (the run decides
/// the same from them as they are then).
fn order_of(service: &ServiceSpec, h: &plan::PlannedHost, probes: &[HostProbe]) -> Option<String> {
    let current = || {
        probes
            .iter()
            .filter(|p| p.host == h.host)
            .flat_map(|p| p.replicas.iter().filter_map(|r| r.current.as_ref()))
    };
    let images: Vec<&str> = current().map(|c| c.image.as_str()).collect();
    match (&h.compose, current().next()) {
        (Some(_), _) if super::order::beside_half_done(&images, &h.to) => Some(format!(
            "through Compose, {}",
            super::order::BESIDE_HALF_DONE
        )),
        (Some(_), Some(c)) => Some(format!(
            "through Compose, {}",
            super::order::decide(service.order, &c.exposure).1
        )),
        (Some(_), None) => Some("through Compose".to_owned()),
        (None, Some(c)) => Some(super::order::decide(service.order, &c.exposure).1),
        (None, None) => None,
    }
}

/// Host → an image id the service uses there: the lock container is created
/// from it without another round trip.
fn lock_images(probes: &[HostProbe]) -> std::collections::HashMap<String, String> {
    probes
        .iter()
        .filter_map(|p| {
            let image = p
                .replicas
                .iter()
                .flat_map(|r| [&r.current, &r.old])
                .flatten()
                .map(|c| c.image_id.clone())
                .find(|id| !id.is_empty())?;
            Some((p.host.clone(), image))
        })
        .collect()
}

/// What the probes saw of the image being deployed.
fn seen(req: &Request, probes: &[HostProbe]) -> Seen {
    match &req.image {
        Some(target) => Seen {
            image: target.clone(),
            on: probes
                .iter()
                .map(|p| (p.host.clone(), p.target_id.clone()))
                .collect(),
        },
        None => Seen::default(),
    }
}

fn lock_refusal(service: &str, host: &str, lock: &LockInfo) -> PrepareError {
    let state = match lock.liveness {
        Liveness::Alive => "running",
        Liveness::Dead => "its process is gone",
        Liveness::Unknown => "on another machine",
    };
    fail(
        Failure::Refused,
        format!(
            "{service} is locked on {host} by {} (pid {}, deploy {}, since {}; {state}); \
             `flotilla status {service}` shows the locks, --break-lock removes them",
            lock.holder, lock.pid, lock.deploy_id, lock.since
        ),
    )
}

pub fn interrupted_message(service: &str, found: &Interrupted) -> String {
    let hosts: Vec<String> = found
        .hosts
        .iter()
        .map(|(h, why)| format!("{h}: {why}"))
        .collect();
    let ids: Vec<&str> = found.deploy_ids.iter().map(String::as_str).collect();
    format!(
        "a deploy of {service} was interrupted ({}): {}. Run `flotilla deploy {service} --resume` \
         to finish it or `flotilla deploy {service} --rollback` to undo it",
        if ids.is_empty() {
            "deploy id unknown".to_owned()
        } else {
            format!("deploy {}", ids.join(", "))
        },
        hosts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(host: &str, source: bollard::errors::Error) -> Result<HostProbe, DeployError> {
        Err(DeployError::Docker {
            host: host.into(),
            what: "inspect".into(),
            source,
        })
    }

    fn answered(code: u16) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: code,
            message: "boom".into(),
        }
    }

    #[test]
    fn a_daemon_that_does_not_answer_is_unreachable_and_an_error_answer_fails() {
        let silent = || docker("b", bollard::errors::Error::RequestTimeoutError);
        let late = Err(DeployError::Timeout {
            host: "c".into(),
            what: "inspect".into(),
            after: std::time::Duration::from_secs(20),
        });
        match probed(vec![silent(), late]) {
            Err(ProbeFailure::Silent(hosts)) => {
                assert_eq!(hosts.len(), 2, "{hosts:?}");
                assert!(hosts[0].starts_with("b (Docker API: "), "{hosts:?}");
                assert_eq!(hosts[1], "c (inspect timed out after 20s)");
            }
            other => panic!("{other:?}"),
        }
        // The daemon answered: not a reachability problem, whatever else.
        match probed(vec![silent(), docker("a", answered(500))]) {
            Err(ProbeFailure::Failed(m)) => assert!(m.starts_with("a: inspect: "), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(probed(Vec::new()), Ok(Vec::new()));
    }
}
