//! The evidence of a container a deploy removes: its last log lines, kept in
//! the state directory (beside the audit log, in `kept-logs/`) before the
//! removal, with an audit record pointing at the file. So the logs of a
//! failed version survive its rollback. Keeping never fails a deploy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::engine::Engine;
use crate::fleet::LogStream;
use crate::ops::{AuditAction, AuditLog, AuditRecord};

/// Log lines kept per removed container.
pub const KEEP_LINES: usize = 200;
/// Characters kept of one line (a file stays under ~400 KB).
pub const LINE_CHARS: usize = 2000;
/// Files kept in the directory; older ones are pruned.
pub const KEEP_FILES: usize = 200;
/// Longest the logs may take to read before the removal goes on without them.
const READ_WITHIN: Duration = Duration::from_secs(10);

pub use super::engine::KeptLine;

/// Why the container goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The old container, after its replacement proved healthy.
    Replaced,
    /// The new container that failed, before the old one is put back.
    Failed,
}

impl Why {
    fn phrase(self) -> &'static str {
        match self {
            Why::Replaced => "replaced",
            Why::Failed => "failed, rolled back",
        }
    }
}

/// `kept-logs/` beside the audit log (the state directory).
pub fn dir(audit: &AuditLog) -> PathBuf {
    audit.path().with_file_name("kept-logs")
}

/// `<deploy id>-<host>-<container>.log`, each part made file-name safe.
pub fn file_name(deploy_id: &str, host: &str, container: &str) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .trim_start_matches('.')
            .to_owned()
    };
    format!("{}-{}-{}.log", safe(deploy_id), safe(host), safe(container))
}

/// What the file's heading says.
pub struct Header<'a> {
    pub host: &'a str,
    pub container: &'a str,
    pub image: &'a str,
    pub kind: &'a str,
    pub deploy_id: &'a str,
    pub why: Why,
    pub at: jiff::Timestamp,
    /// Its state and last health checks: what explains a failed check,
    /// which the log does not hold.
    pub notes: Vec<String>,
}

/// The file: `# ` heading lines, then one `TIME STREAM TEXT` line per log
/// line (`-` for what is unknown), the newest `KEEP_LINES`, each cut at
/// `LINE_CHARS`; the text is already free of escape sequences.
pub fn render(h: &Header, lines: &[KeptLine]) -> String {
    let skip = lines.len().saturating_sub(KEEP_LINES);
    let mut out = format!(
        "# flotilla kept the last {} log lines of {} ({}) on {} before {} {} removed it ({})\n# at {}\n",
        lines.len() - skip,
        h.container,
        h.image,
        h.host,
        h.kind,
        h.deploy_id,
        h.why.phrase(),
        h.at
    );
    for note in &h.notes {
        let note: String = note
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(LINE_CHARS)
            .collect();
        out.push_str(&format!("# {note}\n"));
    }
    for l in &lines[skip..] {
        let time = l
            .time
            .map_or_else(|| "-".to_owned(), crate::logs::format_ts_nanos);
        let stream = match l.stream {
            Some(LogStream::Stdout) => "stdout",
            Some(LogStream::Stderr) => "stderr",
            None => "-",
        };
        let mut text: String = l
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(LINE_CHARS)
            .collect();
        if l.text.chars().count() > LINE_CHARS {
            text.push_str(" … [line cut]");
        }
        out.push_str(&format!("{time} {stream} {text}\n"));
    }
    out
}

/// The heading lines of a kept file, without their `# `.
pub fn headings(text: &str) -> Vec<&str> {
    text.lines().filter_map(|l| l.strip_prefix("# ")).collect()
}

/// State and health checks of an inspected container, as heading notes.
pub fn notes(d: &crate::fleet::ContainerDetails) -> Vec<String> {
    let mut out = vec![format!(
        "state: {}, exit code {}, OOMKilled {}, {} restarts{}",
        d.state,
        d.exit_code
            .map_or_else(|| "-".to_owned(), |c| c.to_string()),
        if d.oom_killed { "yes" } else { "no" },
        d.restart_count,
        d.health
            .as_ref()
            .map(|h| format!(", health {h}"))
            .unwrap_or_default()
    )];
    // Newest first in the details; oldest first here, like the log.
    for p in d.health_log.iter().rev() {
        let code = p
            .exit_code
            .map_or_else(|| "-".to_owned(), |c| c.to_string());
        out.push(format!(
            "health check {} exit {code}: {}",
            p.start,
            p.output.replace('\n', " ")
        ));
    }
    out
}

