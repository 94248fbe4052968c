//! A directory tree the agent works in without ever following a symbolic link: every path is
//! resolved one component at a time with `openat(…, O_NOFOLLOW)` from a directory handle opened
//! on the root, files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` and renamed with `renameat`
//! between such handles. A link planted anywhere (a parent component, the final name, a
//! temporary name) is refused or replaced, never written through; deleting a link deletes the
//! link. Links are refused even when they point inside the tree: the agent follows none.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::Arc;

/// Why a path was refused or an operation on it failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    /// The path as given cannot be used (a request mistake).
    #[error("{field}: {reason}")]
    BadInput {
        /// The request field that holds the path (`paths[0]`, `to.path`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The path would leave the tree (absolute, `..`, or a symbolic link on the way).
    #[error("{field}: path {path:?} is refused: {reason}")]
    Escape {
        /// The request field.
        field: String,
        /// The path given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path, relative to the root.
        path: String,
        /// The error.
        source: io::Error,
    },
}

impl ConfinedError {
    /// Whether the error says the file or a directory on its way does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ConfinedError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// A path relative to a confined root, checked: plain names only, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath {
    /// The request field it came from, for messages.
    field: String,
    /// The path as given.
    given: String,
    /// Its components.
    parts: Vec<String>,
}

impl RelPath {
    /// Checks `path` from request field `field`: relative, no `..`, no NUL byte (`.` and empty
    /// components are dropped). The empty path names the root itself.
    pub fn parse(field: &str, path: &str) -> Result<Self, ConfinedError> {
        if path.contains('\0') {
            return Err(ConfinedError::BadInput {
                field: field.to_string(),
                reason: "contains a NUL byte".into(),
            });
        }
        let escape = |reason: &str| ConfinedError::Escape {
            field: field.to_string(),
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let p = Path::new(path);
        if p.is_absolute() {
            return Err(escape(
                "absolute paths are not accepted; give a path relative to the directory",
            ));
        }
        let mut parts = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => return Err(escape("'..' is not accepted")),
                _ => return Err(escape("not a plain relative path")),
            }
        }
        Ok(RelPath {
            field: field.to_string(),
            given: path.to_string(),
            parts,
        })
    }

    /// Like [`RelPath::parse`], but the path must name a file (not be empty).
    pub fn parse_file(field: &str, path: &str) -> Result<Self, ConfinedError> {
        let p = Self::parse(field, path)?;
        if p.parts.is_empty() {
            return Err(ConfinedError::BadInput {
                field: field.to_string(),
                reason: if path.is_empty() {
                    "empty path".into()
                } else {
                    format!("{path:?} names no file")
                },
            });
        }
        Ok(p)
    }

    /// The path as given.
    pub fn as_str(&self) -> &str {
        &self.given
    }

    /// The request field it came from.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The parent components and the final name (`None` for the root itself).
    fn split(&self) -> (&[String], Option<&str>) {
        match self.parts.split_last() {
            Some((name, parent)) => (parent, Some(name.as_str())),
            None => (&[], None),
        }
    }

    /// The final name, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.split().1
    }

    /// The path of the parent directory.
    pub fn parent(&self) -> RelPath {
        RelPath {
            field: self.field.clone(),
            given: self.given.clone(),
            parts: self.split().0.to_vec(),
        }
    }

    fn refuse(&self, reason: impl Into<String>) -> ConfinedError {
        ConfinedError::Escape {
            field: self.field.clone(),
            path: self.given.clone(),
            reason: reason.into(),
        }
    }
}

/// What a directory entry is, as `lstat` sees it (a link is never taken for its target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, device, socket or pipe.
    Other,
}

/// One entry of a directory.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Size in bytes (regular files; 0 otherwise).
    pub size: u64,
}

/// An open directory inside a confined root.
#[derive(Debug, Clone)]
pub struct Dir {
    /// The directory handle.
    fd: Arc<OwnedFd>,
    /// Its path relative to the root, for messages.
    shown: String,
}

/// The root of a confined tree: a directory handle and the canonical path it was opened at.
#[derive(Debug, Clone)]
pub struct ConfinedRoot {
    /// The root directory.
    dir: Dir,
    /// Its canonical absolute path.
    path: std::path::PathBuf,
}

fn cstring(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in name"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `openat` relative to `dir`; the result is owned.
fn openat(dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the returned descriptor is fresh and owned by us.
    let fd = check(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            libc::c_uint::from(mode),
        )
    })?;
    // SAFETY: `fd` was just opened and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `lstat` of `name` in `dir`.
fn lstatat(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is valid; it is filled by the call.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated and `st` properly sized.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn kind_of(st: &libc::stat) -> Kind {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        _ => Kind::Other,
    }
}

