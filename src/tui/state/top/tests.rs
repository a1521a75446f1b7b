use super::*;
use crate::fleet::top::{Counters, HostCounters, Reading};
use crate::tui::msg::Settings;
use crate::tui::testutil::sample_fleet;

/// A round where each running container of the sample fleet has used
/// `cpu(name, t)` seconds of CPU by host time `t`.
pub fn round(fleet: &FleetState, t: f64, cpu: impl Fn(&str, f64) -> f64) -> TopRound {
    fleet
        .hosts
        .iter()
        .filter(|h| h.is_up())
        .map(|h| {
            let containers = h
                .containers
                .iter()
                .filter(|c| c.is_running())
                .map(|c| {
                    let counters = Counters {
                        cpu_ns: Some((cpu(&c.name, t) * 1e9) as u64),
                        mem_bytes: Some(64 << 20),
                        mem_limit: Some(512 << 20),
                        net_rx: (t * 2048.0) as u64,
                        ..Counters::default()
                    };
                    (c.id.clone(), counters)
                })
                .collect();
            let host = HostCounters {
                cpu_busy: (t * 60.0) as u64,
                cpu_all: (t * 200.0) as u64,
                load1: 0.42,
                mem_total: 8 << 30,
                mem_available: 6 << 30,
            };
            let reading = Reading {
                at_s: t,
                host,
                containers,
                stale: Vec::new(),
            };
            (h.spec.name.clone(), Ok(reading))
        })
        .collect()
}

/// The worker uses 97 % of a CPU, the rest 2 %.
pub fn worker_burns(name: &str, t: f64) -> f64 {
    if name.contains("worker") {
        0.97 * t
    } else {
        0.02 * t
    }
}

#[test]
fn one_round_at_a_time_and_the_cursor_follows_its_container() {
    let fleet = sample_fleet();
    let settings = Settings::default();
    let ctx = Ctx {
        fleet: &fleet,
        settings: &settings,
        page: 10,
        compose: &Default::default(),
    };
    let mut top = TopState::default();
    assert!(matches!(
        top.tick().as_slice(),
        [Msg::Effect(AppEffect::ReadTop)]
    ));
    assert!(top.tick().is_empty(), "a round is under way");
    top.read(round(&fleet, 100.0, worker_burns), &fleet);
    assert!(top.rows().is_empty(), "rates need two readings");
    assert_eq!(top.tick().len(), 1);
    top.read(round(&fleet, 105.0, worker_burns), &fleet);
    let rows = top.rows();
    assert!(rows[0].container.contains("worker"), "{rows:?}");
    top.handle(Action::Down, &ctx);
    let chosen = rows[1].id.clone();
    // The first row cools down: the chosen container moves up, the cursor with it.
    // From 105 on, nobody uses anything.
    top.read(round(&fleet, 110.0, |n, _| worker_burns(n, 105.0)), &fleet);
    let rows = top.rows();
    assert_eq!(rows[top.cursor(&rows)].id, chosen);
    let msgs = top.handle(Action::SortNext, &ctx);
    assert!(matches!(msgs.as_slice(), [Msg::Say(s)] if s == "ranked by mem"));
    let msgs = top.handle(Action::Restart, &ctx);
    let [Msg::Confirm(_, keys)] = msgs.as_slice() else {
        panic!("a confirmation: {msgs:?}");
    };
    assert_eq!(keys[0].id, top.rows()[top.cursor(&top.rows())].id);
}

#[test]
fn a_host_that_fails_is_named_and_leaves_the_ranking() {
    let fleet = sample_fleet();
    let mut top = TopState::default();
    top.read(round(&fleet, 1.0, worker_burns), &fleet);
    top.read(round(&fleet, 2.0, worker_burns), &fleet);
    let mut failing = round(&fleet, 3.0, worker_burns);
    failing[0].1 = Err("counters not read within 5s".to_owned());
    top.read(failing, &fleet);
    assert!(top.rows().iter().all(|r| r.host != "fleet-1"));
    assert_eq!(top.errors["fleet-1"], "counters not read within 5s");
}
