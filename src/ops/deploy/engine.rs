//! The narrow slice of the Docker API a deploy uses, as a trait, so the
//! executor runs against the real daemon ([`DockerEngine`]) or an in-memory
//! fake in tests. Errors stay bollard's: the deploy code reads their HTTP
//! status (304, 404, 409) exactly as it would from Docker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::exec::StartExecResults;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, EndpointSettings, ExecConfig,
    ImageConfig, ImageInspect, NetworkConnectRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, ImportImageOptions,
    ListContainersOptions, LogsOptions, RemoveContainerOptions, RenameContainerOptions,
    StopContainerOptions, TagImageOptions,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hyper::body::Bytes;

use super::{DeployError, DockerContext, absent_ok, spec};
use crate::fleet::LogStream;

/// Upper bound for one pull or transfer.
pub(crate) const TRANSFER_LIMIT: Duration = Duration::from_secs(30 * 60);

/// One kept line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptLine {
    /// None when the engine did not say (lines are then unstamped too).
    pub stream: Option<LogStream>,
    /// Unix nanoseconds, as Docker stamped it.
    pub time: Option<i128>,
    pub text: String,
}

pub type EngineError = bollard::errors::Error;
pub type EngineResult<T> = Result<T, EngineError>;
/// A shared engine: one per host, cloned into tasks.
pub type EngineRef = Arc<dyn Engine>;

/// One progress message of a pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullProgress {
    pub layer: Option<String>,
    pub current: Option<u64>,
    pub total: Option<u64>,
}

/// What the deploy code asks of one Docker daemon.
pub trait Engine: Send + Sync {
    /// `Ok(None)` when there is no such container.
    fn inspect<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<ContainerInspectResponse>>>;
    /// `Ok(None)` when there is no such image.
    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<ImageInspect>>>;
    /// All containers (running or not) with the label filter `key[=value]`.
    fn list<'a>(&'a self, label: &'a str) -> BoxFuture<'a, EngineResult<Vec<ContainerSummary>>>;
    /// Creates a container; returns its id (409 when the name is taken).
    fn create<'a>(
        &'a self,
        name: &'a str,
        body: ContainerCreateBody,
    ) -> BoxFuture<'a, EngineResult<String>>;
    fn connect<'a>(
        &'a self,
        network: &'a str,
        container: &'a str,
        endpoint: EndpointSettings,
    ) -> BoxFuture<'a, EngineResult<()>>;
    fn disconnect<'a>(
        &'a self,
        network: &'a str,
        container: &'a str,
    ) -> BoxFuture<'a, EngineResult<()>>;
    /// 304 when it already runs.
    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    /// Stops with a grace of `secs` before SIGKILL; 304 when already stopped.
    fn stop<'a>(&'a self, name: &'a str, secs: i64) -> BoxFuture<'a, EngineResult<()>>;
    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    /// Force-removes (it may be running); 404 when absent.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    /// The last `lines` lines of stdout and stderr (what could be read).
    fn logs_tail<'a>(&'a self, name: &'a str, lines: usize) -> BoxFuture<'a, String>;
    /// The last `lines` lines with Docker's timestamps and streams, escape
    /// sequences stripped: what is kept before a container is removed. An
    /// engine that cannot tell gives `logs_tail`'s lines, unstamped.
    fn logs_stamped<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, EngineResult<Vec<KeptLine>>> {
        Box::pin(async move {
            let text = self.logs_tail(name, lines).await;
            Ok(text
                .lines()
                .map(|l| KeptLine {
                    stream: None,
                    time: None,
                    text: crate::logs::plain(l.as_bytes()),
                })
                .collect())
        })
    }
    /// Runs `cmd` in the container: (exit code, at most about `keep` bytes of
    /// the output's end).
    fn exec<'a>(
        &'a self,
        container: &'a str,
        cmd: Vec<String>,
        keep: usize,
    ) -> BoxFuture<'a, EngineResult<(i64, String)>>;
    /// The actions (`die`, `health_status: healthy`, …) of the container's
    /// events from `since` (Docker's form: unix seconds, fractional) on, as
    /// they happen; `None` when this engine cannot stream them (the caller
    /// polls instead).
    fn container_events(
        &self,
        _container: &str,
        _since: &str,
    ) -> Option<BoxStream<'static, EngineResult<String>>> {
        None
    }
    /// Pulls from the registry named in the reference.
    fn pull(&self, image: &str) -> BoxStream<'static, EngineResult<PullProgress>>;
    /// `docker save`: the image as a tar stream.
    fn export(&self, image: &str) -> BoxStream<'static, EngineResult<Bytes>>;
    /// `docker load` of a tar stream; one item per message Docker sends back.
    fn load(
        &self,
        tar: BoxStream<'static, EngineResult<Bytes>>,
    ) -> BoxStream<'static, EngineResult<()>>;
    fn tag<'a>(
        &'a self,
        image: &'a str,
        repo: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, EngineResult<()>>;
}

