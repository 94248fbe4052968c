//! DEDUPLICATE: the files of the snapshot the location already holds (decided by
//! [`crate::manager::backup::dedup`]) are deleted from the snapshot and counted as skipped.

use std::collections::HashMap;

use actix::prelude::*;

use super::{DELETE_BATCH, Inner, NodeActor, NodeResult, TableDir, stage};
use crate::format::sstable::{DIGEST_COMPONENT, SSTableName};
use crate::manager::agent_client::files::Root;
use crate::manager::backup::dedup::deduplicate;
use crate::manager::backup::stage::BackupStage;
use crate::manager::location::verify::list_dir;

/// DEDUPLICATE: deletes from the snapshot the files the location already holds.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct Deduplicate;

impl Handler<Deduplicate> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, _: Deduplicate, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Deduplicate, |i| async move {
            i.deduplicate().await
        })
    }
}

impl Inner {
    async fn deduplicate(&self) -> NodeResult<()> {
        let mut guard = self.indexed().await?;
        let dirs = guard.as_mut().map(|d| d.as_mut_slice()).unwrap_or_default();
        let (client, host) = (self.client(), &self.setup.host);
        for t in dirs {
            self.check_stop()?;
            let remote_dir = self.remote_dir(t);
            let remote: Vec<(String, u64)> =
                list_dir(client, Root::Backup(&host.location), &remote_dir, false)
                    .await?
                    .into_iter()
                    .filter(|e| !e.dir)
                    .map(|e| (e.path, e.size))
                    .collect();
            if remote.is_empty() {
                continue;
            }
            let digests = self.digests(t, &remote, &remote_dir).await?;
            let found = deduplicate(&t.files, &remote, |local, name| {
                digests.get(&(local, name.to_string())).cloned()
            });
            if found.duplicates.is_empty() {
                continue;
            }
            let paths: Vec<String> = found
                .duplicates
                .iter()
                .map(|f| format!("{}/{f}", t.dir))
                .collect();
            for batch in paths.chunks(DELETE_BATCH) {
                client.delete_files(Root::Data, batch).await?;
            }
            t.files.retain(|f| !found.duplicates.contains(&f.0));
            let mut row = self.row(t);
            row.skipped += found.duplicate_bytes;
            row.files_skipped_count += found.duplicates.len() as u64;
            self.put_row(row).await;
        }
        Ok(())
    }

    /// The `Digest.crc32` contents, local and remote, of integer-generation bundles that exist
    /// on both sides: deduplication compares them.
    async fn digests(
        &self,
        t: &TableDir,
        remote: &[(String, u64)],
        remote_dir: &str,
    ) -> NodeResult<HashMap<(bool, String), String>> {
        let (client, host) = (self.client(), &self.setup.host);
        let mut out = HashMap::new();
        for (name, _) in &t.files {
            let integer = name
                .parse::<SSTableName>()
                .is_ok_and(|n| n.generation.is_integer());
            if !integer || !name.ends_with(DIGEST_COMPONENT) || !remote.iter().any(|r| r.0 == *name)
            {
                continue;
            }
            let local = client
                .read_file(Root::Data, &format!("{}/{name}", t.dir))
                .await?;
            let theirs = client
                .read_file(
                    Root::Backup(&host.location),
                    &format!("{remote_dir}/{name}"),
                )
                .await?;
            out.insert(
                (true, name.clone()),
                String::from_utf8_lossy(&local).into_owned(),
            );
            out.insert(
                (false, name.clone()),
                String::from_utf8_lossy(&theirs).into_owned(),
            );
        }
        Ok(out)
    }
}
