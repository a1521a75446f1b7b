//! The TOML inventory file: a span-carrying serde model and the checks that
//! serde cannot express, all reported as `FILE:LINE:COL: message`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

mod alerts;

/// The `address` value that means "the local Docker daemon".
pub(crate) const LOCAL_ADDRESS: &str = "local";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ssh_config: Option<Spanned<String>>,
    persist: Option<Spanned<String>>,
    #[serde(default)]
    group: BTreeMap<String, RawGroup>,
    host: Option<Spanned<Vec<Spanned<RawHost>>>>,
    ui: Option<RawUi>,
    logs: Option<RawLogs>,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    service: BTreeMap<String, Spanned<RawService>>,
    alerts: Option<alerts::RawAlerts>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    hosts: Option<Spanned<Vec<Spanned<String>>>>,
    groups: Option<Spanned<Vec<Spanned<String>>>>,
    container: Option<Spanned<String>>,
    #[serde(rename = "match")]
    matcher: Option<Spanned<RawMatch>>,
    compose: Option<Spanned<RawCompose>>,
    health_timeout: Option<Spanned<String>>,
    serial: Option<Spanned<toml::Value>>,
    max_fail: Option<Spanned<toml::Value>>,
    pre_deploy: Option<Spanned<String>>,
    health_cmd: Option<Spanned<String>>,
    stable_for: Option<Spanned<String>>,
    autoheal: Option<Spanned<bool>>,
    order: Option<Spanned<String>>,
    stop_grace: Option<Spanned<String>>,
    keep_images: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    label: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompose {
    project: Spanned<String>,
    service: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    log_lines: Option<Spanned<usize>>,
    log_tail: Option<u32>,
    shell: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogs {
    max_line_bytes: Option<Spanned<usize>>,
}

/// Bounds of `[logs] max_line_bytes`: room for a stack trace, at most 64 MiB
/// per line and stream held in memory while it is assembled.
const MAX_LINE_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=64 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    address: Spanned<String>,
    user: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    docker_socket: Option<Spanned<String>>,
    #[serde(default)]
    read_only: bool,
}

/// A validated inventory file, before ssh_config resolution.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) ssh_config: Option<Spanned<String>>,
    pub(crate) hosts: Vec<HostEntry>,
    pub(crate) ui: super::UiSettings,
    pub(crate) services: Vec<super::ServiceSpec>,
    pub(crate) alerts: super::AlertsConfig,
}

/// One validated `[[host]]`; `read_only` already includes its groups' setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostEntry {
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) user: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) groups: Vec<String>,
    pub(crate) docker_socket: Option<String>,
    pub(crate) read_only: bool,
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // toml spans are on char boundaries, but never panic on a bad one.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// A positioned error at the start of `span`.
pub(crate) fn invalid_at(
    path: &Path,
    text: &str,
    span: Range<usize>,
    message: impl Into<String>,
) -> ConfigError {
    let (line, col) = position(text, span.start);
    ConfigError::Invalid {
        file: path.to_path_buf(),
        line,
        col,
        message: message.into(),
    }
}

/// Parses and validates the inventory text.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Document, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|err| {
        let span = err.span().unwrap_or(0..0);
        invalid_at(path, text, span, err.message().trim_end())
    })?;
    let err = |span: Range<usize>, message: String| invalid_at(path, text, span, message);

    if let Some(named) = &raw.ssh_config
        && named.get_ref().trim().is_empty()
    {
        return Err(err(
            named.span(),
            "ssh_config must not be empty (use \"none\" to read no ssh_config)".to_string(),
        ));
    }

    let Some(host_list) = raw.host else {
        return Err(err(
            0..0,
            "no hosts defined: add at least one [[host]] table with `name` and `address` \
             (see config.example.toml)"
                .to_string(),
        ));
    };
    if host_list.get_ref().is_empty() {
        return Err(err(
            host_list.span(),
            "no hosts defined: `host` must list at least one host".to_string(),
        ));
    }

    let mut first_seen: HashMap<String, Range<usize>> = HashMap::new();
    let mut hosts = Vec::with_capacity(host_list.get_ref().len());
    for spanned_host in host_list.into_inner() {
        hosts.push(host_entry(
            spanned_host,
            &raw.group,
            &mut first_seen,
            text,
            &err,
        )?);
    }
    let ui = ui_settings(raw.ui, raw.persist.as_ref(), raw.logs, raw.keys, text, &err)?;

    let mut services = Vec::with_capacity(raw.service.len());
    for (name, table) in raw.service {
        services.push(service(path, text, &hosts, name, table)?);
    }

    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let alerts = alerts::alerts(raw.alerts, path, &names, &err)?;

    Ok(Document {
        ssh_config: raw.ssh_config,
        hosts,
        ui,
        services,
        alerts,
    })
}

