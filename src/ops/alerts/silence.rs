//! Silences (`flotilla silence api --for 1h`) and maintenance windows:
//! findings they cover are still printed and recorded by `watch`, and shown
//! as silenced in the TUI, but not sent. Silences live in `silences.json` in
//! the state directory of the machine that runs `watch`; it re-reads the
//! file when it changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::alerts::{Maintenance, Window};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    /// A service, host or container name.
    pub target: String,
    pub until: jiff::Timestamp,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub by: String,
    pub created: jiff::Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a silences file ({source}); move it away to start afresh", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    silences: Vec<Silence>,
}

/// `silences.json` in the state directory (`.` without a home).
pub fn default_path() -> PathBuf {
    crate::private::state_file("silences.json")
}

/// Every silence in the file (expired ones too); none when there is no file.
pub fn load(path: &Path) -> Result<Vec<Silence>, SilenceError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SilenceError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let file: File = serde_json::from_str(&text).map_err(|source| SilenceError::Parse {
        path: path.to_owned(),
        source,
    })?;
    Ok(file.silences)
}

/// The silences in the file that still hold at `now`.
pub fn in_force(path: &Path, now: jiff::Timestamp) -> Result<Vec<Silence>, SilenceError> {
    let mut list = load(path)?;
    list.retain(|s| s.until > now);
    Ok(list)
}

/// Writes the silences still in force at `now` (expired ones are dropped).
pub fn save(path: &Path, list: &[Silence], now: jiff::Timestamp) -> Result<(), SilenceError> {
    let file = File {
        silences: list.iter().filter(|s| s.until > now).cloned().collect(),
    };
    let text = serde_json::to_string_pretty(&file).unwrap_or_default();
    crate::private::replace(path, text.as_bytes()).map_err(|source| SilenceError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The silences file as a running watch sees it: re-read when it changes,
/// so `flotilla silence` takes effect without a restart.
#[derive(Debug)]
pub struct Watched {
    path: PathBuf,
    stamp: Option<std::time::SystemTime>,
    pub list: Vec<Silence>,
}

impl Watched {
    pub fn new(path: PathBuf) -> Watched {
        Watched {
            path,
            stamp: None,
            list: Vec::new(),
        }
    }

    /// Re-reads a changed file (true when the list changed); a broken one
    /// keeps the last good list.
    pub fn refresh(&mut self) -> Result<bool, SilenceError> {
        let stamp = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if stamp == self.stamp {
            return Ok(false);
        }
        self.stamp = stamp;
        let list = load(&self.path)?;
        let changed = list != self.list;
        self.list = list;
        Ok(changed)
    }
}

/// Adds a silence to the file; the new one and all in force.
pub fn add(
    path: &Path,
    target: &str,
    length: Duration,
    reason: &str,
    by: &str,
    now: jiff::Timestamp,
) -> Result<(Silence, Vec<Silence>), SilenceError> {
    let mut list = in_force(path, now)?;
    let s = new(&list, target, length, reason, by, now);
    list.push(s.clone());
    save(path, &list, now)?;
    Ok((s, list))
}

/// Ends the silences with this id or target; how many, and those left.
pub fn remove(
    path: &Path,
    which: &str,
    now: jiff::Timestamp,
) -> Result<(usize, Vec<Silence>), SilenceError> {
    let mut list = in_force(path, now)?;
    let before = list.len();
    list.retain(|s| s.id != which && s.target != which);
    let ended = before - list.len();
    if ended > 0 {
        save(path, &list, now)?;
    }
    Ok((ended, list))
}

/// "silenced api until 2026-12-05 21:14 UTC (1h), id 3fa2c1".
pub fn said(s: &Silence, length: Duration) -> String {
    format!(
        "silenced {} until {} UTC ({}), id {}",
        s.target,
        s.until.strftime("%F %H:%M"),
        humantime::format_duration(length),
        s.id
    )
}

/// A new silence of `target` for `length` from `now`; its id is short and
/// unique among `existing`.
pub fn new(
    existing: &[Silence],
    target: &str,
    length: Duration,
    reason: &str,
    by: &str,
    now: jiff::Timestamp,
) -> Silence {
    let span = jiff::SignedDuration::try_from(length).unwrap_or(jiff::SignedDuration::MAX);
    let until = now.checked_add(span).unwrap_or(jiff::Timestamp::MAX);
    let mut n = now.as_nanosecond().unsigned_abs();
    let id = loop {
        let id = format!("{:06x}", (n ^ (n >> 24)) & 0xff_ffff);
        if !existing.iter().any(|s| s.id == id) {
            break id;
        }
        n = n.wrapping_add(1);
    };
    Silence {
        id,
        target: target.to_owned(),
        until,
        reason: reason.to_owned(),
        by: by.to_owned(),
        created: now,
    }
}

/// What a finding is known by: its host, container, service, and the
/// `[service.NAME]` tables that own its container.
#[derive(Debug, Clone, Default)]
pub struct Names<'a> {
    pub host: &'a str,
    pub container: Option<&'a str>,
    pub services: Vec<&'a str>,
}

impl Names<'_> {
    fn covers(&self, target: &str) -> bool {
        self.host == target || self.container == Some(target) || self.services.contains(&target)
    }
}

