//! The Disk view: per host, what a prune would remove (stopped containers,
//! unused images, with `V` unused anonymous volumes) and what it keeps and
//! why, as `flotilla prune --dry-run` lists it; `P` prunes the selected
//! host behind a dialog, read-only hosts refused, every removal audited.

use super::{Ctx, Msg, delta, moved};
use crate::ops::prune::run::HostResult;
use crate::ops::prune::{HostPlan, Item, Kinds};
use crate::tui::action::Action;
use crate::tui::msg::{AppEffect, Overlay};

pub use crate::tui::msg::PrunePlans;

/// A line of the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Host(usize),
    Remove(usize, usize),
    Keep(usize, usize),
}

#[derive(Debug, Clone, Default)]
pub struct DiskState {
    pub plans: PrunePlans,
    pub selected: usize,
    /// Unused anonymous volumes too (off, as in `prune`).
    pub volumes: bool,
    pub reading: bool,
    /// A prune is running: no second one, no re-read until it ends.
    pub pruning: Option<String>,
}

impl DiskState {
    pub fn kinds(&self) -> Kinds {
        Kinds {
            containers: true,
            images: true,
            volumes: self.volumes,
        }
    }

    /// Plan again (on opening the view, after a prune, on `V`).
    pub fn read(&mut self) -> Vec<Msg> {
        if self.reading || self.pruning.is_some() {
            return Vec::new();
        }
        self.reading = true;
        vec![Msg::Effect(AppEffect::PlanPrune(self.kinds()))]
    }

    pub fn planned(&mut self, plans: PrunePlans) {
        self.reading = false;
        self.plans = plans;
    }

    /// A prune ended: say what it did, then plan again.
    pub fn pruned(&mut self, result: Result<HostResult, String>) -> Vec<Msg> {
        let host = self.pruning.take().unwrap_or_default();
        let say = match result {
            Err(e) => Msg::Fail(format!("prune {host}: {e}")),
            Ok(r) => {
                let failed: Vec<&str> = r
                    .removed
                    .iter()
                    .filter(|x| !x.ok)
                    .map(|x| x.item.name.as_str())
                    .collect();
                let done = r.removed.len() - failed.len();
                let freed = crate::human::bytes(r.bytes_freed);
                if failed.is_empty() {
                    Msg::Say(format!("pruned {}: {done} removed, {freed} freed", r.host))
                } else {
                    Msg::Fail(format!(
                        "pruned {}: {done} removed, {freed} freed; not removed: {}",
                        r.host,
                        failed.join(", ")
                    ))
                }
            }
        };
        let mut msgs = vec![say];
        msgs.extend(self.read());
        msgs
    }

    /// Every line in order: per host its header, removals, then what it keeps.
    pub fn lines(&self) -> Vec<Line> {
        let mut lines = Vec::new();
        for (h, (_, plan)) in self.plans.iter().enumerate() {
            lines.push(Line::Host(h));
            if let Ok(p) = plan {
                lines.extend((0..p.remove.len()).map(|i| Line::Remove(h, i)));
                lines.extend((0..p.keep.len()).map(|i| Line::Keep(h, i)));
            }
        }
        lines
    }

    /// The host (and its plan) of the selected line.
    fn selected_host(&self) -> Option<(&String, &Result<HostPlan, String>)> {
        let h = match self.lines().get(self.selected)? {
            Line::Host(h) | Line::Remove(h, _) | Line::Keep(h, _) => *h,
        };
        self.plans.iter().nth(h)
    }

    pub fn item(&self, line: Line) -> Option<&Item> {
        let plan = |h: usize| self.plans.values().nth(h)?.as_ref().ok();
        match line {
            Line::Host(_) => None,
            Line::Remove(h, i) => plan(h)?.remove.get(i),
            Line::Keep(h, i) => plan(h)?.keep.get(i),
        }
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.selected = moved(self.selected, d, self.lines().len());
            return Vec::new();
        }
        match action {
            Action::Volumes => {
                self.volumes = !self.volumes;
                let mut msgs = vec![Msg::Say(if self.volumes {
                    "unused anonymous volumes included".to_owned()
                } else {
                    "volumes left out".to_owned()
                })];
                msgs.extend(self.read());
                msgs
            }
            Action::Prune => self.ask(ctx),
            _ => Vec::new(),
        }
    }

    /// `P`: the selected host's plan, confirmed first (the App checks the
    /// read-only policy).
    fn ask(&self, ctx: &Ctx) -> Vec<Msg> {
        if let Some(host) = &self.pruning {
            return vec![Msg::Fail(format!("a prune of {host} is running"))];
        }
        let Some((host, plan)) = self.selected_host() else {
            return Vec::new();
        };
        let plan = match plan {
            Err(e) => return vec![Msg::Fail(format!("{host}: {e}"))],
            Ok(p) if p.remove.is_empty() => {
                return vec![Msg::Say(format!("{host}: nothing to prune"))];
            }
            Ok(p) => p.clone(),
        };
        let Some((_, h)) = ctx.fleet.host_named(host) else {
            return Vec::new();
        };
        let policy = crate::ops::act::Policy {
            read_only: ctx.settings.read_only,
        };
        if policy.read_only(&h.spec) {
            return vec![Msg::Fail(format!("read-only: refusing to prune {host}"))];
        }
        if !h.is_up() {
            return vec![Msg::Fail(format!("{host} is not connected"))];
        }
        vec![Msg::Overlay(Overlay::ConfirmPrune(Box::new(plan)))]
    }
}

#[cfg(test)]
pub mod tests;
