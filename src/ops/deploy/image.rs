//! Getting the new image onto a host: pulled from a registry, or streamed
//! from another Docker daemon (`docker save` → `docker load` through the API,
//! over the SSH tunnels already open), skipping hosts that already have it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::engine::{Engine, EngineRef, image_id};
use super::event::{DeployEvent, Step};
use super::{DeployError, DockerContext};

/// No byte for this long from a pull or transfer means it is stuck.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
pub(crate) use super::engine::TRANSFER_LIMIT;
/// Progress events at most this often per host.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Another daemon to stream an image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// A fleet host, by name.
    Host(String),
    /// The local Docker daemon.
    Local,
}

/// How images reach the hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Each host pulls from the registry named in the image reference.
    Registry,
    /// Streamed from `from`, or from the first fleet host that has the image
    /// (then the local daemon, if one was given).
    Stream { from: Option<SourceRef> },
}

/// A daemon that has the image, with the id it has there.
#[derive(Clone)]
pub struct Source {
    pub name: String,
    pub engine: EngineRef,
    pub image_id: String,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("image_id", &self.image_id)
            .finish_non_exhaustive()
    }
}

/// Splits `repo[:tag]` (a registry port is not a tag); no tag means `latest`.
pub fn split_ref(image: &str) -> (&str, &str) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], &image[name_start + i + 1..]),
        None => (image, "latest"),
    }
}

/// `IMAGE` with `:latest` added when it names no tag or digest, as Docker reads it.
pub fn normalize(image: &str) -> String {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    if image.contains('@') || image[name_start..].contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// Finds a daemon to stream `image` from: `from` if given, else the first of
/// `candidates` (name, client) that has it. All are asked at once (one round
/// trip, not one per host that lacks it); the answers are read in order, so
/// a later candidate's error matters only when no earlier one has the image.
pub async fn find_source(
    image: &str,
    candidates: &[(String, EngineRef)],
) -> Result<Option<Source>, DeployError> {
    let answers = futures::future::join_all(
        candidates
            .iter()
            .map(|(name, engine)| image_id(engine.as_ref(), name, image)),
    )
    .await;
    for ((name, engine), answer) in candidates.iter().zip(answers) {
        if let Some(id) = answer? {
            return Ok(Some(Source {
                name: name.clone(),
                engine: engine.clone(),
                image_id: id,
            }));
        }
    }
    Ok(None)
}

/// Makes sure `image` is on the host. `source` is `None` for registry pulls.
/// Returns the image id there.
pub async fn ensure(
    engine: &dyn Engine,
    host: &str,
    image: &str,
    source: Option<&Source>,
    events: &mpsc::Sender<DeployEvent>,
) -> Result<String, DeployError> {
    let step = |step: Step, detail: String| {
        let _ = events.try_send(DeployEvent::Step {
            host: host.to_owned(),
            replica: None,
            step,
            detail,
        });
    };
    let Some(source) = source else {
        step(Step::Pulling, image.to_owned());
        bounded(host, "pull", pull(engine, host, image, events)).await?;
        let id = image_id(engine, host, image)
            .await?
            .ok_or_else(|| DeployError::host(host, format!("{image} missing after the pull")))?;
        // Pulls run ahead of their host's turn: its row says the image is there.
        report_present(events, host, &id);
        return Ok(id);
    };
    // By name and by id at once: one round trip whichever it turns out to be.
    let (named, by_id) = futures::future::try_join(
        image_id(engine, host, image),
        image_id(engine, host, &source.image_id),
    )
    .await?;
    if named.as_deref() == Some(source.image_id.as_str()) {
        report_present(events, host, &source.image_id);
        return Ok(source.image_id.clone());
    }
    let (repo, tag) = split_ref(image);
    if by_id.is_some() {
        // Same image under another name: a tag is enough.
        step(
            Step::Tagging,
            format!("{} as {image}", crate::human::short_id(&source.image_id)),
        );
    } else {
        step(Step::Transferring, format!("from {}", source.name));
        bounded(
            host,
            "image transfer",
            transfer(engine, host, source, image, events),
        )
        .await?;
    }
    // Tag explicitly: `load` tags only with the names it was saved under.
    engine
        .tag(&source.image_id, repo, tag)
        .await
        .ctx(host, format!("tag {image}"))?;
    match image_id(engine, host, image).await? {
        Some(id) if id == source.image_id => Ok(id),
        other => Err(DeployError::host(
            host,
            format!(
                "{image} is {} after the transfer, expected {}",
                other.as_deref().unwrap_or("missing"),
                source.image_id
            ),
        )),
    }
}

/// The image is on the host already: said as the transfer would say it.
pub(super) fn report_present(events: &mpsc::Sender<DeployEvent>, host: &str, id: &str) {
    let _ = events.try_send(DeployEvent::Step {
        host: host.to_owned(),
        replica: None,
        step: Step::ImagePresent,
        detail: crate::human::short_id(id),
    });
}

async fn bounded<T>(
    host: &str,
    what: &str,
    work: impl Future<Output = Result<T, DeployError>>,
) -> Result<T, DeployError> {
    tokio::time::timeout(TRANSFER_LIMIT, work)
        .await
        .map_err(|_| DeployError::Timeout {
            host: host.to_owned(),
            what: what.to_owned(),
            after: TRANSFER_LIMIT,
        })?
}

/// Next item, or an error when the stream went quiet for too long.
async fn next_or_idle<S: Stream + Unpin>(
    stream: &mut S,
    host: &str,
    what: &str,
) -> Result<Option<S::Item>, DeployError> {
    tokio::time::timeout(IDLE_TIMEOUT, stream.next())
        .await
        .map_err(|_| DeployError::Timeout {
            host: host.to_owned(),
            what: format!("{what} (no progress)"),
            after: IDLE_TIMEOUT,
        })
}

async fn pull(
    engine: &dyn Engine,
    host: &str,
    image: &str,
    events: &mpsc::Sender<DeployEvent>,
) -> Result<(), DeployError> {
    let mut stream = engine.pull(image);
    // Per layer: (current, total) bytes.
    let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
    let mut last = Instant::now();
    while let Some(item) = next_or_idle(&mut stream, host, "pull").await? {
        let info = item.ctx(host, format!("pull {image}"))?;
        if let Some(id) = info.layer {
            let entry = layers.entry(id).or_default();
            entry.0 = info.current.unwrap_or(entry.0);
            entry.1 = info.total.unwrap_or(entry.1);
        }
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            let (bytes, total) = layers
                .values()
                .fold((0, 0), |(b, t), (c, l)| (b + c, t + l));
            let _ = events.try_send(DeployEvent::Progress {
                host: host.to_owned(),
                bytes,
                total: (total > 0).then_some(total),
            });
        }
    }
    Ok(())
}

