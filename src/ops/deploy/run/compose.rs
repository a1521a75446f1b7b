//! One Compose-managed host's part of a run: the image brought to the host
//! as for any deploy, then pinned in the project's override file. Stop-first
//! (here): `up -d --no-deps SERVICE` recreates the containers, health-gated;
//! on a failure (or an abort) the override goes back to what it was and `up`
//! runs again, health-gated too. Start-first: `compose_first.rs`.

use std::time::{Duration, Instant};

use super::compose_first::Project;
use super::host::Report;
use super::{Run, millis};
use crate::config::Order;
use crate::fleet::compose::file::Tool;
use crate::ops::deploy::DeployError;
use crate::ops::deploy::compose::{self, ComposeTarget, Found, Up};
use crate::ops::deploy::engine::Engine;
use crate::ops::deploy::event::{HostOutcome, Step};
use crate::ops::deploy::kept::{self, Why};
use crate::ops::deploy::order::{beside_half_done, decide};
use crate::ops::deploy::plan::PlannedHost;
use crate::ops::deploy::probe::{self, ContainerSnap};
use crate::transport::Remote;

/// Output kept from one Compose command on the host.
const OUTPUT_LIMIT: usize = 64 * 1024;
/// Bound on reading or writing the project's files.
const FILES_WITHIN: Duration = Duration::from_secs(15);
/// Bound on one `up` (it stops the old containers: up to their stop timeout each).
const UP_WITHIN: Duration = Duration::from_secs(600);

