//! Append-only audit trail of every mutating action, as JSON Lines.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339.
    pub time: String,
    /// Local user who ran flotilla.
    pub user: String,
    pub host: String,
    pub container: String,
    pub action: String,
    /// "ok" or the error text.
    pub result: String,
    /// A file holding the last log lines of a container a deploy removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

impl AuditRecord {
    pub fn new(host: &str, container: &str, action: &str, result: &Result<(), String>) -> Self {
        AuditRecord {
            time: jiff::Timestamp::now().to_string(),
            user: local_user(),
            host: host.to_owned(),
            container: container.to_owned(),
            action: action.to_owned(),
            result: match result {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.clone(),
            },
            logs: None,
        }
    }
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        // Cron jobs and CI often run without $USER; the uid still names someone.
        .or_else(|| whoami::username().ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Where the audit log lives: `$XDG_STATE_HOME/flotilla/audit.jsonl`
/// (default `~/.local/state/flotilla/audit.jsonl`), or `FLOTILLA_AUDIT_LOG`.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        AuditLog { path }
    }

    pub fn from_env() -> Self {
        AuditLog::new(crate::private::audit_log_path())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record; one `write` per line so concurrent writers don't interleave.
    pub fn append(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut file = crate::private::append(&self.path)?;
        file.write_all(line.as_bytes())
    }

    /// The newest `limit` records, oldest first. Unparsable lines are skipped
    /// and counted, so one corrupt line cannot hide the trail.
    pub fn tail(&self, limit: usize) -> std::io::Result<(Vec<AuditRecord>, usize)> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        let mut records = std::collections::VecDeque::with_capacity(limit.min(4096));
        let mut bad = 0;
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<AuditRecord>(&line) {
                Ok(r) => {
                    if records.len() == limit {
                        records.pop_front();
                    }
                    records.push_back(r);
                }
                Err(_) => bad += 1,
            }
        }
        Ok((records.into(), bad))
    }
}

/// Follows the audit log's end: what other processes (a deploy, `watch
/// --autoheal`) and this one append, read from where the last read stopped.
#[derive(Debug, Clone)]
pub struct AuditTail {
    offset: u64,
}

/// Bytes read per call at most: a burst is taken over a few calls.
const TAIL_CHUNK: u64 = 1 << 20;

impl AuditTail {
    /// From the log's current end (nothing old is read).
    pub fn at_end(log: &AuditLog) -> Self {
        let offset = std::fs::metadata(log.path()).map_or(0, |m| m.len());
        AuditTail { offset }
    }

    /// Records appended since the last call (complete lines only; a line
    /// being written is read next time). A log that shrank (rotated) is
    /// read from its start.
    pub fn read_new(&mut self, log: &AuditLog) -> std::io::Result<Vec<AuditRecord>> {
        use std::io::{Read, Seek};
        let mut file = match std::fs::File::open(log.path()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        file.seek(std::io::SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.take(TAIL_CHUNK).read_to_end(&mut buf)?;
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        self.offset += end as u64 + 1;
        let mut records = Vec::new();
        for line in buf[..end].split(|b| *b == b'\n') {
            match serde_json::from_slice::<AuditRecord>(line) {
                Ok(r) => records.push(r),
                // One bad line must not hide the rest (as in `tail`).
                Err(e) if !line.is_empty() => {
                    tracing::warn!("audit log {}: skipped a line: {e}", log.path().display());
                }
                Err(_) => {}
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_then_tail_round_trips_and_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::new(dir.path().join("state/flotilla/audit.jsonl"));
        for i in 0..5 {
            let result = if i == 3 {
                Err("boom".to_owned())
            } else {
                Ok(())
            };
            log.append(&AuditRecord::new(
                "fleet-1",
                &format!("c{i}"),
                "restart",
                &result,
            ))
            .expect("append");
        }
        let (records, bad) = log.tail(3).expect("tail");
        assert_eq!(bad, 0);
        let names: Vec<&str> = records.iter().map(|r| r.container.as_str()).collect();
        assert_eq!(names, ["c2", "c3", "c4"]);
        assert_eq!(records[1].result, "boom");
        assert_eq!(records[0].result, "ok");
        assert!(records[0].time.ends_with('Z'));
    }

    #[test]
    fn corrupt_lines_are_counted_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        log.append(&AuditRecord::new("h", "c", "stop", &Ok(())))
            .expect("append");
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{not json\n");
        std::fs::write(&path, text).expect("write");
        log.append(&AuditRecord::new("h", "d", "start", &Ok(())))
            .expect("append");
        let (records, bad) = log.tail(10).expect("tail");
        assert_eq!(records.len(), 2);
        assert_eq!(bad, 1);
    }

    #[test]
    fn the_tail_reads_only_what_was_appended_in_whole_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        let mut tail = AuditTail::at_end(&log);
        assert!(tail.read_new(&log).expect("missing is empty").is_empty());
        log.append(&AuditRecord::new("h", "old", "stop", &Ok(())))
            .expect("append");
        let mut tail = AuditTail::at_end(&log);
        assert!(tail.read_new(&log).expect("read").is_empty(), "nothing old");
        log.append(&AuditRecord::new("h", "a", "restart", &Ok(())))
            .expect("append");
        // Half a line: left for the next read.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(b"{\"time\":").expect("write");
        let got = tail.read_new(&log).expect("read");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].container, "a");
        assert!(tail.read_new(&log).expect("read").is_empty());
        // Rotated: read from the start.
        std::fs::write(&path, "").expect("truncate");
        log.append(&AuditRecord::new("h", "b", "kill", &Ok(())))
            .expect("append");
        let got = tail.read_new(&log).expect("read");
        assert_eq!(
            got.iter().map(|r| r.container.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn missing_log_is_empty() {
        let log = AuditLog::new(PathBuf::from("/nonexistent/flotilla/audit.jsonl"));
        assert_eq!(log.tail(10).expect("tail"), (Vec::new(), 0));
    }
}
