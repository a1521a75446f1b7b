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
    /// How long the service had no healthy container here: 0 start-first,
    /// from the old one's stop to the new one's health stop-first; null
    /// where nothing was replaced.
    pub down_ms: Option<u64>,
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
    /// The connection to the host was lost mid-deploy: its state is unknown.
    Unreachable,
    /// Not reached: the rollout stopped first.
    Skipped,
}

impl HostOutcome {
    /// Short form for a status column.
    pub fn label(self) -> &'static str {
        match self {
            HostOutcome::Deployed => "done",
            HostOutcome::UpToDate => "already up to date",
            HostOutcome::Unchanged => "failed before any change",
            HostOutcome::RolledBack => "rolled back (old container healthy)",
            HostOutcome::Restored => "restored",
            HostOutcome::Failed => "FAILED",
            HostOutcome::Unreachable => "UNREACHABLE",
            HostOutcome::Skipped => "skipped",
        }
    }

    /// What the host runs now, in words.
    pub fn describe(self, image: &str) -> String {
        match self {
            HostOutcome::Deployed => format!("deployed {image}"),
            HostOutcome::UpToDate => format!("already on {image}"),
            HostOutcome::Unchanged => format!("FAILED before any change, still {image}"),
            HostOutcome::RolledBack => format!("FAILED, rolled back to {image} (healthy)"),
            HostOutcome::Restored => format!("restored {image} (healthy)"),
            HostOutcome::Failed => "FAILED, state unknown".to_owned(),
            HostOutcome::Unreachable => "FAILED, connection lost, state unknown".to_owned(),
            HostOutcome::Skipped => "skipped".to_owned(),
        }
    }

    /// Counts against `max_fail`.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            HostOutcome::RolledBack
                | HostOutcome::Failed
                | HostOutcome::Unchanged
                | HostOutcome::Unreachable
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

impl RunOutcome {
    /// One word for a summary line.
    pub fn word(self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "done",
            RunOutcome::Failed => "FAILED",
            RunOutcome::Aborted => "aborted",
            RunOutcome::NotStarted => "not started",
        }
    }

    /// Longer form for a status line.
    pub fn label(self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "FAILED",
            RunOutcome::Aborted => "aborted (in-flight hosts rolled back)",
            RunOutcome::NotStarted => "not started, nothing changed",
        }
    }
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

/// Which replica a step is about, on a host that runs several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaRef {
    pub container: String,
    /// From 1, in the order the host handles its replicas.
    pub index: usize,
    pub total: usize,
}

impl std::fmt::Display for ReplicaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}/{})", self.container, self.index, self.total)
    }
}

