//! Moving one file from the node's disk to a location, with bounded memory (downloads are in
//! [`super::download`]).
//!
//! Uploads read the file in chunks, each paid for in the bandwidth budget, into part buffers
//! whose total size over the whole agent is capped by a semaphore (`transfer.buffer_memory`).
//! Small files go in one request; larger ones in parts sized so no file needs more than 10,000.
//! What was stored is checked against what was sent: an MD5-style ETag (S3, GCS) must equal the
//! MD5 of the file (or the MD5 of the parts' MD5s, `-N`); where the ETag says nothing about the
//! content (Azure, local directories) the stored size must match. A failed or stopped multipart
//! upload is aborted, so nothing half-written becomes visible.

use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use md5::{Digest, Md5};
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};
use tokio::io::AsyncReadExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::bandwidth::Bandwidth;
use super::config::Limits;
use super::confined::{ConfinedError, Dir};
use super::storage::{Remote, StorageError};

/// Bytes read (and paid for in bandwidth) at a time.
const CHUNK: usize = 256 << 10;
/// Granularity of the buffer-memory semaphore.
const PERMIT_BYTES: u64 = 64 << 10;
/// Most parts of one file in flight at once.
const PARTS_IN_FLIGHT: usize = 4;
/// S3's limit on the number of parts of one upload.
const MAX_PARTS: u64 = 10_000;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Reading or writing the local file failed.
    #[error("{op} {path}: {source}")]
    Local {
        /// The operation.
        op: &'static str,
        /// The local path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The location failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// What was stored differs from what was sent.
    #[error("integrity check failed for {path}: {detail}")]
    Integrity {
        /// The remote path.
        path: String,
        /// What differed.
        detail: String,
    },
    /// The store forgot a multipart upload in progress (e.g. it restarted): the file must be
    /// sent again from its start.
    #[error("upload of {path} was lost by the store ({detail}); it will be sent again")]
    UploadLost {
        /// The remote path.
        path: String,
        /// The store's answer.
        detail: String,
    },
    /// A streamed PUT failed.
    #[error("upload {path}: {detail}")]
    Http {
        /// The remote path.
        path: String,
        /// The status or transport error.
        detail: String,
        /// Whether trying again may help (transport errors, 5xx, 429).
        retryable: bool,
    },
    /// The job was stopped.
    #[error("stopped")]
    Stopped,
}

impl TransferError {
    /// Whether trying the file again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            TransferError::Storage(e) => e.retryable(),
            TransferError::Integrity { .. } | TransferError::UploadLost { .. } => true,
            TransferError::Http { retryable, .. } => *retryable,
            TransferError::Local { .. } | TransferError::Stopped => false,
        }
    }
}

pub(super) fn local_err(
    op: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> TransferError + use<> {
    let path = path.display().to_string();
    move |source| TransferError::Local { op, path, source }
}

impl TransferError {
    pub(super) fn confined(op: &'static str, e: ConfinedError) -> Self {
        let path = match &e {
            ConfinedError::Io { path, .. } | ConfinedError::Escape { path, .. } => path.clone(),
            ConfinedError::BadInput { field, .. } => field.clone(),
        };
        let source = match e {
            ConfinedError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        };
        TransferError::Local { op, path, source }
    }
}

/// A local file in a directory of the confined data directory, opened without following links.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Its directory.
    pub dir: Dir,
    /// Its name.
    pub name: String,
}

impl LocalFile {
    /// Its path relative to the data directory, for messages.
    pub fn path(&self) -> std::path::PathBuf {
        Path::new(self.dir.shown()).join(&self.name)
    }

    fn open_std(&self) -> Result<std::fs::File, TransferError> {
        self.dir
            .open_read(&self.name)
            .map_err(|e| TransferError::confined("open", e))
    }

    async fn open(&self) -> Result<tokio::fs::File, TransferError> {
        let this = self.clone();
        let file = tokio::task::spawn_blocking(move || this.open_std())
            .await
            .map_err(|e| TransferError::Local {
                op: "open",
                path: self.path().display().to_string(),
                source: std::io::Error::other(e),
            })??;
        Ok(tokio::fs::File::from_std(file))
    }
}

