use super::*;

use std::time::Duration;

use crate::config::alerts::Level;
use crate::fleet::LogStream;
use crate::fleet::fixtures::{sample_fleet, web_service};
use crate::ops::triage::Severity;

/// shop-web-1's id on fleet-1 and fleet-2 in the sample fleet.
const WEB1: &str = "web10123456789abcdef";
const WEB2: &str = "web20123456789abcdef";
const CRASH1: &str = "crashloop10123456789abcdef";
const PATTERN: &str = "re:FATAL|panic";

fn at(s: &str) -> jiff::Timestamp {
    s.parse().expect("time")
}

fn start() -> jiff::Timestamp {
    at("2026-12-05T20:00:00Z")
}

fn rule(name: &str, check: Check) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        check,
        service: None,
        container: None,
        severity: Level::High,
    }
}

/// At least two FATAL or panic lines within a minute.
fn fatal() -> RuleSpec {
    let mut r = rule(
        "fatal",
        Check::Log {
            pattern: PATTERN.into(),
            count: 2,
            window: Duration::from_secs(60),
        },
    );
    r.container = Some("shop-web-*".into());
    r
}

/// A line as Docker sends it with `timestamps=true`.
fn line(time: &str, text: &str) -> RawLogLine {
    RawLogLine {
        stream: LogStream::Stdout,
        bytes: format!("{time} {text}").into_bytes(),
    }
}

fn no_vitals() -> BTreeMap<String, Vitals> {
    BTreeMap::new()
}

fn hits_at(rules: &mut Rules, state: &FleetState, now: &str) -> Vec<Hit> {
    rules.check(state, &[], &no_vitals(), at(now))
}

fn follows(
    rules: &mut Rules,
    state: &FleetState,
    services: &[ServiceSpec],
) -> Vec<(HostId, String)> {
    let mut f: Vec<(HostId, String)> = rules
        .to_follow(state, services)
        .into_iter()
        .map(|f| (f.host, f.container_id))
        .collect();
    f.sort();
    f
}

// ------------------------------------------------------------ following

#[test]
fn running_covered_containers_are_followed_once_and_again_after_they_end() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    let mut got = rules.to_follow(&fleet, &[]);
    got.sort_by(|a, b| (a.host, &a.container_id).cmp(&(b.host, &b.container_id)));
    // fleet-3 is down: its stale shop-web-1 is not followed.
    assert_eq!(
        got,
        [
            Follow {
                host: 0,
                container_id: WEB1.into(),
                since: start().as_second(),
            },
            Follow {
                host: 1,
                container_id: WEB2.into(),
                since: start().as_second(),
            },
        ]
    );
    assert!(rules.to_follow(&fleet, &[]).is_empty(), "not twice");

    rules.ended("fleet-1", WEB1);
    assert_eq!(follows(&mut rules, &fleet, &[]), [(0, WEB1.to_owned())]);
    assert!(rules.to_follow(&fleet, &[]).is_empty());

    rules.host_lost("fleet-2");
    assert_eq!(follows(&mut rules, &fleet, &[]), [(1, WEB2.to_owned())]);

    // Ending a stream nobody follows changes nothing.
    rules.ended("fleet-1", "no-such-container");
    assert!(rules.to_follow(&fleet, &[]).is_empty());
}

#[test]
fn stopped_containers_are_not_followed() {
    let mut fleet = sample_fleet();
    let web = fleet.hosts[0]
        .containers
        .iter_mut()
        .find(|c| c.id == WEB1)
        .expect("web on fleet-1");
    web.state = "exited".into();
    let mut rules = Rules::new(&[fatal()], start());
    assert_eq!(follows(&mut rules, &fleet, &[]), [(1, WEB2.to_owned())]);
}

#[test]
fn only_log_rules_start_streams() {
    let fleet = sample_fleet();
    let specs = [
        rule(
            "restarts",
            Check::Restarts {
                count: 1,
                window: Duration::from_secs(60),
            },
        ),
        rule("disk", Check::DiskPercent(90.0)),
    ];
    let mut rules = Rules::new(&specs, start());
    assert!(rules.to_follow(&fleet, &[]).is_empty());
}

