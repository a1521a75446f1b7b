//! Start-first or stop-first, per container: start-first where the new
//! container can run beside the old one (it publishes no host port and does
//! not share the host's network), stop-first where two cannot (one host port
//! cannot be bound twice). A `[service] order` decides otherwise.

use bollard::models::ContainerInspectResponse;

use crate::config::Order;

/// How a container meets the host: the host ports it publishes
/// (`0.0.0.0:8080->80/tcp`) and whether it uses the host's network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposure {
    pub host_ports: Vec<String>,
    pub host_network: bool,
    /// A network on which it has a fixed address (`--ip`): two cannot.
    pub fixed_address: Option<String>,
    /// A Compose container's `container_name`: Compose cannot run a second
    /// one of the service beside it.
    pub fixed_name: Option<String>,
}

impl Exposure {
    pub fn of(c: &ContainerInspectResponse) -> Exposure {
        let hc = c.host_config.as_ref();
        let mut host_ports: Vec<String> = hc
            .and_then(|h| h.port_bindings.as_ref())
            .map(|bindings| {
                bindings
                    .iter()
                    .flat_map(|(port, list)| {
                        list.iter().flatten().filter_map(move |b| {
                            let hp = b.host_port.as_deref().filter(|p| !p.is_empty())?;
                            let ip = b
                                .host_ip
                                .as_deref()
                                .filter(|i| !i.is_empty())
                                .unwrap_or("0.0.0.0");
                            Some(format!("{ip}:{hp}->{port}"))
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        host_ports.sort();
        let fixed_address = c
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|nets| {
                nets.iter().find_map(|(net, ep)| {
                    let ip = ep.ipam_config.as_ref()?.ipv4_address.as_deref()?;
                    (!ip.is_empty()).then(|| format!("{ip} on {net}"))
                })
            });
        Exposure {
            host_ports,
            host_network: hc.and_then(|h| h.network_mode.as_deref()) == Some("host"),
            fixed_address,
            fixed_name: compose_fixed_name(c),
        }
    }
}

/// The name of a Compose container when it is not one Compose made up
/// (`project-service-N` in v2, `project_service_N` in v1): `container_name`.
fn compose_fixed_name(c: &ContainerInspectResponse) -> Option<String> {
    use crate::fleet::compose::{PROJECT, SERVICE};
    let labels = c.config.as_ref()?.labels.as_ref()?;
    let (project, service) = (labels.get(PROJECT)?, labels.get(SERVICE)?);
    let name = c.name.as_deref()?.trim_start_matches('/');
    let made_up = ['-', '_'].iter().any(|sep| {
        name.strip_prefix(&format!("{project}{sep}{service}{sep}"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    (!made_up).then(|| name.to_owned())
}

/// The order for a container, and why (for the plan).
pub fn decide(configured: Option<Order>, e: &Exposure) -> (Order, String) {
    if let Some(name) = &e.fixed_name {
        let also = if configured == Some(Order::StartFirst) {
            " (the configured start-first cannot apply)"
        } else {
            ""
        };
        return (
            Order::StopFirst,
            format!(
                "stop-first: Compose runs it under its fixed container_name {name}, which two cannot share{also}"
            ),
        );
    }
    if let Some(o) = configured {
        return (o, format!("{} (configured)", o.label()));
    }
    if e.host_network {
        return (
            Order::StopFirst,
            "stop-first: it uses the host's network (two could not bind the same ports)".into(),
        );
    }
    if let Some(fixed) = &e.fixed_address {
        return (
            Order::StopFirst,
            format!("stop-first: it has the fixed address {fixed} (two cannot)"),
        );
    }
    if let Some(first) = e.host_ports.first() {
        return (
            Order::StopFirst,
            format!(
                "stop-first: it publishes host port {first} (two containers cannot bind one host port)"
            ),
        );
    }
    (
        Order::StartFirst,
        "start-first: it publishes no host port, so the new one serves beside the old until healthy".into(),
    )
}

/// Whether a Compose service's containers are what an interrupted
/// start-first run leaves: two generations in equal numbers (it doubled
/// the count), one of them on `target` (ids, or references, alike). A
/// stop-first run cut short leaves other mixes, which `up` finishes.
pub fn beside_half_done(images: &[&str], target: &str) -> bool {
    let at = images.iter().filter(|i| **i == target).count();
    at > 0 && at * 2 == images.len()
}

/// Why a half-done start-first switch goes on start-first (for the plan).
pub const BESIDE_HALF_DONE: &str =
    "start-first: an interrupted run left new containers beside the old; the healthy side stays";

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_doubled_service_is_a_half_done_start_first_switch() {
        assert!(super::beside_half_done(&["a", "a", "b", "b"], "a"));
        assert!(super::beside_half_done(&["a", "b"], "b"));
        // A stop-first `up` cut short: one of three recreated.
        assert!(!super::beside_half_done(&["a", "b", "b"], "a"));
        assert!(!super::beside_half_done(&["b", "b"], "a"));
        assert!(!super::beside_half_done(&[], "a"));
    }

    use super::*;
    use bollard::models::{HostConfig, PortBinding};
    use std::collections::HashMap;

    fn with(bindings: Option<Vec<PortBinding>>, mode: &str) -> ContainerInspectResponse {
        ContainerInspectResponse {
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([("80/tcp".to_owned(), bindings)])),
                network_mode: Some(mode.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_published_port_means_stop_first_unless_configured() {
        let published = with(
            Some(vec![PortBinding {
                host_ip: Some(String::new()),
                host_port: Some("8080".into()),
            }]),
            "bridge",
        );
        let e = Exposure::of(&published);
        assert_eq!(e.host_ports, ["0.0.0.0:8080->80/tcp"]);
        let (o, why) = decide(None, &e);
        assert_eq!(o, Order::StopFirst);
        assert!(
            why.contains("publishes host port 0.0.0.0:8080->80/tcp"),
            "{why}"
        );
        assert_eq!(decide(Some(Order::StartFirst), &e).0, Order::StartFirst);

        // Exposed only (no host port), on a user network: start-first.
        let behind_proxy = with(None, "shopnet");
        assert_eq!(
            decide(None, &Exposure::of(&behind_proxy)).0,
            Order::StartFirst
        );
        assert_eq!(
            decide(Some(Order::StopFirst), &Exposure::of(&behind_proxy)),
            (Order::StopFirst, "stop-first (configured)".into())
        );
        let host_net = with(None, "host");
        assert_eq!(decide(None, &Exposure::of(&host_net)).0, Order::StopFirst);
        let mut fixed = with(None, "shopnet");
        fixed.network_settings = Some(bollard::models::NetworkSettings {
            networks: Some(HashMap::from([(
                "shopnet".to_owned(),
                bollard::models::EndpointSettings {
                    ipam_config: Some(bollard::models::EndpointIpamConfig {
                        ipv4_address: Some("10.1.2.3".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )])),
            ..Default::default()
        });
        let (o, why) = decide(None, &Exposure::of(&fixed));
        assert_eq!(o, Order::StopFirst);
        assert!(why.contains("fixed address 10.1.2.3 on shopnet"), "{why}");
    }

    fn compose_named(name: &str) -> ContainerInspectResponse {
        let mut c = with(None, "shop_default");
        c.name = Some(format!("/{name}"));
        c.config = Some(bollard::models::ContainerConfig {
            labels: Some(HashMap::from([
                (crate::fleet::compose::PROJECT.to_owned(), "shop".to_owned()),
                (crate::fleet::compose::SERVICE.to_owned(), "web".to_owned()),
            ])),
            ..Default::default()
        });
        c
    }

    #[test]
    fn a_compose_container_name_means_stop_first_even_when_start_first_is_configured() {
        for made_up in ["shop-web-1", "shop_web_12"] {
            let e = Exposure::of(&compose_named(made_up));
            assert_eq!(e.fixed_name, None, "{made_up}");
            assert_eq!(decide(None, &e).0, Order::StartFirst, "{made_up}");
        }
        for fixed in ["web", "shop-web-blue", "shop-web-"] {
            let e = Exposure::of(&compose_named(fixed));
            assert_eq!(e.fixed_name.as_deref(), Some(fixed));
            let (o, why) = decide(Some(Order::StartFirst), &e);
            assert_eq!(o, Order::StopFirst);
            assert!(why.contains(&format!("container_name {fixed}")), "{why}");
            assert!(why.contains("cannot apply"), "{why}");
        }
        // Outside Compose a name is only a name.
        assert_eq!(Exposure::of(&with(None, "shopnet")).fixed_name, None);
    }
}
