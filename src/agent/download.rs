//! Downloading files from a location into confined local directories, with bounded memory (each
//! file is streamed chunk by chunk through the shared bandwidth budget) and through a temporary
//! name, so a partial file is never visible under its final name.
//!
//! A download may keep what is already there: a local regular file (opened without following
//! links) with the remote size and, where the store gives an MD5 (a single-part S3 ETag), the
//! same MD5, is kept rather than fetched again. This is what lets an interrupted restore resume
//! by fetching only what is missing. The one download loop here serves the agent's download
//! jobs and `cairn restore download --offline` alike.

use std::io::Read as _;
use std::path::Path;

use futures::StreamExt;
use md5::{Digest, Md5};
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStoreExt};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::confined::{Dir, Kind, part_name};
use super::retry::with_retries;
use super::storage::Remote;
use super::transfer::{DataPath, Digests, TransferError, local_err};

/// One file to download: the object and where it lands.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The object, as listed (its size and ETag are what the local file is checked against).
    pub meta: ObjectMeta,
    /// The local directory.
    pub dir: Dir,
    /// The local name.
    pub name: String,
}

impl Wanted {
    /// The local path, relative to the confined root, for messages.
    pub fn local_path(&self) -> String {
        Path::new(self.dir.shown())
            .join(&self.name)
            .display()
            .to_string()
    }
}

/// What a download reports as it goes (a job's progress, a command's bar and summary).
pub trait DownloadEvents: Sync {
    /// `n` more bytes arrived.
    fn transferred(&self, n: u64);
    /// A failed try's `n` bytes no longer count (the file is tried again from its start).
    fn retracted(&self, n: u64);
    /// The file was already there, verified, and was kept.
    fn kept(&self, file: &Wanted);
    /// The file was downloaded and verified.
    fn downloaded(&self, file: &Wanted);
    /// The file failed.
    fn failed(&self, file: &Wanted, error: &TransferError);
}

/// The MD5 an ETag states, when it is one (a single-part S3 upload's); `None` for multipart
/// `-N` ETags and opaque ones (Azure, local directories).
pub fn etag_md5(etag: Option<&str>) -> Option<[u8; 16]> {
    let hex = etag?.trim_matches('"');
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Whether `name` in `dir` already holds the object `meta`: a regular file (never a link) of the
/// object's size and, when the store states an MD5, of that MD5.
pub async fn is_verified_local(dir: &Dir, name: &str, meta: &ObjectMeta) -> bool {
    let (dir, name) = (dir.clone(), name.to_string());
    let (size, md5) = (meta.size, etag_md5(meta.e_tag.as_deref()));
    let check = move || -> std::io::Result<bool> {
        // Checked first so that a pipe or a link is never opened.
        if !matches!(dir.kind(&name), Ok(Some(Kind::File))) {
            return Ok(false);
        }
        let Ok(mut file) = dir.open_read(&name) else {
            return Ok(false);
        };
        let stat = file.metadata()?;
        if !stat.is_file() || stat.len() != size {
            return Ok(false);
        }
        let Some(want) = md5 else { return Ok(true) };
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        Ok(<[u8; 16]>::from(hasher.finalize()) == want)
    };
    matches!(tokio::task::spawn_blocking(check).await, Ok(Ok(true)))
}

/// How one file of a download ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Already there and verified; kept.
    Kept,
    /// Downloaded and verified.
    Downloaded,
}

/// Downloads `files`, `transfers` at a time, each retried while its failures may pass; with
/// `keep_verified`, files already in place and verified are kept. Every outcome goes to `events`;
/// a cancelled download stops between chunks.
pub async fn download_all(
    data: &DataPath,
    remote: &Remote,
    files: Vec<Wanted>,
    transfers: usize,
    keep_verified: bool,
    events: &dyn DownloadEvents,
    cancel: &CancellationToken,
) {
    futures::stream::iter(files)
        .for_each_concurrent(transfers.max(1), |file| async move {
            if cancel.is_cancelled() {
                return;
            }
            match fetch_one(data, remote, &file, keep_verified, events, cancel).await {
                Ok(Fetched::Kept) => events.kept(&file),
                Ok(Fetched::Downloaded) => events.downloaded(&file),
                Err(TransferError::Stopped) => {}
                Err(e) => events.failed(&file, &e),
            }
        })
        .await;
}

