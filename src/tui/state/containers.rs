//! The containers view: filter, sort, group, selection, marks and the CPU /
//! memory readings of the rows shown. Rows are pure functions of the fleet
//! state, so they can be unit-tested.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::filter::Filter;
use super::logs::LogSource;
use super::{Ctx, Msg, container_action, delta};
use crate::fleet::model::StatsSample;
use crate::fleet::{
    ContainerInfo, ContainerState, FleetState, Health, HostCommand, HostId, natural_cmp,
};
use crate::tui::action::Action;
use crate::tui::msg::{AppEffect, InputKind, Overlay};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Host,
    Name,
    Service,
    Image,
    State,
    Health,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Host,
        SortKey::Name,
        SortKey::Service,
        SortKey::Image,
        SortKey::State,
        SortKey::Health,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Host => "host",
            SortKey::Name => "name",
            SortKey::Service => "service",
            SortKey::Image => "image",
            SortKey::State => "state",
            SortKey::Health => "health",
        }
    }

    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Host,
    Service,
}

pub use crate::tui::msg::RowKey;

/// One visible row: where the container lives in `FleetState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub host: HostId,
    pub index: usize,
}

#[derive(Debug, Clone)]
pub struct ContainersState {
    pub filter: Filter,
    pub sort: SortKey,
    pub reverse: bool,
    pub group: GroupBy,
    pub selected: Option<RowKey>,
    pub marked: BTreeSet<RowKey>,
    /// CPU/memory of containers recently shown.
    pub stats: HashMap<RowKey, ContainerStats>,
}

/// Resource use derived from two one-shot stats readings, with a short
/// history for sparklines.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStats {
    pub last: StatsSample,
    pub cpu_percent: Option<f64>,
    /// CPU % × 10, oldest first, at most `HISTORY` readings.
    pub cpu_history: std::collections::VecDeque<u64>,
    /// Memory in use (bytes), oldest first, at most `HISTORY` readings.
    pub mem_history: std::collections::VecDeque<u64>,
}

/// Readings kept per container (5 minutes at one per 5 s tick).
pub const HISTORY: usize = 60;

fn push_bounded(q: &mut std::collections::VecDeque<u64>, v: u64) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(v);
}

/// Rows whose stats are read per tick, at most: only what a screen can show.
const STATS_ROWS: usize = 100;

impl Default for ContainersState {
    fn default() -> Self {
        ContainersState {
            filter: Filter::default(),
            sort: SortKey::Host,
            reverse: false,
            group: GroupBy::Host,
            selected: None,
            marked: BTreeSet::new(),
            stats: HashMap::new(),
        }
    }
}

/// Severity for sorting by state/health: problems first.
fn state_rank(c: &ContainerInfo) -> u8 {
    match c.state {
        ContainerState::Restarting => 0,
        ContainerState::Dead => 1,
        ContainerState::Exited if c.exit_code.unwrap_or(0) != 0 => 2,
        ContainerState::Running => 4,
        _ => 3,
    }
}

fn health_rank(c: &ContainerInfo) -> u8 {
    match c.health {
        Some(Health::Unhealthy) => 0,
        Some(Health::Starting) => 1,
        Some(Health::Healthy) => 2,
        _ => 3,
    }
}