/// Why a finding is held back right now, if it is.
pub fn held(
    names: &Names<'_>,
    silences: &[Silence],
    maintenance: &[Maintenance],
    now: jiff::Timestamp,
) -> Option<String> {
    if let Some(s) = silences
        .iter()
        .filter(|s| s.until > now && names.covers(&s.target))
        .max_by_key(|s| s.until)
    {
        let mut why = format!("silenced until {} UTC", s.until.strftime("%F %H:%M"));
        if !s.by.is_empty() {
            why.push_str(&format!(" by {}", s.by));
        }
        if !s.reason.is_empty() {
            why.push_str(&format!(": {}", s.reason));
        }
        return Some(why);
    }
    maintenance
        .iter()
        .find(|m| m.when.contains(now) && in_scope(m, names))
        .map(|m| {
            let when = match &m.when {
                Window::Once { until, .. } => {
                    format!("until {} UTC", until.strftime("%F %H:%M"))
                }
                Window::Weekly { .. } => "window".to_owned(),
            };
            if m.reason.is_empty() {
                format!("maintenance {when}")
            } else {
                format!("maintenance {when}: {}", m.reason)
            }
        })
}

fn in_scope(m: &Maintenance, names: &Names<'_>) -> bool {
    if m.hosts.is_empty() && m.services.is_empty() {
        return true;
    }
    m.hosts.iter().any(|h| h == names.host)
        || m.services
            .iter()
            .any(|s| names.services.contains(&s.as_str()) || names.container == Some(s.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().expect("time")
    }

    #[test]
    fn a_silence_holds_until_it_expires_and_matches_by_any_name() {
        let now = at("2026-12-05T20:00:00Z");
        let s = new(
            &[],
            "api",
            Duration::from_secs(3600),
            "deploy freeze",
            "alice",
            now,
        );
        let list = vec![s];
        let api = Names {
            host: "fleet-1",
            container: Some("api-1"),
            services: vec!["api"],
        };
        let why = held(&api, &list, &[], now).expect("held");
        assert_eq!(
            why,
            "silenced until 2026-12-05 21:00 UTC by alice: deploy freeze"
        );
        assert!(
            held(&api, &list, &[], at("2026-12-05T21:00:00Z")).is_none(),
            "expired"
        );
        let web = Names {
            host: "fleet-1",
            container: Some("web-1"),
            services: vec!["web"],
        };
        assert!(held(&web, &list, &[], now).is_none());
        let host = new(&list, "fleet-1", Duration::from_secs(60), "", "", now);
        assert_ne!(host.id, list[0].id);
        assert!(held(&web, &[host], &[], now).is_some(), "by host");
    }

    #[test]
    fn weekly_windows_cover_their_hours_and_run_past_midnight() {
        let w = crate::config::alerts::Window::Weekly {
            days: vec![jiff::civil::Weekday::Saturday],
            start: 23 * 60,
            length: 120,
        };
        // 2026-12-05 is a Saturday.
        assert!(!w.contains(at("2026-12-05T22:59:00Z")));
        assert!(w.contains(at("2026-12-05T23:30:00Z")));
        assert!(w.contains(at("2026-12-06T00:59:00Z")), "past midnight");
        assert!(!w.contains(at("2026-12-06T01:00:00Z")));
        let m = Maintenance {
            hosts: vec!["fleet-2".into()],
            services: vec![],
            when: w,
            reason: "kernel".into(),
        };
        let on = |host| Names {
            host,
            container: None,
            services: vec![],
        };
        let now = at("2026-12-05T23:30:00Z");
        assert_eq!(
            held(&on("fleet-2"), &[], std::slice::from_ref(&m), now).as_deref(),
            Some("maintenance window: kernel")
        );
        assert!(held(&on("fleet-1"), &[], &[m], now).is_none());
    }

    #[test]
    fn the_file_round_trips_and_drops_expired_silences() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s/silences.json");
        assert!(load(&path).expect("missing is empty").is_empty());
        let now = at("2026-12-05T20:00:00Z");
        let a = new(&[], "api", Duration::from_secs(60), "", "", now);
        let b = new(&[], "web", Duration::from_secs(7200), "", "", now);
        save(&path, &[a, b.clone()], at("2026-12-05T20:30:00Z")).expect("save");
        assert_eq!(load(&path).expect("load"), vec![b]);
        std::fs::write(&path, "{not json").expect("write");
        let e = load(&path).expect_err("bad file").to_string();
        assert!(e.contains("not a silences file"), "{e}");
    }
}
