//! An in-memory fleet of Docker daemons for executor tests: containers
//! (name, id, image, state, a scripted health sequence, labels, restart
//! policy, `--rm`), images per host and a registry. It answers like Docker
//! (404 absent, 409 name taken, 304 already started/stopped) and injects
//! faults: an error status, or a "crash" that freezes every host for good,
//! as if the flotilla process died mid-call.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bollard::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, ContainerState,
    ContainerStateStatusEnum, ContainerSummary, EndpointSettings, Health, HealthConfig,
    HealthStatusEnum, HostConfig, ImageConfig, ImageInspect, RestartPolicy, RestartPolicyNameEnum,
};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hyper::body::Bytes;
use tokio::sync::watch;

use super::engine::{Engine, EngineError, EngineResult, HostHandle, PullProgress};

pub use HealthStatusEnum::{HEALTHY, STARTING, UNHEALTHY};

/// The engine operations, for counting calls and placing faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Inspect,
    InspectImage,
    List,
    Create,
    Connect,
    Disconnect,
    Start,
    Stop,
    Rename,
    Remove,
    Logs,
    Events,
    Exec,
    Pull,
    Export,
    Load,
    Tag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this HTTP status and changes nothing.
    Status(u16),
    /// The call never returns, nor does any later one, on any host.
    Crash,
    /// The call takes effect at once but answers this much later, logged
    /// then as `host op args answered`: what overlaps a slow call shows.
    Late(std::time::Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Exited,
}

#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The reference it was created from.
    pub image: String,
    pub image_id: String,
    pub state: State,
    /// What its HEALTHCHECK reports from now on, one step per inspect (the
    /// last repeats); empty without a HEALTHCHECK.
    pub health: VecDeque<HealthStatusEnum>,
    pub labels: HashMap<String, String>,
    pub restart_policy: Option<String>,
    pub auto_remove: bool,
    /// Docker 20.10 lost its network sandbox: renaming it while it runs
    /// answers 404 until it is started again.
    pub stale_sandbox: bool,
}

impl Container {
    pub fn running(&self) -> bool {
        self.state == State::Running
    }

