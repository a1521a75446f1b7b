//! The interactive TUI: one loop owns all state; host actors, keys and signals
//! feed it events; `App::update` turns them into effects.

pub mod action;
pub mod app;
mod event_loop;
pub mod input;
pub mod msg;
pub mod pace;
pub mod shell;
pub mod state;
mod tasks;
pub mod theme;
pub mod views;

#[cfg(test)]
pub mod testutil;

use crate::config::{Inventory, ServiceSpec};
use crate::fleet::ActorConfig;
use app::Settings;

/// Most queued events folded into one frame.
const MAX_EVENTS_PER_FRAME: usize = 1024;
const AUDIT_VIEW_LIMIT: usize = 1000;
const STATS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// Compose drift is read at most this often (each read runs Compose on every
/// host with a project: about half a second of CPU there for v1).
const COMPOSE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// Docker's disk usage is read at most this often while the Hosts view is
/// open (the daemon sizes every container's writable layer for it).
const DISK_EVERY: std::time::Duration = std::time::Duration::from_secs(180);
/// Container counters while the Top view is open (its history's step).
const TOP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How often the open Timeline view looks for new audit records (a local
/// file: one `stat` when nothing changed).
const AUDIT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct TuiOptions {
    pub actor: ActorConfig,
    pub settings: Settings,
    pub keymap: action::Keymap,
    /// `[service.NAME]` tables: what the Deploy view can deploy.
    pub services: Vec<ServiceSpec>,
}

/// Runs the TUI until the user quits or a signal arrives.
pub async fn run(inventory: &Inventory, opts: TuiOptions) -> std::io::Result<()> {
    event_loop::Loop::new(inventory, opts).run().await
}
