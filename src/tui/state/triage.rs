//! The triage view: live findings grouped by (kind, service) across hosts,
//! most severe first; a group expands to its containers.

use std::collections::BTreeSet;

use super::compose::Reading;
use super::logs::log_sources;
use super::{Ctx, Msg, delta, moved};
use crate::fleet::FleetState;
use crate::ops::triage::{Evidence, Finding, Group, GroupOptions};
use crate::tui::action::Action;
use crate::tui::msg::{AppEffect, View};

#[derive(Debug, Clone, Default)]
pub struct TriageState {
    pub selected: usize,
    /// Groups shown with their containers, by `group_key`.
    pub expanded: BTreeSet<String>,
    /// An incident snapshot is being gathered in the background.
    pub gathering: bool,
    /// The silences file, as last read.
    pub silences: Vec<crate::ops::alerts::silence::Silence>,
}

/// Why `watch` holds a group back (every member silenced or in a
/// maintenance window), as the view says it.
pub fn held(
    g: &Group,
    silences: &[crate::ops::alerts::silence::Silence],
    maintenance: &[crate::config::alerts::Maintenance],
    now: jiff::Timestamp,
) -> Option<String> {
    use crate::ops::alerts::silence::{Names, held};
    let services: Vec<&str> = g.service.as_deref().into_iter().collect();
    let why = |host: &str, container: Option<&str>| {
        let names = Names {
            host,
            container,
            services: services.clone(),
        };
        held(&names, silences, maintenance, now)
    };
    if g.containers.is_empty() {
        let all: Option<Vec<String>> = g.hosts.iter().map(|h| why(h, None)).collect();
        return all.and_then(|w| w.into_iter().next());
    }
    let all: Option<Vec<String>> = g
        .containers
        .iter()
        .map(|c| why(&c.host, Some(&c.name)))
        .collect();
    all.and_then(|w| w.into_iter().next())
}

/// How long `z` silences.
pub const SILENCE_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// One line of the view: a group, or one of an expanded group's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Group(usize),
    Member(usize, usize),
}

/// Live findings (no log scan in the TUI: that is `flotilla triage`), with
/// the last Compose drift read.
pub fn findings(fleet: &FleetState, compose: &Reading) -> Vec<Finding> {
    let mut out = crate::ops::triage::assess(fleet, &std::collections::BTreeMap::new());
    out.extend(crate::ops::triage::compose_drift(fleet, compose));
    crate::ops::triage::rank(&mut out);
    out
}

/// Live findings grouped as `flotilla triage` groups them (without the
/// evidence that needs I/O).
pub fn groups(fleet: &FleetState, compose: &Reading) -> Vec<Group> {
    let findings = findings(fleet, compose);
    crate::ops::triage::group(
        fleet,
        &findings,
        &Evidence::default(),
        &GroupOptions::default(),
        jiff::Timestamp::now(),
    )
}

/// Identifies a group across refreshes.
pub fn group_key(g: &Group) -> String {
    format!("{:?}/{}", g.kind, g.service.as_deref().unwrap_or("-"))
}

impl TriageState {
    /// `S`: gather the grouped incident snapshot in the background (evidence
    /// is I/O); one at a time.
    pub fn snapshot(&mut self) -> Vec<Msg> {
        if self.gathering {
            return vec![Msg::Fail(
                "an incident snapshot is being gathered already".into(),
            )];
        }
        self.gathering = true;
        vec![
            Msg::Say("gathering an incident snapshot (evidence, timeline, vitals)…".into()),
            Msg::Effect(AppEffect::GatherSnapshot),
        ]
    }

    /// The gathered snapshot arrived: write it (or say why there is none).
    pub fn gathered(&mut self, result: Result<(String, String), String>) -> Vec<Msg> {
        self.gathering = false;
        match result {
            Ok((markdown, json)) => vec![Msg::Effect(AppEffect::Snapshot { markdown, json })],
            Err(e) => vec![Msg::Fail(format!("incident snapshot: {e}"))],
        }
    }

