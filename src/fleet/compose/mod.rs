//! Which Compose project and service a container belongs to, read from the
//! labels Compose (v1 and v2 alike) puts on every container it creates.

use serde::Serialize;

pub mod file;

use super::ContainerInfo;

pub use crate::config::labels::{CONFIG_FILES, PROJECT, SERVICE, WORKING_DIR};
/// The first line of an override file flotilla wrote (and may rewrite).
pub const FLOTILLA_OVERRIDE_MARK: &str = "# flotilla:";

/// A container's place in a Compose project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposeRef {
    pub project: String,
    pub service: String,
    /// The directory `up` ran in, on the host (absent on hand-made labels).
    pub working_dir: Option<String>,
    /// The files `up` read, on the host, in order.
    pub config_files: Vec<String>,
}

impl ComposeRef {
    /// `None` unless the container carries both a project and a service label.
    pub fn of(container: &ContainerInfo) -> Option<ComposeRef> {
        let label = |key: &str| container.labels.get(key).filter(|v| !v.is_empty()).cloned();
        Some(ComposeRef {
            project: label(PROJECT)?,
            service: label(SERVICE)?,
            working_dir: label(WORKING_DIR),
            // Compose joins them with commas (paths with a comma are not split apart again).
            config_files: label(CONFIG_FILES)
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_labels(labels: &[(&str, &str)]) -> ContainerInfo {
        ContainerInfo {
            name: "shop-web-1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ContainerInfo::default()
        }
    }

    #[test]
    fn a_compose_container_names_its_project_service_directory_and_files() {
        let c = with_labels(&[
            (PROJECT, "shop"),
            (SERVICE, "web"),
            (WORKING_DIR, "/srv/shop"),
            (
                CONFIG_FILES,
                "/srv/shop/compose.yaml,/srv/shop/compose.override.yaml",
            ),
        ]);
        assert_eq!(
            ComposeRef::of(&c),
            Some(ComposeRef {
                project: "shop".into(),
                service: "web".into(),
                working_dir: Some("/srv/shop".into()),
                config_files: vec![
                    "/srv/shop/compose.yaml".into(),
                    "/srv/shop/compose.override.yaml".into()
                ],
            })
        );
    }

    #[test]
    fn without_project_or_service_it_is_not_compose() {
        assert_eq!(ComposeRef::of(&with_labels(&[(SERVICE, "web")])), None);
        assert_eq!(ComposeRef::of(&with_labels(&[(PROJECT, "shop")])), None);
        assert_eq!(
            ComposeRef::of(&with_labels(&[(PROJECT, ""), (SERVICE, "web")])),
            None
        );
        let bare = ComposeRef::of(&with_labels(&[(PROJECT, "shop"), (SERVICE, "web")]));
        assert_eq!(
            bare.map(|r| (r.working_dir, r.config_files)),
            Some((None, vec![]))
        );
    }
}
