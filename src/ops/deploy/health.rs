//! Waiting for a container to prove itself: the image's HEALTHCHECK when it
//! has one, else a configured command run with exec, else "running for a
//! while without restarting".

use std::time::{Duration, Instant};

use bollard::models::{ContainerInspectResponse, HealthStatusEnum};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::engine::{Engine, inspect_some};
use super::event::{DeployEvent, ReplicaRef};
use super::{DeployError, DockerContext};
use crate::ops::triage::evidence::docker_time;

/// When the container last started; `None` if it never did (Docker's zero time).
pub(super) fn started_at(c: &ContainerInspectResponse) -> Option<jiff::Timestamp> {
    docker_time(c.state.as_ref()?.started_at.as_deref()?)
}

/// The container's start in the form Docker's `since` takes: its events
/// from then on, so none is missed between the start and the subscription.
fn since(c: &ContainerInspectResponse) -> Option<String> {
    let t = started_at(c)?;
    Some(format!("{}.{:09}", t.as_second(), t.subsec_nanosecond()))
}

/// How often Docker health is polled (each poll is one warm API round trip).
/// A healthy container is seen on average half of this (plus a round trip)
/// after Docker marked it so, and every host of a serial rollout waits that
/// long: at 250 ms this was ~4 % of a 3-host deploy of a 2 s health check.
const POLL: Duration = Duration::from_millis(100);
/// Upper bound for one `health_cmd` run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// Output kept from a health probe, for messages.
const OUTPUT_LIMIT: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthMode {
    /// The container's own HEALTHCHECK.
    Docker,
    /// `sh -c CMD` via exec; exit 0 means healthy.
    Exec(String),
    /// Running this long without a restart.
    Stable(Duration),
}

impl HealthMode {
    pub fn describe(&self) -> String {
        match self {
            HealthMode::Docker => "HEALTHCHECK".to_owned(),
            HealthMode::Exec(cmd) => format!("health_cmd `{cmd}`"),
            HealthMode::Stable(d) => format!("running {}s without restarting", d.as_secs()),
        }
    }
}

/// Which check applies to this container (pure).
pub fn mode_of(
    c: &ContainerInspectResponse,
    health_cmd: Option<&str>,
    stable_for: Duration,
) -> HealthMode {
    let has_healthcheck = c
        .config
        .as_ref()
        .and_then(|cfg| cfg.healthcheck.as_ref())
        .and_then(|h| h.test.as_ref())
        .and_then(|t| t.first())
        .is_some_and(|first| first != "NONE");
    match (has_healthcheck, health_cmd) {
        (true, _) => HealthMode::Docker,
        (false, Some(cmd)) => HealthMode::Exec(cmd.to_owned()),
        (false, None) => HealthMode::Stable(stable_for),
    }
}

/// One health wait on one host.
pub struct Wait<'a> {
    pub engine: &'a dyn Engine,
    pub host: &'a str,
    pub container: &'a str,
    pub mode: HealthMode,
    pub timeout: Duration,
    pub events: &'a mpsc::Sender<DeployEvent>,
    /// Named in the countdown when the host runs several replicas.
    pub replica: Option<ReplicaRef>,
    /// The container as the caller just inspected it (saves a round trip);
    /// `None` inspects it first.
    pub seen: Option<ContainerInspectResponse>,
}

