//! `prune`: what stopped containers, unused images and unused anonymous
//! volumes can go from each host. A pure planner ([`plan`]) decides from
//! what a host reported ([`Facts`], read by [`collect`]); the executor
//! ([`run`]) removes exactly the planned objects one by one (never Docker's
//! prune endpoints), so a dry run lists what a real prune removes.

pub mod collect;
pub mod plan;
pub mod run;

use std::collections::BTreeMap;

use serde::Serialize;

pub use plan::plan;

/// Which kinds of objects a prune considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    pub containers: bool,
    pub images: bool,
    pub volumes: bool,
}

/// Only objects carrying this label (`KEY` or `KEY=VALUE`), like
/// `docker system prune --filter label=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
}

impl LabelFilter {
    pub fn parse(text: &str) -> Result<LabelFilter, String> {
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (text, None),
        };
        if key.trim().is_empty() {
            return Err(format!("{text:?} names no label: use KEY or KEY=VALUE"));
        }
        Ok(LabelFilter {
            key: key.to_owned(),
            value,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels
            .get(&self.key)
            .is_some_and(|v| self.value.as_ref().is_none_or(|want| want == v))
    }
}

/// A container as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerFact {
    pub id: String,
    pub name: String,
    /// The image reference it was created with.
    pub image: String,
    pub image_id: String,
    /// Docker's state: running, exited, created, dead, paused, …
    pub state: String,
    pub labels: BTreeMap<String, String>,
    /// Its writable layer, when Docker said.
    pub size: Option<u64>,
    /// Names of the volumes it mounts.
    pub volumes: Vec<String>,
}

/// An image (top-level: tagged, or dangling).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageFact {
    pub id: String,
    /// Empty when none (Docker's `<none>`).
    pub parent: String,
    pub tags: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeFact {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub size: Option<u64>,
}

/// What one host has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub containers: Vec<ContainerFact>,
    pub images: Vec<ImageFact>,
    pub volumes: Vec<VolumeFact>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Container,
    Image,
    Volume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Volume => "volume",
        }
    }
}

/// One object a prune removes, or keeps though it is of a pruned kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub kind: Kind,
    /// Container or image id, volume name: what is removed.
    pub id: String,
    /// Container name, image tags (or the short id), volume name.
    pub name: String,
    /// Image tags, removed one by one (the last removes the image).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub bytes: Option<u64>,
    pub why: String,
}

/// One host's prune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    pub host: String,
    /// In the order they are removed: containers, images, volumes.
    pub remove: Vec<Item>,
    /// What a rule protects (a rollback image, a deploy's old container…).
    pub keep: Vec<Item>,
}

impl HostPlan {
    /// The bytes the removals free, as far as Docker reported sizes.
    pub fn bytes(&self) -> u64 {
        self.remove.iter().filter_map(|i| i.bytes).sum()
    }
}

/// `prune` on a host: each listed object removed, or not.
pub fn audit_action(item: &Item) -> crate::ops::AuditAction {
    crate::ops::AuditAction::Prune(format!("{} {}", item.kind.as_str(), item.name))
}
