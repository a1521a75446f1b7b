//! Resolves a host the way `ssh` would, from the OpenSSH client config as
//! parsed by `ssh2-config`. Directives ssh2-config parses but does not model
//! (StrictHostKeyChecking, UserKnownHostsFile, GlobalKnownHostsFile,
//! ProxyCommand, HostKeyAlias) are read from its `unsupported_fields` map.
//! Directives that would change where or how `ssh` connects but that flotilla
//! does not honour are refused rather than silently ignored.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{Host, HostParams, ParseRule, SshConfig};

use super::{ConfigError, Env, SshEndpoint, StrictHostKeyChecking};

const DEFAULT_PORT: u16 = 22;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_IDENTITIES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];
/// Bounds ProxyJump recursion even if loop detection were bypassed.
const MAX_JUMP_DEPTH: usize = 16;

// Keys of `HostParams::unsupported_fields` (ssh2-config lowercases field names).
const STRICT_HOST_KEY_CHECKING: &str = "stricthostkeychecking";
const USER_KNOWN_HOSTS_FILE: &str = "userknownhostsfile";
const GLOBAL_KNOWN_HOSTS_FILE: &str = "globalknownhostsfile";
const PROXY_COMMAND: &str = "proxycommand";
const HOST_KEY_ALIAS: &str = "hostkeyalias";
const LOCAL_COMMAND: &str = "localcommand";
const PERMIT_LOCAL_COMMAND: &str = "permitlocalcommand";

/// A directive flotilla does not honour although it changes where or how
/// `ssh` connects: refused unless its value is one of `off`.
struct Unhonoured {
    /// Lowercase name (see [`directive`]).
    key: &'static str,
    /// As written in ssh_config, for messages.
    name: &'static str,
    /// Values that leave it inactive (case-insensitive).
    off: &'static [&'static str],
    why: &'static str,
}

const UNHONOURED: &[Unhonoured] = &[
    Unhonoured {
        key: "remotecommand",
        name: "RemoteCommand",
        off: &["none"],
        why: "flotilla opens its own channels and would not run it",
    },
    Unhonoured {
        key: "proxyusefdpass",
        name: "ProxyUseFdpass",
        off: &["no", "false"],
        why: "flotilla speaks SSH over the ProxyCommand's stdin/stdout and cannot take a passed socket",
    },
    Unhonoured {
        key: "canonicalizehostname",
        name: "CanonicalizeHostname",
        off: &["no", "false", "none"],
        why: "flotilla does not canonicalize host names, so it could reach a different host than ssh",
    },
    Unhonoured {
        key: "tunnel",
        name: "Tunnel",
        off: &["no", "false"],
        why: "flotilla does not set up tun devices",
    },
    Unhonoured {
        key: "addressfamily",
        name: "AddressFamily",
        off: &["any"],
        why: "flotilla would use whichever address family resolves",
    },
    Unhonoured {
        key: "knownhostscommand",
        name: "KnownHostsCommand",
        off: &["none"],
        why: "flotilla would not run it, so host keys would be checked against other keys than ssh uses",
    },
    Unhonoured {
        key: "revokedhostkeys",
        name: "RevokedHostKeys",
        off: &["none"],
        why: "flotilla would not consult it and could accept a revoked host key",
    },
];

/// Whether a block's params set a directive ssh2-config models.
type IsSet = fn(&HostParams) -> bool;

/// How a host is reached: by the first of ProxyJump / ProxyCommand set, as in OpenSSH.
enum Proxy {
    Direct,
    Jump(Vec<String>),
    /// Unexpanded.
    Command(String),
}

/// A parsed ssh_config (possibly none) that hosts are resolved against.
#[derive(Debug)]
pub(crate) struct SshResolver {
    config: SshConfig,
    /// The file it came from, for messages; `None` when no ssh_config is read.
    file: Option<PathBuf>,
}