fn is_symlink(dir: RawFd, name: &CStr) -> bool {
    lstatat(dir, name).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

impl ConfinedRoot {
    /// Opens the root at `dir` (which must be an existing directory; it may itself be reached
    /// through links, as configured).
    pub fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.canonicalize()?;
        let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        let fd = openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        Ok(ConfinedRoot {
            dir: Dir {
                fd: Arc::new(fd),
                shown: String::new(),
            },
            path,
        })
    }

    /// The canonical path of the root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `rel`, creating missing components when `create` is set. No
    /// component may be a symbolic link.
    pub fn dir(&self, rel: &RelPath, create: bool) -> Result<Dir, ConfinedError> {
        self.walk(rel, &rel.parts, create)
    }

    /// Opens the parent directory of the file `rel` (creating it when `create` is set) and
    /// returns it with the file's name.
    pub fn parent<'a>(
        &self,
        rel: &'a RelPath,
        create: bool,
    ) -> Result<(Dir, &'a str), ConfinedError> {
        let (parent, name) = rel.split();
        let name = name.ok_or_else(|| ConfinedError::BadInput {
            field: rel.field.clone(),
            reason: "empty path".into(),
        })?;
        Ok((self.walk(rel, parent, create)?, name))
    }

    fn walk(&self, rel: &RelPath, parts: &[String], create: bool) -> Result<Dir, ConfinedError> {
        let mut cur = self.dir.clone();
        for part in parts {
            cur = cur.subdir(part, create).map_err(|e| match e {
                SubdirError::Link => rel.refuse(format!(
                    "{}/{part} is a symbolic link; the agent follows none",
                    cur.shown
                )),
                SubdirError::Io(source) => ConfinedError::Io {
                    op: "open",
                    path: rel.given.clone(),
                    source,
                },
            })?;
        }
        Ok(cur)
    }
}

/// Why a subdirectory could not be opened.
enum SubdirError {
    /// It is a symbolic link.
    Link,
    /// Anything else.
    Io(io::Error),
}

impl Dir {
    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The directory's path relative to the root.
    pub fn shown(&self) -> &str {
        if self.shown.is_empty() {
            "."
        } else {
            &self.shown
        }
    }

