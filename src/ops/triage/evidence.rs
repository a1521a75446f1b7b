//! What explains a finding: the facts gathered per container and host, and
//! their wording. Pure; `collect` fills `Evidence` over the network.

use std::collections::{BTreeMap, HashMap};

use super::{ErrorCount, Kind};
use crate::fleet::compose::file::Drift;
use crate::fleet::vitals::Vitals;
use crate::fleet::{ContainerDetails, ContainerInfo, HostState, LogStream};

/// One log line kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceLine {
    pub stream: LogStream,
    /// Unix nanoseconds, when Docker stamped it.
    pub time: Option<i128>,
    pub text: String,
}

/// What was gathered about one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerEvidence {
    pub details: Option<ContainerDetails>,
    /// The newest log lines, oldest first.
    pub logs: Vec<EvidenceLine>,
    /// Earliest non-zero `die` in the daemon's event buffer, and how many
    /// such exits the buffer holds (fewer than the restarts: it forgot some).
    pub failing_since: Option<jiff::Timestamp>,
    pub failures_seen: usize,
    /// Exit code of the latest `die` event (a restarted container's own
    /// state says 0 while it runs).
    pub last_exit: Option<i64>,
    /// Consecutive failed health checks and the check interval (inspect).
    pub failing_streak: Option<i64>,
    pub health_interval: Option<std::time::Duration>,
    /// Latest turn to unhealthy (`health_status: unhealthy` event).
    pub unhealthy_since: Option<jiff::Timestamp>,
    /// Why some of it could not be gathered.
    pub error: Option<String>,
}

/// Everything the grouping may cite.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// By (host name, container id).
    pub containers: HashMap<(String, String), ContainerEvidence>,
    /// Error lines by (host index, container id), as `assess` takes them.
    pub errors: BTreeMap<(usize, String), ErrorCount>,
    /// Reachable hosts' vitals, or why they could not be read.
    pub vitals: BTreeMap<String, Result<Vitals, String>>,
    /// The log window scanned for error bursts, as typed ("5m").
    pub window: String,
    /// Compose-managed containers that differ from their files, by host
    /// name; or why a host's projects could not be read.
    pub compose: BTreeMap<String, Result<Vec<Drift>, String>>,
}

/// Parses Docker's RFC 3339 times; the zero time means "never".
pub fn docker_time(s: &str) -> Option<jiff::Timestamp> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    (ts.as_second() > 0).then_some(ts)
}

/// "04:58:01Z" for evidence lines.
pub fn clock(ts: jiff::Timestamp) -> String {
    ts.strftime("%H:%M:%SZ").to_string()
}

/// Since when a container has had this problem, as far as the evidence tells.
pub fn container_since(
    kind: Kind,
    c: &ContainerInfo,
    ev: Option<&ContainerEvidence>,
    errors: Option<&ErrorCount>,
) -> Option<jiff::Timestamp> {
    let details = ev.and_then(|e| e.details.as_ref());
    match kind {
        // The loop began at the first failed exit, if Docker's event buffer
        // still holds every restart; else at creation, as far as we can tell.
        Kind::CrashLoop => {
            let restarts = details.map(|d| d.restart_count).or(c.restart_count);
            ev.filter(|e| restarts.is_some_and(|r| e.failures_seen as i64 > r))
                .and_then(|e| e.failing_since)
                .or_else(|| docker_time(&c.created))
        }
        Kind::ExitedNonZero | Kind::Dead => details.and_then(|d| docker_time(&d.finished_at)),
        Kind::Unhealthy => ev.and_then(|e| {
            e.unhealthy_since
                .or_else(|| streak_from_interval(e))
                .or_else(|| e.details.as_ref().and_then(failing_streak_start))
        }),
        Kind::HealthStarting => details
            .and_then(|d| docker_time(&d.started_at))
            .or_else(|| c.started_at.as_deref().and_then(docker_time)),
        Kind::ErrorBurst => errors
            .and_then(|e| e.first)
            .and_then(|n| jiff::Timestamp::from_nanosecond(n).ok()),
        Kind::ImageDrift | Kind::ComposeDrift => docker_time(&c.created),
        Kind::HostDown
        | Kind::DiskPressure
        | Kind::MemoryPressure
        | Kind::HighLoad
        | Kind::Rule => None,
    }
}

