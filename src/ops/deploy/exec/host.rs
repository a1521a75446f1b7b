//! One host's part of a run: make sure of the image, take the old
//! container aside, start and prove the new one, or put the old one back.

use std::time::Instant;

use bollard::models::ContainerInspectResponse;

use super::{Control, Run, millis};
use crate::ops::deploy::engine::{
    Engine, create, image_config, inspect_opt, inspect_some, remove_container, rename,
};
use crate::ops::deploy::event::{DeployEvent, HostOutcome, Step, Timings};
use crate::ops::deploy::health::{self, Wait};
use crate::ops::deploy::image;
use crate::ops::deploy::kept::{self, Why};
use crate::ops::deploy::plan::{Job, PlannedHost};
use crate::ops::deploy::probe::ContainerSnap;
use crate::ops::deploy::{
    DeployError, DockerContext, LABEL_DEPLOY_ID, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_IMAGE_ID,
    old_name, spec, status_of,
};

/// Seconds Docker waits for the old container to stop before SIGKILL, at most.
const MAX_STOP_SECS: i64 = 300;

pub(super) struct Report {
    pub(super) host: String,
    pub(super) container: String,
    pub(super) outcome: HostOutcome,
    pub(super) image: String,
    pub(super) error: Option<String>,
    pub(super) timings: Timings,
}

