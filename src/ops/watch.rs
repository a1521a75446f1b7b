//! `flotilla watch`: the autoheal guard rails and who opted in. Pure; the
//! verb drives it from Docker events (what to announce: `ops::alerts`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::fleet::{ContainerInfo, ContainerState, Health, HostState};

/// A deploy holds the host's lock: a `flotilla.lock` container exists.
pub fn deploy_in_progress(host: &HostState) -> bool {
    host.containers.iter().any(|c| c.deploy_lock().is_some())
}

/// docker-autoheal's opt-in label.
pub const AUTOHEAL_LABEL: &str = "autoheal";

/// Opted in: labelled `autoheal=true`, or owned by a `[service.NAME]` with
/// `autoheal = true`.
pub fn opted_in(host: &str, c: &ContainerInfo, services: &[crate::config::ServiceSpec]) -> bool {
    c.labels.get(AUTOHEAL_LABEL).map(String::as_str) == Some("true")
        || services.iter().any(|s| s.autoheal && c.of_service(s, host))
}

/// What autoheal does about one unhealthy container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Restart,
    /// Not labelled `autoheal=true`, or not unhealthy.
    NotOptedIn,
    ReadOnly,
    DeployLocked,
    /// Restarted less than the cooldown ago.
    Cooling,
    /// A restart was asked for and has not answered yet.
    InFlight,
    /// The hourly budget is spent; reported once (`first`), then quiet.
    GaveUp {
        first: bool,
    },
}

/// Restarts done per container, bounded per cooldown and per hour.
#[derive(Debug)]
pub struct Autoheal {
    pub cooldown: Duration,
    pub per_hour: usize,
    done: HashMap<(String, String), Vec<Instant>>,
    gave_up: HashMap<(String, String), Instant>,
    /// Restarts asked for whose answer has not come: until it does, the
    /// container's unhealthy state is stale and giving up would be reported
    /// before the restart it counts. Forgotten after `IN_FLIGHT_MAX` in case
    /// the answer was lost with its host.
    in_flight: HashMap<(String, String), Instant>,
}

const HOUR: Duration = Duration::from_secs(3600);
/// Longer than any restart takes (Docker's stop timeout is 10 s by default).
const IN_FLIGHT_MAX: Duration = Duration::from_secs(120);