/// A streak longer than the health log: the newest probe minus (streak − 1)
/// intervals, not before the container started.
fn streak_from_interval(e: &ContainerEvidence) -> Option<jiff::Timestamp> {
    let d = e.details.as_ref()?;
    let streak = e.failing_streak?;
    if streak <= d.health_log.len() as i64 {
        return None;
    }
    let newest = docker_time(&d.health_log.first()?.start)?;
    let interval = e.health_interval?;
    let back = interval.checked_mul(u32::try_from(streak - 1).ok()?)?;
    let since = newest
        .checked_sub(jiff::SignedDuration::try_from(back).ok()?)
        .ok()?;
    Some(match docker_time(&d.started_at) {
        Some(started) => since.max(started),
        None => since,
    })
}

/// Start of the trailing run of failed probes in the health log (which holds
/// the newest five, newest first).
fn failing_streak_start(d: &ContainerDetails) -> Option<jiff::Timestamp> {
    d.health_log
        .iter()
        .take_while(|p| p.exit_code != Some(0))
        .last()
        .and_then(|p| docker_time(&p.start))
}

/// Evidence lines for one container: a facts line, then log lines or health
/// probes, newest last. `n` bounds the log lines.
pub fn container_lines(
    kind: Kind,
    c: &ContainerInfo,
    ev: Option<&ContainerEvidence>,
    errors: Option<&ErrorCount>,
    window: &str,
    n: usize,
) -> Vec<String> {
    let who = format!("{} {}", c.host, c.name);
    let details = ev.and_then(|e| e.details.as_ref());
    let mut out = match kind {
        // A rule's matching lines come with its finding.
        Kind::Rule => Vec::new(),
        Kind::CrashLoop | Kind::ExitedNonZero | Kind::Dead => {
            let mut out = vec![exit_facts(&who, c, ev)];
            out.extend(log_lines(ev, n));
            out
        }
        Kind::Unhealthy | Kind::HealthStarting => health_lines(&who, c, details),
        Kind::ErrorBurst => errors.map_or_else(Vec::new, |e| burst_lines(&who, e, window, n)),
        Kind::ComposeDrift => vec![compose_drift_line(&who, c)],
        Kind::ImageDrift => vec![image_drift_line(&who, c, details)],
        Kind::HostDown | Kind::DiskPressure | Kind::MemoryPressure | Kind::HighLoad => Vec::new(),
    };
    if let Some(e) = ev.and_then(|e| e.error.as_ref()) {
        out.push(format!("  (evidence incomplete: {e})"));
    }
    out
}

/// "HOST NAME: exit code …, OOMKilled …, N restarts[, last exit T]". The
/// latest `die` event's code wins: a restarted container's own state says 0.
fn exit_facts(who: &str, c: &ContainerInfo, ev: Option<&ContainerEvidence>) -> String {
    let details = ev.and_then(|e| e.details.as_ref());
    let stopped = details.is_none_or(|d| d.state != crate::fleet::ContainerState::Running);
    let exit = ev
        .and_then(|e| e.last_exit)
        .or(details.and_then(|d| d.exit_code).filter(|_| stopped))
        .or(c.exit_code)
        .map_or_else(|| "?".to_owned(), |x| x.to_string());
    let oom = details.map_or("?", |d| if d.oom_killed { "yes" } else { "no" });
    let restarts = details
        .map(|d| d.restart_count)
        .or(c.restart_count)
        .map_or_else(|| "?".to_owned(), |r| r.to_string());
    let mut facts = format!("{who}: exit code {exit}, OOMKilled {oom}, {restarts} restarts");
    if let Some(t) = details.and_then(|d| docker_time(&d.finished_at)) {
        facts.push_str(&format!(", last exit {}", clock(t)));
    }
    facts
}

