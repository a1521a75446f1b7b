//! One host's part of a run: make sure of the images, then its containers
//! one at a time (a scaled service's replicas), each proven healthy before
//! the next. A replica that fails puts the whole host back: its own old
//! container, and every replica already replaced in this run returns to the
//! image it ran before.

use std::collections::HashMap;
use std::time::Instant;

use bollard::models::ContainerInspectResponse;

use super::replica::{At, Ended, Swap, Swapped};
use super::{Run, millis};
use crate::ops::audit::Mode;
use crate::ops::deploy::DeployError;
use crate::ops::deploy::engine::{Engine, image_id as image_id_of};
use crate::ops::deploy::event::{DeployEvent, HostOutcome, ReplicaRef, Step, Timings};
use crate::ops::deploy::image;
use crate::ops::deploy::plan::{Job, PlannedHost, PlannedReplica};

pub(super) struct Report {
    pub(super) host: String,
    pub(super) container: String,
    pub(super) outcome: HostOutcome,
    pub(super) image: String,
    pub(super) error: Option<String>,
    pub(super) timings: Timings,
}

/// A replica replaced in this run, with the container it replaced (gone now).
struct Replaced<'p> {
    at: At<'p>,
    old: Box<ContainerInspectResponse>,
}

impl Run<'_> {
    /// One host, start to finish; never returns with a replica's container
    /// missing unless Docker itself stopped answering.
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
            report.outcome = HostOutcome::Unreachable;
            report.error = Some("not connected".into());
            return report;
        };
        if self.aborted() {
            report.outcome = HostOutcome::Skipped;
            return report;
        }
        // A host half done by an interrupted run outside Compose finishes that way.
        let half_done = ph
            .replicas
            .iter()
            .any(|r| matches!(r.job, Job::Finish | Job::Restore));
        match (ph.job, &ph.compose) {
            (Job::Keep, _) => {
                // A start-first candidate an interrupted run left beside the
                // old container: the old one stays, the candidate goes.
                if matches!(self.d.kind, Mode::Recover | Mode::Resume) {
                    for r in &ph.replicas {
                        self.drop_candidate(engine, &ph.host, &r.container).await;
                    }
                }
                report.outcome = HostOutcome::UpToDate;
            }
            (_, Some(t)) if !half_done => {
                self.compose_host(engine, self.remote(&ph.host), t, ph, &mut report)
                    .await;
            }
            _ => self.replicas(engine, ph, &mut report).await,
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
        // The host's final record says how long the service was down here.
        let mut action = self.step_action(ph, &outcome);
        if let Some(ms) = report.timings.down_ms {
            action = action.with_note(&format!("down {ms} ms"));
        }
        self.audit(&ph.host, &ph.container, action, &result);
        report
    }

    /// The images first (nothing changes if one cannot be had), then each
    /// replica in turn.
    async fn replicas(&self, engine: &dyn Engine, ph: &PlannedHost, report: &mut Report) {
        let Some(ids) = self.images_for(engine, ph, report).await else {
            return;
        };
        let total = ph.replicas.len();
        let mut replaced: Vec<Replaced> = Vec::new();
        let (mut deployed, mut restored) = (false, false);
        for (i, r) in ph.replicas.iter().enumerate() {
            if r.job == Job::Keep {
                continue;
            }
            let at = At {
                host: &ph.host,
                r: r.clone(),
                tag: (total > 1).then(|| ReplicaRef {
                    container: r.container.clone(),
                    index: i + 1,
                    total,
                }),
            };
            if self.aborted() {
                if replaced.is_empty() && !restored {
                    report.outcome = HostOutcome::Skipped;
                    return;
                }
                report.error = Some(DeployError::Cancelled.to_string());
                self.put_back(engine, ph, replaced, Ended::Back, report)
                    .await;
                return;
            }
            if r.job == Job::Restore {
                if let Err(e) = self.restore(engine, &at).await {
                    let end = match e.unreachable() {
                        true => Ended::Unreachable,
                        false => Ended::Unknown,
                    };
                    report.error = Some(naming(&at, e.to_string()));
                    self.put_back(engine, ph, replaced, end, report).await;
                    return;
                }
                restored = true;
                continue;
            }
            // Made sure of above for every replica that is swapped.
            let id = ids.get(r.to.as_str()).cloned().unwrap_or_default();
            let swap = Swap {
                at: &at,
                image_id: &id,
                model: None,
                cancellable: true,
            };
            match self.swap(engine, &swap, &mut report.timings).await {
                Ok(Swapped::UpToDate) => {}
                Ok(Swapped::Replaced(old)) => {
                    deployed = true;
                    replaced.push(Replaced { at, old });
                }
                Err(failed) => {
                    report.error = Some(naming(&at, failed.error));
                    if failed.end == Ended::Untouched && replaced.is_empty() && !restored {
                        report.outcome = HostOutcome::Unchanged;
                        return;
                    }
                    self.put_back(engine, ph, replaced, failed.end, report)
                        .await;
                    return;
                }
            }
        }
        report.image = ph.to.clone();
        report.outcome = match (deployed, restored) {
            (true, _) => HostOutcome::Deployed,
            (false, true) => HostOutcome::Restored,
            (false, false) => HostOutcome::UpToDate,
        };
    }

    /// Every image the host's replicas change to, by reference → its id
    /// there; `None` (the host unchanged, its report says why) when one
    /// cannot be had.
    async fn images_for<'p>(
        &self,
        engine: &dyn Engine,
        ph: &'p PlannedHost,
        report: &mut Report,
    ) -> Option<HashMap<&'p str, String>> {
        let t = Instant::now();
        let mut ids: HashMap<&str, String> = HashMap::new();
        for r in ph.changing().filter(|r| r.job != Job::Restore) {
            if ids.contains_key(r.to.as_str()) {
                continue;
            }
            match self.image_on(engine, &ph.host, &r.to).await {
                Ok(id) => {
                    ids.insert(&r.to, id);
                }
                Err(e) => {
                    report.outcome = HostOutcome::Unchanged;
                    report.error = Some(e.to_string());
                    self.audit_step(ph, "image", &Err(e.to_string()));
                    return None;
                }
            }
        }
        report.timings.image_ms = millis(t.elapsed());
        if !ids.is_empty() {
            self.audit_step(ph, "image", &Ok(()));
        }
        Some(ids)
    }

    /// The image's id on the host, brought there first if needed.
    pub(super) async fn image_on(
        &self,
        engine: &dyn Engine,
        host: &str,
        image: &str,
    ) -> Result<String, DeployError> {
        if let Some(id) = self.ready.get(&(host.to_owned(), image.to_owned())) {
            return Ok(id.clone());
        }
        if let Some(pulled) = self.pulls.take(host, image).await {
            return pulled;
        }
        let source = self.sources.get(image);
        // The probe found the source's very image here: nothing to bring, no
        // need to ask again. (A registry pull is always made: the tag may
        // have moved there.)
        if let Some(source) = source
            && self.d.seen.lookup(host, image) == Some(Some(source.image_id.as_str()))
        {
            image::report_present(self.events, host, &source.image_id);
            return Ok(source.image_id.clone());
        }
        image::ensure(engine, host, image, source, self.events).await
    }

    /// After a replica failed (`end`: where that left it): the replicas
    /// replaced before it return to what they ran, last first, so the host
    /// ends on the old version everywhere.
    async fn put_back(
        &self,
        engine: &dyn Engine,
        ph: &PlannedHost,
        replaced: Vec<Replaced<'_>>,
        end: Ended,
        report: &mut Report,
    ) {
        let mut problems: Vec<String> = Vec::new();
        for done in replaced.into_iter().rev() {
            let mut at = done.at.reverted(&done.old);
            let image_id = done.old.image.clone().unwrap_or_default();
            // The exact image it ran, even if its tag has moved since.
            match image_id_of(engine, at.host, &at.r.to).await {
                Ok(Some(id)) if id == image_id => {}
                _ if !image_id.is_empty() => {
                    self.emit(DeployEvent::Warning {
                        message: format!(
                            "{} {}: {} no longer names the image it ran; going back to {image_id}",
                            at.host, at.r.container, at.r.to
                        ),
                    })
                    .await;
                    at.r.to = image_id.clone();
                }
                _ => {}
            }
            self.step_at(
                &at,
                Step::RollingBack,
                format!("to {} (a later replica failed)", at.r.to),
            );
            let swap = Swap {
                at: &at,
                image_id: &image_id,
                model: Some(&done.old),
                // Going back must finish even when the run is aborted.
                cancellable: false,
            };
            let mut timings = Timings::default();
            match self.swap(engine, &swap, &mut timings).await {
                Ok(_) => self.audit_replica(&at, "rollback", &Ok(())),
                Err(failed) => {
                    let message = format!("{}: {}", at.r.container, failed.error);
                    self.audit_replica(&at, "rollback", &Err(message.clone()));
                    problems.push(message);
                }
            }
        }
        if matches!(end, Ended::Back | Ended::Untouched) && problems.is_empty() {
            report.outcome = HostOutcome::RolledBack;
            report.image = ph.from.clone();
            return;
        }
        // Some container could not be confirmed healthy: the lock stays.
        report.outcome = match end {
            Ended::Unreachable => HostOutcome::Unreachable,
            _ => HostOutcome::Failed,
        };
        report.image = "unknown".into();
        if !problems.is_empty() {
            let error = report.error.clone().unwrap_or_default();
            report.error = Some(format!(
                "{error}; then putting the host's other replicas back failed: {}",
                problems.join("; ")
            ));
        }
    }
}

impl<'p> At<'p> {
    /// The way back for a replica replaced in this run: to the image (and
    /// flotilla labels) of the container it replaced.
    fn reverted(&self, old: &ContainerInspectResponse) -> At<'p> {
        let image = old
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_else(|| self.r.from.clone());
        At {
            host: self.host,
            r: PlannedReplica {
                container: self.r.container.clone(),
                from: self.r.to.clone(),
                to: image,
                job: Job::Deploy,
                note: None,
            },
            tag: self.tag.clone(),
        }
    }
}

/// `host: …` → `host replica (i/n): …`, so the host's error says which
/// replica failed.
fn naming(at: &At, error: String) -> String {
    let Some(tag) = &at.tag else {
        return error;
    };
    match error.strip_prefix(&format!("{}: ", at.host)) {
        Some(rest) => format!("{} {tag}: {rest}", at.host),
        None => format!("{tag}: {error}"),
    }
}
