//! A deterministic fleet resembling the test fleet, for the unit and
//! snapshot tests of every layer above this one.

use std::time::Duration;

use crate::config::{HostSpec, Inventory, Target};
use crate::fleet::{ContainerInfo, FleetEvent, FleetState, Health, HostEvent, HostInfo, update};

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
        alerts: Default::default(),
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
        keep_images: 0,
    }
}