    fn inspect(&self) -> ContainerInspectResponse {
        let healthcheck = (!self.health.is_empty()).then(|| HealthConfig {
            test: Some(vec!["CMD".into(), "check".into()]),
            ..Default::default()
        });
        let health = match (self.state, self.health.front()) {
            (State::Running, Some(status)) => Some(Health {
                status: Some(*status),
                ..Default::default()
            }),
            _ => None,
        };
        ContainerInspectResponse {
            id: Some(self.id.clone()),
            name: Some(format!("/{}", self.name)),
            image: Some(self.image_id.clone()),
            restart_count: Some(0),
            config: Some(ContainerConfig {
                image: Some(self.image.clone()),
                labels: Some(self.labels.clone()),
                healthcheck,
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                auto_remove: Some(self.auto_remove),
                restart_policy: self.restart_policy.as_ref().map(|p| RestartPolicy {
                    name: p.parse::<RestartPolicyNameEnum>().ok(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            state: Some(ContainerState {
                status: Some(match self.state {
                    State::Created => ContainerStateStatusEnum::CREATED,
                    State::Running => ContainerStateStatusEnum::RUNNING,
                    State::Exited => ContainerStateStatusEnum::EXITED,
                }),
                running: Some(self.running()),
                restarting: Some(false),
                exit_code: Some(0),
                // Docker keeps the last start time once stopped; never started: zero.
                started_at: Some(match self.state {
                    State::Created => "0001-01-01T00:00:00Z".to_owned(),
                    State::Running | State::Exited => "2026-11-30T12:00:00.5Z".to_owned(),
                }),
                health,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// An image: its id and what a container of it reports as health.
#[derive(Debug, Clone)]
struct Image {
    id: String,
    health: Vec<HealthStatusEnum>,
}

#[derive(Default)]
struct Host {
    containers: Vec<Container>,
    /// Reference → id.
    tags: HashMap<String, String>,
    /// Id → image.
    images: HashMap<String, Image>,
}

impl Host {
    fn find(&self, name: &str) -> Option<usize> {
        self.containers
            .iter()
            .position(|c| c.name == name || c.id == name)
    }

    fn image(&self, name: &str) -> Option<&Image> {
        let id = self.tags.get(name).map_or(name, String::as_str);
        self.images.get(id)
    }
}

#[derive(Default)]
struct World {
    hosts: BTreeMap<String, Host>,
    registry: HashMap<String, Image>,
    /// Every image ever defined, by id (what a `load` brings).
    catalog: HashMap<String, Image>,
    faults: Vec<(String, Op, usize, Fault)>,
    /// (host, container name, image reference) → health, instead of the image's.
    health: HashMap<(String, String, String), Vec<HealthStatusEnum>>,
    calls: HashMap<(String, Op), usize>,
    log: Vec<String>,
    next_id: u64,
    /// Whether hosts stream container events (else callers poll).
    events: bool,
}

/// The fake fleet; clones share it.
#[derive(Clone)]
pub struct Fake {
    world: Arc<Mutex<World>>,
    crashed: Arc<watch::Sender<bool>>,
}

fn status(code: u16, message: impl Into<String>) -> EngineError {
    EngineError::DockerResponseServerError {
        status_code: code,
        message: message.into(),
    }
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            world: Arc::default(),
            crashed: Arc::new(watch::channel(false).0),
        }
    }
}

impl Fake {
    pub fn new(hosts: &[&str]) -> Self {
        let fake = Fake::default();
        for h in hosts {
            fake.world().hosts.insert((*h).to_owned(), Host::default());
        }
        fake
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn handle(&self, host: &str) -> HostHandle {
        HostHandle {
            name: host.to_owned(),
            engine: Arc::new(FakeEngine {
                fake: self.clone(),
                host: host.to_owned(),
            }),
            remote: None,
        }
    }

    pub fn handles(&self) -> Vec<HostHandle> {
        let names: Vec<String> = self.world().hosts.keys().cloned().collect();
        names.iter().map(|h| self.handle(h)).collect()
    }

    /// `reference` (id `id`) is on `host`; its containers report `health`.
    pub fn image(&self, host: &str, reference: &str, id: &str, health: &[HealthStatusEnum]) {
        let image = Image {
            id: id.to_owned(),
            health: health.to_vec(),
        };
        let mut w = self.world();
        w.catalog.insert(id.to_owned(), image.clone());
        let h = w.hosts.entry(host.to_owned()).or_default();
        h.tags.insert(reference.to_owned(), id.to_owned());
        h.images.insert(id.to_owned(), image);
    }

    /// `reference` can be pulled.
    pub fn registry(&self, reference: &str, id: &str, health: &[HealthStatusEnum]) {
        let image = Image {
            id: id.to_owned(),
            health: health.to_vec(),
        };
        let mut w = self.world();
        w.catalog.insert(id.to_owned(), image.clone());
        w.registry.insert(reference.to_owned(), image);
    }

    /// A running container of `image` (which must be on the host), already healthy.
    pub fn container(&self, host: &str, name: &str, image: &str) {
        let mut w = self.world();
        w.next_id += 1;
        let id = format!("c{:04}{name}", w.next_id);
        let h = w.hosts.entry(host.to_owned()).or_default();
        let Some(img) = h.image(image).cloned() else {
            panic!("fake: no image {image} on {host}");
        };
        h.containers.push(Container {
            id,
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: img.id,
            state: State::Running,
            health: img.health.last().copied().into_iter().collect(),
            labels: HashMap::new(),
            restart_policy: Some("unless-stopped".into()),
            auto_remove: false,
            stale_sandbox: false,
        });
    }

    /// Changes a container in place.
    pub fn edit(&self, host: &str, name: &str, f: impl FnOnce(&mut Container)) {
        let mut w = self.world();
        let h = w.hosts.entry(host.to_owned()).or_default();
        let i = h
            .find(name)
            .unwrap_or_else(|| panic!("fake: no {name} on {host}"));
        f(&mut h.containers[i]);
    }

    pub fn get(&self, host: &str, name: &str) -> Option<Container> {
        let w = self.world();
        let h = w.hosts.get(host)?;
        h.find(name).map(|i| h.containers[i].clone())
    }

    /// Container names on `host`, sorted.
    pub fn names(&self, host: &str) -> Vec<String> {
        let w = self.world();
        let mut names: Vec<String> = w
            .hosts
            .get(host)
            .map(|h| h.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A container `name` started on `image` reports `health` (one replica
    /// of a scaled service failing where its siblings are fine).
    pub fn health_of(&self, host: &str, name: &str, image: &str, health: &[HealthStatusEnum]) {
        self.world().health.insert(
            (host.to_owned(), name.to_owned(), image.to_owned()),
            health.to_vec(),
        );
    }

    /// The `nth` (from 1) call of `op` on `host` fails so.
    pub fn fail(&self, host: &str, op: Op, nth: usize, fault: Fault) {
        self.world().faults.push((host.to_owned(), op, nth, fault));
    }

    pub fn calls(&self, host: &str, op: Op) -> usize {
        let w = self.world();
        w.calls.get(&(host.to_owned(), op)).copied().unwrap_or(0)
    }

    /// Every call so far, as `host op args -> result`.
    pub fn log(&self) -> Vec<String> {
        self.world().log.clone()
    }

    /// Hosts stream container events: health changes as Docker reports them.
    pub fn stream_events(&self) {
        self.world().events = true;
    }

    /// Waits for an injected crash.
    pub async fn crashed(&self) {
        let mut rx = self.crashed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// A new process: calls are answered again.
    pub fn restart(&self) {
        self.crashed.send_replace(false);
    }

    /// How late the next call of `op` on `host` answers, if it is made late.
    fn lateness(&self, host: &str, op: Op) -> Option<std::time::Duration> {
        let w = self.world();
        let n = w.calls.get(&(host.to_owned(), op)).copied().unwrap_or(0) + 1;
        w.faults.iter().find_map(|(h, o, nth, f)| match f {
            Fault::Late(d) if h == host && *o == op && *nth == n => Some(*d),
            _ => None,
        })
    }

    /// Counts the call, applies a fault or `f`; `None` once crashed.
    fn call<T>(
        &self,
        host: &str,
        op: Op,
        args: &str,
        f: impl FnOnce(&mut World, &str) -> EngineResult<T>,
    ) -> Option<EngineResult<T>> {
        if *self.crashed.borrow() {
            return None;
        }
        let mut w = self.world();
        let n = {
            let n = w.calls.entry((host.to_owned(), op)).or_default();
            *n += 1;
            *n
        };
        let fault = w
            .faults
            .iter()
            .find(|(h, o, nth, _)| h == host && *o == op && *nth == n)
            .map(|f| f.3);
        let result = match fault {
            Some(Fault::Crash) => {
                w.log.push(format!("{host} {op:?} {args} -> crash"));
                drop(w);
                self.crashed.send_replace(true);
                return None;
            }
            Some(Fault::Status(code)) => Err(status(code, format!("injected {code}"))),
            Some(Fault::Late(_)) | None => f(&mut w, host),
        };
        let shown = match &result {
            Ok(_) => "ok".to_owned(),
            Err(EngineError::DockerResponseServerError { status_code, .. }) => {
                status_code.to_string()
            }
            Err(e) => e.to_string(),
        };
        w.log.push(format!("{host} {op:?} {args} -> {shown}"));
        Some(result)
    }
}

fn host_mut<'w>(w: &'w mut World, host: &str) -> &'w mut Host {
    w.hosts.entry(host.to_owned()).or_default()
}

fn no_container(name: &str) -> EngineError {
    status(404, format!("No such container: {name}"))
}

/// One host of the fake fleet.
struct FakeEngine {
    fake: Fake,
    host: String,
}

impl FakeEngine {
    fn run<T: Send + 'static>(
        &self,
        op: Op,
        args: &str,
        f: impl FnOnce(&mut World, &str) -> EngineResult<T>,
    ) -> BoxFuture<'static, EngineResult<T>> {
        let late = self.fake.lateness(&self.host, op);
        let answered = format!("{} {op:?} {args} answered", self.host);
        let result = self.fake.call(&self.host, op, args, f);
        let fake = self.fake.clone();
        Box::pin(async move {
            if let Some(d) = late {
                tokio::time::sleep(d).await;
                fake.world().log.push(answered);
            }
            match result {
                Some(r) => r,
                None => std::future::pending().await,
            }
        })
    }

    fn stream<T: Send + 'static>(
        &self,
        op: Op,
        args: &str,
        f: impl FnOnce(&mut World, &str) -> EngineResult<Vec<T>>,
    ) -> BoxStream<'static, EngineResult<T>> {
        match self.fake.call(&self.host, op, args, f) {
            Some(Ok(items)) => futures::stream::iter(items.into_iter().map(Ok)).boxed(),
            Some(Err(e)) => futures::stream::once(async move { Err(e) }).boxed(),
            None => futures::stream::pending().boxed(),
        }
    }
}

impl Engine for FakeEngine {
    fn inspect<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<ContainerInspectResponse>>> {
        self.run(Op::Inspect, name, |w, host| {
            let h = host_mut(w, host);
            Ok(h.find(name).map(|i| {
                let c = &mut h.containers[i];
                let seen = c.inspect();
                if c.running() && c.health.len() > 1 {
                    c.health.pop_front();
                }
                seen
            }))
        })
    }

    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<ImageInspect>>> {
        self.run(Op::InspectImage, image, |w, host| {
            Ok(host_mut(w, host).image(image).map(|i| ImageInspect {
                id: Some(i.id.clone()),
                config: Some(ImageConfig {
                    healthcheck: (!i.health.is_empty()).then(|| HealthConfig {
                        test: Some(vec!["CMD".into(), "check".into()]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }))
        })
    }

    fn list<'a>(&'a self, label: &'a str) -> BoxFuture<'a, EngineResult<Vec<ContainerSummary>>> {
        self.run(Op::List, label, |w, host| {
            let (key, value) = match label.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (label, None),
            };
            Ok(host_mut(w, host)
                .containers
                .iter()
                .filter(|c| match (c.labels.get(key), value) {
                    (Some(have), Some(want)) => have == want,
                    (found, None) => found.is_some(),
                    (None, Some(_)) => false,
                })
                .map(|c| ContainerSummary {
                    id: Some(c.id.clone()),
                    names: Some(vec![format!("/{}", c.name)]),
                    labels: Some(c.labels.clone()),
                    ..Default::default()
                })
                .collect())
        })
    }

    fn create<'a>(
        &'a self,
        name: &'a str,
        body: ContainerCreateBody,
    ) -> BoxFuture<'a, EngineResult<String>> {
        let image = body.image.clone().unwrap_or_default();
        self.run(Op::Create, &format!("{name} {image}"), |w, host| {
            w.next_id += 1;
            let id = format!("c{:04}{name}", w.next_id);
            let h = host_mut(w, host);
            if h.find(name).is_some() {
                return Err(status(409, format!("Conflict: {name} is in use")));
            }
            let Some(img) = h.image(&image).cloned() else {
                return Err(status(404, format!("No such image: {image}")));
            };
            let hc = body.host_config.unwrap_or_default();
            h.containers.push(Container {
                id: id.clone(),
                name: name.to_owned(),
                image,
                image_id: img.id,
                state: State::Created,
                health: VecDeque::new(),
                labels: body.labels.unwrap_or_default(),
                restart_policy: hc
                    .restart_policy
                    .and_then(|p| p.name)
                    .map(|n| n.to_string()),
                auto_remove: hc.auto_remove.unwrap_or(false),
                stale_sandbox: false,
            });
            Ok(id)
        })
    }

    fn connect<'a>(
        &'a self,
        network: &'a str,
        container: &'a str,
        _endpoint: EndpointSettings,
    ) -> BoxFuture<'a, EngineResult<()>> {
        self.run(
            Op::Connect,
            &format!("{container} {network}"),
            |_, _| Ok(()),
        )
    }

    fn disconnect<'a>(
        &'a self,
        network: &'a str,
        container: &'a str,
    ) -> BoxFuture<'a, EngineResult<()>> {
        self.run(Op::Disconnect, &format!("{container} {network}"), |_, _| {
            Ok(())
        })
    }

    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        self.run(Op::Start, name, |w, host| {
            let h = host_mut(w, host);
            let i = h.find(name).ok_or_else(|| no_container(name))?;
            if h.containers[i].running() {
                return Err(status(304, "already started"));
            }
            let (name, image) = (h.containers[i].name.clone(), h.containers[i].image.clone());
            let health = match w.health.get(&(host.to_owned(), name, image)) {
                Some(health) => health.iter().copied().collect(),
                None => {
                    let h = host_mut(w, host);
                    h.image(&h.containers[i].image_id.clone())
                        .map(|img| img.health.iter().copied().collect())
                        .unwrap_or_default()
                }
            };
            let h = host_mut(w, host);
            let c = &mut h.containers[i];
            c.state = State::Running;
            c.health = health;
            c.stale_sandbox = false;
            Ok(())
        })
    }

    fn stop<'a>(&'a self, name: &'a str, _secs: i64) -> BoxFuture<'a, EngineResult<()>> {
        self.run(Op::Stop, name, |w, host| {
            let h = host_mut(w, host);
            let i = h.find(name).ok_or_else(|| no_container(name))?;
            if !h.containers[i].running() {
                return Err(status(304, "already stopped"));
            }
            if h.containers[i].auto_remove {
                h.containers.remove(i);
            } else {
                h.containers[i].state = State::Exited;
            }
            Ok(())
        })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        self.run(Op::Rename, &format!("{from} {to}"), |w, host| {
            let h = host_mut(w, host);
            let i = h.find(from).ok_or_else(|| no_container(from))?;
            if h.find(to).is_some() {
                return Err(status(409, format!("Conflict: {to} is in use")));
            }
            let c = &h.containers[i];
            if c.running() && c.stale_sandbox {
                return Err(status(404, format!("sandbox 5a{} not found", c.id)));
            }
            h.containers[i].name = to.to_owned();
            Ok(())
        })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        self.run(Op::Remove, name, |w, host| {
            let h = host_mut(w, host);
            let i = h.find(name).ok_or_else(|| no_container(name))?;
            h.containers.remove(i);
            Ok(())
        })
    }

    fn logs_tail<'a>(&'a self, name: &'a str, _lines: usize) -> BoxFuture<'a, String> {
        let logs = self.run(Op::Logs, name, |_, _| Ok(String::new()));
        Box::pin(async move { logs.await.unwrap_or_default() })
    }

    fn exec<'a>(
        &'a self,
        container: &'a str,
        cmd: Vec<String>,
        _keep: usize,
    ) -> BoxFuture<'a, EngineResult<(i64, String)>> {
        self.run(Op::Exec, &format!("{container} {cmd:?}"), |_, _| {
            Ok((0, String::new()))
        })
    }

    /// The health changes still ahead of the container, then nothing.
    fn container_events(
        &self,
        container: &str,
        _since: &str,
    ) -> Option<BoxStream<'static, EngineResult<String>>> {
        if !self.fake.world().events {
            return None;
        }
        let actions = self
            .fake
            .call(&self.host, Op::Events, container, |w, host| {
                let h = host_mut(w, host);
                let i = h.find(container).ok_or_else(|| no_container(container))?;
                let mut ahead: Vec<HealthStatusEnum> =
                    h.containers[i].health.iter().copied().collect();
                // Docker reports a change, not every check.
                ahead.dedup();
                Ok(ahead
                    .into_iter()
                    .map(|s| format!("health_status: {s}"))
                    .collect::<Vec<_>>())
            });
        Some(match actions {
            Some(Ok(actions)) => futures::stream::iter(actions.into_iter().map(Ok))
                .chain(futures::stream::pending())
                .boxed(),
            Some(Err(e)) => futures::stream::once(async move { Err(e) }).boxed(),
            None => futures::stream::pending().boxed(),
        })
    }

    fn pull(&self, image: &str) -> BoxStream<'static, EngineResult<PullProgress>> {
        self.stream(Op::Pull, image, |w, host| {
            let found = w.registry.get(image).cloned();
            let img = found.ok_or_else(|| status(404, format!("manifest unknown: {image}")))?;
            let h = host_mut(w, host);
            h.tags.insert(image.to_owned(), img.id.clone());
            h.images.insert(img.id.clone(), img);
            Ok(vec![PullProgress {
                layer: Some("layer".into()),
                current: Some(1),
                total: Some(1),
            }])
        })
    }

