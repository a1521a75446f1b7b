//! Persistent sessions, like OpenSSH's ControlPersist: a background flotilla
//! process holds one SSH session per host and hands out channels to the
//! hosts' Docker APIs over a private unix socket, so a repeated headless
//! command costs one round trip per host instead of a handshake.
//!
//! The socket lives in `$XDG_RUNTIME_DIR/flotilla/` (else `/tmp/flotilla-UID/`),
//! a directory of mode 0700 owned by us; the socket is 0600, and the daemon
//! serves only peers with our uid. Its name is a hash of everything that
//! determines the connections, so a changed inventory or ssh_config gets a
//! daemon of its own.

pub mod client;
pub mod lock;
pub mod server;
pub mod wire;

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::{Inventory, Target};

pub use client::{Client, OpenError};

/// The hidden subcommand the daemon runs as (a re-exec of this binary).
pub const DAEMON_SUBCOMMAND: &str = "persist-daemon";

/// The daemon's exit status when another daemon holds the lock (the CLI's
/// "refused"): if that one does not answer, its starter gives up at once.
pub const LOCK_HELD_EXIT: i32 = 6;

/// Our real uid: the owner the socket directory and every peer must have.
pub fn my_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// `$XDG_RUNTIME_DIR/flotilla`, else `/tmp/flotilla-UID`.
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        Some(runtime) => runtime.join("flotilla"),
        None => PathBuf::from(format!("/tmp/flotilla-{}", my_uid())),
    }
}

/// Why the persistent-session daemon cannot be used, as its callers
/// outside this module see it: they connect directly (with a warning) or
/// report it.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The inventory or the socket directory cannot be used for a daemon.
    #[error("{0}")]
    Unusable(String),
    /// Starting, reaching, serving or stopping the daemon failed.
    #[error("{0}")]
    Daemon(String),
}

/// Creates `dir` with mode 0700 if missing, then checks that it is a real
/// directory (not a symlink), owned by us, and closed to everybody else: in
/// a shared /tmp somebody else may have made it first.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    check_private_dir(dir)
}

/// See [`ensure_private_dir`]; checks only.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.file_type().is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if meta.uid() != my_uid() {
        return Err(format!(
            "{} belongs to uid {}, not to us (uid {}); refusing to use it",
            dir.display(),
            meta.uid(),
            my_uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has mode {mode:03o}; it must be closed to others (0700)",
            dir.display()
        ));
    }
    Ok(())
}

/// The control socket for this inventory in `dir`: `ctl-HASH.sock`.
pub fn socket_path(dir: &Path, inventory: &Inventory) -> Result<PathBuf, String> {
    // A daemon speaking another protocol has another socket: never asked.
    let version = format!("{} {}", env!("CARGO_PKG_VERSION"), wire::PROTOCOL);
    let hash = inventory_hash(inventory, &version)?;
    Ok(dir.join(format!("ctl-{hash}.sock")))
}

/// Whether any host is reached over SSH (only those go through the daemon).
pub fn has_ssh_hosts(inventory: &Inventory) -> bool {
    inventory
        .hosts
        .iter()
        .any(|h| matches!(h.target, Target::Ssh { .. }))
}

/// A hash of what determines the connections: flotilla's version, the
/// inventory file and the ssh_config it read (paths and contents), and every
/// host as resolved (addresses, users, jump hosts, ProxyCommands, identity
/// and known_hosts paths). 20 hex digits keep socket paths short.
fn inventory_hash(inventory: &Inventory, version: &str) -> Result<String, String> {
    let mut h = Sha256::new();
    let mut part = |label: &str, bytes: &[u8]| {
        // Length-prefixed, so no two different inputs hash alike.
        h.update(label.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part("version", version.as_bytes());
    for file in inventory.source.iter().chain(&inventory.ui.ssh_config_file) {
        part("file", file.as_os_str().as_encoded_bytes());
        let text =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        part("content", &text);
    }
    let hosts = serde_json::to_vec(&inventory.hosts)
        .map_err(|e| format!("cannot encode the inventory: {e}"))?;
    part("hosts", &hosts);
    let digest = h.finalize();
    Ok(digest.iter().take(10).map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(dir: &Path, text: &str) -> Inventory {
        let path = dir.join("fleet.toml");
        std::fs::write(&path, text).expect("write inventory");
        let env = crate::config::Env {
            home: dir.to_path_buf(),
            xdg_config_home: None,
            docker_host: None,
            user: Some("me".into()),
            default_docker_socket: dir.join("docker.sock"),
            global_known_hosts: dir.join("ssh_known_hosts"),
        };
        crate::config::parse_str(text, &path, &env).expect("inventory parses")
    }

    const FLEET: &str = "ssh_config = \"none\"\n[[host]]\nname = \"a\"\naddress = \"10.0.0.1\"\n";

    #[test]
    fn the_socket_name_follows_the_inventory_and_the_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = inventory(dir.path(), FLEET);
        let hash = inventory_hash(&one, "1.0").expect("hash");
        assert_eq!(hash.len(), 20);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        // Stable for the same inputs.
        assert_eq!(inventory_hash(&one, "1.0").expect("hash"), hash);
        // Another flotilla version gets another daemon.
        assert_ne!(inventory_hash(&one, "1.1").expect("hash"), hash);
        // A comment changes the file, so the name, though not the hosts.
        let commented = inventory(dir.path(), &format!("# note\n{FLEET}"));
        assert_ne!(inventory_hash(&commented, "1.0").expect("hash"), hash);
        // So does a different address.
        let moved = inventory(dir.path(), &FLEET.replace("10.0.0.1", "10.0.0.2"));
        assert_ne!(inventory_hash(&moved, "1.0").expect("hash"), hash);
        let path = socket_path(Path::new("/run/x"), &one).expect("path");
        assert!(path.to_string_lossy().starts_with("/run/x/ctl-"));
    }

    #[test]
    fn an_ssh_config_edit_changes_the_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ssh = dir.path().join("ssh_config");
        std::fs::write(&ssh, "Host a\n  Port 2201\n").expect("write");
        let text = format!(
            "ssh_config = \"{}\"\n[[host]]\nname = \"a\"\naddress = \"a\"\n",
            ssh.display()
        );
        let before = inventory_hash(&inventory(dir.path(), &text), "1").expect("hash");
        // A comment only: the resolved hosts are the same, the file is not.
        std::fs::write(&ssh, "# moved\nHost a\n  Port 2201\n").expect("write");
        let after = inventory_hash(&inventory(dir.path(), &text), "1").expect("hash");
        assert_ne!(before, after);
    }

    #[test]
    fn the_directory_is_made_private_and_checked() {
        let base = tempfile::tempdir().expect("tempdir");
        let dir = base.path().join("flotilla");
        ensure_private_dir(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Opened up by somebody: refused, not repaired silently.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = ensure_private_dir(&dir).expect_err("open dir refused");
        assert!(err.contains("0700"), "{err}");
        // A symlink to a private directory is refused too.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        assert!(check_private_dir(&link).is_err());
    }
}