/// One ProxyJump hop as written: `[ssh://][user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hop {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl SshResolver {
    /// No ssh_config: every host gets the built-in defaults.
    pub(crate) fn empty() -> Self {
        Self {
            config: SshConfig::default(),
            file: None,
        }
    }

    /// Parses `path` (and its `Include`s) with ssh2-config.
    pub(crate) fn load(path: &Path, env: &Env) -> Result<Self, ConfigError> {
        let file = File::open(path).map_err(|cause| ConfigError::Io {
            file: path.to_path_buf(),
            cause,
        })?;
        // Unknown fields are tolerated because ssh2-config lags OpenSSH's option
        // list and `ssh` already accepts this file; unsupported ones are kept so
        // we can read the host-key settings ssh2-config does not model.
        let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
        let config = SshConfig::default()
            .home_dir(&env.home)
            .parse(&mut BufReader::new(file), rules)
            .map_err(|e| ConfigError::SshConfig {
                file: path.to_path_buf(),
                message: format!("cannot parse: {e}"),
            })?;
        // ssh2-config does not know `Match`, so the directives below one would
        // silently land in the preceding `Host` block; refuse rather than
        // connect somewhere the user did not configure.
        let has_match = config.get_hosts().iter().any(|host| {
            host.params
                .ignored_fields
                .keys()
                .any(|k| k.eq_ignore_ascii_case("match"))
        });
        if has_match {
            return Err(ConfigError::SshConfig {
                file: path.to_path_buf(),
                message: "`Match` blocks are not supported (the ssh_config parser flotilla uses \
                          does not implement them); express them as `Host` patterns, or point \
                          `ssh_config` in the flotilla config at a file without `Match`"
                    .to_string(),
            });
        }
        Ok(Self {
            config,
            file: Some(path.to_path_buf()),
        })
    }

    /// Resolves a configured host: the endpoint itself plus its jump hosts,
    /// outermost first. `user`/`port` come from the flotilla config and win.
    pub(crate) fn resolve(
        &self,
        name: &str,
        alias: &str,
        user: Option<&str>,
        port: Option<u16>,
        env: &Env,
    ) -> Result<(SshEndpoint, Vec<SshEndpoint>), ConfigError> {
        let wrap = |message: String| ConfigError::SshConfig {
            file: self.file.clone().unwrap_or_default(),
            message: format!("host {name:?} (address {alias:?}): {message}"),
        };
        let (endpoint, proxy_jump) = self.endpoint(alias, user, port, env).map_err(wrap)?;
        let mut chain = vec![alias.to_string()];
        let jumps = self.jumps(proxy_jump, &mut chain, env).map_err(wrap)?;
        Ok((endpoint, jumps))
    }

    /// One endpoint from ssh_config, plus its raw ProxyJump (resolved by the caller,
    /// since only some hops' own ProxyJump applies). A ProxyCommand is expanded
    /// into the endpoint.
    fn endpoint(
        &self,
        alias: &str,
        user: Option<&str>,
        port: Option<u16>,
        env: &Env,
    ) -> Result<(SshEndpoint, Option<Vec<String>>), String> {
        let params = self.config.query(alias);
        self.refuse_unhonoured(alias, &params)?;
        let hostname = match &params.host_name {
            Some(h) => expand_hostname(h, alias)?,
            None => alias.to_string(),
        };
        let user = user
            .map(str::to_string)
            .or_else(|| params.user.clone())
            .unwrap_or_else(|| env.local_user().to_string());
        let port = port.or(params.port).unwrap_or(DEFAULT_PORT);
        let host_key_alias = unsupported(&params, HOST_KEY_ALIAS)
            .and_then(<[_]>::first)
            .cloned();
        let tokens = Tokens {
            alias,
            hostname: &hostname,
            port,
            remote_user: &user,
            host_key_alias: host_key_alias.as_deref(),
            env,
        };

        let identity_files = match &params.identity_file {
            Some(files) => files
                .iter()
                .map(|f| tokens.expand_path(f, "IdentityFile"))
                .collect::<Result<Vec<_>, _>>()?,
            None => DEFAULT_IDENTITIES
                .iter()
                .map(|f| env.home.join(".ssh").join(f))
                .collect(),
        };
        let known_hosts_files = known_hosts(&params, &tokens)?;
        let strict_host_key_checking = strict_host_key_checking(&params)?;
        // 0 would fail every connect; OpenSSH treats it as "no explicit timeout".
        let connect_timeout = params
            .connect_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let (jump, proxy_command) = match self.proxy(alias)? {
            Proxy::Direct => (None, None),
            Proxy::Jump(spec) => (Some(spec), None),
            Proxy::Command(raw) => (None, Some(tokens.expand_command(&raw)?)),
        };

        let endpoint = SshEndpoint {
            alias: alias.to_string(),
            hostname,
            port,
            user,
            identity_files,
            known_hosts_files,
            strict_host_key_checking,
            connect_timeout,
            proxy_command,
            host_key_alias,
        };
        Ok((endpoint, jump))
    }

    /// ProxyJump or ProxyCommand, whichever a matching block sets first
    /// (OpenSSH ignores the other one); `none` means a direct connection.
    fn proxy(&self, alias: &str) -> Result<Proxy, String> {
        for host in self.config.intersecting_hosts(alias) {
            let command = host.params.unsupported_fields.get(PROXY_COMMAND);
            match (&host.params.proxy_jump, command) {
                (None, None) => continue,
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "ProxyJump and ProxyCommand are both set {}; ssh uses whichever line \
                         comes first, which flotilla cannot tell: keep only one",
                        self.place(host, "ProxyCommand")
                    ));
                }
                (Some(jump), None) => return Ok(Proxy::Jump(jump.clone())),
                (None, Some(words)) => {
                    // ssh2-config splits the command into words (quotes kept).
                    let command = words.join(" ");
                    return Ok(if command.trim().eq_ignore_ascii_case("none") {
                        Proxy::Direct
                    } else {
                        Proxy::Command(command)
                    });
                }
            }
        }
        Ok(Proxy::Direct)
    }

    /// Refuses directives that would make `ssh` connect elsewhere or otherwise
    /// than flotilla will (see [`UNHONOURED`]).
    fn refuse_unhonoured(&self, alias: &str, params: &HostParams) -> Result<(), String> {
        // `shown` is the option as the message quotes it, `name` as written.
        let refuse = |name: &str, shown: &str, key: &str, why: &str| {
            let place = self
                .first_setting(alias, |p| directive(p, key).is_some())
                .map(|h| self.place(h, name))
                .unwrap_or_default();
            Err(format!(
                "ssh_config option `{shown}` {place} is not supported: {why}; remove it for this \
                 host (or point `ssh_config` in the flotilla config at a file without it)"
            ))
        };
        for u in UNHONOURED {
            if let Some(value) = directive(params, u.key).and_then(<[_]>::first)
                && !u.off.iter().any(|off| value.eq_ignore_ascii_case(off))
            {
                return refuse(u.name, &format!("{} {value}", u.name), u.key, u.why);
            }
        }
        let permit_local = unsupported(params, PERMIT_LOCAL_COMMAND)
            .and_then(<[_]>::first)
            .is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true"));
        if permit_local && unsupported(params, LOCAL_COMMAND).is_some() {
            return refuse(
                "LocalCommand",
                "LocalCommand` with `PermitLocalCommand yes",
                LOCAL_COMMAND,
                "flotilla would not run it",
            );
        }
        // Modelled by ssh2-config, so read from its fields.
        let binds: [(&str, IsSet); 2] = [
            ("BindAddress", |p| p.bind_address.is_some()),
            ("BindInterface", |p| p.bind_interface.is_some()),
        ];
        for (name, set) in binds {
            if set(params) {
                let place = self
                    .first_setting(alias, set)
                    .map(|h| self.place(h, name))
                    .unwrap_or_default();
                return Err(format!(
                    "ssh_config option `{name}` {place} is not supported: flotilla does not bind \
                     the local end of its connections; remove it for this host"
                ));
            }
        }
        Ok(())
    }

    /// The first block matching `alias` whose params satisfy `sets` (where a
    /// first-obtained value came from).
    fn first_setting(&self, alias: &str, sets: impl Fn(&HostParams) -> bool) -> Option<&Host> {
        self.config
            .intersecting_hosts(alias)
            .find(|h| sets(&h.params))
    }

    /// "under `Host a b` (file:line)" for messages; the line only when the
    /// option is found in that block of the main file (not in an Include).
    fn place(&self, host: &Host, option: &str) -> String {
        let patterns: Vec<String> = host
            .pattern
            .iter()
            .map(|c| {
                if c.negated {
                    format!("!{}", c.pattern)
                } else {
                    c.pattern.clone()
                }
            })
            .collect();
        let mut text = format!("under `Host {}`", patterns.join(" "));
        if let Some(file) = &self.file
            && let Some(line) = locate(file, &patterns, option)
        {
            text.push_str(&format!(" ({}:{line})", file.display()));
        }
        text
    }

    /// Jump hosts for a ProxyJump value, outermost first. Like `ssh -J a,b`,
    /// only the first hop's own ProxyJump applies (ssh reaches it with a plain
    /// `ssh -W`); later hops are reached through the earlier ones.
    fn jumps(
        &self,
        proxy_jump: Option<Vec<String>>,
        chain: &mut Vec<String>,
        env: &Env,
    ) -> Result<Vec<SshEndpoint>, String> {
        let Some(spec) = proxy_jump else {
            return Ok(Vec::new());
        };
        if let [only] = spec.as_slice()
            && only.trim().eq_ignore_ascii_case("none")
        {
            return Ok(Vec::new());
        }
        let hops = spec
            .iter()
            .map(|s| parse_hop(s))
            .collect::<Result<Vec<_>, _>>()?;
        if hops.is_empty() {
            return Err("ProxyJump lists no usable hop".to_string());
        }
        if chain.len() > MAX_JUMP_DEPTH {
            return Err(format!("ProxyJump nests deeper than {MAX_JUMP_DEPTH} hops"));
        }

        let mut out = Vec::new();
        for (i, hop) in hops.iter().enumerate() {
            if chain.contains(&hop.host) {
                return Err(format!(
                    "ProxyJump loop: {} -> {} (add `ProxyJump none` under `Host {}`)",
                    chain.join(" -> "),
                    hop.host,
                    hop.host
                ));
            }
            let (mut endpoint, own_jump) =
                self.endpoint(&hop.host, hop.user.as_deref(), hop.port, env)?;
            if i > 0 {
                // Reached through the earlier hops, like `ssh -J`.
                endpoint.proxy_command = None;
            }
            if i == 0 {
                chain.push(hop.host.clone());
                let outer = self.jumps(own_jump, chain, env);
                chain.pop();
                out.extend(outer?);
            }
            out.push(endpoint);
        }
        Ok(out)
    }
}

