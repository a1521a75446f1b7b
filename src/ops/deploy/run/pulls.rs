//! Registry pulls for every host at once, started when the locks are held:
//! a serial rollout then waits at each host only for that host's own pull
//! (usually long finished), not for one pull after another. A pull that
//! fails is reported at its host's turn, as if it had just been made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::Deployment;
use crate::ops::deploy::DeployError;
use crate::ops::deploy::event::DeployEvent;
use crate::ops::deploy::image::{self, Delivery};
use crate::ops::deploy::plan::Job;

/// Pulls running at once, at most: a registry serves a whole fleet.
const AT_ONCE: usize = 8;

type Pull = JoinHandle<Result<String, DeployError>>;

/// (host, image) → its pull. Dropping it stops the pulls still running.
#[derive(Default)]
pub(super) struct Pulls(Mutex<HashMap<(String, String), Pull>>);

impl Pulls {
    /// Starts the pull of every image a host is about to run, on every host
    /// of the plan (registry delivery only), except those in `ready`.
    pub(super) fn start(
        d: &Deployment,
        ready: &HashMap<(String, String), String>,
        events: &mpsc::Sender<DeployEvent>,
    ) -> Pulls {
        let mut pulls = HashMap::new();
        if d.delivery != Delivery::Registry {
            return Pulls::default();
        }
        let limit = Arc::new(Semaphore::new(AT_ONCE));
        for ph in d.plan.hosts() {
            let Some(engine) = d.hosts.iter().find(|h| h.name == ph.host) else {
                continue;
            };
            for r in ph.changing().filter(|r| r.job != Job::Restore) {
                let key = (ph.host.clone(), r.to.clone());
                if ready.contains_key(&key) || pulls.contains_key(&key) {
                    continue;
                }
                let (engine, limit, events) =
                    (engine.engine.clone(), limit.clone(), events.clone());
                let (host, image) = key.clone();
                pulls.insert(
                    key,
                    tokio::spawn(async move {
                        let _turn = limit.acquire_owned().await;
                        image::ensure(engine.as_ref(), &host, &image, None, &events).await
                    }),
                );
            }
        }
        Pulls(Mutex::new(pulls))
    }

    /// The pull of `image` on `host`, if one was started: its image id.
    pub(super) async fn take(
        &self,
        host: &str,
        image: &str,
    ) -> Option<Result<String, DeployError>> {
        let pull = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(host.to_owned(), image.to_owned()))?;
        Some(match pull.await {
            Ok(result) => result,
            Err(e) => Err(DeployError::host(host, format!("pull {image}: {e}"))),
        })
    }
}

impl Drop for Pulls {
    fn drop(&mut self) {
        let pulls = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (_, pull) in pulls.drain() {
            pull.abort();
        }
    }
}
