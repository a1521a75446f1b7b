//! What a watch keeps between looks, and one look: findings (triage's,
//! host vitals', the rules'), what opened and resolved since the last,
//! who hears of it, autoheal, the log streams rules need, the state file.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::notify::Notifier;
use super::{CliError, Vitals, WatchArgs, changes_findings};
use crate::cli::Cli;
use crate::config::AlertsConfig;
use crate::fleet::{ContainerAction, Fleet, FleetEvent, FleetState, HostCommand, HostEvent};
use crate::ops::alerts::build::{Seen, alert, autoheal_note};
use crate::ops::alerts::deliver::Report;
use crate::ops::alerts::rules::Rules;
use crate::ops::alerts::silence::{self, Names};
use crate::ops::alerts::state::{self, Open, WatchState};
use crate::ops::alerts::{Alert, Event};
use crate::ops::triage::{self, Finding, Kind};
use crate::ops::watch::{self, Autoheal, Verdict};
use crate::ops::{AuditLog, AuditRecord};

/// Autoheal restarts of one container per hour before it gives up.
const AUTOHEAL_PER_HOUR: usize = 3;

pub struct Watching<'a> {
    cli: &'a Cli,
    args: &'a WatchArgs,
    services: Vec<crate::config::ServiceSpec>,
    alerts: AlertsConfig,
    out: Notifier,
    audit: AuditLog,
    heal: Autoheal,
    rules: Rules,
    silences: silence::Watched,
    state: WatchState,
    state_path: PathBuf,
    /// What was last saved, to write only changes.
    saved: Option<Vec<u8>>,
    /// Rule hits' evidence by alert key, from the last look.
    seen: HashMap<String, Seen>,
    /// No look yet: the open findings are those the state file had.
    first_look: bool,
    pub vitals: Vitals,
    /// `[logs] max_line_bytes` for the streams log rules read.
    pub max_line_bytes: usize,
}

impl<'a> Watching<'a> {
    pub fn new(
        cli: &'a Cli,
        args: &'a WatchArgs,
        services: Vec<crate::config::ServiceSpec>,
        alerts: AlertsConfig,
        out: Notifier,
        state_path: PathBuf,
        cooldown: Duration,
    ) -> Result<Self, CliError> {
        let state = state::load(&state_path).map_err(|e| CliError::usage(e.to_string()))?;
        let mut rules = Rules::new(&alerts.rules, jiff::Timestamp::now());
        rules.restore(state.cursors.clone());
        Ok(Watching {
            cli,
            args,
            services,
            out,
            audit: AuditLog::from_env(),
            heal: Autoheal::new(cooldown, AUTOHEAL_PER_HOUR),
            rules,
            silences: silence::Watched::new(silence::default_path()),
            state,
            state_path,
            saved: None,
            seen: HashMap::new(),
            first_look: true,
            vitals: BTreeMap::new(),
            max_line_bytes: crate::config::DEFAULT_MAX_LINE_BYTES,
            alerts,
        })
    }

    pub fn vitals_every(&self) -> Duration {
        self.alerts.vitals_every
    }

    /// Takes what a view of one event needs; true when findings may change.
    pub fn on_event(&mut self, state: &FleetState, event: &FleetEvent) -> Result<bool, CliError> {
        let host = state
            .hosts
            .get(event.host)
            .map(|h| h.spec.name.clone())
            .unwrap_or_default();
        match &event.kind {
            HostEvent::ActionDone {
                container,
                action,
                result,
            } => self.healed(&host, container, *action, result)?,
            // A matching line: look at once (see `Rules::lines`).
            HostEvent::Logs {
                container_id,
                lines,
            } if self.rules.lines(&host, container_id, lines) => return Ok(true),
            HostEvent::LogsEnded { container_id, .. } => self.rules.ended(&host, container_id),
            HostEvent::Disconnected { .. } => self.rules.host_lost(&host),
            _ => {}
        }
        Ok(changes_findings(&event.kind))
    }

    pub fn on_report(&mut self, report: &Report) -> Result<(), CliError> {
        if let Report::Kept { webhook, key, id } = report
            && let (Some(hook), Some(open)) =
                (self.out.webhook_key(*webhook), self.state.open.get_mut(key))
        {
            open.refs.insert(hook, id.clone());
            return Ok(());
        }
        self.out.report(report)
    }

