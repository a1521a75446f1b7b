//! Start-first: the new container starts beside the old one (same networks,
//! aliases and labels, under a temporary name), proves itself healthy while
//! the old one still serves, and only then does the old one go: drained for
//! `stop_grace`, stopped with its own signal and timeout, moved aside, the
//! new one given its name, the old one removed (logs kept). A failed gate
//! removes the new one; the old one was never touched.

use std::time::Instant;

use bollard::models::{ContainerInspectResponse, EndpointIpamConfig, EndpointSettings};

use super::replica::{At, Ended, Swap, SwapFailed, Swapped, runs_target, stop};
use super::{Run, millis};
use crate::config::Order;
use crate::ops::deploy::engine::{
    Engine, create, image_config, inspect_opt, inspect_some, remove_container, rename,
};
use crate::ops::deploy::event::{Step, Timings};
use crate::ops::deploy::kept::{self, Why};
use crate::ops::deploy::order::{Exposure, decide};
use crate::ops::deploy::probe::ContainerSnap;
use crate::ops::deploy::{DeployError, DockerContext, new_name, old_name, spec};

impl Run<'_> {
    /// `None` when this container is replaced stop-first (or is half done
    /// by an earlier stop-first run, which that path finishes).
    pub(super) async fn start_first(
        &self,
        engine: &dyn Engine,
        s: &Swap<'_>,
        timings: &mut Timings,
    ) -> Option<Result<Swapped, SwapFailed>> {
        let (at, host, name) = (s.at, s.at.host, s.at.r.container.as_str());
        let temp = new_name(name);
        let looked = futures::future::try_join3(
            inspect_opt(engine, host, name),
            inspect_opt(engine, host, &old_name(name)),
            inspect_opt(engine, host, &temp),
        )
        .await;
        let (current, aside, leftover) = match looked {
            Ok(found) => found,
            Err(e) => return Some(Err(untouched(e))),
        };
        let c = match (current, aside, leftover) {
            (Some(c), None, leftover) => {
                // A crashed start-first run's candidate never took the name: it
                // goes; the old one gets back aliases the crash left it without.
                match leftover {
                    None => c,
                    Some(l) => {
                        give_aliases(engine, c.id.as_deref().unwrap_or(name), &c, &l).await;
                        kept::before_remove(engine, self.d, host, &temp, name, Why::Failed).await;
                        let id = l.id.clone().unwrap_or_else(|| temp.clone());
                        if let Err(e) = remove_container(engine, host, &id).await {
                            return Some(Err(untouched(e)));
                        }
                        // Its networks changed: the candidate is made from it as it is now.
                        match inspect_some(engine, host, name, "inspect the container").await {
                            Ok(c) => c,
                            Err(e) => return Some(Err(untouched(e))),
                        }
                    }
                }
            }
            // Killed mid-switch: the old one aside, the candidate (healthy
            // before the old one stopped) not yet named.
            (None, Some(old), Some(cand))
                if cand.image.as_deref() == Some(s.image_id) || s.image_id.is_empty() =>
            {
                return self.finish_switch(engine, at, old, cand, timings).await;
            }
            _ => return None,
        };
        let (order, _) = decide(self.d.service.order, &Exposure::of(&c));
        if order == Order::StopFirst {
            return None;
        }
        if runs_target(&ContainerSnap::from_inspect(&c), &at.r.to, s.image_id) {
            return Some(Ok(Swapped::UpToDate));
        }
        Some(self.beside(engine, at, s, c, timings).await)
    }

    async fn beside(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        s: &Swap<'_>,
        c: ContainerInspectResponse,
        timings: &mut Timings,
    ) -> Result<Swapped, SwapFailed> {
        let (host, name) = (at.host, at.r.container.as_str());
        let temp = new_name(name);
        let t = Instant::now();
        let id = match self.start_candidate(engine, at, s, &c, &temp).await {
            Ok(id) => id,
            Err(e) => {
                self.audit_replica(at, "replace", &Err(e.to_string()));
                self.discard(engine, host, &temp, name).await;
                return Err(untouched(e));
            }
        };
        self.audit_replica(at, "start", &Ok(()));
        timings.start_ms += millis(t.elapsed());
        let t = Instant::now();
        let gate = self.gate(engine, at, &id, true).await;
        timings.health_ms += millis(t.elapsed());
        self.audit_replica(
            at,
            "health",
            &gate.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        if let Err(e) = gate {
            self.step_at(
                at,
                Step::RollingBack,
                "removing the new container; the old one never stopped",
            );
            self.discard(engine, host, &temp, name).await;
            return Err(untouched(e));
        }
        self.step_at(
            at,
            Step::Healthy,
            format!(
                "after {:.1}s, beside the old one",
                t.elapsed().as_secs_f64()
            ),
        );
        // The switch: the new one serves already; the old one drains and goes.
        if let Err(e) = self.switch(engine, at, &c, &id).await {
            let error = e.to_string();
            self.audit_replica(at, "replace", &Err(error.clone()));
            return Err(self.switch_back(engine, at, &c, &temp, error).await);
        }
        timings.down_ms = Some(0);
        let aside = old_name(name);
        self.step_at(at, Step::RemovingOld, &aside);
        kept::before_remove(engine, self.d, host, &aside, name, Why::Replaced).await;
        if let Err(e) = remove_container(engine, host, &aside).await {
            self.step_at(
                at,
                Step::RemovingOld,
                format!("{e} (the new container is healthy)"),
            );
        }
        Ok(Swapped::Replaced(Box::new(c)))
    }

    /// Completes a switch an interrupted run left half done: the candidate,
    /// healthy again, takes the name; the old one goes. `None` (the stop-first
    /// path restarts from the old one) when the candidate is not healthy.
    async fn finish_switch(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        old: ContainerInspectResponse,
        cand: ContainerInspectResponse,
        timings: &mut Timings,
    ) -> Option<Result<Swapped, SwapFailed>> {
        let (host, name) = (at.host, at.r.container.as_str());
        let id = cand.id.clone().unwrap_or_else(|| new_name(name));
        let t = Instant::now();
        if self.gate(engine, at, &id, true).await.is_err() {
            self.discard(engine, host, &new_name(name), name).await;
            return None;
        }
        timings.health_ms += millis(t.elapsed());
        if let Err(e) = rename(engine, host, &id, name).await {
            return Some(Err(SwapFailed {
                error: e.to_string(),
                end: Ended::Unknown,
            }));
        }
        let aside = old_name(name);
        kept::before_remove(engine, self.d, host, &aside, name, Why::Replaced).await;
        let _ = remove_container(engine, host, &aside).await;
        Some(Ok(Swapped::Replaced(Box::new(old))))
    }

    /// Creates and starts the new container beside the old one.
    async fn start_candidate(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        s: &Swap<'_>,
        c: &ContainerInspectResponse,
        temp: &str,
    ) -> Result<String, DeployError> {
        let host = at.host;
        let config = image_config(engine, host, c).await?;
        let body = spec::recreate(c, config.as_ref(), &at.r.to, &self.deploy_labels(c));
        self.step_at(
            at,
            Step::Creating,
            format!("{} as {temp}, beside the old one", at.r.to),
        );
        let id = create(engine, host, temp, body).await?;
        self.step_at(at, Step::Starting, crate::human::short_id(s.image_id));
        engine.start(&id).await.ctx(host, format!("start {temp}"))?;
        Ok(id)
    }

    /// Drains and stops the old container, moves it aside, gives the new one
    /// its name. Renames only once the stop is over (no rename overlaps a stop).
    async fn switch(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        old: &ContainerInspectResponse,
        new_id: &str,
    ) -> Result<(), DeployError> {
        let (host, name) = (at.host, at.r.container.as_str());
        let old_id = old.id.clone().unwrap_or_else(|| name.to_owned());
        // Name lookups find only the new one from here; the old one keeps
        // serving who already resolved it, for the grace.
        let unlisted = unadvertise(engine, &old_id, old).await;
        self.drain(host, at.tag.clone(), unlisted).await;
        self.step_at(at, Step::Stopping, name);
        stop(engine, host, old).await?;
        self.step_at(at, Step::Renaming, old_name(name));
        rename(engine, host, &old_id, &old_name(name)).await?;
        rename(engine, host, new_id, name).await?;
        Ok(())
    }

    /// The switch failed half way: the old container back under its name
    /// and running, the new one removed; confirmed healthy by `restore`.
    async fn switch_back(
        &self,
        engine: &dyn Engine,
        at: &At<'_>,
        old: &ContainerInspectResponse,
        temp: &str,
        error: String,
    ) -> SwapFailed {
        let (host, name) = (at.host, at.r.container.as_str());
        self.step_at(at, Step::RollingBack, &error);
        // Whichever name the new one has now, it goes (its logs kept).
        let old_id = old.id.clone().unwrap_or_default();
        give_aliases(engine, &old_id, &ContainerInspectResponse::default(), old).await;
        for candidate in [temp, name] {
            if let Ok(Some(c)) = inspect_opt(engine, host, candidate).await
                && c.id.as_deref() != Some(old_id.as_str())
            {
                kept::before_remove(engine, self.d, host, candidate, name, Why::Failed).await;
                let _ = remove_container(engine, host, candidate).await;
            }
        }
        match self.restore(engine, at).await {
            Ok(()) => SwapFailed {
                error,
                end: Ended::Back,
            },
            Err(e) => SwapFailed {
                error: format!("{error}; then restoring the old container failed: {e}"),
                end: if e.unreachable() {
                    Ended::Unreachable
                } else {
                    Ended::Unknown
                },
            },
        }
    }

    /// An interrupted run's candidate beside a container that stays: removed
    /// (its logs kept), and the container gets back aliases the run's drain
    /// took. Best effort: a failure is a warning in the log.
    pub(super) async fn drop_candidate(&self, engine: &dyn Engine, host: &str, name: &str) {
        let temp = new_name(name);
        let Ok((Some(current), Some(cand))) = futures::future::try_join(
            inspect_opt(engine, host, name),
            inspect_opt(engine, host, &temp),
        )
        .await
        else {
            return;
        };
        give_aliases(
            engine,
            current.id.as_deref().unwrap_or(name),
            &current,
            &cand,
        )
        .await;
        self.discard(engine, host, &temp, name).await;
    }

    /// Removes the candidate (its logs kept); the old one is untouched.
    async fn discard(&self, engine: &dyn Engine, host: &str, temp: &str, name: &str) {
        if let Ok(Some(_)) = inspect_opt(engine, host, temp).await {
            kept::before_remove(engine, self.d, host, temp, name, Why::Failed).await;
            if let Err(e) = remove_container(engine, host, temp).await {
                tracing::warn!("{host}: removing {temp}: {e}");
            }
        }
    }
}