#[test]
fn container_and_service_selectors_restrict_what_is_followed() {
    let fleet = sample_fleet();
    let with = |service: Option<&str>, container: Option<&str>| {
        let mut r = fatal();
        r.service = service.map(str::to_owned);
        r.container = container.map(str::to_owned);
        r
    };
    let names = |rules: &mut Rules, services: &[ServiceSpec]| {
        let mut v: Vec<String> = rules
            .to_follow(&fleet, services)
            .iter()
            .map(|f| {
                let h = &fleet.hosts[f.host];
                let c = h
                    .containers
                    .iter()
                    .find(|c| c.id == f.container_id)
                    .expect("followed container exists");
                format!("{}/{}", h.spec.name, c.name)
            })
            .collect();
        v.sort();
        v
    };
    let services = [web_service()];

    // No selector: every running container of the up hosts.
    let mut r = Rules::new(&[with(None, None)], start());
    assert_eq!(
        names(&mut r, &services),
        [
            "fleet-1/shop-sick-1",
            "fleet-1/shop-web-1",
            "fleet-1/shop-worker-1",
            "fleet-2/shop-web-1",
            "fleet-2/shop-worker-1",
        ]
    );

    let mut r = Rules::new(&[with(None, Some("shop-w*"))], start());
    assert_eq!(
        names(&mut r, &services),
        [
            "fleet-1/shop-web-1",
            "fleet-1/shop-worker-1",
            "fleet-2/shop-web-1",
            "fleet-2/shop-worker-1",
        ]
    );

    let mut r = Rules::new(&[with(Some("web"), None)], start());
    assert_eq!(
        names(&mut r, &services),
        ["fleet-1/shop-web-1", "fleet-2/shop-web-1"]
    );

    // Both must admit the container.
    let mut r = Rules::new(&[with(Some("web"), Some("shop-worker-*"))], start());
    assert!(names(&mut r, &services).is_empty());

    // A service the config does not define covers nothing.
    let mut r = Rules::new(&[with(Some("nope"), None)], start());
    assert!(names(&mut r, &services).is_empty());

    // The crash-looping container is restarting, not running.
    let mut r = Rules::new(&[with(None, Some("shop-crashloop-1"))], start());
    assert!(names(&mut r, &services).is_empty());
}

#[test]
fn a_pattern_that_does_not_compile_follows_nothing() {
    let fleet = sample_fleet();
    let mut bad = fatal();
    bad.check = Check::Log {
        pattern: "re:(".into(),
        count: 1,
        window: Duration::from_secs(60),
    };
    let mut rules = Rules::new(&[bad], start());
    assert!(rules.to_follow(&fleet, &[]).is_empty());
}

// ------------------------------------------------------------- counting

