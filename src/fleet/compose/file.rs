//! What a Compose project's files say, asked of Compose on the host over the
//! SSH session (like vitals), and where the running containers differ:
//! drift between the file and the host.
//!
//! Compose itself decides whether `up -d` recreates a service's container: it
//! compares the `com.docker.compose.config-hash` label with the hash of the
//! service's config as the files resolve now (v1 and v2 alike; `config --hash`
//! prints exactly that hash). A container recreated outside Compose keeps its
//! old labels, so the hash still matches while the image differs: drift that
//! Compose cannot see, and flotilla shows it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{ComposeRef, PROJECT, SERVICE};
use crate::fleet::ContainerInfo;
use crate::fleet::vitals::COMPOSE_PLUGIN_DIRS;
use crate::transport::{Remote, RunError};

pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// v2 only: the id of the image a container was created from; v2 recreates
/// it when the service's image reference names another image now.
pub const IMAGE_ID: &str = "com.docker.compose.image";
const ONEOFF: &str = "com.docker.compose.oneoff";

/// One project on one host, as its containers' labels name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProjectRef {
    pub project: String,
    pub working_dir: String,
    /// As `up` was given them; relative ones are relative to `working_dir`.
    pub config_files: Vec<String>,
}

impl ProjectRef {
    /// The distinct projects of one host's containers (those whose labels
    /// name a working directory: hand-made labels cannot be asked about).
    pub fn on_host(containers: &[ContainerInfo]) -> Vec<ProjectRef> {
        let mut out: Vec<ProjectRef> = containers
            .iter()
            .filter_map(ComposeRef::of)
            .filter_map(|c| {
                Some(ProjectRef {
                    project: c.project,
                    working_dir: c.working_dir?,
                    config_files: c.config_files,
                })
            })
            .collect();
        out.sort();
        out.dedup_by(|a, b| a.project == b.project);
        out
    }

    /// `-p P -f F…` as the project was brought up.
    fn args(&self) -> String {
        let mut args = format!("-p {}", crate::quote::sh(&self.project));
        for f in &self.config_files {
            args.push_str(&format!(" -f {}", crate::quote::sh(f)));
        }
        args
    }
}

/// Which Compose a host has: the v2 plugin (`docker compose`) is preferred,
/// as `docker compose` itself would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// `docker compose` (v2 plugin).
    Plugin,
    /// `docker-compose` (v1, or v2 installed standalone).
    Standalone,
}

impl Tool {
    /// As `find_tool` names it in `$tool`.
    pub fn parse(word: &str) -> Option<Tool> {
        match word {
            "plugin" => Some(Tool::Plugin),
            "standalone" => Some(Tool::Standalone),
            _ => None,
        }
    }

    pub fn command(self) -> &'static str {
        match self {
            Tool::Plugin => "docker compose",
            Tool::Standalone => "docker-compose",
        }
    }
}

/// What the files say about one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileService {
    /// `image:`; None for a service that is only built.
    pub image: Option<String>,
    /// The hash Compose would label a container created now with.
    pub config_hash: Option<String>,
}

/// What the host's Compose says about one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectFile {
    pub tool: Tool,
    pub services: BTreeMap<String, FileService>,
    /// Where flotilla's override pins images: each service's image as the
    /// project's own files say, without it.
    pub unpinned: Option<BTreeMap<String, FileService>>,
}

/// The shell command that finds Compose and asks it, in the project's
/// directory, for each service's config hash and the resolved config (JSON
/// from v2; v1 only writes YAML, which the same parser reads).
pub fn config_script(p: &ProjectRef) -> String {
    let dir = crate::quote::sh(&p.working_dir);
    let args = p.args();
    let find = find_tool();
    // Where the last file is flotilla's override, the files without it too:
    // what the project's own file says, beside what flotilla pinned.
    let (mut v2_base, mut v1_base) = (String::new(), String::new());
    if let [base @ .., last] = p.config_files.as_slice()
        && !base.is_empty()
    {
        let only = ProjectRef {
            config_files: base.to_vec(),
            ..p.clone()
        }
        .args();
        let test = format!(
            "head -n 1 {} 2>/dev/null | grep -qF {}",
            crate::quote::sh(last),
            crate::quote::sh(super::FLOTILLA_OVERRIDE_MARK)
        );
        v2_base = format!(
            " if {test}; then echo @@base; docker compose {only} config --format json || exit 4; fi;"
        );
        v1_base =
            format!(" if {test}; then echo @@base; docker-compose {only} config || exit 4; fi;");
    }
    format!(
        "cd {dir} || exit 3; {find} \
         echo \"@@tool $tool\"; \
         case $tool in \
         plugin) echo @@hash; docker compose {args} config --hash '*' || exit 4; \
         echo @@config; docker compose {args} config --format json || exit 4;{v2_base}; \
         standalone) echo @@hash; docker-compose {args} config --hash '*' || exit 4; \
         echo @@config; docker-compose {args} config || exit 4;{v1_base}; \
         esac"
    )
}