/// Parses `[ssh://][user@]host[:port]`, with `[v6addr]:port` for IPv6.
fn parse_hop(raw: &str) -> Result<Hop, String> {
    let bad = |why: &str| format!("ProxyJump hop {raw:?} {why}");
    let text = raw.trim();
    let text = text.strip_prefix("ssh://").unwrap_or(text);
    let text = text.strip_suffix('/').unwrap_or(text);
    if text.eq_ignore_ascii_case("none") {
        return Err(bad("is `none`, which must be the only ProxyJump value"));
    }
    let (user, host_port) = match text.rsplit_once('@') {
        Some((user, rest)) => {
            if user.is_empty() {
                return Err(bad("has an empty user"));
            }
            (Some(user.to_string()), rest)
        }
        None => (None, text),
    };
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed `[`"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(bad("has text after `]`")),
            },
        }
    } else {
        match host_port.split_once(':') {
            // More than one colon is a bare IPv6 address, which cannot carry a port.
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(bad("has an empty host"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad(&format!("has an invalid port {p:?}"))),
        },
    };
    Ok(Hop {
        user,
        host: host.to_string(),
        port,
    })
}

/// `%h` and `%%` are the tokens OpenSSH allows in HostName.
fn expand_hostname(value: &str, alias: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(alias),
            Some(other) => return Err(format!("unsupported token `%{other}` in HostName")),
            None => return Err("trailing `%` in HostName".to_string()),
        }
    }
    Ok(out)
}

/// Values for the `%` tokens in path directives.
struct Tokens<'a> {
    alias: &'a str,
    hostname: &'a str,
    port: u16,
    remote_user: &'a str,
    host_key_alias: Option<&'a str>,
    env: &'a Env,
}

