use super::script::{files_from_paths, looping_script, paths_command, reading_command};
use super::*;

const A: &str = "574d8732ac168e76b547c56ec7ef5a450d8cc202a5575fff54cbaac5c5f4aa31";
const B: &str = "2936f721ebeeac0fa37172f0f29778cefe6596c1a9827c994993835e2b6f826e";

/// As a cgroup v1 (hybrid) host printed it, trimmed.
fn v1() -> String {
    let cg = |ctl: &str, id: &str| {
        format!("/sys/fs/cgroup/{ctl}/flotilla-testbed-2e5c81cc/fleet-1/{id}")
    };
    format!(
        "\
/proc/uptime:34861.94 40733.58\n\
/proc/loadavg:3.26 1.96 2.31 3/376 30687\n\
/proc/stat:cpu  2060757 25133 682860 4073358 33489 0 10186 974 0 0\n\
/proc/meminfo:MemTotal:       24683792 kB\n\
/proc/meminfo:MemAvailable:   22128944 kB\n\
{blk}/blkio.throttle.io_service_bytes:8:0 Read 4096\n\
{blk}/blkio.throttle.io_service_bytes:8:0 Write 8192\n\
{blk}/blkio.throttle.io_service_bytes:8:0 Total 12288\n\
{blk}/blkio.throttle.io_service_bytes:Total 12288\n\
{mem}/memory.usage_in_bytes:479232\n\
{mem}/memory.stat:inactive_file 4096\n\
{mem}/memory.stat:total_inactive_file 8192\n\
{mem}/memory.limit_in_bytes:9223372036854771712\n\
{cpu}/cpuacct.usage:3384327013\n\
{uni}/cpu.stat:usage_usec 3384322\n\
/proc/17598/net/dev:    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n\
/proc/17598/net/dev:  eth0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0\n",
        blk = cg("blkio", A),
        mem = cg("memory", A),
        cpu = cg("cpuacct", A),
        uni = cg("unified", A),
    )
}

#[test]
fn reads_cgroup_v1_counters_and_the_hosts_own() {
    let r = parse(&v1(), &pids(&[("17598", A), ("7", B)])).expect("parses");
    assert_eq!(r.at_s, 34861.94);
    assert_eq!(r.stale, vec![B.to_owned()], "no net/dev: its PID is gone");
    assert!(!r.containers.contains_key(B));
    assert_eq!(r.host.load1, 3.26);
    assert_eq!(r.host.mem_total, 24683792 * 1024);
    assert_eq!(r.host.mem_available, 22128944 * 1024);
    let all = 2060757 + 25133 + 682860 + 4073358 + 33489 + 10186 + 974;
    assert_eq!(r.host.cpu_all, all);
    assert_eq!(r.host.cpu_busy, all - 4073358 - 33489);
    let c = r.containers[A];
    assert_eq!(c.cpu_ns, Some(3384327013), "cpuacct before cpu.stat");
    assert_eq!(
        c.mem_bytes,
        Some(479232 - 8192),
        "usage minus total_inactive_file"
    );
    assert_eq!(c.mem_limit, None, "v1's 'unlimited'");
    assert_eq!((c.net_rx, c.net_tx), (1000, 2000), "loopback left out");
    assert_eq!(
        (c.io_read, c.io_write),
        (4096, 8192),
        "Total lines left out"
    );
}

#[test]
fn reads_cgroup_v2_counters() {
    let p = format!("/sys/fs/cgroup/system.slice/docker-{A}.scope");
    let out = format!(
        "/proc/uptime:100.50 1.0\n/proc/42/net/dev:    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
{p}/cpu.stat:usage_usec 2500000\n{p}/memory.current:10485760\n\
{p}/memory.stat:inactive_file 1048576\n{p}/memory.max:536870912\n\
{p}/io.stat:254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n\
{p}/io.stat:8:0 rbytes=1 wbytes=2\n"
    );
    let r = parse(&out, &pids(&[("42", A)])).expect("parses");
    assert!(r.stale.is_empty(), "loopback alone says the PID lives");
    let c = r.containers[A];
    assert_eq!(c.cpu_ns, Some(2_500_000_000));
    assert_eq!(c.mem_bytes, Some(10485760 - 1048576));
    assert_eq!(c.mem_limit, Some(536870912));
    assert_eq!((c.io_read, c.io_write), (101, 202));
    let unlimited = out.replace("memory.max:536870912", "memory.max:max");
    let r = parse(&unlimited, &pids(&[("42", A)])).expect("parses");
    assert_eq!(r.containers[A].mem_limit, None);
}

