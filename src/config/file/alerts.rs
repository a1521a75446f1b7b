//! `[alerts]` in the inventory file: webhooks, rules, maintenance windows,
//! each checked with its position.

use std::ops::Range;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::super::alerts::{
    AlertsConfig, Check, Level, Maintenance, RuleSpec, WebhookFormat, WebhookSpec, Window,
};
use super::super::{ConfigError, parse_duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    ca_file: Option<Spanned<String>>,
    vitals_every: Option<Spanned<String>>,
    #[serde(default)]
    webhook: Vec<Spanned<RawWebhook>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    maintenance: Vec<Spanned<RawMaintenance>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Spanned<String>,
    format: Option<Spanned<String>>,
    min_severity: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    log: Option<Spanned<String>>,
    restarts: Option<Spanned<i64>>,
    load_per_cpu: Option<Spanned<f64>>,
    memory_percent: Option<Spanned<f64>>,
    disk_percent: Option<Spanned<f64>>,
    count: Option<Spanned<i64>>,
    window: Option<Spanned<String>>,
    service: Option<Spanned<String>>,
    container: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
    every: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    #[serde(default)]
    reason: String,
}

type Err<'a> = &'a dyn Fn(Range<usize>, String) -> ConfigError;

/// The checked `[alerts]` table; `path` anchors a relative `ca_file`.
pub(super) fn alerts(
    raw: Option<RawAlerts>,
    path: &Path,
    service_names: &[String],
    err: Err,
) -> Result<AlertsConfig, ConfigError> {
    let mut out = AlertsConfig::default();
    let Some(raw) = raw else {
        return Ok(out);
    };
    if let Some(ca) = raw.ca_file {
        let mut file = std::path::PathBuf::from(ca.get_ref());
        if file.is_relative() {
            file = path.parent().unwrap_or(Path::new("")).join(file);
        }
        if !file.is_file() {
            return Err(err(
                ca.span(),
                format!("alerts.ca_file {} does not exist", file.display()),
            ));
        }
        out.ca_file = Some(file);
    }
    if let Some(every) = raw.vitals_every {
        out.vitals_every = match parse_duration(every.get_ref()) {
            Ok(d) if d >= Duration::from_secs(5) => d,
            Ok(_) => {
                return Err(err(
                    every.span(),
                    "alerts.vitals_every must be at least 5s".into(),
                ));
            }
            Err(e) => return Err(err(every.span(), format!("alerts.vitals_every: {e}"))),
        };
    }
    for w in raw.webhook {
        out.webhooks.push(webhook(w.into_inner(), err)?);
    }
    for r in raw.rule {
        let span = r.span();
        let rule = rule(r.into_inner(), span.clone(), service_names, err)?;
        if out.rules.iter().any(|o| o.name == rule.name) {
            return Err(err(
                span,
                format!("two alerts rules are named {:?}", rule.name),
            ));
        }
        out.rules.push(rule);
    }
    for m in raw.maintenance {
        let span = m.span();
        out.maintenance
            .push(maintenance(m.into_inner(), span, err)?);
    }
    Ok(out)
}

fn level(
    field: Option<Spanned<String>>,
    default: Level,
    what: &str,
    err: Err,
) -> Result<Level, ConfigError> {
    let Some(v) = field else {
        return Ok(default);
    };
    Level::from_str(v.get_ref()).map_err(|_| {
        err(
            v.span(),
            format!(
                "{what} {:?}: one of critical, high, medium, low",
                v.get_ref()
            ),
        )
    })
}

fn webhook(w: RawWebhook, err: Err) -> Result<WebhookSpec, ConfigError> {
    let format = match w.format {
        Some(f) => Some(WebhookFormat::from_str(f.get_ref()).map_err(|_| {
            err(
                f.span(),
                format!(
                    "alerts.webhook format {:?}: one of slack, discord, ntfy, teams, json",
                    f.get_ref()
                ),
            )
        })?),
        None => None,
    };
    let min = level(
        w.min_severity,
        Level::Low,
        "alerts.webhook min_severity",
        err,
    )?;
    WebhookSpec::new(w.url.get_ref(), format, min)
        .map_err(|e| err(w.url.span(), format!("alerts.webhook url {e}")))
}

