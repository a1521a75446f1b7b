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
        }
    }
}

/// The order for a container, and why (for the plan).
pub fn decide(configured: Option<Order>, e: &Exposure) -> (Order, String) {
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

#[cfg(test)]
mod tests {
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
}
