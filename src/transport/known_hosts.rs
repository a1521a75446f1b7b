//! Host key verification, as strict as OpenSSH: unknown keys are refused unless
//! explicitly trusted; a key that differs from what is recorded for the host
//! (including one of a type the host never had) and revoked keys are always
//! refused.
//!
//! known_hosts is parsed here rather than by russh so that a recorded key we
//! cannot parse still counts as recorded, and so that markers, wildcards,
//! negations and hashed names follow OpenSSH.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};

/// The outcome of looking a presented host key up in the known_hosts files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// Nothing at all is recorded for this host.
    Unknown,
    /// Keys are recorded for this host, but not this one: a different key of
    /// the same type, or only keys of other types. OpenSSH calls both
    /// "REMOTE HOST IDENTIFICATION HAS CHANGED": possible man-in-the-middle.
    Changed {
        file: PathBuf,
        line: usize,
        /// Type of the recorded key at `file:line` (`ssh-rsa`, …).
        recorded_type: String,
    },
    /// The key is listed as `@revoked`.
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

/// `SHA256:…` as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

/// One known_hosts line that applies to the host being checked.
#[derive(Debug)]
struct Entry {
    file: PathBuf,
    /// 1-based physical line, as an editor and `ssh-keygen -R` count.
    line: usize,
    marker: Marker,
    key_type: String,
    /// `None` when the key does not parse (e.g. a type russh lacks): still
    /// recorded, so the host is not "unknown".
    key: Option<PublicKey>,
}

/// The fingerprint of the key recorded for `name` at `file:line` (to show
/// old and new side by side when a key changed); `None` if it cannot be read.
pub fn recorded_fingerprint(name: &str, file: &Path, line: usize) -> Option<String> {
    entries(name, &[file.to_path_buf()])
        .into_iter()
        .find(|e| e.line == line)
        .and_then(|e| e.key)
        .map(|k| fingerprint(&k))
}

/// Every entry for `name` (see `SshEndpoint::known_hosts_name`) in `files`, in order.
/// Unreadable or missing files count as empty, like OpenSSH.
fn entries(name: &str, files: &[PathBuf]) -> Vec<Entry> {
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (i, raw) in text.lines().enumerate() {
            if let Some((marker, key_type, key)) = parse_line(raw, name) {
                out.push(Entry {
                    file: file.clone(),
                    line: i + 1,
                    marker,
                    key_type,
                    key,
                });
            }
        }
    }
    out
}

/// `[@marker] hosts keytype base64 [comment]`, if `hosts` matches `name`.
fn parse_line(raw: &str, name: &str) -> Option<(Marker, String, Option<PublicKey>)> {
    let mut words = raw.split_ascii_whitespace();
    let mut hosts = words.next()?;
    if hosts.starts_with('#') {
        return None;
    }
    let marker = match hosts {
        "@cert-authority" => Marker::CertAuthority,
        "@revoked" => Marker::Revoked,
        // An unknown marker makes the line invalid for OpenSSH too.
        m if m.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        hosts = words.next()?;
    }
    if !hosts_match(hosts, name) {
        return None;
    }
    let key_type = words.next()?;
    // SSH protocol 1 lines (`bits exponent modulus`) are not keys of this protocol.
    if key_type.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let key = words
        .next()
        .and_then(|b64| PublicKey::from_openssh(&format!("{key_type} {b64}")).ok());
    Some((marker, key_type.to_owned(), key))
}

