//! What a long-running `watch` remembers (`--state FILE`): the findings it
//! has open and whether each was announced, the ids chat services gave the
//! opening messages, and how far each followed log got. A restarted watch
//! announces nothing old and reads no log line twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::logs::Cursor;
use crate::ops::triage::Finding;

/// Bumped when the file's meaning changes; another version starts afresh.
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Open {
    pub finding: Finding,
    pub opened: jiff::Timestamp,
    /// Announced (sent on); false while silenced or during a deploy, so it
    /// is sent once that ends if it still holds.
    pub sent: bool,
    /// Webhooks the opening went to (digests of their URLs, never the
    /// URLs): the resolve goes there.
    #[serde(default)]
    pub sent_to: BTreeSet<String>,
    /// Message ids services gave the opening, by webhook digest.
    #[serde(default)]
    pub refs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchState {
    pub version: u32,
    /// By alert key.
    pub open: BTreeMap<String, Open>,
    /// Log positions by "host/container id".
    #[serde(default)]
    pub cursors: BTreeMap<String, Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("--state {}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--state {}: not a watch state file ({source}); move it away to start afresh", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("--state {}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `watch-state.json` in the state directory.
pub fn default_path() -> PathBuf {
    crate::private::state_file("watch-state.json")
}

/// The saved state; empty when there is none or it is of another version.
pub fn load(path: &Path) -> Result<WatchState, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh()),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let state: WatchState = serde_json::from_str(&text).map_err(|source| StateError::Parse {
        path: path.to_owned(),
        source,
    })?;
    Ok(if state.version == VERSION {
        state
    } else {
        fresh()
    })
}

fn fresh() -> WatchState {
    WatchState {
        version: VERSION,
        ..WatchState::default()
    }
}

/// The file's bytes for `state`.
pub fn encode(state: &WatchState) -> Vec<u8> {
    serde_json::to_vec(state).unwrap_or_default()
}

pub fn save(path: &Path, state: &WatchState) -> Result<(), StateError> {
    write(path, &encode(state))
}

/// Writes bytes made by [`encode`].
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    crate::private::replace(path, bytes).map_err(|source| StateError::Write {
        path: path.to_owned(),
        source,
    })
}

/// A webhook's name in the state file: a digest, as its URL holds a token.
pub fn webhook_id(url: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(url.as_bytes());
    data_encoding::HEXLOWER.encode(&digest[..6])
}

/// What changed between the open findings and the ones that hold now.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Keys of findings that opened (now in `open`).
    pub appeared: Vec<String>,
    /// Findings that no longer hold (taken out of `open`).
    pub resolved: Vec<(String, Open)>,
}

/// Brings `open` up to `now_holding` (by key): new ones open at `now`,
/// lasting ones take the newest wording, gone ones resolve.
pub fn reconcile(
    open: &mut BTreeMap<String, Open>,
    now_holding: Vec<(String, Finding)>,
    now: jiff::Timestamp,
) -> Changes {
    let mut changes = Changes::default();
    let mut next = BTreeMap::new();
    for (key, finding) in now_holding {
        match open.remove(&key) {
            Some(mut o) => {
                o.finding = finding;
                next.insert(key, o);
            }
            None => {
                next.insert(
                    key.clone(),
                    Open {
                        finding,
                        opened: now,
                        sent: false,
                        sent_to: BTreeSet::new(),
                        refs: BTreeMap::new(),
                    },
                );
                changes.appeared.push(key);
            }
        }
    }
    changes.resolved = std::mem::take(open).into_iter().collect();
    *open = next;
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::triage::{Kind, Severity};

    fn finding(container: &str, summary: &str) -> Finding {
        Finding {
            severity: Severity::High,
            kind: Kind::Unhealthy,
            host: "fleet-1".into(),
            container: Some(container.into()),
            id: None,
            service: None,
            summary: summary.into(),
            rule: None,
        }
    }

    #[test]
    fn reconcile_opens_updates_and_resolves() {
        let t0: jiff::Timestamp = "2026-12-05T20:00:00Z".parse().expect("t");
        let t1: jiff::Timestamp = "2026-12-05T20:01:00Z".parse().expect("t");
        let mut open = BTreeMap::new();
        let c = reconcile(
            &mut open,
            vec![
                ("a".into(), finding("a", "one")),
                ("b".into(), finding("b", "x")),
            ],
            t0,
        );
        assert_eq!(c.appeared, ["a", "b"]);
        assert!(c.resolved.is_empty());
        open.get_mut("a").expect("a").sent = true;
        let c = reconcile(&mut open, vec![("a".into(), finding("a", "two"))], t1);
        assert!(c.appeared.is_empty());
        assert_eq!(c.resolved.len(), 1);
        assert_eq!(c.resolved[0].0, "b");
        let a = &open["a"];
        assert_eq!(
            (a.opened, a.sent, a.finding.summary.as_str()),
            (t0, true, "two")
        );
    }

    #[test]
    fn the_file_round_trips_and_another_version_starts_afresh() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("w.json");
        assert_eq!(load(&path).expect("none"), fresh());
        let mut s = fresh();
        let t: jiff::Timestamp = "2026-12-05T20:00:00Z".parse().expect("t");
        reconcile(&mut s.open, vec![("k".into(), finding("a", "one"))], t);
        save(&path, &s).expect("save");
        assert_eq!(load(&path).expect("load"), s);
        std::fs::write(&path, r#"{"version": 99, "open": {}}"#).expect("write");
        assert!(load(&path).expect("other version").open.is_empty());
        std::fs::write(&path, "nonsense").expect("write");
        let e = load(&path).expect_err("bad").to_string();
        assert!(e.contains("not a watch state file"), "{e}");
    }

    #[test]
    fn webhook_ids_hide_the_url() {
        let id = webhook_id("https://hooks.slack.com/services/T/B/SECRET");
        assert_eq!(id.len(), 12);
        assert!(!id.contains("SECRET"));
        assert_ne!(id, webhook_id("https://hooks.slack.com/services/T/B/OTHER"));
    }
}