fn rule(
    r: RawRule,
    span: Range<usize>,
    service_names: &[String],
    err: Err,
) -> Result<RuleSpec, ConfigError> {
    let name = r.name.get_ref().trim().to_owned();
    if name.is_empty() {
        return Err(err(
            r.name.span(),
            "alerts.rule name must not be empty".into(),
        ));
    }
    if let Some(s) = &r.service
        && !service_names.contains(s.get_ref())
    {
        return Err(err(
            s.span(),
            format!(
                "alerts.rule service {:?} is not a [service.NAME] table",
                s.get_ref()
            ),
        ));
    }
    let check = check(&r, &name, span, err)?;
    let host_level = matches!(
        check,
        Check::LoadPerCpu(_) | Check::MemoryPercent(_) | Check::DiskPercent(_)
    );
    if host_level
        && let Some(s) = r
            .service
            .as_ref()
            .map(Spanned::span)
            .or(r.container.as_ref().map(Spanned::span))
    {
        return Err(err(
            s,
            format!(
                "alerts.rule {name:?}: host thresholds apply to hosts, not services or containers"
            ),
        ));
    }
    Ok(RuleSpec {
        name,
        check,
        service: r.service.map(Spanned::into_inner),
        container: r.container.map(Spanned::into_inner),
        severity: level(r.severity, Level::High, "alerts.rule severity", err)?,
    })
}

/// Exactly one of log, restarts, load_per_cpu, memory_percent, disk_percent.
fn check(r: &RawRule, name: &str, span: Range<usize>, err: Err) -> Result<Check, ConfigError> {
    let given = [
        r.log.is_some(),
        r.restarts.is_some(),
        r.load_per_cpu.is_some(),
        r.memory_percent.is_some(),
        r.disk_percent.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(err(
            span,
            format!(
                "alerts.rule {name:?} needs exactly one of log, restarts, load_per_cpu, \
                 memory_percent, disk_percent"
            ),
        ));
    }
    if let Some(p) = &r.log {
        crate::logs::Search::parse(p.get_ref())
            .map_err(|e| err(p.span(), format!("alerts.rule log pattern: {e}")))?;
        return Ok(Check::Log {
            pattern: p.get_ref().clone(),
            count: usize::try_from(count(r, 1, err)?).unwrap_or(1),
            window: window(r, Duration::from_secs(60), err)?,
        });
    }
    if let Some(n) = &r.restarts {
        if *n.get_ref() < 1 {
            return Err(err(
                n.span(),
                "alerts.rule restarts must be at least 1".into(),
            ));
        }
        return Ok(Check::Restarts {
            count: *n.get_ref(),
            window: window(r, Duration::from_secs(600), err)?,
        });
    }
    threshold(r, name, span, err)
}

/// load_per_cpu (above 0), memory_percent or disk_percent (0 to 100].
fn threshold(r: &RawRule, name: &str, span: Range<usize>, err: Err) -> Result<Check, ConfigError> {
    let percent = |v: &Spanned<f64>, what: &str| -> Result<f64, ConfigError> {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 && x <= 100.0 {
            Ok(x)
        } else {
            Err(err(
                v.span(),
                format!("alerts.rule {what} must be above 0 and at most 100"),
            ))
        }
    };
    if let Some(l) = &r.load_per_cpu {
        let x = *l.get_ref();
        if !(x.is_finite() && x > 0.0) {
            return Err(err(
                l.span(),
                "alerts.rule load_per_cpu must be above 0".into(),
            ));
        }
        return Ok(Check::LoadPerCpu(x));
    }
    if let Some(m) = &r.memory_percent {
        return Ok(Check::MemoryPercent(percent(m, "memory_percent")?));
    }
    match &r.disk_percent {
        Some(d) => Ok(Check::DiskPercent(percent(d, "disk_percent")?)),
        None => Err(err(span, format!("alerts.rule {name:?} checks nothing"))),
    }
}