/// OpenSSH's host list match: a hashed name (`|1|salt|hash`), or
/// comma-separated patterns with `*`/`?` where any `!negated` match vetoes.
/// Case-insensitive, as OpenSSH lowercases both sides.
fn hosts_match(hosts: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if let Some(hashed) = hosts.strip_prefix("|1|") {
        return hashed_match(hashed, &name);
    }
    let mut positive = false;
    for pattern in hosts.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if crate::glob::bytes(pattern.to_ascii_lowercase().as_bytes(), name.as_bytes()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// `salt|hash`, both base64: HMAC-SHA1(salt, name) == hash.
fn hashed_match(salt_hash: &str, name: &str) -> bool {
    let Some((salt, hash)) = salt_hash.split_once('|') else {
        return false;
    };
    let b64 = data_encoding::BASE64;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt.as_bytes()), b64.decode(hash.as_bytes())) else {
        return false;
    };
    let Ok(mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// Checks `key` for the host recorded as `name` (see `SshEndpoint::known_hosts_name`)
/// against every file, the way OpenSSH does.
pub fn verify(name: &str, key: &PublicKey, files: &[PathBuf]) -> Verdict {
    let entries = entries(name, files);
    if let Some(e) = entries
        .iter()
        .find(|e| e.marker == Marker::Revoked && e.key.as_ref().is_some_and(|k| same_key(k, key)))
    {
        return Verdict::Revoked {
            file: e.file.clone(),
            line: e.line,
        };
    }
    let plain: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.marker == Marker::None)
        .collect();
    if plain
        .iter()
        .any(|e| e.key.as_ref().is_some_and(|k| same_key(k, key)))
    {
        return Verdict::Known;
    }
    // Name the recorded key of the same type if there is one, else the first.
    let presented = key.algorithm();
    let offending = plain
        .iter()
        .find(|e| e.key_type == presented.as_str())
        .or_else(|| plain.first());
    match offending {
        Some(e) => Verdict::Changed {
            file: e.file.clone(),
            line: e.line,
            recorded_type: e.key_type.clone(),
        },
        None => Verdict::Unknown,
    }
}

/// Key algorithms already recorded for this host, so negotiation can ask for
/// them first (as OpenSSH does) instead of getting a type we never saw.
pub fn known_algorithms(name: &str, files: &[PathBuf]) -> Vec<Algorithm> {
    let mut algs = Vec::new();
    for e in entries(name, files) {
        if e.marker != Marker::None {
            continue;
        }
        // The type word, so a key that fails to parse still steers negotiation.
        if let Ok(alg) = Algorithm::new(&e.key_type)
            && !algs.contains(&alg)
        {
            algs.push(alg);
        }
    }
    algs
}

/// Records a newly trusted key for `name` in `file` (creating it and its directory).
pub fn record(name: &str, key: &PublicKey, file: &Path) -> std::io::Result<()> {
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(file)?;
    // Start on a fresh line if the file does not end with one.
    let mut last = [0u8; 1];
    let needs_newline = f.seek(SeekFrom::End(-1)).is_ok() && {
        f.read_exact(&mut last)?;
        last[0] != b'\n'
    };
    let mut key = key.clone();
    key.set_comment("");
    let text = key.to_openssh().map_err(std::io::Error::other)?;
    let line = format!(
        "{}{name} {}\n",
        if needs_newline { "\n" } else { "" },
        text.trim_end()
    );
    f.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINKfCgj96y2zLug3dRHmmAyCOPbbJQ79O6foIcTHtPla";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDRYZ0gjOsIfdrj/qhWVJb3p4D0BIEj0LhH3UV2+eQqOnDnBpoS3zFCX+cRYZ/6d9b1am6kbfJTeCGr7hQT5Sv+3j2di5+6+zYerjfnmsF6aeRJWFssaWqp3rtitD7QoQ3qUC3EJWxwXNEOocJGPtBpA4mwuxcRqhhN97eXI08/TQ==";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).expect("test key")
    }

    fn file_with(lines: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("tempfile");
        f.write_all(lines.as_bytes()).expect("write");
        f
    }

    fn changed(f: &tempfile::NamedTempFile, line: usize, recorded_type: &str) -> Verdict {
        Verdict::Changed {
            file: f.path().to_path_buf(),
            line,
            recorded_type: recorded_type.to_owned(),
        }
    }

    #[test]
    fn known_unknown_and_changed() {
        let f = file_with(&format!("# comment\nweb-1 {KEY_A}\n[web-2]:2222 {KEY_A}\n"));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(verify("web-1", &key(KEY_A), &files), Verdict::Known);
        assert_eq!(verify("[web-2]:2222", &key(KEY_A), &files), Verdict::Known);
        // Same name on another port is a different host for OpenSSH.
        assert_eq!(verify("web-2", &key(KEY_A), &files), Verdict::Unknown);
        assert_eq!(verify("web-3", &key(KEY_A), &files), Verdict::Unknown);
        assert_eq!(
            verify("web-1", &key(KEY_B), &files),
            changed(&f, 2, "ssh-ed25519")
        );
    }

    #[test]
    fn only_another_key_type_recorded_is_changed_not_unknown() {
        // The key-type swap: an attacker offering ed25519 for a host we only
        // know by its RSA key must not look like a new host.
        let f = file_with(&format!("web-1 {RSA}\n"));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(
            verify("web-1", &key(KEY_A), &files),
            changed(&f, 1, "ssh-rsa")
        );
        assert_eq!(
            known_algorithms("web-1", &files),
            vec![Algorithm::Rsa { hash: None }]
        );
        // A type we cannot parse still counts as recorded.
        let f = file_with("\n\nweb-1 ssh-frobnicate AAAAnotakey\n");
        let files = vec![f.path().to_path_buf()];
        assert_eq!(
            verify("web-1", &key(KEY_A), &files),
            changed(&f, 3, "ssh-frobnicate")
        );
    }

    #[test]
    fn same_type_entry_is_named_over_other_types() {
        let f = file_with(&format!("web-1 {RSA}\nweb-1 {KEY_A}\n"));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(verify("web-1", &key(KEY_A), &files), Verdict::Known);
        assert_eq!(
            verify("web-1", &key(KEY_B), &files),
            changed(&f, 2, "ssh-ed25519")
        );
        assert_eq!(
            known_algorithms("web-1", &files),
            vec![Algorithm::Rsa { hash: None }, Algorithm::Ed25519]
        );
    }

    #[test]
    fn patterns_negation_tabs_and_case() {
        let f = file_with(&format!(
            "*.prod,!db.prod\t{KEY_A}\nWEB-?.lab {KEY_B} comment here\n"
        ));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(verify("web.prod", &key(KEY_A), &files), Verdict::Known);
        assert_eq!(verify("db.prod", &key(KEY_A), &files), Verdict::Unknown);
        assert_eq!(verify("web-1.lab", &key(KEY_B), &files), Verdict::Known);
        assert_eq!(verify("web-10.lab", &key(KEY_B), &files), Verdict::Unknown);
    }

    #[test]
    fn markers() {
        let f = file_with(&format!(
            "@revoked * {KEY_B}\n@cert-authority *.lab {KEY_A}\n@bogus web {KEY_A}\n"
        ));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(
            verify("web", &key(KEY_B), &files),
            Verdict::Revoked {
                file: f.path().to_path_buf(),
                line: 1
            }
        );
        // A CA line is not a host key; an invalid marker line is ignored.
        assert_eq!(verify("x.lab", &key(KEY_A), &files), Verdict::Unknown);
        assert_eq!(verify("web", &key(KEY_A), &files), Verdict::Unknown);
    }

    #[test]
    fn hashed_entries_match() {
        // Salted SHA1 hash of "example.com" (from russh's own test vectors).
        let f = file_with(&format!(
            "|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= {KEY_A}\n"
        ));
        let files = vec![f.path().to_path_buf()];
        assert_eq!(verify("example.com", &key(KEY_A), &files), Verdict::Known);
        assert!(matches!(
            verify("example.com", &key(KEY_B), &files),
            Verdict::Changed { .. }
        ));
        assert_eq!(verify("example.org", &key(KEY_B), &files), Verdict::Unknown);
    }

    #[test]
    fn later_files_are_consulted_and_missing_files_ignored() {
        let f = file_with(&format!("web-1 {KEY_A}\n"));
        let files = vec![
            PathBuf::from("/nonexistent/known_hosts"),
            f.path().to_path_buf(),
        ];
        assert_eq!(verify("web-1", &key(KEY_A), &files), Verdict::Known);
    }

    #[test]
    fn record_then_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub").join("known_hosts");
        record("[10.1.2.3]:2200", &key(KEY_B), &file).expect("record");
        let files = vec![file.clone()];
        assert_eq!(
            verify("[10.1.2.3]:2200", &key(KEY_B), &files),
            Verdict::Known
        );
        let text = std::fs::read_to_string(&file).expect("read");
        assert_eq!(text, format!("[10.1.2.3]:2200 {KEY_B}\n"));
        // Appends on a new line even when the file lacks a final newline.
        std::fs::write(&file, format!("web {KEY_A}")).expect("write");
        record("alias", &key(KEY_B), &file).expect("record");
        let text = std::fs::read_to_string(&file).expect("read");
        assert_eq!(text, format!("web {KEY_A}\nalias {KEY_B}\n"));
    }
}
