//! Where notifications go: stdout always (a line, or JSON with `--json`);
//! each webhook in its own format; `--exec` with flotilla's JSON on stdin.

use std::io::Write;
use std::time::Duration;

use tokio::sync::mpsc;

use super::super::CliError;
use super::super::hook::ExecHook;
use crate::config::alerts::WebhookSpec;
use crate::ops::alerts::deliver::{Delivery, HttpClient, Report, Webhook};
use crate::ops::alerts::format::{flotilla_json, requests};
use crate::ops::alerts::state::{Open, webhook_id};
use crate::ops::alerts::{Alert, Event, reaches};

/// How long an ending watch waits for queued webhooks.
const WEBHOOK_FLUSH: Duration = Duration::from_secs(3);
/// Sender reports waiting for the loop.
pub const REPORTS: usize = 64;

pub struct Notifier {
    pub json: bool,
    pub exec: Option<ExecHook>,
    hooks: Vec<Hook>,
}

/// One webhook: its sender, its config, and the digest of its URL that
/// the state file knows it by.
struct Hook {
    sender: Webhook,
    spec: WebhookSpec,
    id: String,
}

impl Notifier {
    pub fn new(
        json: bool,
        exec: Option<ExecHook>,
        specs: Vec<WebhookSpec>,
        client: Option<HttpClient>,
        reports: &mpsc::Sender<Report>,
    ) -> Notifier {
        let hooks = match client {
            Some(client) => specs
                .into_iter()
                .enumerate()
                .map(|(i, spec)| Hook {
                    sender: Webhook::spawn(i, &spec.url, client.clone(), reports.clone()),
                    id: webhook_id(&spec.url),
                    spec,
                })
                .collect(),
            None => Vec::new(),
        };
        Notifier { json, exec, hooks }
    }

    /// Prints one notification: `line` for people, JSON with `--json`
    /// (with why it was held back, if it was).
    pub fn print(&self, alert: &Alert, line: &str, held: Option<&str>) -> Result<(), CliError> {
        let shown = if self.json {
            let mut v = flotilla_json(alert);
            if let (Some(why), Some(obj)) = (held, v.as_object_mut()) {
                obj.insert("silenced".into(), why.into());
            }
            v.to_string()
        } else {
            match held {
                Some(why) => format!("{} ({why})", crate::redact::clean(line)),
                None => crate::redact::clean(line),
            }
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{shown}")
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::output(&e))
    }

    /// Sends to every webhook that takes its severity, and to `--exec`;
    /// `open` knows where the opening went and the ids services gave it.
    pub fn send(&self, alert: &Alert, open: Option<&Open>) {
        for hook in &self.hooks {
            // A resolve goes wherever the opening went, and only there.
            let wanted = match alert.event {
                Event::New => reaches(alert.severity, hook.spec.min_severity),
                Event::Resolved => open.is_some_and(|o| o.sent_to.contains(&hook.id)),
                Event::Autoheal => true,
            };
            if !wanted {
                continue;
            }
            let reference = open.and_then(|o| o.refs.get(&hook.id)).map(String::as_str);
            hook.sender.send(Delivery {
                key: alert.key.clone(),
                requests: requests(hook.spec.format, &hook.spec.url, alert, reference),
            });
        }
        if let Some(exec) = &self.exec {
            exec.send(flotilla_json(alert).to_string());
        }
    }

    /// Records in `open` which webhooks its opening went to.
    pub fn mark_sent(&self, alert: &Alert, open: &mut Open) {
        open.sent = true;
        for hook in &self.hooks {
            if reaches(alert.severity, hook.spec.min_severity) {
                open.sent_to.insert(hook.id.clone());
            }
        }
    }

    /// The URL digest a webhook's message ids are kept under.
    pub fn webhook_key(&self, index: usize) -> Option<String> {
        self.hooks.get(index).map(|h| h.id.clone())
    }

    /// A sender's trouble, on stderr and (with `--json`) as a JSON line.
    pub fn report(&self, r: &Report) -> Result<(), CliError> {
        let (index, text) = match r {
            Report::Kept { .. } => return Ok(()),
            Report::Failed { webhook, error } => {
                (*webhook, format!("{error} (notification not delivered)"))
            }
            Report::Dropped { webhook, total } => (
                *webhook,
                format!(
                    "falling behind, dropped the oldest waiting notification ({total} dropped so far)"
                ),
            ),
        };
        let label = self
            .hooks
            .get(index)
            .map_or_else(|| "?".to_owned(), |h| h.sender.label.clone());
        eprintln!("flotilla: webhook {label}: {text}");
        if self.json {
            let line =
                serde_json::json!({"event": "delivery_failed", "webhook": label, "error": text});
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{line}")
                .and_then(|()| stdout.flush())
                .map_err(|e| CliError::output(&e))?;
        }
        Ok(())
    }

    /// Sends what waits (bounded), ends running --exec commands.
    pub async fn finish(self) {
        let deadline = tokio::time::Instant::now() + WEBHOOK_FLUSH;
        for hook in self.hooks.iter().map(|h| &h.sender) {
            while hook.pending() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let left = hook.pending();
            if left > 0 {
                eprintln!(
                    "flotilla: webhook {}: {left} notification(s) not delivered when watch ended",
                    hook.label
                );
            }
        }
        if let Some(exec) = self.exec {
            exec.shutdown().await;
        }
    }
}