impl Tokens<'_> {
    /// Expands `~`, then `%` tokens, like OpenSSH does for IdentityFile and
    /// UserKnownHostsFile.
    fn expand(&self, value: &str, directive: &str) -> Result<PathBuf, String> {
        let tilde = self.env.expand_tilde(value);
        let Some(text) = tilde.to_str() else {
            // Not UTF-8, so it cannot hold tokens we would recognise.
            return Ok(tilde);
        };
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('h') => out.push_str(self.hostname),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(self.remote_user),
                Some('d') => out.push_str(&self.env.home.to_string_lossy()),
                Some('u') => out.push_str(self.env.local_user()),
                Some('n') => out.push_str(self.alias),
                Some('k') => out.push_str(self.host_key_alias.unwrap_or(self.alias)),
                Some(other) => {
                    return Err(format!(
                        "unsupported token `%{other}` in {directive} {value:?}"
                    ));
                }
                None => return Err(format!("trailing `%` in {directive} {value:?}")),
            }
        }
        Ok(PathBuf::from(out))
    }

    /// Expands ProxyCommand's `%h %p %r %n %%`. The result runs under `sh -c`,
    /// so substituted names must mean the same to the shell in any position
    /// (bare, in single or double quotes): see [`shell_word`].
    fn expand_command(&self, value: &str) -> Result<String, String> {
        let mut out = String::with_capacity(value.len());
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('h') => out.push_str(shell_word(self.hostname, "host name (%h)")?),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(shell_word(self.remote_user, "user (%r)")?),
                Some('n') => out.push_str(shell_word(self.alias, "host (%n)")?),
                Some(other) => {
                    return Err(format!(
                        "unsupported token `%{other}` in ProxyCommand {value:?} \
                         (flotilla expands %h, %p, %r, %n and %%)"
                    ));
                }
                None => return Err(format!("trailing `%` in ProxyCommand {value:?}")),
            }
        }
        Ok(out)
    }

    fn expand_path(&self, path: &Path, directive: &str) -> Result<PathBuf, String> {
        match path.to_str() {
            Some(text) => self.expand(text, directive),
            None => Ok(path.to_path_buf()),
        }
    }
}

/// `value` if it needs no shell quoting anywhere: letters, digits and
/// `. _ - @ % + :`, not starting with `-`. Quoting instead would break
/// commands that already quote the token (`"%h"`, `'%h'`), and a name with
/// anything else (`;`, `$`, spaces, quotes…) is refused, never interpolated.
fn shell_word<'a>(value: &'a str, what: &str) -> Result<&'a str, String> {
    let safe = !value.is_empty()
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@%+:".contains(c));
    if safe {
        Ok(value)
    } else {
        Err(format!(
            "{what} {value:?} has characters that are not safe to substitute into ProxyCommand \
             (allowed: letters, digits and . _ - @ % + :, not a leading -)"
        ))
    }
}

/// The 1-based line of `option` inside the `Host <patterns>` block of `file`.
fn locate(file: &Path, patterns: &[String], option: &str) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    // Lines before any Host line form ssh2-config's implicit `Host *` block.
    let mut in_block = patterns == ["*"];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let (key, rest) = line
            .split_once(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or((line, ""));
        if key.eq_ignore_ascii_case("host") {
            in_block = rest
                .split_whitespace()
                .eq(patterns.iter().map(String::as_str));
        } else if key.eq_ignore_ascii_case("match") {
            in_block = false;
        } else if in_block && key.eq_ignore_ascii_case(option) {
            return Some(i + 1);
        }
    }
    None
}

/// The first value of an unsupported (unmodelled) directive, if set.
fn unsupported<'a>(params: &'a HostParams, key: &str) -> Option<&'a [String]> {
    params.unsupported_fields.get(key).map(Vec::as_slice)
}

/// Like [`unsupported`], but also finds directives ssh2-config does not know
/// at all (RemoteCommand, Tunnel), which it keeps under their spelling as written.
fn directive<'a>(params: &'a HostParams, key: &str) -> Option<&'a [String]> {
    unsupported(params, key).or_else(|| {
        params
            .ignored_fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_slice())
    })
}

/// User known_hosts files (first one records new keys), then the global ones.
fn known_hosts(params: &HostParams, tokens: &Tokens<'_>) -> Result<Vec<PathBuf>, String> {
    let env = tokens.env;
    let mut files = Vec::new();
    match unsupported(params, USER_KNOWN_HOSTS_FILE) {
        // `none` still needs a place to record keys; /dev/null forgets them as ssh would.
        Some([only]) if only.eq_ignore_ascii_case("none") => files.push(PathBuf::from("/dev/null")),
        Some(values) if !values.is_empty() => {
            for v in values {
                files.push(tokens.expand(v, "UserKnownHostsFile")?);
            }
        }
        _ => files.push(env.home.join(".ssh").join("known_hosts")),
    }
    match unsupported(params, GLOBAL_KNOWN_HOSTS_FILE) {
        Some([only]) if only.eq_ignore_ascii_case("none") => {}
        Some(values) if !values.is_empty() => {
            for v in values {
                files.push(tokens.expand(v, "GlobalKnownHostsFile")?);
            }
        }
        _ => files.push(env.global_known_hosts.clone()),
    }
    let mut unique: Vec<PathBuf> = Vec::with_capacity(files.len());
    for f in files {
        if !unique.contains(&f) {
            unique.push(f);
        }
    }
    Ok(unique)
}

