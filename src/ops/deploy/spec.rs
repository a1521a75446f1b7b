//! The new container's configuration, derived from the old one's inspect
//! output with only the image changed. Pure, so it is tested without Docker.
//!
//! `docker inspect` shows the container's settings merged with its image's
//! defaults (ENV, CMD, labels, HEALTHCHECK…). Copying those verbatim would pin
//! the old image's defaults onto the new image (say `APP_VERSION=v1`), so
//! values identical to the old image's defaults are left out and the new
//! image supplies its own. A setting explicitly equal to the old image's
//! default is therefore indistinguishable from one inherited, and follows the
//! new image too.

use std::collections::{HashMap, HashSet};

use bollard::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HealthConfig,
    HostConfig, ImageConfig, Mount, MountType, NetworkingConfig,
};

use super::{LABEL_DEPLOY_ID, LABEL_ONEOFF, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_IMAGE_ID};

/// The body for `create`, plus further networks to connect before `start`
/// (older APIs accept one network at create time).
#[derive(Debug, Clone, PartialEq)]
pub struct Recreate {
    pub body: ContainerCreateBody,
    pub networks: Vec<(String, EndpointSettings)>,
}

/// `container` unless it equals the image's default.
fn unless_default<T: PartialEq>(container: Option<T>, image: Option<T>) -> Option<T> {
    if container == image { None } else { container }
}

/// Items of `container` that are not image defaults; `None` when nothing is left.
fn without_defaults(
    container: Option<Vec<String>>,
    image: Option<&Vec<String>>,
) -> Option<Vec<String>> {
    let kept: Vec<String> = container
        .unwrap_or_default()
        .into_iter()
        .filter(|item| !image.is_some_and(|defaults| defaults.contains(item)))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

fn short_id(c: &ContainerInspectResponse) -> String {
    crate::human::short_id(c.id.as_deref().unwrap_or_default())
}

/// The old container's configuration on `image`, with `labels` added
/// (replacing any earlier flotilla labels).
pub fn recreate(
    old: &ContainerInspectResponse,
    old_image: Option<&ImageConfig>,
    image: &str,
    labels: &[(&str, String)],
) -> Recreate {
    let cfg: ContainerConfig = old.config.clone().unwrap_or_default();
    let img: ImageConfig = old_image.cloned().unwrap_or_default();
    let short = short_id(old);

    let mut kept_labels: HashMap<String, String> = cfg
        .labels
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| img.labels.as_ref().and_then(|l| l.get(k)) != Some(v))
        .filter(|(k, _)| {
            ![
                LABEL_PREVIOUS_IMAGE,
                LABEL_PREVIOUS_IMAGE_ID,
                LABEL_DEPLOY_ID,
            ]
            .contains(&k.as_str())
        })
        .collect();
    for (k, v) in labels {
        kept_labels.insert((*k).to_owned(), v.clone());
    }

    // An entrypoint override makes the command explicit too; otherwise a
    // command equal to the image's is the image's.
    let (entrypoint, cmd) = if cfg.entrypoint == img.entrypoint {
        (None, unless_default(cfg.cmd, img.cmd))
    } else {
        (Some(cfg.entrypoint.unwrap_or_default()), cfg.cmd)
    };

    let body = ContainerCreateBody {
        // Docker names the host after the container id unless told otherwise.
        hostname: cfg.hostname.filter(|h| !h.is_empty() && *h != short),
        domainname: cfg.domainname.filter(|d| !d.is_empty()),
        user: unless_default(cfg.user, img.user).filter(|u| !u.is_empty()),
        attach_stdin: cfg.attach_stdin,
        attach_stdout: cfg.attach_stdout,
        attach_stderr: cfg.attach_stderr,
        exposed_ports: without_defaults(cfg.exposed_ports, img.exposed_ports.as_ref()),
        tty: cfg.tty,
        open_stdin: cfg.open_stdin,
        stdin_once: cfg.stdin_once,
        env: without_defaults(cfg.env, img.env.as_ref()),
        cmd,
        healthcheck: unless_default(cfg.healthcheck, img.healthcheck),
        image: Some(image.to_owned()),
        volumes: without_defaults(cfg.volumes, img.volumes.as_ref()),
        working_dir: unless_default(cfg.working_dir, img.working_dir).filter(|w| !w.is_empty()),
        entrypoint,
        labels: Some(kept_labels),
        stop_signal: unless_default(cfg.stop_signal, img.stop_signal),
        stop_timeout: cfg.stop_timeout,
        shell: unless_default(cfg.shell, img.shell),
        host_config: Some(host_config(old)),
        ..Default::default()
    };
    let (primary, networks) = networks(old, &short);
    Recreate {
        body: ContainerCreateBody {
            networking_config: primary.map(|(name, ep)| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(name, ep)])),
            }),
            ..body
        },
        networks,
    }
}

