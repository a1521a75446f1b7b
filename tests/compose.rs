//! End-to-end: real Compose projects (docker-compose v1) on two test hosts;
//! flotilla knows them and shows where a host differs from its file.

mod common;

use common::compose::{Project, one_service};
use common::web::{Probe, answer, kill_while_draining, tiny, wait_for_answer};
use common::{Network, Testbed, json, run};

/// The testbed inventory plus `[service.SERVICE]` on fleet-1 and fleet-2
/// (each test its own service name: triage groups by it).
fn config(tb: &Testbed, dir: &std::path::Path, project: &str, service: &str) -> std::path::PathBuf {
    config_on(
        tb,
        dir,
        project,
        service,
        "hosts = [\"fleet-1\", \"fleet-2\"]",
    )
}

/// The same with the service's own TOML lines (`hosts = …` among them).
fn config_on(
    tb: &Testbed,
    dir: &std::path::Path,
    project: &str,
    service: &str,
    lines: &str,
) -> std::path::PathBuf {
    let base = std::fs::read_to_string(tb.config()).expect("testbed config");
    let path = dir.join("flotilla.toml");
    std::fs::write(
        &path,
        format!(
            "{base}\n[service.{service}]\n{lines}\n\
             compose = {{ project = \"{project}\", service = \"{service}\" }}\n"
        ),
    )
    .expect("write config");
    path
}

/// Project `name` with `service` on flotilla-test/app:v1, up on fleet-1 and
/// fleet-2, each in a directory of its own under `dir`.
fn on_two_hosts<'a>(
    tb: &'a Testbed,
    dir: &std::path::Path,
    name: &str,
    service: &str,
) -> Vec<Project<'a>> {
    ["fleet-1", "fleet-2"]
        .iter()
        .map(|h| {
            Project::up(
                tb,
                h,
                name,
                &dir.join(h).join(name),
                &one_service(service, "flotilla-test/app:v1"),
            )
        })
        .collect()
}

#[test]
fn status_and_triage_show_a_host_whose_file_differs_from_what_runs() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("cdemo{}", std::process::id());
    let projects = on_two_hosts(&tb, dir.path(), &name, "cdrift");
    let cfg = config(&tb, dir.path(), &name, "cdrift");
    let audit = dir.path().join("audit.jsonl");
    let verb = |args: &[&str]| common::flotilla_with(&cfg, &audit, args);

    // ps names the project of each container.
    let ps = verb(&["ps", "--json", "--host", "fleet-1"]);
    let rows = json(&ps.stdout);
    let row = rows
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|c| c["name"] == projects[0].container("cdrift").as_str())
        })
        .unwrap_or_else(|| panic!("{} in ps: {}", projects[0].container("cdrift"), ps.stdout));
    assert_eq!(row["compose"]["project"], name.as_str());
    assert_eq!(row["compose"]["service"], "cdrift");
    assert_eq!(
        row["compose"]["working_dir"],
        projects[0].dir.to_string_lossy().as_ref()
    );

    // In step with the files: no drift.
    let status = verb(&["status", "cdrift", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let s = json(&status.stdout);
    for h in s["hosts"].as_array().expect("hosts") {
        assert_eq!(h["compose"]["project"], name.as_str(), "{h}");
        assert_eq!(h["compose"]["tool"], "standalone", "{h}");
        assert_eq!(h["compose"]["drift"], serde_json::json!([]), "{h}");
    }

    // fleet-2's file is edited by hand: drift there, and only there.
    projects[1].write(&one_service("cdrift", "flotilla-test/app:v2"));
    let text = verb(&["status", "cdrift"]).stdout;
    let says = format!(
        "fleet-2: compose drift: {} file says flotilla-test/app:v2, running flotilla-test/app:v1",
        projects[1].container("cdrift")
    );
    assert!(text.contains(&says), "{text}");
    assert!(!text.contains("fleet-1: compose drift"), "{text}");
    assert!(
        text.contains(&format!(
            "fleet-1: compose project {name} in {} (docker-compose.yml), read with docker-compose",
            projects[0].dir.display()
        )),
        "{text}"
    );

    let triage = verb(&[
        "triage",
        "--json",
        "--no-logs",
        "--host",
        "fleet-1",
        "--host",
        "fleet-2",
    ]);
    let groups = json(&triage.stdout);
    let drift: Vec<&serde_json::Value> = groups
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["kind"] == "compose_drift" && g["service"] == "cdrift")
        .collect();
    assert_eq!(drift.len(), 1, "{groups:#}");
    assert_eq!(drift[0]["severity"], "low");
    assert_eq!(drift[0]["hosts"], serde_json::json!(["fleet-2"]));
    assert!(
        drift[0]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with(
                "cdrift compose drift on 1/2 hosts (fleet-2): file says flotilla-test/app:v2, running flotilla-test/app:v1"
            )),
        "{:#}",
        drift[0]
    );

    // What Compose itself does next agrees: `up -d` recreates it from the file.
    projects[1].compose(&["up", "-d"]);
    let after = json(&verb(&["status", "cdrift", "--json"]).stdout);
    for h in after["hosts"].as_array().expect("hosts") {
        assert_eq!(h["compose"]["drift"], serde_json::json!([]), "{h}");
    }
}