/// flotilla never prompts and never accepts a changed key, so OpenSSH's five
/// values collapse to two.
fn strict_host_key_checking(params: &HostParams) -> Result<StrictHostKeyChecking, String> {
    let Some(value) = unsupported(params, STRICT_HOST_KEY_CHECKING).and_then(<[_]>::first) else {
        return Ok(StrictHostKeyChecking::Yes);
    };
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "ask" => Ok(StrictHostKeyChecking::Yes),
        "accept-new" | "no" | "false" | "off" => Ok(StrictHostKeyChecking::AcceptNew),
        _ => Err(format!(
            "StrictHostKeyChecking {value:?} is not one of yes, ask, accept-new, no, off"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{TestResult, test_env};
    use crate::config::{Inventory, Target, parse_str};

    /// A temp home with `~/.ssh/config` = `ssh_config`, and the inventory `toml` parsed in it.
    struct Fixture {
        home: tempfile::TempDir,
    }

    impl Fixture {
        fn new(ssh_config: &str) -> Result<Self, Box<dyn std::error::Error>> {
            let home = tempfile::tempdir()?;
            std::fs::create_dir_all(home.path().join(".ssh"))?;
            std::fs::write(home.path().join(".ssh/config"), ssh_config)?;
            Ok(Self { home })
        }

        fn home(&self) -> &Path {
            self.home.path()
        }

        fn env(&self) -> Env {
            test_env(self.home())
        }

        fn parse(&self, toml: &str) -> Result<Inventory, ConfigError> {
            parse_str(toml, &self.home().join("config.toml"), &self.env())
        }

        /// Endpoint and jumps of the only host, whose address is `address`.
        fn resolve(
            &self,
            address: &str,
        ) -> Result<(SshEndpoint, Vec<SshEndpoint>), Box<dyn std::error::Error>> {
            let inv = self.parse(&format!(
                "[[host]]\nname = \"h\"\naddress = \"{address}\"\n"
            ))?;
            ssh_target(&inv)
        }

        /// The error that resolving `address` must produce.
        fn resolve_err(&self, address: &str) -> Result<ConfigError, Box<dyn std::error::Error>> {
            match self.parse(&format!(
                "[[host]]\nname = \"h\"\naddress = \"{address}\"\n"
            )) {
                Ok(inv) => Err(format!("expected an error, got {inv:?}").into()),
                Err(err) => Ok(err),
            }
        }
    }

    fn ssh_target(
        inv: &Inventory,
    ) -> Result<(SshEndpoint, Vec<SshEndpoint>), Box<dyn std::error::Error>> {
        match &inv.hosts.first().ok_or("no host")?.target {
            Target::Ssh {
                endpoint, jumps, ..
            } => Ok((endpoint.clone(), jumps.clone())),
            other => Err(format!("expected an ssh target, got {other:?}").into()),
        }
    }

    /// (user, hostname, port) of each endpoint, for compact jump assertions.
    fn hops(endpoints: &[SshEndpoint]) -> Vec<(String, String, u16)> {
        endpoints
            .iter()
            .map(|e| (e.user.clone(), e.hostname.clone(), e.port))
            .collect()
    }

    fn triple(user: &str, host: &str, port: u16) -> (String, String, u16) {
        (user.to_string(), host.to_string(), port)
    }

    #[test]
    fn resolves_hostname_user_port_and_files() -> TestResult {
        let fx = Fixture::new(
            "\
Host web-1
    HostName 192.0.2.10
    User deploy
    Port 2222
    IdentityFile ~/.ssh/web_%r@%h:%p
    IdentityFile %d/keys/%u-%n
    UserKnownHostsFile ~/.ssh/fleet_hosts /srv/known/%h
    StrictHostKeyChecking accept-new
    ConnectTimeout 3

Host *
    User fallback
    IdentityFile ~/.ssh/common
",
        )?;
        let (ep, jumps) = fx.resolve("web-1")?;
        let home = fx.home();
        assert_eq!(
            ep,
            SshEndpoint {
                alias: "web-1".to_string(),
                hostname: "192.0.2.10".to_string(),
                port: 2222,
                user: "deploy".to_string(),
                identity_files: vec![
                    home.join(".ssh/web_deploy@192.0.2.10:2222"),
                    home.join("keys/alice-web-1"),
                    // IdentityFile accumulates across matching blocks, like ssh.
                    home.join(".ssh/common"),
                ],
                known_hosts_files: vec![
                    home.join(".ssh/fleet_hosts"),
                    PathBuf::from("/srv/known/192.0.2.10"),
                    PathBuf::from("/etc/ssh/ssh_known_hosts"),
                ],
                strict_host_key_checking: StrictHostKeyChecking::AcceptNew,
                connect_timeout: Duration::from_secs(3),
                proxy_command: None,
                host_key_alias: None,
            }
        );
        assert!(jumps.is_empty());

        // The catch-all block still applies to other hosts.
        let (other, _) = fx.resolve("db.example.com")?;
        assert_eq!(other.user, "fallback");
        assert_eq!(other.hostname, "db.example.com");
        assert_eq!(other.port, 22);
        assert_eq!(other.identity_files, vec![home.join(".ssh/common")]);
        assert_eq!(other.strict_host_key_checking, StrictHostKeyChecking::Yes);
        assert_eq!(other.connect_timeout, Duration::from_secs(10));
        Ok(())
    }

    #[test]
    fn first_obtained_value_wins_like_ssh() -> TestResult {
        let fx = Fixture::new(
            "\
Host *.prod
    User first
    StrictHostKeyChecking no
Host web.prod
    User second
    Port 2200
    StrictHostKeyChecking yes
",
        )?;
        let (ep, _) = fx.resolve("web.prod")?;
        assert_eq!(ep.user, "first");
        assert_eq!(ep.port, 2200);
        assert_eq!(
            ep.strict_host_key_checking,
            StrictHostKeyChecking::AcceptNew
        );
        Ok(())
    }

    #[test]
    fn strict_host_key_checking_values() -> TestResult {
        let cases = [
            ("yes", StrictHostKeyChecking::Yes),
            ("ask", StrictHostKeyChecking::Yes),
            ("accept-new", StrictHostKeyChecking::AcceptNew),
            ("no", StrictHostKeyChecking::AcceptNew),
            ("off", StrictHostKeyChecking::AcceptNew),
        ];
        for (value, expected) in cases {
            let fx = Fixture::new(&format!("Host a\n  StrictHostKeyChecking {value}\n"))?;
            let (ep, _) = fx.resolve("a")?;
            assert_eq!(ep.strict_host_key_checking, expected, "value {value}");
        }
        let fx = Fixture::new("Host a\n  StrictHostKeyChecking maybe\n")?;
        let err = fx.resolve_err("a")?;
        assert!(err.to_string().contains("\"maybe\""), "{err}");
        Ok(())
    }

    #[test]
    fn known_hosts_none_and_global_override() -> TestResult {
        let fx = Fixture::new(
            "Host a\n  UserKnownHostsFile none\n  GlobalKnownHostsFile /etc/fleet_known\n",
        )?;
        let (ep, _) = fx.resolve("a")?;
        assert_eq!(
            ep.known_hosts_files,
            vec![
                PathBuf::from("/dev/null"),
                PathBuf::from("/etc/fleet_known")
            ]
        );
        Ok(())
    }

    #[test]
    fn toml_user_and_port_override_ssh_config() -> TestResult {
        let fx = Fixture::new("Host web\n  HostName web.internal\n  User deploy\n  Port 2222\n")?;
        let inv = fx.parse(
            "[[host]]\nname = \"w\"\naddress = \"web\"\nuser = \"ops\"\nport = 2022\n\
             docker_socket = \"/run/user/1000/docker.sock\"\n",
        )?;
        let (ep, _) = ssh_target(&inv)?;
        assert_eq!(ep.user, "ops");
        assert_eq!(ep.port, 2022);
        // HostName still comes from ssh_config.
        assert_eq!(ep.hostname, "web.internal");
        assert!(matches!(
            &inv.hosts[0].target,
            Target::Ssh { docker_socket, .. } if docker_socket == "/run/user/1000/docker.sock"
        ));
        Ok(())
    }

    #[test]
    fn hostname_token_expands_to_alias() -> TestResult {
        let fx = Fixture::new("Host *.lab\n  HostName %h.example.org\n")?;
        let (ep, _) = fx.resolve("box.lab")?;
        assert_eq!(ep.hostname, "box.lab.example.org");
        assert_eq!(ep.alias, "box.lab");
        Ok(())
    }

    #[test]
    fn proxy_jump_single_hop_is_resolved_through_ssh_config() -> TestResult {
        let fx = Fixture::new(
            "\
Host web
    HostName 10.0.0.5
    ProxyJump bastion

Host bastion
    HostName bastion.example.com
    User jumper
    Port 2200
    IdentityFile ~/.ssh/bastion_key
    ConnectTimeout 4
",
        )?;
        let (ep, jumps) = fx.resolve("web")?;
        assert_eq!(ep.hostname, "10.0.0.5");
        assert_eq!(jumps.len(), 1);
        let hop = &jumps[0];
        assert_eq!(hop.alias, "bastion");
        assert_eq!(hop.hostname, "bastion.example.com");
        assert_eq!(hop.user, "jumper");
        assert_eq!(hop.port, 2200);
        assert_eq!(hop.identity_files, vec![fx.home().join(".ssh/bastion_key")]);
        assert_eq!(hop.connect_timeout, Duration::from_secs(4));
        Ok(())
    }

    #[test]
    fn proxy_jump_user_host_port_overrides_hop_config() -> TestResult {
        let fx = Fixture::new(
            "\
Host web
    ProxyJump ops@bastion:2022
Host bastion
    HostName 198.51.100.1
    User ignored
    Port 9999
",
        )?;
        let (_, jumps) = fx.resolve("web")?;
        assert_eq!(hops(&jumps), vec![triple("ops", "198.51.100.1", 2022)]);
        assert_eq!(jumps[0].alias, "bastion");
        Ok(())
    }

    #[test]
    fn proxy_jump_chain_is_outermost_first() -> TestResult {
        let fx = Fixture::new(
            "\
Host web
    ProxyJump outer,root@inner:2201,[2001:db8::1]:2202

Host outer
    HostName outer.example.com
    User edge
    # the first hop's own ProxyJump applies, like `ssh -J`
    ProxyJump gateway

Host inner
    HostName 10.1.0.1
    # later hops' own ProxyJump is ignored, like `ssh -J`
    ProxyJump never-used

Host gateway
    ProxyJump none
",
        )?;
        let (ep, jumps) = fx.resolve("web")?;
        assert_eq!(ep.hostname, "web");
        assert_eq!(
            hops(&jumps),
            vec![
                triple("alice", "gateway", 22),
                triple("edge", "outer.example.com", 22),
                triple("root", "10.1.0.1", 2201),
                triple("alice", "2001:db8::1", 2202),
            ]
        );
        Ok(())
    }

    #[test]
    fn proxy_jump_none_disables_an_inherited_jump() -> TestResult {
        let fx = Fixture::new(
            "\
Host bastion
    ProxyJump none
Host *
    ProxyJump bastion
",
        )?;
        let (_, jumps) = fx.resolve("bastion")?;
        assert!(jumps.is_empty());
        let (_, jumps) = fx.resolve("web")?;
        assert_eq!(hops(&jumps), vec![triple("alice", "bastion", 22)]);
        Ok(())
    }

    #[test]
    fn proxy_jump_loop_is_reported() -> TestResult {
        let fx = Fixture::new("Host *\n    ProxyJump bastion\n")?;
        let err = fx.resolve_err("web")?;
        let msg = err.to_string();
        assert!(
            msg.contains("ProxyJump loop: web -> bastion -> bastion"),
            "{msg}"
        );
        assert!(msg.contains("ProxyJump none"), "{msg}");
        Ok(())
    }

    #[test]
    fn bad_proxy_jump_hops_are_rejected() -> TestResult {
        for (value, why) in [
            ("ops@:22", "empty host"),
            ("bastion:notaport", "invalid port"),
            ("a,none", "must be the only"),
            ("@bastion", "empty user"),
        ] {
            let fx = Fixture::new(&format!("Host web\n  ProxyJump {value}\n"))?;
            let err = fx.resolve_err("web")?;
            let msg = err.to_string();
            assert!(
                matches!(err, ConfigError::SshConfig { ref file, .. }
                    if *file == fx.home().join(".ssh/config")),
                "{msg}"
            );
            assert!(msg.contains(why), "{value}: {msg}");
            assert!(msg.contains("host \"h\" (address \"web\")"), "{msg}");
        }
        Ok(())
    }

    #[test]
    fn parse_hop_forms() -> TestResult {
        assert_eq!(
            parse_hop("ssh://me@host.example:2222")?,
            Hop {
                user: Some("me".to_string()),
                host: "host.example".to_string(),
                port: Some(2222)
            }
        );
        assert_eq!(
            parse_hop("fe80::1")?,
            Hop {
                user: None,
                host: "fe80::1".to_string(),
                port: None
            }
        );
        assert_eq!(
            parse_hop("[::1]")?,
            Hop {
                user: None,
                host: "::1".to_string(),
                port: None
            }
        );
        assert!(parse_hop("host:0").is_err());
        assert!(parse_hop("[::1").is_err());
        Ok(())
    }

    #[test]
    fn broken_ssh_config_names_the_file() -> TestResult {
        let fx = Fixture::new("Host a\n  Port notanumber\n")?;
        let err = fx.resolve_err("a")?;
        let ssh_file = fx.home().join(".ssh/config");
        assert!(
            matches!(&err, ConfigError::SshConfig { file, message }
                if *file == ssh_file && message.contains("expected port number")),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(&ssh_file.display().to_string()));
        Ok(())
    }

    #[test]
    fn match_blocks_are_refused() -> TestResult {
        let fx = Fixture::new("Host a\n  User x\nMatch host b\n  User y\n")?;
        let err = fx.resolve_err("a")?;
        assert!(
            matches!(&err, ConfigError::SshConfig { message, .. } if message.contains("`Match`")),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn unknown_directives_are_tolerated() -> TestResult {
        let fx = Fixture::new("Host a\n  SomeFutureOption yes\n  User bob\n")?;
        let (ep, _) = fx.resolve("a")?;
        assert_eq!(ep.user, "bob");
        Ok(())
    }

    #[test]
    fn include_is_followed() -> TestResult {
        let fx = Fixture::new("Include fleet.d/*.conf\n")?;
        std::fs::create_dir_all(fx.home().join(".ssh/fleet.d"))?;
        std::fs::write(
            fx.home().join(".ssh/fleet.d/web.conf"),
            "Host web\n  HostName 203.0.113.7\n",
        )?;
        let (ep, _) = fx.resolve("web")?;
        assert_eq!(ep.hostname, "203.0.113.7");
        Ok(())
    }

    #[test]
    fn proxy_command_tokens_are_expanded() -> TestResult {
        let fx = Fixture::new(
            "Host web\n  HostName 10.0.0.5\n  User ops\n  Port 2200\n  \
             ProxyCommand ssh -W \"%h:%p\" -l %r jump # for %n, 100%%\n",
        )?;
        let (ep, jumps) = fx.resolve("web")?;
        assert!(jumps.is_empty());
        assert_eq!(
            ep.proxy_command.as_deref(),
            Some("ssh -W \"10.0.0.5:2200\" -l ops jump")
        );
        let fx = Fixture::new("Host web\n  ProxyCommand nc %h %p %n%% %r\n")?;
        let (ep, _) = fx.resolve("web")?;
        assert_eq!(ep.proxy_command.as_deref(), Some("nc web 22 web% alice"));
        let fx = Fixture::new("Host web\n  ProxyCommand nc %h %C\n")?;
        let err = fx.resolve_err("web")?.to_string();
        assert!(
            err.contains("unsupported token `%C` in ProxyCommand"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn names_unsafe_for_the_shell_are_refused_in_proxy_command() -> TestResult {
        let fx = Fixture::new(
            "Host evil\n  HostName -oProxyCommand=x\nHost *\n  ProxyCommand nc %h %p\n",
        )?;
        let err = fx.resolve_err("evil")?.to_string();
        assert!(err.contains("not safe to substitute"), "{err}");
        for user in ["o'neil", "x;id", "a b", "$(id)", "`id`", "x\\\"y"] {
            let fx = Fixture::new("Host *\n  ProxyCommand ssh -l %r -W %h:%p jump\n")?;
            let toml = format!(
                "[[host]]\nname = \"h\"\naddress = \"web\"\nuser = {}\n",
                toml_string(user)
            );
            let err = match fx.parse(&toml) {
                Ok(inv) => return Err(format!("{user}: accepted: {inv:?}").into()),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("user (%r)"), "{user}: {err}");
        }
        // Without a ProxyCommand such a user is only a login name.
        let fx = Fixture::new("")?;
        fx.parse("[[host]]\nname = \"h\"\naddress = \"web\"\nuser = \"o'neil\"\n")?;
        Ok(())
    }

    fn toml_string(s: &str) -> String {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }

    #[test]
    fn first_of_proxy_jump_or_proxy_command_wins_and_none_disables() -> TestResult {
        let fx = Fixture::new(
            "\
Host cmd-first
    ProxyCommand nc %h %p
Host jump-first
    ProxyJump bastion
Host none-first
    ProxyCommand none
Host bastion
    ProxyJump none
Host *
    ProxyJump bastion
    ProxyCommand never-used %h
",
        )?;
        let (ep, jumps) = fx.resolve("cmd-first")?;
        assert_eq!(ep.proxy_command.as_deref(), Some("nc cmd-first 22"));
        assert!(jumps.is_empty());
        let (ep, jumps) = fx.resolve("jump-first")?;
        assert_eq!(ep.proxy_command, None);
        assert_eq!(hops(&jumps), vec![triple("alice", "bastion", 22)]);
        let (ep, jumps) = fx.resolve("none-first")?;
        assert_eq!((ep.proxy_command, jumps.len()), (None, 0));
        // Both in one block: which line came first is lost, so refuse.
        let err = fx.resolve_err("other")?.to_string();
        assert!(
            err.contains("ProxyJump and ProxyCommand are both set"),
            "{err}"
        );
        assert!(err.contains("`Host *`"), "{err}");
        assert!(err.contains("config:11)"), "{err}");
        Ok(())
    }

    #[test]
    fn only_the_first_hops_proxy_command_applies() -> TestResult {
        let fx = Fixture::new(
            "\
Host web
    ProxyJump a,b
Host a
    ProxyCommand nc %h %p
Host b
    ProxyCommand never-used
",
        )?;
        let (ep, jumps) = fx.resolve("web")?;
        assert_eq!(ep.proxy_command, None);
        let commands: Vec<Option<&str>> =
            jumps.iter().map(|j| j.proxy_command.as_deref()).collect();
        assert_eq!(commands, vec![Some("nc a 22"), None]);
        Ok(())
    }

    #[test]
    fn options_that_change_the_connection_are_refused() -> TestResult {
        for (line, named) in [
            ("RemoteCommand uptime", "RemoteCommand uptime"),
            ("ProxyUseFdpass yes", "ProxyUseFdpass"),
            ("CanonicalizeHostname yes", "CanonicalizeHostname"),
            ("Tunnel yes", "Tunnel"),
            ("AddressFamily inet6", "AddressFamily inet6"),
            ("KnownHostsCommand /bin/keys %H", "KnownHostsCommand"),
            ("RevokedHostKeys /etc/ssh/revoked", "RevokedHostKeys"),
            ("BindAddress 10.0.0.1", "BindAddress"),
            ("BindInterface eth1", "BindInterface"),
        ] {
            let fx = Fixture::new(&format!("# fleet\nHost web\n  User ops\n  {line}\n"))?;
            let err = fx.resolve_err("web")?.to_string();
            assert!(err.contains(&format!("`{named}")), "{line}: {err}");
            assert!(err.contains("`Host web`"), "{line}: {err}");
            assert!(err.contains("config:4)"), "{line}: {err}");
            assert!(err.contains("not supported"), "{line}: {err}");
        }
        let fx = Fixture::new("Host web\n  PermitLocalCommand yes\n  LocalCommand id\n")?;
        let err = fx.resolve_err("web")?.to_string();
        assert!(
            err.contains("LocalCommand` with `PermitLocalCommand yes"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn options_that_do_not_change_the_connection_are_accepted() -> TestResult {
        let fx = Fixture::new(
            "\
Host web
    LocalCommand id
    ControlMaster auto
    ControlPath ~/.ssh/cm-%r@%h:%p
    ControlPersist 10m
    IPQoS lowdelay
    CanonicalizeHostname no
    AddressFamily any
    RemoteCommand none
    Tunnel no
",
        )?;
        let (ep, _) = fx.resolve("web")?;
        assert_eq!(ep.hostname, "web");
        Ok(())
    }

    #[test]
    fn host_key_alias_is_kept_and_expands_percent_k() -> TestResult {
        let fx = Fixture::new(
            "Host web\n  HostName 10.0.0.5\n  Port 2200\n  HostKeyAlias web.prod\n  \
             UserKnownHostsFile ~/.ssh/known_%k\n",
        )?;
        let (ep, _) = fx.resolve("web")?;
        assert_eq!(ep.host_key_alias.as_deref(), Some("web.prod"));
        assert_eq!(ep.known_hosts_name(), "web.prod");
        assert_eq!(
            ep.known_hosts_files[0],
            fx.home().join(".ssh/known_web.prod")
        );
        let (other, _) = fx.resolve("db")?;
        assert_eq!(other.known_hosts_name(), "db");
        Ok(())
    }

    #[test]
    fn unsupported_identity_token_is_an_error() -> TestResult {
        let fx = Fixture::new("Host a\n  IdentityFile ~/.ssh/%l\n")?;
        let err = fx.resolve_err("a")?;
        assert!(err.to_string().contains("unsupported token `%l`"), "{err}");
        Ok(())
    }
}