/// The old host config, with links in create syntax and anonymous volumes
/// carried over (otherwise the new container would get empty ones).
fn host_config(old: &ContainerInspectResponse) -> HostConfig {
    let mut hc = old.host_config.clone().unwrap_or_default();
    // A container id file that exists makes create fail.
    hc.container_id_file = None;
    // Inspect shows links as "/db:/web/db"; create wants "db:db".
    hc.links = hc.links.map(|links| {
        links
            .into_iter()
            .map(|l| match l.split_once(':') {
                Some((target, alias)) => format!(
                    "{}:{}",
                    target.trim_start_matches('/'),
                    alias.rsplit('/').next().unwrap_or(alias)
                ),
                None => l,
            })
            .collect()
    });

    let mut taken: HashSet<String> = HashSet::new();
    for bind in hc.binds.iter().flatten() {
        let mut parts = bind.split(':');
        if let (Some(source), Some(target)) = (parts.next(), parts.next()) {
            taken.insert(source.to_owned());
            taken.insert(target.to_owned());
        }
    }
    for m in hc.mounts.iter().flatten() {
        taken.extend(m.source.clone());
        taken.extend(m.target.clone());
    }
    let mut extra: Vec<Mount> = Vec::new();
    for point in old.mounts.iter().flatten() {
        let (Some(name), Some(target)) = (&point.name, &point.destination) else {
            continue;
        };
        let anonymous_volume = point.typ.as_deref() == Some("volume")
            && !taken.contains(name)
            && !taken.contains(target);
        if anonymous_volume {
            extra.push(Mount {
                target: Some(target.clone()),
                source: Some(name.clone()),
                typ: Some(MountType::VOLUME),
                read_only: point.rw.map(|rw| !rw),
                ..Default::default()
            });
        }
    }
    if !extra.is_empty() {
        hc.mounts.get_or_insert_with(Vec::new).extend(extra);
    }
    hc
}

/// The endpoint of the network mode's own network (for create) and any
/// other networks (connected before start). Addresses and ids are the old
/// container's and are not copied; aliases, links and static IPAM are.
#[allow(clippy::type_complexity)]
fn networks(
    old: &ContainerInspectResponse,
    short: &str,
) -> (
    Option<(String, EndpointSettings)>,
    Vec<(String, EndpointSettings)>,
) {
    let mode = old
        .host_config
        .as_ref()
        .and_then(|hc| hc.network_mode.clone())
        .unwrap_or_else(|| "default".to_owned());
    if mode == "none" || mode == "host" || mode.starts_with("container:") {
        return (None, Vec::new());
    }
    let primary_name = if mode == "default" {
        "bridge"
    } else {
        mode.as_str()
    };
    let mut primary = None;
    let mut others = Vec::new();
    let mut nets: Vec<(String, EndpointSettings)> = old
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    nets.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, ep) in nets {
        let settings = EndpointSettings {
            aliases: ep
                .aliases
                .map(|a| a.into_iter().filter(|a| a != short).collect::<Vec<_>>())
                .filter(|a| !a.is_empty()),
            links: ep.links.filter(|l| !l.is_empty()),
            ipam_config: ep.ipam_config,
            driver_opts: ep.driver_opts,
            ..Default::default()
        };
        if name == primary_name {
            primary = Some((name, settings));
        } else {
            others.push((name, settings));
        }
    }
    (primary, others)
}

