//! Text from containers and hosts made safe to show and to paste: terminal
//! escape sequences removed and secret-looking values masked.
//!
//! One masking function ([`mask`]) serves every output (triage text, JSON and
//! Markdown, watch lines, webhooks and `--exec`, the TUI's health log), so a
//! form it learns is masked everywhere. It errs towards masking: a log line
//! that loses a value is cheaper than a credential pasted into a channel.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a masked value is replaced with.
pub const MASK: &str = "••••••";

/// Parts of a key's name (upper case, `-` and `.` read as `_`) that mark it
/// as holding a secret.
const SECRET_MARKERS: [&str; 11] = [
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE",
    "CREDENTIAL",
    "AUTH",
];

/// Whether a key (env var, header, JSON field, flag) looks like it holds a
/// secret. `value` separates `PWD=/srv/app` (a directory) from `pwd=hunter2`.
pub fn is_secret_key(name: &str, value: &str) -> bool {
    let upper: String = name
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    let upper = upper.trim_start_matches('_');
    if upper == "PWD" || upper == "OLDPWD" || upper.ends_with("_PWD") {
        return !value.starts_with('/');
    }
    // "author" is a name, not a credential.
    let author = upper.contains("AUTHOR") && !upper.contains("AUTHORIZ");
    (SECRET_MARKERS.iter().any(|m| upper.contains(m)) && !author)
        || upper.ends_with("_KEY")
        || upper.ends_with("_PASS")
        || upper == "PASS"
        || upper == "KEY"
}

/// An environment entry `KEY=value`: the whole value is masked when the key
/// looks secret (env values may hold spaces).
pub fn mask_env(entry: &str) -> String {
    match entry.split_once('=') {
        Some((k, v)) if !v.is_empty() && is_secret_key(k, v) => format!("{k}={MASK}"),
        _ => entry.to_owned(),
    }
}

/// A quoted or bare value; never spans a line, never starts with `=`
/// (`a == b` is a comparison, not an assignment).
const VALUE: &str = r#"(?P<value>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;&"'}\]=][^\s,;&"'}\]]*)"#;

/// `-----BEGIN … PRIVATE KEY-----` up to its END line, or to the end.
static PEM: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?s)(?P<keep>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----).*?(?P<end>-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
    )
});

/// `Authorization: Bearer …`: the scheme is kept, the credential masked.
static AUTHORIZATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r#"(?i)(?P<keep>\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|digest|negotiate)\s+)?)(?P<value>[^\s"',;]+)"#,
    )
});

/// `scheme://user:password@host`.
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)(?P<keep>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<value>[^\s@/]+)@"));

/// Tokens recognisable by their shape: GitHub, GitLab, Slack, AWS key ids.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\b(?P<keep>gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AKIA|ASIA)(?P<value>[A-Za-z0-9_-]{16,})",
    )
});

/// `--password hunter2` (a flag and its separate argument).
static FLAG: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?P<keep>(?:^|\s)--?(?P<key>[A-Za-z][A-Za-z0-9_-]*)[ \t]+){VALUE}"
    ))
});

/// `KEY=value`, `key: value`, `KEY = 'a b'`, `"key": "value"`, `--key=value`.
static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r#"(?P<keep>["']?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*[:=][ \t]*){VALUE}"#
    ))
});

fn regex(pattern: &str) -> Regex {
    // The patterns are constants; a typo fails every test of this module.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("secret pattern compiles")
}

/// Masks secret-looking values in `text`; everything else, line breaks
/// included, is kept as it was.
pub fn mask(text: &str) -> String {
    let text = PEM.replace_all(text, |c: &Captures| {
        format!("{}{MASK}{}", &c["keep"], &c["end"])
    });
    let text = replace(&AUTHORIZATION, text, |_| true);
    let text = replace(&URL_PASSWORD, text, |_| true);
    let text = replace(&TOKEN, text, |_| true);
    let text = replace(&FLAG, text, |c| {
        secret_pair(c) && !c["value"].starts_with('-')
    });
    let text = replace(&PAIR, text, secret_pair);
    text.into_owned()
}

fn secret_pair(c: &Captures) -> bool {
    let key = &c["key"];
    let value = c["value"].trim_matches(['"', '\'']);
    // Masked already (by the Authorization pass), or nothing to hide.
    !key.to_ascii_lowercase().ends_with("authorization")
        && !value.is_empty()
        && value != MASK
        && is_secret_key(key, value)
}

