//! Append-only audit trail of every mutating action, as JSON Lines.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fleet::ContainerAction;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339 in the file.
    #[serde(with = "rfc3339")]
    pub time: jiff::Timestamp,
    /// Local user who ran flotilla.
    pub user: String,
    pub host: String,
    pub container: String,
    pub action: AuditAction,
    /// "ok" or the error text.
    pub result: String,
    /// A file holding the last log lines of a container a deploy removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

impl AuditRecord {
    pub fn new(
        host: &str,
        container: &str,
        action: AuditAction,
        result: &Result<(), String>,
    ) -> Self {
        AuditRecord {
            time: jiff::Timestamp::now(),
            user: local_user(),
            host: host.to_owned(),
            container: container.to_owned(),
            action,
            result: match result {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.clone(),
            },
            logs: None,
        }
    }

    /// Its time as the file has it, for screens and reports.
    pub fn when(&self) -> String {
        self.time.to_string()
    }
}

/// What `deploy`/`rollback` asked for; the audit names each run by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Deploy,
    Resume,
    Recover,
    Rollback,
}

impl Mode {
    pub fn kind(self) -> &'static str {
        match self {
            Mode::Deploy => "deploy",
            Mode::Resume => "resume",
            Mode::Recover => "recover",
            Mode::Rollback => "rollback",
        }
    }

    fn parse(text: &str) -> Option<Mode> {
        [Mode::Deploy, Mode::Resume, Mode::Recover, Mode::Rollback]
            .into_iter()
            .find(|m| m.kind() == text)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// What a record says was done. Written as the text flotilla always wrote
/// (`restart`, `exec sh -c 'x'`, `shell bash (exit 0)`,
/// `deploy:deployed a -> b [ID] down 0 ms`), so every audit log reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum AuditAction {
    /// restart, stop, start, kill.
    Container(ContainerAction),
    /// `exec CMD…`: the command as a shell reads it.
    Exec(String),
    /// `shell PROGRAM (exit N)`, or `shell` when none started.
    Shell(Option<(String, i64)>),
    /// `KIND:STEP DETAIL`: a step of a deploy run (`lock`, `image`,
    /// `deployed`, `kept-logs`…), its detail as written.
    Deploy {
        kind: Mode,
        step: String,
        detail: String,
    },
    /// `prune KIND NAME`: a container, image or volume `prune` removed.
    Prune(String),
    /// Text this flotilla does not know (a newer one's): kept as it is.
    Other(String),
}

/// A host's last record of a run says how it ended: one of these steps.
const FINAL_STEPS: [&str; 6] = [
    "deployed",
    "up_to_date",
    "unchanged",
    "rolled_back",
    "restored",
    "failed",
];

impl AuditAction {
    /// A deploy run's step: `KIND:STEP FROM -> TO [ID]`.
    pub fn step(kind: Mode, step: &str, from: &str, to: &str, id: &str) -> AuditAction {
        AuditAction::Deploy {
            kind,
            step: step.to_owned(),
            detail: format!("{from} -> {to} [{id}]"),
        }
    }

    /// Whether it ends a host's part of a deploy run.
    pub fn ends_a_host(&self) -> bool {
        matches!(self, AuditAction::Deploy { step, .. } if FINAL_STEPS.contains(&step.as_str()))
    }

    /// The same, a note after its detail (` down 0 ms` on a host's last record).
    pub fn with_note(mut self, note: &str) -> AuditAction {
        if let AuditAction::Deploy { detail, .. } = &mut self {
            detail.push(' ');
            detail.push_str(note);
        }
        self
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditAction::Container(a) => f.write_str(a.verb()),
            AuditAction::Exec(cmd) => write!(f, "exec {cmd}"),
            AuditAction::Shell(Some((program, code))) => write!(f, "shell {program} (exit {code})"),
            AuditAction::Shell(None) => f.write_str("shell"),
            AuditAction::Deploy { kind, step, detail } if detail.is_empty() => {
                write!(f, "{kind}:{step}")
            }
            AuditAction::Deploy { kind, step, detail } => write!(f, "{kind}:{step} {detail}"),
            AuditAction::Prune(what) => write!(f, "prune {what}"),
            AuditAction::Other(text) => f.write_str(text),
        }
    }
}

