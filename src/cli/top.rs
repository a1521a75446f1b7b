//! `flotilla top`: every container on every host ranked by CPU, memory,
//! network or block I/O, from cgroup counters read with one exec per host
//! per interval; once, or `--watch` until interrupted.

use std::time::Duration;

use clap::Args;

use super::{
    Cli, CliError, Exit, Selection, actor_config, load_inventory, report_unreachable, select, table,
};
use crate::fleet::top::{self, Collector};
use crate::fleet::{ActorConfig, Fleet, FleetState};
use crate::human::bytes;
use crate::ops::top::{Row, Sort, Top, sparkline};

#[derive(Debug, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Rank by cpu, mem, net (received + sent) or io (read + written).
    #[arg(long, default_value = "cpu", value_name = "KEY", value_parser = |s: &str| s.parse::<Sort>())]
    pub sort: Sort,
    /// Rows to print (0: all).
    #[arg(short = 'n', long = "limit", default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Keep reading every --interval and print each time, until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// Time between readings (default 5s with --watch; a one-shot `top`
    /// reads twice, 2s apart).
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
    pub interval: Option<Duration>,
    /// JSON: one object (one per line with --watch): {"hosts": […], "containers": […]}.
    #[arg(long)]
    pub json: bool,
}

/// Sparkline width in text output (the last hour, squeezed).
const SPARK: usize = 20;

pub async fn run(cli: &Cli, args: &TopArgs) -> Result<Exit, CliError> {
    let inventory = select(&load_inventory(cli)?, &args.select)?;
    let mut state = FleetState::new(&inventory);
    let cfg = ActorConfig {
        // Following events keeps the container list current while watching.
        watch_events: args.watch,
        ..actor_config(cli)
    };
    let mut fleet = Fleet::spawn(&inventory, cfg);
    fleet.settle(&mut state).await;
    let unreachable = report_unreachable(&state, args.json);
    let every = args.interval.unwrap_or(if args.watch {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(2)
    });
    let mut collectors: Vec<Collector> = Vec::new();
    let mut top = Top::default();
    let (mut int, mut term) = super::stop_signals()?;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut readings = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            event = fleet.events.recv(), if args.watch => {
                let Some(event) = event else { break };
                for effect in crate::fleet::update(&mut state, event) {
                    fleet.apply(effect);
                }
                continue;
            }
            _ = int.recv() => break,
            _ = term.recv() => break,
        }
        read_all(&fleet, &state, &mut collectors, &mut top, every).await;
        readings += 1;
        if readings < 2 {
            continue;
        }
        print(&top, args)?;
        if !args.watch {
            break;
        }
    }
    fleet.shutdown().await;
    Ok(unreachable)
}

/// One reading of every connected host, all at once; a host that fails is
/// reported on stderr and left out of this round.
async fn read_all(
    fleet: &Fleet,
    state: &FleetState,
    collectors: &mut Vec<Collector>,
    top: &mut Top,
    every: Duration,
) {
    // A reading never takes longer than the interval (at least 5 s).
    let within = every.max(Duration::from_secs(5));
    let round = top::read_round(collectors, top::request(state, fleet), within).await;
    for (host, e) in top.ingest_round(round, state) {
        eprintln!("flotilla: {host}: counters: {e}");
    }
}

fn print(top: &Top, args: &TopArgs) -> Result<(), CliError> {
    let mut rows = top.rows(args.sort);
    if args.limit > 0 {
        rows.truncate(args.limit);
    }
    if args.json {
        let hosts: Vec<serde_json::Value> = top
            .hosts()
            .map(|(name, u)| serde_json::json!({"host": name, "cpu_pct": u.cpu_pct, "load1": u.load1, "mem_used_pct": u.mem_used_pct}))
            .collect();
        let value =
            serde_json::json!({"sort": args.sort.name(), "hosts": hosts, "containers": rows});
        let text = if args.watch {
            serde_json::to_string(&value)
        } else {
            serde_json::to_string_pretty(&value)
        };
        let text = text.map_err(|e| CliError {
            exit: Exit::Internal,
            message: format!("JSON encoding failed: {e}"),
        })?;
        println!("{text}");
        return Ok(());
    }
    let hosts: Vec<String> = top
        .hosts()
        .map(|(name, u)| {
            let pct = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0}%"));
            format!(
                "{name} cpu {} load {:.2} mem {}",
                pct(u.cpu_pct),
                u.load1,
                pct(u.mem_used_pct)
            )
        })
        .collect();
    let table_rows: Vec<Vec<String>> = rows.iter().map(|r| cells(r, args.sort)).collect();
    let columns = crate::ops::top::columns(args.sort);
    let headers: Vec<&str> = columns.iter().map(String::as_str).collect();
    print!(
        "{}\n{}",
        hosts.join("  ·  "),
        table::render(&headers, &table_rows)
    );
    if args.watch {
        println!();
    }
    Ok(())
}

fn cells(r: &Row, key: Sort) -> Vec<String> {
    vec![
        r.host.clone(),
        r.container.clone(),
        format!("{:.1}", r.rates.cpu_pct),
        r.rates.mem_phrase(),
        bytes(r.rates.net_bps as u64),
        bytes(r.rates.io_bps as u64),
        sparkline(&r.history, SPARK, key.spark_floor()),
    ]
}