/// A failure that left the old container as it was.
fn untouched(e: DeployError) -> SwapFailed {
    SwapFailed {
        error: e.to_string(),
        end: Ended::Untouched,
    }
}

/// The user-defined networks where the container answers to aliases.
fn aliased(c: &ContainerInspectResponse) -> Vec<(String, EndpointSettings)> {
    // Docker 20.10 lists the container's short id among its aliases itself.
    let short = crate::human::short_id(c.id.as_deref().unwrap_or_default());
    c.network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|nets| {
            nets.iter()
                .filter(|(net, _)| !matches!(net.as_str(), "bridge" | "host" | "none"))
                .filter_map(|(net, ep)| {
                    let own: Vec<String> = ep
                        .aliases
                        .iter()
                        .flatten()
                        .filter(|a| **a != short)
                        .cloned()
                        .collect();
                    (!own.is_empty()).then(|| {
                        let mut ep = ep.clone();
                        ep.aliases = Some(own);
                        (net.clone(), ep)
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The same address on its network, with or without the aliases.
fn endpoint(ep: &EndpointSettings, aliases: bool) -> EndpointSettings {
    let ip = ep.ip_address.clone().filter(|i| !i.is_empty());
    EndpointSettings {
        aliases: if aliases { ep.aliases.clone() } else { None },
        ipam_config: ip.map(|ip| EndpointIpamConfig {
            ipv4_address: Some(ip),
            ..Default::default()
        }),
        links: ep.links.clone(),
        ..Default::default()
    }
}

/// Takes the old container's network aliases away (reconnected at the same
/// address, so connections already made still reach it), so that lookups by
/// alias find only the new one. Best effort: returns how many it unlisted.
pub(super) async fn unadvertise(
    engine: &dyn Engine,
    id: &str,
    old: &ContainerInspectResponse,
) -> usize {
    let mut done = 0;
    for (net, ep) in aliased(old) {
        if engine.disconnect(&net, id).await.is_err() {
            continue;
        }
        // A network without a configured subnet takes no fixed address.
        let same_address = engine.connect(&net, id, endpoint(&ep, false)).await.is_ok();
        if !same_address
            && engine
                .connect(&net, id, EndpointSettings::default())
                .await
                .is_err()
        {
            let _ = engine.connect(&net, id, endpoint(&ep, true)).await;
            continue;
        }
        done += 1;
    }
    done
}

/// Gives container `id` the aliases `model` has where it lacks them (a
/// failed switch, or a run killed while it drained, left it unlisted). Not
/// pinned to an address (a fixed one would make every later deploy of it
/// stop-first): it may get a new one.
async fn give_aliases(
    engine: &dyn Engine,
    id: &str,
    current: &ContainerInspectResponse,
    model: &ContainerInspectResponse,
) {
    let have = aliased(current);
    for (net, ep) in aliased(model) {
        let theirs = have
            .iter()
            .find(|(n, _)| *n == net)
            .and_then(|(_, e)| e.aliases.as_ref());
        let wanted = ep.aliases.iter().flatten();
        if wanted
            .clone()
            .all(|a| theirs.is_some_and(|t| t.contains(a)))
        {
            continue;
        }
        let _ = engine.disconnect(&net, id).await;
        let back = EndpointSettings {
            aliases: ep.aliases.clone(),
            links: ep.links.clone(),
            ..Default::default()
        };
        let _ = engine.connect(&net, id, back).await;
    }
}
