//! Reads what the planner needs from one daemon: every container (with its
//! writable layer's size), the top-level images and the volumes.

use std::collections::BTreeMap;

use bollard::Docker;
use bollard::models::{ContainerSummary, ImageSummary, Volume};
use bollard::query_parameters::{ListContainersOptions, ListImagesOptions, ListVolumesOptions};

use super::{ContainerFact, Facts, ImageFact, VolumeFact};

/// The host's containers, images and volumes, read at once.
pub async fn facts(docker: &Docker) -> Result<Facts, String> {
    let containers = docker.list_containers(Some(ListContainersOptions {
        all: true,
        size: true,
        ..Default::default()
    }));
    let images = docker.list_images(Some(ListImagesOptions::default()));
    let volumes = docker.list_volumes(None::<ListVolumesOptions>);
    let (containers, images, volumes) = tokio::join!(containers, images, volumes);
    let containers = containers.map_err(|e| format!("listing containers: {e}"))?;
    let images = images.map_err(|e| format!("listing images: {e}"))?;
    let volumes = volumes.map_err(|e| format!("listing volumes: {e}"))?;
    Ok(Facts {
        containers: containers.into_iter().map(container).collect(),
        images: images.into_iter().map(image).collect(),
        volumes: volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(volume)
            .collect(),
    })
}

fn size(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

fn sorted(labels: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    labels.into_iter().collect()
}

fn container(c: ContainerSummary) -> ContainerFact {
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_default();
    ContainerFact {
        id: c.id.unwrap_or_default(),
        name,
        image: c.image.unwrap_or_default(),
        image_id: c.image_id.unwrap_or_default(),
        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        labels: sorted(c.labels.unwrap_or_default()),
        // Asked for, so absent means 0 (Docker omits a zero).
        size: Some(c.size_rw.and_then(size).unwrap_or(0)),
        // Bind mounts have no name; volumes do.
        volumes: c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.name)
            .collect(),
    }
}

fn image(i: ImageSummary) -> ImageFact {
    ImageFact {
        id: i.id,
        parent: i.parent_id,
        // Docker before 1.40 wrote `<none>:<none>` for none.
        tags: i
            .repo_tags
            .into_iter()
            .filter(|t| t != "<none>:<none>")
            .collect(),
        created: i.created,
        size: size(i.size).unwrap_or(0),
        labels: sorted(i.labels),
    }
}

fn volume(v: Volume) -> VolumeFact {
    VolumeFact {
        name: v.name,
        labels: sorted(v.labels),
        // Only some daemons say (most only through `docker system df`).
        size: v.usage_data.and_then(|u| size(u.size)),
    }
}