#[test]
fn log_rule_counts_matching_lines_in_the_window_each_once() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    assert_eq!(rules.to_follow(&fleet, &[]).len(), 2);

    let l1 = line("2026-12-05T20:00:01.000000000Z", "FATAL boom");
    let l2 = line("2026-12-05T20:00:02.000000000Z", "panic: oh no");
    let quiet = line("2026-12-05T20:00:01.500000000Z", "all good");

    // A matching line asks for a look at once (a burst can be shorter
    // than the look interval); quiet lines do not.
    assert!(rules.lines("fleet-1", WEB1, &[l1.clone(), quiet.clone()]));
    let later = line("2026-12-05T20:00:01.700000000Z", "still good");
    assert!(!rules.lines("fleet-1", WEB1, &[later]));
    assert!(
        hits_at(&mut rules, &fleet, "2026-12-05T20:00:30Z").is_empty(),
        "one match is below count 2"
    );

    // The stream drops and is followed again: Docker replays from the
    // second of the last line, which must not count a second time.
    rules.ended("fleet-1", WEB1);
    let again = rules.to_follow(&fleet, &[]);
    assert_eq!(
        again,
        [Follow {
            host: 0,
            container_id: WEB1.into(),
            since: at("2026-12-05T20:00:01Z").as_second(),
        }]
    );
    rules.lines("fleet-1", WEB1, &[l1.clone(), quiet.clone()]);
    assert!(
        hits_at(&mut rules, &fleet, "2026-12-05T20:00:30Z").is_empty(),
        "a replayed line counted twice"
    );

    rules.lines("fleet-1", WEB1, std::slice::from_ref(&l2));
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:00:30Z");
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let hit = &hits[0];
    assert_eq!(hit.evidence, ["FATAL boom", "panic: oh no"]);
    assert_eq!(
        hit.next,
        "flotilla logs shop-web-1 --host fleet-1 --since 1m --grep 're:FATAL|panic'"
    );
    let f = &hit.finding;
    assert_eq!(f.kind, Kind::Rule);
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.host, "fleet-1");
    assert_eq!(f.container.as_deref(), Some("shop-web-1"));
    assert_eq!(f.service.as_deref(), Some("web"));
    assert_eq!(f.rule.as_deref(), Some("fatal"));
    assert!(f.summary.contains("\"fatal\""), "{}", f.summary);
    assert!(f.summary.contains("at least 2 lines"), "{}", f.summary);
    assert_eq!(
        crate::ops::alerts::key(f),
        "rule/fleet-1/shop-web-1#fatal",
        "a stable key"
    );

    // Both lines replayed once more: still the same two.
    rules.ended("fleet-1", WEB1);
    assert_eq!(rules.to_follow(&fleet, &[]).len(), 1);
    rules.lines("fleet-1", WEB1, &[l1, quiet, l2]);
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:00:30Z");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].evidence, ["FATAL boom", "panic: oh no"]);

    // The other container saw nothing.
    assert!(hits.iter().all(|h| h.finding.host == "fleet-1"));

    // A minute on, the first line has left the window.
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:01:01.500Z").is_empty());
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:05:00Z").is_empty());

    // New lines make it hold again, with only the new lines as evidence.
    rules.lines(
        "fleet-1",
        WEB1,
        &[
            line("2026-12-05T20:05:10.000000001Z", "FATAL again"),
            line("2026-12-05T20:05:10.000000002Z", "panic again"),
        ],
    );
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:05:20Z");
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert_eq!(hits[0].evidence, ["FATAL again", "panic again"]);
}

#[test]
fn a_rule_holds_per_container_not_across_them() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    rules.to_follow(&fleet, &[]);
    rules.lines(
        "fleet-1",
        WEB1,
        &[line("2026-12-05T20:00:01Z", "FATAL one")],
    );
    rules.lines(
        "fleet-2",
        WEB2,
        &[line("2026-12-05T20:00:02Z", "FATAL two")],
    );
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z").is_empty());

    rules.lines(
        "fleet-2",
        WEB2,
        &[line("2026-12-05T20:00:03Z", "panic three")],
    );
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].finding.host, "fleet-2");
    assert_eq!(hits[0].evidence, ["FATAL two", "panic three"]);
}

/// `Matches::recent` is cleared only once `times` is empty, so a hit can
/// cite lines that already left the window it reports on.
#[test]
fn evidence_is_only_lines_inside_the_window() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    rules.to_follow(&fleet, &[]);
    rules.lines(
        "fleet-1",
        WEB1,
        &[
            line("2026-12-05T20:00:01Z", "FATAL a"),
            line("2026-12-05T20:00:02Z", "FATAL b"),
        ],
    );
    assert_eq!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z").len(), 1);
    // a has left the window, b not yet.
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:01:01.500Z").is_empty());
    rules.lines("fleet-1", WEB1, &[line("2026-12-05T20:01:10Z", "FATAL c")]);
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:01:11Z").is_empty());
    rules.lines("fleet-1", WEB1, &[line("2026-12-05T20:01:12Z", "FATAL d")]);
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:01:13Z");
    assert_eq!(hits.len(), 1);
    // a and b are 70 s old in a "last 1m" alert.
    assert_eq!(hits[0].evidence, ["FATAL c", "FATAL d"]);
}

#[test]
fn lines_before_the_watch_began_never_count() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    rules.to_follow(&fleet, &[]);
    rules.lines(
        "fleet-1",
        WEB1,
        &[
            line("2026-12-05T19:59:58.000000000Z", "FATAL old"),
            line("2026-12-05T19:59:59.999999999Z", "panic old"),
            line("2026-12-05T20:00:00.500000000Z", "FATAL new"),
        ],
    );
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z");
    assert!(hits.is_empty(), "{hits:#?}");

    rules.lines(
        "fleet-1",
        WEB1,
        &[line("2026-12-05T20:00:01Z", "panic new")],
    );
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].evidence, ["FATAL new", "panic new"]);
}