impl Run<'_> {
    /// One host, start to finish; never returns with neither container running
    /// unless Docker itself stopped answering.
    pub(super) async fn host(&self, ph: &PlannedHost) -> Report {
        let started = Instant::now();
        let mut report = Report {
            host: ph.host.clone(),
            container: ph.container.clone(),
            outcome: HostOutcome::Failed,
            image: ph.from.clone(),
            error: None,
            timings: Timings::default(),
        };
        let Some(engine) = self.engine(&ph.host) else {
            report.error = Some("not connected".into());
            return report;
        };
        if self.aborted() {
            report.outcome = HostOutcome::Skipped;
            return report;
        }
        match ph.job {
            Job::Keep => report.outcome = HostOutcome::UpToDate,
            Job::Restore => match self.restore(engine, ph).await {
                Ok(()) => report.outcome = HostOutcome::Restored,
                Err(e) => report.error = Some(e.to_string()),
            },
            Job::Deploy | Job::Finish => self.replace(engine, ph, &mut report).await,
        }
        report.timings.total_ms = millis(started.elapsed());
        let result = match &report.error {
            None => Ok(()),
            Some(e) => Err(e.clone()),
        };
        let outcome = serde_json::to_value(report.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.audit_step(ph, &outcome, &result);
        report
    }

    /// Image, then old → new; any failure after the old container stopped puts it back.
    async fn replace(&self, engine: &dyn Engine, ph: &PlannedHost, report: &mut Report) {
        let host = ph.host.as_str();
        let t = Instant::now();
        let ensured = match self.ready.get(&(ph.host.clone(), ph.to.clone())) {
            Some(id) => Ok(id.clone()),
            None => {
                image::ensure(engine, host, &ph.to, self.sources.get(&ph.to), self.events).await
            }
        };
        let image_id = match ensured {
            Ok(id) => id,
            Err(e) => {
                report.outcome = HostOutcome::Unchanged;
                report.error = Some(e.to_string());
                self.audit_step(ph, "image", &Err(e.to_string()));
                return;
            }
        };
        report.timings.image_ms = millis(t.elapsed());
        self.audit_step(ph, "image", &Ok(()));
        if self.aborted() {
            report.outcome = HostOutcome::Skipped;
            return;
        }

        let t = Instant::now();
        let prepared = self.take_old(engine, ph, &image_id).await;
        let (old, reuse) = match prepared {
            Ok(Taken::UpToDate) => {
                report.outcome = HostOutcome::UpToDate;
                report.image = ph.to.clone();
                return;
            }
            Ok(Taken::Old { old, reuse }) => (old, reuse),
            Err(e) => {
                report.error = Some(e.to_string());
                self.audit_step(ph, "replace", &Err(e.to_string()));
                self.roll_back(engine, ph, report).await;
                return;
            }
        };
        let result = self
            .start_new(engine, ph, &old, reuse, &image_id, &mut report.timings, t)
            .await;
        match result {
            Ok(()) => {
                self.step(host, Step::RemovingOld, old_name(&ph.container));
                kept::before_remove(
                    engine,
                    self.d,
                    host,
                    &old_name(&ph.container),
                    &ph.container,
                    Why::Replaced,
                )
                .await;
                if let Err(e) = remove_container(engine, host, &old_name(&ph.container)).await {
                    self.emit(DeployEvent::Warning {
                        message: format!("{e} (the new container is healthy)"),
                    })
                    .await;
                }
                report.outcome = HostOutcome::Deployed;
                report.image = ph.to.clone();
            }
            Err(e) => {
                report.error = Some(e.to_string());
                self.roll_back(engine, ph, report).await;
            }
        }
    }

    /// Stops the old container and moves it aside (or finds it aside already).
    async fn take_old(
        &self,
        engine: &dyn Engine,
        ph: &PlannedHost,
        image_id: &str,
    ) -> Result<Taken, DeployError> {
        let host = ph.host.as_str();
        let aside = old_name(&ph.container);
        let current = inspect_opt(engine, host, &ph.container).await?;
        let old = inspect_opt(engine, host, &aside).await?;
        match (old, current) {
            (None, None) => Err(DeployError::host(
                host,
                format!("no container {}", ph.container),
            )),
            (None, Some(c)) => {
                let snap = ContainerSnap::from_inspect(&c);
                if snap.running && snap.image == ph.to && snap.image_id == image_id {
                    return Ok(Taken::UpToDate);
                }
                // Stopping an auto-remove container deletes it: nothing to go back to.
                if c.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true) {
                    return Err(DeployError::host(
                        host,
                        format!(
                            "{} was started with --rm: stopping it would delete it, so it \
                             cannot be replaced safely",
                            ph.container
                        ),
                    ));
                }
                self.step(host, Step::Stopping, &ph.container);
                let secs = c
                    .config
                    .as_ref()
                    .and_then(|cfg| cfg.stop_timeout)
                    .unwrap_or(10)
                    .clamp(0, MAX_STOP_SECS);
                match engine.stop(&snap.id, secs).await {
                    Ok(()) => {}
                    Err(e) if status_of(&e) == Some(304) => {}
                    Err(e) => return Err(e).ctx(host, format!("stop {}", ph.container)),
                }
                self.step(host, Step::Renaming, &aside);
                rename(engine, host, &snap.id, &aside).await?;
                Ok(Taken::Old {
                    old: Box::new(c),
                    reuse: None,
                })
            }
            (Some(o), Some(c)) => {
                // Half done: a replacement from an earlier run may already be good.
                let snap = ContainerSnap::from_inspect(&c);
                if snap.running && snap.image == ph.to && snap.image_id == image_id {
                    return Ok(Taken::Old {
                        old: Box::new(o),
                        reuse: Some(snap.id),
                    });
                }
                remove_container(engine, host, &snap.id).await?;
                Ok(Taken::Old {
                    old: Box::new(o),
                    reuse: None,
                })
            }
            (Some(o), None) => Ok(Taken::Old {
                old: Box::new(o),
                reuse: None,
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_new(
        &self,
        engine: &dyn Engine,
        ph: &PlannedHost,
        old: &ContainerInspectResponse,
        reuse: Option<String>,
        image_id: &str,
        timings: &mut Timings,
        t: Instant,
    ) -> Result<(), DeployError> {
        let host = ph.host.as_str();
        let id = match reuse {
            Some(id) => id,
            None => {
                let old_image = image_config(engine, host, old).await?;
                let old_ref = old
                    .config
                    .as_ref()
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let labels = [
                    (LABEL_PREVIOUS_IMAGE, old_ref),
                    (
                        LABEL_PREVIOUS_IMAGE_ID,
                        old.image.clone().unwrap_or_default(),
                    ),
                    (LABEL_DEPLOY_ID, self.d.id.clone()),
                ];
                let r = spec::recreate(old, old_image.as_ref(), &ph.to, &labels);
                self.step(host, Step::Creating, &ph.to);
                let id = create(engine, host, &ph.container, r).await?;
                self.step(host, Step::Starting, short(image_id));
                engine
                    .start(&id)
                    .await
                    .ctx(host, format!("start {}", ph.container))?;
                id
            }
        };
        self.audit_step(ph, "start", &Ok(()));
        timings.start_ms = millis(t.elapsed());
        let t = Instant::now();
        let new = inspect_some(engine, host, &id, "inspect new container").await?;
        let mode = health::mode_of(
            &new,
            self.d.service.health_cmd.as_deref(),
            self.d.service.stable_for,
        );
        self.step(host, Step::WaitingForHealth, mode.describe());
        let control = self.control.clone();
        let waited = Wait {
            engine,
            host,
            container: &id,
            mode,
            timeout: self.d.service.health_timeout,
            events: self.events,
        }
        .run(&move || *control.borrow() == Control::Abort)
        .await;
        timings.health_ms = millis(t.elapsed());
        self.audit_step(
            ph,
            "health",
            &waited.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        waited?;
        self.step(
            host,
            Step::Healthy,
            format!("after {:.1}s", t.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    /// After a failure mid-host: the old container back, confirmed healthy.
    async fn roll_back(&self, engine: &dyn Engine, ph: &PlannedHost, report: &mut Report) {
        let why = report.error.clone().unwrap_or_default();
        let why = why.strip_prefix(&format!("{}: ", ph.host)).unwrap_or(&why);
        self.step(&ph.host, Step::RollingBack, why);
        match self.restore(engine, ph).await {
            Ok(()) => {
                report.outcome = HostOutcome::RolledBack;
                report.image = ph.from.clone();
                self.audit_step(ph, "rollback", &Ok(()));
            }
            Err(e) => {
                report.outcome = HostOutcome::Failed;
                report.image = "unknown".into();
                let message = format!(
                    "{}; then restoring the old container failed: {e}",
                    report.error.clone().unwrap_or_default()
                );
                self.audit_step(ph, "rollback", &Err(message.clone()));
                report.error = Some(message);
            }
        }
    }

    /// Puts the old container back under its name, starts it and waits for
    /// its health. Works from any half-done state.
    async fn restore(&self, engine: &dyn Engine, ph: &PlannedHost) -> Result<(), DeployError> {
        let host = ph.host.as_str();
        let aside = old_name(&ph.container);
        self.step(host, Step::Restoring, &ph.container);
        if inspect_opt(engine, host, &aside).await?.is_some() {
            kept::before_remove(
                engine,
                self.d,
                host,
                &ph.container,
                &ph.container,
                Why::Failed,
            )
            .await;
            remove_container(engine, host, &ph.container).await?;
            rename(engine, host, &aside, &ph.container).await?;
        }
        match engine.start(&ph.container).await {
            Ok(()) => {}
            Err(e) if status_of(&e) == Some(304) => {}
            Err(e) => return Err(e).ctx(host, format!("start {}", ph.container)),
        }
        let c = inspect_some(
            engine,
            host,
            &ph.container,
            &format!("inspect {}", ph.container),
        )
        .await?;
        let mode = health::mode_of(
            &c,
            self.d.service.health_cmd.as_deref(),
            self.d.service.stable_for,
        );
        self.step(
            host,
            Step::WaitingForHealth,
            format!("old container: {}", mode.describe()),
        );
        // Never cancelled: an abort must not leave the host without a healthy container.
        Wait {
            engine,
            host,
            container: &ph.container,
            mode,
            timeout: self.d.service.health_timeout,
            events: self.events,
        }
        .run(&|| false)
        .await?;
        self.step(host, Step::Healthy, "old container");
        Ok(())
    }
}

enum Taken {
    UpToDate,
    Old {
        old: Box<ContainerInspectResponse>,
        /// A healthy-looking replacement left by an interrupted run.
        reuse: Option<String>,
    },
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}