/// Replaces each match's `value` (keeping its quotes) where `secret` says so.
fn replace<'t>(re: &Regex, text: Cow<'t, str>, secret: impl Fn(&Captures) -> bool) -> Cow<'t, str> {
    let out = re.replace_all(&text, |c: &Captures| {
        let keep = &c["keep"];
        let value = &c["value"];
        let whole = &c[0];
        if !secret(c) {
            return whole.to_owned();
        }
        let tail = &whole[keep.len() + value.len()..];
        let quote = match value.chars().next() {
            Some(q @ ('"' | '\'')) if value.len() > 1 && value.ends_with(q) => q.to_string(),
            _ => String::new(),
        };
        format!("{keep}{quote}{MASK}{quote}{tail}")
    });
    match out {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Untrusted text made safe to print and paste: each line stripped of
/// terminal escape sequences and control characters, then masked.
pub fn clean(text: &str) -> String {
    let plain: Vec<String> = text
        .split('\n')
        .map(|line| crate::logs::plain(line.as_bytes()))
        .collect();
    mask(&plain.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_forms_are_masked_and_the_rest_is_kept() {
        let cases: &[(&str, &str)] = &[
            ("DB_PASSWORD=hunter2", "DB_PASSWORD=••••••"),
            (
                "connect API_TOKEN=abc user=bob x=1",
                "connect API_TOKEN=•••••• user=bob x=1",
            ),
            ("PASSWORD=", "PASSWORD="),
            ("a == b", "a == b"),
            (
                "SECRET_KEY='quoted value nine' next",
                "SECRET_KEY='••••••' next",
            ),
            (
                r#"SECRET_KEY="quoted \"value\"" x"#,
                r#"SECRET_KEY="••••••" x"#,
            ),
            ("password: x", "password: ••••••"),
            ("PASSWORD = x", "PASSWORD = ••••••"),
            ("--password x --user bob", "--password •••••• --user bob"),
            ("--password=x", "--password=••••••"),
            ("mysql --password --verbose", "mysql --password --verbose"),
            ("x-api-key: k3y-value", "x-api-key: ••••••"),
            (
                "Authorization: Bearer abc.def.ghi",
                "Authorization: Bearer ••••••",
            ),
            (
                "authorization=Basic dXNlcjpwYXNz",
                "authorization=Basic ••••••",
            ),
            (
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 used",
                "token ghp_•••••• used",
            ),
            ("key id AKIAIOSFODNN7EXAMPLE.", "key id AKIA••••••."),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nafter",
                "-----BEGIN RSA PRIVATE KEY-----••••••-----END RSA PRIVATE KEY-----\nafter",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNz",
                "-----BEGIN OPENSSH PRIVATE KEY-----••••••",
            ),
            (
                "dsn postgres://user:pass@db:5432/app",
                "dsn postgres://user:••••••@db:5432/app",
            ),
            (
                r#"{"password": "p4ss", "user": "bob"}"#,
                r#"{"password": "••••••", "user": "bob"}"#,
            ),
            (
                "Server=db;uid=sa;pwd=s3cret;",
                "Server=db;uid=sa;pwd=••••••;",
            ),
            ("PWD=/srv/app", "PWD=/srv/app"),
            (
                "pass=hunter2 DB_PASS=x passive=1",
                "pass=•••••• DB_PASS=•••••• passive=1",
            ),
            ("author: Jane", "author: Jane"),
            (
                "see http://example.com:8080/x",
                "see http://example.com:8080/x",
            ),
            ("time 12:00:01 level=info", "time 12:00:01 level=info"),
            // A value at the end of a line keeps the line break.
            (
                "TOKEN=abc\nnext line\nPASSWORD=x\n",
                "TOKEN=••••••\nnext line\nPASSWORD=••••••\n",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&mask(input), want, "masking {input:?}");
        }
    }

    #[test]
    fn env_values_are_masked_whole() {
        assert_eq!(mask_env("DB_PASSWORD=hunter two"), "DB_PASSWORD=••••••");
        assert_eq!(mask_env("github_token=abc"), "github_token=••••••");
        assert_eq!(
            mask_env("AWS_SECRET_ACCESS_KEY=x"),
            "AWS_SECRET_ACCESS_KEY=••••••"
        );
        assert_eq!(mask_env("SSH_KEY=x"), "SSH_KEY=••••••");
        assert_eq!(mask_env("PATH=/usr/bin"), "PATH=/usr/bin");
        assert_eq!(mask_env("KEYBOARD=us"), "KEYBOARD=us");
        assert_eq!(mask_env("API_KEY="), "API_KEY=", "nothing to hide");
    }

    #[test]
    fn clean_strips_escapes_per_line_and_masks() {
        assert_eq!(
            clean("\x1b]0;TITLE\x07\x1b[2Jok TOKEN=x\n\x1b]52;c;ZXZpbA==\x07second"),
            "ok TOKEN=••••••\nsecond"
        );
    }
}
