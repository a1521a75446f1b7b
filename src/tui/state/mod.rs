//! Per-view state: each view owns its fields and answers the actions meant
//! for it with `Msg`s; `App` keeps what all views share and dispatches.

pub mod audit;
pub mod compose;
pub mod containers;
pub mod deploy;
pub mod disk;
pub mod filter;
pub mod hosts;
pub mod inspect;
pub mod logs;
pub mod services;
pub mod timeline;
pub mod top;
pub mod triage;

use super::action::Action;
use super::msg::{AppEffect, Overlay, Settings, View};
use crate::fleet::FleetState;
use crate::ops::ContainerAction;
use containers::RowKey;
use filter::Filter;
use logs::LogSource;

/// The shared state a view reads to answer an action.
pub struct Ctx<'a> {
    pub fleet: &'a FleetState,
    pub settings: &'a Settings,
    /// Rows of a scrolling body.
    pub page: usize,
    /// The last Compose drift read.
    pub compose: &'a compose::Reading,
}

/// What a view asks for after an action: effects for the loop, or changes
/// only `App` makes (status line, overlays, switching views).
#[derive(Debug, Clone)]
pub enum Msg {
    Effect(AppEffect),
    Say(String),
    Fail(String),
    Overlay(Overlay),
    /// Ask before acting on these containers (the App checks the policy).
    Confirm(ContainerAction, Vec<RowKey>),
    /// Open the logs view over these containers.
    Logs {
        title: String,
        sources: Vec<LogSource>,
    },
    /// Open the inspect view of this container.
    Inspect(LogSource),
    /// Open a shell in this container (the App checks the policy).
    Shell(LogSource),
    /// Show the timeline narrowed to these container or service names.
    Timeline(Vec<String>),
    /// Show the containers view narrowed by this filter.
    Containers(Filter),
    Switch(View),
    /// Open the Deploy view (closing Logs / Inspect).
    Deploy,
    /// Leave Logs / Inspect / Deploy for the last tab.
    Back,
}

/// How far a movement action moves a list cursor; `None` for other actions.
pub fn delta(action: Action, page: usize) -> Option<isize> {
    let page = isize::try_from(page).unwrap_or(isize::MAX / 2);
    match action {
        Action::Up => Some(-1),
        Action::Down => Some(1),
        Action::PageUp => Some(-page),
        Action::PageDown => Some(page),
        Action::Top => Some(isize::MIN / 2),
        Action::Bottom => Some(isize::MAX / 2),
        _ => None,
    }
}

/// A cursor over `len` rows moved by `delta`, clamped.
pub fn moved(cursor: usize, delta: isize, len: usize) -> usize {
    cursor
        .saturating_add_signed(delta)
        .min(len.saturating_sub(1))
}

/// The container action an action key asks for, if any.
pub fn container_action(action: Action) -> Option<ContainerAction> {
    match action {
        Action::Restart => Some(ContainerAction::Restart),
        Action::Stop => Some(ContainerAction::Stop),
        Action::Start => Some(ContainerAction::Start),
        Action::Kill => Some(ContainerAction::Kill),
        _ => None,
    }
}
