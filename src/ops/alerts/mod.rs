//! What `watch` tells people: one [`Alert`] per finding that opens or
//! resolves, shaped for each chat tool (`format`), delivered over HTTP(S)
//! (`deliver`), held back by silences and maintenance windows (`silence`),
//! remembered across restarts (`state`), and the `[[alerts.rule]]` checks
//! beyond triage's own findings (`rules`).

pub mod build;
pub mod deliver;
pub mod format;
pub mod rules;
pub mod silence;
pub mod state;

use serde::Serialize;

use super::triage::{Finding, Severity};
use crate::config::alerts::Level;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Event {
    New,
    Resolved,
    Autoheal,
}

/// One notification, in words every format takes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub event: Event,
    pub severity: Severity,
    /// Stable across looks and restarts: "unhealthy/fleet-1/shop-web-1".
    pub key: String,
    /// "shop-web-1 unhealthy on 1/3 hosts (fleet-1) since 06:02 UTC".
    pub title: String,
    /// The Slack-style one-liner (`:red_circle: … — next command`).
    pub text: String,
    pub evidence: Vec<String>,
    /// The command to run next.
    pub next: Option<String>,
    pub host: String,
    pub container: Option<String>,
    pub service: Option<String>,
    /// When the finding was first announced (for `resolved`).
    pub opened: Option<jiff::Timestamp>,
    pub at: jiff::Timestamp,
    /// The finding as `triage --json` shows it (null for autoheal notes).
    pub finding: serde_json::Value,
}

/// A finding's stable name, as alerts and the state file use it.
pub fn key(f: &Finding) -> String {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut k = format!("{kind}/{}", f.host);
    if let Some(c) = &f.container {
        k.push('/');
        k.push_str(c);
    }
    if let Some(r) = &f.rule {
        k.push('#');
        k.push_str(r);
    }
    k
}

/// A config severity (`severity`, `min_severity`) as triage ranks findings.
pub fn severity(level: Level) -> Severity {
    match level {
        Level::Critical => Severity::Critical,
        Level::High => Severity::High,
        Level::Medium => Severity::Medium,
        Level::Low => Severity::Low,
    }
}

/// Whether a finding of severity `s` is at least `min` (triage ranks the
/// worst first: Critical is the least).
pub fn reaches(s: Severity, min: Level) -> bool {
    s <= severity(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_severity_lets_through_what_is_at_least_as_bad() {
        assert!(reaches(Severity::Critical, Level::High));
        assert!(reaches(Severity::High, Level::High));
        assert!(!reaches(Severity::Medium, Level::High));
        assert!(reaches(Severity::Low, Level::Low));
        assert!(!reaches(Severity::High, Level::Critical));
    }
}