#[test]
fn lines_of_unfollowed_containers_are_ignored() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    let two = [
        line("2026-12-05T20:00:01Z", "FATAL a"),
        line("2026-12-05T20:00:02Z", "FATAL b"),
    ];
    // Not followed yet.
    rules.lines("fleet-1", WEB1, &two);
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z").is_empty());
    rules.to_follow(&fleet, &[]);
    // Not covered by the rule.
    rules.lines("fleet-1", "worker10123456789abcdef", &two);
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z").is_empty());
}

#[test]
fn terminal_escapes_are_stripped_before_matching_and_in_evidence() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    rules.to_follow(&fleet, &[]);
    rules.lines(
        "fleet-1",
        WEB1,
        &[
            line("2026-12-05T20:00:01Z", "\x1b[31mFATAL\x1b[0m red"),
            line("2026-12-05T20:00:02Z", "\x1b[1mpanic\x1b[0m bold"),
        ],
    );
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].evidence, ["FATAL red", "panic bold"]);
}

#[test]
fn evidence_is_bounded_in_lines_and_bytes() {
    let fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    rules.to_follow(&fleet, &[]);
    let lines: Vec<RawLogLine> = (0..9)
        .map(|i| {
            line(
                &format!("2026-12-05T20:00:0{i}Z"),
                &format!("FATAL {i} {}", "é".repeat(400)),
            )
        })
        .collect();
    rules.lines("fleet-1", WEB1, &lines);
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z");
    assert_eq!(hits.len(), 1);
    let ev = &hits[0].evidence;
    assert_eq!(ev.len(), EVIDENCE_LINES);
    assert!(
        ev[0].starts_with("FATAL 4 "),
        "the newest are kept: {}",
        ev[0]
    );
    assert!(ev[4].starts_with("FATAL 8 "));
    for e in ev {
        assert!(e.len() <= EVIDENCE_BYTES + '…'.len_utf8(), "{}", e.len());
        assert!(e.ends_with('…'));
    }
}

#[test]
fn containers_that_are_gone_are_forgotten() {
    let mut fleet = sample_fleet();
    let mut rules = Rules::new(&[fatal()], start());
    rules.to_follow(&fleet, &[]);
    rules.lines(
        "fleet-1",
        WEB1,
        &[
            line("2026-12-05T20:00:01Z", "FATAL a"),
            line("2026-12-05T20:00:02Z", "FATAL b"),
        ],
    );
    assert_eq!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z").len(), 1);
    assert!(rules.cursors().contains_key(&format!("fleet-1/{WEB1}")));

    fleet.hosts[0].containers.retain(|c| c.id != WEB1);
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:10Z").is_empty());
    assert!(rules.cursors().is_empty());
}

// -------------------------------------------------------------- cursors

#[test]
fn cursors_carry_the_position_into_a_new_watch() {
    let fleet = sample_fleet();
    let old = [
        line("2026-12-05T20:00:01Z", "FATAL a"),
        line("2026-12-05T20:00:02Z", "panic b"),
        line("2026-12-05T20:00:02Z", "panic b again, same instant"),
    ];
    let mut first = Rules::new(&[fatal()], start());
    first.to_follow(&fleet, &[]);
    first.lines("fleet-1", WEB1, &old);
    assert_eq!(hits_at(&mut first, &fleet, "2026-12-05T20:00:10Z").len(), 1);
    let cursors = first.cursors();
    assert_eq!(
        cursors.keys().collect::<Vec<_>>(),
        [&format!("fleet-1/{WEB1}")],
        "only streams that saw lines"
    );

    let mut second = Rules::new(&[fatal()], start());
    second.restore(cursors);
    let mut f = second.to_follow(&fleet, &[]);
    f.sort_by_key(|f| f.host);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].container_id, WEB1);
    assert_eq!(f[0].since, at("2026-12-05T20:00:02Z").as_second());
    assert_eq!(
        f[1].since,
        start().as_second(),
        "no position, from the start"
    );

    // Docker replays from second 2: all already counted by the first watch.
    second.lines("fleet-1", WEB1, &old[1..]);
    assert!(
        hits_at(&mut second, &fleet, "2026-12-05T20:00:10Z").is_empty(),
        "replayed lines counted"
    );
    second.lines("fleet-1", WEB1, &[line("2026-12-05T20:00:03Z", "FATAL c")]);
    assert!(hits_at(&mut second, &fleet, "2026-12-05T20:00:10Z").is_empty());
    second.lines("fleet-1", WEB1, &[line("2026-12-05T20:00:04Z", "panic d")]);
    let hits = hits_at(&mut second, &fleet, "2026-12-05T20:00:10Z");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].evidence, ["FATAL c", "panic d"]);
    assert_eq!(hits[0].finding.container.as_deref(), Some("shop-web-1"));
}