    /// One look at the fleet: what opened and resolved since the last,
    /// who hears of it, then autoheal and the log streams rules need.
    pub fn look(&mut self, fleet: &Fleet, state: &FleetState) -> Result<(), CliError> {
        let now = jiff::Timestamp::now();
        if let Err(e) = self.silences.refresh() {
            eprintln!("flotilla: {e}");
        }
        let mut findings = triage::assess(state, &BTreeMap::new());
        findings.extend(triage::assess_vitals(&self.vitals));
        let hits = self.rules.check(state, &self.services, &self.vitals, now);
        self.seen = hits
            .iter()
            .map(|h| {
                let seen = Seen {
                    evidence: h.evidence.clone(),
                    next: Some(h.next.clone()),
                };
                (crate::ops::alerts::key(&h.finding), seen)
            })
            .collect();
        findings.extend(hits.into_iter().map(|h| h.finding));
        let holding = findings
            .iter()
            .map(|f| (crate::ops::alerts::key(f), f.clone()))
            .collect();
        let changes = state::reconcile(&mut self.state.open, holding, now);
        // At the first look, what is open and did not just appear came from the file.
        if std::mem::take(&mut self.first_look) {
            let still = self.state.open.len() - changes.appeared.len();
            if still > 0 {
                eprintln!(
                    "flotilla: {still} finding(s) announced before this watch started still hold \
                     and are not repeated ({}); `flotilla triage` lists them",
                    self.state_path.display()
                );
            }
        }
        for (key, open) in changes.resolved {
            self.resolved(state, &key, &open, now)?;
        }
        let keys: Vec<String> = self.state.open.keys().cloned().collect();
        for key in keys {
            let appeared = changes.appeared.contains(&key);
            self.opened(state, &key, appeared, now)?;
        }
        if self.args.autoheal {
            self.autoheal(fleet, state, &findings)?;
        }
        for f in self.rules.to_follow(state, &self.services) {
            let cmd = HostCommand::FollowLogs {
                container_id: f.container_id,
                tail: u32::MAX,
                since: Some(f.since),
                follow: true,
                max_line_bytes: self.max_line_bytes,
            };
            if let Some(HostEvent::LogsEnded { container_id, .. }) = fleet.offer(f.host, cmd) {
                let host = state
                    .hosts
                    .get(f.host)
                    .map(|h| h.spec.name.as_str())
                    .unwrap_or_default();
                self.rules.ended(host, &container_id);
            }
        }
        self.save();
        Ok(())
    }

    fn alert_of(
        &self,
        event: Event,
        state: &FleetState,
        key: &str,
        open: &Open,
        now: jiff::Timestamp,
    ) -> Alert {
        let opened = (event == Event::Resolved).then_some(open.opened);
        alert(
            event,
            state,
            &open.finding,
            self.seen.get(key),
            &self.vitals,
            opened,
            now,
        )
    }

    /// A finding that holds: printed when it appears; sent once nothing
    /// holds it back (a silence, a maintenance window, a deploy).
    fn opened(
        &mut self,
        state: &FleetState,
        key: &str,
        appeared: bool,
        now: jiff::Timestamp,
    ) -> Result<(), CliError> {
        let Some(open) = self.state.open.get(key) else {
            return Ok(());
        };
        if open.sent && !appeared {
            return Ok(());
        }
        let f = &open.finding;
        let deploying = state
            .host_named(&f.host)
            .map(|(_, h)| h)
            .is_some_and(watch::deploy_in_progress);
        let held = self.held(state, f, now);
        let quiet = held.is_some() || deploying;
        // Held back and already printed: nothing to do until that ends.
        if quiet && !appeared {
            return Ok(());
        }
        let mut a = self.alert_of(Event::New, state, key, open, now);
        if deploying && let Some(obj) = a.finding.as_object_mut() {
            obj.insert("deploy_in_progress".into(), true.into());
        }
        if appeared {
            let mut line = line("new", f);
            if deploying {
                line.push_str(" (deploy in progress)");
            }
            self.out.print(&a, &line, held.as_deref())?;
        }
        if !quiet {
            self.out.send(&a, Some(open));
            if let Some(open) = self.state.open.get_mut(key) {
                self.out.mark_sent(&a, open);
            }
        }
        Ok(())
    }

    fn resolved(
        &mut self,
        state: &FleetState,
        key: &str,
        open: &Open,
        now: jiff::Timestamp,
    ) -> Result<(), CliError> {
        let a = self.alert_of(Event::Resolved, state, key, open, now);
        self.out.print(&a, &line("resolved", &open.finding), None)?;
        // Never announced, never resolved out loud.
        if open.sent {
            self.out.send(&a, Some(open));
        }
        Ok(())
    }

