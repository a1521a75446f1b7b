//! Deploys of a Compose-managed service go through Compose on each host, so
//! that a plain `docker compose up -d` in the project's directory afterwards
//! changes nothing, and `docker compose config` names the image that runs.
//!
//! The image is pinned in the project's override file (`compose.override.yaml`
//! beside `compose.yaml`, `docker-compose.override.yml` beside
//! `docker-compose.yml`), which Compose (v1 and v2) loads by itself when no
//! `-f` is given. flotilla writes that file only when it is absent or its own
//! (its first line says so), atomically (a temporary file renamed over it),
//! and touches nothing else in the directory. Then `up -d --no-deps SERVICE`
//! recreates the service's containers from the files, and the health gate
//! decides as for any deploy; going back writes the override as it was (or
//! removes it) and runs `up` again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::fleet::compose::file::{Tool, find_tool};
use crate::fleet::compose::{CONFIG_FILES, PROJECT, SERVICE, WORKING_DIR};
use crate::transport::Remote;

/// The files Compose looks for in a directory, preferred first, each with
/// the override it loads beside it.
const DEFAULT_FILES: [(&str, &str); 4] = [
    ("compose.yaml", "compose.override.yaml"),
    ("compose.yml", "compose.override.yml"),
    ("docker-compose.yml", "docker-compose.override.yml"),
    ("docker-compose.yaml", "docker-compose.override.yaml"),
];

/// The first line of an override flotilla wrote.
pub const MARK: &str = crate::fleet::compose::FLOTILLA_OVERRIDE_MARK;

/// Where and how a host's containers of the service are recreated by Compose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposeTarget {
    pub project: String,
    pub service: String,
    pub working_dir: String,
    /// The compose file, in `working_dir`.
    pub file: String,
    /// Its override, which flotilla writes.
    pub override_file: String,
}

