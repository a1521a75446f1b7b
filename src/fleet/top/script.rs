//! What runs on the host: the commands that read counters, and the file
//! lists built once per container start from its cgroup lines.

use std::collections::HashMap;

/// The lines `grep` keeps: single numbers (cpuacct.usage, memory.current …),
/// `max`, the memory.stat and cpu.stat keys used, block device lines,
/// interface lines, and the host's own /proc files.
const KEEP: &[&str] = &[
    "^[0-9]+$",
    "^max$",
    "^(total_)?inactive_file ",
    "^usage_usec ",
    "^[0-9]+:[0-9]+ ",
    "^Total ",
    "^ *[a-z0-9@._-]+: *[0-9]",
    "^cpu ",
    "^Mem(Total|Available):",
    "^[0-9.]+ [0-9.]+$",
    "^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+/",
];

/// The host's own files, read with every reading.
const HOST_FILES: &str = "/proc/uptime /proc/loadavg /proc/stat /proc/meminfo";

/// The end of an answer on the pipe.
pub const END: &str = "@end";

/// Says the host mounts cgroup v2 at /sys/fs/cgroup (else v2 files live
/// under /sys/fs/cgroup/unified, on hybrid hosts).
const V2: &str = "@v2";

fn keep_args() -> String {
    KEEP.iter()
        .map(|k| format!(" -e {}", crate::quote::sh(k)))
        .collect()
}

/// The long-running script. Each line of stdin is answered, then `@end`:
/// `S FILES…` remembers the files of a reading (sent when the containers
/// change), `P PIDS…` prints those PIDs' cgroup lines, an empty line is one
/// reading. A reading thus costs the host one `grep` and no new session,
/// shell or login; the shell reads one byte for it. Ends when stdin closes.
pub fn looping_script() -> String {
    format!(
        "F=\nwhile IFS= read -r l; do case $l in\n\
         S*) F=${{l#S}} ;;\n\
         P*) {} ;;\n\
         *) grep -sHE{} {HOST_FILES} $F ;;\n\
         esac; echo {END}; done\n",
        paths_body("${l#P}"),
        keep_args()
    )
}

fn paths_body(files: &str) -> String {
    format!("[ -e /sys/fs/cgroup/cgroup.controllers ] && echo {V2}; grep -sH '' {files}")
}

/// One exec that prints the cgroup lines of `pids` (no pipe).
pub fn paths_command(pids: &[i64]) -> String {
    paths_body(cgroup_files(pids).trim_start())
}

/// The `P` line of the pipe for `pids`.
pub fn paths_line(pids: &[i64]) -> String {
    format!("P{}", cgroup_files(pids))
}

fn cgroup_files(pids: &[i64]) -> String {
    pids.iter().map(|p| format!(" /proc/{p}/cgroup")).collect()
}

/// One exec that reads `files` (no pipe).
pub fn reading_command(files: &str) -> String {
    format!("grep -sHE{} {HOST_FILES}{files}", keep_args())
}

/// Each container's counter files from its PID's cgroup lines
/// (`/proc/PID/cgroup:N:CONTROLLERS:PATH`); `targets` are (id, PID). A
/// container whose lines do not name its id has a PID that moved on:
/// it is left out (the caller looks the PID up again).
pub fn files_from_paths(out: &str, targets: &[(String, i64)]) -> HashMap<String, String> {
    let v2 = out.lines().any(|l| l == V2);
    let unified = if v2 {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/unified"
    };
    let mut files: HashMap<String, String> = HashMap::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("/proc/") else {
            continue;
        };
        let Some((pid, rest)) = rest.split_once("/cgroup:") else {
            continue;
        };
        let mut f = rest.splitn(3, ':');
        let (Some(_), Some(ctl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some((id, _)) = targets
            .iter()
            .find(|(id, p)| p.to_string() == pid && path.contains(id.as_str()))
        else {
            continue;
        };
        let these: Vec<String> = match ctl {
            "" => [
                "cpu.stat",
                "memory.current",
                "memory.stat",
                "memory.max",
                "io.stat",
            ]
            .iter()
            .map(|f| format!("{unified}{path}/{f}"))
            .collect(),
            c if c.split(',').any(|c| c == "cpuacct") => {
                vec![format!("/sys/fs/cgroup/{c}{path}/cpuacct.usage")]
            }
            "memory" => [
                "memory.usage_in_bytes",
                "memory.stat",
                "memory.limit_in_bytes",
            ]
            .iter()
            .map(|f| format!("/sys/fs/cgroup/memory{path}/{f}"))
            .collect(),
            "blkio" => vec![format!(
                "/sys/fs/cgroup/blkio{path}/blkio.throttle.io_service_bytes"
            )],
            _ => continue,
        };
        let entry = files
            .entry(id.clone())
            .or_insert_with(|| format!(" /proc/{pid}/net/dev"));
        for f in these {
            entry.push(' ');
            entry.push_str(&f);
        }
    }
    files
}
