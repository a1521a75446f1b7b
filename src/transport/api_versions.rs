//! Docker API versions remembered per host, so a headless verb's cold path
//! need not ask `/version` before its real request. One line per host in
//! `$XDG_STATE_HOME/flotilla/api-versions`: `KEY<TAB>MAJOR.MINOR`. The file is
//! a hint: a missing, stale or corrupt one only costs a renegotiation.
//! Note: bollard 0.21 sends its requests without the `/vX.Y` prefix (its
//! `Url::join` of an absolute path drops it), so daemons answer at their own
//! version today; the record keeps us right if bollard starts sending it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard::ClientVersion;

use crate::config::Target;

/// One writer at a time in this process (other processes: last writer wins).
static WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Set FLOTILLA_API_VERSIONS to use another file (tests), or to "off".
const ENV_OVERRIDE: &str = "FLOTILLA_API_VERSIONS";

#[derive(Debug, Clone)]
pub struct ApiVersions {
    path: Option<PathBuf>,
}

impl ApiVersions {
    pub fn at(path: PathBuf) -> Self {
        ApiVersions { path: Some(path) }
    }

    pub fn from_env() -> Self {
        if let Some(p) = std::env::var_os(ENV_OVERRIDE) {
            if p == "off" {
                return ApiVersions { path: None };
            }
            return ApiVersions::at(PathBuf::from(p));
        }
        ApiVersions {
            path: crate::private::state_dir().map(|s| s.join("api-versions")),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The version remembered for `key`, if the file has a well-formed one.
    pub fn get(&self, key: &str) -> Option<ClientVersion> {
        let text = std::fs::read_to_string(self.path.as_ref()?).ok()?;
        parse(&text).remove(key)
    }

    /// Whether a version is remembered for every one of `keys` (one read).
    pub fn knows_all<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> bool {
        let Some(text) = self
            .path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return false;
        };
        let all = parse(&text);
        keys.into_iter().all(|k| all.contains_key(k.as_ref()))
    }

    /// Records `version` for `key` (`None` forgets it). Last writer wins;
    /// the rename keeps readers from seeing half a file.
    pub fn set(&self, key: &str, version: Option<&ClientVersion>) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        // Hosts learn at once: their read-modify-writes must not interleave.
        let _one_at_a_time = WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all = std::fs::read_to_string(path)
            .map(|t| parse(&t))
            .unwrap_or_default();
        let changed = match version {
            Some(v) => all.insert(key.to_owned(), *v).is_none_or(|old| old != *v),
            None => all.remove(key).is_some(),
        };
        if !changed {
            return Ok(());
        }
        replace_file(path, render(&all).as_bytes())
    }
}

impl ApiVersions {
    /// Beside the versions: hosts that refused stream-local forwarding, whose
    /// first channel then goes straight to `docker system dial-stdio`.
    fn dial_stdio_file(&self) -> Option<PathBuf> {
        let mut name = self.path.as_ref()?.clone().into_os_string();
        name.push(".dial-stdio");
        Some(PathBuf::from(name))
    }

    pub fn dial_stdio(&self, key: &str) -> bool {
        self.dial_stdio_file()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .is_some_and(|t| t.lines().any(|l| l == key))
    }

    pub fn set_dial_stdio(&self, key: &str, on: bool) -> std::io::Result<()> {
        let Some(path) = self.dial_stdio_file() else {
            return Ok(());
        };
        let _one_at_a_time = WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut keys: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        if keys.contains(&key) == on {
            return Ok(());
        }
        keys.retain(|k| *k != key);
        if on {
            keys.push(key);
        }
        let body: String = keys.iter().map(|k| format!("{k}\n")).collect();
        replace_file(&path, body.as_bytes())
    }
}

/// Writes `path` whole through a temporary file of its own (unique per process
/// and write, so concurrent writers never share one) and a rename.
fn replace_file(path: &Path, body: &[u8]) -> std::io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}.{n}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    crate::private::write(&tmp, body)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// What identifies a Docker daemon: where the SSH hop lands and the socket.
pub fn target_key(target: &Target) -> String {
    match target {
        Target::Local { socket } => format!("unix://{}", socket.display()),
        Target::Ssh {
            endpoint,
            jumps,
            docker_socket,
        } => {
            let via: String = jumps
                .iter()
                .map(|j| format!("{}@{}:{},", j.user, j.hostname, j.port))
                .collect();
            format!(
                "ssh://{via}{}@{}:{}{}",
                endpoint.user, endpoint.hostname, endpoint.port, docker_socket
            )
        }
    }
}

