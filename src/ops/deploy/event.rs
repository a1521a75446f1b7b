//! What a running deploy reports: owned values on a channel, rendered by the
//! headless printer (text or JSON lines) and by the TUI alike.

use serde::Serialize;

use super::plan::Plan;
use super::probe::LockInfo;

/// Milliseconds spent per phase on one host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Pull or transfer (0 when the image was already there).
    pub image_ms: u64,
    /// Stop, rename, create and start.
    pub start_ms: u64,
    /// Waiting for the new container to be healthy.
    pub health_ms: u64,
    /// Everything on this host, cleanup included.
    pub total_ms: u64,
}

/// How one host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostOutcome {
    /// Runs the new image, healthy; the old container is gone.
    Deployed,
    /// Already ran the image.
    UpToDate,
    /// The image never reached the host; nothing was changed.
    Unchanged,
    /// The new container failed; the old one runs again and is healthy.
    RolledBack,
    /// A half-done host got its old container back (recovery).
    Restored,
    /// Something failed and the host could not be confirmed healthy.
    Failed,
    /// Not reached: the rollout stopped first.
    Skipped,
}

impl HostOutcome {
    /// Counts against `max_fail`.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            HostOutcome::RolledBack | HostOutcome::Failed | HostOutcome::Unchanged
        )
    }
}

/// How the whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every planned host succeeded.
    Succeeded,
    /// Some host failed; the rollout stopped (or finished) with failures.
    Failed,
    /// Stopped on request; the in-flight hosts were rolled back.
    Aborted,
    /// Nothing was changed: a lock was held, the image was missing, pre_deploy failed…
    NotStarted,
}

/// A step on one host, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    ImagePresent,
    Pulling,
    Transferring,
    Tagging,
    Stopping,
    Renaming,
    Creating,
    Starting,
    WaitingForHealth,
    Healthy,
    RemovingOld,
    RollingBack,
    Restoring,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::ImagePresent => "image present",
            Step::Pulling => "pulling",
            Step::Transferring => "transferring image",
            Step::Tagging => "tagging image",
            Step::Stopping => "stopping old container",
            Step::Renaming => "renaming old container",
            Step::Creating => "creating new container",
            Step::Starting => "starting new container",
            Step::WaitingForHealth => "waiting for health",
            Step::Healthy => "healthy",
            Step::RemovingOld => "removing old container",
            Step::RollingBack => "rolling back",
            Step::Restoring => "restoring old container",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DeployEvent {
    /// First event: what will happen.
    Plan {
        deploy_id: String,
        service: String,
        plan: Plan,
    },
    /// Where the image comes from (per image reference).
    ImageSource {
        image: String,
        source: String,
    },
    Locked {
        host: String,
    },
    /// Another deploy holds the lock: nothing was changed.
    LockHeld {
        host: String,
        lock: LockInfo,
    },
    Warning {
        message: String,
    },
    PreDeploy {
        host: String,
        command: String,
    },
    PreDeployDone {
        host: String,
        exit_code: i64,
        /// Last lines of its output.
        output: String,
    },
    BatchStarted {
        index: usize,
        hosts: Vec<String>,
    },
    Step {
        host: String,
        step: Step,
        #[serde(skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// Bytes pulled or transferred so far.
    Progress {
        host: String,
        bytes: u64,
        total: Option<u64>,
    },
    /// Once a second while waiting for health.
    HealthWait {
        host: String,
        status: String,
        remaining_s: u64,
    },
    HostDone {
        host: String,
        container: String,
        outcome: HostOutcome,
        /// The image it runs now.
        image: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        timings: Timings,
    },
    /// The rollout stops before these hosts.
    Stopped {
        reason: String,
        untouched: Vec<String>,
    },
    Paused,
    Resumed,
    Finished {
        outcome: RunOutcome,
        deployed: usize,
        failed: usize,
        skipped: usize,
        elapsed_ms: u64,
        /// Why nothing started, when `outcome` is `not_started`.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}
