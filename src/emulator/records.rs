//! The emulator's `Data.db` format: a sequence of partition records sorted by token, so that
//! every byte of data knows where in the ring it belongs and a restore can be checked by content.
//!
//! ```text
//! record := [magic "CRN1"][token: i64 big-endian][payload length: u32 big-endian][payload]
//! ```
//! A record's identity is its token and the hash of its bytes (header and payload): the same
//! record copied to another node, or into another SSTable by compaction, keeps its identity.
//!
//! A `Data.db` that does not parse as records (a real Scylla SSTable, say from a ScyllaDB Manager
//! backup) is one opaque partition: its bytes are the record and its token is derived from the
//! file's CRC-32, so it still loads and is placed deterministically.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use md5::{Digest, Md5};
use serde::Serialize;

use super::rng::{Rng, mix};

/// The first bytes of every record.
pub const MAGIC: [u8; 4] = *b"CRN1";
/// Bytes of a record's header: magic, token, payload length.
pub const HEADER: usize = 16;
/// Most records one generated `Data.db` holds; larger files get larger payloads.
const MAX_RECORDS: u64 = 192;
/// The payload size generation aims at before the record cap applies.
const TYPICAL_RECORD: u64 = 2048;
/// Size of the buffer payload bytes are generated in.
const CHUNK: usize = 1 << 16;

/// The tokens an SSTable covers: (first, last, record count).
pub type TokenSpan = (i64, i64, usize);

/// What identifies a record wherever it is held.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RecordId {
    /// The partition's token.
    pub token: i64,
    /// Hex MD5 (first 8 bytes) of the record's bytes.
    pub hash: String,
}

/// One record inside a `Data.db` buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The partition's token.
    pub token: i64,
    /// The record's bytes (header and payload; the whole file for an opaque record).
    pub bytes: &'a [u8],
    /// Whether this is a whole non-record file standing for one partition.
    pub opaque: bool,
}

impl Record<'_> {
    /// The record's identity.
    pub fn id(&self) -> RecordId {
        let digest = Md5::digest(self.bytes);
        let hash = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        RecordId {
            token: self.token,
            hash,
        }
    }
}

/// The token an opaque `Data.db` stands at: a mix of its CRC-32 and length.
pub fn opaque_token(data: &[u8]) -> i64 {
    let crc = crc32fast::hash(data);
    mix(u64::from(crc), &["opaque", &data.len().to_string()]) as i64
}

/// Parses only well-formed records; `None` when `data` is not a record sequence.
fn parse_records(data: &[u8]) -> Option<Vec<Record<'_>>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let header = data.get(at..at.checked_add(HEADER)?)?;
        let (magic, rest) = header.split_at(4);
        let (token, len) = rest.split_at(8);
        if magic != MAGIC {
            return None;
        }
        let token = i64::from_be_bytes(token.try_into().ok()?);
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        let end = at.checked_add(HEADER)?.checked_add(len)?;
        let bytes = data.get(at..end)?;
        out.push(Record {
            token,
            bytes,
            opaque: false,
        });
        at = end;
    }
    Some(out)
}

/// The records of a `Data.db`'s contents: its record sequence, or one opaque record when it
/// does not parse as one (an empty file holds none).
pub fn parse(data: &[u8]) -> Vec<Record<'_>> {
    if data.is_empty() {
        return Vec::new();
    }
    parse_records(data).unwrap_or_else(|| {
        vec![Record {
            token: opaque_token(data),
            bytes: data,
            opaque: true,
        }]
    })
}

/// The identities of the records of a `Data.db`'s contents, in file order.
pub fn ids(data: &[u8]) -> Vec<RecordId> {
    parse(data).iter().map(Record::id).collect()
}

/// The identities of the records of a `Data.db` file, e.g. one of a backup, for comparing a
/// restored cluster with the backup by content.
pub fn records_of_file(path: &Path) -> io::Result<Vec<RecordId>> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    Ok(ids(&data))
}

/// Splits records into the groups that can share one `Data.db`: the framed records together
/// (sorted by token), each opaque record alone (its bytes are a whole file).
pub fn group_for_files<'a>(records: &[Record<'a>]) -> Vec<Vec<Record<'a>>> {
    let mut framed: Vec<Record<'a>> = records.iter().filter(|r| !r.opaque).copied().collect();
    framed.sort_by_key(|r| r.token);
    let mut out: Vec<Vec<Record<'a>>> = records
        .iter()
        .filter(|r| r.opaque)
        .map(|r| vec![*r])
        .collect();
    if !framed.is_empty() {
        out.insert(0, framed);
    }
    out
}

/// The token range a set of records covers: (first, last, count), or `None` when empty.
pub fn token_range(records: &[Record<'_>]) -> Option<TokenSpan> {
    let first = records.iter().map(|r| r.token).min()?;
    let last = records.iter().map(|r| r.token).max()?;
    Some((first, last, records.len()))
}

/// The plan of a generated `Data.db`: its records' tokens (sorted) and payload lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// (token, payload length) of every record, sorted by token.
    pub records: Vec<(i64, u32)>,
}

