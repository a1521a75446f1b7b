use super::*;
use crate::fleet::top::HostCounters;

fn reading(at_s: f64, containers: &[(&str, u64, u64)]) -> Reading {
    Reading {
        at_s,
        host: HostCounters {
            cpu_busy: (at_s * 50.0) as u64,
            cpu_all: (at_s * 200.0) as u64,
            load1: 0.5,
            mem_total: 1000,
            mem_available: 250,
        },
        containers: containers
            .iter()
            .map(|(id, cpu_ns, net)| {
                let c = Counters {
                    cpu_ns: Some(*cpu_ns),
                    mem_bytes: Some(4096),
                    net_rx: *net,
                    ..Counters::default()
                };
                ((*id).to_owned(), c)
            })
            .collect(),
        stale: Vec::new(),
    }
}

fn names() -> HashMap<String, String> {
    [("a", "api"), ("b", "burner")]
        .map(|(i, n)| (i.to_owned(), n.to_owned()))
        .into()
}

#[test]
fn the_busiest_container_ranks_first_from_the_second_reading() {
    let mut top = Top::default();
    top.ingest("h1", &reading(100.0, &[("a", 0, 0), ("b", 0, 0)]), &names());
    assert!(top.rows(Sort::Cpu).is_empty(), "one reading has no rates");
    // 5 s later: b used 5 s of CPU (100 %), a 0.25 s (5 %) but sent more.
    top.ingest(
        "h1",
        &reading(105.0, &[("a", 250_000_000, 5000), ("b", 5_000_000_000, 0)]),
        &names(),
    );
    let rows = top.rows(Sort::Cpu);
    assert_eq!(rows[0].container, "burner");
    assert!((rows[0].rates.cpu_pct - 100.0).abs() < 1e-9, "{rows:?}");
    assert!((rows[1].rates.cpu_pct - 5.0).abs() < 1e-9);
    assert_eq!(top.rows(Sort::Net)[0].container, "api");
    assert_eq!(top.rows(Sort::Net)[0].rates.net_bps, 1000.0);
    let (_, host) = top.hosts().next().expect("a host");
    assert_eq!(host.cpu_pct, Some(25.0));
    assert_eq!(host.mem_used_pct, Some(75.0));
}

#[test]
fn history_is_bounded_to_an_hour_and_gone_containers_leave() {
    let mut top = Top::default();
    for i in 0..(RING + 10) {
        let t = i as f64;
        let a = (t * 1e9 / 2.0) as u64;
        top.ingest("h1", &reading(t, &[("a", a, 0), ("b", 0, 0)]), &names());
    }
    let rows = top.rows(Sort::Cpu);
    assert_eq!(rows[0].history.len(), RING);
    assert!(rows[0].history.iter().all(|v| (v - 50.0).abs() < 0.1));
    top.ingest("h1", &reading(1e6, &[("a", u64::MAX, 0)]), &names());
    assert_eq!(top.rows(Sort::Cpu).len(), 1, "b stopped: gone");
}

#[test]
fn a_counter_that_went_back_gives_no_rate_that_once() {
    let mut top = Top::default();
    top.ingest("h1", &reading(1.0, &[("a", 5_000_000_000, 0)]), &names());
    top.ingest("h1", &reading(2.0, &[("a", 1_000, 0)]), &names());
    assert!(
        top.rows(Sort::Cpu).is_empty(),
        "restarted: no negative rate"
    );
    top.ingest("h1", &reading(3.0, &[("a", 500_001_000, 0)]), &names());
    assert!((top.rows(Sort::Cpu)[0].rates.cpu_pct - 50.0).abs() < 1e-9);
}

#[test]
fn sparklines_keep_peaks_and_stay_flat_when_idle() {
    assert_eq!(sparkline(&[0.0, 50.0, 100.0], 3, 5.0), "▁▅█");
    assert_eq!(
        sparkline(&[0.1, 0.2, 0.1], 3, 5.0),
        "▁▁▁",
        "under the floor"
    );
    assert_eq!(
        sparkline(&[0.0, 100.0, 0.0, 0.0], 2, 5.0),
        "█▁",
        "two values a cell, the peak kept"
    );
    assert_eq!(sparkline(&[], 5, 1.0), "");
}

#[test]
fn sort_keys_parse_and_cycle() {
    assert_eq!("io".parse::<Sort>(), Ok(Sort::Io));
    assert!(
        "disk"
            .parse::<Sort>()
            .expect_err("unknown")
            .contains("cpu, mem, net or io")
    );
    assert_eq!(Sort::Io.next(), Sort::Cpu);
}