impl ContainersState {
    pub fn rows(&self, fleet: &FleetState) -> Vec<Row> {
        let mut rows: Vec<(Row, &ContainerInfo)> = fleet
            .hosts
            .iter()
            .enumerate()
            .flat_map(|(h, hs)| {
                hs.containers
                    .iter()
                    .enumerate()
                    .map(move |(i, c)| (Row { host: h, index: i }, c))
            })
            .filter(|(_, c)| self.filter.matches(c))
            .collect();
        let group = self.group;
        let sort = self.sort;
        // Names in natural order (h2 before h10), as people read them.
        let nat = |x: &str, y: &str| natural_cmp(x, y);
        rows.sort_by(|(ra, a), (rb, b)| {
            let grouped = match group {
                GroupBy::Host => nat(&a.host, &b.host),
                GroupBy::Service => nat(a.service(), b.service()),
            };
            let by_key = match sort {
                SortKey::Host => nat(&a.host, &b.host),
                SortKey::Name => nat(&a.name, &b.name),
                SortKey::Service => nat(a.service(), b.service()),
                SortKey::Image => nat(&a.image, &b.image),
                SortKey::State => state_rank(a).cmp(&state_rank(b)),
                SortKey::Health => health_rank(a).cmp(&health_rank(b)),
            };
            let by_key = if self.reverse {
                by_key.reverse()
            } else {
                by_key
            };
            grouped
                .then(by_key)
                .then_with(|| nat(&a.name, &b.name))
                .then_with(|| ra.host.cmp(&rb.host))
        });
        rows.into_iter().map(|(r, _)| r).collect()
    }

    pub fn key_of(fleet: &FleetState, row: Row) -> Option<RowKey> {
        let c = fleet.hosts.get(row.host)?.containers.get(row.index)?;
        Some(RowKey {
            host: row.host,
            id: c.id.clone(),
        })
    }

    /// Index of the selected row in `rows`, defaulting to the first.
    pub fn selected_index(&self, fleet: &FleetState, rows: &[Row]) -> Option<usize> {
        if rows.is_empty() {
            return None;
        }
        // Compare in place: this runs every frame over every row.
        let found = self.selected.as_ref().and_then(|key| {
            let containers = &fleet.hosts.get(key.host)?.containers;
            rows.iter().position(|r| {
                r.host == key.host && containers.get(r.index).is_some_and(|c| c.id == key.id)
            })
        });
        Some(found.unwrap_or(0))
    }

    /// Moves the selection by `delta` rows, clamped.
    pub fn move_by(&mut self, fleet: &FleetState, delta: isize) {
        let rows = self.rows(fleet);
        let Some(cur) = self.selected_index(fleet, &rows) else {
            return;
        };
        let next = cur.saturating_add_signed(delta).min(rows.len() - 1);
        self.selected = Self::key_of(fleet, rows[next]);
    }

    pub fn select_edge(&mut self, fleet: &FleetState, last: bool) {
        let rows = self.rows(fleet);
        let row = if last { rows.last() } else { rows.first() };
        self.selected = row.and_then(|r| Self::key_of(fleet, *r));
    }

    /// The marked containers that still exist, or else the selected one.
    pub fn targets(&self, fleet: &FleetState) -> Vec<RowKey> {
        let exists = |k: &RowKey| {
            fleet
                .hosts
                .get(k.host)
                .is_some_and(|h| h.containers.iter().any(|c| c.id == k.id))
        };
        let marked: Vec<RowKey> = self.marked.iter().filter(|k| exists(k)).cloned().collect();
        if !marked.is_empty() {
            return marked;
        }
        let rows = self.rows(fleet);
        self.selected_index(fleet, &rows)
            .and_then(|i| Self::key_of(fleet, rows[i]))
            .into_iter()
            .collect()
    }
}

impl ContainersState {
    /// The selected container's key.
    pub fn selected_key(&self, fleet: &FleetState) -> Option<RowKey> {
        let rows = self.rows(fleet);
        let i = self.selected_index(fleet, &rows)?;
        Self::key_of(fleet, rows[i])
    }

    /// The selected container's service.
    pub fn selected_service(&self, fleet: &FleetState) -> Option<String> {
        let key = self.selected_key(fleet)?;
        container(fleet, &key).map(|c| c.service().to_owned())
    }

    /// The selected container as a log / inspect source.
    fn selected_source(&self, fleet: &FleetState) -> Option<LogSource> {
        let key = self.selected_key(fleet)?;
        let c = container(fleet, &key)?;
        Some(LogSource {
            host: key.host,
            host_name: fleet.hosts.get(key.host)?.spec.name.clone(),
            container_id: c.id.clone(),
            name: c.name.clone(),
        })
    }

