//! Start-first through Compose, as docker-rollout does it: the image pinned
//! in the override, then `up --no-recreate --scale SERVICE=2N` starts N new
//! containers beside the N that run (same project network, so the service's
//! name finds both), each passes the health gate, then the old ones leave
//! the name lookups, drain for `stop_grace`, stop with their own signal and
//! timeout and go (logs kept). A failed gate removes the new ones and puts
//! the override back; the old ones were never touched.
//!
//! A run killed half way leaves two generations of the service on the host.
//! The next run keeps the one that runs its image (a resume: the new ones,
//! a rollback: the old ones) if it is healthy, and retires the other.

use std::time::Instant;

use bollard::models::{ContainerInspectResponse, EndpointSettings};

use super::host::Report;
use super::replica::{At, stop};
use super::start_first::unadvertise;
use super::{Run, millis};
use crate::fleet::compose::file::Tool;
use crate::ops::deploy::DeployError;
use crate::ops::deploy::compose::{self, ComposeTarget, Found, Up};
use crate::ops::deploy::engine::{Engine, inspect_some, remove_container};
use crate::ops::deploy::event::{HostOutcome, ReplicaRef, Step};
use crate::ops::deploy::kept::{self, Why};
use crate::ops::deploy::plan::{Job, PlannedHost, PlannedReplica};
use crate::ops::deploy::probe::{self, ContainerSnap};
use crate::transport::Remote;

/// One host's Compose project, as the deploy steps need it.
pub(super) struct Project<'a> {
    pub remote: &'a Remote,
    pub t: &'a ComposeTarget,
    pub tool: Tool,
    pub found: &'a Found,
    pub ph: &'a PlannedHost,
    /// The service's containers as they run now.
    pub current: Vec<ContainerSnap>,
    /// The image id the run deploys.
    pub image_id: String,
}

