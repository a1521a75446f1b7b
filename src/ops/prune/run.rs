//! Carries a host's prune plan out: exactly the planned objects, one by one,
//! never forced, so Docker still refuses what became used since the plan.
//! A failed removal is reported and the rest go on.

use bollard::Docker;
use bollard::query_parameters::{RemoveContainerOptions, RemoveImageOptions, RemoveVolumeOptions};
use futures::future::BoxFuture;
use serde::Serialize;

use super::{HostPlan, Item, Kind};
use crate::ops::{AuditLog, AuditRecord};

/// The removals a prune asks of one daemon.
pub trait Remover: Send + Sync {
    fn remove_container<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), String>>;
    /// Removes one reference (a tag, or the id of an untagged image).
    fn remove_image<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), String>>;
    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

impl Remover for Docker {
    fn remove_container<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), String>> {
        let opts = RemoveContainerOptions::default();
        Box::pin(async move {
            Docker::remove_container(self, id, Some(opts))
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn remove_image<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), String>> {
        let opts = RemoveImageOptions::default();
        Box::pin(async move {
            Docker::remove_image(self, reference, Some(opts), None)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }

    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), String>> {
        let opts = RemoveVolumeOptions::default();
        Box::pin(async move {
            Docker::remove_volume(self, name, Some(opts))
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// One planned removal, done or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    #[serde(flatten)]
    pub item: Item,
    pub ok: bool,
    pub error: Option<String>,
}

/// One host's prune, carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostResult {
    pub host: String,
    pub removed: Vec<Removal>,
    /// What the objects removed took, as far as Docker reported sizes.
    pub bytes_freed: u64,
    /// Audit records that could not be written.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Removes `plan.remove` in order (containers before the images they held),
/// writing an audit record for each.
pub async fn execute(remover: &dyn Remover, plan: &HostPlan, audit: &AuditLog) -> HostResult {
    let mut removed = Vec::new();
    let mut warnings = Vec::new();
    for item in &plan.remove {
        let result = remove(remover, item).await;
        let record = AuditRecord::new(&plan.host, &item.name, super::audit_action(item), &result);
        if let Err(e) = crate::ops::act::audit(audit, &record) {
            warnings.push(e);
        }
        removed.push(Removal {
            item: item.clone(),
            ok: result.is_ok(),
            error: result.err(),
        });
    }
    let bytes_freed = removed
        .iter()
        .filter(|r| r.ok)
        .filter_map(|r| r.item.bytes)
        .sum();
    HostResult {
        host: plan.host.clone(),
        removed,
        bytes_freed,
        warnings,
    }
}

async fn remove(remover: &dyn Remover, item: &Item) -> Result<(), String> {
    match item.kind {
        Kind::Container => remover.remove_container(&item.id).await,
        Kind::Volume => remover.remove_volume(&item.id).await,
        // Untagged: by id. Tagged: tag by tag (an id with several tags
        // needs force); the last tag's removal deletes the image.
        Kind::Image if item.tags.is_empty() => remover.remove_image(&item.id).await,
        Kind::Image => {
            for tag in &item.tags {
                remover.remove_image(tag).await?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records every call; refuses the references in `refuse`.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
        refuse: Vec<String>,
    }

    impl Fake {
        fn call(&self, what: String) -> BoxFuture<'_, Result<(), String>> {
            let refused = self.refuse.iter().any(|r| what.ends_with(r.as_str()));
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(what.clone());
            }
            Box::pin(async move {
                if refused {
                    Err(format!("conflict: {what} is in use"))
                } else {
                    Ok(())
                }
            })
        }
    }

    impl Remover for Fake {
        fn remove_container<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), String>> {
            self.call(format!("rm {id}"))
        }
        fn remove_image<'a>(&'a self, r: &'a str) -> BoxFuture<'a, Result<(), String>> {
            self.call(format!("rmi {r}"))
        }
        fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), String>> {
            self.call(format!("volume rm {name}"))
        }
    }

    fn item(kind: Kind, id: &str, tags: &[&str], bytes: u64) -> Item {
        Item {
            kind,
            id: id.into(),
            name: id.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            bytes: Some(bytes),
            why: String::new(),
        }
    }

    #[tokio::test]
    async fn exactly_the_plan_is_removed_and_a_failure_does_not_stop_the_rest() {
        let plan = HostPlan {
            host: "fleet-1".into(),
            remove: vec![
                item(Kind::Container, "c1", &[], 1),
                item(Kind::Image, "sha256:aa", &["a:1", "a:latest"], 10),
                item(Kind::Image, "sha256:bb", &[], 100),
                item(Kind::Volume, "v1", &[], 1000),
            ],
            keep: vec![item(Kind::Image, "sha256:kept", &["k:1"], 7)],
        };
        let fake = Fake {
            refuse: vec!["sha256:bb".into()],
            ..Fake::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = AuditLog::new(dir.path().join("audit.jsonl"));
        let result = execute(&fake, &plan, &audit).await;
        let calls = fake.calls.lock().expect("calls").clone();
        assert_eq!(
            calls,
            [
                "rm c1",
                "rmi a:1",
                "rmi a:latest",
                "rmi sha256:bb",
                "volume rm v1"
            ]
        );
        let ok: Vec<bool> = result.removed.iter().map(|r| r.ok).collect();
        assert_eq!(ok, [true, true, false, true]);
        assert_eq!(result.bytes_freed, 1011);
        let (records, _) = audit.tail(10).expect("audit");
        let actions: Vec<String> = records
            .iter()
            .map(|r| format!("{} {}", r.action, r.result))
            .collect();
        assert_eq!(actions[0], "prune container c1 ok");
        assert_eq!(actions[1], "prune image sha256:aa ok");
        assert!(actions[2].starts_with("prune image sha256:bb conflict"));
        assert_eq!(records.len(), 4);
    }
}
