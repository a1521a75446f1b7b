//! Rolling deploys: a pure planner ([`plan`]), host probes and locks, and an
//! async, cancellable executor ([`exec`]) that reports owned [`DeployEvent`]s
//! which the headless printer (and the TUI) render. Docker is reached through
//! the narrow [`engine::Engine`] trait: bollard in production, an in-memory
//! fake fleet (`fake`) in the executor's tests.
//!
//! Per host: lock (a created-never-started `flotilla-lock-SERVICE` container),
//! make sure the image is there (registry pull, or streamed from another
//! daemon), then for each of the service's containers there in turn (one, or
//! a scaled Compose service's replicas): set it aside as `NAME-flotilla-old`
//! and stop it, create the new one from its configuration with only
//! the image changed, wait for health, then remove the old one — or put it
//! back, and return the replicas already replaced on that host to their old
//! image, so a failed host ends as it began.

pub mod compose;
pub mod engine;
pub mod event;
#[cfg(test)]
pub mod fake;
pub mod health;
pub mod image;
pub mod kept;
pub mod lock;
pub mod order;
pub mod plan;
pub mod prepare;
pub mod probe;
pub mod reach;
pub mod run;
pub mod spec;

pub use engine::{DockerEngine, Engine, EngineRef, HostHandle};
pub use event::{DeployEvent, HostOutcome, ReplicaRef, RunOutcome, Timings};
pub use image::{Delivery, SourceRef};
pub use plan::{Intent, Job, Plan, PlannedHost, PlannedReplica};
pub use probe::{ContainerSnap, HostProbe, Liveness, LockInfo, ReplicaProbe};
pub use run::{Control, Deployment, Seen, Summary, execute};

/// Suffix of the old container while its replacement proves itself.
pub const OLD_SUFFIX: &str = "-flotilla-old";
/// Image the container ran before the deploy that created it.
pub const LABEL_PREVIOUS_IMAGE: &str = "flotilla.previous-image";
pub const LABEL_PREVIOUS_IMAGE_ID: &str = "flotilla.previous-image-id";
/// The deploy that created the container.
pub const LABEL_DEPLOY_ID: &str = "flotilla.deploy-id";
/// Marks one-off containers (pre_deploy) so selectors never match them.
pub const LABEL_ONEOFF: &str = "flotilla.oneoff";

/// Name of the container kept while the new one proves itself.
pub fn old_name(name: &str) -> String {
    format!("{name}{OLD_SUFFIX}")
}

/// Start-first: the new container's name while it proves itself beside the old.
pub const NEW_SUFFIX: &str = "-flotilla-new";

pub fn new_name(name: &str) -> String {
    format!("{name}{NEW_SUFFIX}")
}

/// A new deploy id: UTC time plus pid, sortable and unique per machine.
pub fn new_deploy_id() -> String {
    format!(
        "{}-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
        std::process::id()
    )
}

/// Docker 20.10's error for a running container whose network sandbox it
/// lost (a rename that overlapped its stop): it cannot be renamed until it
/// is stopped or restarted.
pub fn lost_sandbox(error: &str) -> bool {
    error.contains("sandbox") && error.contains("not found")
}

/// What `status` says of a host whose last deploy failed on a lost sandbox.
pub fn lost_sandbox_hint(last: &crate::ops::AuditRecord) -> Option<String> {
    lost_sandbox(&last.result).then(|| {
        format!(
            "{}: the last deploy failed because Docker lost {}'s network sandbox (a rename \
             during a stop, Docker 20.10); deploying again stops it before the rename, or \
             `docker restart` it",
            last.host, last.container
        )
    })
}

/// Why a step on a host failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{host}: {what}: {source}")]
    Docker {
        host: String,
        what: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{host}: {what} timed out after {}s", .after.as_secs())]
    Timeout {
        host: String,
        what: String,
        after: std::time::Duration,
    },
    #[error("{host}: {message}")]
    Host { host: String, message: String },
    #[error("cancelled")]
    Cancelled,
}

impl DeployError {
    pub fn host(host: &str, message: impl Into<String>) -> Self {
        DeployError::Host {
            host: host.to_owned(),
            message: message.into(),
        }
    }

    /// The request never got an answer from Docker (the connection or the
    /// daemon is gone): whether the step happened is unknown.
    pub fn unreachable(&self) -> bool {
        use bollard::errors::Error as E;
        matches!(
            self,
            DeployError::Docker {
                source: E::HyperLegacyError { .. }
                    | E::HyperResponseError { .. }
                    | E::HttpClientError { .. }
                    | E::IOError { .. }
                    | E::RequestTimeoutError
                    | E::SocketNotFoundError(_),
                ..
            }
        )
    }
}

/// Adds host and step context to bollard results.
pub(crate) trait DockerContext<T> {
    fn ctx(self, host: &str, what: impl Into<String>) -> Result<T, DeployError>;
}

impl<T> DockerContext<T> for Result<T, bollard::errors::Error> {
    fn ctx(self, host: &str, what: impl Into<String>) -> Result<T, DeployError> {
        self.map_err(|source| DeployError::Docker {
            host: host.to_owned(),
            what: what.into(),
            source,
        })
    }
}

/// The Docker API status of a failed call, if the daemon answered.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// `Ok(None)` for a 404, so "absent" is not an error.
pub(crate) fn absent_ok<T>(
    r: Result<T, bollard::errors::Error>,
) -> Result<Option<T>, bollard::errors::Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lost_sandbox_is_told_from_the_audit_record() {
        let mut r = crate::ops::AuditRecord {
            time: "2026-11-25T20:00:00Z".parse().expect("time"),
            user: "u".into(),
            host: "fleet-1".into(),
            container: "web".into(),
            action: "deploy:rolled_back a -> b [d]".into(),
            result: "fleet-1: rename web to web-flotilla-old: Docker responded with status \
                     code 404: sandbox 5c2e not found"
                .into(),
            logs: None,
        };
        let hint = super::lost_sandbox_hint(&r).expect("a hint");
        assert!(hint.starts_with("fleet-1: ") && hint.contains("web's network sandbox"));
        r.result = "fleet-1: unhealthy: GET /health 503".into();
        assert_eq!(super::lost_sandbox_hint(&r), None);
    }
}