/// Shell that sets `$tool` to `plugin`, `standalone` or nothing: the v2
/// plugin found by looking in the docker CLI's plugin directories (not by
/// running it), else `docker-compose` on the PATH.
pub fn find_tool() -> String {
    format!(
        "tool=; for d in {COMPOSE_PLUGIN_DIRS}; do \
         [ -x \"$d/docker-compose\" ] && tool=plugin && break; done; \
         [ -z \"$tool\" ] && command -v docker-compose >/dev/null 2>&1 && tool=standalone;"
    )
}

/// Why a project's files could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("no Compose on the host (neither `docker compose` nor `docker-compose`)")]
    NoCompose,
    #[error("{0}")]
    Failed(String),
}

/// Parses `config_script`'s output; `None` tool means the host has none.
pub fn parse_config(out: &str) -> Result<ProjectFile, ReadError> {
    let mut tool = None;
    let (mut hashes, mut config, mut base) = (String::new(), String::new(), None::<String>);
    let mut section = "";
    for line in out.lines() {
        if let Some(t) = line.strip_prefix("@@tool") {
            tool = Some(Tool::parse(t.trim()).ok_or(ReadError::NoCompose)?);
            continue;
        }
        match line {
            "@@hash" => section = "hash",
            "@@config" => section = "config",
            "@@base" => {
                section = "base";
                base = Some(String::new());
            }
            _ if section == "base" => {
                if let Some(b) = base.as_mut() {
                    b.push_str(line);
                    b.push('\n');
                }
            }
            _ if section == "hash" => {
                hashes.push_str(line);
                hashes.push('\n');
            }
            _ if section == "config" => {
                config.push_str(line);
                config.push('\n');
            }
            _ => {}
        }
    }
    let tool = tool.ok_or_else(|| ReadError::Failed("no answer from the Compose script".into()))?;
    let mut services = images(&config)?;
    for line in hashes.lines() {
        if let Some((service, hash)) = line.trim().split_once(char::is_whitespace) {
            services.entry(service.to_owned()).or_default().config_hash =
                Some(hash.trim().to_owned());
        }
    }
    let unpinned = base.as_deref().map(images).transpose()?;
    Ok(ProjectFile {
        tool,
        services,
        unpinned,
    })
}

/// Each service's `image:` from `config`'s output (YAML, or JSON, which is
/// YAML too).
fn images(config: &str) -> Result<BTreeMap<String, FileService>, ReadError> {
    use yaml_rust2::{Yaml, YamlLoader};
    let docs = YamlLoader::load_from_str(config)
        .map_err(|e| ReadError::Failed(format!("unreadable `config` output: {e}")))?;
    let services = docs
        .first()
        .map(|d| &d["services"])
        .and_then(Yaml::as_hash)
        .ok_or_else(|| ReadError::Failed("`config` output has no services".into()))?;
    Ok(services
        .iter()
        .filter_map(|(name, body)| {
            Some((
                name.as_str()?.to_owned(),
                FileService {
                    image: body["image"].as_str().map(str::to_owned),
                    config_hash: None,
                },
            ))
        })
        .collect())
}

/// Asks the host's Compose about one project, bounded by `within`.
pub async fn read(
    remote: &Remote,
    p: &ProjectRef,
    within: Duration,
) -> Result<ProjectFile, ReadError> {
    let out = remote
        .run(&config_script(p), 1024 * 1024, within)
        .await
        .map_err(|e| match e {
            RunError::Refused(e) => ReadError::Failed(format!("exec refused: {e}")),
            RunError::Timeout(_) => ReadError::Failed(format!(
                "Compose did not answer within {}s",
                within.as_secs()
            )),
        })?;
    let last_words = || out.last_lines(1).pop().unwrap_or_default();
    match out.exit_status {
        Some(0) => parse_config(&String::from_utf8_lossy(&out.stdout)),
        Some(3) => Err(ReadError::Failed(format!(
            "cannot enter the project directory {}: {}",
            p.working_dir,
            last_words()
        ))),
        Some(code) => Err(ReadError::Failed(format!(
            "`config` exited {code}: {}",
            last_words()
        ))),
        None => Err(ReadError::Failed(format!(
            "exec refused by the server {}",
            last_words()
        ))),
    }
}

