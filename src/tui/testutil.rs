//! A deterministic fleet resembling the test fleet, for unit and snapshot tests.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::{HostSpec, Inventory, Target};
use crate::fleet::{ContainerInfo, FleetEvent, FleetState, Health, HostEvent, HostInfo, update};
use crate::tui::app::{App, AppEffect, AppEvent};

fn spec(name: &str, groups: &[&str]) -> HostSpec {
    HostSpec {
        name: name.into(),
        address: name.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        read_only: false,
        target: Target::Local {
            socket: "/var/run/docker.sock".into(),
        },
    }
}

pub fn container(
    host: &str,
    service: &str,
    image: &str,
    state: &str,
    health: Option<&str>,
    status: &str,
) -> ContainerInfo {
    let n = host.trim_start_matches("fleet-");
    ContainerInfo {
        host: host.into(),
        id: format!("{service}{n}0123456789abcdef"),
        name: format!("shop-{service}-1"),
        image: image.into(),
        state: state.into(),
        health: health.map(Health::from),
        exit_code: (state == "exited").then_some(3),
        status: status.into(),
        created: "2026-11-25T19:49:36Z".into(),
        labels: [
            ("com.docker.compose.project".to_owned(), "shop".to_owned()),
            ("com.docker.compose.service".to_owned(), service.to_owned()),
        ]
        .into_iter()
        .collect(),
        ports: if service == "web" {
            vec![format!("0.0.0.0:808{n}→80/tcp")]
        } else {
            Vec::new()
        },
        restart_count: Some(if service == "crashloop" { 7 } else { 0 }),
        started_at: None,
    }
}