/// From a container's labels: `None` unless Compose made it (with the
/// directory it ran in); an error when its project was brought up in a way
/// flotilla cannot pin an image in (other `-f` files).
pub fn target(labels: &BTreeMap<String, String>) -> Option<Result<ComposeTarget, String>> {
    let get = |k: &str| labels.get(k).filter(|v| !v.is_empty());
    let project = get(PROJECT)?;
    let service = get(SERVICE)?;
    let working_dir = get(WORKING_DIR)?;
    let files: Vec<String> = get(CONFIG_FILES)
        .map(|v| {
            v.split(',')
                .map(|f| {
                    // v2 labels absolute paths, v1 the names as given.
                    f.strip_prefix(working_dir.as_str())
                        .map_or(f, |rest| rest.trim_start_matches('/'))
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    let pair = DEFAULT_FILES.iter().find(|(file, over)| {
        matches!(files.as_slice(), [f] if f == file)
            || matches!(files.as_slice(), [f, o] if f == file && o == over)
    });
    Some(match pair {
        Some((file, over)) => Ok(ComposeTarget {
            project: project.clone(),
            service: service.clone(),
            working_dir: working_dir.clone(),
            file: (*file).to_owned(),
            override_file: (*over).to_owned(),
        }),
        None => Err(format!(
            "Compose project {project} was brought up with the files [{}] in {working_dir}: \
             flotilla pins images in the override file Compose loads by itself, which it does \
             only for a directory's default file (compose.yaml or docker-compose.yml) without -f",
            files.join(", ")
        )),
    })
}

/// The override pinning `image` (with flotilla's labels on the service, so
/// the containers Compose creates say what they replaced). `version` is the
/// compose file's own `version:` (v1 refuses to merge files that differ).
pub fn override_yaml(
    t: &ComposeTarget,
    image: &str,
    previous: &str,
    deploy_id: &str,
    version: Option<&str>,
) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = format!(
        "{MARK} written by `flotilla deploy` to pin {}'s image; flotilla rewrites it.\n\
         # To hand the image back to {}: remove this file, then `docker compose up -d`.\n",
        t.service, t.file
    );
    if let Some(v) = version {
        out.push_str(&format!("version: {}\n", q(v)));
    }
    out.push_str(&format!(
        "services:\n  {}:\n    image: {}\n    labels:\n      {}: {}\n      {}: {}\n",
        q(&t.service),
        q(image),
        q(super::LABEL_PREVIOUS_IMAGE),
        q(previous),
        q(super::LABEL_DEPLOY_ID),
        q(deploy_id)
    ));
    out
}

/// What a host's project directory holds, as `read_script` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub tool: Option<Tool>,
    /// The override's text; `None` when there is none.
    pub override_text: Option<String>,
    /// The compose file's `version:`, unquoted.
    pub version: Option<String>,
}

impl Found {
    /// Whether flotilla may write the override.
    pub fn ours(&self) -> bool {
        self.override_text
            .as_deref()
            .is_none_or(|t| t.starts_with(MARK))
    }
}

/// Finds Compose, the override (if any) and the file's `version:`.
pub fn read_script(t: &ComposeTarget) -> String {
    format!(
        "cd {dir} || exit 3; {find} echo \"@@tool $tool\"; \
         echo @@version; sed -n 's/^version:[[:space:]]*//p' {file} | head -n 1; \
         if [ -e {over} ]; then echo @@override; cat {over}; fi",
        dir = crate::quote::sh(&t.working_dir),
        find = find_tool(),
        file = crate::quote::sh(&t.file),
        over = crate::quote::sh(&t.override_file),
    )
}

pub fn parse_read(out: &str) -> Found {
    let mut found = Found {
        tool: None,
        override_text: None,
        version: None,
    };
    let mut section = "";
    let mut over = String::new();
    for line in out.lines() {
        if let Some(t) = line.strip_prefix("@@tool") {
            found.tool = Tool::parse(t.trim());
            continue;
        }
        match line {
            "@@version" | "@@override" if section != "override" => {
                section = if line == "@@version" {
                    "version"
                } else {
                    "override"
                };
            }
            _ if section == "version" && found.version.is_none() => {
                let v = line.trim().trim_matches(['"', '\'']);
                found.version = (!v.is_empty()).then(|| v.to_owned());
            }
            _ if section == "override" => {
                over.push_str(line);
                over.push('\n');
            }
            _ => {}
        }
    }
    if section == "override" {
        found.override_text = Some(over);
    }
    found
}

/// Writes the override (atomically: a temporary file renamed over it), or
/// removes it (`None`): the override as it was before a deploy.
pub fn write_script(t: &ComposeTarget, text: Option<&str>) -> String {
    let dir = crate::quote::sh(&t.working_dir);
    let over = crate::quote::sh(&t.override_file);
    match text {
        Some(text) => {
            let tmp = crate::quote::sh(&format!(".{}.flotilla-tmp", t.override_file));
            // A delimiter the text cannot hold: it is written by flotilla and
            // has no line that is only this word.
            format!(
                "cd {dir} || exit 3; umask 022; cat > {tmp} <<'FLOTILLA_OVERRIDE_END' && mv -f {tmp} {over}\n\
                 {text}FLOTILLA_OVERRIDE_END\n"
            )
        }
        None => format!("cd {dir} || exit 3; rm -f {over}"),
    }
}

/// How `up` treats the service's containers that run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Up {
    /// Recreated from the files (stop-first): `count` of them.
    Recreate,
    /// Left running (`--no-recreate`) while `count` minus their number new
    /// ones start beside them (start-first, as docker-rollout does it).
    Beside,
}

/// `up -d --no-deps SERVICE` in the project's directory, as a plain `up`
/// there would read the files (no `-f`: the override is loaded by itself),
/// with `--scale SERVICE=count`: the host's count of containers (`up` alone
/// would go back to the file's, undoing a `--scale`), or twice it to start
/// new ones beside the old.
pub fn up_script(t: &ComposeTarget, tool: Tool, count: usize, how: Up) -> String {
    // v2 would pull a missing image; the deploy brought it already.
    let pull = match tool {
        Tool::Plugin => " --pull never",
        Tool::Standalone => "",
    };
    let keep = match how {
        Up::Recreate => "",
        Up::Beside => " --no-recreate",
    };
    format!(
        "cd {} || exit 3; {} -p {} up -d --no-deps{pull}{keep} --scale {} {} 2>&1",
        crate::quote::sh(&t.working_dir),
        tool.command(),
        crate::quote::sh(&t.project),
        crate::quote::sh(&format!("{}={}", t.service, count.max(1))),
        crate::quote::sh(&t.service)
    )
}

/// `config` of the compose file alone (not the override flotilla pins
/// images in): what the project's own file says, `.env` included.
pub fn file_script(t: &ComposeTarget) -> String {
    let args = format!(
        "-p {} -f {}",
        crate::quote::sh(&t.project),
        crate::quote::sh(&t.file)
    );
    format!(
        "cd {} || exit 3; {} echo \"@@tool $tool\"; \
         case $tool in \
         plugin) echo @@config; docker compose {args} config --format json || exit 4;; \
         standalone) echo @@config; docker-compose {args} config || exit 4;; \
         esac",
        crate::quote::sh(&t.working_dir),
        find_tool()
    )
}

/// The image the compose file itself names for the service (`None`: it
/// has none, only a build).
pub async fn file_image(
    remote: &Remote,
    t: &ComposeTarget,
    within: Duration,
) -> Result<Option<String>, String> {
    let out = on_host(remote, 1024 * 1024, &file_script(t), within)
        .await
        .map_err(|e| format!("reading {}/{}: {e}", t.working_dir, t.file))?;
    let file = crate::fleet::compose::file::parse_config(&out).map_err(|e| e.to_string())?;
    Ok(file.services.get(&t.service).and_then(|s| s.image.clone()))
}

/// Runs a script on the host (at most `limit` bytes of output kept); its
/// output, or why it failed: the exit code and the last lines it printed,
/// cleaned.
pub async fn on_host(
    remote: &Remote,
    limit: usize,
    script: &str,
    within: Duration,
) -> Result<String, String> {
    let out = remote
        .run(script, limit, within)
        .await
        .map_err(|e| e.to_string())?;
    match out.exit_status {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        code => {
            let tail = out.last_lines(3);
            Err(match code {
                Some(3) => format!("cannot enter the project directory: {}", tail.join(" / ")),
                Some(c) => format!("exited {c}: {}", tail.join(" / ")),
                None => format!("exec refused by the server: {}", tail.join(" / ")),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(files: &str) -> BTreeMap<String, String> {
        [
            (PROJECT, "shop"),
            (SERVICE, "web"),
            (WORKING_DIR, "/srv/shop"),
            (CONFIG_FILES, files),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn web() -> ComposeTarget {
        ComposeTarget {
            project: "shop".into(),
            service: "web".into(),
            working_dir: "/srv/shop".into(),
            file: "docker-compose.yml".into(),
            override_file: "docker-compose.override.yml".into(),
        }
    }

    #[test]
    fn a_directorys_default_file_is_a_target_and_other_files_are_refused() {
        // v1 labels the names as given, v2 absolute paths.
        assert_eq!(target(&labels("docker-compose.yml")), Some(Ok(web())));
        assert_eq!(
            target(&labels("docker-compose.yml,docker-compose.override.yml")),
            Some(Ok(web()))
        );
        let v2 = target(&labels(
            "/srv/shop/compose.yaml,/srv/shop/compose.override.yaml",
        ))
        .and_then(Result::ok)
        .expect("v2 target");
        assert_eq!(
            (v2.file.as_str(), v2.override_file.as_str()),
            ("compose.yaml", "compose.override.yaml")
        );
        let err = target(&labels("/srv/shop/compose.yaml,/srv/shop/prod.yaml"))
            .and_then(Result::err)
            .expect("refused");
        assert!(
            err.contains("[compose.yaml, prod.yaml]") && err.contains("without -f"),
            "{err}"
        );
        // Hand-made labels (no working dir) are not Compose's doing.
        let mut bare = labels("docker-compose.yml");
        bare.remove(WORKING_DIR);
        assert_eq!(target(&bare), None);
    }

    #[test]
    fn the_override_pins_the_image_and_says_whose_it_is() {
        let text = override_yaml(
            &web(),
            "reg:5000/web:2",
            "reg:5000/web:1",
            "d-1",
            Some("3.9"),
        );
        assert!(text.starts_with(MARK), "{text}");
        assert!(
            text.contains(
                "version: \"3.9\"\nservices:\n  \"web\":\n    image: \"reg:5000/web:2\"\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\"flotilla.previous-image\": \"reg:5000/web:1\""),
            "{text}"
        );
        // It is YAML Compose reads: the same parser as the drift check.
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("yaml");
        assert_eq!(
            docs[0]["services"]["web"]["image"].as_str(),
            Some("reg:5000/web:2")
        );
    }

    #[test]
    fn the_scripts_work_in_the_project_directory() {
        let t = web();
        let w = write_script(&t, Some("# flotilla: x\nservices: {}\n"));
        assert!(w.starts_with("cd '/srv/shop' || exit 3; umask 022; cat > '.docker-compose.override.yml.flotilla-tmp' <<'FLOTILLA_OVERRIDE_END' && mv -f '.docker-compose.override.yml.flotilla-tmp' 'docker-compose.override.yml'\n# flotilla: x\nservices: {}\nFLOTILLA_OVERRIDE_END\n"), "{w}");
        assert_eq!(
            write_script(&t, None),
            "cd '/srv/shop' || exit 3; rm -f 'docker-compose.override.yml'"
        );
        assert_eq!(
            up_script(&t, Tool::Plugin, 1, Up::Recreate),
            "cd '/srv/shop' || exit 3; docker compose -p 'shop' up -d --no-deps --pull never --scale 'web=1' 'web' 2>&1"
        );
        assert_eq!(
            up_script(&t, Tool::Standalone, 3, Up::Recreate),
            "cd '/srv/shop' || exit 3; docker-compose -p 'shop' up -d --no-deps --scale 'web=3' 'web' 2>&1"
        );
        assert_eq!(
            up_script(&t, Tool::Plugin, 4, Up::Beside),
            "cd '/srv/shop' || exit 3; docker compose -p 'shop' up -d --no-deps --pull never --no-recreate --scale 'web=4' 'web' 2>&1"
        );
        assert!(read_script(&t).contains("cat 'docker-compose.override.yml'"));
        let f = file_script(&t);
        assert!(
            f.contains("docker-compose -p 'shop' -f 'docker-compose.yml' config ||")
                && f.contains(
                    "docker compose -p 'shop' -f 'docker-compose.yml' config --format json"
                ),
            "the file alone, never the override: {f}"
        );
    }

    #[test]
    fn an_override_is_ours_only_when_flotilla_wrote_it() {
        let none = parse_read("@@tool standalone\n@@version\n'3.9'\n");
        assert_eq!(none.tool, Some(Tool::Standalone));
        assert_eq!(none.version.as_deref(), Some("3.9"));
        assert!(none.ours() && none.override_text.is_none());
        let ours =
            parse_read("@@tool plugin\n@@version\n@@override\n# flotilla: x\nservices: {}\n");
        assert!(ours.ours());
        assert_eq!(
            ours.override_text.as_deref(),
            Some("# flotilla: x\nservices: {}\n")
        );
        assert_eq!(ours.version, None);
        let theirs = parse_read(
            "@@tool plugin\n@@version\n@@override\nservices:\n  web:\n    ports: [\"80:80\"]\n",
        );
        assert!(!theirs.ours());
        assert_eq!(parse_read("@@tool \n").tool, None, "no Compose");
    }
}