/// One `[[host]]`, checked; its name is new (`first_seen` says where each
/// name was first defined).
fn host_entry(
    spanned_host: Spanned<RawHost>,
    groups_settings: &BTreeMap<String, RawGroup>,
    first_seen: &mut HashMap<String, Range<usize>>,
    text: &str,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<HostEntry, ConfigError> {
    let table_span = spanned_host.span();
    let h = spanned_host.into_inner();

    let name = h.name.get_ref();
    if let Err(message) = super::check_host_name(name) {
        return Err(err(h.name.span(), message));
    }
    if let Some(first) = first_seen.get(name) {
        let (first_line, _) = position(text, first.start);
        return Err(err(
            table_span,
            format!("duplicate host name {name:?} (first defined at line {first_line})"),
        ));
    }
    first_seen.insert(name.clone(), table_span);

    check_connection(&h, err)?;

    let mut groups: Vec<String> = Vec::with_capacity(h.groups.len());
    for group in &h.groups {
        let g = group.get_ref();
        if g.trim().is_empty() {
            return Err(err(
                group.span(),
                "group name must not be empty".to_string(),
            ));
        }
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    // Read-only is a safety guard: any source saying so wins.
    let read_only = h.read_only
        || groups.iter().any(|g| {
            groups_settings
                .get(g)
                .is_some_and(|settings| settings.read_only)
        });

    Ok(HostEntry {
        name: h.name.into_inner(),
        address: h.address.into_inner(),
        user: h.user.map(Spanned::into_inner),
        port: h.port.map(Spanned::into_inner),
        groups,
        docker_socket: h.docker_socket.map(Spanned::into_inner),
        read_only,
    })
}

/// The address, and what may (or may not) go with it.
fn check_connection(
    h: &RawHost,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let address = h.address.get_ref();
    if address.trim().is_empty() {
        return Err(err(
            h.address.span(),
            "host address must not be empty".to_string(),
        ));
    }
    if address.chars().any(char::is_whitespace) {
        return Err(err(
            h.address.span(),
            format!("host address {address:?} must not contain whitespace"),
        ));
    }
    // `user@host` would be looked up in ssh_config verbatim and match nothing.
    if let Some((user, host)) = address.rsplit_once('@') {
        return Err(err(
            h.address.span(),
            format!(
                "host address {address:?} must not contain a user: write \
                 address = {host:?} and user = {user:?}"
            ),
        ));
    }
    let is_local = address == LOCAL_ADDRESS;

    if let Some(user) = &h.user {
        if is_local {
            return Err(err(
                user.span(),
                "`user` does not apply to address = \"local\"".to_string(),
            ));
        }
        if user.get_ref().trim().is_empty() {
            return Err(err(user.span(), "user must not be empty".to_string()));
        }
    }
    if let Some(port) = &h.port {
        if is_local {
            return Err(err(
                port.span(),
                "`port` does not apply to address = \"local\"".to_string(),
            ));
        }
        if *port.get_ref() == 0 {
            return Err(err(
                port.span(),
                "port must be between 1 and 65535".to_string(),
            ));
        }
    }
    if let Some(socket) = &h.docker_socket {
        let value = socket.get_ref();
        // Remote paths cannot be made absolute for the user; `~` is local-only.
        let ok = value.starts_with('/') || (is_local && value.starts_with('~'));
        if !ok {
            return Err(err(
                socket.span(),
                format!("docker_socket {value:?} must be an absolute path"),
            ));
        }
    }
    Ok(())
}

/// `[ui]`, `persist`, `[logs]` and `[keys]`, checked.
fn ui_settings(
    raw_ui: Option<RawUi>,
    persist: Option<&Spanned<String>>,
    logs: Option<RawLogs>,
    keys_table: BTreeMap<String, Spanned<Vec<String>>>,
    text: &str,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<super::UiSettings, ConfigError> {
    let mut ui = super::UiSettings::default();
    if let Some(raw_ui) = raw_ui {
        if let Some(lines) = raw_ui.log_lines {
            if !(100..=1_000_000).contains(lines.get_ref()) {
                return Err(err(
                    lines.span(),
                    "ui.log_lines must be between 100 and 1000000".to_string(),
                ));
            }
            ui.log_lines = lines.into_inner();
        }
        if let Some(tail) = raw_ui.log_tail {
            ui.log_tail = tail;
        }
        if let Some(shell) = raw_ui.shell {
            if shell.get_ref().is_empty() || shell.get_ref().iter().any(|s| s.trim().is_empty()) {
                return Err(err(
                    shell.span(),
                    "ui.shell must list at least one program, like [\"bash\", \"sh\"]".to_string(),
                ));
            }
            ui.shell = shell.into_inner();
        }
    }
    if let Some(persist) = persist {
        ui.persist = super::parse_persist(persist.get_ref())
            .map_err(|e| err(persist.span(), format!("persist: {e}")))?;
    }
    if let Some(max) = logs.and_then(|l| l.max_line_bytes) {
        if !MAX_LINE_BYTES_RANGE.contains(max.get_ref()) {
            return Err(err(
                max.span(),
                format!(
                    "logs.max_line_bytes must be between {} and {}",
                    MAX_LINE_BYTES_RANGE.start(),
                    MAX_LINE_BYTES_RANGE.end()
                ),
            ));
        }
        ui.log_max_line_bytes = max.into_inner();
    }
    for (action, keys) in keys_table {
        let (line, col) = position(text, keys.span().start);
        ui.keys.push(super::KeyOverride {
            action,
            keys: keys.into_inner(),
            line,
            col,
        });
    }
    Ok(ui)
}

/// `compose = { project, service }`, by Compose's own naming rules.
fn compose_selector(
    c: &RawCompose,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<super::ContainerSelector, ConfigError> {
    // Compose's own rules: projects are lower case, services a little wider.
    let project = c.project.get_ref();
    if project.is_empty()
        || !project
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_')
    {
        return Err(err(
            c.project.span(),
            format!(
                "{project:?} is not a Compose project name (lower-case letters, digits, `-` and `_`)"
            ),
        ));
    }
    let service = c.service.get_ref();
    if service.is_empty()
        || !service
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
    {
        return Err(err(
            c.service.span(),
            format!(
                "{service:?} is not a Compose service name (letters, digits, `-`, `_` and `.`)"
            ),
        ));
    }
    Ok(super::ContainerSelector::Compose {
        project: project.clone(),
        service: service.clone(),
    })
}

/// How the service's containers are found: exactly one of `container`,
/// `match` and `compose`.
fn selector(
    name: &str,
    raw: &RawService,
    table_span: Range<usize>,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<super::ContainerSelector, ConfigError> {
    use super::ContainerSelector;
    let given: Vec<Range<usize>> = [
        raw.container.as_ref().map(Spanned::span),
        raw.matcher.as_ref().map(Spanned::span),
        raw.compose.as_ref().map(Spanned::span),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        let later = given
            .iter()
            .max_by_key(|s| s.start)
            .cloned()
            .unwrap_or(table_span);
        return Err(err(
            later,
            format!("service {name:?}: use one of `container`, `match` and `compose`, not several"),
        ));
    }
    if let Some(c) = &raw.container {
        let value = c.get_ref();
        if !valid_docker_name(value) || value.ends_with("-flotilla-old") {
            return Err(err(
                c.span(),
                format!("{value:?} is not a valid container name"),
            ));
        }
        return Ok(ContainerSelector::Name(value.clone()));
    }
    if let Some(m) = &raw.matcher {
        let label = m.get_ref().label.get_ref();
        let (key, value) = match label.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_owned())),
            None => (label.trim(), None),
        };
        if key.is_empty() {
            return Err(err(
                m.get_ref().label.span(),
                "match label must be \"KEY=VALUE\" or \"KEY\"".to_owned(),
            ));
        }
        return Ok(ContainerSelector::Label {
            key: key.to_owned(),
            value,
        });
    }
    if let Some(c) = &raw.compose {
        return compose_selector(c.get_ref(), err);
    }
    Err(err(
        table_span,
        format!(
            "service {name:?} needs `container = \"NAME\"`, `match = {{ label = \"KEY=VALUE\" }}` \
             or `compose = {{ project = \"P\", service = \"S\" }}`"
        ),
    ))
}

/// Names that end up in Docker object names (`flotilla-lock-NAME`, containers).
fn valid_docker_name(name: &str) -> bool {
    super::names::is_plain_name(name)
}

/// Where it runs: `hosts` and the hosts of `groups`, in inventory order
/// (batches follow the order hosts are written in).
fn service_hosts(
    name: &str,
    raw: &RawService,
    hosts: &[HostEntry],
    table_span: Range<usize>,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    let mut wanted: Vec<&str> = Vec::new();
    if raw.hosts.is_none() && raw.groups.is_none() {
        return Err(err(
            table_span,
            format!("service {name:?} needs `hosts` or `groups` (where it runs)"),
        ));
    }
    if let Some(list) = &raw.hosts {
        for host in list.get_ref() {
            if !hosts.iter().any(|h| h.name == *host.get_ref()) {
                let known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                return Err(err(
                    host.span(),
                    format!(
                        "service {name:?}: no host named {:?} (known: {})",
                        host.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
            wanted.push(host.get_ref());
        }
    }
    let mut in_groups: Vec<&str> = Vec::new();
    if let Some(list) = &raw.groups {
        for group in list.get_ref() {
            if !hosts.iter().any(|h| h.groups.contains(group.get_ref())) {
                return Err(err(
                    group.span(),
                    format!(
                        "service {name:?}: no host is in group {:?}",
                        group.get_ref()
                    ),
                ));
            }
            in_groups.push(group.get_ref());
        }
    }
    // Inventory order, so batches follow the order hosts are written in.
    let service_hosts: Vec<String> = hosts
        .iter()
        .filter(|h| {
            wanted.contains(&h.name.as_str())
                || h.groups.iter().any(|g| in_groups.contains(&g.as_str()))
        })
        .map(|h| h.name.clone())
        .collect();
    if service_hosts.is_empty() {
        let span = raw.hosts.as_ref().map_or(table_span.clone(), |h| h.span());
        return Err(err(span, format!("service {name:?} has no hosts")));
    }
    Ok(service_hosts)
}

/// `serial` and `max_fail`: host counts or percentages.
fn rollout_pace(
    raw: &RawService,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<(Vec<super::Amount>, super::Amount), ConfigError> {
    use super::Amount;
    // An integer or a "N%" string; `min` is the smallest allowed value.
    let amount = |value: &toml::Value, span: Range<usize>, min: usize| match value {
        toml::Value::Integer(n) => usize::try_from(*n)
            .ok()
            .filter(|n| *n >= min)
            .map(Amount::Count)
            .ok_or_else(|| err(span, format!("{n} must be at least {min}"))),
        toml::Value::String(s) if s.trim_end().ends_with('%') => {
            Amount::parse(s, min).map_err(|e| err(span, e))
        }
        other => Err(err(
            span,
            format!("expected a host count or a percentage like \"50%\", found {other}"),
        )),
    };
    let serial = match &raw.serial {
        None => vec![Amount::Count(1)],
        Some(value) => match value.get_ref() {
            toml::Value::Array(items) if items.is_empty() => {
                return Err(err(value.span(), "serial must not be empty".to_owned()));
            }
            toml::Value::Array(items) => items
                .iter()
                .map(|item| amount(item, value.span(), 1))
                .collect::<Result<_, _>>()?,
            single => vec![amount(single, value.span(), 1)?],
        },
    };
    let max_fail = match &raw.max_fail {
        None => Amount::Count(0),
        Some(value) => amount(value.get_ref(), value.span(), 0)?,
    };
    Ok((serial, max_fail))
}

fn order(
    raw: &RawService,
    err: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<Option<super::Order>, ConfigError> {
    Ok(match &raw.order {
        None => None,
        Some(o) => Some(match o.get_ref().as_str() {
            "start-first" => super::Order::StartFirst,
            "stop-first" => super::Order::StopFirst,
            other => {
                return Err(err(
                    o.span(),
                    format!("order must be \"start-first\" or \"stop-first\", not {other:?}"),
                ));
            }
        }),
    })
}

/// Validates one `[service.NAME]` table against the hosts.
fn service(
    path: &Path,
    text: &str,
    hosts: &[HostEntry],
    name: String,
    table: Spanned<RawService>,
) -> Result<super::ServiceSpec, ConfigError> {
    use super::{ServiceSpec, parse_duration};
    let err = |span: Range<usize>, message: String| invalid_at(path, text, span, message);
    let table_span = table.span();
    let raw = table.into_inner();
    if !valid_docker_name(&name) {
        return Err(err(
            table_span,
            format!(
                "service name {name:?} may only contain letters, digits, '_', '.' and '-' \
                 (it names Docker objects)"
            ),
        ));
    }

    let service_hosts = service_hosts(&name, &raw, hosts, table_span.clone(), &err)?;

    let container = selector(&name, &raw, table_span.clone(), &err)?;

    let duration = |field: &Option<Spanned<String>>, default| -> Result<_, ConfigError> {
        let Some(value) = field else {
            return Ok(default);
        };
        match parse_duration(value.get_ref()) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(err(
                value.span(),
                "the duration must not be zero".to_owned(),
            )),
            Err(e) => Err(err(value.span(), e)),
        }
    };
    let health_timeout = duration(&raw.health_timeout, ServiceSpec::DEFAULT_HEALTH_TIMEOUT)?;
    let stable_for = duration(&raw.stable_for, ServiceSpec::DEFAULT_STABLE_FOR)?;
    let order = order(&raw, &err)?;
    // Zero is fine here: no wait before the old container's stop.
    let stop_grace = match &raw.stop_grace {
        None => std::time::Duration::ZERO,
        Some(g) => parse_duration(g.get_ref()).map_err(|e| err(g.span(), e))?,
    };

    let (serial, max_fail) = rollout_pace(&raw, &err)?;
    let keep_images = match &raw.keep_images {
        None => 0,
        Some(n) => usize::try_from(*n.get_ref()).map_err(|_| {
            err(
                n.span(),
                format!("keep_images must be 0 or more, not {}", n.get_ref()),
            )
        })?,
    };
    let command = |field: &Option<Spanned<String>>, what: &str| match field {
        Some(c) if c.get_ref().trim().is_empty() => {
            Err(err(c.span(), format!("{what} must not be empty")))
        }
        Some(c) => Ok(Some(c.get_ref().clone())),
        None => Ok(None),
    };
    Ok(ServiceSpec {
        pre_deploy: command(&raw.pre_deploy, "pre_deploy")?,
        health_cmd: command(&raw.health_cmd, "health_cmd")?,
        name,
        hosts: service_hosts,
        container,
        health_timeout,
        serial,
        max_fail,
        stable_for,
        autoheal: raw.autoheal.as_ref().is_some_and(|a| *a.get_ref()),
        order,
        stop_grace,
        keep_images,
    })
}

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ui_tests;
