//! File operations on the node's data directory (confined by [`super::confined`]: relative
//! paths only, no `..`, no symbolic link followed) and on locations alike: listings, what may
//! be read, disk usage.

use std::path::Path;

use tokio::sync::mpsc;

use super::confined::{ConfinedError, Dir, Kind};
use super::wire::{DiskUsage, Entry};

/// Why a file operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path does not exist.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// The path was refused (a bad field, a way out of the root) or a call on it failed.
    #[error(transparent)]
    Confined(#[from] ConfinedError),
    /// The operation is not allowed on this path.
    #[error("{path}: {reason}")]
    NotAllowed {
        /// The path given.
        path: String,
        /// Why.
        reason: &'static str,
    },
}

/// Lists a local directory (recursively if asked) into a bounded channel, so a listing of
/// hundreds of thousands of entries is streamed, never held whole. Links are listed as files of
/// size 0 and never descended into.
pub fn list_local(dir: Dir, recursive: bool) -> mpsc::Receiver<Result<Entry, FileError>> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::task::spawn_blocking(move || {
        let mut stack = vec![(dir, String::new())];
        while let Some((current, prefix)) = stack.pop() {
            let entries = match current.entries() {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            for e in entries {
                let rel = format!("{prefix}{}", e.name);
                let is_dir = e.kind == Kind::Dir;
                if is_dir && recursive {
                    match current.open_dir(&e.name) {
                        Ok(sub) => stack.push((sub, format!("{rel}/"))),
                        Err(err) => {
                            let _ = tx.blocking_send(Err(err.into()));
                            return;
                        }
                    }
                }
                let entry = Entry {
                    path: rel,
                    size: e.size,
                    dir: is_dir,
                    modified: None,
                };
                if tx.blocking_send(Ok(entry)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Whether a remote object may be read through the agent: manifests, schema files, checksums
/// and Scylla's per-table manifests (never SSTable data).
pub fn readable_remote(path: &str) -> bool {
    path.starts_with("backup/meta/")
        || path.starts_with("backup/schema/")
        || path.ends_with(".crc32")
        || path.ends_with("manifest.json")
}

/// Whether a local file may be read through the agent: Scylla's snapshot manifest and schema,
/// and checksums.
pub fn readable_local(path: &str) -> bool {
    path.ends_with(".crc32") || path.ends_with("/manifest.json") || path.ends_with("/schema.cql")
}

/// Free and total bytes of the file system holding `dir`.
pub fn disk_usage(dir: &Path) -> std::io::Result<DiskUsage> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = st.f_frsize as u64;
    Ok(DiskUsage::new(
        (st.f_bavail as u64).saturating_mul(block),
        (st.f_blocks as u64).saturating_mul(block),
    ))
}