    fn export(&self, image: &str) -> BoxStream<'static, EngineResult<Bytes>> {
        self.stream(Op::Export, image, |w, host| {
            let img = host_mut(w, host).image(image).cloned();
            let img = img.ok_or_else(|| status(404, format!("No such image: {image}")))?;
            // The "tar" is the image id.
            Ok(vec![Bytes::from(img.id)])
        })
    }

    fn load(
        &self,
        tar: BoxStream<'static, EngineResult<Bytes>>,
    ) -> BoxStream<'static, EngineResult<()>> {
        // Counted when called; the upload is read once polled.
        let (fake, host) = (self.fake.clone(), self.host.clone());
        let started = self.fake.call(&self.host, Op::Load, "", |_, _| Ok(()));
        futures::stream::once(async move {
            match started {
                None => std::future::pending().await,
                Some(Err(e)) => Err(e),
                Some(Ok(())) => {
                    let chunks: Vec<Bytes> = tar.try_collect().await?;
                    let id = String::from_utf8_lossy(&chunks.concat()).into_owned();
                    let mut w = fake.world();
                    let img = w.catalog.get(&id).cloned();
                    let img = img.ok_or_else(|| status(500, format!("bad tar {id}")))?;
                    host_mut(&mut w, &host).images.insert(id, img);
                    Ok(())
                }
            }
        })
        .boxed()
    }

    fn tag<'a>(
        &'a self,
        image: &'a str,
        repo: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, EngineResult<()>> {
        self.run(Op::Tag, &format!("{image} {repo}:{tag}"), |w, host| {
            let h = host_mut(w, host);
            let id = h
                .image(image)
                .map(|i| i.id.clone())
                .ok_or_else(|| status(404, format!("No such image: {image}")))?;
            h.tags.insert(format!("{repo}:{tag}"), id);
            Ok(())
        })
    }
}