    /// Esc: drop the marks, else the filter.
    pub fn back(&mut self) {
        if !self.marked.is_empty() {
            self.marked.clear();
        } else if !self.filter.is_empty() {
            self.filter = Filter::default();
        }
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        let fleet = ctx.fleet;
        if let Some(act) = container_action(action) {
            return vec![Msg::Confirm(act, self.targets(fleet))];
        }
        match action {
            Action::Top | Action::Bottom => self.select_edge(fleet, action == Action::Bottom),
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                if let Some(d) = delta(action, ctx.page) {
                    self.move_by(fleet, d);
                }
            }
            Action::Mark => {
                if let Some(key) = self.selected_key(fleet)
                    && !self.marked.remove(&key)
                {
                    self.marked.insert(key);
                }
                self.move_by(fleet, 1);
            }
            Action::Open => {
                if let Some(src) = self.selected_source(fleet) {
                    let title = format!("{} @ {}", src.name, src.host_name);
                    return vec![Msg::Logs {
                        title,
                        sources: vec![src],
                    }];
                }
            }
            Action::Inspect => {
                return self
                    .selected_source(fleet)
                    .map(Msg::Inspect)
                    .into_iter()
                    .collect();
            }
            Action::Shell => {
                return self
                    .selected_source(fleet)
                    .map(Msg::Shell)
                    .into_iter()
                    .collect();
            }
            Action::Find => {
                return vec![Msg::Overlay(Overlay::Input {
                    kind: InputKind::Filter,
                    text: self.filter.text().to_owned(),
                })];
            }
            Action::SortNext => self.sort = self.sort.next(),
            Action::SortReverse => self.reverse = !self.reverse,
            Action::GroupBy => {
                self.group = match self.group {
                    GroupBy::Host => GroupBy::Service,
                    GroupBy::Service => GroupBy::Host,
                }
            }
            Action::Back => self.back(),
            _ => {}
        }
        Vec::new()
    }

    /// Stats commands for the running containers on screen.
    pub fn stats_requests(&mut self, fleet: &FleetState, page: usize) -> Vec<AppEffect> {
        let rows = self.rows(fleet);
        // Only the rows on screen (the view keeps the selection in its window).
        let page = page.min(STATS_ROWS);
        let selected = self.selected_index(fleet, &rows).unwrap_or(0);
        let offset = (selected + 1).saturating_sub(page);
        let mut per_host: BTreeMap<HostId, Vec<String>> = BTreeMap::new();
        for r in rows.iter().skip(offset).take(page) {
            let Some(h) = fleet.hosts.get(r.host) else {
                continue;
            };
            if let Some(c) = h
                .containers
                .get(r.index)
                .filter(|c| h.is_up() && c.is_running())
            {
                per_host.entry(r.host).or_default().push(c.id.clone());
            }
        }
        // Forget containers that are gone, so the map stays bounded.
        self.stats.retain(|k, _| container(fleet, k).is_some());
        per_host
            .into_iter()
            .map(|(h, ids)| AppEffect::Host(h, HostCommand::Stats { ids }))
            .collect()
    }

    /// A host's stats readings: CPU from the change since the last one.
    pub fn sampled(&mut self, host: HostId, samples: &[(String, StatsSample)]) {
        for (id, sample) in samples {
            let key = RowKey {
                host,
                id: id.clone(),
            };
            let entry = self.stats.entry(key).or_insert_with(|| ContainerStats {
                last: *sample,
                cpu_percent: None,
                cpu_history: std::collections::VecDeque::new(),
                mem_history: std::collections::VecDeque::new(),
            });
            let cpu_percent = StatsSample::cpu_percent(&entry.last, sample);
            entry.last = *sample;
            entry.cpu_percent = cpu_percent;
            if let Some(p) = cpu_percent {
                // Tenths of a percent: sparklines take integers.
                push_bounded(&mut entry.cpu_history, (p * 10.0).round().max(0.0) as u64);
            }
            push_bounded(&mut entry.mem_history, sample.mem_used);
        }
    }
}

