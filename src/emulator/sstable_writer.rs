//! Writes one SSTable: the full component set, streamed, with a true `Digest.crc32`.
//!
//! Contents are filler bytes from the seed (SSTables are compressed, so random bytes are what a
//! real `Data.db` looks like to a transfer tool). Sizes follow a real SSTable's proportions:
//! `Data.db` dominates, the index is a few percent, the rest is small. `TOC.txt` is written last,
//! as Scylla makes it visible last, so a directory scan never sees a half-written SSTable as
//! complete.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::format::sstable::{
    COMPONENTS, DATA_COMPONENT, DIGEST_COMPONENT, SSTableName, TOC_COMPONENT,
};

use super::rng::Rng;

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

/// Writes an SSTable named like `name` (any component) into `dir` with `data` bytes of data.
pub fn write_sstable(
    dir: &Path,
    name: &SSTableName,
    data: u64,
    mut rng: Rng,
) -> io::Result<WrittenSSTable> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    let mut crc = crc32fast::Hasher::new();
    for component in COMPONENTS {
        if component == DIGEST_COMPONENT || component == TOC_COMPONENT {
            continue;
        }
        let path = dir.join(name.with_component(component).to_string());
        let mut file = io::BufWriter::with_capacity(CHUNK, File::create(&path)?);
        let mut left = component_size(component, data);
        total += left;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            rng.fill(&mut buf[..n]);
            if component == DATA_COMPONENT {
                crc.update(&buf[..n]);
            }
            file.write_all(&buf[..n])?;
            left -= n as u64;
        }
        file.flush()?;
    }
    let digest = crc.finalize().to_string();
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
