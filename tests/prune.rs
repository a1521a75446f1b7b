//! End-to-end `prune` against the real test fleet. The fleet is shared with
//! tests running at the same time, so every real prune here is limited by
//! `--label` to objects this test made; only dry runs look at everything.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{Outcome, Testbed, flotilla_with, json};
use serde_json::Value;

const HOST: &str = "fleet-3";

/// What one test made on HOST, removed on drop.
struct Made {
    tb: Testbed,
    run: String,
    containers: Vec<String>,
    images: Vec<String>,
    volumes: Vec<String>,
    dir: tempfile::TempDir,
}

impl Made {
    fn new() -> Made {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Made {
            tb: Testbed::get(),
            run: format!("ptest-{}-{nanos:x}", std::process::id()),
            containers: Vec::new(),
            images: Vec::new(),
            volumes: Vec::new(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn label(&self) -> String {
        format!("ptest.run={}", self.run)
    }

    fn docker(&self, args: &[&str]) -> String {
        self.tb.docker(HOST, args).trim().to_owned()
    }

    /// An image of ours (labelled) that serves until SIGTERM.
    fn image(&mut self, tag: &str) -> String {
        let image = format!("otest/{}:{tag}", self.run);
        let src = format!("{}-src-{tag}", self.run);
        self.docker(&["create", "--name", &src, "flotilla-test/base:latest"]);
        let cmd = "CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]";
        let label = format!("LABEL ptest.run={}", self.run);
        self.docker(&["commit", "--change", cmd, "--change", &label, &src, &image]);
        self.docker(&["rm", &src]);
        self.images.push(image.clone());
        image
    }

    fn image_id(&self, image: &str) -> String {
        self.docker(&["image", "inspect", "-f", "{{.Id}}", image])
    }

    fn exists(&self, kind: &str, name: &str) -> bool {
        self.tb
            .docker_raw(HOST, &[kind, "inspect", name])
            .status
            .success()
    }

    fn volume(&mut self, name: Option<&str>) -> String {
        let label = self.label();
        let mut args = vec!["volume", "create", "--label", &label];
        args.extend(name);
        let v = self.docker(&args);
        self.volumes.push(v.clone());
        v
    }

    fn config(&self, service: &str) -> PathBuf {
        let inventory = std::fs::read_to_string(self.tb.config()).expect("inventory");
        let text = format!(
            "{inventory}\n[service.{service}]\nhosts = [\"{HOST}\"]\ncontainer = \"{service}\"\n\
             order = \"stop-first\"\nstable_for = \"1s\"\nhealth_timeout = \"20s\"\n"
        );
        common::write(self.dir.path(), "flotilla.toml", &text)
    }

    fn flotilla(&self, args: &[&str]) -> Outcome {
        let service = format!("{}-web", self.run);
        let audit = self.dir.path().join("audit.jsonl");
        let out = flotilla_with(&self.config(&service), &audit, args);
        eprintln!(
            "$ flotilla {}\n=> exit {}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        );
        out
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.tb.docker_raw(HOST, &["rm", "-f", c]);
        }
        for i in &self.images {
            let _ = self.tb.docker_raw(HOST, &["rmi", "-f", i]);
        }
        for v in &self.volumes {
            let _ = self.tb.docker_raw(HOST, &["volume", "rm", "-f", v]);
        }
    }
}

/// (kind, id) of a host's `remove` (dry run) or `removed` (real run) list.
fn listed(report: &Value, list: &str) -> BTreeSet<(String, String)> {
    report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter(|h| h["host"] == HOST)
        .flat_map(|h| h[list].as_array().expect("list").iter())
        .map(|i| {
            let s = |k: &str| i[k].as_str().expect("field").to_owned();
            (s("kind"), s("id"))
        })
        .collect()
}

fn pair(kind: &str, id: &str) -> (String, String) {
    (kind.to_owned(), id.to_owned())
}

#[test]
fn a_dry_run_lists_what_prune_removes_and_rollback_still_works() {
    let mut m = Made::new();
    let label = m.label();
    let service = format!("{}-web", m.run);
    let (v0, v1, v2, stray) = (
        m.image("v0"),
        m.image("v1"),
        m.image("v2"),
        m.image("stray"),
    );
    for c in [
        &service,
        &format!("{service}-flotilla-old"),
        &format!("flotilla-lock-{service}"),
    ] {
        m.containers.push(c.clone());
    }
    m.docker(&["run", "-d", "--name", &service, "--label", &label, &v1]);
    let deploy = m.flotilla(&["deploy", &service, "--image", &v2, "--yes", "--json"]);
    assert_eq!(deploy.code, 0, "the deploy v1 -> v2");

    // A stopped stray container of the stray image, an unused anonymous
    // volume, one in use, a named one.
    let stray_c = format!("{}-stray", m.run);
    m.containers.push(stray_c.clone());
    m.docker(&["create", "--name", &stray_c, "--label", &label, &stray]);
    let unused = m.volume(None);
    let used = m.volume(None);
    let named = m.volume(Some(&format!("{}-data", m.run)));
    let user = format!("{}-user", m.run);
    m.containers.push(user.clone());
    let mount = format!("{used}:/data");
    m.docker(&[
        "run",
        "-d",
        "--name",
        &user,
        "-v",
        &mount,
        "flotilla-test/base:latest",
        "sleep",
        "600",
    ]);

    let ours = ["--host", HOST, "--volumes", "--label", &label, "--json"];
    let dry = m.flotilla(&[&["prune", "--dry-run"], &ours[..]].concat());
    assert_eq!(dry.code, 0);
    let dry = json(&dry.stdout);
    let stray_id = m.docker(&["inspect", "-f", "{{.Id}}", &stray_c]);
    let want: BTreeSet<_> = [
        pair("container", &stray_id),
        pair("image", &m.image_id(&v0)),
        pair("image", &m.image_id(&stray)),
        pair("volume", &unused),
    ]
    .into();
    assert_eq!(listed(&dry, "remove"), want);
    let kept = listed(&dry, "keep");
    assert!(
        kept.contains(&pair("image", &m.image_id(&v1))),
        "v1: rollback"
    );
    assert!(kept.contains(&pair("volume", &used)) && kept.contains(&pair("volume", &named)));
    let everything = m.flotilla(&["prune", "--dry-run", "--host", HOST, "--volumes", "--json"]);
    let everything = listed(&json(&everything.stdout), "remove");
    assert!(
        want.is_subset(&everything),
        "unfiltered, ours are listed too"
    );
    assert!(!everything.contains(&pair("image", &m.image_id(&v1))));

    // Refused without --yes off a terminal, and when read-only: nothing goes.
    assert_eq!(m.flotilla(&[&["prune"], &ours[..]].concat()).code, 6);
    assert_eq!(
        m.flotilla(&[&["--read-only", "prune", "--yes"], &ours[..]].concat())
            .code,
        6
    );
    assert!(m.exists("container", &stray_c));

    let real = m.flotilla(&[&["prune", "--yes"], &ours[..]].concat());
    assert_eq!(real.code, 0);
    let real = json(&real.stdout);
    assert_eq!(listed(&real, "removed"), want, "exactly the dry run's list");
    let all_ok = real["hosts"][0]["removed"].as_array().expect("removed");
    assert!(all_ok.iter().all(|r| r["ok"] == true));
    assert!(!m.exists("container", &stray_c) && !m.exists("image", &stray));
    assert!(!m.exists("image", &v0) && !m.exists("volume", &unused));
    assert!(m.exists("image", &v1) && m.exists("image", &v2));
    assert!(m.exists("volume", &used) && m.exists("volume", &named));
    let audit = std::fs::read_to_string(m.dir.path().join("audit.jsonl")).expect("audit");
    assert!(
        audit.contains(&format!("prune container {stray_c}")),
        "{audit}"
    );

    let back = m.flotilla(&["rollback", &service, "--yes", "--json"]);
    assert_eq!(back.code, 0, "rollback after prune");
    let now = m.docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}} {{.State.Running}}",
        &service,
    ]);
    assert_eq!(now, format!("{v1} true"));
}
