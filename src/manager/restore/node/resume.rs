//! A host's start in a resumed run: the interrupted run's jobs stopped, its interrupted batches
//! taken again first, and the restored tables' `upload/` directories holding exactly their
//! files, each where the pipeline expects it (what was verified is kept, not downloaded again).

use std::collections::{BTreeMap, VecDeque};

use super::{DELETE_BATCH, Dest, Inner, JOB_STOP_WAIT, NodeError, STAGING};
use crate::manager::agent_client::files::Root;
use crate::manager::agent_jobs::{self, JobError};
use crate::manager::location::verify::list_dir;
use crate::manager::restore::batches::Batch;

impl Inner {
    /// Readies the host for a resumed run: jobs of the interrupted batches stopped, those
    /// batches taken again from the pool (the one that was loading first), the restored tables'
    /// `upload/` directories holding exactly their files (each where the pipeline expects it:
    /// the first batch of a table in `upload/`, the next one in [`STAGING`]).
    pub(super) async fn prepare(&self) -> Result<VecDeque<Batch>, NodeError> {
        let ctx = &self.setup.ctx;
        let client = &self.setup.client;
        let mut rows = self.setup.interrupted.clone();
        rows.sort_by_key(|r| r.restore_started_at.is_none());
        for r in rows.iter().filter(|r| !r.agent_job_id.is_empty()) {
            match agent_jobs::stop(client, &r.agent_job_id, JOB_STOP_WAIT, &ctx.cancel).await {
                Ok(()) => {}
                Err(JobError::Stopped) => {
                    return Err(NodeError::Stopped {
                        host: self.host().to_string(),
                    });
                }
                Err(JobError::Agent(e)) if e.is_not_found() => {}
                Err(e) => {
                    tracing::warn!(host = self.host(), job = %r.agent_job_id, error = %e, "could not stop the interrupted run's job")
                }
            }
        }
        let mut queue = VecDeque::new();
        if let Ok(mut pool) = ctx.pool.lock() {
            for r in &rows {
                if let Some(b) = pool.take_exact(&r.remote_sstable_dir, &r.sstable_id) {
                    queue.push_back(b);
                }
            }
        }
        // Where each kept file belongs: the first batch of the queue goes to `upload/`, the
        // second to `upload/` too unless it is of the same table (then STAGING). A name claimed
        // by two batches of one table is ambiguous: it is removed and downloaded again.
        let mut wanted: BTreeMap<(String, String), BTreeMap<String, Option<Dest>>> =
            BTreeMap::new();
        for (i, b) in queue.iter().enumerate().take(2) {
            let dest = match queue.front() {
                Some(first)
                    if i == 1 && (&first.keyspace, &first.table) == (&b.keyspace, &b.table) =>
                {
                    Dest::Staging
                }
                _ => Dest::Upload,
            };
            let names = wanted
                .entry((b.keyspace.clone(), b.table.clone()))
                .or_default();
            for n in b.file_names() {
                names
                    .entry(n)
                    .and_modify(|d| *d = None)
                    .or_insert(Some(dest));
            }
        }
        for ((ks, t), dir) in &ctx.table_dirs {
            self.check_stop()?;
            let upload = format!("{dir}/upload");
            let keep = wanted.get(&(ks.clone(), t.clone()));
            let mut delete = Vec::new();
            for e in list_dir(client, Root::Data, &upload, true).await? {
                if e.dir {
                    continue;
                }
                let (at, name) = match e.path.split_once('/') {
                    None => (Dest::Upload, e.path.clone()),
                    Some((STAGING, n)) if !n.contains('/') => (Dest::Staging, n.to_string()),
                    Some(_) => (Dest::Upload, String::new()),
                };
                let full = format!("{upload}/{}", e.path);
                match keep.and_then(|k| k.get(&name)).copied().flatten() {
                    Some(want) if want == at => {}
                    Some(want) => {
                        let to = match want {
                            Dest::Upload => format!("{upload}/{name}"),
                            Dest::Staging => format!("{upload}/{STAGING}/{name}"),
                        };
                        client.move_file(Root::Data, &full, &to, false).await?;
                    }
                    None => delete.push(full),
                }
            }
            for chunk in delete.chunks(DELETE_BATCH) {
                client.delete_files(Root::Data, chunk).await?;
            }
        }
        if !queue.is_empty() {
            tracing::info!(
                host = self.host(),
                batches = queue.len(),
                "resuming interrupted batches first"
            );
        }
        Ok(queue)
    }
}