/// The status, then the health log's probes, newest last.
fn health_lines(who: &str, c: &ContainerInfo, details: Option<&ContainerDetails>) -> Vec<String> {
    let probes = details.map(|d| d.health_log.as_slice()).unwrap_or_default();
    let mut out = vec![format!(
        "{who}: {} ({} health checks shown, newest last)",
        c.status,
        probes.len()
    )];
    for p in probes.iter().rev() {
        let at = docker_time(&p.start).map_or_else(|| "?".to_owned(), clock);
        let code = p
            .exit_code
            .map_or_else(|| "?".to_owned(), |x| x.to_string());
        let output = p.output.lines().last().unwrap_or("").trim();
        out.push(format!(
            "  {at} exit {code}: {}",
            crate::redact::clean(output)
        ));
    }
    out
}

/// How many error lines in the window, then the last `n` of them.
fn burst_lines(who: &str, e: &ErrorCount, window: &str, n: usize) -> Vec<String> {
    let rate = e
        .rate_phrase()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let mut out = vec![format!(
        "{who}: {} error lines in the last {window}{rate}, the last:",
        e.lines
    )];
    let skip = e.recent.len().saturating_sub(n);
    for line in e.recent.iter().skip(skip) {
        out.push(format!("  {}", crate::redact::clean(line)));
    }
    out
}

/// Which Compose project the drifted container belongs to, and where.
fn compose_drift_line(who: &str, c: &ContainerInfo) -> String {
    let place = crate::fleet::compose::ComposeRef::of(c)
        .map(|r| {
            let dir = r.working_dir.unwrap_or_else(|| "?".into());
            format!("project {} in {dir}", r.project)
        })
        .unwrap_or_default();
    format!("{who}: {place}, running {}", c.image)
}

/// The image the container runs, with the short id it was created from.
fn image_drift_line(who: &str, c: &ContainerInfo, details: Option<&ContainerDetails>) -> String {
    let id = details
        .map(|d| d.image_id.trim_start_matches("sha256:"))
        .filter(|i| !i.is_empty())
        .map(|i| format!(" ({})", &i[..i.len().min(12)]))
        .unwrap_or_default();
    format!("{who}: {}{id}", c.image)
}

/// The last `n` log lines, stderr first: the newest stderr lines, topped up
/// with the newest stdout lines if stderr has fewer; shown in time order.
fn log_lines(ev: Option<&ContainerEvidence>, n: usize) -> Vec<String> {
    let Some(ev) = ev else {
        return Vec::new();
    };
    let mut picked: Vec<usize> = ev
        .logs
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, l)| l.stream == LogStream::Stderr)
        .map(|(i, _)| i)
        .take(n)
        .collect();
    if picked.len() < n {
        let room = n - picked.len();
        picked.extend(
            ev.logs
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, l)| l.stream == LogStream::Stdout)
                .map(|(i, _)| i)
                .take(room),
        );
    }
    picked.sort_unstable();
    picked
        .into_iter()
        .filter_map(|i| ev.logs.get(i))
        .map(|l| {
            let stream = match l.stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
            };
            let at = l
                .time
                .and_then(|t| jiff::Timestamp::from_nanosecond(t).ok())
                .map(|t| format!(" {}", clock(t)))
                .unwrap_or_default();
            format!("  [{stream}{at}] {}", crate::redact::clean(&l.text))
        })
        .collect()
}

