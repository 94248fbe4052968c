//! `localstorage` locations confined like the data directory: object_store's `LocalFileSystem`
//! follows symbolic links, so a link planted inside a bucket's directory (an NFS share others
//! write to) would let writes, reads, deletes and listings reach files outside it. Every path is
//! first checked component by component without following links (see [`super::confined`]): a
//! path through a link, or naming a link, is refused; listings leave such entries out.

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use super::confined::{ConfinedRoot, Kind, RelPath};

/// A `LocalFileSystem` whose paths never go through a symbolic link.
#[derive(Debug)]
pub struct ConfinedLocal {
    /// The store doing the work.
    inner: LocalFileSystem,
    /// The bucket's directory, for the checks.
    root: ConfinedRoot,
}

impl fmt::Display for ConfinedLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfinedLocal({})", self.root.path().display())
    }
}

impl ConfinedLocal {
    /// Confines `inner`, whose prefix is `dir` (an existing directory).
    pub fn new(inner: LocalFileSystem, dir: &std::path::Path) -> std::io::Result<Self> {
        Ok(ConfinedLocal {
            inner,
            root: ConfinedRoot::open(dir)?,
        })
    }

    fn check(&self, location: &Path) -> Result<()> {
        check(&self.root, location)
    }

    fn allowed(&self, location: &Path) -> bool {
        check(&self.root, location).is_ok()
    }
}

/// Refuses a path that goes through or names a symbolic link; a missing path is fine (the
/// operation itself then says so, or creates it).
fn check(root: &ConfinedRoot, location: &Path) -> Result<()> {
    {
        let refuse = |reason: String| object_store::Error::PermissionDenied {
            path: location.to_string(),
            source: reason.into(),
        };
        let rel = RelPath::parse("path", location.as_ref()).map_err(|e| refuse(e.to_string()))?;
        if rel.file_name().is_none() {
            return Ok(());
        }
        match root.parent(&rel, false) {
            Ok((dir, name)) => match dir.kind(name) {
                Ok(None | Some(Kind::File | Kind::Dir)) => Ok(()),
                Ok(Some(Kind::Other)) => Err(refuse(
                    "a symbolic link or special file; the agent follows none".into(),
                )),
                Err(e) => Err(refuse(e.to_string())),
            },
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(refuse(e.to_string())),
        }
    }
}

/// Whether `location` and every directory on its way are neither links nor reached through
/// one (a recursive listing follows links, so each level is checked).
fn allowed_all(root: &ConfinedRoot, location: &Path) -> bool {
    let parts: Vec<_> = location.parts().collect();
    (1..=parts.len()).all(|n| {
        let prefix: Path = parts.iter().take(n).cloned().collect();
        check(root, &prefix).is_ok()
    })
}

#[async_trait]
impl ObjectStore for ConfinedLocal {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.check(location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.check(location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        // Checked up front (the stream outlives `self`): a refused path fails, the rest go on.
        let root = self.root.clone();
        let checked = locations
            .map(move |l| l.and_then(|p| check(&root, &p).map(|()| p)))
            .boxed();
        self.inner.delete_stream(checked)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if let Some(p) = prefix
            && let Err(e) = self.check(p)
        {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        let root = self.root.clone();
        self.inner
            .list(prefix)
            .try_filter(move |m| futures::future::ready(allowed_all(&root, &m.location)))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        if let Some(p) = prefix {
            self.check(p)?;
        }
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed.common_prefixes.retain(|p| self.allowed(p));
        listed.objects.retain(|m| self.allowed(&m.location));
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.check(from)?;
        self.check(to)?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.check(from)?;
        self.check(to)?;
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use std::os::unix::fs::symlink;

    #[tokio::test]
    async fn links_in_a_bucket_lead_nowhere() {
        let tmp = tempfile::tempdir().unwrap();
        let (bucket, outside) = (tmp.path().join("bucket"), tmp.path().join("outside"));
        std::fs::create_dir_all(bucket.join("backup")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"secret").unwrap();
        symlink(&outside, bucket.join("backup/meta")).unwrap();
        symlink(outside.join("secret"), bucket.join("backup/s")).unwrap();
        std::fs::write(bucket.join("backup/own"), b"own").unwrap();
        let store = ConfinedLocal::new(LocalFileSystem::new_with_prefix(&bucket).unwrap(), &bucket)
            .unwrap();
        let p = |s: &str| Path::from(s);
        assert!(
            store
                .put(&p("backup/meta/new"), PutPayload::from_static(b"x"))
                .await
                .is_err()
        );
        assert!(store.get(&p("backup/meta/secret")).await.is_err());
        assert!(store.get(&p("backup/s")).await.is_err());
        assert!(store.delete(&p("backup/meta/secret")).await.is_err());
        assert!(
            store
                .copy(&p("backup/own"), &p("backup/meta/copied"))
                .await
                .is_err()
        );
        let listed: Vec<String> = store
            .list(Some(&p("backup")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed, vec!["backup/own".to_string()]);
        let shallow = store.list_with_delimiter(Some(&p("backup"))).await.unwrap();
        assert!(shallow.common_prefixes.is_empty(), "{shallow:?}");
        assert_eq!(shallow.objects.len(), 1);
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            1,
            "nothing created or deleted outside"
        );
        // Inside, everything works as before.
        store
            .put(&p("backup/sst/a"), PutPayload::from_static(b"a"))
            .await
            .unwrap();
        assert_eq!(
            store
                .get(&p("backup/sst/a"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            Bytes::from_static(b"a")
        );
    }
}
