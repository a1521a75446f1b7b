//! Operations on containers: the action vocabulary, the audit trail, and
//! rolling deploys.

pub mod action;
pub mod audit;
pub mod deploy;
pub mod triage;

pub use action::ContainerAction;
pub use audit::{AuditLog, AuditRecord};
