//! A real Compose project (Debian's docker-compose, v1) brought up on one
//! test host from a directory of its own, taken down on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Testbed;

pub struct Project<'a> {
    pub tb: &'a Testbed,
    pub host: String,
    pub name: String,
    pub dir: PathBuf,
}

impl<'a> Project<'a> {
    /// Writes `docker-compose.yml` into `dir` (created) and runs `up -d`.
    pub fn up(tb: &'a Testbed, host: &str, name: &str, dir: &Path, yaml: &str) -> Project<'a> {
        std::fs::create_dir_all(dir).expect("project dir");
        let p = Project {
            tb,
            host: host.to_owned(),
            name: name.to_owned(),
            dir: dir.to_owned(),
        };
        p.write(yaml);
        p.compose(&["up", "-d"]);
        p
    }

    /// Replaces the compose file.
    pub fn write(&self, yaml: &str) {
        std::fs::write(self.dir.join("docker-compose.yml"), yaml).expect("write compose file");
    }

    /// `docker-compose -p NAME ARGS…` in the project's directory, against
    /// the host's daemon; panics unless it succeeds. Returns stdout+stderr.
    pub fn compose(&self, args: &[&str]) -> String {
        let out = Command::new("docker-compose")
            .current_dir(&self.dir)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.tb.socket(&self.host).display()),
            )
            .args(["-p", &self.name])
            .args(args)
            .output()
            .expect("run docker-compose");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "docker-compose {args:?}: {text}");
        text
    }

    /// The container Compose v1 names `PROJECT_SERVICE_1`.
    pub fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .current_dir(&self.dir)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.tb.socket(&self.host).display()),
            )
            .args(["-p", &self.name, "down", "-t", "0"])
            .output();
    }
}

/// A one-service project file: `service` from `image`, no network, the
/// image's own health check.
pub fn one_service(service: &str, image: &str) -> String {
    format!("services:\n  {service}:\n    image: {image}\n    network_mode: none\n")
}
