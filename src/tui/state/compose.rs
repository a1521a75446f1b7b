//! Compose drift as the TUI knows it: read in the background over the
//! hosts' sessions (never more often than `COMPOSE_EVERY`, and only while a
//! view that shows it is open), one read at a time; a host whose projects
//! cannot be read says so once, not on every read.

use std::collections::{BTreeMap, BTreeSet};

use super::Msg;
use crate::fleet::compose::file::Drift;
use crate::tui::msg::AppEffect;
pub use crate::tui::msg::Reading;

#[derive(Debug, Clone, Default)]
pub struct ComposeState {
    pub hosts: Reading,
    pub reading: bool,
    /// Errors already said, by host: a new one is said again.
    said: BTreeMap<String, String>,
}

impl ComposeState {
    /// Time for a read: one unless one is under way.
    pub fn tick(&mut self) -> Vec<Msg> {
        if self.reading {
            return Vec::new();
        }
        self.reading = true;
        vec![Msg::Effect(AppEffect::ReadCompose)]
    }

    /// A read came back.
    pub fn read(&mut self, reading: Reading) -> Vec<Msg> {
        self.reading = false;
        let mut msgs = Vec::new();
        let failing: BTreeSet<&String> = reading
            .iter()
            .filter_map(|(h, r)| r.as_ref().err().map(|_| h))
            .collect();
        self.said.retain(|h, _| failing.contains(h));
        for (host, r) in &reading {
            if let Err(e) = r
                && self.said.get(host) != Some(e)
            {
                self.said.insert(host.clone(), e.clone());
                msgs.push(Msg::Fail(format!("{host}: compose files not read: {e}")));
            }
        }
        self.hosts = reading;
        msgs
    }

    /// How the container differs from its compose file, if it does.
    pub fn drift(&self, host: &str, container: &str) -> Option<&Drift> {
        self.hosts
            .get(host)?
            .as_ref()
            .ok()?
            .iter()
            .find(|d| d.container == container)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(container: &str) -> Drift {
        Drift {
            container: container.into(),
            project: "shop".into(),
            service: "web".into(),
            file_image: Some("web:2".into()),
            running_image: "web:1".into(),
            config_changed: false,
            not_in_file: false,
            pinned: false,
            image_moved_to: None,
        }
    }

    #[test]
    fn one_read_at_a_time_and_an_error_said_once() {
        let mut s = ComposeState::default();
        assert!(matches!(
            s.tick().as_slice(),
            [Msg::Effect(AppEffect::ReadCompose)]
        ));
        assert!(s.tick().is_empty(), "one under way");
        let reading: Reading = [
            ("fleet-1".to_owned(), Ok(vec![drift("shop-web-1")])),
            (
                "fleet-2".to_owned(),
                Err("no Compose on the host".to_owned()),
            ),
        ]
        .into_iter()
        .collect();
        let msgs = s.read(reading.clone());
        assert!(
            matches!(msgs.as_slice(), [Msg::Fail(m)] if m == "fleet-2: compose files not read: no Compose on the host"),
            "{msgs:?}"
        );
        assert!(s.drift("fleet-1", "shop-web-1").is_some());
        assert!(s.drift("fleet-1", "shop-api-1").is_none());
        assert_eq!(s.tick().len(), 1);
        assert!(s.read(reading).is_empty(), "said once");
    }
}