impl From<String> for AuditAction {
    fn from(text: String) -> AuditAction {
        let container = [
            ContainerAction::Restart,
            ContainerAction::Stop,
            ContainerAction::Start,
            ContainerAction::Kill,
        ]
        .into_iter()
        .find(|a| a.verb() == text);
        if let Some(a) = container {
            return AuditAction::Container(a);
        }
        if let Some(cmd) = text.strip_prefix("exec ") {
            return AuditAction::Exec(cmd.to_owned());
        }
        if let Some(what) = text.strip_prefix("prune ") {
            return AuditAction::Prune(what.to_owned());
        }
        if text == "shell" {
            return AuditAction::Shell(None);
        }
        if let Some(rest) = text.strip_prefix("shell ")
            && let Some((program, code)) = rest
                .strip_suffix(')')
                .and_then(|r| r.rsplit_once(" (exit "))
            && let Ok(code) = code.parse()
        {
            return AuditAction::Shell(Some((program.to_owned(), code)));
        }
        if let Some((kind, rest)) = text.split_once(':')
            && let Some(kind) = Mode::parse(kind)
        {
            let (step, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            if !step.is_empty() {
                return AuditAction::Deploy {
                    kind,
                    step: step.to_owned(),
                    detail: detail.to_owned(),
                };
            }
        }
        AuditAction::Other(text)
    }
}

impl From<&str> for AuditAction {
    fn from(text: &str) -> AuditAction {
        AuditAction::from(text.to_owned())
    }
}

impl From<AuditAction> for String {
    fn from(a: AuditAction) -> String {
        a.to_string()
    }
}

/// RFC 3339 text in the file, a timestamp in memory.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

pub fn local_user() -> String {
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
    fn actions_read_back_as_written_and_keep_their_meaning() {
        let cases: [(&str, AuditAction); 8] = [
            ("restart", AuditAction::Container(ContainerAction::Restart)),
            ("exec sh -c 'x y'", AuditAction::Exec("sh -c 'x y'".into())),
            (
                "shell bash (exit 0)",
                AuditAction::Shell(Some(("bash".into(), 0))),
            ),
            ("shell", AuditAction::Shell(None)),
            (
                "deploy:deployed app:v1 -> app:v2 [d1] down 0 ms",
                AuditAction::Deploy {
                    kind: Mode::Deploy,
                    step: "deployed".into(),
                    detail: "app:v1 -> app:v2 [d1] down 0 ms".into(),
                },
            ),
            (
                "rollback:kept-logs app:v2 (failed, rolled back) [d2]",
                AuditAction::Deploy {
                    kind: Mode::Rollback,
                    step: "kept-logs".into(),
                    detail: "app:v2 (failed, rolled back) [d2]".into(),
                },
            ),
            (
                "prune:images 3",
                AuditAction::Other("prune:images 3".into()),
            ),
            (
                "prune image app:v0",
                AuditAction::Prune("image app:v0".into()),
            ),
        ];
        for (text, action) in cases {
            assert_eq!(AuditAction::from(text), action, "{text}");
            assert_eq!(action.to_string(), text);
        }
        // A line an older flotilla wrote reads, and writes back the same.
        let line = r#"{"time":"2026-11-25T20:00:00Z","user":"ops","host":"h","container":"c","action":"deploy:lock a -> b [d]","result":"ok"}"#;
        let r: AuditRecord = serde_json::from_str(line).expect("an old line");
        assert!(
            matches!(&r.action, AuditAction::Deploy { kind: Mode::Deploy, step, .. } if step == "lock"),
            "{:?}",
            r.action
        );
        assert_eq!(serde_json::to_string(&r).expect("json"), line);
    }

    #[test]
    fn final_audit_records_are_recognised() {
        let ends = |t: &str| AuditAction::from(t).ends_a_host();
        assert!(ends("deploy:deployed app:v1 -> app:v2 [d1]"));
        assert!(ends("rollback:rolled_back a -> b [d]"));
        assert!(!ends("deploy:stop a -> b [d]"));
        assert!(!ends("restart"));
        let step = AuditAction::step(Mode::Resume, "failed", "a", "b", "d").with_note("down 5 ms");
        assert_eq!(step.to_string(), "resume:failed a -> b [d] down 5 ms");
        assert!(step.ends_a_host());
    }

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
                "restart".into(),
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
        assert!(records[0].when().ends_with('Z'));
    }

    #[test]
    fn corrupt_lines_are_counted_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        log.append(&AuditRecord::new("h", "c", "stop".into(), &Ok(())))
            .expect("append");
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{not json\n");
        std::fs::write(&path, text).expect("write");
        log.append(&AuditRecord::new("h", "d", "start".into(), &Ok(())))
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
        log.append(&AuditRecord::new("h", "old", "stop".into(), &Ok(())))
            .expect("append");
        let mut tail = AuditTail::at_end(&log);
        assert!(tail.read_new(&log).expect("read").is_empty(), "nothing old");
        log.append(&AuditRecord::new("h", "a", "restart".into(), &Ok(())))
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
        log.append(&AuditRecord::new("h", "b", "kill".into(), &Ok(())))
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