/// Well-formed lines only; anything else (a torn write, an edit) is skipped.
pub fn parse(text: &str) -> BTreeMap<String, ClientVersion> {
    text.lines()
        .filter_map(|line| {
            let (key, version) = line.split_once('\t')?;
            Some((key.to_owned(), parse_version(version.trim())?))
        })
        .filter(|(key, _)| !key.is_empty() && !key.contains(char::is_whitespace))
        .collect()
}

pub fn parse_version(s: &str) -> Option<ClientVersion> {
    let (major, minor) = s.split_once('.')?;
    let ok = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit());
    if !ok(major) || !ok(minor) {
        return None;
    }
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

pub fn render(all: &BTreeMap<String, ClientVersion>) -> String {
    all.iter()
        .map(|(k, v)| format!("{k}\t{}.{}\n", v.major_version, v.minor_version))
        .collect()
}

/// Whether a Docker error says the request's API version is out of range.
pub fn is_version_mismatch(message: &str) -> bool {
    message.contains("client version")
        && (message.contains("too new") || message.contains("too old"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: usize, minor: usize) -> ClientVersion {
        ClientVersion {
            major_version: major,
            minor_version: minor,
        }
    }

    #[test]
    fn parses_good_lines_and_skips_corrupt_ones() {
        let text = "ssh://root@10.0.0.1:22/var/run/docker.sock\t1.41\n\
                    garbage\n\
                    ssh://a@b:22/s\t1.x\n\
                    ssh://a@c:22/s\t\n\
                    \t1.40\n\
                    ssh://a@d:22/s\t99999.1\n\
                    unix:///run/docker.sock\t1.47\r\n\
                    \u{0}\u{1}binary";
        let got = parse(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got["ssh://root@10.0.0.1:22/var/run/docker.sock"], v(1, 41));
        assert_eq!(got["unix:///run/docker.sock"], v(1, 47));
    }

    #[test]
    fn render_round_trips() {
        let all = BTreeMap::from([("k1".to_owned(), v(1, 41)), ("k2".to_owned(), v(1, 9))]);
        assert_eq!(render(&all), "k1\t1.41\nk2\t1.9\n");
        assert_eq!(parse(&render(&all)), all);
    }

    #[test]
    fn set_updates_one_key_and_survives_a_corrupt_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("api-versions");
        let cache = ApiVersions::at(path.clone());
        assert!(cache.get("k").is_none(), "no file yet");
        cache.set("k", Some(&v(1, 41))).expect("set");
        cache.set("other", Some(&v(1, 44))).expect("set");
        assert_eq!(cache.get("k"), Some(v(1, 41)));
        std::fs::write(&path, b"\xff\xfe not text\nk\t1.40\n").expect("corrupt");
        assert!(cache.get("k").is_none(), "an unreadable file is no cache");
        cache.set("k", Some(&v(1, 43))).expect("set over corrupt");
        assert_eq!(cache.get("k"), Some(v(1, 43)));
        cache.set("k", None).expect("forget");
        assert!(cache.get("k").is_none());
    }

    #[test]
    fn knows_all_needs_every_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ApiVersions::at(dir.path().join("api-versions"));
        assert!(!cache.knows_all(["a"]), "no file");
        cache.set("a", Some(&v(1, 41))).expect("set");
        cache.set("b", Some(&v(1, 44))).expect("set");
        assert!(cache.knows_all(["a", "b"]));
        assert!(!cache.knows_all(["a", "c"]));
        assert!(
            !ApiVersions { path: None }.knows_all(Vec::<String>::new()),
            "no file to remember in"
        );
    }

    #[test]
    fn dial_stdio_hosts_are_remembered_and_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ApiVersions::at(dir.path().join("api-versions"));
        assert!(!cache.dial_stdio("a"));
        cache.set_dial_stdio("a", true).expect("set");
        cache.set_dial_stdio("b", true).expect("set");
        cache.set_dial_stdio("a", true).expect("again");
        assert!(cache.dial_stdio("a") && cache.dial_stdio("b"));
        cache.set_dial_stdio("a", false).expect("forget");
        assert!(!cache.dial_stdio("a") && cache.dial_stdio("b"));
        assert!(cache.get("a").is_none(), "versions untouched");
    }

    #[test]
    fn version_mismatch_messages_are_recognised() {
        assert!(is_version_mismatch(
            "client version 1.53 is too new. Maximum supported API version is 1.41"
        ));
        assert!(is_version_mismatch(
            "client version 1.11 is too old. Minimum supported API version is 1.12"
        ));
        assert!(!is_version_mismatch("No such container: x"));
    }
}
