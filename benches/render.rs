//! Frame render and key-to-frame cost of the TUI with 1,000 containers on 20
//! hosts, on ratatui's TestBackend. Prints a table; asserts nothing (targets:
//! render < 2 ms). Run: `cargo bench --bench render`.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flotilla::config::{HostSpec, Inventory, Target};
use flotilla::fleet::{ContainerInfo, FleetEvent, FleetState, HostEvent, HostInfo, update};
use flotilla::tui::action::Keymap;
use flotilla::tui::app::{App, AppEvent, Settings};
use flotilla::tui::theme::Theme;
use flotilla::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const HOSTS: usize = 20;
const PER_HOST: usize = 50;

fn fleet() -> FleetState {
    let hosts = (1..=HOSTS)
        .map(|i| HostSpec {
            name: format!("host-{i:02}"),
            address: format!("10.0.0.{i}"),
            groups: vec![],
            read_only: false,
            target: Target::Local {
                socket: "/var/run/docker.sock".into(),
            },
        })
        .collect();
    let inventory = Inventory {
        source: None,
        hosts,
        ui: Default::default(),
        alerts: Default::default(),
    };
    let mut state = FleetState::new(&inventory);
    for h in 0..HOSTS {
        let info = HostInfo {
            docker_version: "26.1.5".into(),
            api_version: "1.45".into(),
            tunnel: "streamlocal".into(),
        };
        update(
            &mut state,
            FleetEvent {
                host: h,
                kind: HostEvent::Connected {
                    info,
                    rtt: Duration::from_millis(3),
                },
            },
        );
        let containers = (0..PER_HOST)
            .map(|c| ContainerInfo {
                host: format!("host-{:02}", h + 1),
                id: format!("{h:04}{c:060}"),
                name: format!("app-svc{}-{}", c % 25, c),
                image: format!(
                    "registry.example.com/team/svc{}:v{}",
                    c % 25,
                    1 + (h + c) % 3
                ),
                state: if c % 17 == 0 {
                    "exited".into()
                } else {
                    "running".into()
                },
                health: Some(if c % 23 == 0 { "unhealthy" } else { "healthy" }.into()),
                exit_code: (c % 17 == 0).then_some(1),
                status: "Up 3 hours (healthy)".into(),
                created: "2026-11-25T10:00:00Z".into(),
                labels: [(
                    "com.docker.compose.service".to_owned(),
                    format!("svc{}", c % 25),
                )]
                .into_iter()
                .collect(),
                ports: vec![format!("0.0.0.0:{}→80/tcp", 8000 + c)],
                restart_count: Some((c % 5) as i64),
                started_at: None,
            })
            .collect();
        update(
            &mut state,
            FleetEvent {
                host: h,
                kind: HostEvent::Containers {
                    containers,
                    rtt: Duration::from_millis(2),
                },
            },
        );
    }
    state
}

fn key(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn time_frames(
    app: &mut App,
    width: u16,
    height: u16,
    frames: u32,
    before: impl Fn(&mut App, u32),
) -> Duration {
    let theme = Theme::builtin(false);
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(e) => panic!("terminal: {e}"),
    };
    app.update(AppEvent::Resize { width, height });
    let started = Instant::now();
    for i in 0..frames {
        before(app, i);
        if let Err(e) = terminal.draw(|f| views::draw(f, app, &theme)) {
            panic!("draw: {e}");
        }
    }
    started.elapsed() / frames
}

fn main() {
    // `cargo test --all-targets` runs this too (without --bench): a smoke run.
    let frames = if std::env::args().any(|a| a == "--bench") {
        300
    } else {
        3
    };
    let mut rows = Vec::new();
    for (view, keys) in [("containers", "2"), ("services", "3"), ("hosts", "1")] {
        for (w, h) in [(80u16, 24u16), (250, 70)] {
            let mut app = App::new(fleet(), Keymap::default(), Settings::default());
            for k in keys.chars() {
                app.update(key(k));
            }
            let per = time_frames(&mut app, w, h, frames, |_, _| {});
            rows.push((format!("render {view}"), format!("{w}x{h}"), per));
        }
    }
    // Key-to-frame: a key press through update() plus the redraw it causes.
    let mut app = App::new(fleet(), Keymap::default(), Settings::default());
    let per = time_frames(&mut app, 250, 70, frames, |app, i| {
        app.update(key(if i % 2 == 0 { 'j' } else { 'k' }));
    });
    rows.push(("key j/k → frame".into(), "250x70".into(), per));
    let mut app = App::new(fleet(), Keymap::default(), Settings::default());
    let per = time_frames(&mut app, 250, 70, frames.min(100), |app, i| {
        app.update(key('o'));
        let _ = i;
    });
    rows.push(("key o (re-sort) → frame".into(), "250x70".into(), per));

    println!(
        "{HOSTS} hosts × {PER_HOST} containers = {} containers; target: render < 2 ms",
        HOSTS * PER_HOST
    );
    println!("{:<26} {:>8} {:>12}", "benchmark", "size", "per frame");
    for (name, size, per) in rows {
        println!(
            "{name:<26} {size:>8} {:>9.3} ms",
            per.as_secs_f64() * 1000.0
        );
    }
}