/// The lines of a kept file, as `render` wrote them (headings skipped).
pub fn parse(text: &str) -> Vec<KeptLine> {
    text.lines()
        .filter(|l| !l.starts_with("# "))
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (time, stream, rest) = (parts.next(), parts.next(), parts.next());
            let time = time
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_nanosecond());
            let stream = match stream {
                Some("stdout") => Some(LogStream::Stdout),
                Some("stderr") => Some(LogStream::Stderr),
                _ => None,
            };
            KeptLine {
                stream,
                time,
                text: rest.unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

/// Writes the file into `dir` and prunes the oldest beyond `KEEP_FILES`.
pub fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    crate::private::write(&path, text.as_bytes())?;
    prune(dir, KEEP_FILES);
    Ok(path)
}

/// Keeps the newest `keep` `.log` files; a file that cannot be removed stays.
fn prune(dir: &Path, keep: usize) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = read
        .filter_map(|e| {
            let e = e.ok()?;
            let path = e.path();
            (path.extension()? == "log").then_some(())?;
            Some((e.metadata().ok()?.modified().ok()?, path))
        })
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("kept logs {}: {e}", path.display());
        }
    }
}

/// The run a container is removed in: where its logs go and what the audit
/// calls the run.
pub trait Keeping: Sync {
    fn audit(&self) -> Option<&AuditLog>;
    fn kind(&self) -> crate::ops::audit::Mode;
    fn deploy_id(&self) -> &str;
}

