//! What a validate run is given ([`ValidateDeps`]) and why it fails ([`ValidateError`]). A
//! validate run is requested as a backup run is ([`RunRequest`]).

use std::sync::Arc;

use actix::Addr;

use crate::manager::backup::settings::RunSettings;
use crate::manager::progress_actor::ProgressActor;
use crate::manager::store::{Store, StoreError, ValidateRunProgress};

pub use crate::manager::backup::run::RunRequest;

/// The manager-wide parts every validate run uses.
#[derive(Clone)]
pub struct ValidateDeps {
    /// The state store.
    pub store: Arc<dyn Store>,
    /// Batched writes of validate progress rows.
    pub progress: Addr<ProgressActor<ValidateRunProgress>>,
    /// The manager's run settings (long poll, owner, agent port and token).
    pub settings: Arc<RunSettings>,
}

/// Why a validate run failed.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The task's properties are not valid validate properties.
    #[error("task properties: {0}")]
    Properties(String),
    /// A location could not be read.
    #[error(transparent)]
    Location(#[from] crate::manager::location::manifests::LocationError),
    /// The run's nodes or locations could not be found.
    #[error(transparent)]
    Target(#[from] super::targets::TargetError),
    /// A location's lease could not be taken or was lost while orphans were deleted.
    #[error(transparent)]
    Lease(#[from] crate::manager::lease::LeaseError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What was found makes the run fail ("broken snapshots: ...", corrupt files, orphans).
    #[error("{0}")]
    Found(String),
    /// The run was stopped.
    #[error("stopped")]
    Stopped,
}
