//! Host key verification, as strict as OpenSSH: unknown keys are refused unless
//! explicitly trusted, changed keys are always refused.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::{HashAlg, PublicKey};

/// The outcome of looking a presented host key up in the known_hosts files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    Unknown,
    /// A different key of the same type is recorded: possible man-in-the-middle.
    Changed {
        file: PathBuf,
        line: usize,
    },
}

/// The name OpenSSH records: `host` on port 22, `[host]:port` otherwise.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:…` as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Checks `key` for `host:port` against every file (hashed entries included).
/// Unreadable or missing files count as empty, like OpenSSH.
pub fn verify(host: &str, port: u16, key: &PublicKey, files: &[PathBuf]) -> Verdict {
    let mut changed = None;
    for file in files {
        let Ok(entries) = russh::keys::known_hosts::known_host_keys_path(host, port, file) else {
            continue;
        };
        for (line, recorded) in entries {
            if &recorded == key {
                return Verdict::Known;
            }
            if recorded.algorithm() == key.algorithm() && changed.is_none() {
                changed = Some(Verdict::Changed {
                    file: file.clone(),
                    line: physical_line(file, line),
                });
            }
        }
    }
    changed.unwrap_or(Verdict::Unknown)
}

/// russh numbers entries without counting `#` comment lines; map back to the
/// line number an editor (and `ssh-keygen -R`) shows.
fn physical_line(file: &Path, entry: usize) -> usize {
    let Ok(text) = std::fs::read_to_string(file) else {
        return entry;
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#'))
        .nth(entry.saturating_sub(1))
        .map_or(entry, |(i, _)| i + 1)
}

/// Key algorithms already recorded for this host, so negotiation can prefer
/// them (as OpenSSH does) instead of tripping over a key type we never saw.
pub fn known_algorithms(
    host: &str,
    port: u16,
    files: &[PathBuf],
) -> Vec<russh::keys::ssh_key::Algorithm> {
    let mut algs = Vec::new();
    for file in files {
        if let Ok(entries) = russh::keys::known_hosts::known_host_keys_path(host, port, file) {
            for (_, key) in entries {
                if !algs.contains(&key.algorithm()) {
                    algs.push(key.algorithm());
                }
            }
        }
    }
    algs
}

/// Records a newly trusted key in `file` (creating it and its directory).
pub fn record(host: &str, port: u16, key: &PublicKey, file: &Path) -> std::io::Result<()> {
    russh::keys::known_hosts::learn_known_hosts_path(host, port, key, file)
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINKfCgj96y2zLug3dRHmmAyCOPbbJQ79O6foIcTHtPla";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).expect("test key")
    }

    fn file_with(lines: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("tempfile");
        f.write_all(lines.as_bytes()).expect("write");
        f
    }

    #[test]
    fn pattern_uses_brackets_for_non_default_ports() {
        assert_eq!(host_pattern("10.0.0.1", 22), "10.0.0.1");
        assert_eq!(host_pattern("10.0.0.1", 2222), "[10.0.0.1]:2222");
    }

    #[test]
    fn known_unknown_and_changed() {
        let f = file_with(&format!("# comment\nweb-1 {KEY_A}\n[web-2]:2222 {KEY_A}\n"));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(verify("web-1", 22, &key(KEY_A), &files), Verdict::Known);
        assert_eq!(verify("web-2", 2222, &key(KEY_A), &files), Verdict::Known);
        // Same name on another port is a different host for OpenSSH.
        assert_eq!(verify("web-2", 22, &key(KEY_A), &files), Verdict::Unknown);
        assert_eq!(verify("web-3", 22, &key(KEY_A), &files), Verdict::Unknown);
        assert_eq!(
            verify("web-1", 22, &key(KEY_B), &files),
            Verdict::Changed {
                file: f.path().to_path_buf(),
                line: 2
            }
        );
    }

    #[test]
    fn hashed_entries_match() {
        // Salted SHA1 hash of "example.com" (from russh's own test vectors).
        let f = file_with(&format!(
            "|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= {KEY_A}\n"
        ));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(
            verify("example.com", 22, &key(KEY_A), &files),
            Verdict::Known
        );
        assert!(matches!(
            verify("example.com", 22, &key(KEY_B), &files),
            Verdict::Changed { .. }
        ));
    }

    #[test]
    fn later_files_are_consulted_and_missing_files_ignored() {
        let f = file_with(&format!("web-1 {KEY_A}\n"));
        let files = vec![
            PathBuf::from("/nonexistent/known_hosts"),
            f.path().to_path_buf(),
        ];
        assert_eq!(verify("web-1", 22, &key(KEY_A), &files), Verdict::Known);
    }

    #[test]
    fn record_then_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub").join("known_hosts");
        record("10.1.2.3", 2200, &key(KEY_B), &file).expect("record");
        let files = vec![file.clone()];
        assert_eq!(
            verify("10.1.2.3", 2200, &key(KEY_B), &files),
            Verdict::Known
        );
        let text = std::fs::read_to_string(file).expect("read");
        assert!(
            text.trim_start()
                .starts_with("[10.1.2.3]:2200 ssh-ed25519 "),
            "{text}"
        );
    }
}