/// Before a deploy removes container `name` on `host`: keep its last lines
/// and audit where (as `KIND:kept-logs IMAGE (why) [ID]` on `container`, the
/// name people know it by). Does nothing without an audit log or when the
/// container is gone already; a failure is audited and logged, never raised.
pub async fn before_remove(
    engine: &dyn Engine,
    d: &dyn Keeping,
    host: &str,
    name: &str,
    container: &str,
    why: Why,
) {
    let Some(audit) = d.audit() else {
        return;
    };
    // Both reads at once: one round trip to a far host instead of two.
    let (inspected, logs) = tokio::join!(
        engine.inspect(name),
        tokio::time::timeout(READ_WITHIN, engine.logs_stamped(name, KEEP_LINES))
    );
    let (image, notes) = match inspected {
        // Created, never started (a replacement whose start never came):
        // it printed nothing, and a file would only pose as a failure's logs.
        Ok(Some(c)) if super::health::started_at(&c).is_none() => return,
        Ok(Some(c)) => {
            let image = c.config.as_ref().and_then(|c| c.image.clone());
            let details = crate::fleet::ContainerDetails::from_inspect(c);
            (image.unwrap_or_default(), notes(&details))
        }
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("{host}: inspect {name} before keeping its logs: {e}");
            (String::new(), Vec::new())
        }
    };
    let kept = match logs {
        Ok(Ok(lines)) => {
            let header = Header {
                host,
                container: name,
                image: &image,
                kind: d.kind().kind(),
                deploy_id: d.deploy_id(),
                why,
                at: jiff::Timestamp::now(),
                notes,
            };
            let text = render(&header, &lines);
            write(&dir(audit), &file_name(d.deploy_id(), host, name), &text)
                .map_err(|e| e.to_string())
        }
        Ok(Err(e)) => Err(format!("read logs of {name}: {e}")),
        Err(_) => Err(format!(
            "the logs of {name} did not come within {}s",
            READ_WITHIN.as_secs()
        )),
    };
    let action = AuditAction::Deploy {
        kind: d.kind(),
        step: "kept-logs".to_owned(),
        detail: format!("{image} ({}) [{}]", why.phrase(), d.deploy_id()),
    };
    let result = kept.as_ref().map(|_| ()).map_err(Clone::clone);
    let mut record = AuditRecord::new(host, container, action, &result);
    record.logs = kept.ok().map(|p| p.display().to_string());
    if let Err(e) = crate::ops::act::audit(audit, &record) {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize, stream: Option<LogStream>) -> KeptLine {
        KeptLine {
            stream,
            time: Some(1_796_014_000_000_000_000 + i as i128),
            text: format!("line {i}"),
        }
    }

    fn header() -> Header<'static> {
        Header {
            host: "fleet-1",
            container: "web",
            image: "app:broken",
            kind: "deploy",
            deploy_id: "d-1",
            why: Why::Failed,
            at: jiff::Timestamp::UNIX_EPOCH,
            notes: vec!["health check 04:46Z exit 1: GET /health 503\nbad".into()],
        }
    }

    #[test]
    fn keeps_the_newest_lines_cut_and_round_trips() {
        let mut lines: Vec<KeptLine> = (0..250).map(|i| line(i, Some(LogStream::Stderr))).collect();
        lines.push(KeptLine {
            stream: Some(LogStream::Stdout),
            time: None,
            text: format!("{}\u{7}\r", "x".repeat(LINE_CHARS + 10)),
        });
        let text = render(&header(), &lines);
        assert!(text.starts_with(
            "# flotilla kept the last 200 log lines of web (app:broken) on fleet-1 before deploy d-1 removed it (failed, rolled back)\n"
        ), "{text}");
        assert_eq!(
            headings(&text)[1..],
            [
                "at 1970-01-01T00:00:00Z",
                "health check 04:46Z exit 1: GET /health 503 bad"
            ]
        );
        let back = parse(&text);
        assert_eq!(back.len(), KEEP_LINES);
        assert_eq!(
            back[0],
            line(51, Some(LogStream::Stderr)),
            "the oldest kept"
        );
        assert_eq!(back[0].time, Some(1_796_014_000_000_000_051));
        let last = back.last().expect("last");
        assert_eq!((last.stream, last.time), (Some(LogStream::Stdout), None));
        assert!(last.text.ends_with(" … [line cut]"), "{}", last.text);
        assert!(!last.text.contains('\u{7}'));
        assert!(text.len() < KEEP_LINES * (LINE_CHARS + 80));
        // Unknown stream and time (an engine without them) read back as such.
        let plain = render(
            &header(),
            &[KeptLine {
                stream: None,
                time: None,
                text: "FATAL boom".into(),
            }],
        );
        assert_eq!(
            parse(&plain),
            [KeptLine {
                stream: None,
                time: None,
                text: "FATAL boom".into()
            }]
        );
    }

    #[test]
    fn file_names_are_safe_and_the_directory_is_pruned() {
        assert_eq!(
            file_name("20261130-ab", "fleet/1", "../web 1"),
            "20261130-ab-fleet_1-_web_1.log"
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        for i in 0..5 {
            let p = write(tmp.path(), &format!("f{i}.log"), "x").expect("write");
            // Distinct modification times, oldest first.
            let t = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + i);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .and_then(|f| f.set_modified(t))
                .expect("mtime");
        }
        std::fs::write(tmp.path().join("notes.txt"), "keep me").expect("write");
        prune(tmp.path(), 3);
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .expect("dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        left.sort();
        assert_eq!(left, ["f2.log", "f3.log", "f4.log", "notes.txt"]);
        let audit = AuditLog::new(tmp.path().join("state/audit.jsonl"));
        assert_eq!(dir(&audit), tmp.path().join("state/kept-logs"));
    }

    /// A one-host deploy of `to` over the fake fleet, audited into `dir`.
    async fn deploy(
        to: &str,
        health: &[bollard::models::HealthStatusEnum],
        dir: &Path,
        fault: Option<(
            crate::ops::deploy::fake::Op,
            crate::ops::deploy::fake::Fault,
        )>,
    ) -> AuditLog {
        use crate::config::{Amount, ContainerSelector, ServiceSpec};
        use crate::ops::deploy::fake::{Fake, HEALTHY, STARTING};
        use crate::ops::deploy::prepare::{self, Mode, Prepared, Request};
        use crate::ops::deploy::{Control, Delivery, execute};
        let fake = Fake::new(&["h1"]);
        fake.image("h1", "app:v1", "sha256:1111", &[STARTING, HEALTHY]);
        fake.image("h1", to, "sha256:2222", health);
        fake.container("h1", "web", "app:v1");
        if let Some((op, fault)) = fault {
            fake.fail("h1", op, 1, fault);
        }
        let service = ServiceSpec {
            name: "web".into(),
            hosts: vec!["h1".into()],
            container: ContainerSelector::Name("web".into()),
            health_timeout: Duration::from_secs(20),
            serial: vec![Amount::Count(1)],
            max_fail: Amount::Count(0),
            pre_deploy: None,
            health_cmd: None,
            stable_for: Duration::from_secs(1),
            autoheal: false,
            order: Some(crate::config::Order::StopFirst),
            stop_grace: std::time::Duration::ZERO,
            keep_images: 0,
        };
        let req = Request {
            mode: Mode::Deploy,
            image: Some(to.into()),
            serial: None,
            max_fail: None,
            delivery: Delivery::Stream { from: None },
            break_lock: false,
        };
        let Ok(Prepared::Ready(ready)) =
            prepare::prepare(&service, fake.handles(), &[], &req).await
        else {
            panic!("not ready");
        };
        let audit = AuditLog::new(dir.join("audit.jsonl"));
        let mut d = ready.deployment;
        d.audit = Some(audit.clone());
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let (_control, control_rx) = tokio::sync::watch::channel(Control::Run);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        tokio::time::timeout(Duration::from_secs(30), execute(d, tx, control_rx))
            .await
            .expect("the deploy ends");
        audit
    }

    fn kept_record(audit: &AuditLog) -> AuditRecord {
        let (records, _) = audit.tail(100).expect("audit");
        records
            .into_iter()
            .find(|r| r.action.to_string().starts_with("deploy:kept-logs"))
            .unwrap_or_else(|| panic!("no kept-logs record"))
    }

    #[tokio::test]
    async fn a_deploy_keeps_the_logs_of_what_it_removes_and_audits_where() {
        use crate::ops::deploy::fake::{HEALTHY, STARTING, UNHEALTHY};
        let tmp = tempfile::tempdir().expect("tempdir");
        // Rolled back: the failed new container's lines.
        let audit = deploy("app:v2", &[STARTING, UNHEALTHY], tmp.path(), None).await;
        let r = kept_record(&audit);
        assert!(
            r.action
                .to_string()
                .starts_with("deploy:kept-logs app:v2 (failed, rolled back) ["),
            "{r:?}"
        );
        assert_eq!(
            (r.host.as_str(), r.container.as_str(), r.result.as_str()),
            ("h1", "web", "ok")
        );
        let path = r.logs.expect("a file");
        assert!(
            path.starts_with(&dir(&audit).display().to_string()) && path.ends_with("-h1-web.log")
        );
        let text = std::fs::read_to_string(&path).expect("kept file");
        assert!(
            text.starts_with("# flotilla kept the last 0 log lines of web (app:v2) on h1"),
            "{text}"
        );
        assert!(
            text.contains("\n# state: "),
            "the container's state: {text}"
        );

        // Deployed: the old container's, under its aside name.
        let tmp = tempfile::tempdir().expect("tempdir");
        let audit = deploy("app:v3", &[STARTING, HEALTHY], tmp.path(), None).await;
        let r = kept_record(&audit);
        assert!(
            r.action
                .to_string()
                .starts_with("deploy:kept-logs app:v1 (replaced) ["),
            "{r:?}"
        );
        let path = r.logs.expect("a file");
        assert!(path.ends_with("-h1-web-flotilla-old.log"), "{path}");
    }

    /// The old container's stop failed after its replacement was created:
    /// the replacement goes unstarted, and no logs are kept for it.
    #[tokio::test]
    async fn a_container_that_never_started_leaves_no_kept_logs() {
        use crate::ops::deploy::fake::{Fault, HEALTHY, Op, STARTING};
        let tmp = tempfile::tempdir().expect("tempdir");
        let fault = Some((Op::Stop, Fault::Status(500)));
        let audit = deploy("app:v2", &[STARTING, HEALTHY], tmp.path(), fault).await;
        let (records, _) = audit.tail(100).expect("audit");
        let actions: Vec<String> = records.iter().map(|r| r.action.to_string()).collect();
        assert!(
            actions.iter().any(|a| a.contains("rollback")),
            "rolled back: {actions:?}"
        );
        assert!(
            !actions.iter().any(|a| a.starts_with("deploy:kept-logs")),
            "{actions:?}"
        );
    }
}
