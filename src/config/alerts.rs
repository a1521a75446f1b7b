//! `[alerts]`: where `watch` sends notifications, the rules beyond the
//! built-in findings, and the maintenance windows that silence them.

use std::path::PathBuf;
use std::time::Duration;

/// The whole `[alerts]` table; empty when the file has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// Extra root certificates (PEM) for HTTPS webhooks behind a private CA.
    pub ca_file: Option<PathBuf>,
    pub webhooks: Vec<WebhookSpec>,
    pub rules: Vec<RuleSpec>,
    pub maintenance: Vec<Maintenance>,
    /// How often `watch` reads each host's vitals (disk, memory, load).
    pub vitals_every: Duration,
}

/// Default of `[alerts] vitals_every`: one small exec per host a minute.
pub const DEFAULT_VITALS_EVERY: Duration = Duration::from_secs(60);

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            ca_file: None,
            webhooks: Vec::new(),
            rules: Vec::new(),
            maintenance: Vec::new(),
            vitals_every: DEFAULT_VITALS_EVERY,
        }
    }
}

/// The body shape a webhook endpoint expects.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum WebhookFormat {
    Slack,
    Discord,
    Ntfy,
    Teams,
    Json,
}

impl WebhookFormat {
    /// What the URL's host says (hooks.slack.com, discord.com, ntfy.sh,
    /// Teams' workflow hosts); anything else gets flotilla's own JSON.
    pub fn guess(host: &str) -> WebhookFormat {
        let host = host.to_ascii_lowercase();
        let is = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if is("slack.com") {
            WebhookFormat::Slack
        } else if is("discord.com") || is("discordapp.com") {
            WebhookFormat::Discord
        } else if is("ntfy.sh") {
            WebhookFormat::Ntfy
        } else if is("office.com") || is("logic.azure.com") || is("powerplatform.com") {
            WebhookFormat::Teams
        } else {
            WebhookFormat::Json
        }
    }
}

/// How bad a finding is, as the config names it (`min_severity`, a rule's
/// `severity`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

/// One `[[alerts.webhook]]` or `--webhook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub url: String,
    pub format: WebhookFormat,
    /// Findings below this are printed, not sent.
    pub min_severity: Level,
}

impl WebhookSpec {
    /// A checked webhook: http:// or https:// with a host; without a
    /// `format`, the URL's host decides. Errors name the URL by its label.
    pub fn new(
        url: &str,
        format: Option<WebhookFormat>,
        min_severity: Level,
    ) -> Result<WebhookSpec, String> {
        let shown = webhook_label(url);
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("{shown}: not a URL: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!(
                "{shown}: the URL must start with https:// or http://"
            ));
        }
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return Err(format!("{shown}: no host in the URL"));
        };
        Ok(WebhookSpec {
            url: url.to_owned(),
            format: format.unwrap_or_else(|| WebhookFormat::guess(host)),
            min_severity,
        })
    }
}

/// A webhook URL as it may be printed: its path is the secret (Slack's and
/// Discord's tokens live there), so only scheme and host show.
pub fn webhook_label(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(u) if u.host().is_some() => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/…",
                u.scheme_str().unwrap_or("http"),
                u.host().unwrap_or_default()
            )
        }
        _ => "(not a URL)".to_owned(),
    }
}

/// One `[[alerts.rule]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub name: String,
    pub check: Check,
    /// Only containers of this `[service.NAME]`.
    pub service: Option<String>,
    /// Only containers whose name matches this glob (`*` for any run).
    pub container: Option<String>,
    pub severity: Level,
}

// Thresholds are checked finite and positive when the file is read.
impl Eq for RuleSpec {}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// At least `count` log lines matching `pattern` (smart case; `re:` for
    /// a regex) within `window`, per container.
    Log {
        pattern: String,
        count: usize,
        window: Duration,
    },
    /// At least `count` restarts within `window`, per container.
    Restarts { count: i64, window: Duration },
    /// The 1-minute load average per CPU at or above this.
    LoadPerCpu(f64),
    /// Memory in use (not available) at or above this share, in percent.
    MemoryPercent(f64),
    /// Docker's data root filled to at least this share, in percent.
    DiskPercent(f64),
}

/// One `[[alerts.maintenance]]`: findings on these hosts or services are
/// printed but not sent while the window is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    /// Empty with `services` empty too: the whole fleet.
    pub hosts: Vec<String>,
    pub services: Vec<String>,
    pub when: Window,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    Once {
        from: jiff::Timestamp,
        until: jiff::Timestamp,
    },
    /// Each of `days` (UTC) from `start` for `length`, both in minutes.
    Weekly {
        days: Vec<jiff::civil::Weekday>,
        start: u32,
        length: u32,
    },
}

impl Window {
    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: jiff::Timestamp) -> bool {
        match self {
            Window::Once { from, until } => *from <= now && now < *until,
            Window::Weekly {
                days,
                start,
                length,
            } => {
                let t = jiff::tz::TimeZone::UTC.to_datetime(now);
                let minute =
                    u32::from(t.hour().unsigned_abs()) * 60 + u32::from(t.minute().unsigned_abs());
                let today = t.weekday();
                // A window that began yesterday may run past midnight.
                let yesterday = today.previous();
                (days.contains(&today) && minute >= *start && minute < start + length)
                    || (days.contains(&yesterday)
                        && start + length > 1440
                        && minute < start + length - 1440)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_checked_and_labels_hide_the_secret_path() {
        let slack = WebhookSpec::new("https://hooks.slack.com/services/T/B/X", None, Level::Low)
            .expect("slack");
        assert_eq!(slack.format, WebhookFormat::Slack);
        let own = WebhookSpec::new("http://127.0.0.1:8080/hook", None, Level::High).expect("http");
        assert_eq!(
            (own.format, own.min_severity),
            (WebhookFormat::Json, Level::High)
        );
        let forced = WebhookSpec::new("https://ntfy.sh/x", Some(WebhookFormat::Json), Level::Low);
        assert_eq!(forced.map(|w| w.format), Ok(WebhookFormat::Json));
        let e = WebhookSpec::new("ftp://x/y", None, Level::Low).expect_err("ftp");
        assert!(e.contains("https:// or http://"), "{e}");
        assert!(WebhookSpec::new("not a url", None, Level::Low).is_err());
        assert_eq!(
            webhook_label("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            webhook_label("http://127.0.0.1:9/x?token=1"),
            "http://127.0.0.1:9/…"
        );
    }
}