/// One file of [`download_all`].
async fn fetch_one(
    data: &DataPath,
    remote: &Remote,
    file: &Wanted,
    keep_verified: bool,
    events: &dyn DownloadEvents,
    cancel: &CancellationToken,
) -> Result<Fetched, TransferError> {
    if keep_verified && is_verified_local(&file.dir, &file.name, &file.meta).await {
        return Ok(Fetched::Kept);
    }
    with_retries(cancel, || async {
        let got = std::sync::atomic::AtomicU64::new(0);
        let progress = |n: u64| {
            got.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            events.transferred(n);
        };
        let r = data
            .download(
                remote,
                &file.meta.location,
                &file.dir,
                &file.name,
                &progress,
                cancel,
            )
            .await;
        if r.is_err() {
            events.retracted(got.load(std::sync::atomic::Ordering::Relaxed));
        }
        r
    })
    .await?;
    Ok(Fetched::Downloaded)
}

impl DataPath {
    /// Downloads `src` into `name` in `dir` (through a temporary name in the same directory, so
    /// a partial file is never visible under its final name; whatever holds the temporary name,
    /// a planted link included, is replaced, never written through). Returns the bytes written.
    pub async fn download(
        &self,
        remote: &Remote,
        src: &ObjPath,
        dir: &Dir,
        name: &str,
        progress: &(dyn Fn(u64) + Sync),
        cancel: &CancellationToken,
    ) -> Result<u64, TransferError> {
        let result = remote
            .store
            .get(src)
            .await
            .map_err(remote.err("download", src))?;
        let meta = result.meta.clone();
        let tmp_name = part_name(name);
        let tmp = Path::new(dir.shown()).join(&tmp_name);
        let created = {
            let (dir, tmp_name) = (dir.clone(), tmp_name.clone());
            tokio::task::spawn_blocking(move || dir.create_replacing(&tmp_name))
                .await
                .map_err(|e| TransferError::Local {
                    op: "create",
                    path: tmp.display().to_string(),
                    source: std::io::Error::other(e),
                })?
        };
        let mut file =
            tokio::fs::File::from_std(created.map_err(|e| TransferError::confined("create", e))?);
        let mut stream = result.into_stream();
        let mut md5 = Md5::new();
        let mut written = 0u64;
        let outcome: Result<(), TransferError> = async {
            loop {
                let next = tokio::select! {
                    n = stream.next() => n,
                    _ = cancel.cancelled() => return Err(TransferError::Stopped),
                };
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(remote.err("download", src))?;
                self.bandwidth.acquire(chunk.len() as u64).await;
                md5.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(local_err("write", &tmp))?;
                written += chunk.len() as u64;
                progress(chunk.len() as u64);
            }
            file.flush().await.map_err(local_err("write", &tmp))?;
            if written != meta.size {
                return Err(TransferError::Integrity {
                    path: src.to_string(),
                    detail: format!("received {written} bytes of {}", meta.size),
                });
            }
            let whole: [u8; 16] = md5.finalize().into();
            if let Some(false) = meta
                .e_tag
                .as_deref()
                .and_then(|e| Digests::check(&whole, &[], e).filter(|_| !e.contains('-')))
            {
                return Err(TransferError::Integrity {
                    path: src.to_string(),
                    detail: "content does not match the stored MD5".into(),
                });
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => {
                drop(file);
                dir.rename(&tmp_name, dir, name)
                    .map_err(|e| TransferError::confined("rename", e))?;
                Ok(written)
            }
            Err(e) => {
                drop(file);
                let _ = dir.remove_file(&tmp_name);
                Err(e)
            }
        }
    }
}