/// The real daemon, through bollard.
#[derive(Clone)]
pub struct DockerEngine(pub Docker);

impl DockerEngine {
    pub fn shared(docker: Docker) -> EngineRef {
        Arc::new(DockerEngine(docker))
    }
}

impl Engine for DockerEngine {
    fn inspect<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<ContainerInspectResponse>>> {
        Box::pin(async move { absent_ok(self.0.inspect_container(name, None).await) })
    }

    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
    ) -> BoxFuture<'a, EngineResult<Option<ImageInspect>>> {
        Box::pin(async move { absent_ok(self.0.inspect_image(image).await) })
    }

    fn list<'a>(&'a self, label: &'a str) -> BoxFuture<'a, EngineResult<Vec<ContainerSummary>>> {
        let opts = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![label.to_owned()],
            )])),
            ..Default::default()
        };
        Box::pin(async move { self.0.list_containers(Some(opts)).await })
    }

    fn create<'a>(
        &'a self,
        name: &'a str,
        body: ContainerCreateBody,
    ) -> BoxFuture<'a, EngineResult<String>> {
        let opts = CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        Box::pin(async move { Ok(self.0.create_container(Some(opts), body).await?.id) })
    }

    fn connect<'a>(
        &'a self,
        network: &'a str,
        container: &'a str,
        endpoint: EndpointSettings,
    ) -> BoxFuture<'a, EngineResult<()>> {
        let req = NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: Some(endpoint),
        };
        Box::pin(async move { self.0.connect_network(network, req).await })
    }

    fn disconnect<'a>(
        &'a self,
        network: &'a str,
        container: &'a str,
    ) -> BoxFuture<'a, EngineResult<()>> {
        let req = bollard::models::NetworkDisconnectRequest {
            container: container.to_owned(),
            force: Some(false),
        };
        Box::pin(async move { self.0.disconnect_network(network, req).await })
    }

    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move { self.0.start_container(name, None).await })
    }

    fn stop<'a>(&'a self, name: &'a str, secs: i64) -> BoxFuture<'a, EngineResult<()>> {
        let opts = StopContainerOptions {
            t: i32::try_from(secs).ok(),
            ..Default::default()
        };
        // The stop call lasts as long as the container takes to stop.
        let patient = self
            .0
            .clone()
            .with_timeout(Duration::from_secs(secs.unsigned_abs() + 30));
        Box::pin(async move { patient.stop_container(name, Some(opts)).await })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        let opts = RenameContainerOptions {
            name: to.to_owned(),
        };
        Box::pin(async move { self.0.rename_container(from, opts).await })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        let opts = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        Box::pin(async move { self.0.remove_container(name, Some(opts)).await })
    }

    fn logs_tail<'a>(&'a self, name: &'a str, lines: usize) -> BoxFuture<'a, String> {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        Box::pin(async move {
            let mut out = String::new();
            let mut stream = self.0.logs(name, Some(opts));
            while let Some(Ok(chunk)) = stream.next().await {
                out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
            out
        })
    }

    fn logs_stamped<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, EngineResult<Vec<KeptLine>>> {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            timestamps: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        Box::pin(async move {
            use bollard::container::LogOutput;
            let mut out = Vec::new();
            let mut stream = self.0.logs(name, Some(opts));
            while let Some(chunk) = stream.next().await {
                let (stream, bytes) = match chunk? {
                    LogOutput::StdErr { message } => (LogStream::Stderr, message),
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (LogStream::Stdout, message)
                    }
                    LogOutput::StdIn { .. } => continue,
                };
                for raw in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let (time, body) = crate::logs::parse_docker_line(raw);
                    out.push(KeptLine {
                        stream: Some(stream),
                        time,
                        text: crate::logs::plain(body),
                    });
                }
            }
            Ok(out)
        })
    }

    fn exec<'a>(
        &'a self,
        container: &'a str,
        cmd: Vec<String>,
        keep: usize,
    ) -> BoxFuture<'a, EngineResult<(i64, String)>> {
        Box::pin(async move {
            let config = ExecConfig {
                cmd: Some(cmd),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            };
            let exec = self.0.create_exec(container, config).await?;
            let mut output = String::new();
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = self.0.start_exec(&exec.id, None).await?
            {
                while let Some(chunk) = stream.next().await {
                    output.push_str(&String::from_utf8_lossy(&chunk?.into_bytes()));
                    if output.len() > 4 * keep {
                        keep_tail(&mut output, keep);
                    }
                }
            }
            let done = self.0.inspect_exec(&exec.id).await?;
            Ok((done.exit_code.unwrap_or(-1), output))
        })
    }

    fn container_events(
        &self,
        container: &str,
        since: &str,
    ) -> Option<BoxStream<'static, EngineResult<String>>> {
        // A restart shows as `die` first; `start` would only repeat the start.
        const USED: [&str; 5] = [
            "die",
            "oom",
            "destroy",
            "pause",
            // Docker matches this one by prefix: `health_status: healthy` etc.
            "health_status",
        ];
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("container".to_owned(), vec![container.to_owned()]),
            (
                "event".to_owned(),
                USED.iter().map(|e| (*e).to_owned()).collect(),
            ),
        ]);
        let opts = EventsOptions {
            since: Some(since.to_owned()),
            filters: Some(filters),
            ..Default::default()
        };
        // Open as long as the health wait: no request timeout.
        let docker = self
            .0
            .clone()
            .with_timeout(Duration::from_secs(u64::from(u32::MAX)));
        Some(
            docker
                .events(Some(opts))
                .map(|e| e.map(|m| m.action.unwrap_or_default()))
                .boxed(),
        )
    }

    fn pull(&self, image: &str) -> BoxStream<'static, EngineResult<PullProgress>> {
        let opts = CreateImageOptions {
            from_image: Some(image.to_owned()),
            ..Default::default()
        };
        // Docker answers only once it starts pulling; the default 30 s may be too short.
        let patient = self.0.clone().with_timeout(TRANSFER_LIMIT);
        patient
            .create_image(Some(opts), None, None)
            .map(|item| {
                item.map(|info| {
                    let detail = info.progress_detail.unwrap_or_default();
                    PullProgress {
                        layer: info.id,
                        current: detail.current.map(|c| c.max(0).unsigned_abs()),
                        total: detail.total.map(|t| t.max(0).unsigned_abs()),
                    }
                })
            })
            .boxed()
    }

    fn export(&self, image: &str) -> BoxStream<'static, EngineResult<Bytes>> {
        self.0.export_image(image).boxed()
    }

    fn load(
        &self,
        tar: BoxStream<'static, EngineResult<Bytes>>,
    ) -> BoxStream<'static, EngineResult<()>> {
        // `load` answers only after the whole upload: no 30 s response deadline.
        let patient = self.0.clone().with_timeout(TRANSFER_LIMIT);
        patient
            .import_image_stream(ImportImageOptions::default(), tar, None)
            .map(|item| item.map(|_| ()))
            .boxed()
    }

    fn tag<'a>(
        &'a self,
        image: &'a str,
        repo: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, EngineResult<()>> {
        let opts = TagImageOptions {
            repo: Some(repo.to_owned()),
            tag: Some(tag.to_owned()),
        };
        Box::pin(async move { self.0.tag_image(image, Some(opts)).await })
    }
}

