//! What a host looks like for one service: its containers (several for a
//! scaled Compose service), leftover old containers, the deploy lock. Plain data for the planner, read with a few
//! inspect calls.

use bollard::models::ContainerInspectResponse;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::engine::{Engine, image_id, inspect_opt};
use super::{
    DeployError, DockerContext, LABEL_DEPLOY_ID, LABEL_ONEOFF, LABEL_PREVIOUS_IMAGE, OLD_SUFFIX,
    lock, old_name,
};
use crate::config::{ContainerSelector, ServiceSpec};
use crate::fleet::natural_cmp;

/// One container as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSnap {
    pub id: String,
    pub name: String,
    /// The image reference it was created from.
    pub image: String,
    pub image_id: String,
    pub running: bool,
    pub state: String,
    /// healthy / unhealthy / starting; `None` without a health check.
    pub health: Option<String>,
    pub restart_count: i64,
    pub previous_image: Option<String>,
    pub deploy_id: Option<String>,
    /// Its labels (Compose's among them), for what reads them; not printed.
    #[serde(skip)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its host ports and network mode: whether a second one can run beside it.
    #[serde(skip)]
    pub exposure: super::order::Exposure,
}

impl ContainerSnap {
    pub fn from_inspect(c: &ContainerInspectResponse) -> Self {
        let state = c.state.as_ref();
        let labels = c.config.as_ref().and_then(|cfg| cfg.labels.as_ref());
        let label = |key: &str| labels.and_then(|l| l.get(key)).cloned();
        ContainerSnap {
            id: c.id.clone().unwrap_or_default(),
            name: c
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: c
                .config
                .as_ref()
                .and_then(|cfg| cfg.image.clone())
                .unwrap_or_default(),
            image_id: c.image.clone().unwrap_or_default(),
            running: state.and_then(|s| s.running).unwrap_or(false),
            state: state
                .and_then(|s| s.status)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into()),
            health: state
                .and_then(|s| s.health.as_ref())
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| matches!(s.as_str(), "healthy" | "unhealthy" | "starting")),
            restart_count: c.restart_count.unwrap_or(0),
            previous_image: label(LABEL_PREVIOUS_IMAGE),
            deploy_id: label(LABEL_DEPLOY_ID),
            labels: labels
                .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            exposure: super::order::Exposure::of(c),
        }
    }
}

pub use super::lock::{Liveness, LockInfo};

/// One replica of the service on a host: its container and a leftover old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaProbe {
    /// The container's name (also the name it keeps across deploys).
    pub name: String,
    pub current: Option<ContainerSnap>,
    /// `NAME-flotilla-old`: left by a deploy that did not finish.
    pub old: Option<ContainerSnap>,
    /// `NAME-flotilla-new` exists: a start-first candidate an interrupted
    /// deploy left.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub candidate: bool,
}

/// One host's state for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostProbe {
    pub host: String,
    /// The service's containers here, in natural name order (Compose
    /// replicas: shop-api-1, shop-api-2…); empty when no label matches (a
    /// `container = NAME` is always there, maybe with neither container).
    pub replicas: Vec<ReplicaProbe>,
    pub lock: Option<LockInfo>,
    /// The id the target image reference has on this host, if it is there.
    pub target_id: Option<String>,
}

impl HostProbe {
    /// How Compose manages the service here (from its containers' labels):
    /// `None` where it does not.
    pub fn compose(&self) -> Option<Result<super::compose::ComposeTarget, String>> {
        self.replicas
            .iter()
            .filter_map(|r| r.current.as_ref().or(r.old.as_ref()))
            .find_map(|c| super::compose::target(&c.labels))
    }

    /// Replicas left half replaced by an interrupted deploy.
    pub fn half_replaced(&self) -> impl Iterator<Item = &ReplicaProbe> {
        self.replicas.iter().filter(|r| r.old.is_some())
    }
}

/// Reads one host's state; `target` is the image about to be deployed.
pub async fn probe_host(
    host: &str,
    engine: &dyn Engine,
    service: &ServiceSpec,
    target: Option<&str>,
) -> Result<HostProbe, DeployError> {
    let names = match &service.container {
        ContainerSelector::Name(name) => vec![name.clone()],
        sel => find_by_label(host, engine, sel).await?,
    };
    let inspect = |name: String| async move {
        inspect_opt(engine, host, &name)
            .await
            .map(|c| c.map(|c| ContainerSnap::from_inspect(&c)))
    };
    // A configured name stays even when it exists in neither form: the
    // planner decides what a missing container means for each intent.
    // Every read at once: one round trip to a far host, not four.
    // A few replicas at a time: dial-stdio hosts allow 10 sessions per connection.
    let replicas = futures::stream::iter(names)
        .map(|name| async move {
            let (current, old, candidate) = futures::future::try_join3(
                inspect(name.clone()),
                inspect(old_name(&name)),
                inspect(super::new_name(&name)),
            )
            .await?;
            Ok::<_, DeployError>(ReplicaProbe {
                name,
                current,
                old,
                candidate: candidate.is_some(),
            })
        })
        .buffered(2)
        .try_collect::<Vec<_>>();
    let target_id = async {
        match target {
            Some(image) => image_id(engine, host, image).await,
            None => Ok(None),
        }
    };
    let (replicas, lock, target_id) =
        futures::future::try_join3(replicas, lock::read(engine, host, &service.name), target_id)
            .await?;
    Ok(HostProbe {
        host: host.to_owned(),
        replicas,
        lock,
        target_id,
    })
}

/// Every container with the label, by the name it has outside a deploy (an
/// `-flotilla-old` one stands for its replica when it is all that is left).
async fn find_by_label(
    host: &str,
    engine: &dyn Engine,
    selector: &ContainerSelector,
) -> Result<Vec<String>, DeployError> {
    // Docker is asked with the first filter; the rest are checked here.
    let filter = match selector.label_filters().first() {
        Some((key, Some(v))) => format!("{key}={v}"),
        Some((key, None)) => key.clone(),
        None => return Ok(Vec::new()),
    };
    let list = engine
        .list(&filter)
        .await
        .ctx(host, format!("list containers with label {filter}"))?;
    let mut names: Vec<String> = list
        .into_iter()
        .filter(|c| {
            let labels = c.labels.as_ref();
            !labels.is_some_and(|l| l.contains_key(LABEL_ONEOFF) || l.contains_key(lock::LABEL))
                && selector.labels_match(|k| labels.and_then(|l| l.get(k)).map(String::as_str))
        })
        .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
        .map(|n| {
            let n = n.trim_start_matches('/');
            // A run's old container and start-first candidate are the replica's.
            n.strip_suffix(OLD_SUFFIX)
                .or_else(|| n.strip_suffix(super::NEW_SUFFIX))
                .unwrap_or(n)
                .to_owned()
        })
        .collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    names.dedup();
    Ok(names)
}
