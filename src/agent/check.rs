//! Content checks of stored SSTables (validate's `--content digest|full`): each `Data.db` is
//! streamed from the location and its CRC-32 (zlib/IEEE) compared with the ASCII decimal in the
//! SSTable's `Digest.crc32`; `TOC.txt` must list exactly the components present; with `md5`, each
//! object's MD5 is compared with the one the store keeps where it keeps one. Reads go through the
//! agent's bandwidth budget. The agent runs it as a check job; `cairn backup validate --offline`
//! runs the same function in-process.
//!
//! Memory stays bounded: objects are streamed chunk by chunk and only the small `Digest.crc32`
//! and `TOC.txt` are kept (up to [`MAX_KEPT`] bytes). A missing object is a finding (kind
//! `size`, detail `missing`), not an error; only a read that keeps failing after retries is.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;
use tokio_util::sync::CancellationToken;

use crate::format::sstable::{DATA_COMPONENT, DIGEST_COMPONENT, SSTableName, TOC_COMPONENT};

use super::bandwidth::Bandwidth;
use super::download::etag_md5;
use super::retry::with_retries;
use super::storage::{Remote, StorageError, object_path};
use super::transfer::TransferError;
use super::wire::{CheckOutcome, CheckedFile, ContentFinding, FindingKind, SSTableCheck};

/// Most bytes of `Digest.crc32` or `TOC.txt` kept for parsing; a longer one is a finding.
pub const MAX_KEPT: usize = 64 << 10;

/// Checks `sstables` in `remote`, `transfers` at a time, reading through `bandwidth` when given;
/// `on_progress(outcome_so_far, bytes_read)` is called as SSTables finish. Content problems are
/// findings in the outcome; only a failure to read (after retries) is an error. Once `cancel`
/// fires, returns what was found so far.
pub async fn check_sstables(
    remote: &Remote,
    sstables: Vec<SSTableCheck>,
    md5: bool,
    transfers: usize,
    bandwidth: Option<&Bandwidth>,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(&CheckOutcome, u64) + Send + Sync),
) -> Result<CheckOutcome, StorageError> {
    let outcome = Mutex::new(CheckOutcome::default());
    let bytes = AtomicU64::new(0);
    let reader = Reader {
        remote,
        bandwidth,
        cancel,
    };
    let (reader, outcome_ref, bytes_ref) = (&reader, &outcome, &bytes);
    let result = futures::stream::iter(sstables.into_iter().map(Ok))
        .try_for_each_concurrent(transfers.max(1), |sstable| async move {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let done = match reader.check_one(&sstable, md5).await {
                Ok(done) => done,
                Err(TransferError::Stopped) => return Ok(()),
                Err(e) => return Err(e),
            };
            let read = bytes_ref.fetch_add(done.bytes, Ordering::Relaxed) + done.bytes;
            let snapshot = {
                let mut o = outcome_ref.lock().unwrap_or_else(|p| p.into_inner());
                o.sstables_checked += 1;
                o.md5_checked += done.md5_checked;
                o.md5_unavailable += done.md5_unavailable;
                o.findings.extend(done.findings);
                o.clone()
            };
            on_progress(&snapshot, read);
            Ok(())
        })
        .await;
    match result {
        Ok(()) | Err(TransferError::Stopped) => {}
        Err(e) => return Err(into_storage(e)),
    }
    Ok(outcome.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// A storage error for what a read failed with (reads fail only with storage errors).
fn into_storage(e: TransferError) -> StorageError {
    match e {
        TransferError::Storage(e) => e,
        other => StorageError::Store {
            op: "check",
            location: String::new(),
            path: String::new(),
            source: Box::new(object_store::Error::Generic {
                store: "check",
                source: other.to_string().into(),
            }),
        },
    }
}

/// What checking one SSTable found.
#[derive(Debug, Default)]
struct SSTableDone {
    /// Bytes read.
    bytes: u64,
    /// Objects whose MD5 was compared.
    md5_checked: u64,
    /// Objects whose store keeps no MD5.
    md5_unavailable: u64,
    /// Problems found.
    findings: Vec<ContentFinding>,
}

impl SSTableDone {
    /// Records a problem with `file`.
    fn find(&mut self, file: &ObjPath, kind: FindingKind, detail: String) {
        self.findings.push(ContentFinding {
            file: file.to_string(),
            kind,
            detail,
        });
    }
}

/// What streaming one object gave.
#[derive(Debug)]
struct Read {
    /// Bytes read.
    len: u64,
    /// CRC-32 of the bytes.
    crc: u32,
    /// MD5 of the bytes, when asked for.
    md5: Option<[u8; 16]>,
    /// The MD5 the store states for the object, if any.
    stored_md5: Option<[u8; 16]>,
    /// The first [`MAX_KEPT`] bytes, when asked to keep them.
    kept: Vec<u8>,
}

/// Reads objects of one location for a check.
struct Reader<'a> {
    /// The location.
    remote: &'a Remote,
    /// The bandwidth budget reads pay for.
    bandwidth: Option<&'a Bandwidth>,
    /// Stops reads between chunks.
    cancel: &'a CancellationToken,
}

/// One component file of an SSTable being checked.
struct Component<'a> {
    /// As the request lists it.
    file: &'a CheckedFile,
    /// The object's path.
    path: ObjPath,
    /// The component (`Data.db`, ...), when the name parses.
    component: Option<String>,
}

