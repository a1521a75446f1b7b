//! Per-view state: each view owns its fields and answers the actions meant
//! for it; `App` keeps what all views share and dispatches.

pub mod containers;
pub mod deploy;
pub mod filter;
pub mod logs;
