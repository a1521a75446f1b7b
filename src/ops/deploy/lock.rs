//! The per-host deploy lock: a created-never-started container named
//! `flotilla-lock-SERVICE`. Creating it is atomic (a name conflict means
//! someone holds it); its labels say who, since when, and for which deploy.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig};
use serde::Serialize;

use super::engine::{Engine, inspect_opt, remove_container};
use super::{DeployError, DockerContext, status_of};

/// Whether a lock's holding process still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    Alive,
    Dead,
    /// Held from another machine: cannot be checked from here.
    Unknown,
}

/// A deploy lock found on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    pub service: String,
    /// user@hostname of the holder.
    pub holder: String,
    pub pid: u32,
    /// RFC 3339.
    pub since: String,
    pub deploy_id: String,
    /// The image that deploy rolls out.
    pub image: String,
    pub liveness: Liveness,
}

/// Present on every lock container (value: the service).
pub const LABEL: &str = crate::fleet::DEPLOY_LOCK_LABEL;
const HOLDER: &str = "flotilla.lock.holder";
const PID: &str = "flotilla.lock.pid";
const SINCE: &str = "flotilla.lock.since";
const DEPLOY_ID: &str = "flotilla.lock.deploy-id";
const IMAGE: &str = "flotilla.lock.image";

pub fn lock_name(service: &str) -> String {
    format!("flotilla-lock-{service}")
}

/// Who takes a lock: this process, for one deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    pub service: String,
    pub deploy_id: String,
    /// user@hostname.
    pub holder: String,
    pub pid: u32,
    /// The image being rolled out (lets `--resume` find it).
    pub image: String,
}

impl LockRequest {
    /// A request held by this process.
    pub fn here(service: &str, deploy_id: &str, image: &str) -> Self {
        LockRequest {
            service: service.to_owned(),
            deploy_id: deploy_id.to_owned(),
            // The same user name the audit log records.
            holder: format!("{}@{}", crate::ops::audit::local_user(), local_hostname()),
            pid: std::process::id(),
            image: image.to_owned(),
        }
    }

    fn labels(&self, since: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL.to_owned(), self.service.clone()),
            (HOLDER.to_owned(), self.holder.clone()),
            (PID.to_owned(), self.pid.to_string()),
            (SINCE.to_owned(), since.to_owned()),
            (DEPLOY_ID.to_owned(), self.deploy_id.clone()),
            (IMAGE.to_owned(), self.image.clone()),
        ])
    }
}