/// Reads a project's files on the host and judges its containers: the
/// files through Compose, the ids v2's rule needs through Docker.
pub async fn judge(
    handles: &crate::fleet::Handles,
    p: &ProjectRef,
    containers: &[ContainerInfo],
    within: Duration,
) -> Result<(ProjectFile, Vec<Drift>), ReadError> {
    let (docker, Some(remote)) = (&handles.docker, &handles.remote) else {
        return Err(ReadError::Failed(
            "local Docker daemon: Compose files are read over SSH only".to_owned(),
        ));
    };
    let file = read(remote, p, within).await?;
    let mut ids = BTreeMap::new();
    for image in ids_wanted(&file, &p.project, containers) {
        // An image the host lacks has no id: nothing to compare.
        if let Ok(Ok(i)) = tokio::time::timeout(within, docker.inspect_image(&image)).await
            && let Some(id) = i.id
        {
            ids.insert(image, id);
        }
    }
    let drift = drift(&file, &p.project, containers, &ids);
    Ok((file, drift))
}

/// One container that differs from what its project's files say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub container: String,
    pub project: String,
    pub service: String,
    /// What the file says (None: the service has no `image:`, or is gone).
    pub file_image: Option<String>,
    pub running_image: String,
    /// The config hash differs: `up -d` would recreate it.
    pub config_changed: bool,
    /// The files no longer have this service.
    pub not_in_file: bool,
    /// What runs is what flotilla's override pins; the project's own file
    /// names `file_image` (`flotilla deploy SERVICE` rolls that out).
    pub pinned: bool,
    /// v2: the file's image reference names another image than the one the
    /// container was created from (the tag moved): its id now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_moved_to: Option<String>,
}

impl Drift {
    /// "file says tiny:1, running tiny:2".
    pub fn phrase(&self) -> String {
        if self.not_in_file {
            return format!(
                "service {} is no longer in the compose file, running {}",
                self.service, self.running_image
            );
        }
        if let (Some(want), Some(id)) = (&self.file_image, &self.image_moved_to) {
            let short = id.trim_start_matches("sha256:");
            return format!(
                "{want} now names image {}, running the one it named before (`up -d` would recreate it)",
                &short[..short.len().min(12)]
            );
        }
        match &self.file_image {
            Some(want) if self.pinned => format!(
                "file says {want}, running {} (pinned by flotilla's override)",
                self.running_image
            ),
            Some(want) if *want != self.running_image => {
                format!("file says {want}, running {}", self.running_image)
            }
            _ => format!(
                "the file's config of {} changed since the container was created (`up -d` would recreate it)",
                self.service
            ),
        }
    }
}

