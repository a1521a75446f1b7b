//! Host vitals read over the host's own SSH session (no agent): load, CPUs,
//! memory, uptime and the filesystem holding Docker's data root. Docker's own
//! disk usage (`super::disk`) is read apart, far less often, and kept here.

use std::time::Duration;

use serde::Serialize;

use crate::transport::Remote;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vitals {
    pub load1: f64,
    pub load5: f64,
    pub cpus: u32,
    pub mem_total_bytes: u64,
    pub mem_available_bytes: u64,
    pub disk_total_bytes: u64,
    /// Available to unprivileged writers, as `df` reports it.
    pub disk_free_bytes: u64,
    pub docker_root: String,
    pub uptime_s: u64,
    /// `/system/df`, or why not, read on its own (slower) cadence; None
    /// until it is. `hosts --json` shows it beside the vitals, not in them.
    #[serde(skip)]
    pub docker_disk: Option<Result<DockerDisk, String>>,
    /// The Compose commands the host has, preferred first: `docker compose`
    /// (the v2 plugin), `docker-compose` (v1, or v2 standalone).
    pub compose: Vec<String>,
}

pub use super::disk::DockerDisk;

impl Vitals {
    pub fn disk_free_ratio(&self) -> f64 {
        ratio(self.disk_free_bytes, self.disk_total_bytes)
    }

    pub fn mem_available_ratio(&self) -> f64 {
        ratio(self.mem_available_bytes, self.mem_total_bytes)
    }

    /// "/var/lib/docker: 3.2 GiB free of 50.0 GiB (6.4 %)".
    pub fn disk_phrase(&self) -> String {
        format!(
            "{}: {} free of {} ({:.1} %)",
            self.docker_root,
            bytes(self.disk_free_bytes),
            bytes(self.disk_total_bytes),
            self.disk_free_ratio() * 100.0
        )
    }

    pub fn mem_phrase(&self) -> String {
        format!(
            "{} available of {} ({:.1} %)",
            bytes(self.mem_available_bytes),
            bytes(self.mem_total_bytes),
            self.mem_available_ratio() * 100.0
        )
    }

    pub fn load_phrase(&self) -> String {
        format!(
            "load {:.2} / {:.2} on {} CPUs",
            self.load1, self.load5, self.cpus
        )
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 1.0;
    }
    part as f64 / whole as f64
}

pub use crate::human::bytes;

/// Where the docker CLI looks for the Compose v2 plugin (Docker's docs).
pub(crate) const COMPOSE_PLUGIN_DIRS: &str = "\"${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins\" \
    /usr/local/lib/docker/cli-plugins /usr/local/libexec/docker/cli-plugins \
    /usr/lib/docker/cli-plugins /usr/libexec/docker/cli-plugins";

/// One exec, sections marked so a missing tool leaves the others readable.
/// `df -P -k` is POSIX (GNU and busybox alike); `nproc` falls back to getconf.
/// Compose is found by looking, not by running it (v1 takes ~0.5 s to start).
pub fn script(docker_root: &str) -> String {
    format!(
        "echo @@loadavg; cat /proc/loadavg; echo @@nproc; \
         (nproc 2>/dev/null || getconf _NPROCESSORS_ONLN); echo @@meminfo; cat /proc/meminfo; \
         echo @@uptime; cat /proc/uptime; echo @@compose; \
         for d in {COMPOSE_PLUGIN_DIRS}; do \
         [ -x \"$d/docker-compose\" ] && echo docker compose && break; done; \
         command -v docker-compose >/dev/null 2>&1 && echo docker-compose; \
         echo @@df; df -P -k {}",
        crate::quote::sh(docker_root)
    )
}

/// Parses the script's output.
pub fn parse(out: &str, docker_root: &str) -> Result<Vitals, String> {
    let Sections {
        loadavg,
        nproc,
        meminfo,
        uptime,
        compose,
        df,
    } = sections(out);
    let mut load = loadavg.split_whitespace().map(str::parse::<f64>);
    let (load1, load5) = match (load.next(), load.next()) {
        (Some(Ok(a)), Some(Ok(b))) => (a, b),
        _ => return Err(format!("unreadable /proc/loadavg: {:?}", loadavg.trim())),
    };
    let cpus: u32 = nproc
        .trim()
        .parse()
        .map_err(|_| format!("unreadable CPU count: {:?}", nproc.trim()))?;
    let uptime_s = uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("unreadable /proc/uptime: {:?}", uptime.trim()))?;
    Ok(Vitals {
        load1,
        load5,
        cpus,
        mem_total_bytes: meminfo_bytes(&meminfo, "MemTotal")?,
        mem_available_bytes: meminfo_bytes(&meminfo, "MemAvailable")?,
        disk_total_bytes: df_bytes(&df, 1, docker_root)?,
        disk_free_bytes: df_bytes(&df, 3, docker_root)?,
        docker_root: docker_root.to_owned(),
        uptime_s: uptime_s as u64,
        docker_disk: None,
        compose: compose.lines().map(str::to_owned).collect(),
    })
}

/// The script's output by section; a section it lacks stays empty.
#[derive(Default)]
struct Sections {
    loadavg: String,
    nproc: String,
    meminfo: String,
    uptime: String,
    compose: String,
    df: String,
}