fn containers(host: &str) -> Vec<ContainerInfo> {
    let web_image = if host == "fleet-2" {
        "flotilla-test/app:v2"
    } else {
        "flotilla-test/app:v1"
    };
    let mut list = vec![
        container(
            host,
            "batch",
            "flotilla-test/base:latest",
            "exited",
            None,
            "Exited (3) 2 minutes ago",
        ),
        container(
            host,
            "web",
            web_image,
            "running",
            Some("healthy"),
            "Up 2 minutes (healthy)",
        ),
        container(
            host,
            "worker",
            "flotilla-test/app:v1",
            "running",
            None,
            "Up 2 minutes",
        ),
    ];
    if host == "fleet-1" {
        list.push(container(
            host,
            "sick",
            "flotilla-test/app:broken",
            "running",
            Some("unhealthy"),
            "Up 2 minutes (unhealthy)",
        ));
        list.push(container(
            host,
            "crashloop",
            "flotilla-test/crasher:latest",
            "restarting",
            None,
            "Restarting (1) 5 seconds ago",
        ));
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// Three hosts: fleet-1 and fleet-2 up with workloads, fleet-3 down with stale containers.
pub fn sample_fleet() -> FleetState {
    let inventory = Inventory {
        source: None,
        ui: Default::default(),
        hosts: vec![
            spec("fleet-1", &["web"]),
            spec("fleet-2", &["web"]),
            spec("fleet-3", &[]),
        ],
    };
    let mut state = FleetState::new(&inventory);
    let info = HostInfo {
        docker_version: "20.10.24+dfsg1".into(),
        api_version: "1.41".into(),
        tunnel: "streamlocal".into(),
    };
    for (i, host) in ["fleet-1", "fleet-2", "fleet-3"].iter().enumerate() {
        let events = [
            HostEvent::Connected {
                info: info.clone(),
                rtt: Duration::from_micros(2400 + 300 * i as u64),
            },
            HostEvent::Containers {
                containers: containers(host),
                rtt: Duration::from_micros(2100 + 300 * i as u64),
            },
        ];
        for kind in events {
            update(&mut state, FleetEvent { host: i, kind });
        }
    }
    update(
        &mut state,
        FleetEvent {
            host: 2,
            kind: HostEvent::Disconnected {
                reason: "cannot connect to 127.0.10.3:22: Connection refused (os error 111)".into(),
                retry_in: Some(Duration::from_secs(4)),
            },
        },
    );
    // A fixed "down since" so screens do not depend on when tests run.
    state.hosts[2].down_since = "2026-11-25T19:50:00Z".parse().ok();
    state
}

/// `[service.web]` over the sample fleet's three hosts, serial 1.
pub fn web_service() -> crate::config::ServiceSpec {
    use crate::config::{Amount, ContainerSelector, ServiceSpec};
    ServiceSpec {
        name: "web".into(),
        hosts: vec!["fleet-1".into(), "fleet-2".into(), "fleet-3".into()],
        container: ContainerSelector::Name("shop-web-1".into()),
        health_timeout: Duration::from_secs(60),
        serial: vec![Amount::Count(1)],
        max_fail: Amount::Count(0),
        pre_deploy: Some("./migrate".into()),
        health_cmd: None,
        stable_for: Duration::from_secs(10),
        autoheal: false,
        order: None,
        stop_grace: std::time::Duration::ZERO,
    }
}

/// What the loop would prepare for web → app:v2 (fleet-2 already runs it).
pub fn web_plan() -> crate::tui::state::deploy::PlanSummary {
    use crate::ops::deploy::{Job, Plan, PlannedHost, PlannedReplica};
    let host = |name: &str, from: &str, job: Job| {
        let mut h = PlannedHost::new(
            name,
            vec![PlannedReplica {
                container: "shop-web-1".into(),
                from: from.into(),
                to: "flotilla-test/app:v2".into(),
                job,
                note: (job == Job::Keep).then(|| "already on the image".to_owned()),
            }],
        );
        h.order = Some(if name == "fleet-3" {
            "stop-first: it publishes host port 0.0.0.0:8080->8080/tcp (two containers cannot bind one host port)".into()
        } else {
            "start-first: it publishes no host port, so the new one serves beside the old until healthy".into()
        });
        h
    };
    crate::tui::state::deploy::PlanSummary {
        deploy_id: "20261125T210000Z-4242".into(),
        service: "web".into(),
        kind: "deploy".into(),
        image: Some("flotilla-test/app:v2".into()),
        plan: Plan {
            batches: vec![
                vec![host("fleet-1", "flotilla-test/app:v1", Job::Deploy)],
                vec![host("fleet-3", "flotilla-test/app:v1", Job::Deploy)],
            ],
            unchanged: vec![host("fleet-2", "flotilla-test/app:v2", Job::Keep)],
            max_fail: 0,
        },
        pre_deploy: Some("./migrate".into()),
        refusal: None,
    }
}

/// An `App` over the sample fleet with the default keys and settings.
pub fn app() -> crate::tui::app::App {
    use crate::tui::action::Keymap;
    use crate::tui::app::{App, Settings};
    App::new(sample_fleet(), Keymap::default(), Settings::default())
}

/// A key press event; upper case comes with SHIFT, as terminals send it.
pub fn code(code: KeyCode) -> AppEvent {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    AppEvent::Key(KeyEvent::new(code, modifiers))
}

pub fn key(c: char) -> AppEvent {
    code(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn press(app: &mut App, c: char) -> Vec<AppEffect> {
    app.update(key(c))
}

pub fn press_code(app: &mut App, c: KeyCode) -> Vec<AppEffect> {
    app.update(code(c))
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(key(c));
    }
}

/// The services matrix with `web` selected, `[service.web]` configured.
pub fn app_on_web() -> App {
    let mut app = app();
    app.state.deploy.services = vec![web_service()];
    press(&mut app, '3');
    let names = app.fleet.service_names();
    app.state.services.row = names.iter().position(|n| n == "web").unwrap_or(0);
    app
}

/// D, then the image prompt answered with app:v2.
pub fn ask_v2(app: &mut App) {
    press(app, 'D');
    app.update(ctrl('u'));
    type_text(app, "flotilla-test/app:v2");
    press_code(app, KeyCode::Enter);
}

/// The web deploy to app:v2, planned and shown.
pub fn planned() -> App {
    let mut app = app_on_web();
    ask_v2(&mut app);
    app.update(AppEvent::DeployPrepared(Ok(web_plan())));
    app
}

/// A deploy step event for `host`.
pub fn step(host: &str, step: crate::ops::deploy::event::Step) -> AppEvent {
    AppEvent::Deploy(crate::ops::deploy::DeployEvent::Step {
        host: host.into(),
        replica: None,
        step,
        detail: String::new(),
    })
}