    /// Why a finding is not sent now (a silence, a maintenance window).
    fn held(&self, state: &FleetState, f: &Finding, now: jiff::Timestamp) -> Option<String> {
        let c = state.host_named(&f.host).and_then(|(_, h)| {
            h.containers
                .iter()
                .find(|c| Some(&c.name) == f.container.as_ref())
        });
        let mut services: Vec<&str> = self
            .services
            .iter()
            .filter(|s| c.is_some_and(|c| c.of_service(s, &f.host)))
            .map(|s| s.name.as_str())
            .collect();
        if let Some(s) = &f.service {
            services.push(s);
        }
        let names = Names {
            host: &f.host,
            container: f.container.as_deref(),
            services,
        };
        silence::held(&names, &self.silences.list, &self.alerts.maintenance, now)
    }

    fn save(&mut self) {
        self.state.cursors = self.rules.cursors();
        let bytes = state::encode(&self.state);
        if self.saved.as_ref() == Some(&bytes) {
            return;
        }
        match state::write(&self.state_path, &bytes) {
            Ok(()) => self.saved = Some(bytes),
            Err(e) => eprintln!("flotilla: {e}"),
        }
    }

    /// An autoheal restart's answer: audited (as user `autoheal`) and announced.
    fn healed(
        &mut self,
        host: &str,
        container: &str,
        action: ContainerAction,
        result: &Result<(), String>,
    ) -> Result<(), CliError> {
        self.heal.answered(host, container);
        let mut record = AuditRecord::new(
            host,
            container,
            crate::ops::AuditAction::Container(action),
            result,
        );
        record.user = "autoheal".to_owned();
        if let Err(e) = crate::ops::act::audit(&self.audit, &record) {
            eprintln!("flotilla: {e}");
        }
        let text = match result {
            Ok(()) => format!("autoheal restarted {container} on {host}"),
            Err(e) => format!("autoheal could not restart {container} on {host}: {e}"),
        };
        self.note(host, container, &record.result, &text)
    }

    fn note(&self, host: &str, container: &str, result: &str, text: &str) -> Result<(), CliError> {
        let a = autoheal_note(host, container, result, text, jiff::Timestamp::now());
        self.out.print(&a, text, None)?;
        self.out.send(&a, None);
        Ok(())
    }

    /// Restarts what opted in and may be restarted now; reports giving up once.
    fn autoheal(
        &mut self,
        fleet: &Fleet,
        state: &FleetState,
        findings: &[Finding],
    ) -> Result<(), CliError> {
        let now = Instant::now();
        for f in findings.iter().filter(|f| f.kind == Kind::Unhealthy) {
            let Some((hi, h)) = state.host_named(&f.host) else {
                continue;
            };
            let Some(c) = h.containers.iter().find(|c| Some(&c.id) == f.id.as_ref()) else {
                continue;
            };
            let opted_in = watch::opted_in(&h.spec.name, c, &self.services);
            let policy = crate::ops::act::Policy {
                read_only: self.cli.read_only,
            };
            match self
                .heal
                .decide(now, h, c, opted_in, policy.read_only(&h.spec))
            {
                Verdict::Restart => {
                    // By name, so the audit record names it as people do.
                    let cmd = HostCommand::Act {
                        container: c.name.clone(),
                        action: ContainerAction::Restart,
                    };
                    // Answered (even when refused) by an ActionDone, audited there.
                    if let Some(HostEvent::ActionDone { result: Err(e), .. }) = fleet.offer(hi, cmd)
                    {
                        self.heal.answered(&h.spec.name, &c.name);
                        eprintln!("flotilla: autoheal {} on {}: {e}", c.name, h.spec.name);
                    }
                }
                Verdict::GaveUp { first: true } => {
                    let text = format!(
                        "autoheal gave up on {} on {}: restarted {AUTOHEAL_PER_HOUR} times in the last hour",
                        c.name, h.spec.name
                    );
                    self.note(&h.spec.name, &c.name, "gave up", &text)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub async fn finish(mut self) {
        self.save();
        self.out.finish().await;
    }
}

/// "NEW      HIGH     fleet-1 shop-web-1: unhealthy: Up 3 minutes".
fn line(event: &str, f: &Finding) -> String {
    format!(
        "{:<8} {:<8} {} {}: {}",
        event.to_uppercase(),
        f.severity.label(),
        f.host,
        f.container.as_deref().unwrap_or("-"),
        f.summary,
    )
}