/// What `docker-compose config` says the service's image is.
fn config_image(p: &Project) -> String {
    p.compose(&["config"])
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no image in config of {}", p.dir.display()))
}

/// After flotilla is done, Compose agrees: `up -d` changes nothing and its
/// config names the image that runs.
fn compose_agrees(projects: &[Project], service: &str, image: &str) {
    for p in projects {
        let up = p.compose(&["up", "-d"]);
        assert!(
            up.contains("is up-to-date"),
            "{}: up -d changed something: {up}",
            p.host
        );
        assert_eq!(config_image(p), image, "{}", p.host);
        let running = p.tb.docker(
            &p.host,
            &["inspect", "-f", "{{.Config.Image}}", &p.container(service)],
        );
        assert_eq!(running.trim(), image, "{}", p.host);
    }
}

#[test]
fn deploys_and_rollbacks_go_through_compose_and_compose_agrees() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("cdeploy{}", std::process::id());
    let projects = on_two_hosts(&tb, dir.path(), &name, "cdep");
    // Compose's `up` recreating: start-first has a test of its own.
    let cfg = config_on(
        &tb,
        dir.path(),
        &name,
        "cdep",
        "hosts = [\"fleet-1\", \"fleet-2\"]\norder = \"stop-first\"",
    );
    let audit = dir.path().join("audit.jsonl");
    let verb = |args: &[&str]| common::flotilla_with(&cfg, &audit, args);

    let out = verb(&["deploy", "cdep", "--image", "flotilla-test/app:v2", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("docker-compose -p"), "{}", out.stdout);
    compose_agrees(&projects, "cdep", "flotilla-test/app:v2");
    let pinned = std::fs::read_to_string(projects[0].dir.join("docker-compose.override.yml"))
        .expect("flotilla's override");
    assert!(pinned.starts_with("# flotilla:"), "{pinned}");
    assert_eq!(
        std::fs::read_to_string(projects[0].dir.join("docker-compose.yml")).expect("file"),
        one_service("cdep", "flotilla-test/app:v1"),
        "the user's own file is untouched"
    );

    let out = verb(&["rollback", "cdep", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    compose_agrees(&projects, "cdep", "flotilla-test/app:v1");

    // A never-healthy image: the first host goes back, the second is never touched.
    let before = std::fs::read_to_string(projects[0].dir.join("docker-compose.override.yml"))
        .expect("override");
    let out = verb(&[
        "deploy",
        "cdep",
        "--image",
        "flotilla-test/app:broken",
        "--yes",
    ]);
    assert_eq!(out.code, 5, "rolled back: {}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("rolled back to flotilla-test/app:v1"),
        "{}",
        out.stdout
    );
    compose_agrees(&projects, "cdep", "flotilla-test/app:v1");
    assert_eq!(
        std::fs::read_to_string(projects[0].dir.join("docker-compose.override.yml"))
            .expect("override"),
        before,
        "the override is back as it was"
    );

    // The files are edited by hand: drift, then `deploy cdep` rolls the file out.
    projects[1].write(&one_service("cdep", "flotilla-test/app:v2"));
    let status = verb(&["status", "cdep"]).stdout;
    assert!(
        status.contains(&format!(
            "fleet-2: compose drift: {} file says flotilla-test/app:v2, running flotilla-test/app:v1 (pinned by flotilla's override)",
            projects[1].container("cdep")
        )),
        "{status}"
    );
    let out = verb(&["deploy", "cdep", "--dry-run"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("compose files disagree (fleet-1 says flotilla-test/app:v1, fleet-2 says flotilla-test/app:v2)"),
        "{}",
        out.stderr
    );
    projects[0].write(&one_service("cdep", "flotilla-test/app:v2"));
    let out = verb(&["deploy", "cdep", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("image flotilla-test/app:v2: what the compose files of cdep say"),
        "{}",
        out.stdout
    );
    compose_agrees(&projects, "cdep", "flotilla-test/app:v2");
    let after = json(&verb(&["status", "cdep", "--json"]).stdout);
    for h in after["hosts"].as_array().expect("hosts") {
        assert_eq!(h["compose"]["drift"], serde_json::json!([]), "{h}");
    }
}

#[test]
fn an_override_that_is_not_flotillas_is_never_touched() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("cown{}", std::process::id());
    let pdir = dir.path().join(&name);
    std::fs::create_dir_all(&pdir).expect("dir");
    let theirs = "services:\n  cown:\n    environment:\n      MODE: theirs\n";
    std::fs::write(pdir.join("docker-compose.override.yml"), theirs).expect("override");
    let p = Project::up(
        &tb,
        "fleet-1",
        &name,
        &pdir,
        &one_service("cown", "flotilla-test/app:v1"),
    );
    let base = std::fs::read_to_string(tb.config()).expect("config");
    let cfg = dir.path().join("flotilla.toml");
    std::fs::write(
        &cfg,
        format!(
            "{base}\n[service.cown]\nhosts = [\"fleet-1\"]\ncompose = {{ project = \"{name}\", service = \"cown\" }}\n"
        ),
    )
    .expect("config");
    let mut cmd = common::flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", dir.path().join("audit.jsonl"))
        .arg("--config")
        .arg(&cfg)
        .args(["deploy", "cown", "--image", "flotilla-test/app:v2", "--yes"]);
    let out = run(cmd);
    assert_ne!(out.code, 0, "{}", out.stdout);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("docker-compose.override.yml is not flotilla's"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(pdir.join("docker-compose.override.yml")).expect("override"),
        theirs
    );
    let up = p.compose(&["up", "-d"]);
    assert!(up.contains("is up-to-date"), "{up}");
}

/// The service's containers as Compose labels them: `id image` per line, sorted.
fn service_containers(tb: &Testbed, host: &str, project: &str, service: &str) -> Vec<String> {
    let out = tb.docker(
        host,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.ID}} {{.Image}} {{.State}}",
        ],
    );
    let mut rows: Vec<String> = out.lines().map(str::to_owned).collect();
    rows.sort();
    rows
}