fn cut(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(OUTPUT_LIMIT) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

/// What a failed check said: its output, or that it printed nothing and
/// how it exited (an empty reason explains nothing).
fn said(output: &str, exit_code: Option<i64>) -> String {
    let output = cut(output);
    match exit_code {
        _ if !output.is_empty() => output,
        Some(code) => format!("the check printed nothing (exit code {code})"),
        None => "the check printed nothing".to_owned(),
    }
}

/// What one look at the container said.
enum Checked {
    Healthy,
    /// Not yet; the status to show, when there is news.
    Waiting(Option<String>),
}

/// Why the wait looks at the container again.
enum Look {
    /// Time to poll (no event stream), or a container event: inspect it.
    Inspect,
    /// Docker said healthy: nothing else to read.
    Healthy,
    /// Only time passed: the last inspect still stands.
    Again,
}

impl Wait<'_> {
    /// Waits until healthy, unhealthy, exited/restarted, timed out or
    /// `cancelled()`; returns how long it took. Docker's own HEALTHCHECK is
    /// followed through the container's events where the engine streams
    /// them (seen half a round trip after Docker marks it, not a poll
    /// later), else polled.
    pub async fn run(
        &self,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Duration, DeployError> {
        let start = Instant::now();
        let mut c = match &self.seen {
            Some(c) => c.clone(),
            None => self.inspect().await?,
        };
        let restarts = c.restart_count.unwrap_or(0);
        let mut events = match self.mode {
            HealthMode::Docker => {
                since(&c).and_then(|t| self.engine.container_events(self.container, &t))
            }
            _ => None,
        };
        let mut last_status = "starting".to_owned();
        let mut next_report = start;
        loop {
            if cancelled() {
                return Err(DeployError::Cancelled);
            }
            self.still_up(&c, restarts)?;
            match self.check(&c, start).await? {
                Checked::Healthy => return Ok(start.elapsed()),
                Checked::Waiting(Some(status)) => last_status = status,
                Checked::Waiting(None) => {}
            }
            let elapsed = start.elapsed();
            if elapsed >= self.timeout {
                return Err(self.fail(format!(
                    "not healthy within {}s (last: {last_status})",
                    self.timeout.as_secs()
                )));
            }
            if Instant::now() >= next_report {
                let _ = self.events.try_send(DeployEvent::HealthWait {
                    host: self.host.to_owned(),
                    replica: self.replica.clone(),
                    status: last_status.clone(),
                    remaining_s: self.timeout.saturating_sub(elapsed).as_secs(),
                });
                next_report += Duration::from_secs(1);
            }
            let pause = match self.mode {
                HealthMode::Exec(_) => Duration::from_secs(1),
                _ => POLL,
            };
            let look = self
                .next_look(&mut events, pause.min(self.timeout.saturating_sub(elapsed)))
                .await;
            if cancelled() {
                return Err(DeployError::Cancelled);
            }
            match look {
                Look::Healthy => return Ok(start.elapsed()),
                Look::Inspect => c = self.inspect().await?,
                Look::Again => {}
            }
        }
    }

    /// One look at the container by the service's kind of check: healthy,
    /// failed (an error), or still waiting (with a new status to show).
    async fn check(
        &self,
        c: &ContainerInspectResponse,
        start: Instant,
    ) -> Result<Checked, DeployError> {
        Ok(match &self.mode {
            HealthMode::Docker => {
                let health = c.state.as_ref().and_then(|s| s.health.as_ref());
                match health.and_then(|h| h.status) {
                    Some(HealthStatusEnum::HEALTHY) => Checked::Healthy,
                    Some(HealthStatusEnum::UNHEALTHY) => {
                        let last = health
                            .and_then(|h| h.log.as_ref())
                            .and_then(|log| log.last());
                        let why = said(
                            last.and_then(|r| r.output.as_deref()).unwrap_or_default(),
                            last.and_then(|r| r.exit_code),
                        );
                        return Err(self.fail(format!("unhealthy: {why}")));
                    }
                    Some(s) => Checked::Waiting(Some(s.to_string())),
                    None => Checked::Waiting(None),
                }
            }
            HealthMode::Exec(cmd) => {
                let left = self.timeout.saturating_sub(start.elapsed());
                match self.exec(cmd, left.min(EXEC_TIMEOUT)).await {
                    Ok((0, _)) => Checked::Healthy,
                    Ok((code, output)) => {
                        let why = said(&output, Some(code));
                        Checked::Waiting(Some(match output.trim().is_empty() {
                            true => format!("health_cmd: {why}"),
                            false => format!("health_cmd exited {code}: {why}"),
                        }))
                    }
                    Err(e) => Checked::Waiting(Some(e.to_string())),
                }
            }
            HealthMode::Stable(d) if start.elapsed() >= (*d).min(self.timeout) => Checked::Healthy,
            HealthMode::Stable(_) => Checked::Waiting(Some("running".to_owned())),
        })
    }

    /// Waits `pause` for a container event (or only the pause, polling).
    /// A local timer only: the cancel, the countdown and the timeout are
    /// checked as often as when polling.
    async fn next_look(
        &self,
        events: &mut Option<
            futures::stream::BoxStream<'static, super::engine::EngineResult<String>>,
        >,
        pause: Duration,
    ) -> Look {
        let Some(stream) = events.as_mut() else {
            tokio::time::sleep(pause).await;
            return Look::Inspect;
        };
        match tokio::time::timeout(pause, stream.next()).await {
            Err(_) => Look::Again,
            Ok(Some(Ok(action))) if action == "health_status: healthy" => Look::Healthy,
            Ok(Some(Ok(_))) => Look::Inspect,
            Ok(Some(Err(e))) => {
                tracing::debug!(host = self.host, "health events failed, polling: {e}");
                *events = None;
                Look::Inspect
            }
            Ok(None) => {
                *events = None;
                Look::Inspect
            }
        }
    }

    fn fail(&self, message: String) -> DeployError {
        DeployError::host(self.host, message)
    }

    async fn inspect(&self) -> Result<ContainerInspectResponse, DeployError> {
        inspect_some(
            self.engine,
            self.host,
            self.container,
            "inspect new container",
        )
        .await
    }

    /// Exited or restarted containers are failures, whatever the check says.
    fn still_up(&self, c: &ContainerInspectResponse, restarts: i64) -> Result<(), DeployError> {
        let state = c.state.as_ref();
        if state.and_then(|s| s.restarting).unwrap_or(false)
            || c.restart_count.unwrap_or(0) > restarts
        {
            return Err(self.fail("the container restarted".to_owned()));
        }
        if !state.and_then(|s| s.running).unwrap_or(false) {
            let code = state.and_then(|s| s.exit_code).unwrap_or(-1);
            return Err(self.fail(format!("the container exited with code {code}")));
        }
        Ok(())
    }

    /// Runs `sh -c cmd` in the container: (exit code, output tail).
    async fn exec(&self, cmd: &str, limit: Duration) -> Result<(i64, String), DeployError> {
        let cmd = vec!["sh".into(), "-c".into(), cmd.into()];
        let run = async {
            self.engine
                .exec(self.container, cmd, OUTPUT_LIMIT)
                .await
                .ctx(self.host, "health_cmd")
        };
        tokio::time::timeout(limit, run)
            .await
            .map_err(|_| DeployError::Timeout {
                host: self.host.to_owned(),
                what: "health_cmd".to_owned(),
                after: limit,
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, HealthConfig};

    fn with_test(test: Option<Vec<&str>>) -> ContainerInspectResponse {
        ContainerInspectResponse {
            config: Some(ContainerConfig {
                healthcheck: test.map(|t| HealthConfig {
                    test: Some(t.into_iter().map(str::to_owned).collect()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn healthcheck_wins_then_command_then_stability() {
        let ten = Duration::from_secs(10);
        let hc = with_test(Some(vec!["CMD", "true"]));
        assert_eq!(mode_of(&hc, Some("x"), ten), HealthMode::Docker);
        let disabled = with_test(Some(vec!["NONE"]));
        assert_eq!(
            mode_of(&disabled, Some("curl -f x"), ten),
            HealthMode::Exec("curl -f x".into())
        );
        assert_eq!(
            mode_of(&with_test(None), None, ten),
            HealthMode::Stable(ten)
        );
    }

    #[test]
    fn since_is_the_start_in_dockers_unix_form() {
        let mut c = with_test(None);
        assert_eq!(since(&c), None, "never started");
        c.state = Some(bollard::models::ContainerState {
            started_at: Some("2026-11-30T16:04:51.321690856Z".into()),
            ..Default::default()
        });
        assert_eq!(since(&c).as_deref(), Some("1796054691.321690856"));
    }

    #[test]
    fn a_silent_check_says_so_with_its_exit_code() {
        assert_eq!(said(" 503 down\n", Some(1)), "503 down");
        assert_eq!(
            said(" \n", Some(1)),
            "the check printed nothing (exit code 1)"
        );
        assert_eq!(said("", None), "the check printed nothing");
    }

    #[test]
    fn output_is_cut() {
        let long = "x".repeat(1000);
        assert_eq!(cut(&long).chars().count(), OUTPUT_LIMIT + 1);
        assert_eq!(cut(" ok \n"), "ok");
    }
}
