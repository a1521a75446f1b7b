//! What `inspect` shows: a container's configuration, secrets masked.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthProbe {
    pub start: String,
    pub exit_code: Option<i64>,
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerDetails {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub command: Vec<String>,
    pub entrypoint: Vec<String>,
    /// `KEY=value`, values of secret-looking keys replaced by `••••••`.
    pub env: Vec<String>,
    /// `source → destination (mode)`.
    pub mounts: Vec<String>,
    pub ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub restart_policy: String,
    pub restart_count: i64,
    pub state: crate::fleet::ContainerState,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub health: Option<String>,
    pub health_log: Vec<HealthProbe>,
}

impl ContainerDetails {
    pub fn from_inspect(r: bollard::models::ContainerInspectResponse) -> Self {
        let config = r.config.unwrap_or_default();
        let state = r.state.unwrap_or_default();
        let host_config = r.host_config.unwrap_or_default();
        let health = state.health.clone().unwrap_or_default();
        ContainerDetails {
            id: r.id.unwrap_or_default(),
            name: r
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: config.image.unwrap_or_default(),
            image_id: r.image.unwrap_or_default(),
            command: config.cmd.unwrap_or_default(),
            entrypoint: config.entrypoint.unwrap_or_default(),
            env: config
                .env
                .unwrap_or_default()
                .iter()
                .map(|e| crate::redact::mask_env(e))
                .collect(),
            mounts: mounts_of(r.mounts.unwrap_or_default()),
            ports: ports_of(host_config.port_bindings.unwrap_or_default()),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            restart_policy: restart_policy_of(host_config.restart_policy),
            restart_count: r.restart_count.unwrap_or(0),
            state: state
                .status
                .map(|s| crate::fleet::ContainerState::from(s.to_string().as_str()))
                .unwrap_or_default(),
            started_at: state.started_at.unwrap_or_default(),
            finished_at: state.finished_at.unwrap_or_default(),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            health: health
                .status
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            health_log: health_log_of(health.log.unwrap_or_default()),
        }
    }
}

/// "HOST_IP:HOST_PORT → CONTAINER_PORT" per binding, sorted.
fn ports_of(bindings: bollard::models::PortMap) -> Vec<String> {
    let mut ports: Vec<String> = bindings
        .into_iter()
        .flat_map(|(container_port, bindings)| {
            bindings.unwrap_or_default().into_iter().map(move |b| {
                format!(
                    "{}:{} → {container_port}",
                    b.host_ip.unwrap_or_default(),
                    b.host_port.unwrap_or_default()
                )
            })
        })
        .collect();
    ports.sort();
    ports
}

/// "SOURCE → DESTINATION (rw|ro)" per mount; a volume's name when it has no source.
fn mounts_of(mounts: Vec<bollard::models::MountPoint>) -> Vec<String> {
    mounts
        .into_iter()
        .map(|m| {
            format!(
                "{} → {} ({})",
                m.source.or(m.name).unwrap_or_default(),
                m.destination.unwrap_or_default(),
                if m.rw.unwrap_or(true) { "rw" } else { "ro" }
            )
        })
        .collect()
}

/// Docker's name for it; "no" when none is set.
fn restart_policy_of(policy: Option<bollard::models::RestartPolicy>) -> String {
    policy
        .and_then(|p| p.name)
        .map(|n| n.to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "no".to_owned())
}

/// The newest five probes, newest first.
fn health_log_of(log: Vec<bollard::models::HealthcheckResult>) -> Vec<HealthProbe> {
    log.into_iter()
        .rev()
        .take(5)
        .map(|p| HealthProbe {
            start: p.start.unwrap_or_default(),
            exit_code: p.exit_code,
            output: p.output.unwrap_or_default().trim().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_response_is_flattened() {
        let r = bollard::models::ContainerInspectResponse {
            name: Some("/web".into()),
            restart_count: Some(4),
            config: Some(bollard::models::ContainerConfig {
                image: Some("app:v1".into()),
                env: Some(vec!["TOKEN=s3cret".into(), "MODE=prod".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let d = ContainerDetails::from_inspect(r);
        assert_eq!(d.name, "web");
        assert_eq!(d.restart_count, 4);
        assert_eq!(d.env, ["TOKEN=••••••", "MODE=prod"]);
        assert_eq!(d.restart_policy, "no");
        assert!(!d.env.iter().any(|e| e.contains("s3cret")));
    }
}