/// The shared machinery of every transfer: bandwidth, buffer memory and size limits.
#[derive(Debug)]
pub struct DataPath {
    /// The agent's bandwidth budget.
    pub bandwidth: Arc<Bandwidth>,
    /// Client for streamed PUTs to presigned URLs.
    http: reqwest::Client,
    /// Buffer memory, in 64 KiB permits.
    buffers: Arc<Semaphore>,
    /// Thresholds and sizes.
    pub limits: Limits,
}

/// What the store holds after an upload, as far as it can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The store's ETag is the MD5 of what was sent.
    Checksum,
    /// The store reports no content checksum; the stored size equals what was sent.
    Size,
}

/// MD5 digests of a file as a whole and of its parts.
#[derive(Debug, Default)]
pub(super) struct Digests {
    whole: Md5,
    parts: Vec<[u8; 16]>,
}

impl Digests {
    /// Whether an ETag is consistent with these digests: `Some(true|false)` for MD5-style ETags,
    /// `None` when the ETag does not describe the content.
    pub(super) fn check(whole: &[u8; 16], parts: &[[u8; 16]], etag: &str) -> Option<bool> {
        let etag = etag.trim_matches('"').to_ascii_lowercase();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match etag.split_once('-') {
            None if etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(etag == hex(whole))
            }
            Some((md5, n)) if md5.len() == 32 && n.parse::<usize>().is_ok() => {
                let mut composite = Md5::new();
                for p in parts {
                    composite.update(p);
                }
                Some(md5 == hex(&composite.finalize()) && n.parse() == Ok(parts.len()))
            }
            _ => None,
        }
    }
}

impl DataPath {
    /// The data path of an agent with these limits.
    pub fn new(limits: Limits) -> Result<Self, reqwest::Error> {
        let permits = total_permits(limits.buffer_memory);
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(DataPath {
            bandwidth: Arc::new(Bandwidth::new(limits.rate_limit)),
            http,
            buffers: Arc::new(Semaphore::new(permits as usize)),
            limits,
        })
    }

    /// The part size for a file of `size` bytes: the configured part size, or larger so that the
    /// file needs at most 10,000 parts (rounded up to whole MiB).
    pub fn part_size(&self, size: u64) -> u64 {
        let needed = size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
        self.limits.part_size.max(needed)
    }

    async fn buffer(&self, bytes: u64) -> Result<OwnedSemaphorePermit, TransferError> {
        let permits = u32::try_from(bytes.div_ceil(PERMIT_BYTES).max(1)).unwrap_or(u32::MAX);
        let total = total_permits(self.limits.buffer_memory);
        // A part larger than the whole budget (huge files) takes the whole budget.
        self.buffers
            .clone()
            .acquire_many_owned(permits.min(total))
            .await
            .map_err(|e| TransferError::Local {
                op: "reserve buffer memory",
                path: String::new(),
                source: std::io::Error::other(e),
            })
    }

    /// Reads up to `len` bytes of `file` into a buffer, paying for each chunk in bandwidth.
    async fn read_part(
        &self,
        file: &mut tokio::fs::File,
        path: &Path,
        len: u64,
        digests: &mut Digests,
    ) -> Result<bytes::Bytes, TransferError> {
        let mut buf = BytesMut::with_capacity(len as usize);
        let mut part = Md5::new();
        while (buf.len() as u64) < len {
            let n = (len - buf.len() as u64).min(CHUNK as u64) as usize;
            self.bandwidth.acquire(n as u64).await;
            let start = buf.len();
            buf.resize(start + n, 0);
            file.read_exact(&mut buf[start..])
                .await
                .map_err(local_err("read", path))?;
            digests.whole.update(&buf[start..]);
            part.update(&buf[start..]);
        }
        digests.parts.push(part.finalize().into());
        Ok(buf.freeze())
    }