    fn child_shown(&self, name: &str) -> String {
        if self.shown.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.shown)
        }
    }

    fn subdir(&self, name: &str, create: bool) -> Result<Dir, SubdirError> {
        let c = cstring(name).map_err(SubdirError::Io)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let opened = match openat(self.raw(), &c, flags, 0) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                // SAFETY: `c` is NUL-terminated; mkdirat never follows a link at the last name.
                let made = check(unsafe { libc::mkdirat(self.raw(), c.as_ptr(), 0o755) });
                match made {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(SubdirError::Io(e)),
                }
                openat(self.raw(), &c, flags, 0)
            }
            other => other,
        };
        match opened {
            Ok(fd) => Ok(Dir {
                fd: Arc::new(fd),
                shown: self.child_shown(name),
            }),
            Err(_) if is_symlink(self.raw(), &c) => Err(SubdirError::Link),
            Err(e) => Err(SubdirError::Io(e)),
        }
    }

    /// Opens the subdirectory `name` (never through a link).
    pub fn open_dir(&self, name: &str) -> Result<Dir, ConfinedError> {
        self.subdir(name, false).map_err(|e| match e {
            SubdirError::Link => ConfinedError::Escape {
                field: "path".into(),
                path: self.child_shown(name),
                reason: "a symbolic link; the agent follows none".into(),
            },
            SubdirError::Io(source) => self.io("open", name, source),
        })
    }

    fn io(&self, op: &'static str, name: &str, source: io::Error) -> ConfinedError {
        ConfinedError::Io {
            op,
            path: self.child_shown(name),
            source,
        }
    }

    fn link_refused(&self, name: &str) -> ConfinedError {
        ConfinedError::Escape {
            field: "path".into(),
            path: self.child_shown(name),
            reason: "it is a symbolic link; the agent follows none".into(),
        }
    }

    /// Opens the regular file `name` for reading; a link is refused.
    pub fn open_read(&self, name: &str) -> Result<std::fs::File, ConfinedError> {
        let c = cstring(name).map_err(|e| self.io("open", name, e))?;
        match openat(self.raw(), &c, libc::O_RDONLY | libc::O_NOFOLLOW, 0) {
            Ok(fd) => Ok(std::fs::File::from(fd)),
            Err(_) if is_symlink(self.raw(), &c) => Err(self.link_refused(name)),
            Err(e) => Err(self.io("open", name, e)),
        }
    }

    /// Creates the file `name`, which must not exist (not even as a dangling link).
    pub fn create_new(&self, name: &str) -> Result<std::fs::File, ConfinedError> {
        let c = cstring(name).map_err(|e| self.io("create", name, e))?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        openat(self.raw(), &c, flags, 0o644)
            .map(std::fs::File::from)
            .map_err(|e| self.io("create", name, e))
    }

    /// Creates `name` afresh for writing: whatever is there under that name (a leftover file,
    /// a planted link) is removed first, never written through.
    pub fn create_replacing(&self, name: &str) -> Result<std::fs::File, ConfinedError> {
        self.remove_file(name)?;
        self.create_new(name)
    }

    /// What `name` is (a link is reported as [`Kind::Other`], not followed); `None` if absent.
    pub fn kind(&self, name: &str) -> Result<Option<Kind>, ConfinedError> {
        let c = cstring(name).map_err(|e| self.io("stat", name, e))?;
        match lstatat(self.raw(), &c) {
            Ok(st) => Ok(Some(kind_of(&st))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("stat", name, e)),
        }
    }

    /// Removes the file (or link) `name`; returns whether it existed. A directory is refused.
    pub fn remove_file(&self, name: &str) -> Result<bool, ConfinedError> {
        let c = cstring(name).map_err(|e| self.io("delete", name, e))?;
        // SAFETY: `c` is NUL-terminated; unlinkat removes a link itself, not its target.
        match check(unsafe { libc::unlinkat(self.raw(), c.as_ptr(), 0) }) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io("delete", name, e)),
        }
    }

    /// Renames `name` to `to_name` in `to` (replacing a file or link there, never following it).
    pub fn rename(&self, name: &str, to: &Dir, to_name: &str) -> Result<(), ConfinedError> {
        let from = cstring(name).map_err(|e| self.io("move", name, e))?;
        let dest = cstring(to_name).map_err(|e| to.io("move", to_name, e))?;
        // SAFETY: both names are NUL-terminated; renameat acts on the names, not link targets.
        check(unsafe { libc::renameat(self.raw(), from.as_ptr(), to.raw(), dest.as_ptr()) })
            .map(|_| ())
            .map_err(|e| self.io("move", name, e))
    }

    /// Copies the regular file `name` to `to_name` in `to`, through a temporary name there
    /// renamed into place. Returns the bytes copied.
    pub fn copy(&self, name: &str, to: &Dir, to_name: &str) -> Result<u64, ConfinedError> {
        let mut src = self.open_read(name)?;
        let tmp = part_name(to_name);
        let mut dst = to.create_replacing(&tmp)?;
        let copied = io::copy(&mut src, &mut dst)
            .and_then(|n| dst.sync_all().map(|()| n))
            .map_err(|e| to.io("copy", to_name, e));
        let copied = match copied {
            Ok(n) => n,
            Err(e) => {
                let _ = to.remove_file(&tmp);
                return Err(e);
            }
        };
        to.rename(&tmp, to, to_name)?;
        Ok(copied)
    }

    /// The entries of this directory, sorted by name (`.` and `..` left out).
    pub fn entries(&self) -> Result<Vec<DirEntry>, ConfinedError> {
        let fail = |e| ConfinedError::Io {
            op: "list",
            path: self.shown().to_string(),
            source: e,
        };
        // fdopendir takes ownership of its descriptor: give it a duplicate.
        // SAFETY: duplicating a valid descriptor.
        let dup =
            check(unsafe { libc::fcntl(self.raw(), libc::F_DUPFD_CLOEXEC, 0) }).map_err(fail)?;
        // SAFETY: `dup` is a valid directory descriptor now owned by the stream.
        let stream = unsafe { libc::fdopendir(dup) };
        if stream.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so `dup` is still ours to close.
            unsafe { libc::close(dup) };
            return Err(fail(e));
        }
        // Read from the start even if the handle was listed before.
        // SAFETY: `stream` is a valid directory stream.
        unsafe { libc::rewinddir(stream) };
        let mut names = Vec::new();
        loop {
            // SAFETY: `stream` is valid; the entry is read before the next readdir call.
            let ent = unsafe { libc::readdir(stream) };
            if ent.is_null() {
                break;
            }
            // SAFETY: `d_name` is a NUL-terminated array inside the entry.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes != b"." && bytes != b".." {
                names.push(name.to_owned());
            }
        }
        // SAFETY: `stream` is valid and closed once; this also closes `dup`.
        unsafe { libc::closedir(stream) };
        let mut entries: Vec<DirEntry> = names
            .into_iter()
            .filter_map(|c| {
                let st = lstatat(self.raw(), &c).ok()?;
                let kind = kind_of(&st);
                Some(DirEntry {
                    name: c.to_string_lossy().into_owned(),
                    kind,
                    size: if kind == Kind::File {
                        u64::try_from(st.st_size).unwrap_or(0)
                    } else {
                        0
                    },
                })
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }
}

