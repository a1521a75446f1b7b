use super::*;

const A: &str = "574d8732ac168e76b547c56ec7ef5a450d8cc202a5575fff54cbaac5c5f4aa31";
const B: &str = "2936f721ebeeac0fa37172f0f29778cefe6596c1a9827c994993835e2b6f826e";

/// As a cgroup v1 (hybrid) host printed it, trimmed.
fn v1() -> String {
    let cg = |ctl: &str, id: &str| {
        format!("/sys/fs/cgroup/{ctl}/flotilla-testbed-2e5c81cc/fleet-1/{id}")
    };
    format!(
        "@ {A} 17598 ok\n@ {B} 0 gone\n\
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
    let r = parse(&v1()).expect("parses");
    assert_eq!(r.at_s, 34861.94);
    assert_eq!(
        r.stale,
        vec![B.to_owned()],
        "a PID that is not the container's"
    );
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
        "@ {A} 42 ok\n/proc/uptime:100.50 1.0\n\
{p}/cpu.stat:usage_usec 2500000\n{p}/memory.current:10485760\n\
{p}/memory.stat:inactive_file 1048576\n{p}/memory.max:536870912\n\
{p}/io.stat:254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n\
{p}/io.stat:8:0 rbytes=1 wbytes=2\n"
    );
    let r = parse(&out).expect("parses");
    let c = r.containers[A];
    assert_eq!(c.cpu_ns, Some(2_500_000_000));
    assert_eq!(c.mem_bytes, Some(10485760 - 1048576));
    assert_eq!(c.mem_limit, Some(536870912));
    assert_eq!((c.io_read, c.io_write), (101, 202));
    let unlimited = out.replace("memory.max:536870912", "memory.max:max");
    assert_eq!(
        parse(&unlimited).expect("parses").containers[A].mem_limit,
        None
    );
}

#[test]
fn output_without_the_hosts_clock_is_an_error_that_quotes_it() {
    let err = parse("sh: grep: not found\n").expect_err("no uptime");
    assert!(err.contains("grep: not found"), "{err}");
}

#[test]
fn the_script_lists_each_target_and_execs_one_grep() {
    let s = script(&[(A.to_owned(), 17598), (B.to_owned(), 7)]);
    assert!(s.starts_with(&format!("set -- {A}:17598 {B}:7\n")), "{s}");
    assert_eq!(s.matches("grep -sHE").count(), 1);
    assert!(s.contains("-e '^usage_usec '"), "patterns are quoted: {s}");
}

#[test]
fn the_looping_script_ends_each_frame_and_reads_targets_from_stdin() {
    let s = looping_script();
    assert!(s.contains("while read -r line; do set -- $line\n"), "{s}");
    assert!(s.trim_end().ends_with("echo @end; done"), "{s}");
    assert!(!s.contains("exec grep"), "the loop must outlive a frame");
}
