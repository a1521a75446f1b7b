//! Confirmation and the event printer of deploys: text (a live countdown on a
//! terminal) or JSON lines.

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use super::err;
use crate::cli::{CliError, Exit};
use crate::config::ServiceSpec;
use crate::ops::deploy::prepare::Mode;
use crate::ops::deploy::{DeployEvent, Job, Plan};

/// Asks on the terminal; refuses when there is none.
pub(super) fn confirm(mode: Mode, service: &str, plan: &Plan) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(err(
            Exit::Refused,
            format!(
                "refusing to {} {service} without confirmation: pass --yes",
                mode.kind()
            ),
        ));
    }
    let mut out = std::io::stderr().lock();
    let _ = write!(
        out,
        "{} {service} on {} host(s)? [y/N] ",
        mode.kind(),
        plan.hosts().count()
    );
    let _ = out.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| err(Exit::Internal, format!("reading the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(err(Exit::Refused, "cancelled; nothing was changed"))
    }
}

/// Renders deploy events: text (with a live countdown on a terminal) or JSON lines.
pub(super) struct Printer {
    json: bool,
    tty: bool,
    /// A countdown line is showing and must be cleared before the next line.
    dangling: bool,
    /// Hosts planned to change, and how many have finished (for `[i/N]`).
    total: usize,
    done: usize,
}

impl Printer {
    pub(super) fn new(json: bool) -> Self {
        Printer {
            json,
            tty: std::io::stdout().is_terminal(),
            dangling: false,
            total: 0,
            done: 0,
        }
    }

    pub(super) fn line(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        if self.dangling {
            let _ = write!(out, "\r\x1b[K");
            self.dangling = false;
        }
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A line that the next one replaces (terminals only).
    pub(super) fn transient(&mut self, text: &str) {
        if !self.tty {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[K{text}");
        let _ = out.flush();
        self.dangling = true;
    }

    fn json_line<T: Serialize>(&mut self, value: &T) {
        match serde_json::to_string(value) {
            Ok(text) => self.line(&text),
            Err(e) => eprintln!("flotilla: JSON encoding failed: {e}"),
        }
    }

    pub(super) fn warning(&mut self, message: &str) {
        self.event(&DeployEvent::Warning {
            message: message.to_owned(),
        });
    }

    pub(super) fn note(&mut self, message: &str) {
        if self.json {
            self.json_line(&serde_json::json!({"event": "nothing_to_do", "message": message}));
        } else {
            self.line(message);
        }
    }

    pub(super) fn plan(
        &mut self,
        id: &str,
        mode: Mode,
        service: &ServiceSpec,
        plan: &Plan,
        pre_deploy: bool,
    ) {
        if self.json {
            self.json_line(&DeployEvent::Plan {
                deploy_id: id.to_owned(),
                service: service.name.clone(),
                plan: plan.clone(),
            });
        } else {
            let count = plan.hosts().count();
            self.total = count;
            self.line(&format!(
                "{} {} [{id}]: {count} host(s) in {} batch(es); stops after more than {} failure(s); \
                 health timeout {}s",
                mode.kind(),
                service.name,
                plan.batches.len(),
                plan.max_fail,
                service.health_timeout.as_secs()
            ));
            for (i, batch) in plan.batches.iter().enumerate() {
                for (j, h) in batch.iter().enumerate() {
                    let head = if j == 0 {
                        format!("  batch {}:", i + 1)
                    } else {
                        String::new()
                    };
                    self.planned_host(&head, h);
                }
            }
            // How each host's containers are replaced, once per reason.
            let mut orders: Vec<(&str, Vec<&str>)> = Vec::new();
            for h in plan.hosts() {
                if let Some(why) = h.order.as_deref() {
                    match orders.iter_mut().find(|(w, _)| *w == why) {
                        Some((_, hosts)) => hosts.push(&h.host),
                        None => orders.push((why, vec![&h.host])),
                    }
                }
            }
            for (why, hosts) in orders {
                self.line(&format!("  {}: {why}", hosts.join(" ")));
            }
            for h in &plan.unchanged {
                self.line(&format!(
                    "  unchanged: {}  {}  {}{}",
                    h.host,
                    h.container,
                    h.from,
                    h.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
        }
        if pre_deploy && let Some(cmd) = &service.pre_deploy {
            self.warning(&format!(
                "pre_deploy `{cmd}` runs once before the first host; database schema changes \
                 it makes are not undone by a rollback"
            ));
        }
    }

    /// A host's line in the plan; with replicas, one line each below it.
    fn planned_host(&mut self, head: &str, h: &crate::ops::deploy::PlannedHost) {
        // Through Compose: the file's override pins the image.
        let via = h
            .compose
            .as_ref()
            .map(|t| format!(" (via Compose: {}/{})", t.working_dir, t.override_file))
            .unwrap_or_default();
        if let [one] = h.replicas.as_slice() {
            self.line(&format!(
                "{head:<11} {}  {}  {} → {}{}{via}",
                h.host,
                one.container,
                one.from,
                one.to,
                job_note(one.job)
            ));
            return;
        }
        // Replicas are replaced one at a time, in this order; Compose
        // replaces them itself.
        let (total, changing) = (h.replicas.len(), h.changing().count());
        let some = if changing < total {
            format!(" ({changing} to replace)")
        } else {
            String::new()
        };
        let how = if via.is_empty() {
            ", one at a time".to_owned()
        } else {
            via
        };
        self.line(&format!(
            "{head:<11} {}  {total} replicas{some}{how}",
            h.host
        ));
        for (k, r) in h.replicas.iter().enumerate() {
            let what = match r.job {
                Job::Keep => format!(
                    "{} (kept{})",
                    r.from,
                    r.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                ),
                job => format!("{} → {}{}", r.from, r.to, job_note(job)),
            };
            self.line(&format!(
                "{:<13} ({}/{}) {}  {what}",
                "",
                k + 1,
                h.replicas.len(),
                r.container
            ));
        }
    }

    pub(super) fn event(&mut self, e: &DeployEvent) {
        if self.json {
            // The plan was printed before confirmation.
            if !matches!(e, DeployEvent::Plan { .. }) {
                self.json_line(e);
            }
            return;
        }
        let Some(text) = e.describe() else {
            return;
        };
        // Where the rollout is: hosts finished of those planned.
        if matches!(e, DeployEvent::HostDone { .. }) {
            self.done += 1;
        }
        let at = match self.total {
            0 => String::new(),
            n => format!("[{}/{n}] ", self.done.min(n)),
        };
        // Progress overwrites itself on a terminal; everything else is a line.
        if matches!(
            e,
            DeployEvent::Progress { .. } | DeployEvent::HealthWait { .. }
        ) {
            self.transient(&format!("{at}{text}"));
        } else if matches!(e, DeployEvent::HostDone { .. }) {
            let mut lines = text.lines();
            if let Some(first) = lines.next() {
                self.line(&format!("{at}{first}"));
            }
            for line in lines {
                self.line(line);
            }
        } else {
            for line in text.lines() {
                self.line(line);
            }
        }
    }
}

fn job_note(job: Job) -> &'static str {
    match job {
        Job::Deploy | Job::Keep => "",
        Job::Finish => " (finish the interrupted deploy)",
        Job::Restore => " (restore the old container)",
    }
}