impl Run<'_> {
    pub(super) async fn compose_beside(
        &self,
        engine: &dyn Engine,
        b: Project<'_>,
        report: &mut Report,
    ) {
        let host = b.ph.host.as_str();
        let (ready, old): (Vec<ContainerSnap>, Vec<ContainerSnap>) = b
            .current
            .iter()
            .cloned()
            .partition(|c| c.image_id == b.image_id);
        if old.is_empty() {
            report.outcome = HostOutcome::UpToDate;
            report.image = b.ph.to.clone();
            return;
        }
        let text = compose::override_yaml(
            b.t,
            &b.ph.to,
            &b.ph.from,
            &self.d.id,
            b.found.version.as_deref(),
        );
        self.compose_step(
            host,
            Step::Creating,
            format!(
                "pinning {} in {}/{}",
                b.ph.to, b.t.working_dir, b.t.override_file
            ),
        );
        if let Err(e) = self
            .compose_run(b.remote, &compose::write_script(b.t, Some(&text)), false)
            .await
        {
            // The write is a rename: the old file stands.
            report.outcome = HostOutcome::Unchanged;
            report.error = Some(format!("{host}: writing {}: {e}", b.t.override_file));
            return;
        }
        // An interrupted run's containers of this image serve if healthy.
        let mut new = ready;
        if !new.is_empty()
            && (new.len() != old.len()
                || self.gate_timed(engine, b.ph, &new, report).await.is_err())
        {
            self.remove_each(engine, host, &new, Why::Failed).await;
            new.clear();
        }
        if new.is_empty() {
            match self.start_beside(engine, &b, &old, report).await {
                Ok(started) => new = started,
                Err(e) => return self.beside_failed(&b, e, report).await,
            }
        }
        self.audit_step(b.ph, "compose", &Ok(()));
        self.compose_step(
            host,
            Step::Healthy,
            format!("{} new beside {} old", new.len(), old.len()),
        );
        self.retire(engine, host, &b.t.service, &old, &new).await;
        report.timings.down_ms = Some(0);
        report.outcome = HostOutcome::Deployed;
        report.image = b.ph.to.clone();
        report.container = names(&new);
    }

    async fn gate_timed(
        &self,
        engine: &dyn Engine,
        ph: &PlannedHost,
        cs: &[ContainerSnap],
        report: &mut Report,
    ) -> Result<(), DeployError> {
        let t = Instant::now();
        let gate = self.gate_each(engine, ph, cs, true).await;
        report.timings.health_ms += millis(t.elapsed());
        gate
    }

    /// `up --no-recreate` at twice the count; the containers it added, healthy.
    async fn start_beside(
        &self,
        engine: &dyn Engine,
        b: &Project<'_>,
        old: &[ContainerSnap],
        report: &mut Report,
    ) -> Result<Vec<ContainerSnap>, DeployError> {
        let host = b.ph.host.as_str();
        let count = old.len() * 2;
        self.compose_step(
            host,
            Step::Starting,
            format!(
                "{} -p {} up -d --no-recreate --scale {}={count}, beside the old",
                b.tool.command(),
                b.t.project,
                b.t.service
            ),
        );
        let t = Instant::now();
        let up = self
            .compose_run(
                b.remote,
                &compose::up_script(b.t, b.tool, count, Up::Beside),
                true,
            )
            .await;
        report.timings.start_ms += millis(t.elapsed());
        let now = probe::probe_host(host, engine, &self.d.service, None).await?;
        let new: Vec<ContainerSnap> = now
            .replicas
            .into_iter()
            .filter_map(|r| r.current)
            .filter(|c| !old.iter().any(|o| o.id == c.id))
            .collect();
        if let Err(e) = up {
            self.remove_each(engine, host, &new, Why::Failed).await;
            return Err(DeployError::host(host, format!("compose up: {e}")));
        }
        if new.is_empty() {
            return Err(DeployError::host(
                host,
                "Compose started no new container beside the old",
            ));
        }
        if let Err(e) = self.gate_timed(engine, b.ph, &new, report).await {
            self.compose_step(
                host,
                Step::RollingBack,
                "removing the new containers; the old ones never stopped".into(),
            );
            self.remove_each(engine, host, &new, Why::Failed).await;
            return Err(e);
        }
        Ok(new)
    }

    /// The new ones are gone: the override as it was, so that the files
    /// name what runs again. No `up`: the old containers never changed.
    async fn beside_failed(&self, b: &Project<'_>, e: DeployError, report: &mut Report) {
        self.audit_step(b.ph, "compose", &Err(e.to_string()));
        let back = self
            .compose_run(
                b.remote,
                &compose::write_script(b.t, b.found.override_text.as_deref()),
                false,
            )
            .await;
        report.outcome = HostOutcome::RolledBack;
        report.image = b.ph.from.clone();
        report.error = Some(match back {
            Ok(_) => e.to_string(),
            Err(w) => format!(
                "{e}; the old containers run, but restoring {} failed: {w} (a `compose up` there would start {})",
                b.t.override_file, b.ph.to
            ),
        });
    }

    /// The old ones leave the name lookups (and any the new ones lack come
    /// back to these), drain, stop with their own signal and timeout, and go.
    async fn retire(
        &self,
        engine: &dyn Engine,
        host: &str,
        service: &str,
        old: &[ContainerSnap],
        new: &[ContainerSnap],
    ) {
        let mut inspected = Vec::new();
        let mut unlisted = 0;
        for c in old {
            if let Ok(i) = inspect_some(engine, host, &c.id, "inspect the old container").await {
                unlisted += unadvertise(engine, &c.id, &i).await;
                inspected.push(i);
            }
        }
        // A rollback keeps containers a killed run may have unlisted.
        for c in new {
            if let Ok(i) = inspect_some(engine, host, &c.id, "inspect the new container").await {
                relist(engine, &i, service).await;
            }
        }
        self.drain(host, None, unlisted).await;
        for (c, i) in old.iter().zip(&inspected) {
            self.compose_step(host, Step::Stopping, c.name.clone());
            if let Err(e) = stop(engine, host, i).await {
                tracing::warn!("{host}: stopping {}: {e}", c.name);
            }
        }
        self.compose_step(host, Step::RemovingOld, names(old));
        self.remove_each(engine, host, old, Why::Replaced).await;
    }

    /// Removes containers (their logs kept first). Best effort: a failure is
    /// a warning in the log.
    async fn remove_each(&self, engine: &dyn Engine, host: &str, cs: &[ContainerSnap], why: Why) {
        for c in cs {
            kept::before_remove(engine, self.d, host, &c.name, &c.name, why).await;
            if let Err(e) = remove_container(engine, host, &c.id).await {
                tracing::warn!("{host}: removing {}: {e}", c.name);
            }
        }
    }

    /// Each container healthy by the deploy's gate, named as a replica when several.
    pub(super) async fn gate_each(
        &self,
        engine: &dyn Engine,
        ph: &PlannedHost,
        cs: &[ContainerSnap],
        cancellable: bool,
    ) -> Result<(), DeployError> {
        let total = cs.len();
        for (i, c) in cs.iter().enumerate() {
            let at = At {
                host: &ph.host,
                r: PlannedReplica {
                    container: c.name.clone(),
                    from: ph.from.clone(),
                    to: ph.to.clone(),
                    job: Job::Deploy,
                    note: None,
                },
                tag: (total > 1).then(|| ReplicaRef {
                    container: c.name.clone(),
                    index: i + 1,
                    total,
                }),
            };
            self.gate(engine, &at, &c.id, cancellable).await?;
        }
        Ok(())
    }

    pub(super) fn compose_step(&self, host: &str, step: Step, detail: String) {
        self.step_on(host, None, step, detail);
    }
}

fn names(cs: &[ContainerSnap]) -> String {
    cs.iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Gives a Compose container the service's name back on each network
/// where a killed run's drain took it (Compose gives every container of a
/// service that alias on the project's networks).
async fn relist(engine: &dyn Engine, c: &ContainerInspectResponse, service: &str) {
    let Some(id) = c.id.as_deref() else { return };
    let name = c
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/');
    let nets = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref());
    for (net, ep) in nets.into_iter().flatten() {
        if matches!(net.as_str(), "bridge" | "host" | "none")
            || ep.aliases.iter().flatten().any(|a| a == service)
        {
            continue;
        }
        let _ = engine.disconnect(net, id).await;
        let back = EndpointSettings {
            aliases: Some(vec![service.to_owned(), name.to_owned()]),
            links: ep.links.clone(),
            ..Default::default()
        };
        let _ = engine.connect(net, id, back).await;
    }
}
