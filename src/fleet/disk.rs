//! Docker's own disk usage (`docker system df`), read from `/system/df`.
//! Daemons before API 1.52 answer with lists (images, containers, volumes,
//! build cache) that the docker CLI sums itself; 1.52 and later answer with
//! the totals. Both are read here, summed as the docker CLI sums them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::transport::docker::RawApi;

/// What Docker itself holds on the data root, and what it could free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DockerDisk {
    pub images_bytes: u64,
    pub containers_bytes: u64,
    pub volumes_bytes: u64,
    pub build_cache_bytes: u64,
    /// The four kinds' reclaimable space together.
    pub reclaimable_bytes: u64,
    /// Layers no container's image uses.
    pub images_reclaimable_bytes: u64,
    /// Writable layers of containers that are not running.
    pub containers_reclaimable_bytes: u64,
    /// Volumes no container refers to.
    pub volumes_reclaimable_bytes: u64,
    /// Build cache not in use.
    pub build_cache_reclaimable_bytes: u64,
}

impl DockerDisk {
    /// "images 1.2 GiB (800.0 MiB reclaimable), containers …": for evidence.
    pub fn phrase(&self) -> String {
        use crate::human::bytes;
        let kind = |name: &str, size: u64, free: u64| {
            format!("{name} {} ({} reclaimable)", bytes(size), bytes(free))
        };
        [
            kind("images", self.images_bytes, self.images_reclaimable_bytes),
            kind(
                "containers",
                self.containers_bytes,
                self.containers_reclaimable_bytes,
            ),
            kind(
                "volumes",
                self.volumes_bytes,
                self.volumes_reclaimable_bytes,
            ),
            kind(
                "build cache",
                self.build_cache_bytes,
                self.build_cache_reclaimable_bytes,
            ),
        ]
        .join(", ")
    }

    /// "img 1.2G · ctr 40.0M · vol 3.0G · cache 0B (2.1G free-able)": for a column.
    pub fn compact(&self) -> String {
        use crate::human::bytes_compact as b;
        format!(
            "img {} · ctr {} · vol {} · cache {} ({} free-able)",
            b(self.images_bytes),
            b(self.containers_bytes),
            b(self.volumes_bytes),
            b(self.build_cache_bytes),
            b(self.reclaimable_bytes)
        )
    }
}

/// Reads `/system/df` at the client's API version. The daemon sizes every
/// container's writable layer for it: read it seldom.
pub async fn read(
    docker: &bollard::Docker,
    raw: &RawApi,
    within: Duration,
) -> Result<DockerDisk, String> {
    let path = format!("/v{}/system/df", docker.client_version());
    let body = tokio::time::timeout(within, raw.get(&path))
        .await
        .map_err(|_| format!("/system/df not answered within {}s", within.as_secs()))??;
    parse(&body)
}

/// The daemon's answer, either shape.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    // API >= 1.52: totals.
    image_usage: Option<Usage>,
    container_usage: Option<Usage>,
    volume_usage: Option<Usage>,
    build_cache_usage: Option<Usage>,
    // Before: lists (null where there are none).
    layers_size: Option<i64>,
    images: Option<Vec<Image>>,
    containers: Option<Vec<Container>>,
    volumes: Option<Vec<Volume>>,
    build_cache: Option<Vec<Cache>>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "PascalCase", default)]
