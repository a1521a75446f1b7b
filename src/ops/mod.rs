//! Operations on containers: the action vocabulary and the audit trail.

pub mod action;
pub mod audit;

pub use action::ContainerAction;
pub use audit::{AuditLog, AuditRecord};