impl Reader<'_> {
    /// Streams `path`, computing its CRC-32 (and MD5 when `md5`) and keeping its head when
    /// `keep`; `None` when the object does not exist. Retried while failures may pass.
    async fn read(
        &self,
        path: &ObjPath,
        md5: bool,
        keep: bool,
    ) -> Result<Option<Read>, TransferError> {
        let got = with_retries(self.cancel, || async {
            let got = match self.remote.store.get(path).await {
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                other => other.map_err(self.remote.err("check", path))?,
            };
            let stored_md5 = etag_md5(got.meta.e_tag.as_deref());
            let mut stream = got.into_stream();
            let mut crc = crc32fast::Hasher::new();
            let mut hasher = md5.then(Md5::new);
            let (mut len, mut kept) = (0u64, Vec::new());
            loop {
                let next = tokio::select! {
                    n = stream.next() => n,
                    _ = self.cancel.cancelled() => return Err(TransferError::Stopped),
                };
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(self.remote.err("check", path))?;
                if let Some(bw) = self.bandwidth {
                    bw.acquire(chunk.len() as u64).await;
                }
                crc.update(&chunk);
                if let Some(h) = hasher.as_mut() {
                    h.update(&chunk);
                }
                if keep && kept.len() <= MAX_KEPT {
                    let room = (MAX_KEPT + 1).saturating_sub(kept.len()).min(chunk.len());
                    kept.extend_from_slice(chunk.get(..room).unwrap_or_default());
                }
                len += chunk.len() as u64;
            }
            Ok(Some(Read {
                len,
                crc: crc.finalize(),
                md5: hasher.map(|h| h.finalize().into()),
                stored_md5,
                kept,
            }))
        })
        .await?;
        Ok(got)
    }

    /// Checks one SSTable.
    async fn check_one(
        &self,
        sstable: &SSTableCheck,
        md5: bool,
    ) -> Result<SSTableDone, TransferError> {
        let dir = object_path(&sstable.dir)?;
        let mut done = SSTableDone::default();
        let components: Vec<Component<'_>> = sstable
            .files
            .iter()
            .map(|f| Component {
                file: f,
                path: dir.clone().join(f.object.as_str()),
                component: f.name.parse::<SSTableName>().ok().map(|n| n.component),
            })
            .collect();
        // The name a component absent from the request would have.
        let base = sstable
            .files
            .iter()
            .find_map(|f| f.name.parse::<SSTableName>().ok());
        let absent = |component: &str| match &base {
            Some(b) => dir
                .clone()
                .join(b.with_component(component).to_string().as_str()),
            None => dir.clone().join(component),
        };
        let (mut digest, mut toc, mut data_crc) = (None, None, None);
        let mut seen = BTreeSet::new();
        for c in &components {
            let Some(component) = c.component.as_deref() else {
                done.find(
                    &c.path,
                    FindingKind::Toc,
                    format!("{:?} is not an SSTable component name", c.file.name),
                );
                continue;
            };
            seen.insert(component.to_string());
            let small = component == DIGEST_COMPONENT || component == TOC_COMPONENT;
            if !(md5 || small || component == DATA_COMPONENT) {
                continue;
            }
            let Some(read) = self.read(&c.path, md5, small).await? else {
                done.find(&c.path, FindingKind::Size, "missing".into());
                continue;
            };
            done.bytes += read.len;
            if read.len != c.file.size {
                done.find(
                    &c.path,
                    FindingKind::Size,
                    format!("read {} bytes, the listing says {}", read.len, c.file.size),
                );
            }
            if md5 {
                match (read.md5, read.stored_md5) {
                    (Some(got), Some(stored)) => {
                        done.md5_checked += 1;
                        if got != stored {
                            done.find(
                                &c.path,
                                FindingKind::Md5,
                                format!(
                                    "content MD5 {}, the store keeps {}",
                                    hex(&got),
                                    hex(&stored)
                                ),
                            );
                        }
                    }
                    _ => done.md5_unavailable += 1,
                }
            }
            match component {
                DATA_COMPONENT => data_crc = Some((c.path.clone(), read.crc)),
                DIGEST_COMPONENT => digest = Some((c.path.clone(), read.kept)),
                TOC_COMPONENT => toc = Some((c.path.clone(), read.kept)),
                _ => {}
            }
        }
        let has = |component: &str| seen.contains(component);
        if !has(DIGEST_COMPONENT) {
            done.find(
                &absent(DIGEST_COMPONENT),
                FindingKind::Toc,
                format!("the backup has no {DIGEST_COMPONENT} for this SSTable"),
            );
        }
        if !has(TOC_COMPONENT) {
            done.find(
                &absent(TOC_COMPONENT),
                FindingKind::Toc,
                format!("the backup has no {TOC_COMPONENT} for this SSTable"),
            );
        }
        if let Some((path, text)) = digest {
            match parse_digest(&text) {
                Err(detail) => done.find(&path, FindingKind::Digest, detail),
                Ok(want) => {
                    if let Some((data, got)) = data_crc
                        && got != want
                    {
                        done.find(
                            &data,
                            FindingKind::Digest,
                            format!(
                                "CRC-32 of the bytes read is {got}, {DIGEST_COMPONENT} says {want}"
                            ),
                        );
                    }
                }
            }
        }
        if let Some((path, text)) = toc {
            match parse_toc(&text) {
                Err(detail) => done.find(&path, FindingKind::Toc, detail),
                Ok(listed) => {
                    for missing in listed.difference(&seen) {
                        done.find(
                            &path,
                            FindingKind::Toc,
                            format!("{TOC_COMPONENT} lists {missing}, not in the backup"),
                        );
                    }
                    for c in &components {
                        if let Some(component) = &c.component
                            && !listed.contains(component)
                        {
                            done.find(
                                &c.path,
                                FindingKind::Toc,
                                format!("{component} is not listed in {TOC_COMPONENT}"),
                            );
                        }
                    }
                }
            }
        }
        Ok(done)
    }
}