/// Looks a row key up in the fleet.
pub fn container<'a>(fleet: &'a FleetState, key: &RowKey) -> Option<&'a ContainerInfo> {
    fleet
        .hosts
        .get(key.host)?
        .containers
        .iter()
        .find(|c| c.id == key.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testutil::sample_fleet;

    fn names(state: &ContainersState, fleet: &FleetState) -> Vec<String> {
        state
            .rows(fleet)
            .iter()
            .map(|r| {
                let c = &fleet.hosts[r.host].containers[r.index];
                format!("{}/{}", c.host, c.name)
            })
            .collect()
    }

    #[test]
    fn default_groups_by_host_then_name() {
        let fleet = sample_fleet();
        let rows = names(&ContainersState::default(), &fleet);
        assert_eq!(rows[0], "fleet-1/shop-batch-1");
        assert!(
            rows.iter().position(|r| r.starts_with("fleet-2"))
                > rows.iter().position(|r| r.starts_with("fleet-1"))
        );
    }

    #[test]
    fn names_sort_naturally() {
        let mut fleet = sample_fleet();
        // Rename containers on fleet-1 so text order and natural order differ.
        for (i, c) in fleet.hosts[0].containers.iter_mut().enumerate() {
            c.name = format!("job-{}", [10, 2, 1, 30, 3][i % 5]);
        }
        let state = ContainersState {
            sort: SortKey::Name,
            ..Default::default()
        };
        let rows: Vec<String> = names(&state, &fleet)
            .into_iter()
            .filter(|r| r.starts_with("fleet-1/"))
            .collect();
        let mut expected = rows.clone();
        expected.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(rows, expected);
        assert!(rows.len() >= 3, "{rows:?}");
        assert_eq!(rows[0], "fleet-1/job-1");
    }

    #[test]
    fn sort_by_health_puts_unhealthy_first_within_group() {
        let fleet = sample_fleet();
        let state = ContainersState {
            sort: SortKey::Health,
            ..Default::default()
        };
        assert_eq!(names(&state, &fleet)[0], "fleet-1/shop-sick-1");
    }

    #[test]
    fn group_by_service_keeps_a_service_together() {
        let fleet = sample_fleet();
        let state = ContainersState {
            group: GroupBy::Service,
            ..Default::default()
        };
        let rows = names(&state, &fleet);
        let web: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ends_with("shop-web-1"))
            .map(|(i, _)| i)
            .collect();
        assert!(web.len() >= 2);
        assert_eq!(
            web.last().copied().unwrap_or(0) - web[0],
            web.len() - 1,
            "contiguous: {rows:?}"
        );
    }

    #[test]
    fn selection_follows_the_container_and_marks_win_over_it() {
        let fleet = sample_fleet();
        let mut state = ContainersState::default();
        state.move_by(&fleet, 2);
        let rows = state.rows(&fleet);
        assert_eq!(state.selected_index(&fleet, &rows), Some(2));
        let selected = state.selected.clone().expect("selected");
        assert_eq!(state.targets(&fleet), vec![selected.clone()]);
        state.move_by(&fleet, 1000);
        assert_eq!(state.selected_index(&fleet, &rows), Some(rows.len() - 1));
        state.marked.insert(selected.clone());
        assert_eq!(state.targets(&fleet), vec![selected]);
        state.marked.insert(RowKey {
            host: 0,
            id: "gone".into(),
        });
        assert_eq!(
            state.targets(&fleet).len(),
            1,
            "vanished containers are dropped"
        );
    }

    #[test]
    fn filter_narrows_rows() {
        let fleet = sample_fleet();
        let state = ContainersState {
            filter: Filter::parse("state:restarting").expect("filter"),
            ..Default::default()
        };
        assert_eq!(names(&state, &fleet), ["fleet-1/shop-crashloop-1"]);
    }
}