// ------------------------------------------------------------- restarts

fn set_restarts(fleet: &mut FleetState, id: &str, n: i64) {
    let c = fleet
        .hosts
        .iter_mut()
        .flat_map(|h| h.containers.iter_mut())
        .find(|c| c.id == id)
        .expect("container");
    c.restart_count = Some(n);
}

fn restarts_rule() -> RuleSpec {
    rule(
        "flapping",
        Check::Restarts {
            count: 3,
            window: Duration::from_secs(600),
        },
    )
}

#[test]
fn restarts_rule_fires_on_a_rise_within_the_window() {
    let mut fleet = sample_fleet();
    let mut rules = Rules::new(&[restarts_rule()], start());
    // crashloop already has 7 restarts at the first look: not a rise.
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:00Z").is_empty());
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:01:00Z").is_empty());

    set_restarts(&mut fleet, CRASH1, 8);
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:02:00Z").is_empty());
    set_restarts(&mut fleet, CRASH1, 10);
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:03:00Z");
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let h = &hits[0];
    assert_eq!(h.finding.kind, Kind::Rule);
    assert_eq!(h.finding.host, "fleet-1");
    assert_eq!(h.finding.container.as_deref(), Some("shop-crashloop-1"));
    assert_eq!(h.finding.service.as_deref(), Some("crashloop"));
    assert_eq!(h.finding.rule.as_deref(), Some("flapping"));
    assert!(
        h.finding.summary.contains("3 restarts in the last 10m"),
        "{}",
        h.finding.summary
    );
    assert_eq!(
        h.evidence,
        ["fleet-1 shop-crashloop-1: Restarting (1) 5 seconds ago"]
    );
    assert_eq!(
        h.next,
        "flotilla logs shop-crashloop-1 --host fleet-1 -n 50 -t"
    );

    // Still inside the window since the count was 7.
    assert_eq!(hits_at(&mut rules, &fleet, "2026-12-05T20:09:00Z").len(), 1);
    // Ten minutes after the last rise, the window holds none.
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:13:30Z").is_empty());
}

#[test]
fn restarts_spread_wider_than_the_window_do_not_fire() {
    let mut fleet = sample_fleet();
    let mut rules = Rules::new(&[restarts_rule()], start());
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:00Z").is_empty());
    for (i, minute) in ["06", "12", "18", "24"].iter().enumerate() {
        set_restarts(&mut fleet, CRASH1, 8 + i64::try_from(i).expect("small"));
        let now = format!("2026-12-05T20:{minute}:00Z");
        assert!(
            hits_at(&mut rules, &fleet, &now).is_empty(),
            "one restart every 6 minutes is 2 in 10 at {now}"
        );
    }
}

#[test]
fn restarts_rule_respects_the_container_selector() {
    let mut fleet = sample_fleet();
    let mut r = restarts_rule();
    r.container = Some("shop-worker-*".into());
    let mut rules = Rules::new(&[r], start());
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:00:00Z").is_empty());
    set_restarts(&mut fleet, CRASH1, 20);
    assert!(hits_at(&mut rules, &fleet, "2026-12-05T20:01:00Z").is_empty());
    set_restarts(&mut fleet, "worker20123456789abcdef", 5);
    let hits = hits_at(&mut rules, &fleet, "2026-12-05T20:02:00Z");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].finding.host, "fleet-2");
    assert_eq!(hits[0].finding.container.as_deref(), Some("shop-worker-1"));
}

// --------------------------------------------------------------- vitals

fn vitals(load1: f64, cpus: u32, mem_used_pct: u64, disk_used_pct: u64) -> Vitals {
    let gib = 1u64 << 30;
    Vitals {
        load1,
        load5: load1,
        cpus,
        mem_total_bytes: 100 * gib,
        mem_available_bytes: (100 - mem_used_pct) * gib,
        disk_total_bytes: 100 * gib,
        disk_free_bytes: (100 - disk_used_pct) * gib,
        docker_root: "/var/lib/docker".into(),
        uptime_s: 3600,
        docker_disk: None,
        compose: Vec::new(),
    }
}

