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
    /// The file read (none for `ssh_config = "none"` or no default file).
    pub(crate) fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

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
mod tests;