/// The temporary name a file is written under before it is renamed into place.
pub fn part_name(name: &str) -> String {
    format!(".{name}.cairn-part")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, std::path::PathBuf, ConfinedRoot) {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("ks/t")).unwrap();
        let root = ConfinedRoot::open(&data).unwrap();
        (tmp, data, root)
    }

    fn rel(p: &str) -> RelPath {
        RelPath::parse("path", p).unwrap()
    }

    #[test]
    fn paths_are_checked_naming_the_field() {
        for (bad, what) in [
            ("/etc/passwd", "absolute"),
            ("../x", "'..'"),
            ("ks/../../x", "'..'"),
        ] {
            let e = RelPath::parse("to.path", bad).unwrap_err().to_string();
            assert!(e.starts_with("to.path: ") && e.contains(what), "{bad}: {e}");
        }
        let e = RelPath::parse("paths[2]", "a\0b").unwrap_err().to_string();
        assert_eq!(e, "paths[2]: contains a NUL byte");
        let e = RelPath::parse_file("paths[0]", "").unwrap_err().to_string();
        assert_eq!(e, "paths[0]: empty path");
        let e = RelPath::parse_file("path", "./").unwrap_err().to_string();
        assert!(e.contains("names no file"), "{e}");
        assert_eq!(rel("ks/./t/").parts, vec!["ks", "t"]);
    }

    #[test]
    fn no_link_is_followed_on_the_way() {
        let (tmp, data, root) = setup();
        symlink(tmp.path(), data.join("ks/out")).unwrap();
        symlink(data.join("ks/t"), data.join("ks/in")).unwrap();
        assert!(root.dir(&rel("ks/t"), false).is_ok());
        for p in ["ks/out", "ks/out/x", "ks/in/x"] {
            let e = root.dir(&rel(p), true).unwrap_err();
            assert!(matches!(e, ConfinedError::Escape { .. }), "{p}: {e}");
        }
        assert!(!tmp.path().join("x").exists(), "nothing created outside");
        // Created on demand inside.
        let d = root.dir(&rel("ks/t/new/deeper"), true).unwrap();
        assert_eq!(d.shown(), "ks/t/new/deeper");
        assert!(data.join("ks/t/new/deeper").is_dir());
    }

    #[test]
    fn writes_never_go_through_a_link_even_a_dangling_one() {
        let (tmp, data, root) = setup();
        let outside = tmp.path().join("outside");
        symlink(&outside, data.join("ks/t/f")).unwrap();
        symlink(&outside, data.join("ks/t/.g.cairn-part")).unwrap();
        let dir = root.dir(&rel("ks/t"), false).unwrap();
        assert!(
            dir.create_new("f").is_err(),
            "create_new refuses any existing name"
        );
        let mut f = dir.create_replacing(&part_name("g")).unwrap();
        f.write_all(b"inside").unwrap();
        dir.rename(&part_name("g"), &dir, "g").unwrap();
        std::fs::write(data.join("ks/src"), b"123456789").unwrap();
        let ks = root.dir(&rel("ks"), false).unwrap();
        assert_eq!(ks.copy("src", &dir, "f").unwrap(), 9);
        assert!(!outside.exists(), "nothing written outside");
        assert_eq!(std::fs::read(data.join("ks/t/f")).unwrap(), b"123456789");
        assert_eq!(std::fs::read(data.join("ks/t/g")).unwrap(), b"inside");
    }

    #[test]
    fn reads_and_deletes_do_not_follow_links() {
        let (tmp, data, root) = setup();
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, b"s").unwrap();
        symlink(&secret, data.join("ks/t/link")).unwrap();
        symlink(tmp.path(), data.join("ks/t/linkdir")).unwrap();
        std::fs::write(data.join("ks/t/file"), b"abc").unwrap();
        let dir = root.dir(&rel("ks/t"), false).unwrap();
        assert!(matches!(
            dir.open_read("link"),
            Err(ConfinedError::Escape { .. })
        ));
        let mut s = String::new();
        dir.open_read("file")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "abc");
        let entries = dir.entries().unwrap();
        let kinds: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.kind, e.size))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("file", Kind::File, 3),
                ("link", Kind::Other, 0),
                ("linkdir", Kind::Other, 0)
            ]
        );
        assert!(matches!(
            dir.open_dir("linkdir"),
            Err(ConfinedError::Escape { .. })
        ));
        assert!(dir.remove_file("link").unwrap());
        assert!(!dir.remove_file("link").unwrap(), "already gone");
        assert_eq!(std::fs::read(&secret).unwrap(), b"s", "the target stays");
        assert!(dir.remove_file("linkdir").unwrap());
        assert!(tmp.path().is_dir());
    }
}