/// The image references whose current ids `drift` needs: the files' images
/// of services whose containers carry v2's image-id label.
pub fn ids_wanted(file: &ProjectFile, project: &str, containers: &[ContainerInfo]) -> Vec<String> {
    let mut out: Vec<String> = containers
        .iter()
        .filter(|c| {
            c.labels.get(PROJECT).map(String::as_str) == Some(project)
                && c.labels.contains_key(IMAGE_ID)
        })
        .filter_map(|c| file.services.get(c.labels.get(SERVICE)?)?.image.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The project's containers that differ from its files. Pure: `ids` maps
/// the files' image references to their ids on the host (see `ids_wanted`).
pub fn drift(
    file: &ProjectFile,
    project: &str,
    containers: &[ContainerInfo],
    ids: &BTreeMap<String, String>,
) -> Vec<Drift> {
    containers
        .iter()
        .filter(|c| {
            c.labels.get(PROJECT).map(String::as_str) == Some(project)
                && c.labels.get(ONEOFF).map(String::as_str) != Some("True")
                && !c.name.ends_with("-flotilla-old")
        })
        .filter_map(|c| {
            let service = c.labels.get(SERVICE)?;
            let running_image = c.image.clone();
            let Some(want) = file.services.get(service) else {
                return Some(Drift {
                    container: c.name.clone(),
                    project: project.to_owned(),
                    service: service.clone(),
                    file_image: None,
                    running_image,
                    config_changed: true,
                    not_in_file: true,
                    pinned: false,
                    image_moved_to: None,
                });
            };
            let image_differs = want.image.as_ref().is_some_and(|i| *i != running_image);
            let config_changed = match (&want.config_hash, c.labels.get(CONFIG_HASH)) {
                (Some(file), Some(label)) => file != label,
                _ => false,
            };
            // In step with flotilla's pin, but not with the project's own file.
            let own = file
                .unpinned
                .as_ref()
                .and_then(|u| u.get(service))
                .and_then(|s| s.image.clone())
                .filter(|own| !image_differs && *own != running_image);
            let pinned = own.is_some();
            // v2's rule: the reference resolves to another image than the label's.
            let image_moved_to = match (c.labels.get(IMAGE_ID), want.image.as_ref()) {
                (Some(label), Some(image)) if !image_differs => {
                    ids.get(image).filter(|id| *id != label).cloned()
                }
                _ => None,
            };
            (image_differs || config_changed || pinned || image_moved_to.is_some()).then(|| Drift {
                container: c.name.clone(),
                project: project.to_owned(),
                service: service.clone(),
                file_image: own.or_else(|| want.image.clone()),
                running_image,
                config_changed,
                not_in_file: false,
                pinned,
                image_moved_to,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "@@tool standalone\n@@hash\ncapp 4291d1fd\nworker 99aa\n@@config\n\
services:\n  capp:\n    image: flotilla-test/app:v1\n    network_mode: none\n  worker:\n    build:\n      context: .\nversion: '3.9'\n\n";

    const V2: &str = "@@tool plugin\n@@hash\nweb abc123\n@@config\n\
{\"name\":\"shop\",\"services\":{\"web\":{\"image\":\"registry.local/web:2.1\",\"networks\":{\"default\":null}}}}\n";

    fn container(
        name: &str,
        project: &str,
        service: &str,
        image: &str,
        hash: &str,
    ) -> ContainerInfo {
        let mut c = ContainerInfo {
            name: name.into(),
            image: image.into(),
            ..ContainerInfo::default()
        };
        for (k, v) in [(PROJECT, project), (SERVICE, service), (CONFIG_HASH, hash)] {
            c.labels.insert(k.into(), v.into());
        }
        c
    }

    #[test]
    fn v1_yaml_and_v2_json_give_images_and_hashes() {
        let v1 = parse_config(V1).expect("v1");
        assert_eq!(v1.tool, Tool::Standalone);
        assert_eq!(
            v1.services["capp"],
            FileService {
                image: Some("flotilla-test/app:v1".into()),
                config_hash: Some("4291d1fd".into())
            }
        );
        assert_eq!(v1.services["worker"].image, None, "built, not pulled");
        let v2 = parse_config(V2).expect("v2");
        assert_eq!(v2.tool, Tool::Plugin);
        assert_eq!(
            v2.services["web"].image.as_deref(),
            Some("registry.local/web:2.1")
        );
        assert_eq!(v2.services["web"].config_hash.as_deref(), Some("abc123"));
        assert_eq!(parse_config("@@tool \n"), Err(ReadError::NoCompose));
        assert_eq!(v1.unpinned, None);
        let with_base = parse_config(&format!(
            "{V1}@@base\nservices:\n  capp:\n    image: app:own\n"
        ))
        .expect("with base");
        assert_eq!(
            with_base
                .unpinned
                .and_then(|u| u["capp"].image.clone())
                .as_deref(),
            Some("app:own")
        );
    }

    #[test]
    fn the_script_asks_each_compose_in_the_project_directory() {
        let p = ProjectRef {
            project: "shop".into(),
            working_dir: "/srv/it's here".into(),
            config_files: vec!["/srv/it's here/compose.yaml".into(), "prod.yaml".into()],
        };
        let s = config_script(&p);
        assert!(s.starts_with(r"cd '/srv/it'\''s here' || exit 3;"), "{s}");
        assert!(
            s.contains(r"docker compose -p 'shop' -f '/srv/it'\''s here/compose.yaml' -f 'prod.yaml' config --format json"),
            "{s}"
        );
        assert!(
            s.contains(r"docker-compose -p 'shop' -f '/srv/it'\''s here/compose.yaml' -f 'prod.yaml' config --hash '*'"),
            "{s}"
        );
        // With flotilla's override last, the files without it are read too.
        assert!(
            s.contains(r"if head -n 1 'prod.yaml' 2>/dev/null | grep -qF '# flotilla:'; then echo @@base; docker-compose -p 'shop' -f '/srv/it'\''s here/compose.yaml' config || exit 4; fi;"),
            "{s}"
        );
    }

    #[test]
    fn drift_is_an_image_or_a_hash_the_file_no_longer_gives() {
        let file = parse_config(V1).expect("v1");
        let same = container(
            "cdemo_capp_1",
            "cdemo",
            "capp",
            "flotilla-test/app:v1",
            "4291d1fd",
        );
        assert_eq!(
            drift(
                &file,
                "cdemo",
                std::slice::from_ref(&same),
                &BTreeMap::new()
            ),
            vec![]
        );
        // Recreated outside Compose: old labels, new image.
        let deployed = container(
            "cdemo_capp_1",
            "cdemo",
            "capp",
            "flotilla-test/app:v2",
            "4291d1fd",
        );
        let d = drift(&file, "cdemo", &[deployed], &BTreeMap::new());
        assert_eq!(d.len(), 1);
        assert!(!d[0].config_changed);
        assert_eq!(
            d[0].phrase(),
            "file says flotilla-test/app:v1, running flotilla-test/app:v2"
        );
        // The file changed (an env var, say): the hash tells.
        let edited = container(
            "cdemo_capp_1",
            "cdemo",
            "capp",
            "flotilla-test/app:v1",
            "0ld",
        );
        let d = drift(&file, "cdemo", &[edited], &BTreeMap::new());
        assert!(d[0].config_changed && d[0].phrase().contains("`up -d` would recreate it"));
        // Another project's containers, one-offs and flotilla's stopped copies are not judged.
        let other = container("x_capp_1", "x", "capp", "other:1", "1");
        let mut oneoff = container("cdemo_capp_run_1", "cdemo", "capp", "other:1", "1");
        oneoff.labels.insert(ONEOFF.into(), "True".into());
        let old = container("cdemo_capp_1-flotilla-old", "cdemo", "capp", "other:1", "1");
        assert_eq!(
            drift(&file, "cdemo", &[other, oneoff, old], &BTreeMap::new()),
            vec![]
        );
        // flotilla pinned v2 in its override; the project's own file says v3.
        let mut pinned = parse_config(V1).expect("v1");
        pinned.services.get_mut("capp").expect("capp").image = Some("flotilla-test/app:v2".into());
        pinned.unpinned = Some(
            [(
                "capp".to_owned(),
                FileService {
                    image: Some("flotilla-test/app:v3".into()),
                    config_hash: None,
                },
            )]
            .into_iter()
            .collect(),
        );
        let running = container(
            "cdemo_capp_1",
            "cdemo",
            "capp",
            "flotilla-test/app:v2",
            "4291d1fd",
        );
        let d = drift(
            &pinned,
            "cdemo",
            std::slice::from_ref(&running),
            &BTreeMap::new(),
        );
        assert_eq!(
            d[0].phrase(),
            "file says flotilla-test/app:v3, running flotilla-test/app:v2 (pinned by flotilla's override)"
        );
        // v2: the tag moved since the container was created from it.
        let mut v2 = container(
            "shop-web-1",
            "cdemo",
            "capp",
            "flotilla-test/app:v1",
            "4291d1fd",
        );
        v2.labels.insert(IMAGE_ID.into(), "sha256:aaaa".into());
        assert_eq!(
            ids_wanted(&file, "cdemo", std::slice::from_ref(&v2)),
            vec!["flotilla-test/app:v1".to_owned()]
        );
        let same_id: BTreeMap<String, String> =
            [("flotilla-test/app:v1".to_owned(), "sha256:aaaa".to_owned())]
                .into_iter()
                .collect();
        assert_eq!(
            drift(&file, "cdemo", std::slice::from_ref(&v2), &same_id),
            vec![]
        );
        let moved: BTreeMap<String, String> = [(
            "flotilla-test/app:v1".to_owned(),
            "sha256:bbbbccccddddeeee".to_owned(),
        )]
        .into_iter()
        .collect();
        let d = drift(&file, "cdemo", std::slice::from_ref(&v2), &moved);
        assert_eq!(
            d[0].phrase(),
            "flotilla-test/app:v1 now names image bbbbccccdddd, running the one it named before (`up -d` would recreate it)"
        );
        let gone = container("cdemo_db_1", "cdemo", "db", "postgres:16", "1");
        assert!(drift(&file, "cdemo", &[gone], &BTreeMap::new())[0].not_in_file);
    }

    #[test]
    fn projects_are_named_once_per_host() {
        let mut a = container("cdemo_capp_1", "cdemo", "capp", "i", "h");
        a.labels
            .insert(super::super::WORKING_DIR.into(), "/srv/cdemo".into());
        a.labels.insert(
            super::super::CONFIG_FILES.into(),
            "docker-compose.yml".into(),
        );
        let mut b = a.clone();
        b.name = "cdemo_capp_2".into();
        let bare = container("hand_made", "x", "y", "i", "h");
        assert_eq!(
            ProjectRef::on_host(&[a, b, bare]),
            vec![ProjectRef {
                project: "cdemo".into(),
                working_dir: "/srv/cdemo".into(),
                config_files: vec!["docker-compose.yml".into()],
            }]
        );
    }
}