    /// Uploads `local` (of `size` bytes) to `dest`, calling `progress` with each confirmed byte
    /// count. Returns how the result was verified.
    pub async fn upload(
        &self,
        remote: &Remote,
        local: &LocalFile,
        dest: &ObjPath,
        size: u64,
        progress: &(dyn Fn(u64) + Sync),
        cancel: &CancellationToken,
    ) -> Result<Verified, TransferError> {
        if let Some(signer) = remote
            .signer
            .as_ref()
            .filter(|_| size <= self.limits.s3_single_put_max)
        {
            return self
                .stream_put(remote, signer.as_ref(), local, dest, size, progress, cancel)
                .await;
        }
        let mut file = local.open().await?;
        let shown = local.path();
        let local = shown.as_path();
        let mut digests = Digests::default();
        let etag = if size <= self.limits.multipart_threshold {
            let _permit = self.buffer(size).await?;
            let body = self.read_part(&mut file, local, size, &mut digests).await?;
            if cancel.is_cancelled() {
                return Err(TransferError::Stopped);
            }
            let put = remote.store.put(dest, PutPayload::from_bytes(body));
            let result = tokio::select! {
                r = put => r.map_err(remote.err("upload", dest))?,
                _ = cancel.cancelled() => return Err(TransferError::Stopped),
            };
            progress(size);
            result.e_tag
        } else {
            let part_size = self.part_size(size);
            let mut upload = remote
                .store
                .put_multipart(dest)
                .await
                .map_err(remote.err("start upload of", dest))?;
            let outcome = async {
                let mut in_flight = FuturesUnordered::new();
                let mut sent = 0;
                while sent < size || !in_flight.is_empty() {
                    if sent < size && in_flight.len() < PARTS_IN_FLIGHT {
                        let len = (size - sent).min(part_size);
                        let permit = self.buffer(len).await?;
                        let body = self.read_part(&mut file, local, len, &mut digests).await?;
                        let part = upload.put_part(PutPayload::from_bytes(body));
                        // Spawned, so parts progress while this file waits for buffer memory.
                        // Aborted when dropped, so a failed or stopped file leaves no part running.
                        in_flight.push(AbortOnDropHandle::new(tokio::spawn(async move {
                            let r = part.await;
                            drop(permit);
                            r.map(|()| len)
                        })));
                        sent += len;
                        continue;
                    }
                    tokio::select! {
                        Some(done) = in_flight.next() => {
                            let done = done.map_err(|e| TransferError::Local { op: "upload task", path: dest.to_string(), source: std::io::Error::other(e) })?;
                            progress(done.map_err(|e| lost_or(remote, "upload part of", dest, e))?);
                        }
                        _ = cancel.cancelled() => return Err(TransferError::Stopped),
                    }
                }
                Ok(upload.complete().await.map_err(|e| lost_or(remote, "complete upload of", dest, e))?.e_tag)
            }
            .await;
            match outcome {
                Ok(etag) => etag,
                Err(e) => {
                    if let Err(abort) = upload.abort().await {
                        tracing::warn!(path = %dest, error = %abort, "could not abort multipart upload");
                    }
                    return Err(e);
                }
            }
        };
        let whole: [u8; 16] = digests.whole.finalize().into();
        self.verify(remote, dest, size, etag.as_deref(), &whole, &digests.parts)
            .await
    }

