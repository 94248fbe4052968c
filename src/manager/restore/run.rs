//! What one restore run is given and shares: the manager-wide parts ([`RestoreDeps`]), why a
//! run fails ([`RestoreError`]), and what the DATA stage's node actors share ([`DataContext`]).
//! A restore run is requested as a backup run is ([`RunRequest`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix::Addr;
use tokio_util::sync::CancellationToken;

use super::batches::BatchPool;
use super::target::InitError;
use crate::format::dclimit::DcLimits;
use crate::format::tag::SnapshotTag;
use crate::manager::agent_client::error::AgentError;
use crate::manager::backup::settings::RunSettings;
use crate::manager::progress_actor::{FlushProgress, ProgressActor, ProgressUpdate};
use crate::manager::store::{RestoreRunProgress, RunKey, Store, StoreError};

pub use crate::manager::backup::run::RunRequest;

/// The manager-wide parts every restore run uses.
#[derive(Clone)]
pub struct RestoreDeps {
    /// The state store.
    pub store: Arc<dyn Store>,
    /// Batched writes of restore progress rows.
    pub progress: Addr<ProgressActor<RestoreRunProgress>>,
    /// The manager's run settings (long poll, minimum free disk, owner).
    pub settings: Arc<RunSettings>,
}

/// Why a restore run failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The task's properties are not valid restore properties.
    #[error("task properties: {0}")]
    Properties(String),
    /// Init, or a CQL stage (views, tombstone_gc, schema), failed.
    #[error(transparent)]
    Init(#[from] InitError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An agent call outside a batch failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// SSTables are left that no host could restore.
    #[error("failed to restore {left}{}", if .causes.is_empty() { String::new() } else { format!(" ({})", .causes.join("; ")) })]
    NotRestored {
        /// `N sstables of ks.t`, comma-separated.
        left: String,
        /// The errors of the hosts and batches that failed.
        causes: Vec<String>,
    },
    /// The post-restore repair failed.
    #[error("repair: {0}")]
    Repair(String),
    /// Progress could not be stored.
    #[error("progress could not be stored: {0}")]
    Progress(String),
    /// The run was stopped.
    #[error("stopped")]
    Stopped,
}

/// The result of a restore step.
pub type RestoreResult<T> = Result<T, RestoreError>;

/// What every node actor of a run's DATA stage shares.
pub struct DataContext {
    /// The run.
    pub key: RunKey,
    /// The cluster's name (metrics labels).
    pub cluster_name: String,
    /// The snapshot restored.
    pub tag: SnapshotTag,
    /// Each restored table's directory in the data directory, by (keyspace, table).
    pub table_dirs: BTreeMap<(String, String), String>,
    /// `transfers` of the task (-1: the agent's setting, 0: 2 × shards).
    pub transfers: i64,
    /// Download rate per DC, MiB/s.
    pub rate_limit: DcLimits,
    /// The SSTables not yet taken.
    pub pool: Mutex<BatchPool>,
    /// Bytes to restore and restored, by (keyspace, table), for the remaining-bytes metric.
    pub tables: Mutex<BTreeMap<(String, String), (u64, u64)>>,
    /// Errors of failed batches, for the run's error.
    pub errors: Mutex<Vec<String>>,
    /// The store (rows of failed batches are deleted).
    pub store: Arc<dyn Store>,
    /// Where progress rows go.
    pub progress: Addr<ProgressActor<RestoreRunProgress>>,
    /// The manager's run settings.
    pub settings: Arc<RunSettings>,
    /// Cancelled when the run is stopped.
    pub cancel: CancellationToken,
}

impl DataContext {
    /// Sends a row's new state to the progress actor.
    pub async fn put_row(&self, row: &RestoreRunProgress) {
        let _ = self.progress.send(ProgressUpdate(row.clone())).await;
    }

    /// Deletes a row once every update sent before is stored (so none writes it back).
    pub async fn delete_row(&self, row: &RestoreRunProgress) {
        let _ = self.progress.send(FlushProgress).await;
        if let Err(e) = self.store.delete_restore_progress_row(row).await {
            tracing::warn!(run = %self.key, host = %row.host, error = %e, "could not delete a failed batch's progress row");
        }
    }

    /// Records a failed batch's error.
    pub fn record_error(&self, error: String) {
        if let Ok(mut e) = self.errors.lock() {
            e.push(error);
        }
    }
}