/// Streams `image` from the source daemon into this host's, reporting bytes sent.
async fn transfer(
    engine: &dyn Engine,
    host: &str,
    source: &Source,
    image: &str,
    events: &mpsc::Sender<DeployEvent>,
) -> Result<(), DeployError> {
    let (tx, name) = (events.clone(), host.to_owned());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let mut last = Instant::now();
    let counted = source.engine.export(image).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            let total =
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed) + bytes.len() as u64;
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                let _ = tx.try_send(DeployEvent::Progress {
                    host: name.clone(),
                    bytes: total,
                    total: None,
                });
            }
        }
        chunk
    });
    // Not quiet: Docker reports each layer as it loads, so a slow load is not idle.
    let mut stream = engine.load(counted.boxed());
    // Idle means neither bytes going up nor messages coming back.
    let (mut seen, mut moved) = (0, Instant::now());
    loop {
        tokio::select! {
            item = stream.next() => match item {
                None => return Ok(()),
                Some(item) => {
                    item.ctx(host, format!("load {image} from {}", source.name))?;
                    moved = Instant::now();
                }
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let now = sent.load(Ordering::Relaxed);
                if now != seen {
                    (seen, moved) = (now, Instant::now());
                } else if moved.elapsed() > IDLE_TIMEOUT {
                    return Err(DeployError::Timeout {
                        host: host.to_owned(),
                        what: "image transfer (no progress)".to_owned(),
                        after: IDLE_TIMEOUT,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_split_into_repo_and_tag() {
        assert_eq!(split_ref("app:v2"), ("app", "v2"));
        assert_eq!(
            split_ref("flotilla-test/app:v1"),
            ("flotilla-test/app", "v1")
        );
        assert_eq!(
            split_ref("127.0.0.1:5000/team/app:v2"),
            ("127.0.0.1:5000/team/app", "v2")
        );
        assert_eq!(
            split_ref("127.0.0.1:5000/app"),
            ("127.0.0.1:5000/app", "latest")
        );
        assert_eq!(split_ref("app"), ("app", "latest"));
    }

    #[test]
    fn refs_normalize_to_a_tag() {
        assert_eq!(normalize("app"), "app:latest");
        assert_eq!(normalize("reg:5000/app"), "reg:5000/app:latest");
        assert_eq!(normalize("app:v1"), "app:v1");
        assert_eq!(normalize("app@sha256:abc"), "app@sha256:abc");
    }
}
