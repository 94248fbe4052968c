//! The validate endpoints: a validate run's details (`GET
//! /api/v1/cluster/{c}/task/validate_backup/{task}/{run|latest}`).

use serde::{Deserialize, Serialize};

use crate::manager::store::{TaskRun, ValidateRunProgress};
use crate::manager::validate::report::ValidateReport;

/// A validate run: the run, its status line, its progress rows, and the report they add up to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateRunDetails {
    /// The run.
    pub run: TaskRun,
    /// The run's status as one line (`DONE`, `RUNNING`, `ERROR: broken snapshots: ...`).
    pub status_text: String,
    /// The progress rows (one per DC, host and location).
    pub progress: Vec<ValidateRunProgress>,
    /// What the run found so far, per location and node directory.
    pub report: ValidateReport,
}