/// Splits the output at its `@@NAME` markers; lines under an unknown
/// marker are dropped.
fn sections(out: &str) -> Sections {
    let mut s = Sections::default();
    let mut section = "";
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            section = name.trim();
            continue;
        }
        let buf = match section {
            "loadavg" => &mut s.loadavg,
            "nproc" => &mut s.nproc,
            "meminfo" => &mut s.meminfo,
            "uptime" => &mut s.uptime,
            "compose" => &mut s.compose,
            "df" => &mut s.df,
            _ => continue,
        };
        buf.push_str(line);
        buf.push('\n');
    }
    s
}

/// A /proc/meminfo value (in KiB there) in bytes.
fn meminfo_bytes(meminfo: &str, key: &str) -> Result<u64, String> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("/proc/meminfo has no {key}"))
}

/// Field `i` of df's line (in KiB there) in bytes. POSIX df -P: a header,
/// then one line; a long device name never wraps.
fn df_bytes(df: &str, i: usize, docker_root: &str) -> Result<u64, String> {
    df.lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(i))
        .and_then(|s| s.parse::<u64>().ok())
        .map(|k| k * 1024)
        .ok_or_else(|| format!("unreadable df output for {docker_root}: {:?}", df.trim()))
}

/// Reads a host's vitals: Docker's data root from /info, then one exec over
/// the session. Local hosts have no session: that is the reason given.
pub async fn read(
    docker: &bollard::Docker,
    remote: Option<&Remote>,
    within: Duration,
) -> Result<Vitals, String> {
    let Some(session) = remote else {
        return Err("local Docker daemon: vitals are read over SSH only".to_owned());
    };
    let work = async {
        let info = docker
            .info()
            .await
            .map_err(|e| format!("Docker API /info: {e}"))?;
        let root = info
            .docker_root_dir
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "/var/lib/docker".to_owned());
        let out = session
            .exec(&script(&root), 256 * 1024)
            .await
            .map_err(|e| format!("exec refused: {e}"))?;
        // A server that refuses exec answers with a failure and closes the
        // channel: no output and no exit status.
        if out.stdout.is_empty() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(match out.exit_status {
                None => format!("exec refused by the server {}", stderr.trim())
                    .trim_end()
                    .to_owned(),
                Some(code) => format!("vitals script exited {code}: {}", stderr.trim()),
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        parse(&text, &root).map_err(|e| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.trim().is_empty() {
                e
            } else {
                format!("{e} ({})", stderr.trim())
            }
        })
    };
    tokio::time::timeout(within, work)
        .await
        .map_err(|_| format!("vitals not read within {}s", within.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "@@loadavg\n0.52 0.48 0.40 2/345 12345\n@@nproc\n2\n@@meminfo\n\
MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    4000000 kB\n\
@@uptime\n12345.67 20000.00\n@@compose\ndocker compose\ndocker-compose\n@@df\n\
Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
/dev/sda1         51475068 40000000   8839780      82% /\n";

    #[test]
    fn parses_proc_and_df() {
        let v = parse(OUT, "/var/lib/docker").expect("parse");
        assert_eq!((v.load1, v.load5, v.cpus), (0.52, 0.48, 2));
        assert_eq!(v.mem_total_bytes, 8_000_000 * 1024);
        assert_eq!(v.mem_available_bytes, 4_000_000 * 1024);
        assert_eq!(v.uptime_s, 12345);
        assert_eq!(v.disk_total_bytes, 51_475_068 * 1024);
        assert_eq!(v.disk_free_bytes, 8_839_780 * 1024);
        assert_eq!(v.docker_root, "/var/lib/docker");
        assert_eq!(v.compose, ["docker compose", "docker-compose"]);
        assert!((v.mem_available_ratio() - 0.5).abs() < 1e-9);
        assert_eq!(
            v.disk_phrase(),
            "/var/lib/docker: 8.4 GiB free of 49.1 GiB (17.2 %)"
        );
    }

    #[test]
    fn the_script_finds_the_compose_plugin_without_running_it() {
        let home = tempfile::tempdir().expect("tempdir");
        let plugins = home.path().join(".docker/cli-plugins");
        std::fs::create_dir_all(&plugins).expect("plugin dir");
        let plugin = plugins.join("docker-compose");
        // Running it would fail the test: finding it is enough.
        std::fs::write(&plugin, "#!/bin/sh\necho ran >&2; exit 1\n").expect("plugin");
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&plugin, mode).expect("chmod");
        let out = std::process::Command::new("sh")
            .args(["-c", &script("/")])
            .env("HOME", home.path())
            .env_remove("DOCKER_CONFIG")
            // No docker-compose on this PATH.
            .env("PATH", "/nonexistent:/bin:/usr/bin")
            .output()
            .expect("sh");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let v = parse(&text, "/").expect("parse");
        let v1 = std::path::Path::new("/usr/bin/docker-compose").exists();
        let mut want = vec!["docker compose"];
        if v1 {
            want.push("docker-compose");
        }
        assert_eq!(v.compose, want, "{text}");
    }

    #[test]
    fn a_missing_section_names_itself() {
        let no_df = OUT.split("@@df").next().unwrap_or_default();
        let e = parse(no_df, "/data").expect_err("no df");
        assert!(e.contains("df output for /data"), "{e}");
        let e = parse("@@loadavg\nnope\n", "/").expect_err("bad load");
        assert!(e.contains("/proc/loadavg"), "{e}");
    }

    #[test]
    fn the_root_is_quoted_for_the_shell() {
        assert!(script("/data/it's here").ends_with(r"df -P -k '/data/it'\''s here'"));
    }
}
