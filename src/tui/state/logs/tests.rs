//! The log view's streams: resume points, reconnects, search.
use crate::logs::SearchMode;

use super::*;

fn raw(ts: &str, text: &str) -> RawLogLine {
    RawLogLine {
        stream: LogStream::Stdout,
        bytes: format!("{ts} {text}").into_bytes(),
    }
}

fn merged() -> LogsState {
    let src = |host: usize, name: &str| LogSource {
        host,
        host_name: format!("fleet-{}", host + 1),
        container_id: format!("id{host}"),
        name: name.into(),
    };
    LogsState::new(
        "web".into(),
        vec![src(0, "shop-web-1"), src(1, "shop-web-1")],
        100,
        1 << 20,
    )
}

#[test]
fn merged_lines_are_time_ordered_across_hosts() {
    let mut s = merged();
    s.push(
        0,
        "id0",
        vec![
            raw("2026-01-01T00:00:01Z", "a1"),
            raw("2026-01-01T00:00:03Z", "a3"),
        ],
    );
    s.push(1, "id1", vec![raw("2026-01-01T00:00:02Z", "b2")]);
    s.push(7, "id9", vec![raw("2026-01-01T00:00:00Z", "ignored")]);
    let texts: Vec<&str> = s.buffer.iter().map(|l| l.line.text.as_str()).collect();
    assert_eq!(texts, ["a1", "b2", "a3"]);
    assert_eq!(s.buffer.get(1).map(|l| l.host.as_str()), Some("fleet-2"));
    assert!(
        s.export()
            .starts_with("fleet-1 2026-01-01T00:00:01.000Z a1\n"),
        "{}",
        s.export()
    );
}

fn texts(s: &LogsState) -> Vec<&str> {
    s.buffer.iter().map(|l| l.line.text.as_str()).collect()
}

#[test]
fn a_reconnect_resumes_from_the_last_second_without_duplicates() {
    let mut s = merged();
    s.push(
        0,
        "id0",
        vec![
            raw("2026-01-01T00:00:01.5Z", "a"),
            raw("2026-01-01T00:00:02.25Z", "b"),
            raw("2026-01-01T00:00:02.25Z", "c"),
        ],
    );
    s.lost(0);
    assert!(
        s.notices
            .last()
            .is_some_and(|n| n.contains("connection lost"))
    );
    assert!(
        s.resume(1, Resume::Reconnect, |_| true).is_empty(),
        "other host"
    );
    let cmds = s.resume(0, Resume::Reconnect, |_| true);
    let since = "2026-01-01T00:00:02Z"
        .parse::<jiff::Timestamp>()
        .expect("ts")
        .as_second();
    assert_eq!(
        cmds,
        [(
            0,
            HostCommand::FollowLogs {
                container_id: "id0".into(),
                tail: u32::MAX,
                since: Some(since),
                follow: true,
                max_line_bytes: s.max_line_bytes,
            }
        )]
    );
    assert_eq!(
        s.notices.last().map(String::as_str),
        Some("shop-web-1 on fleet-1: stream resumed after reconnect")
    );
    // Docker replays second 2 on; a third line shares c's timestamp.
    s.push(
        0,
        "id0",
        vec![
            raw("2026-01-01T00:00:02.25Z", "b"),
            raw("2026-01-01T00:00:02.25Z", "c"),
            raw("2026-01-01T00:00:02.25Z", "c2"),
            raw("2026-01-01T00:00:03Z", "d"),
        ],
    );
    assert_eq!(texts(&s), ["a", "b", "c", "c2", "d"]);
    assert!(s.resume(0, Resume::Reconnect, |_| true).is_empty(), "once");
}

#[test]
fn an_ended_stream_resumes_when_its_container_runs_again() {
    let mut s = merged();
    s.push(0, "id0", vec![raw("2026-01-01T00:00:01Z", "a")]);
    // Just issued: don't hammer a container that is still stopping.
    assert_eq!(s.ended(0, "id0", "log stream ended", true), None);
    assert!(
        s.notices
            .last()
            .is_some_and(|n| n.ends_with("log stream ended"))
    );
    assert!(
        s.resume(0, Resume::Restart, |_| false).is_empty(),
        "stopped"
    );
    let cmds = s.resume(0, Resume::Restart, |id| id == "id0");
    assert_eq!(cmds.len(), 1);
    assert!(
        s.notices
            .last()
            .is_some_and(|n| n.ends_with("stream resumed (container running)"))
    );
    assert!(
        s.resume(0, Resume::Restart, |_| true).is_empty(),
        "live again"
    );
}

#[test]
fn search_highlights_without_hiding_and_filter_mode_hides() {
    let mut s = merged();
    let lines = (0..20)
        .map(|i| {
            raw(
                &format!("2026-01-01T00:00:{i:02}Z"),
                if i % 5 == 0 { "ERROR x" } else { "ok" },
            )
        })
        .collect();
    s.push(0, "id0", lines);
    s.set_search(
        Some(Search::new("error", SearchMode::Plain).expect("search")),
        6,
    );
    assert_eq!(s.visible().len(), 20, "context stays visible");
    assert_eq!(s.current, Some(15), "newest match first");
    assert!(!s.follow);
    assert!(s.jump(true, 6));
    assert_eq!(s.current, Some(0), "wraps around");
    assert!(s.jump(false, 6));
    assert_eq!(s.current, Some(15));
    assert_eq!(s.match_count(), 4);
    s.filter_mode = true;
    assert_eq!(s.visible(), [0, 5, 10, 15]);
}

#[test]
fn scrolling_leaves_follow_and_bottom_returns_to_it() {
    let mut s = merged();
    s.push(
        0,
        "id0",
        (0..50)
            .map(|i| raw(&format!("2026-01-01T00:00:{i:02}Z"), "x"))
            .collect(),
    );
    assert_eq!(s.first_row(50, 10), 40);
    s.scroll(-5, 10);
    assert!(!s.follow);
    assert_eq!(s.first_row(50, 10), 35);
    s.scroll(100, 10);
    assert!(s.follow, "scrolling to the end follows again");
    s.to_top();
    assert_eq!(s.first_row(50, 10), 0);
}

#[test]
fn eviction_keeps_the_viewport_on_the_same_lines() {
    let mut s = merged();
    s.push(
        0,
        "id0",
        (0..100)
            .map(|i| raw(&format!("2026-01-01T00:{:02}:{:02}Z", i / 60, i % 60), "x"))
            .collect(),
    );
    s.follow = false;
    s.top = 50;
    s.push(
        0,
        "id0",
        (0..10)
            .map(|i| raw(&format!("2026-01-01T01:00:{i:02}Z"), "y"))
            .collect(),
    );
    assert_eq!(s.buffer.len(), 100);
    assert_eq!(s.top, 40);
}