/// Keeps the last `keep` bytes or so, cut at a character boundary.
fn keep_tail(text: &mut String, keep: usize) {
    let mut cut = text.len().saturating_sub(keep);
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text.drain(..cut);
}

/// One host's engine, named.
#[derive(Clone)]
pub struct HostHandle {
    pub name: String,
    pub engine: EngineRef,
    /// The host's SSH session (none for the local daemon, or in tests).
    pub remote: Option<crate::transport::Remote>,
}

impl HostHandle {
    /// A host reached through its bollard client.
    pub fn docker(name: impl Into<String>, docker: Docker) -> Self {
        HostHandle {
            name: name.into(),
            engine: DockerEngine::shared(docker),
            remote: None,
        }
    }
}

// Deploy steps over an engine, with host and step context on errors.

pub(crate) async fn inspect_opt(
    engine: &dyn Engine,
    host: &str,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, DeployError> {
    engine
        .inspect(name)
        .await
        .ctx(host, format!("inspect {name}"))
}

/// Inspects a container that must exist.
pub(crate) async fn inspect_some(
    engine: &dyn Engine,
    host: &str,
    name: &str,
    what: &str,
) -> Result<ContainerInspectResponse, DeployError> {
    engine
        .inspect(name)
        .await
        .ctx(host, what)?
        .ok_or_else(|| DeployError::host(host, format!("{what}: no such container {name}")))
}

pub(crate) async fn image_id(
    engine: &dyn Engine,
    host: &str,
    image: &str,
) -> Result<Option<String>, DeployError> {
    Ok(engine
        .inspect_image(image)
        .await
        .ctx(host, format!("inspect image {image}"))?
        .and_then(|i| i.id))
}

/// The configuration of the image a container runs (its defaults).
pub(crate) async fn image_config(
    engine: &dyn Engine,
    host: &str,
    c: &ContainerInspectResponse,
) -> Result<Option<ImageConfig>, DeployError> {
    let Some(id) = c.image.as_deref() else {
        return Ok(None);
    };
    Ok(engine
        .inspect_image(id)
        .await
        .ctx(host, format!("inspect image {id}"))?
        .and_then(|i| i.config))
}

pub(crate) async fn rename(
    engine: &dyn Engine,
    host: &str,
    from: &str,
    to: &str,
) -> Result<(), DeployError> {
    engine
        .rename(from, to)
        .await
        .ctx(host, format!("rename {from} to {to}"))
}

/// Removes a container if it exists (force: it may be running).
pub(crate) async fn remove_container(
    engine: &dyn Engine,
    host: &str,
    name: &str,
) -> Result<(), DeployError> {
    absent_ok(engine.remove(name).await)
        .ctx(host, format!("remove {name}"))
        .map(|_| ())
}

/// Creates the container and connects its extra networks; returns its id.
pub(crate) async fn create(
    engine: &dyn Engine,
    host: &str,
    name: &str,
    r: spec::Recreate,
) -> Result<String, DeployError> {
    let id = engine
        .create(name, r.body)
        .await
        .ctx(host, format!("create {name}"))?;
    for (network, endpoint) in r.networks {
        engine
            .connect(&network, &id, endpoint)
            .await
            .ctx(host, format!("connect {name} to {network}"))?;
    }
    Ok(id)
}

/// The last lines a container printed, for messages.
pub(crate) async fn logs_tail(engine: &dyn Engine, host: &str, name: &str) -> String {
    match tokio::time::timeout(Duration::from_secs(10), engine.logs_tail(name, 20)).await {
        Ok(out) => out.trim().to_owned(),
        Err(_) => {
            tracing::debug!(host, name, "logs of the one-off container timed out");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tails_are_cut_at_a_character() {
        let mut s = "aé".repeat(10);
        super::keep_tail(&mut s, 5);
        assert!(s.len() <= 5 && s.ends_with('é'), "{s:?}");
    }
}