    /// The lines on screen, groups with their members where expanded.
    pub fn lines(&self, groups: &[Group]) -> Vec<Line> {
        let mut out = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            out.push(Line::Group(i));
            if self.expanded.contains(&group_key(g)) {
                out.extend((0..g.containers.len()).map(|j| Line::Member(i, j)));
            }
        }
        out
    }

    /// The names the selected line is about: a member's container, or all
    /// of a group's containers (its service, if it has none listed).
    pub fn selected_targets(&self, fleet: &FleetState, compose: &Reading) -> Vec<String> {
        let groups = groups(fleet, compose);
        let lines = self.lines(&groups);
        match lines.get(self.selected.min(lines.len().saturating_sub(1))) {
            Some(Line::Member(i, j)) => vec![groups[*i].containers[*j].name.clone()],
            Some(Line::Group(i)) => {
                let g = &groups[*i];
                let mut names: Vec<String> = g.containers.iter().map(|c| c.name.clone()).collect();
                names.dedup();
                if names.is_empty() {
                    names.extend(g.service.clone());
                }
                names
            }
            None => Vec::new(),
        }
    }

    /// `z`: silence what the selected group is about (its service, else its
    /// one container or host) for an hour; on a silenced one, end that.
    pub fn silence(&self, fleet: &FleetState, compose: &Reading) -> Vec<Msg> {
        let groups = groups(fleet, compose);
        let lines = self.lines(&groups);
        let g = match lines.get(self.selected.min(lines.len().saturating_sub(1))) {
            Some(Line::Group(i) | Line::Member(i, _)) => &groups[*i],
            None => return Vec::new(),
        };
        let target = match (&g.service, g.containers.as_slice(), g.hosts.as_slice()) {
            (Some(s), _, _) => s.clone(),
            (None, [one], _) => one.name.clone(),
            (None, [], [host]) => host.clone(),
            _ => {
                return vec![Msg::Fail(
                    "no one name covers this problem: silence it with `flotilla silence`".into(),
                )];
            }
        };
        // A silence of exactly this target covers the whole group.
        let now = jiff::Timestamp::now();
        let end = self
            .silences
            .iter()
            .any(|s| s.target == target && s.until > now);
        vec![Msg::Effect(AppEffect::Silence {
            target,
            length: SILENCE_FOR,
            end,
        })]
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        let groups = groups(ctx.fleet, ctx.compose);
        let lines = self.lines(&groups);
        if let Some(d) = delta(action, ctx.page) {
            self.selected = moved(self.selected, d, lines.len());
            return Vec::new();
        }
        if action != Action::Open {
            return Vec::new();
        }
        match lines.get(self.selected.min(lines.len().saturating_sub(1))) {
            // A group of several containers opens and closes; one with a
            // single container opens its logs; a host's opens the hosts view.
            Some(Line::Group(i)) => {
                let g = &groups[*i];
                match g.containers.as_slice() {
                    [] => vec![Msg::Switch(View::Hosts)],
                    [one] => open_logs(ctx.fleet, &one.host, &one.name),
                    _ => {
                        let key = group_key(g);
                        if !self.expanded.remove(&key) {
                            self.expanded.insert(key);
                        }
                        Vec::new()
                    }
                }
            }
            Some(Line::Member(i, j)) => {
                let c = &groups[*i].containers[*j];
                open_logs(ctx.fleet, &c.host, &c.name)
            }
            None => Vec::new(),
        }
    }
}

fn open_logs(fleet: &FleetState, host: &str, name: &str) -> Vec<Msg> {
    let sources = log_sources(fleet, |h, c| h == host && c.name == name);
    if sources.is_empty() {
        return Vec::new();
    }
    vec![Msg::Logs {
        title: format!("{name} @ {host}"),
        sources,
    }]
}
