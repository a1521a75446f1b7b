//! flotilla: operate a small fleet of Docker hosts over SSH.

pub mod cli;
pub mod config;
pub mod fleet;
pub mod glob;
pub mod human;
pub mod logs;
pub mod ops;
pub mod private;
pub mod quote;
pub mod redact;
pub mod terminal;
pub mod transport;
pub mod tui;