#[test]
fn output_without_the_hosts_clock_is_an_error_that_quotes_it() {
    let err = parse("sh: grep: not found\n", &HashMap::new()).expect_err("no uptime");
    assert!(err.contains("grep: not found"), "{err}");
}

fn pids(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(p, id)| ((*p).to_owned(), (*id).to_owned()))
        .collect()
}

#[test]
fn counter_files_come_from_each_pids_cgroup_lines_once() {
    let cg = format!("/flotilla-testbed-2e5c81cc/fleet-1/{A}");
    let out = format!(
        "/proc/17598/cgroup:9:name=systemd:{cg}\n/proc/17598/cgroup:4:memory:{cg}\n\
/proc/17598/cgroup:2:cpu,cpuacct:{cg}\n/proc/17598/cgroup:7:blkio:{cg}\n\
/proc/17598/cgroup:0::{cg}\n/proc/7/cgroup:0::/user.slice/session-1.scope\n"
    );
    let targets = [(A.to_owned(), 17598), (B.to_owned(), 7)];
    let files = files_from_paths(&out, &targets);
    assert!(!files.contains_key(B), "PID 7 is not B's any more");
    let a: Vec<&str> = files[A].split_whitespace().collect();
    assert_eq!(
        a,
        [
            "/proc/17598/net/dev".to_owned(),
            format!("/sys/fs/cgroup/memory{cg}/memory.usage_in_bytes"),
            format!("/sys/fs/cgroup/memory{cg}/memory.stat"),
            format!("/sys/fs/cgroup/memory{cg}/memory.limit_in_bytes"),
            format!("/sys/fs/cgroup/cpu,cpuacct{cg}/cpuacct.usage"),
            format!("/sys/fs/cgroup/blkio{cg}/blkio.throttle.io_service_bytes"),
            format!("/sys/fs/cgroup/unified{cg}/cpu.stat"),
            format!("/sys/fs/cgroup/unified{cg}/memory.current"),
            format!("/sys/fs/cgroup/unified{cg}/memory.stat"),
            format!("/sys/fs/cgroup/unified{cg}/memory.max"),
            format!("/sys/fs/cgroup/unified{cg}/io.stat"),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
    );
    let v2 = format!("@v2\n/proc/9/cgroup:0::/system.slice/docker-{A}.scope\n");
    let files = files_from_paths(&v2, &[(A.to_owned(), 9)]);
    assert!(
        files[A].contains(&format!(
            " /sys/fs/cgroup/system.slice/docker-{A}.scope/cpu.stat"
        )),
        "a v2 host's own mount: {}",
        files[A]
    );
}

#[test]
fn commands_are_one_grep_each_and_the_loop_answers_every_line() {
    let paths = paths_command(&[17598, 7]);
    assert!(
        paths.ends_with("grep -sH '' /proc/17598/cgroup /proc/7/cgroup"),
        "{paths}"
    );
    let reading = reading_command(" /a /b");
    assert!(reading.starts_with("grep -sHE -e '^[0-9]+$'"), "{reading}");
    assert!(reading.ends_with("/proc/meminfo /a /b"), "{reading}");
    let s = looping_script();
    assert!(s.contains("while IFS= read -r l; do case $l in\n"), "{s}");
    assert!(s.contains("S*) F=${l#S} ;;"), "{s}");
    assert!(s.trim_end().ends_with("esac; echo @end; done"), "{s}");
    assert_eq!(s.matches("grep ").count(), 2, "{s}");
}