fn vitals_hits(specs: &[RuleSpec], v: Vitals) -> Vec<Hit> {
    let fleet = sample_fleet();
    let mut rules = Rules::new(specs, start());
    let all: BTreeMap<String, Vitals> = [("fleet-2".to_owned(), v)].into_iter().collect();
    rules.check(&fleet, &[], &all, at("2026-12-05T20:00:00Z"))
}

#[test]
fn disk_threshold() {
    let r = [rule("disk", Check::DiskPercent(90.0))];
    let hits = vitals_hits(&r, vitals(0.1, 4, 10, 95));
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let h = &hits[0];
    assert_eq!(h.finding.kind, Kind::Rule);
    assert_eq!(h.finding.host, "fleet-2");
    assert_eq!(h.finding.container, None);
    assert_eq!(h.finding.rule.as_deref(), Some("disk"));
    assert_eq!(h.next, "flotilla hosts --host fleet-2 --json");
    assert_eq!(h.evidence.len(), 1);
    assert!(
        h.evidence[0].starts_with("fleet-2: /var/lib/docker: "),
        "{}",
        h.evidence[0]
    );
    assert!(
        h.finding.summary.contains("\"disk\""),
        "{}",
        h.finding.summary
    );

    assert_eq!(
        vitals_hits(&r, vitals(0.1, 4, 10, 90)).len(),
        1,
        "at counts"
    );
    assert!(vitals_hits(&r, vitals(0.1, 4, 99, 89)).is_empty());
    let mut empty = vitals(0.1, 4, 10, 95);
    empty.disk_total_bytes = 0;
    assert!(vitals_hits(&r, empty).is_empty(), "unknown disk");
}

#[test]
fn memory_threshold() {
    let r = [rule("mem", Check::MemoryPercent(80.0))];
    let hits = vitals_hits(&r, vitals(0.1, 4, 85, 10));
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert_eq!(hits[0].finding.rule.as_deref(), Some("mem"));
    assert!(
        hits[0].evidence[0].contains("available of"),
        "{:?}",
        hits[0].evidence
    );
    assert!(vitals_hits(&r, vitals(0.1, 4, 79, 99)).is_empty());
    let mut empty = vitals(0.1, 4, 85, 10);
    empty.mem_total_bytes = 0;
    assert!(vitals_hits(&r, empty).is_empty(), "unknown memory");
}

#[test]
fn load_per_cpu_threshold() {
    let r = [rule("load", Check::LoadPerCpu(1.5))];
    let hits = vitals_hits(&r, vitals(6.4, 4, 10, 10));
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert!(
        hits[0].evidence[0].contains("on 4 CPUs"),
        "{:?}",
        hits[0].evidence
    );
    assert_eq!(
        vitals_hits(&r, vitals(6.0, 4, 10, 10)).len(),
        1,
        "at counts"
    );
    assert!(vitals_hits(&r, vitals(5.9, 4, 99, 99)).is_empty());
    assert!(
        vitals_hits(&r, vitals(6.4, 0, 10, 10)).is_empty(),
        "no CPU count"
    );
}

#[test]
fn each_threshold_rule_is_its_own_finding() {
    let r = [
        rule("disk", Check::DiskPercent(90.0)),
        rule("mem", Check::MemoryPercent(80.0)),
        rule("load", Check::LoadPerCpu(1.0)),
    ];
    let hits = vitals_hits(&r, vitals(8.0, 4, 95, 95));
    let mut names: Vec<&str> = hits
        .iter()
        .filter_map(|h| h.finding.rule.as_deref())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["disk", "load", "mem"]);
    assert!(vitals_hits(&r, vitals(0.5, 4, 50, 50)).is_empty());
}

#[test]
fn rule_levels_map_to_severities() {
    assert_eq!(severity(Level::Critical), Severity::Critical);
    assert_eq!(severity(Level::High), Severity::High);
    assert_eq!(severity(Level::Medium), Severity::Medium);
    assert_eq!(severity(Level::Low), Severity::Low);
}
