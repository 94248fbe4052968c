//! The suspension table's row: `scheduler_suspension` (one row per suspended cluster), with its
//! column list and its one mapping, in the neutral language of the parent module. The stopped
//! tasks are a list of task ids as text.

use uuid::Uuid;

use super::{RowReader, Table, Value, opt};
use crate::manager::store::{StoreError, StoreResult, Suspension};

/// The `scheduler_suspension` table; its key is the cluster.
pub(crate) const SUSPENSION: Table = Table {
    name: "scheduler_suspension",
    columns: &[
        "cluster_id",
        "started_at",
        "resume_at",
        "start_tasks",
        "stopped_tasks",
    ],
};

/// A stored `scheduler_suspension` row as a [`Suspension`].
pub(crate) fn suspension_from(r: &impl RowReader) -> StoreResult<Suspension> {
    const STOPPED: &str = "scheduler_suspension.stopped_tasks";
    let stopped_tasks = r
        .text_list(STOPPED)?
        .into_iter()
        .map(|id| {
            id.parse().map_err(|e: uuid::Error| StoreError::Corrupt {
                field: STOPPED,
                value: id.clone(),
                reason: e.to_string(),
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(Suspension {
        cluster_id: r.uuid("scheduler_suspension.cluster_id")?,
        started_at: r.time("scheduler_suspension.started_at")?,
        resume_at: r.opt_time("scheduler_suspension.resume_at")?,
        start_tasks: r.bool("scheduler_suspension.start_tasks")?,
        stopped_tasks,
    })
}

/// The values of a [`Suspension`], in [`SUSPENSION`]'s column order.
pub(crate) fn suspension_values(s: &Suspension) -> Vec<Value> {
    vec![
        Value::Uuid(s.cluster_id),
        Value::Time(s.started_at),
        opt(s.resume_at, Value::Time),
        Value::Bool(s.start_tasks),
        Value::TextList(s.stopped_tasks.iter().map(Uuid::to_string).collect()),
    ]
}
