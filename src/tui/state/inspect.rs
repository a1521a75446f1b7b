//! The inspect view: one container's details, as the host answered them.

use super::logs::LogSource;
use super::{Ctx, Msg, container_action, delta};
use crate::fleet::{ContainerDetails, FleetState, HostCommand};
use crate::tui::action::Action;
use crate::tui::msg::AppEffect;
use crate::tui::msg::RowKey;

#[derive(Debug, Clone)]
pub struct InspectState {
    pub host_name: String,
    pub name: String,
    pub details: Option<Result<Box<ContainerDetails>, String>>,
    pub scroll: usize,
}

impl InspectState {
    /// The view, waiting for its answer, and the command that asks for it.
    pub fn open(src: LogSource) -> (InspectState, AppEffect) {
        let state = InspectState {
            host_name: src.host_name,
            name: src.name.clone(),
            details: None,
            scroll: 0,
        };
        let ask = AppEffect::Host(
            src.host,
            HostCommand::Inspect {
                container: src.name,
            },
        );
        (state, ask)
    }

    /// A host answered: keep it if it is about this container (by name or id).
    pub fn inspected(
        &mut self,
        host_name: &str,
        container: &str,
        details: &Result<Box<ContainerDetails>, String>,
    ) {
        if self.host_name == host_name
            && (self.name == container || details.as_ref().is_ok_and(|d| d.id == container))
        {
            self.details = Some(details.clone());
        }
    }

    /// The containers this view shows (one name, on one host).
    pub fn keys(&self, fleet: &FleetState) -> Vec<RowKey> {
        fleet
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.spec.name == self.host_name)
            .flat_map(|(host, h)| {
                h.containers
                    .iter()
                    .filter(|c| c.name == self.name)
                    .map(move |c| RowKey {
                        host,
                        id: c.id.clone(),
                    })
            })
            .collect()
    }

    pub fn handle(&mut self, action: Action, ctx: &Ctx) -> Vec<Msg> {
        if let Some(d) = delta(action, ctx.page) {
            self.scroll = self.scroll.saturating_add_signed(d);
            return Vec::new();
        }
        if let Some(act) = container_action(action) {
            return vec![Msg::Confirm(act, self.keys(ctx.fleet))];
        }
        match action {
            Action::Back => vec![Msg::Back],
            _ => Vec::new(),
        }
    }
}