/// The bytes a check of `sstables` reads: each `Data.db`, `Digest.crc32` and `TOC.txt`, and with
/// `md5` every file.
pub fn bytes_to_read(sstables: &[SSTableCheck], md5: bool) -> u64 {
    let read = |name: &str| {
        md5 || name.parse::<SSTableName>().is_ok_and(|n| {
            [DATA_COMPONENT, DIGEST_COMPONENT, TOC_COMPONENT].contains(&n.component.as_str())
        })
    };
    sstables
        .iter()
        .flat_map(|s| &s.files)
        .filter(|f| read(&f.name))
        .map(|f| f.size)
        .sum()
}

/// The CRC-32 a `Digest.crc32` holds: ASCII decimal, surrounding whitespace ignored.
pub fn parse_digest(bytes: &[u8]) -> Result<u32, String> {
    if bytes.len() > MAX_KEPT {
        return Err(format!(
            "{DIGEST_COMPONENT} is longer than {MAX_KEPT} bytes"
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{DIGEST_COMPONENT} is not text"))?;
    let trimmed = text.trim();
    trimmed
        .parse::<u32>()
        .map_err(|_| format!("{DIGEST_COMPONENT} holds {trimmed:?}, not a decimal CRC-32"))
}

/// The components a `TOC.txt` lists: one per line, blank lines and surrounding whitespace
/// ignored.
pub fn parse_toc(bytes: &[u8]) -> Result<BTreeSet<String>, String> {
    if bytes.len() > MAX_KEPT {
        return Err(format!("{TOC_COMPONENT} is longer than {MAX_KEPT} bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{TOC_COMPONENT} is not text"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Lowercase hex of an MD5.
fn hex(md5: &[u8; 16]) -> String {
    md5.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_trimmed_decimal_crc32s() {
        assert_eq!(parse_digest(b"3735928559\n"), Ok(3_735_928_559));
        assert_eq!(parse_digest(b"  42 "), Ok(42));
        for bad in [
            &b""[..],
            b"-1",
            b"4294967296",
            b"0x2a",
            b"12 34",
            b"\xff\xfe",
        ] {
            assert!(parse_digest(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_digest(&vec![b'1'; MAX_KEPT + 1]).is_err());
    }

    #[test]
    fn tocs_list_one_component_a_line() {
        let toc = parse_toc(b"Data.db\r\nIndex.db\n\n  TOC.txt  \nDigest.crc32").unwrap();
        let want: BTreeSet<String> = ["Data.db", "Index.db", "TOC.txt", "Digest.crc32"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(toc, want);
        assert!(parse_toc(b"").unwrap().is_empty());
        assert!(parse_toc(b"\xff").is_err());
    }
}