impl Run<'_> {
    pub(super) async fn compose_host(
        &self,
        engine: &dyn Engine,
        remote: Option<&Remote>,
        t: &ComposeTarget,
        ph: &PlannedHost,
        report: &mut Report,
    ) {
        let host = ph.host.as_str();
        let unchanged = |report: &mut Report, e: String| {
            report.outcome = HostOutcome::Unchanged;
            report.error = Some(format!("{host}: {e}"));
        };
        let Some(remote) = remote else {
            return unchanged(
                report,
                "Compose-managed: its project files are changed over SSH, and this host has no session".into(),
            );
        };
        let t0 = Instant::now();
        let image_id = match self.image_on(engine, host, &ph.to).await {
            Ok(id) => id,
            Err(e) => {
                self.audit_step(ph, "image", &Err(e.to_string()));
                report.outcome = HostOutcome::Unchanged;
                report.error = Some(e.to_string());
                return;
            }
        };
        self.audit_step(ph, "image", &Ok(()));
        report.timings.image_ms = millis(t0.elapsed());
        let (tool, found) = match self.compose_project(remote, t).await {
            Ok(got) => got,
            Err(e) => return unchanged(report, e),
        };
        if self.aborted() {
            report.outcome = HostOutcome::Skipped;
            return;
        }
        let (current, order) = match self.compose_order(engine, host, &image_id).await {
            Ok(got) => got,
            Err(e) => return unchanged(report, e),
        };
        let p = Project {
            remote,
            t,
            tool,
            found: &found,
            ph,
            current,
            image_id,
        };
        if order == Some(Order::StartFirst) {
            self.compose_beside(engine, p, report).await;
        } else {
            self.compose_recreate(engine, &p, report).await;
        }
    }

    /// The project's tool and files, or why the host stays as it is: no
    /// Compose there, or an override flotilla did not write.
    async fn compose_project(
        &self,
        remote: &Remote,
        t: &ComposeTarget,
    ) -> Result<(Tool, Found), String> {
        let found = match self
            .compose_run(remote, &compose::read_script(t), false)
            .await
        {
            Ok(out) => compose::parse_read(&out),
            Err(e) => return Err(format!("reading the project directory: {e}")),
        };
        let Some(tool) = found.tool else {
            return Err(
                "Compose-managed, but the host has neither `docker compose` nor `docker-compose`"
                    .into(),
            );
        };
        if !found.ours() {
            return Err(format!(
                "{}/{} is not flotilla's: flotilla pins images in that file only when it \
                 wrote it; move its settings into {} (or remove it) and deploy again",
                t.working_dir, t.override_file, t.file
            ));
        }
        Ok((tool, found))
    }

    /// The service's containers as they run now, and the order to replace
    /// them in: start-first finishes a half-done start-first run.
    async fn compose_order(
        &self,
        engine: &dyn Engine,
        host: &str,
        image_id: &str,
    ) -> Result<(Vec<ContainerSnap>, Option<Order>), String> {
        let current = match probe::probe_host(host, engine, &self.d.service, None).await {
            Ok(p) => p
                .replicas
                .into_iter()
                .filter_map(|r| r.current)
                .collect::<Vec<_>>(),
            Err(e) => return Err(e.to_string()),
        };
        let ids: Vec<&str> = current.iter().map(|c| c.image_id.as_str()).collect();
        let order = match current.first() {
            _ if beside_half_done(&ids, image_id) => Some(Order::StartFirst),
            Some(c) => Some(decide(self.d.service.order, &c.exposure).0),
            None => None,
        };
        Ok((current, order))
    }

    /// Stop-first: `up` recreates the containers from the files.
    async fn compose_recreate(&self, engine: &dyn Engine, p: &Project<'_>, report: &mut Report) {
        let (remote, t, tool, found, ph) = (p.remote, p.t, p.tool, p.found, p.ph);
        let host = ph.host.as_str();
        let t1 = Instant::now();
        self.keep_logs(engine, ph, Why::Replaced).await;
        let text =
            compose::override_yaml(t, &ph.to, &ph.from, &self.d.id, found.version.as_deref());
        let step = |step: Step, detail: String| self.compose_step(host, step, detail);
        step(
            Step::Creating,
            format!("pinning {} in {}/{}", ph.to, t.working_dir, t.override_file),
        );
        if let Err(e) = self
            .compose_run(remote, &compose::write_script(t, Some(&text)), false)
            .await
        {
            // The write is a rename: the old file stands.
            report.outcome = HostOutcome::Unchanged;
            report.error = Some(format!("{host}: writing {}: {e}", t.override_file));
            return;
        }
        step(
            Step::Starting,
            format!(
                "{} -p {} up -d --no-deps {}",
                tool.command(),
                t.project,
                t.service
            ),
        );
        let up = self
            .compose_run(
                remote,
                &compose::up_script(t, tool, ph.replicas.len(), Up::Recreate),
                true,
            )
            .await;
        report.timings.start_ms = millis(t1.elapsed());
        let t2 = Instant::now();
        let gate = match up {
            Ok(_) => self.compose_healthy(engine, ph, true).await,
            Err(e) => Err(DeployError::host(host, format!("compose up: {e}"))),
        };
        report.timings.health_ms = millis(t2.elapsed());
        self.audit_step(
            ph,
            "compose",
            &gate.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        let Err(e) = gate else {
            report.outcome = HostOutcome::Deployed;
            report.image = ph.to.clone();
            return;
        };
        self.recreate_failed(engine, p, e, report).await;
    }

    /// Back: the override as it was, and Compose recreates from it.
    async fn recreate_failed(
        &self,
        engine: &dyn Engine,
        p: &Project<'_>,
        e: DeployError,
        report: &mut Report,
    ) {
        let (t, ph) = (p.t, p.ph);
        report.error = Some(e.to_string());
        self.compose_step(
            ph.host.as_str(),
            Step::RollingBack,
            format!("{} back as it was", t.override_file),
        );
        self.keep_logs(engine, ph, Why::Failed).await;
        let back = self.compose_back(engine, p).await;
        self.audit_step(
            ph,
            "rollback",
            &back.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        match back {
            Ok(()) => {
                report.outcome = HostOutcome::RolledBack;
                report.image = ph.from.clone();
            }
            Err(b) => {
                report.outcome = if b.unreachable() {
                    HostOutcome::Unreachable
                } else {
                    HostOutcome::Failed
                };
                report.image = "unknown".into();
                report.error = Some(format!("{e}; then going back failed: {b}"));
            }
        }
    }

    async fn compose_back(&self, engine: &dyn Engine, p: &Project<'_>) -> Result<(), DeployError> {
        let (remote, t, tool, found, ph) = (p.remote, p.t, p.tool, p.found, p.ph);
        let host = ph.host.as_str();
        let write = compose::write_script(t, found.override_text.as_deref());
        self.compose_run(remote, &write, false)
            .await
            .map_err(|e| DeployError::host(host, format!("restoring {}: {e}", t.override_file)))?;
        self.compose_run(
            remote,
            &compose::up_script(t, tool, ph.replicas.len(), Up::Recreate),
            true,
        )
        .await
        .map_err(|e| DeployError::host(host, format!("compose up (going back): {e}")))?;
        self.compose_healthy(engine, ph, false).await
    }

    /// Every container of the service on the host, healthy by its check:
    /// the same gate as any deploy's, each named as a replica when several.
    async fn compose_healthy(
        &self,
        engine: &dyn Engine,
        ph: &PlannedHost,
        cancellable: bool,
    ) -> Result<(), DeployError> {
        let host = ph.host.as_str();
        let found = probe::probe_host(host, engine, &self.d.service, None).await?;
        if found.replicas.is_empty() {
            return Err(DeployError::host(
                host,
                "Compose created no container for the service",
            ));
        }
        let cs: Vec<_> = found
            .replicas
            .into_iter()
            .filter_map(|r| r.current)
            .collect();
        self.gate_each(engine, ph, &cs, cancellable).await
    }

    /// A script in the project's directory; `up` (which stops containers:
    /// up to their stop timeout each) may take longer than a file's read.
    pub(super) async fn compose_run(
        &self,
        remote: &Remote,
        script: &str,
        up: bool,
    ) -> Result<String, String> {
        let within = if up { UP_WITHIN } else { FILES_WITHIN };
        compose::on_host(remote, OUTPUT_LIMIT, script, within).await
    }

    /// Keeps the logs of the containers Compose is about to recreate.
    async fn keep_logs(&self, engine: &dyn Engine, ph: &PlannedHost, why: Why) {
        for r in ph.changing() {
            kept::before_remove(engine, self.d, &ph.host, &r.container, &r.container, why).await;
        }
    }
}