impl Autoheal {
    pub fn new(cooldown: Duration, per_hour: usize) -> Self {
        Autoheal {
            cooldown,
            per_hour,
            done: HashMap::new(),
            gave_up: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }

    /// A restart asked for by `decide` has answered (either way).
    pub fn answered(&mut self, host: &str, container: &str) {
        self.in_flight
            .remove(&(host.to_owned(), container.to_owned()));
    }

    /// Decides, and records a restart when the answer is `Restart`.
    pub fn decide(
        &mut self,
        now: Instant,
        host: &HostState,
        c: &ContainerInfo,
        opted_in: bool,
        read_only: bool,
    ) -> Verdict {
        if !opted_in || c.state != ContainerState::Running || c.health != Some(Health::Unhealthy) {
            return Verdict::NotOptedIn;
        }
        if read_only {
            return Verdict::ReadOnly;
        }
        if deploy_in_progress(host) {
            return Verdict::DeployLocked;
        }
        // By name: a restart keeps the id, a re-created container is the same service slot.
        let k = (host.spec.name.clone(), c.name.clone());
        if self
            .in_flight
            .get(&k)
            .is_some_and(|t| now.saturating_duration_since(*t) < IN_FLIGHT_MAX)
        {
            return Verdict::InFlight;
        }
        let past = self.done.entry(k.clone()).or_default();
        past.retain(|t| now.saturating_duration_since(*t) < HOUR);
        if past.len() >= self.per_hour {
            let first = !self.gave_up.contains_key(&k);
            self.gave_up.insert(k, now);
            return Verdict::GaveUp { first };
        }
        if past
            .last()
            .is_some_and(|t| now.saturating_duration_since(*t) < self.cooldown)
        {
            return Verdict::Cooling;
        }
        past.push(now);
        self.gave_up.remove(&k);
        self.in_flight.insert(k, now);
        Verdict::Restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixtures::sample_fleet;

    fn opted(host: &HostState, c: &ContainerInfo) -> bool {
        opted_in(&host.spec.name, c, &[])
    }

    #[test]
    fn a_service_table_opts_its_containers_in() {
        let (host, c) = sick(false);
        let mut svc = crate::fleet::fixtures::web_service();
        svc.name = "sick".into();
        svc.container = crate::config::ContainerSelector::Name("shop-sick-1".into());
        assert!(!opted_in("fleet-1", &c, std::slice::from_ref(&svc)));
        svc.autoheal = true;
        assert!(opted_in("fleet-1", &c, std::slice::from_ref(&svc)));
        assert!(!opted_in("fleet-9", &c, &[svc]), "not one of its hosts");
        let _ = host;
    }

    fn sick(labelled: bool) -> (HostState, ContainerInfo) {
        let fleet = sample_fleet();
        let host = fleet.hosts[0].clone();
        let mut c = host
            .containers
            .iter()
            .find(|c| c.name == "shop-sick-1")
            .cloned()
            .expect("sick");
        if labelled {
            c.labels.insert(AUTOHEAL_LABEL.into(), "true".into());
        }
        (host, c)
    }

    #[test]
    fn autoheal_only_opted_in_once_per_cooldown_three_an_hour() {
        let (host, c) = sick(true);
        let mut heal = Autoheal::new(Duration::from_secs(300), 3);
        let t0 = Instant::now();
        let mut at = |s: u64| {
            let v = heal.decide(
                t0 + Duration::from_secs(s),
                &host,
                &c,
                opted(&host, &c),
                false,
            );
            // Each restart answers before the next look.
            heal.answered(&host.spec.name, &c.name);
            v
        };
        assert_eq!(at(0), Verdict::Restart);
        assert_eq!(at(10), Verdict::Cooling);
        assert_eq!(at(300), Verdict::Restart);
        assert_eq!(at(600), Verdict::Restart);
        assert_eq!(at(900), Verdict::GaveUp { first: true });
        assert_eq!(at(1200), Verdict::GaveUp { first: false });
        // An hour after the first restart the budget has room again.
        assert_eq!(at(3601), Verdict::Restart);

        let t0 = Instant::now();
        let mut heal = Autoheal::new(Duration::from_secs(300), 3);
        let (host, plain) = sick(false);
        assert_eq!(
            heal.decide(t0, &host, &plain, opted(&host, &plain), false),
            Verdict::NotOptedIn
        );
        let (host, c) = sick(true);
        assert_eq!(
            heal.decide(t0, &host, &c, opted(&host, &c), true),
            Verdict::ReadOnly
        );
    }

    #[test]
    fn giving_up_waits_for_the_last_restart_to_answer() {
        let (host, c) = sick(true);
        let mut heal = Autoheal::new(Duration::from_secs(1), 3);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for s in [0, 2, 4] {
            assert_eq!(heal.decide(at(s), &host, &c, true, false), Verdict::Restart);
            // The list still says unhealthy while the restart runs.
            assert_eq!(
                heal.decide(at(s + 1), &host, &c, true, false),
                Verdict::InFlight
            );
            heal.answered(&host.spec.name, &c.name);
        }
        assert_eq!(
            heal.decide(at(6), &host, &c, true, false),
            Verdict::GaveUp { first: true }
        );
    }

    #[test]
    fn never_while_a_deploy_holds_the_lock() {
        let (mut host, c) = sick(true);
        let mut lock = host.containers[0].clone();
        lock.name = "flotilla-lock-sick".into();
        lock.labels
            .insert(crate::ops::deploy::lock::LABEL.into(), "sick".into());
        host.containers.push(lock);
        assert!(deploy_in_progress(&host));
        let mut heal = Autoheal::new(Duration::from_secs(300), 3);
        assert_eq!(
            heal.decide(Instant::now(), &host, &c, opted(&host, &c), false),
            Verdict::DeployLocked
        );
    }
}
