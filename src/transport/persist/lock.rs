//! The daemon's lock file, `ctl-HASH.lock` beside its socket. Whoever holds
//! it (an advisory `flock`, released when the holder dies) owns the socket
//! path; the holder writes its pid in it, so that a daemon which no longer
//! answers (stopped, wedged) can be named and ended.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The lock file of the daemon listening on `socket`.
pub fn path(socket: &Path) -> PathBuf {
    socket.with_extension("lock")
}

/// Who holds a lock file.
#[derive(Debug)]
pub enum Holder {
    /// Nobody: the lock is ours while this lives.
    Nobody(File),
    /// Another process, whose pid it wrote (unless it has not yet).
    Other(Option<u32>),
}

/// Takes the lock at `path` if it is free (creating the file, 0600), and
/// then records our pid in it.
pub fn take(path: &Path) -> Result<Holder, String> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Holder::Other(pid_in(path))),
        Err(TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    // Truncated only now: a holder's pid is never erased by a loser.
    let write = |mut f: &File| {
        f.set_len(0)?;
        f.write_all(format!("{}\n", std::process::id()).as_bytes())
    };
    write(&file).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(Holder::Nobody(file))
}

/// The pid last written in the lock file, if any.
pub fn pid_in(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is a persistent-session daemon serving `socket` (not some
/// process that reused the pid of one that died).
/// Asked of POSIX `ps` (Linux and macOS alike; no /proc).
pub fn is_daemon(pid: u32, socket: &Path) -> bool {
    let Ok(out) = std::process::Command::new("ps")
        .args(["-ww", "-o", "args=", "-p", &pid.to_string()])
        .output()
    else {
        return false;
    };
    let args = String::from_utf8_lossy(&out.stdout);
    out.status.success()
        && args
            .split_whitespace()
            .any(|a| a == super::DAEMON_SUBCOMMAND)
        && args.contains(&*socket.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_writes_its_pid_and_others_read_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = path(&dir.path().join("ctl-x.sock"));
        assert!(lock.ends_with("ctl-x.lock"));
        let Holder::Nobody(held) = take(&lock).expect("take") else {
            panic!("a fresh lock is free");
        };
        assert_eq!(pid_in(&lock), Some(std::process::id()));
        // A second open file description conflicts, even in this process.
        match take(&lock).expect("probe") {
            Holder::Other(pid) => assert_eq!(pid, Some(std::process::id())),
            Holder::Nobody(_) => panic!("taken twice"),
        }
        assert_eq!(pid_in(&lock), Some(std::process::id()), "not erased");
        drop(held);
        assert!(matches!(take(&lock), Ok(Holder::Nobody(_))));
    }

    #[test]
    fn only_a_daemon_of_that_socket_is_one() {
        let me = std::process::id();
        assert!(!is_daemon(me, Path::new("/tmp/ctl-x.sock")));
        assert!(!is_daemon(u32::MAX, Path::new("/tmp/ctl-x.sock")));
    }
}
