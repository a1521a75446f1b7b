//! Operations on containers: the action vocabulary, the audit trail, and
//! rolling deploys.

pub mod act;
pub mod alerts;
pub mod audit;
pub mod deploy;
pub mod exec;
pub mod prune;
pub mod timeline;
pub mod top;
pub mod triage;
pub mod watch;

// Actors carry actions out; ops decides who may run them.
pub use crate::fleet::ContainerAction;
pub use audit::{AuditAction, AuditLog, AuditRecord, AuditTail};