struct Usage {
    total_size: i64,
    reclaimable: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Image {
    size: i64,
    shared_size: i64,
    containers: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Container {
    /// Omitted when zero.
    size_rw: i64,
    state: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Volume {
    usage_data: Option<VolumeUsage>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct VolumeUsage {
    /// -1 where the driver cannot tell.
    size: i64,
    ref_count: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Cache {
    size: i64,
    in_use: bool,
    shared: bool,
}

/// A `/system/df` answer of either shape.
pub fn parse(body: &[u8]) -> Result<DockerDisk, String> {
    let a: Answer =
        serde_json::from_slice(body).map_err(|e| format!("unreadable /system/df answer: {e}"))?;
    let totals = [
        a.image_usage,
        a.container_usage,
        a.volume_usage,
        a.build_cache_usage,
    ];
    if totals.iter().any(Option::is_some) {
        // A kind the daemon leaves out (not asked for, no builder) holds nothing.
        let [i, c, v, b] = totals.map(Option::unwrap_or_default);
        return Ok(disk([
            (i.total_size, i.reclaimable),
            (c.total_size, c.reclaimable),
            (v.total_size, v.reclaimable),
            (b.total_size, b.reclaimable),
        ]));
    }
    let Some(layers) = a.layers_size else {
        return Err("the /system/df answer has neither totals nor LayersSize".to_owned());
    };
    Ok(disk([
        images(layers, a.images.as_deref().unwrap_or_default()),
        containers(a.containers.as_deref().unwrap_or_default()),
        volumes(a.volumes.as_deref().unwrap_or_default()),
        build_cache(a.build_cache.as_deref().unwrap_or_default()),
    ]))
}

/// (size, reclaimable) of images, containers, volumes and build cache.
fn disk(kinds: [(i64, i64); 4]) -> DockerDisk {
    let [i, c, v, b] = kinds.map(|(size, free)| (non_negative(size), non_negative(free)));
    DockerDisk {
        images_bytes: i.0,
        containers_bytes: c.0,
        volumes_bytes: v.0,
        build_cache_bytes: b.0,
        reclaimable_bytes: i.1 + c.1 + v.1 + b.1,
        images_reclaimable_bytes: i.1,
        containers_reclaimable_bytes: c.1,
        volumes_reclaimable_bytes: v.1,
        build_cache_reclaimable_bytes: b.1,
    }
}

/// The daemon's -1 ("not known") counts as nothing.
fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// All layers; reclaimable: what no container's image holds on its own
/// (an image with containers keeps its unshared part).
fn images(layers: i64, images: &[Image]) -> (i64, i64) {
    let used: i64 = images
        .iter()
        .filter(|i| i.containers != 0 && i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    (layers, layers - used)
}

/// Writable layers; reclaimable: those of containers not running, paused
/// or restarting.
fn containers(containers: &[Container]) -> (i64, i64) {
    let active = |c: &Container| {
        ["running", "paused", "restarting"]
            .iter()
            .any(|s| c.state.contains(s))
    };
    let size = containers.iter().map(|c| c.size_rw).sum();
    let free = containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| c.size_rw)
        .sum();
    (size, free)
}

/// Volumes of known size; reclaimable: those no container refers to.
fn volumes(volumes: &[Volume]) -> (i64, i64) {
    let known = volumes
        .iter()
        .filter_map(|v| v.usage_data.as_ref())
        .filter(|u| u.size >= 0);
    known.fold((0, 0), |(size, free), u| {
        let unused = if u.ref_count == 0 { u.size } else { 0 };
        (size + u.size, free + unused)
    })
}

/// Records not shared with other builders; reclaimable: those not in use.
fn build_cache(records: &[Cache]) -> (i64, i64) {
    let own = records.iter().filter(|r| !r.shared);
    own.fold((0, 0), |(size, free), r| {
        let idle = if r.in_use { 0 } else { r.size };
        (size + r.size, free + idle)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from the test fleet's Docker 20.10 (API 1.41): five images
    /// over one shared base, six containers without writable data, no
    /// volumes, a null build cache.
    const API_1_41: &str = include_str!("disk/df-api-1.41.json");

    #[test]
    fn a_1_41_answer_sums_as_docker_system_df_does() {
        let d = parse(API_1_41.as_bytes()).expect("parse");
        // `docker system df` there: Images 1.988MB, 1.987MB reclaimable.
        assert_eq!(d.images_bytes, 1_988_263);
        // Three images with containers keep their unshared 798 + 798 + 0 bytes.
        assert_eq!(d.images_reclaimable_bytes, 1_988_263 - 1_596);
        assert_eq!((d.containers_bytes, d.containers_reclaimable_bytes), (0, 0));
        assert_eq!((d.volumes_bytes, d.build_cache_bytes), (0, 0));
        assert_eq!(d.reclaimable_bytes, 1_986_667);
    }

    #[test]
    fn the_older_lists_are_summed_kind_by_kind() {
        let body = r#"{
          "LayersSize": 734003200,
          "Images": [
            {"Id": "sha256:aa", "Containers": 2, "Size": 524288000, "SharedSize": 104857600},
            {"Id": "sha256:bb", "Containers": 0, "Size": 314572800, "SharedSize": 104857600},
            {"Id": "sha256:cc", "Containers": 1, "Size": -1, "SharedSize": -1}
          ],
          "Containers": [
            {"Id": "1", "State": "running", "SizeRw": 40960, "SizeRootFs": 524328960},
            {"Id": "2", "State": "exited", "SizeRw": 8192},
            {"Id": "3", "State": "paused", "SizeRw": 100},
            {"Id": "4", "State": "created"}
          ],
          "Volumes": [
            {"Name": "db", "Driver": "local", "UsageData": {"Size": 3221225472, "RefCount": 1}},
            {"Name": "old", "Driver": "local", "UsageData": {"Size": 1048576, "RefCount": 0}},
            {"Name": "nfs", "Driver": "nfs", "UsageData": {"Size": -1, "RefCount": -1}},
            {"Name": "bare", "Driver": "local", "UsageData": null}
          ],
          "BuildCache": [
            {"ID": "a", "Size": 1000, "InUse": true, "Shared": false},
            {"ID": "b", "Size": 500, "InUse": false, "Shared": false},
            {"ID": "c", "Size": 700, "InUse": false, "Shared": true}
          ],
          "BuilderSize": 2200
        }"#;
        let d = parse(body.as_bytes()).expect("parse");
        assert_eq!(d.images_bytes, 734_003_200);
        assert_eq!(d.images_reclaimable_bytes, 734_003_200 - 419_430_400);
        assert_eq!(
            (d.containers_bytes, d.containers_reclaimable_bytes),
            (49_252, 8_192)
        );
        assert_eq!(
            (d.volumes_bytes, d.volumes_reclaimable_bytes),
            (3_222_274_048, 1_048_576)
        );
        assert_eq!(
            (d.build_cache_bytes, d.build_cache_reclaimable_bytes),
            (1_500, 500)
        );
        assert_eq!(d.reclaimable_bytes, 314_572_800 + 8_192 + 1_048_576 + 500);
    }

    #[test]
    fn a_1_52_answer_gives_the_totals() {
        let body = r#"{
          "ImageUsage": {"ActiveCount": 3, "TotalCount": 5, "Reclaimable": 1986667, "TotalSize": 1988263},
          "ContainerUsage": {"ActiveCount": 5, "TotalCount": 6, "Reclaimable": 12288, "TotalSize": 45056},
          "VolumeUsage": {"ActiveCount": 1, "TotalCount": 2, "Reclaimable": 1048576, "TotalSize": 3145728},
          "BuildCacheUsage": {"ActiveCount": 0, "TotalCount": 12, "Reclaimable": 52428800, "TotalSize": 52428800}
        }"#;
        let d = parse(body.as_bytes()).expect("parse");
        assert_eq!(
            d,
            DockerDisk {
                images_bytes: 1_988_263,
                containers_bytes: 45_056,
                volumes_bytes: 3_145_728,
                build_cache_bytes: 52_428_800,
                reclaimable_bytes: 1_986_667 + 12_288 + 1_048_576 + 52_428_800,
                images_reclaimable_bytes: 1_986_667,
                containers_reclaimable_bytes: 12_288,
                volumes_reclaimable_bytes: 1_048_576,
                build_cache_reclaimable_bytes: 52_428_800,
            }
        );
    }

    #[test]
    fn an_answer_of_neither_shape_says_so() {
        let e = parse(br#"{"message": "page not found"}"#).expect_err("no shape");
        assert!(e.contains("neither totals nor LayersSize"), "{e}");
        let e = parse(b"<html>").expect_err("not JSON");
        assert!(e.contains("unreadable /system/df answer"), "{e}");
    }

    #[test]
    fn phrases_name_every_kind() {
        let d = parse(API_1_41.as_bytes()).expect("parse");
        assert_eq!(
            d.phrase(),
            "images 1.9 MiB (1.9 MiB reclaimable), containers 0 B (0 B reclaimable), \
             volumes 0 B (0 B reclaimable), build cache 0 B (0 B reclaimable)"
        );
        assert_eq!(
            d.compact(),
            "img 1.9M · ctr 0B · vol 0B · cache 0B (1.9M free-able)"
        );
    }
}
