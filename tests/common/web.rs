//! A tiny web service on a user-defined network, and a probe that asks it
//! by its network alias through a deploy: what start-first promises.

use std::time::Duration;

use super::{Network, Testbed, flotilla};

/// A tiny web server image per version (busybox httpd serving its version);
/// `None` serves nothing, so its health check fails. Like many servers it
/// stops answering at SIGTERM and exits a second later: a proxy that still
/// sends to it then fails.
pub fn tiny(tb: &Testbed, host: &str, name: &str, version: Option<&str>) -> String {
    let tag = version.unwrap_or("broken");
    let image = format!("otest/{name}:{tag}");
    let src = format!("{name}-src-{tag}");
    tb.docker(
        host,
        &["create", "--name", &src, "flotilla-test/base:latest"],
    );
    let serve = match version {
        Some(v) => format!("mkdir -p /www && echo tiny{v} > /www/index.html && "),
        None => "mkdir -p /www && ".to_owned(),
    };
    let cmd = format!(
        "CMD [\"sh\", \"-c\", \"{serve}httpd -f -p 8080 -h /www & trap 'kill $!; sleep 1; exit 0' TERM; wait\"]"
    );
    tb.docker(host, &["commit", "--change", &cmd, &src, &image]);
    tb.docker(host, &["rm", &src]);
    image
}

/// Runs `image` as container `name` on `net`, answering to `alias`.
pub fn serve(tb: &Testbed, host: &str, name: &str, net: &Network, alias: &str, image: &str) {
    tb.docker(
        host,
        &[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &net.name,
            "--network-alias",
            alias,
            image,
        ],
    );
}

/// What the service answers by its network alias, asked from a one-off
/// container on the network.
pub fn answer(tb: &Testbed, host: &str, net: &Network, alias: &str) -> String {
    let url = format!("http://{alias}:8080/");
    let args = [
        "run",
        "--rm",
        "--network",
        &net.name,
        "flotilla-test/base:latest",
        "wget",
        "-qO-",
        &url,
    ];
    let out = tb.docker_raw(host, &args);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits (bounded) until the service answers `want` by its alias.
pub fn wait_for_answer(tb: &Testbed, host: &str, net: &Network, alias: &str, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while answer(tb, host, net, alias) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{alias} never answered {want}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A one-off container on the network asking `alias` every 50 ms (at most
/// 1200 times: it stops by itself), one `OK`/`FAIL` line per request.
pub struct Probe<'a> {
    tb: &'a Testbed,
    host: &'a str,
    name: String,
}

impl<'a> Probe<'a> {
    pub fn start(tb: &'a Testbed, host: &'a str, net: &Network, alias: &str) -> Probe<'a> {
        let name = format!("{}-probe", net.name);
        let script = format!(
            "i=0; while [ $i -lt 1200 ]; do if wget -qO- http://{alias}:8080/ >/dev/null 2>&1; \
             then echo OK; else echo FAIL; fi; i=$((i+1)); sleep 0.05; done"
        );
        tb.docker(
            host,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                &net.name,
                "flotilla-test/base:latest",
                "sh",
                "-c",
                &script,
            ],
        );
        std::thread::sleep(Duration::from_millis(500));
        Probe { tb, host, name }
    }

    /// Stops asking; asserts it asked through `what` and no request failed.
    pub fn no_failures(self, what: &str) {
        std::thread::sleep(Duration::from_millis(500));
        let answers = self.tb.docker(self.host, &["logs", &self.name]);
        let (ok, failed) = (
            answers.matches("OK").count(),
            answers.matches("FAIL").count(),
        );
        assert!(
            ok > 10,
            "the probe ran through {what}: {ok} answers: {answers:.400}"
        );
        assert_eq!(
            failed,
            0,
            "{failed} of {} requests failed during {what}",
            ok + failed
        );
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        let _ = self.tb.docker_raw(self.host, &["rm", "-f", &self.name]);
    }
}

/// Starts a deploy and SIGKILLs flotilla while the old container drains
/// (the candidate healthy and serving, the old one unlisted).
pub fn kill_while_draining(
    cfg: &std::path::Path,
    audit: &std::path::Path,
    name: &str,
    image: &str,
) {
    use std::io::{BufRead, BufReader};
    let mut cmd = flotilla();
    cmd.env("FLOTILLA_AUDIT_LOG", audit)
        .arg("--config")
        .arg(cfg)
        .args(["deploy", name, "--image", image, "--yes", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn deploy");
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let draining = line.contains("\"event\":\"step\"") && line.contains("draining");
        seen.push(line);
        if draining {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.last().is_some_and(|l| l.contains("draining")),
        "never drained: {seen:#?}"
    );
}