/// Evidence for a host-level finding.
pub fn host_lines(kind: Kind, h: &HostState, vitals: Option<&Vitals>) -> Vec<String> {
    let name = &h.spec.name;
    match kind {
        Kind::HostDown => {
            let reason = h.unreachable().unwrap_or("no answer");
            let since = h
                .down_since
                .map(|t| format!(" (failing since {})", clock(t)))
                .unwrap_or_default();
            vec![format!("{name}: {reason}{since}")]
        }
        Kind::DiskPressure => vitals.map(|v| disk_lines(name, v)).unwrap_or_default(),
        Kind::MemoryPressure => vitals
            .map(|v| vec![format!("{name}: {}", v.mem_phrase())])
            .unwrap_or_default(),
        Kind::HighLoad => vitals
            .map(|v| vec![format!("{name}: {}", v.load_phrase())])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The data root's free space, and what Docker holds there where it was read.
fn disk_lines(name: &str, v: &Vitals) -> Vec<String> {
    let mut lines = vec![format!("{name}: {}", v.disk_phrase())];
    match &v.docker_disk {
        Some(Ok(d)) => lines.push(format!(
            "{name}: docker: {} — `flotilla prune --host {name} --dry-run` shows what can go",
            d.phrase()
        )),
        Some(Err(e)) => lines.push(format!("{name}: docker's disk usage not read: {e}")),
        None => {}
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::details::HealthProbe;
    use crate::fleet::fixtures::container;

    fn crashed() -> (ContainerInfo, ContainerEvidence) {
        let c = container(
            "fleet-1",
            "crashloop",
            "flotilla-test/crasher:latest",
            "restarting",
            None,
            "Restarting (1) 5 seconds ago",
        );
        let details = ContainerDetails {
            exit_code: Some(1),
            restart_count: 7,
            finished_at: "2026-11-30T04:58:01.5Z".into(),
            ..details()
        };
        let line = |stream, s: u32, text: &str| EvidenceLine {
            stream,
            time: Some(i128::from(1_796_014_000 + s) * 1_000_000_000),
            text: text.into(),
        };
        let ev = ContainerEvidence {
            details: Some(details),
            logs: vec![
                line(LogStream::Stdout, 0, "crasher starting (pid 1)"),
                line(
                    LogStream::Stderr,
                    2,
                    "FATAL crasher: cannot open /etc/crasher.conf",
                ),
                line(
                    LogStream::Stdout,
                    3,
                    "crasher starting (pid 1) DB_PASSWORD=hunter2",
                ),
                line(
                    LogStream::Stderr,
                    5,
                    "FATAL crasher: cannot open /etc/crasher.conf",
                ),
                line(LogStream::Stdout, 6, "crasher starting (pid 1)"),
            ],
            ..ContainerEvidence::default()
        };
        (c, ev)
    }

    fn details() -> ContainerDetails {
        ContainerDetails::from_inspect(bollard::models::ContainerInspectResponse::default())
    }

    #[test]
    fn a_crash_cites_exit_code_restarts_and_stderr_first() {
        let (c, ev) = crashed();
        let lines = container_lines(Kind::CrashLoop, &c, Some(&ev), None, "5m", 3);
        assert_eq!(
            lines[0],
            "fleet-1 shop-crashloop-1: exit code 1, OOMKilled no, 7 restarts, last exit 04:58:01Z"
        );
        // Both stderr lines, then the newest stdout line, in time order.
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[1].starts_with("  [stderr "), "{lines:?}");
        assert!(lines[1].ends_with("] FATAL crasher: cannot open /etc/crasher.conf"));
        assert!(lines[2].starts_with("  [stderr "));
        assert!(lines[3].starts_with("  [stdout "));
        let two = container_lines(Kind::CrashLoop, &c, Some(&ev), None, "5m", 2);
        assert!(two[1..].iter().all(|l| l.contains("[stderr")), "{two:?}");
        let all = container_lines(Kind::CrashLoop, &c, Some(&ev), None, "5m", 5);
        assert!(
            all.iter().any(|l| l.contains("DB_PASSWORD=••••••")),
            "{all:?}"
        );
        assert!(!all.iter().any(|l| l.contains("hunter2")));
    }

    #[test]
    fn unhealthy_cites_probes_and_the_streak_start() {
        let c = container(
            "fleet-1",
            "sick",
            "flotilla-test/app:broken",
            "running",
            Some("unhealthy"),
            "Up 2 minutes (unhealthy)",
        );
        let probe = |s: &str, code| HealthProbe {
            start: format!("2026-11-30T04:5{s}Z"),
            exit_code: Some(code),
            output: "GET /health 503: database unreachable\n".into(),
        };
        // Newest first, as inspect is flattened.
        let details = ContainerDetails {
            health_log: vec![probe("8:04", 1), probe("8:02", 1), probe("8:00", 0)],
            ..details()
        };
        let ev = ContainerEvidence {
            details: Some(details),
            ..ContainerEvidence::default()
        };
        let lines = container_lines(Kind::Unhealthy, &c, Some(&ev), None, "5m", 5);
        assert_eq!(
            lines,
            [
                "fleet-1 shop-sick-1: Up 2 minutes (unhealthy) (3 health checks shown, newest last)",
                "  04:58:00Z exit 0: GET /health 503: database unreachable",
                "  04:58:02Z exit 1: GET /health 503: database unreachable",
                "  04:58:04Z exit 1: GET /health 503: database unreachable",
            ]
        );
        let since = container_since(Kind::Unhealthy, &c, Some(&ev), None);
        assert_eq!(
            since.map(|t| t.to_string()),
            Some("2026-11-30T04:58:02Z".into())
        );
        // A streak of 10 at 2 s: nine intervals before the newest probe.
        let streak = ContainerEvidence {
            failing_streak: Some(10),
            health_interval: Some(std::time::Duration::from_secs(2)),
            ..ev.clone()
        };
        assert_eq!(
            container_since(Kind::Unhealthy, &c, Some(&streak), None).map(|t| t.to_string()),
            Some("2026-11-30T04:57:46Z".into())
        );
        let event = "2026-11-30T04:57:00Z".parse().ok();
        let ev = ContainerEvidence {
            unhealthy_since: event,
            ..ev
        };
        assert_eq!(container_since(Kind::Unhealthy, &c, Some(&ev), None), event);
    }

    #[test]
    fn crash_loop_since_prefers_the_first_failed_exit() {
        let (c, mut ev) = crashed();
        assert_eq!(
            container_since(Kind::CrashLoop, &c, Some(&ev), None).map(|t| t.to_string()),
            Some("2026-11-25T19:49:36Z".into()),
            "created, without events"
        );
        ev.failing_since = "2026-11-30T04:00:00Z".parse().ok();
        ev.failures_seen = 3;
        assert_eq!(
            container_since(Kind::CrashLoop, &c, Some(&ev), None).map(|t| t.to_string()),
            Some("2026-11-25T19:49:36Z".into()),
            "the buffer forgot earlier restarts"
        );
        ev.failures_seen = 8;
        assert_eq!(
            container_since(Kind::CrashLoop, &c, Some(&ev), None),
            ev.failing_since
        );
        assert_eq!(
            container_since(Kind::ExitedNonZero, &c, Some(&ev), None).map(|t| t.to_string()),
            Some("2026-11-30T04:58:01.5Z".into())
        );
        assert_eq!(docker_time("0001-01-01T00:00:00Z"), None);
    }

    #[test]
    fn disk_pressure_evidence_names_what_docker_holds_once_read() {
        let fleet = crate::fleet::fixtures::sample_fleet();
        let h = &fleet.hosts[1];
        let gib = 1u64 << 30;
        let mut v = Vitals {
            load1: 0.1,
            load5: 0.1,
            cpus: 2,
            mem_total_bytes: 8 * gib,
            mem_available_bytes: 4 * gib,
            disk_total_bytes: 50 * gib,
            disk_free_bytes: 2 * gib,
            docker_root: "/var/lib/docker".into(),
            uptime_s: 60,
            docker_disk: None,
            compose: Vec::new(),
        };
        let lines = host_lines(Kind::DiskPressure, h, Some(&v));
        assert_eq!(
            lines,
            ["fleet-2: /var/lib/docker: 2.0 GiB free of 50.0 GiB (4.0 %)"]
        );
        v.docker_disk = Some(Ok(crate::fleet::disk::DockerDisk {
            images_bytes: 12 * gib / 10,
            images_reclaimable_bytes: 800 << 20,
            containers_bytes: 40 << 20,
            volumes_bytes: 3 * gib,
            reclaimable_bytes: (800 << 20) + (1 << 20),
            containers_reclaimable_bytes: 1 << 20,
            ..Default::default()
        }));
        let lines = host_lines(Kind::DiskPressure, h, Some(&v));
        assert_eq!(
            lines[1],
            "fleet-2: docker: images 1.2 GiB (800.0 MiB reclaimable), \
             containers 40.0 MiB (1.0 MiB reclaimable), volumes 3.0 GiB (0 B reclaimable), \
             build cache 0 B (0 B reclaimable) — `flotilla prune --host fleet-2 --dry-run` \
             shows what can go"
        );
        v.docker_disk = Some(Err("/system/df not answered within 10s".into()));
        let lines = host_lines(Kind::DiskPressure, h, Some(&v));
        assert_eq!(
            lines[1],
            "fleet-2: docker's disk usage not read: /system/df not answered within 10s"
        );
    }
}
