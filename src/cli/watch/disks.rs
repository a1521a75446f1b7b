//! Docker's disk usage in `watch`: read along with a vitals read, but for a
//! host only every `DISK_EVERY` (the daemon sizes every container for it),
//! and at once when the host's disk pressure begins, so that the finding's
//! evidence has it. The last read stays with the host's vitals in between.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::Vitals;
use crate::fleet::disk::DockerDisk;
use crate::ops::triage::disk_pressure;

/// How often a host's disk usage is read while it is not newly short of space.
pub const DISK_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
pub struct Disks {
    /// Each host's last read (figures or why not), and when.
    last: BTreeMap<String, (Result<DockerDisk, String>, Instant)>,
    /// Hosts short of disk space at the last vitals read.
    pressed: BTreeSet<String>,
}

/// Which hosts a vitals read should read the disk usage of.
#[derive(Debug, Clone)]
pub struct Plan {
    fresh: BTreeSet<String>,
    pressed: BTreeSet<String>,
}

impl Plan {
    /// No read within `DISK_EVERY`, or disk pressure that was not there before.
    pub fn wants(&self, host: &str, v: &crate::fleet::vitals::Vitals) -> bool {
        !self.fresh.contains(host) || (disk_pressure(v) && !self.pressed.contains(host))
    }
}

impl Disks {
    pub fn plan(&self, now: Instant) -> Plan {
        Plan {
            fresh: self
                .last
                .iter()
                .filter(|(_, (_, at))| now.duration_since(*at) < DISK_EVERY)
                .map(|(h, _)| h.clone())
                .collect(),
            pressed: self.pressed.clone(),
        }
    }

    /// Takes a vitals read: remembers the disk usage read with it, and gives
    /// every other host its last one.
    pub fn merge(&mut self, vitals: &mut Vitals, now: Instant) {
        for (host, v) in vitals.iter_mut() {
            match &v.docker_disk {
                Some(read) => {
                    self.last.insert(host.clone(), (read.clone(), now));
                }
                None => v.docker_disk = self.last.get(host).map(|(read, _)| read.clone()),
            }
        }
        self.pressed = vitals
            .iter()
            .filter(|(_, v)| disk_pressure(v))
            .map(|(h, _)| h.clone())
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::vitals::Vitals as HostVitals;

    fn vitals(free_gib: u64, disk: Option<Result<DockerDisk, String>>) -> HostVitals {
        let gib = 1u64 << 30;
        HostVitals {
            load1: 0.1,
            load5: 0.1,
            cpus: 2,
            mem_total_bytes: 8 * gib,
            mem_available_bytes: 4 * gib,
            disk_total_bytes: 100 * gib,
            disk_free_bytes: free_gib * gib,
            docker_root: "/var/lib/docker".into(),
            uptime_s: 60,
            docker_disk: disk,
            compose: Vec::new(),
        }
    }

    fn read(images: u64) -> Option<Result<DockerDisk, String>> {
        Some(Ok(DockerDisk {
            images_bytes: images,
            ..DockerDisk::default()
        }))
    }

    #[test]
    fn read_every_ten_minutes_and_when_pressure_begins() {
        let t0 = Instant::now();
        let mut disks = Disks::default();
        let roomy = vitals(50, None);
        let full = vitals(1, None);
        assert!(disks.plan(t0).wants("h", &roomy), "never read");
        let mut got: Vitals = [("h".to_owned(), vitals(50, read(7)))].into();
        disks.merge(&mut got, t0);

        let t1 = t0 + Duration::from_secs(60);
        let plan = disks.plan(t1);
        assert!(!plan.wants("h", &roomy), "read a minute ago");
        assert!(plan.wants("h", &full), "pressure begins");
        let mut got: Vitals = [("h".to_owned(), vitals(1, None))].into();
        disks.merge(&mut got, t1);
        assert_eq!(got["h"].docker_disk, read(7), "the last read carried over");
        assert!(!disks.plan(t1).wants("h", &full), "pressure went on");

        let t2 = t0 + DISK_EVERY;
        assert!(disks.plan(t2).wants("h", &full), "ten minutes on");
        let mut got: Vitals = [("h".to_owned(), vitals(1, Some(Err("timed out".into()))))].into();
        disks.merge(&mut got, t2);
        assert!(!disks.plan(t2).wants("h", &full), "a failed read waits too");
        let mut got: Vitals = [("h".to_owned(), vitals(1, None))].into();
        disks.merge(&mut got, t2);
        assert_eq!(got["h"].docker_disk, Some(Err("timed out".into())));
    }
}
