//! The node's data directory as the agent exposes it: every path is relative to it and must
//! resolve inside it (no absolute paths, no `..`, no symlink that leads out), plus the file
//! operations that work on it and on locations alike.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use tokio::sync::mpsc;

/// Why a file operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path does not exist.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// The path would leave the data directory.
    #[error("path {path:?} is refused: {reason}")]
    Escape {
        /// The path given.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The operation is not allowed on this path.
    #[error("{path}: {reason}")]
    NotAllowed {
        /// The path given.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A file system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The data directory, canonicalised, that every local path must stay inside.
#[derive(Debug, Clone)]
pub struct LocalRoot {
    /// Canonical absolute path of the data directory.
    root: PathBuf,
}

impl LocalRoot {
    /// The root at `dir`, which must exist.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        Ok(LocalRoot {
            root: dir.canonicalize()?,
        })
    }

    /// The canonical data directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Resolves a path relative to the data directory, refusing any that would leave it.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, FileError> {
        let refuse = |reason| FileError::Escape {
            path: rel.to_string(),
            reason,
        };
        let p = Path::new(rel);
        if p.is_absolute() {
            return Err(refuse(
                "absolute paths are not accepted; give a path relative to the data directory",
            ));
        }
        for c in p.components() {
            match c {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => return Err(refuse("'..' is not accepted")),
                _ => return Err(refuse("not a plain relative path")),
            }
        }
        let joined = self.root.join(p);
        // The deepest existing ancestor, with symlinks resolved, must still be inside the root.
        let mut existing = joined.as_path();
        while !existing.exists() {
            existing = existing.parent().unwrap_or(&self.root);
        }
        let real = existing.canonicalize().map_err(|source| FileError::Io {
            op: "resolve",
            path: rel.to_string(),
            source,
        })?;
        if !real.starts_with(&self.root) {
            return Err(refuse(
                "it leads outside the data directory (through a symbolic link)",
            ));
        }
        match joined.strip_prefix(existing) {
            Ok(rest) if !rest.as_os_str().is_empty() => Ok(real.join(rest)),
            // Joining an empty rest would add a trailing slash, which files do not take.
            _ => Ok(real),
        }
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the listed directory.
    pub path: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Whether the entry is a directory.
    pub dir: bool,
}

/// Lists a local directory (recursively if asked) into a bounded channel, so a listing of
/// hundreds of thousands of entries is streamed, never held whole.
pub fn list_local(dir: PathBuf, recursive: bool) -> mpsc::Receiver<Result<Entry, FileError>> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::task::spawn_blocking(move || {
        let mut stack = vec![dir.clone()];
        while let Some(current) = stack.pop() {
            let rd = match std::fs::read_dir(&current) {
                Ok(rd) => rd,
                Err(source) => {
                    let _ = tx.blocking_send(Err(FileError::Io {
                        op: "list",
                        path: current.display().to_string(),
                        source,
                    }));
                    return;
                }
            };
            let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let Ok(meta) = e.metadata() else { continue };
                let path = e.path();
                let rel = path
                    .strip_prefix(&dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                if meta.is_dir() && recursive {
                    stack.push(path.clone());
                }
                let entry = Entry {
                    path: rel,
                    size: if meta.is_dir() { 0 } else { meta.len() },
                    dir: meta.is_dir(),
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
pub fn disk_usage(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * block, st.f_blocks as u64 * block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_data_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("ks/t")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), data.join("ks/escape")).unwrap();
        std::os::unix::fs::symlink(data.join("ks/t"), data.join("ks/inside")).unwrap();
        let root = LocalRoot::new(&data).unwrap();
        assert!(root.resolve("ks/t").unwrap().ends_with("ks/t"));
        std::fs::write(data.join("ks/t/f.crc32"), "1").unwrap();
        assert_eq!(
            std::fs::read_to_string(root.resolve("ks/t/f.crc32").unwrap()).unwrap(),
            "1",
            "an existing file resolves to itself"
        );
        assert!(
            root.resolve("ks/t/new/file").is_ok(),
            "paths yet to be created are fine"
        );
        assert!(
            root.resolve("ks/inside/x").is_ok(),
            "a link that stays inside is fine"
        );
        for bad in [
            "/etc/passwd",
            "../x",
            "ks/../../x",
            "ks/escape",
            "ks/escape/elsewhere",
        ] {
            let err = root.resolve(bad).unwrap_err().to_string();
            assert!(err.contains("refused"), "{bad}: {err}");
        }
    }
}