impl Layout {
    /// Bytes of the `Data.db` this layout writes.
    pub fn size(&self) -> u64 {
        self.records
            .iter()
            .map(|(_, len)| HEADER as u64 + u64::from(*len))
            .sum()
    }

    /// The first and last token and the record count.
    pub fn token_range(&self) -> Option<TokenSpan> {
        let first = self.records.first()?.0;
        let last = self.records.last()?.0;
        Some((first, last, self.records.len()))
    }
}

/// Plans a `Data.db` of exactly `bytes` bytes (at least one header's worth) whose tokens come
/// from `token`; `None` when `bytes` is too small to hold a single record.
pub fn plan(rng: &mut Rng, bytes: u64, mut token: impl FnMut(&mut Rng) -> i64) -> Option<Layout> {
    let header = HEADER as u64;
    if bytes < header {
        return None;
    }
    let count = (bytes / (header + TYPICAL_RECORD)).clamp(1, MAX_RECORDS);
    let payload = bytes - count * header;
    let (each, extra) = (payload / count, payload % count);
    let mut tokens: Vec<i64> = (0..count).map(|_| token(rng)).collect();
    tokens.sort_unstable();
    let mut records = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.into_iter().enumerate() {
        let len = each + u64::from((i as u64) < extra);
        // A payload over 4 GiB would need a longer length field; such a file becomes opaque-sized.
        records.push((t, u32::try_from(len).unwrap_or(u32::MAX)));
    }
    Some(Layout { records })
}

/// Writes the records a layout plans, payloads from `rng`; returns the CRC-32 of what it wrote.
pub fn write_layout(out: &mut impl Write, layout: &Layout, rng: &mut Rng) -> io::Result<u32> {
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    for (token, len) in &layout.records {
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&MAGIC);
        header[4..12].copy_from_slice(&token.to_be_bytes());
        header[12..].copy_from_slice(&len.to_be_bytes());
        crc.update(&header);
        out.write_all(&header)?;
        let mut left = *len as usize;
        while left > 0 {
            let n = left.min(CHUNK);
            let chunk = &mut buf[..n];
            rng.fill(chunk);
            crc.update(chunk);
            out.write_all(chunk)?;
            left -= n;
        }
    }
    Ok(crc.finalize())
}

/// Encodes one record with this token and payload.
pub fn encode(token: i64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&token.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_file_has_the_asked_size_and_parses_back_sorted() {
        let mut rng = Rng::for_parts(1, &["t"]);
        for bytes in [16u64, 100, 5000, 1 << 20] {
            let layout = plan(&mut rng, bytes, |r| r.next_u64() as i64).unwrap();
            assert_eq!(layout.size(), bytes);
            let mut data = Vec::new();
            let crc = write_layout(&mut data, &layout, &mut rng).unwrap();
            assert_eq!(crc, crc32fast::hash(&data));
            let records = parse(&data);
            assert_eq!(records.len(), layout.records.len());
            assert!(records.iter().all(|r| !r.opaque));
            assert!(records.windows(2).all(|w| w[0].token <= w[1].token));
            let tokens: Vec<i64> = records.iter().map(|r| r.token).collect();
            let planned: Vec<i64> = layout.records.iter().map(|r| r.0).collect();
            assert_eq!(tokens, planned);
        }
        assert!(plan(&mut rng, 15, |_| 0).is_none());
    }

    #[test]
    fn records_keep_their_identity_when_regrouped() {
        let (a, b) = (encode(-5, b"alpha"), encode(7, b"beta"));
        let joined = [b.clone(), a.clone()].concat();
        let ids_joined = ids(&joined);
        assert_eq!(ids_joined.len(), 2);
        assert_eq!(ids(&a)[0], ids_joined[1]);
        let regrouped = group_for_files(&parse(&joined));
        assert_eq!(regrouped.len(), 1);
        assert_eq!(regrouped[0][0].token, -5, "sorted by token");
        assert_ne!(ids(&a)[0].hash, ids(&encode(-5, b"alphA"))[0].hash);
    }

    #[test]
    fn a_foreign_file_is_one_opaque_record_with_a_stable_token() {
        let data = b"not records at all, a real SSTable".to_vec();
        let records = parse(&data);
        assert_eq!(records.len(), 1);
        assert!(records[0].opaque);
        assert_eq!(records[0].token, opaque_token(&data));
        assert_eq!(parse(&data)[0].token, records[0].token);
        let mut other = data.clone();
        other[0] ^= 1;
        assert_ne!(opaque_token(&other), records[0].token);
        // A truncated record sequence is foreign too.
        let cut = encode(1, b"payload");
        assert!(parse(&cut[..cut.len() - 1])[0].opaque);
        assert!(parse(&[]).is_empty());
        let mixed = [parse(&cut)[0], records[0]];
        assert_eq!(
            group_for_files(&mixed).len(),
            2,
            "opaque records stay alone"
        );
    }
}