    /// Streams `local` to a presigned PUT URL: chunks are read, paid for in bandwidth and sent as
    /// they go, so memory does not grow with the file. The MD5 ETag the store answers with must
    /// match what was sent.
    #[allow(clippy::too_many_arguments)]
    async fn stream_put(
        &self,
        remote: &Remote,
        signer: &dyn object_store::signer::Signer,
        local: &LocalFile,
        dest: &ObjPath,
        size: u64,
        progress: &(dyn Fn(u64) + Sync),
        cancel: &CancellationToken,
    ) -> Result<Verified, TransferError> {
        let url = signer
            .signed_url(
                reqwest::Method::PUT,
                dest,
                std::time::Duration::from_secs(3600),
            )
            .await
            .map_err(remote.err("presign upload of", dest))?;
        let file = local.open().await?;
        let md5 = Arc::new(std::sync::Mutex::new(Md5::new()));
        let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let bandwidth = self.bandwidth.clone();
        let hasher = md5.clone();
        let path = local.path();
        let body = futures::stream::unfold(
            (file, size, vec![0u8; CHUNK]),
            move |(mut file, left, mut buf)| {
                let (bandwidth, hasher, sent_tx, path) = (
                    bandwidth.clone(),
                    hasher.clone(),
                    sent_tx.clone(),
                    path.clone(),
                );
                async move {
                    if left == 0 {
                        return None;
                    }
                    let n = left.min(CHUNK as u64) as usize;
                    bandwidth.acquire(n as u64).await;
                    if let Err(e) = file.read_exact(&mut buf[..n]).await {
                        let e =
                            std::io::Error::new(e.kind(), format!("read {}: {e}", path.display()));
                        return Some((Err(e), (file, 0, buf)));
                    }
                    hasher
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .update(&buf[..n]);
                    let _ = sent_tx.send(n as u64);
                    Some((
                        Ok(bytes::Bytes::copy_from_slice(&buf[..n])),
                        (file, left - n as u64, buf),
                    ))
                }
            },
        );
        let request = self
            .http
            .put(url.as_str())
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body))
            .send();
        let fail = |detail: String, retryable: bool| TransferError::Http {
            path: dest.to_string(),
            detail,
            retryable,
        };
        tokio::pin!(request);
        let response = loop {
            tokio::select! {
                r = &mut request => break r.map_err(|e| fail(e.without_url().to_string(), true))?,
                Some(n) = sent_rx.recv() => progress(n),
                _ = cancel.cancelled() => return Err(TransferError::Stopped),
            }
        };
        while let Ok(n) = sent_rx.try_recv() {
            progress(n);
        }
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let retryable = status.is_server_error()
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT;
            return Err(fail(
                format!("{status}: {}", body.chars().take(300).collect::<String>()),
                retryable,
            ));
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let whole: [u8; 16] = std::mem::take(&mut *md5.lock().unwrap_or_else(|p| p.into_inner()))
            .finalize()
            .into();
        self.verify(remote, dest, size, etag.as_deref(), &whole, &[])
            .await
    }

    async fn verify(
        &self,
        remote: &Remote,
        dest: &ObjPath,
        size: u64,
        etag: Option<&str>,
        whole: &[u8; 16],
        parts: &[[u8; 16]],
    ) -> Result<Verified, TransferError> {
        let single = [*whole];
        let ok = etag.and_then(|e| {
            Digests::check(whole, parts, e)
                .filter(|ok| *ok)
                .or_else(|| Digests::check(whole, &single, e))
        });
        match ok {
            Some(true) => Ok(Verified::Checksum),
            Some(false) => Err(TransferError::Integrity {
                path: dest.to_string(),
                detail: format!(
                    "ETag {} is not the MD5 of the data sent",
                    etag.unwrap_or_default()
                ),
            }),
            None => {
                let meta = remote
                    .store
                    .head(dest)
                    .await
                    .map_err(remote.err("check", dest))?;
                if meta.size == size {
                    Ok(Verified::Size)
                } else {
                    Err(TransferError::Integrity {
                        path: dest.to_string(),
                        detail: format!("stored {} bytes, sent {size}", meta.size),
                    })
                }
            }
        }
    }

    /// Whether the object `meta` already holds exactly the content of `local`: same size and same
    /// MD5 (from an MD5-style ETag when there is one, else by reading the object).
    pub async fn same_content(
        &self,
        remote: &Remote,
        meta: &ObjectMeta,
        local: &LocalFile,
        size: u64,
    ) -> Result<bool, TransferError> {
        if meta.size != size {
            return Ok(false);
        }
        let etag = meta
            .e_tag
            .as_deref()
            .map(|e| e.trim_matches('"').to_ascii_lowercase());
        // Candidate part sizes for a `-N` ETag: ours, and the usual sizes of other tools.
        let parts_in_etag = etag
            .as_deref()
            .and_then(|e| e.split_once('-'))
            .and_then(|(_, n)| n.parse::<u64>().ok());
        let mut candidates: Vec<u64> = vec![
            self.part_size(size),
            5 << 20,
            8 << 20,
            16 << 20,
            50 << 20,
            64 << 20,
            100 << 20,
        ];
        if let Some(n) = parts_in_etag {
            candidates.push(size.div_ceil(n).div_ceil(1 << 20) << 20);
            candidates.retain(|ps| size.div_ceil(*ps) == n);
        }
        candidates.sort_unstable();
        candidates.dedup();
        let (whole, composite) = file_digests(local, &candidates).await?;
        if let Some(etag) = etag.as_deref() {
            for parts in &composite {
                if let Some(verdict) =
                    Digests::check(&whole, parts, etag).filter(|v| *v || parts_in_etag.is_none())
                {
                    return Ok(verdict);
                }
            }
        }
        // The ETag does not describe the content: compare with the object's own bytes.
        let path = &meta.location;
        let mut stream = remote
            .store
            .get(path)
            .await
            .map_err(remote.err("read", path))?
            .into_stream();
        let mut theirs = Md5::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(remote.err("read", path))?;
            self.bandwidth.acquire(chunk.len() as u64).await;
            theirs.update(&chunk);
        }
        Ok(<[u8; 16]>::from(theirs.finalize()) == whole)
    }
}