fn window(r: &RawRule, default: Duration, err: Err) -> Result<Duration, ConfigError> {
    match &r.window {
        None => Ok(default),
        Some(w) => match parse_duration(w.get_ref()) {
            Ok(d) if !d.is_zero() && d <= Duration::from_secs(24 * 3600) => Ok(d),
            Ok(_) => Err(err(
                w.span(),
                "alerts.rule window must be between 1s and 24h".into(),
            )),
            Err(e) => Err(err(w.span(), format!("alerts.rule window: {e}"))),
        },
    }
}

/// Bounded: a log rule keeps the times of `count` lines per container.
fn count(r: &RawRule, default: i64, err: Err) -> Result<i64, ConfigError> {
    match &r.count {
        None => Ok(default),
        Some(c) if (1..=10_000).contains(c.get_ref()) => Ok(*c.get_ref()),
        Some(c) => Err(err(
            c.span(),
            "alerts.rule count must be between 1 and 10000".into(),
        )),
    }
}

fn maintenance(
    m: RawMaintenance,
    span: Range<usize>,
    err: Err,
) -> Result<Maintenance, ConfigError> {
    let when = match (&m.every, &m.from, &m.until) {
        (Some(every), None, None) => weekly(every.get_ref())
            .map_err(|e| err(every.span(), format!("alerts.maintenance every: {e}")))?,
        (None, Some(from), Some(until)) => {
            let at = |v: &Spanned<String>, what: &str| -> Result<jiff::Timestamp, ConfigError> {
                v.get_ref().parse().map_err(|e| {
                    err(
                        v.span(),
                        format!(
                            "alerts.maintenance {what} {:?}: not an RFC 3339 time ({e})",
                            v.get_ref()
                        ),
                    )
                })
            };
            let (from_t, until_t) = (at(from, "from")?, at(until, "until")?);
            if until_t <= from_t {
                return Err(err(
                    until.span(),
                    "alerts.maintenance until must be after from".into(),
                ));
            }
            Window::Once {
                from: from_t,
                until: until_t,
            }
        }
        _ => {
            return Err(err(
                span,
                "alerts.maintenance needs either `every = \"sat,sun 02:00-04:00\"` or both \
                 `from` and `until` (RFC 3339 times)"
                    .into(),
            ));
        }
    };
    Ok(Maintenance {
        hosts: m.hosts,
        services: m.services,
        when,
        reason: m.reason,
    })
}

/// "sat,sun 02:00-04:00" or "daily 23:30-00:30" (UTC).
fn weekly(text: &str) -> Result<Window, String> {
    use jiff::civil::Weekday;
    let (days_text, range) = text.trim().split_once(' ').ok_or_else(|| {
        format!("{text:?}: expected DAYS HH:MM-HH:MM, like \"sat,sun 02:00-04:00\"")
    })?;
    let mut days = Vec::new();
    for d in days_text.split(',') {
        let day = match d.trim().to_ascii_lowercase().as_str() {
            "daily" => {
                days.extend([
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                    Weekday::Saturday,
                    Weekday::Sunday,
                ]);
                continue;
            }
            "mon" => Weekday::Monday,
            "tue" => Weekday::Tuesday,
            "wed" => Weekday::Wednesday,
            "thu" => Weekday::Thursday,
            "fri" => Weekday::Friday,
            "sat" => Weekday::Saturday,
            "sun" => Weekday::Sunday,
            other => return Err(format!("{other:?} is not a day (mon … sun, or daily)")),
        };
        days.push(day);
    }
    let (a, b) = range
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("{range:?}: expected HH:MM-HH:MM"))?;
    let (start, end) = (minute_of_day(a)?, minute_of_day(b)?);
    let length = if end > start {
        end - start
    } else {
        end + 1440 - start
    };
    Ok(Window::Weekly {
        days,
        start,
        length,
    })
}

fn minute_of_day(t: &str) -> Result<u32, String> {
    let (h, m) = t
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{t:?}: expected HH:MM"))?;
    match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if h < 24 && m < 60 => Ok(h * 60 + m),
        _ => Err(format!("{t:?}: expected HH:MM (00:00 to 23:59)")),
    }
}

#[cfg(test)]
mod tests;