#[test]
fn start_first_through_compose_keeps_a_scaled_service_answering() {
    let tb = Testbed::get();
    let host = "fleet-1";
    let name = format!("csf{}", std::process::id());
    let net = Network::create(&tb, host, format!("{name}-net"));
    let (v1, v2, broken) = (
        tiny(&tb, host, &name, Some("1")),
        tiny(&tb, host, &name, Some("2")),
        tiny(&tb, host, &name, None),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "services:\n  csweb:\n    image: {v1}\nnetworks:\n  default:\n    external: true\n    name: {}\n",
        net.name
    );
    let p = Project::up(&tb, host, &name, &dir.path().join(&name), &yaml);
    p.compose(&["up", "-d", "--scale", "csweb=2"]);
    let cfg = config_on(
        &tb,
        dir.path(),
        &name,
        "csweb",
        "hosts = [\"fleet-1\"]\nhealth_timeout = \"20s\"\n\
         health_cmd = \"wget -qO- http://localhost:8080/\"\nstop_grace = \"4s\"",
    );
    let audit = dir.path().join("audit.jsonl");
    let verb = |args: &[&str]| common::flotilla_with(&cfg, &audit, args);
    let running = || service_containers(&tb, host, &name, "csweb");
    wait_for_answer(&tb, host, &net, "csweb", "tiny1");

    let plan = verb(&["deploy", "csweb", "--image", &v2, "--dry-run"]);
    assert!(
        plan.stdout
            .contains("through Compose, start-first: it publishes no host port"),
        "{}",
        plan.stdout
    );
    let probe = Probe::start(&tb, host, &net, "csweb");
    let out = verb(&["deploy", "csweb", "--image", &v2, "--yes", "--json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    probe.no_failures("a start-first deploy through Compose");
    let done = out
        .stdout
        .lines()
        .map(json)
        .find(|e| e["event"] == "host_done")
        .expect("host_done");
    assert_eq!(done["timings"]["down_ms"], 0, "{done}");
    let now = running();
    assert_eq!(now.len(), 2, "two replicas still: {now:?}");
    assert!(
        now.iter().all(|r| r.ends_with(&format!("{v2} running"))),
        "{now:?}"
    );
    let up = p.compose(&["up", "-d", "--scale", "csweb=2"]);
    assert!(
        !up.contains("Recreating") && !up.contains("Creating"),
        "Compose agrees: {up}"
    );
    assert!(p.compose(&["config"]).contains(&format!("image: {v2}")));

    // A never-healthy image: the new ones go, the old ones never stopped.
    let before = running();
    let out = verb(&["deploy", "csweb", "--image", &broken, "--yes"]);
    assert_eq!(out.code, 5, "{}{}", out.stdout, out.stderr);
    assert_eq!(running(), before, "the same containers, and only them");
    assert!(
        p.compose(&["config"]).contains(&format!("image: {v2}")),
        "the override is back"
    );

    // Killed while the old ones drain: --rollback keeps the old ones (and
    // gives them back their name), --resume the new ones.
    kill_while_draining(&cfg, &audit, "csweb", &v1);
    assert_eq!(
        running().len(),
        4,
        "new ones beside the old: {:?}",
        running()
    );
    let out = verb(&["deploy", "csweb", "--rollback", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(running(), before, "the old ones stayed: {}", out.stdout);
    assert_eq!(answer(&tb, host, &net, "csweb"), "tiny2");

    kill_while_draining(&cfg, &audit, "csweb", &v1);
    let out = verb(&["deploy", "csweb", "--resume", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let now = running();
    assert_eq!(now.len(), 2, "{now:?}: {}", out.stdout);
    assert!(
        now.iter().all(|r| r.ends_with(&format!("{v1} running"))),
        "{now:?}"
    );
    assert_eq!(answer(&tb, host, &net, "csweb"), "tiny1");
}