/// This machine's name (portable: the same on Linux and macOS).
pub fn local_hostname() -> String {
    whoami::hostname()
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Whether `pid` is a running flotilla on this machine (a reused pid of
/// another program does not count). Asked portably: a signal-0 probe, then
/// the program's name from POSIX `ps`; when `ps` cannot say, the holder is
/// taken to be alive (a lock is never taken over on a guess).
fn flotilla_alive(pid: u32) -> bool {
    use rustix::process::{Pid, test_kill_process};
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    match test_kill_process(p) {
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(_) => return false,
    }
    let asked = std::process::Command::new("ps")
        .args(["-o", "comm=", "-p", &pid.to_string()])
        .output();
    match asked {
        // Linux gives the name, macOS the path.
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .trim()
            .rsplit('/')
            .next()
            .is_some_and(|name| name.starts_with("flotilla")),
        Ok(_) => false,
        Err(_) => true,
    }
}

/// Decodes a lock's labels; liveness is checked only for holders on this machine.
pub fn from_labels(
    labels: &HashMap<String, String>,
    here: &str,
    alive: impl Fn(u32) -> bool,
) -> Option<LockInfo> {
    let service = labels.get(LABEL)?.clone();
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let holder = get(HOLDER);
    let pid: u32 = get(PID).parse().unwrap_or(0);
    let on_this_machine = holder.rsplit_once('@').is_some_and(|(_, h)| h == here);
    let liveness = match (on_this_machine, pid) {
        (false, _) => Liveness::Unknown,
        (true, 0) => Liveness::Dead,
        (true, pid) if alive(pid) => Liveness::Alive,
        (true, _) => Liveness::Dead,
    };
    Some(LockInfo {
        service,
        holder,
        pid,
        since: get(SINCE),
        deploy_id: get(DEPLOY_ID),
        image: get(IMAGE),
        liveness,
    })
}

/// The service's lock on this host, if any.
pub async fn read(
    engine: &dyn Engine,
    host: &str,
    service: &str,
) -> Result<Option<LockInfo>, DeployError> {
    let name = lock_name(service);
    let found = inspect_opt(engine, host, &name).await?;
    let Some(c) = found else {
        return Ok(None);
    };
    let labels = c.config.and_then(|cfg| cfg.labels).unwrap_or_default();
    Ok(
        from_labels(&labels, &local_hostname(), flotilla_alive).or_else(|| {
            // A container with that name but no lock labels still blocks creation.
            Some(LockInfo {
                service: service.to_owned(),
                holder: "unknown (not a flotilla lock)".into(),
                pid: 0,
                since: String::new(),
                deploy_id: String::new(),
                image: String::new(),
                liveness: Liveness::Unknown,
            })
        }),
    )
}

/// Result of trying to take a lock.
#[derive(Debug)]
pub enum Acquire {
    /// The lock container's id.
    Taken(String),
    Held(LockInfo),
}

/// Takes the lock atomically. An existing lock is replaced only when
/// `may_replace` says so (a dead deploy being resumed, or `--break-lock`).
/// `image` must exist on the host (the service's current image id).
pub async fn acquire(
    engine: &dyn Engine,
    host: &str,
    req: &LockRequest,
    image: &str,
    may_replace: impl Fn(&LockInfo) -> bool,
) -> Result<Acquire, DeployError> {
    let name = lock_name(&req.service);
    for _ in 0..2 {
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            // Never started; a command keeps create from needing the image's CMD.
            cmd: Some(vec!["flotilla-lock".to_owned()]),
            labels: Some(req.labels(&jiff::Timestamp::now().to_string())),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        match engine.create(&name, body).await {
            Ok(id) => return Ok(Acquire::Taken(id)),
            Err(e) if status_of(&e) == Some(409) => {
                let Some(held) = read(engine, host, &req.service).await? else {
                    continue; // released meanwhile: try again
                };
                if !may_replace(&held) {
                    return Ok(Acquire::Held(held));
                }
                remove_container(engine, host, &name).await?;
            }
            Err(e) => return Err(e).ctx(host, format!("create lock {name}")),
        }
    }
    match read(engine, host, &req.service).await? {
        Some(held) => Ok(Acquire::Held(held)),
        None => Err(DeployError::host(
            host,
            format!("could not take lock {name}"),
        )),
    }
}

/// Removes the lock this run created (by its id: a lock broken and taken
/// by someone else since has another id and stays).
pub async fn release_taken(engine: &dyn Engine, host: &str, id: &str) -> Result<(), DeployError> {
    remove_container(engine, host, id).await
}

/// Removes the lock whoever holds it (`--break-lock`).
pub async fn break_lock(engine: &dyn Engine, host: &str, service: &str) -> Result<(), DeployError> {
    remove_container(engine, host, &lock_name(service)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(holder: &str, pid: &str) -> HashMap<String, String> {
        let req = LockRequest {
            service: "web".into(),
            deploy_id: "d1".into(),
            holder: holder.into(),
            pid: 0,
            image: "app:v2".into(),
        };
        let mut l = req.labels("2026-01-01T00:00:00Z");
        l.insert(PID.into(), pid.into());
        l
    }

    #[test]
    fn labels_round_trip_with_liveness() {
        let alive = |pid: u32| pid == 7;
        let lock = from_labels(&labels("ann@box", "7"), "box", alive).expect("lock");
        assert_eq!(lock.holder, "ann@box");
        assert_eq!(lock.deploy_id, "d1");
        assert_eq!(lock.image, "app:v2");
        assert_eq!(lock.since, "2026-01-01T00:00:00Z");
        assert_eq!(lock.liveness, Liveness::Alive);
        let dead = from_labels(&labels("ann@box", "8"), "box", alive).expect("lock");
        assert_eq!(dead.liveness, Liveness::Dead);
        let remote = from_labels(&labels("ann@laptop", "8"), "box", alive).expect("lock");
        assert_eq!(remote.liveness, Liveness::Unknown);
        assert_eq!(from_labels(&HashMap::new(), "box", alive), None);
    }

    #[test]
    fn liveness_needs_a_running_flotilla() {
        assert!(!flotilla_alive(u32::MAX));
        // The test binary itself is named flotilla-<hash>.
        assert!(flotilla_alive(std::process::id()));
        // A live process that is not flotilla: a reused pid.
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        assert!(!flotilla_alive(sleeper.id()));
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
}
