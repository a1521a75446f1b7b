//! What flotilla keeps about a fleet (kept logs, the audit trail, its own
//! logs, remembered API versions) can hold credentials from raw log lines:
//! files are created 0600 in directories created 0700, with those modes from
//! the start rather than a chmod after (which leaves a window).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// flotilla's state directory: `$XDG_STATE_HOME/flotilla`, by default
/// `~/.local/state/flotilla`; `None` without a home.
pub fn state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))
        .map(|s| s.join("flotilla"))
}

/// The audit log: `FLOTILLA_AUDIT_LOG`, else `audit.jsonl` in the state
/// directory (in `.` without a home). What else flotilla keeps lies beside it.
pub fn audit_log_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FLOTILLA_AUDIT_LOG") {
        return PathBuf::from(p);
    }
    state_file("audit.jsonl")
}

/// A file in the state directory (in `./flotilla` without a home).
pub fn state_file(name: &str) -> PathBuf {
    state_dir()
        .unwrap_or_else(|| PathBuf::from("flotilla"))
        .join(name)
}

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents, each 0700. Directories that exist
/// keep their mode (it may be a shared one the user chose, like /tmp).
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Opens `path` for appending, created 0600 (its directory 0700). A file
/// an older flotilla left open to others is closed to them.
pub fn append(path: &Path) -> std::io::Result<File> {
    parent(path)?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)?;
    close_to_others(&file)?;
    Ok(file)
}

/// Writes `path` whole, created 0600 (its directory 0700).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    parent(path)?;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    close_to_others(&file)?;
    file.write_all(bytes)
}

/// Like [`write`], but readers see the old content or the new, never half:
/// written beside `path`, then renamed over it.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => create_dir_all(dir),
        _ => Ok(()),
    }
}

fn close_to_others(file: &File) -> std::io::Result<()> {
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn files_and_new_directories_are_private_from_the_start() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("a/b/audit.jsonl");
        append(&file).expect("append");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
        let kept = tmp.path().join("c/kept.log");
        write(&kept, b"password=x\n").expect("write");
        assert_eq!(mode(&kept), 0o600);
        assert_eq!(mode(&tmp.path().join("c")), 0o700);
    }

    #[test]
    fn an_old_open_file_is_closed_and_a_shared_directory_left_alone() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod dir");
        let file = tmp.path().join("audit.jsonl");
        std::fs::write(&file, "old\n").expect("old file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        append(&file).expect("append");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(tmp.path()), 0o755);
    }
}