/// A one-off container for `pre_deploy`: the service's env, mounts and
/// network on the new image, running `sh -c COMMAND` instead of its entrypoint;
/// no ports, no restarts, no health check.
pub fn oneoff(
    old: &ContainerInspectResponse,
    old_image: Option<&ImageConfig>,
    image: &str,
    command: &str,
    service: &str,
) -> Recreate {
    let mut r = recreate(old, old_image, image, &[]);
    r.body.cmd = Some(vec!["sh".into(), "-c".into(), command.into()]);
    r.body.entrypoint = Some(Vec::new());
    r.body.healthcheck = Some(HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..Default::default()
    });
    r.body.labels = Some(HashMap::from([(
        LABEL_ONEOFF.to_owned(),
        service.to_owned(),
    )]));
    r.body.hostname = None;
    r.body.exposed_ports = None;
    if let Some(hc) = r.body.host_config.as_mut() {
        hc.port_bindings = None;
        hc.publish_all_ports = None;
        hc.restart_policy = None;
        hc.auto_remove = Some(false);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        MountPoint, NetworkSettings, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    };

    fn image_v1() -> ImageConfig {
        ImageConfig {
            env: Some(vec!["PATH=/bin".into(), "APP_VERSION=v1".into()]),
            cmd: Some(vec!["sh".into(), "/app".into()]),
            labels: Some(HashMap::from([("org.version".into(), "v1".into())])),
            healthcheck: Some(HealthConfig {
                test: Some(vec!["CMD".into(), "true".into()]),
                ..Default::default()
            }),
            working_dir: Some(String::new()),
            ..Default::default()
        }
    }

    fn old_container() -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("0123456789abcdef".into()),
            name: Some("/web".into()),
            config: Some(ContainerConfig {
                hostname: Some("0123456789ab".into()),
                env: Some(vec![
                    "APP_NAME=shop".into(),
                    "PATH=/bin".into(),
                    "APP_VERSION=v1".into(),
                ]),
                cmd: Some(vec!["sh".into(), "/app".into()]),
                image: Some("app:v1".into()),
                labels: Some(HashMap::from([
                    ("org.version".into(), "v1".into()),
                    ("com.docker.compose.service".into(), "web".into()),
                    (LABEL_PREVIOUS_IMAGE.into(), "app:v0".into()),
                ])),
                healthcheck: Some(HealthConfig {
                    test: Some(vec!["CMD".into(), "true".into()]),
                    ..Default::default()
                }),
                working_dir: Some(String::new()),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("shop_default".into()),
                binds: Some(vec!["/srv/data:/data:ro".into()]),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: Some(0),
                }),
                port_bindings: Some(HashMap::from([(
                    "80/tcp".into(),
                    Some(vec![PortBinding {
                        host_ip: Some(String::new()),
                        host_port: Some("8080".into()),
                    }]),
                )])),
                links: Some(vec!["/db:/web/database".into()]),
                container_id_file: Some("/tmp/cid".into()),
                ..Default::default()
            }),
            mounts: Some(vec![
                MountPoint {
                    typ: Some("bind".into()),
                    source: Some("/srv/data".into()),
                    destination: Some("/data".into()),
                    rw: Some(false),
                    ..Default::default()
                },
                MountPoint {
                    typ: Some("volume".into()),
                    name: Some("3f9a".into()),
                    destination: Some("/cache".into()),
                    rw: Some(true),
                    ..Default::default()
                },
            ]),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([
                    (
                        "shop_default".into(),
                        EndpointSettings {
                            aliases: Some(vec!["web".into(), "0123456789ab".into()]),
                            ip_address: Some("172.18.0.5".into()),
                            network_id: Some("n1".into()),
                            ..Default::default()
                        },
                    ),
                    (
                        "monitoring".into(),
                        EndpointSettings {
                            aliases: Some(vec!["0123456789ab".into()]),
                            ..Default::default()
                        },
                    ),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_image_and_image_defaults_change() {
        let r = recreate(
            &old_container(),
            Some(&image_v1()),
            "app:v2",
            &[(LABEL_PREVIOUS_IMAGE, "app:v1".into())],
        );
        let b = &r.body;
        assert_eq!(b.image.as_deref(), Some("app:v2"));
        // The user's env stays; the image's defaults come from the new image.
        assert_eq!(b.env, Some(vec!["APP_NAME=shop".into()]));
        assert_eq!(b.cmd, None);
        assert_eq!(b.entrypoint, None);
        assert_eq!(b.healthcheck, None);
        assert_eq!(b.working_dir, None);
        assert_eq!(b.hostname, None, "generated hostname is not copied");
        let labels = b.labels.clone().unwrap_or_default();
        assert_eq!(
            labels,
            HashMap::from([
                ("com.docker.compose.service".into(), "web".into()),
                (LABEL_PREVIOUS_IMAGE.into(), "app:v1".into()),
            ])
        );
        let hc = b.host_config.clone().unwrap_or_default();
        assert_eq!(hc.binds, Some(vec!["/srv/data:/data:ro".into()]));
        assert_eq!(
            hc.restart_policy.and_then(|p| p.name),
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert!(hc.port_bindings.is_some_and(|p| p.contains_key("80/tcp")));
        assert_eq!(hc.links, Some(vec!["db:database".into()]));
        assert_eq!(hc.container_id_file, None);
        // The anonymous volume keeps its data.
        let mounts = hc.mounts.unwrap_or_default();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].source.as_deref(), Some("3f9a"));
        assert_eq!(mounts[0].target.as_deref(), Some("/cache"));
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[0].read_only, Some(false));
    }

    #[test]
    fn networks_keep_aliases_but_not_addresses() {
        let r = recreate(&old_container(), Some(&image_v1()), "app:v2", &[]);
        let endpoints = r
            .body
            .networking_config
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        let primary = endpoints.get("shop_default").expect("primary network");
        assert_eq!(primary.aliases, Some(vec!["web".into()]));
        assert_eq!(primary.ip_address, None);
        assert_eq!(primary.network_id, None);
        assert_eq!(r.networks.len(), 1);
        assert_eq!(r.networks[0].0, "monitoring");
        assert_eq!(r.networks[0].1.aliases, None);
    }

    #[test]
    fn explicit_overrides_are_kept() {
        let mut old = old_container();
        if let Some(cfg) = old.config.as_mut() {
            cfg.cmd = Some(vec!["sh".into(), "/other".into()]);
            cfg.healthcheck = Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            });
            cfg.hostname = Some("web-a".into());
            cfg.user = Some("1000".into());
        }
        let r = recreate(&old, Some(&image_v1()), "app:v2", &[]);
        assert_eq!(r.body.cmd, Some(vec!["sh".into(), "/other".into()]));
        assert_eq!(r.body.entrypoint, None);
        assert_eq!(
            r.body.healthcheck.and_then(|h| h.test),
            Some(vec!["NONE".into()])
        );
        assert_eq!(r.body.hostname.as_deref(), Some("web-a"));
        assert_eq!(r.body.user.as_deref(), Some("1000"));
        // A changed entrypoint pins the command as well.
        if let Some(cfg) = old.config.as_mut() {
            cfg.entrypoint = Some(vec!["/init".into()]);
            cfg.cmd = Some(vec!["sh".into(), "/app".into()]);
        }
        let r = recreate(&old, Some(&image_v1()), "app:v2", &[]);
        assert_eq!(r.body.entrypoint, Some(vec!["/init".into()]));
        assert_eq!(r.body.cmd, Some(vec!["sh".into(), "/app".into()]));
    }

    #[test]
    fn no_network_mode_means_no_endpoints() {
        let mut old = old_container();
        if let Some(hc) = old.host_config.as_mut() {
            hc.network_mode = Some("none".into());
        }
        let r = recreate(&old, None, "app:v2", &[]);
        assert_eq!(r.body.networking_config, None);
        assert!(r.networks.is_empty());
    }

    #[test]
    fn oneoff_runs_the_command_without_ports_or_restarts() {
        let r = oneoff(
            &old_container(),
            Some(&image_v1()),
            "app:v2",
            "migrate",
            "web",
        );
        let b = &r.body;
        assert_eq!(
            b.cmd,
            Some(vec!["sh".into(), "-c".into(), "migrate".into()])
        );
        assert_eq!(b.entrypoint, Some(Vec::new()));
        assert_eq!(b.env, Some(vec!["APP_NAME=shop".into()]));
        assert_eq!(
            b.labels,
            Some(HashMap::from([(LABEL_ONEOFF.into(), "web".into())]))
        );
        let hc = b.host_config.clone().unwrap_or_default();
        assert_eq!(hc.port_bindings, None);
        assert_eq!(hc.restart_policy, None);
        assert_eq!(hc.binds, Some(vec!["/srv/data:/data:ro".into()]));
    }
}
