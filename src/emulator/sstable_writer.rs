//! Writes one SSTable: the full component set, streamed, with a true `Digest.crc32`.
//!
//! `Data.db` is a sequence of partition records ([`super::records`]) whose payloads are bytes
//! from the seed (SSTables are compressed, so random bytes are what a real `Data.db` looks like
//! to a transfer tool); the other components are filler, but `Statistics.db` starts with the
//! SSTable's token range and record count. Sizes follow a real SSTable's proportions:
//! `Data.db` dominates, the index is a few percent, the rest is small. `TOC.txt` is written last,
//! as Scylla makes it visible last, so a directory scan never sees a half-written SSTable as
//! complete.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::format::sstable::{
    COMPONENTS, DATA_COMPONENT, DIGEST_COMPONENT, SSTableName, TOC_COMPONENT,
};

use super::placement::pick_token;
use super::records::{self, Record, TokenSpan};
use super::rng::Rng;

/// The component whose head records the token range.
const STATISTICS_COMPONENT: &str = "Statistics.db";

/// Size of the buffer data is generated and written in.
const CHUNK: usize = 1 << 20;

/// The size a component has in an SSTable whose `Data.db` has `data` bytes.
pub fn component_size(component: &str, data: u64) -> u64 {
    match component {
        "Data.db" => data,
        "Index.db" => data / 40 + 64,
        "Summary.db" => data / 4000 + 56,
        "Filter.db" => data / 160 + 24,
        "Statistics.db" => 4500 + data / 100_000,
        "CompressionInfo.db" => (data / 65_536 + 1) * 8 + 48,
        "Scylla.db" => 96,
        _ => 0,
    }
}

/// What was written for one SSTable.
#[derive(Debug, Clone)]
pub struct WrittenSSTable {
    /// Name of the `TOC.txt` component; the others differ only in the component.
    pub toc: SSTableName,
    /// Bytes of `Data.db`.
    pub data_size: u64,
    /// Bytes of all components together.
    pub total_size: u64,
}

/// What an SSTable's `Data.db` holds.
#[derive(Debug, Clone, Copy)]
pub enum Contents<'a> {
    /// New records of `bytes` bytes in all, their tokens inside `ranges` (a flush, the dataset).
    Generated {
        /// Bytes of `Data.db`.
        bytes: u64,
        /// The token ranges (start exclusive, end inclusive) the records fall in.
        ranges: &'a [(i64, i64)],
    },
    /// These records, in this order (load&stream, repair, compaction).
    Records(&'a [Record<'a>]),
}

/// Writes `Data.db` into `path`; returns its size, CRC-32 and token range.
fn write_data(
    path: &Path,
    contents: Contents<'_>,
    rng: &mut Rng,
) -> io::Result<(u64, u32, Option<TokenSpan>)> {
    let mut file = io::BufWriter::with_capacity(CHUNK, File::create(path)?);
    let out = match contents {
        Contents::Generated { bytes, ranges } => {
            match records::plan(rng, bytes, |r| pick_token(r, ranges)) {
                Some(layout) => {
                    let crc = records::write_layout(&mut file, &layout, rng)?;
                    (layout.size(), crc, layout.token_range())
                }
                None => {
                    // Too small for one record: filler, which reads back as an opaque record.
                    let mut buf = vec![0u8; bytes as usize];
                    rng.fill(&mut buf);
                    file.write_all(&buf)?;
                    let token = records::opaque_token(&buf);
                    (bytes, crc32fast::hash(&buf), Some((token, token, 1)))
                }
            }
        }
        Contents::Records(list) => {
            let mut crc = crc32fast::Hasher::new();
            let mut size = 0u64;
            for r in list {
                crc.update(r.bytes);
                file.write_all(r.bytes)?;
                size += r.bytes.len() as u64;
            }
            (size, crc.finalize(), records::token_range(list))
        }
    };
    file.flush()?;
    Ok(out)
}

/// Writes an SSTable named like `name` (any component) into `dir` holding `contents`. The
/// token range and record count go into the head of `Statistics.db`.
pub fn write_sstable(
    dir: &Path,
    name: &SSTableName,
    contents: Contents<'_>,
    mut rng: Rng,
) -> io::Result<WrittenSSTable> {
    let data_path = dir.join(name.with_component(DATA_COMPONENT).to_string());
    let (data, crc, range) = write_data(&data_path, contents, &mut rng)?;
    let mut total = data;
    let mut buf = vec![0u8; CHUNK];
    for component in COMPONENTS {
        if [DATA_COMPONENT, DIGEST_COMPONENT, TOC_COMPONENT].contains(&component) {
            continue;
        }
        let path = dir.join(name.with_component(component).to_string());
        let mut file = io::BufWriter::with_capacity(CHUNK, File::create(&path)?);
        let mut left = component_size(component, data);
        total += left;
        if component == STATISTICS_COMPONENT {
            let (first, last, count) = range.unwrap_or((0, 0, 0));
            let head = format!("first_token={first}\nlast_token={last}\nrecords={count}\n");
            let head = &head.as_bytes()[..head.len().min(left as usize)];
            file.write_all(head)?;
            left -= head.len() as u64;
        }
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            rng.fill(&mut buf[..n]);
            file.write_all(&buf[..n])?;
            left -= n as u64;
        }
        file.flush()?;
    }
    let digest = crc.to_string();
    total += write_small(
        dir,
        &name.with_component(DIGEST_COMPONENT),
        digest.as_bytes(),
    )?;
    let toc: String = COMPONENTS.iter().map(|c| format!("{c}\n")).collect();
    let toc_name = name.with_component(TOC_COMPONENT);
    total += write_small(dir, &toc_name, toc.as_bytes())?;
    Ok(WrittenSSTable {
        toc: toc_name,
        data_size: data,
        total_size: total,
    })
}

/// Writes a small component through a temporary name, so it appears whole.
fn write_small(dir: &Path, name: &SSTableName, bytes: &[u8]) -> io::Result<u64> {
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, dir.join(name.to_string()))?;
    Ok(bytes.len() as u64)
}

/// The components `TOC.txt` of an SSTable lists.
pub fn read_toc(dir: &Path, toc: &SSTableName) -> io::Result<Vec<String>> {
    let text = fs::read_to_string(dir.join(toc.to_string()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}