/// `host` or `host replica (i/n)`: where a step happens.
fn at(host: &str, replica: &Option<ReplicaRef>) -> String {
    match replica {
        Some(r) => format!("{host} {r}"),
        None => host.to_owned(),
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
        #[serde(skip_serializing_if = "Option::is_none")]
        replica: Option<ReplicaRef>,
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
        #[serde(skip_serializing_if = "Option::is_none")]
        replica: Option<ReplicaRef>,
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

impl DeployEvent {
    /// The one wording of this event that every front end shows, one line
    /// per entry (`None` for events shown only as state: the plan, a lock
    /// taken). Progress and health waits are meant to be overwritten.
    pub fn describe(&self) -> Option<String> {
        Some(match self {
            DeployEvent::Plan { .. } | DeployEvent::Locked { .. } => return None,
            DeployEvent::ImageSource { image, source } => {
                format!("image {image}: streamed from {source} where missing")
            }
            DeployEvent::LockHeld { host, lock } => format!(
                "{host}: locked by {} (pid {}, deploy {}, since {})",
                lock.holder, lock.pid, lock.deploy_id, lock.since
            ),
            DeployEvent::Warning { message } => format!("warning: {message}"),
            DeployEvent::PreDeploy { host, command } => format!("{host}: pre_deploy `{command}`…"),
            DeployEvent::PreDeployDone {
                host,
                exit_code,
                output,
            } => {
                let said = output.lines().filter(|l| !l.trim().is_empty());
                std::iter::once(format!("{host}: pre_deploy exited {exit_code}"))
                    .chain(said.map(|l| format!("    {l}")))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            DeployEvent::BatchStarted { index, hosts } => {
                format!("batch {}: {}", index + 1, hosts.join(", "))
            }
            DeployEvent::Step {
                host,
                replica,
                step,
                detail,
            } if detail.is_empty() => {
                format!("{}: {}", at(host, replica), step.label())
            }
            DeployEvent::Step {
                host,
                replica,
                step,
                detail,
            } => {
                format!("{}: {} {detail}", at(host, replica), step.label())
            }
            DeployEvent::Progress { host, bytes, total } => {
                let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
                match total {
                    Some(t) => format!("{host}: {:.1} / {:.1} MiB", mib(*bytes), mib(*t)),
                    None => format!("{host}: {:.1} MiB", mib(*bytes)),
                }
            }
            DeployEvent::HealthWait {
                host,
                replica,
                status,
                remaining_s,
            } => format!("{}: {status}, {remaining_s}s left", at(host, replica)),
            DeployEvent::HostDone {
                host,
                container,
                outcome,
                image,
                error,
                timings,
            } => host_done(host, container, *outcome, image, error.as_deref(), timings),
            DeployEvent::Stopped { reason, untouched } => format!(
                "stopped: {reason}; untouched: {}",
                if untouched.is_empty() {
                    "none".to_owned()
                } else {
                    untouched.join(", ")
                }
            ),
            DeployEvent::Paused => "paused after the batch".to_owned(),
            DeployEvent::Resumed => "resumed".to_owned(),
            DeployEvent::Finished {
                outcome,
                deployed,
                failed,
                skipped,
                elapsed_ms,
                reason,
            } => finished(
                *outcome,
                [*deployed, *failed, *skipped],
                *elapsed_ms,
                reason.as_deref(),
            ),
        })
    }
}

/// The run's last line: changed, failed and skipped hosts, time, why.
fn finished(
    outcome: RunOutcome,
    [deployed, failed, skipped]: [usize; 3],
    elapsed_ms: u64,
    reason: Option<&str>,
) -> String {
    let mut text = format!(
        "{}: {deployed} changed, {failed} failed, {skipped} skipped in {:.1}s",
        outcome.word(),
        elapsed_ms as f64 / 1000.0
    );
    if let Some(r) = reason {
        text.push_str(&format!(" ({r})"));
    }
    text
}

/// A host's outcome with its times; the error on the next line.
fn host_done(
    host: &str,
    container: &str,
    outcome: HostOutcome,
    image: &str,
    error: Option<&str>,
    timings: &Timings,
) -> String {
    let secs = |ms: u64| ms as f64 / 1000.0;
    let down = timings
        .down_ms
        .map_or_else(String::new, |ms| format!(", {}", down_label(ms)));
    let mut text = format!(
        "{host}: {container}: {} in {:.1}s (image {:.1}s, start {:.1}s, health {:.1}s{down})",
        outcome.describe(image),
        secs(timings.total_ms),
        secs(timings.image_ms),
        secs(timings.start_ms),
        secs(timings.health_ms)
    );
    if let Some(error) = error {
        text.push_str(&format!("\n    {error}"));
    }
    text
}

/// How long the service was unavailable on a host: `down 0 ms`, `down 10.3s`.
pub fn down_label(ms: u64) -> String {
    match ms {
        0 => "down 0 ms".to_owned(),
        ms => format!("down {:.1}s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    #[test]
    fn every_front_end_gets_the_same_words() {
        let done = DeployEvent::HostDone {
            host: "fleet-2".into(),
            container: "shop-web-1".into(),
            outcome: HostOutcome::RolledBack,
            image: "app:v1".into(),
            error: Some("unhealthy after 60s".into()),
            timings: Timings {
                image_ms: 1200,
                start_ms: 800,
                health_ms: 60_000,
                total_ms: 62_100,
                down_ms: None,
            },
        };
        assert_eq!(
            done.describe().as_deref(),
            Some(
                "fleet-2: shop-web-1: FAILED, rolled back to app:v1 (healthy) in 62.1s \
                 (image 1.2s, start 0.8s, health 60.0s)\n    unhealthy after 60s"
            )
        );
        let deployed = DeployEvent::HostDone {
            host: "fleet-1".into(),
            container: "shop-web-1".into(),
            outcome: HostOutcome::Deployed,
            image: "app:v2".into(),
            error: None,
            timings: Timings {
                image_ms: 0,
                start_ms: 300,
                health_ms: 2_000,
                total_ms: 2_400,
                down_ms: Some(0),
            },
        };
        assert!(
            deployed
                .describe()
                .is_some_and(|d| d.ends_with("(image 0.0s, start 0.3s, health 2.0s, down 0 ms)")),
            "{:?}",
            deployed.describe()
        );
        let stopped = DeployEvent::Stopped {
            reason: "max_fail reached".into(),
            untouched: vec![],
        };
        assert_eq!(
            stopped.describe().as_deref(),
            Some("stopped: max_fail reached; untouched: none")
        );
        let finished = DeployEvent::Finished {
            outcome: RunOutcome::NotStarted,
            deployed: 0,
            failed: 0,
            skipped: 3,
            elapsed_ms: 450,
            reason: Some("lock held".into()),
        };
        assert_eq!(
            finished.describe().as_deref(),
            Some("not started: 0 changed, 0 failed, 3 skipped in 0.5s (lock held)")
        );
        assert_eq!(DeployEvent::Locked { host: "h".into() }.describe(), None);
        let replica = Some(ReplicaRef {
            container: "shop-api-2".into(),
            index: 2,
            total: 3,
        });
        let step = DeployEvent::Step {
            host: "fleet-1".into(),
            replica: replica.clone(),
            step: Step::WaitingForHealth,
            detail: "HEALTHCHECK".into(),
        };
        assert_eq!(
            step.describe().as_deref(),
            Some("fleet-1 shop-api-2 (2/3): waiting for health HEALTHCHECK")
        );
        let json = serde_json::to_value(&step).expect("json");
        assert_eq!(json["replica"]["container"], "shop-api-2");
        let wait = DeployEvent::HealthWait {
            host: "fleet-1".into(),
            replica,
            status: "starting".into(),
            remaining_s: 9,
        };
        assert_eq!(
            wait.describe().as_deref(),
            Some("fleet-1 shop-api-2 (2/3): starting, 9s left")
        );
    }
}
