//! End-to-end: host vitals over the SSH session equal what this machine's
//! /proc and statvfs say (the test fleet's hosts share this kernel).

mod common;

use std::process::Command;

use common::{Testbed, flotilla, json, run};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn meminfo(key: &str) -> u64 {
    sh(&format!("awk '/^{key}:/ {{print $2}}' /proc/meminfo"))
        .parse::<u64>()
        .expect("meminfo")
        * 1024
}

#[test]
fn vitals_match_proc_and_statvfs() {
    let tb = Testbed::get();
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["hosts", "--json", "--host", "fleet-2"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = json(&out.stdout);
    let v = &rows[0]["vitals"];
    assert!(v.is_object(), "{rows:#}");
    assert!(rows[0]["vitals_error"].is_null());

    let root = tb
        .docker("fleet-2", &["info", "-f", "{{.DockerRootDir}}"])
        .trim()
        .to_owned();
    assert_eq!(v["docker_root"], root.as_str());
    assert_eq!(v["cpus"].as_u64(), sh("nproc").parse::<u64>().ok());
    assert_eq!(v["mem_total_bytes"].as_u64(), Some(meminfo("MemTotal")));
    let total = meminfo("MemTotal") as f64;
    let avail = v["mem_available_bytes"].as_f64().expect("mem available");
    assert!(
        (avail - meminfo("MemAvailable") as f64).abs() < total * 0.05,
        "{avail} vs {}",
        meminfo("MemAvailable")
    );
    let load: Vec<f64> = sh("cat /proc/loadavg")
        .split_whitespace()
        .take(2)
        .filter_map(|s| s.parse().ok())
        .collect();
    let load1 = v["load1"].as_f64().expect("load1");
    assert!((load1 - load[0]).abs() < 2.0, "{load1} vs {}", load[0]);
    let uptime: f64 = sh("cut -d' ' -f1 /proc/uptime").parse().expect("uptime");
    let up = v["uptime_s"].as_f64().expect("uptime_s");
    assert!((up - uptime).abs() < 10.0, "{up} vs {uptime}");
    // The testbed installs Compose v1; the hosts see this machine's binaries.
    let v1 = !sh("command -v docker-compose").is_empty();
    assert!(v1, "the testbed installs docker-compose");
    let compose: Vec<&str> = v["compose"]
        .as_array()
        .expect("compose list")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert!(compose.contains(&"docker-compose"), "{compose:?}");

    // statvfs of the data root: fundamental block size, total and available blocks.
    let fs: Vec<u64> = sh(&format!("stat -f -c '%S %b %a' '{root}'"))
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let (bsize, blocks, avail_blocks) = (fs[0], fs[1], fs[2]);
    let disk_total = v["disk_total_bytes"].as_u64().expect("disk total");
    let disk_free = v["disk_free_bytes"].as_u64().expect("disk free");
    // df reports KiB: within one KiB of statvfs for the size.
    assert!(
        disk_total.abs_diff(blocks * bsize) <= 1024,
        "{disk_total} vs {}",
        blocks * bsize
    );
    // Free space moves while other builds run: within 1 GiB.
    assert!(
        disk_free.abs_diff(avail_blocks * bsize) < 1 << 30,
        "{disk_free} vs {}",
        avail_blocks * bsize
    );
}

/// The daemon's own `LayersSize` (API 1.41's /system/df), over its socket.
fn layers_size(socket: &std::path::Path) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("socket");
    s.write_all(b"GET /v1.41/system/df HTTP/1.0\r\nHost: docker\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    let body = answer.split_once("\r\n\r\n").expect("head and body").1;
    json(body)["LayersSize"].as_u64().expect("LayersSize")
}

#[test]
fn every_host_carries_dockers_disk_usage() {
    let tb = Testbed::get();
    let hosts = tb.host_names();
    // Another test may pull or remove an image meanwhile: before or after.
    let before: Vec<u64> = hosts.iter().map(|h| layers_size(&tb.socket(h))).collect();
    let mut cmd = flotilla();
    cmd.arg("--config")
        .arg(tb.config())
        .args(["hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = json(&out.stdout);
    for (i, host) in hosts.iter().enumerate() {
        let row = rows
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == host.as_str()))
            .expect("host row");
        let d = &row["docker_disk"];
        assert!(row["docker_disk_error"].is_null(), "{row:#}");
        let images = d["images_bytes"].as_u64().expect("images_bytes");
        let after = layers_size(&tb.socket(host));
        assert!(images > 0, "{row:#}");
        assert!(
            images == before[i] || images == after,
            "{images} vs {}/{after}",
            before[i]
        );
        let reclaimable = d["reclaimable_bytes"].as_u64().expect("reclaimable_bytes");
        let kinds = ["images", "containers", "volumes", "build_cache"].map(|k| {
            d[format!("{k}_reclaimable_bytes")]
                .as_u64()
                .expect("per kind")
        });
        assert_eq!(reclaimable, kinds.iter().sum::<u64>(), "{d:#}");
        assert!(kinds[0] <= images, "{d:#}");
        assert!(row["vitals"].get("docker_disk").is_none(), "shown once");
    }
}

#[test]
fn a_local_host_has_no_vitals_and_says_why() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::write(
        dir.path(),
        "flotilla.toml",
        &format!(
            "[[host]]\nname = \"here\"\naddress = \"local\"\ndocker_socket = \"{}\"\n",
            tb.socket("fleet-1").display()
        ),
    );
    let mut cmd = flotilla();
    cmd.arg("--config").arg(&config).args(["hosts", "--json"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = json(&out.stdout);
    assert!(rows[0]["vitals"].is_null(), "{rows:#}");
    assert!(
        rows[0]["vitals_error"]
            .as_str()
            .is_some_and(|e| e.contains("over SSH only")),
        "{rows:#}"
    );
    // Docker's disk usage comes through the Docker API: local hosts too.
    let images = rows[0]["docker_disk"]["images_bytes"].as_u64();
    assert!(images.is_some_and(|b| b > 0), "{rows:#}");
}
