//! A table's `upload/` directory on one node: checking its SSTables complete, moving them into
//! the table under new generations (refresh), reading them for load&stream and removing them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::format::sstable::{DATA_COMPONENT, SSTableName, TOC_COMPONENT};

use super::node::{LiveSSTable, Node, NodeError, TableRef, UPLOAD_DIR, io_err, live_sstables};
use super::sstable_writer::read_toc;

impl Node {
    /// Loads the SSTables found in the table's `upload/` directory: each complete SSTable is
    /// moved into the table under a new generation. Returns how many were loaded. Incomplete
    /// SSTables fail the call before anything moves.
    pub fn load_uploaded(&self, t: &TableRef) -> Result<usize, NodeError> {
        let mut disk = self.lock();
        let dir = self.table_dir(t);
        let upload = dir.join(UPLOAD_DIR);
        let found = complete_uploads(&upload)?;
        for (name, s) in &found {
            let generation = self.new_generation(&mut disk, &dir)?;
            let renamed = SSTableName {
                generation,
                ..name.clone()
            };
            // TOC last, so the SSTable becomes visible whole.
            let mut files: Vec<&String> = s.files.iter().collect();
            files.sort_by_key(|f| f.ends_with(TOC_COMPONENT));
            for file in files {
                let component = file
                    .parse::<SSTableName>()
                    .map(|n| n.component)
                    .unwrap_or_default();
                let (from, to) = (
                    upload.join(file),
                    dir.join(renamed.with_component(&component).to_string()),
                );
                fs::rename(&from, &to).map_err(io_err("move", &from))?;
            }
        }
        Ok(found.len())
    }

    /// The complete SSTables of the table's `upload/` with the contents of their `Data.db`;
    /// fails, reading nothing more, at the first incomplete one.
    pub fn read_uploads(&self, t: &TableRef) -> Result<Vec<UploadedSSTable>, NodeError> {
        let _disk = self.lock();
        let upload = self.table_dir(t).join(UPLOAD_DIR);
        complete_uploads(&upload)?
            .into_iter()
            .map(|(name, s)| {
                let p = upload.join(name.with_component(DATA_COMPONENT).to_string());
                let data = fs::read(&p).map_err(io_err("read", &p))?;
                Ok(UploadedSSTable {
                    files: s.files,
                    data,
                })
            })
            .collect()
    }

    /// Removes these SSTables from the table's `upload/` (TOC first, so none looks complete
    /// half-removed).
    pub fn remove_uploads(
        &self,
        t: &TableRef,
        sstables: &[UploadedSSTable],
    ) -> Result<(), NodeError> {
        let _disk = self.lock();
        let upload = self.table_dir(t).join(UPLOAD_DIR);
        for s in sstables {
            let mut files: Vec<&String> = s.files.iter().collect();
            files.sort_by_key(|f| !f.ends_with(TOC_COMPONENT));
            for file in files {
                let p = upload.join(file);
                fs::remove_file(&p).map_err(io_err("remove", &p))?;
            }
        }
        Ok(())
    }
}

/// The SSTables in an `upload/` directory, each checked complete: a TOC, and every component it
/// lists present. The first incomplete one fails the whole call.
fn complete_uploads(upload: &Path) -> Result<BTreeMap<SSTableName, LiveSSTable>, NodeError> {
    let found = live_sstables(upload)?;
    for (name, s) in &found {
        let toc = name.with_component(TOC_COMPONENT);
        if !s.files.contains(&toc.to_string()) {
            return Err(NodeError::Incomplete {
                dir: upload.to_path_buf(),
                sstable: name.to_string(),
                component: TOC_COMPONENT.into(),
            });
        }
        let listed = read_toc(upload, &toc).map_err(io_err("read", upload))?;
        if let Some(missing) = listed
            .iter()
            .find(|c| !s.files.contains(&name.with_component(c).to_string()))
        {
            return Err(NodeError::Incomplete {
                dir: upload.to_path_buf(),
                sstable: toc.to_string(),
                component: missing.clone(),
            });
        }
    }
    Ok(found)
}

/// One complete SSTable read from `upload/`.
#[derive(Debug, Clone)]
pub struct UploadedSSTable {
    /// File names of its components in `upload/`.
    pub files: Vec<String>,
    /// The contents of its `Data.db`.
    pub data: Vec<u8>,
}