/// Buffer-memory permits of a budget of `bytes` (at least one, at most what a semaphore
/// acquisition can ask for at once).
fn total_permits(bytes: u64) -> u32 {
    u32::try_from((bytes / PERMIT_BYTES).max(1)).unwrap_or(u32::MAX)
}

/// A multipart failure: `NotFound` means the store no longer knows the upload, which sending the
/// file again repairs; anything else is the store's error as it is.
fn lost_or(
    remote: &Remote,
    op: &'static str,
    dest: &ObjPath,
    e: object_store::Error,
) -> TransferError {
    match e {
        object_store::Error::NotFound { .. } => TransferError::UploadLost {
            path: dest.to_string(),
            detail: e.to_string(),
        },
        other => remote.err(op, dest)(other).into(),
    }
}

/// The MD5 of a whole file and, for each candidate part size, the MD5s of its parts.
async fn file_digests(
    local: &LocalFile,
    part_sizes: &[u64],
) -> Result<([u8; 16], Vec<Vec<[u8; 16]>>), TransferError> {
    let local = local.clone();
    let part_sizes = part_sizes.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let path = local.path();
        let mut file = local.open_std()?;
        let mut whole = Md5::new();
        let mut parts: Vec<(Md5, u64, Vec<[u8; 16]>)> = part_sizes
            .iter()
            .map(|_| (Md5::new(), 0, Vec::new()))
            .collect();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(local_err("read", &path))?;
            if n == 0 {
                break;
            }
            whole.update(&buf[..n]);
            for ((hasher, filled, done), size) in parts.iter_mut().zip(&part_sizes) {
                let mut data = &buf[..n];
                while !data.is_empty() {
                    let take = ((size - *filled) as usize).min(data.len());
                    hasher.update(&data[..take]);
                    *filled += take as u64;
                    data = &data[take..];
                    if *filled == *size {
                        done.push(std::mem::take(hasher).finalize().into());
                        *filled = 0;
                    }
                }
            }
        }
        let composite = parts
            .into_iter()
            .map(|(hasher, filled, mut done)| {
                if filled > 0 {
                    done.push(hasher.finalize().into());
                }
                done
            })
            .collect();
        Ok((whole.finalize().into(), composite))
    })
    .await
    .map_err(|e| TransferError::Local {
        op: "hash",
        path: String::new(),
        source: std::io::Error::other(e),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_checked_as_s3_computes_them() {
        let whole: [u8; 16] = Md5::digest(b"hello").into();
        let hex: String = whole.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            Digests::check(&whole, &[], &format!("\"{hex}\"")),
            Some(true)
        );
        assert_eq!(
            Digests::check(&whole, &[], "\"00000000000000000000000000000000\""),
            Some(false)
        );
        assert_eq!(
            Digests::check(&whole, &[], "0x8DBF1A2B3C4D5E6"),
            None,
            "Azure-style ETags say nothing"
        );
        let parts: Vec<[u8; 16]> = vec![Md5::digest(b"hel").into(), Md5::digest(b"lo").into()];
        let mut c = Md5::new();
        parts.iter().for_each(|p| c.update(p));
        let composite: String = c.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            Digests::check(&whole, &parts, &format!("{composite}-2")),
            Some(true)
        );
        assert_eq!(
            Digests::check(&whole, &parts, &format!("{composite}-3")),
            Some(false)
        );
    }

    #[test]
    fn part_size_keeps_files_under_ten_thousand_parts() {
        let limits = Limits {
            transfers: 2,
            rate_limit: 0,
            buffer_memory: 32 << 20,
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            s3_single_put_max: 256 << 20,
        };
        let dp = DataPath::new(limits).unwrap();
        assert_eq!(dp.part_size(1 << 30), 8 << 20);
        let huge = 200u64 << 30;
        let ps = dp.part_size(huge);
        assert!(
            huge.div_ceil(ps) <= MAX_PARTS && ps.is_multiple_of(1 << 20),
            "{ps}"
        );
    }
}
