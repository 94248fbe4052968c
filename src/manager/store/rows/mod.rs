//! The store's rows, one mapping per table: each table's column list, how a stored row becomes
//! its model type and how a model value becomes the row's values, written once for both stores.
//!
//! The mappings speak a small backend-neutral language: a row is written as a list of [`Value`]s
//! (one per column, in the table's column order) and read through a [`RowReader`]. Each store
//! says how a value kind is kept in its columns (SQLite: UUIDs and collections as text, times as
//! integer milliseconds; ScyllaDB: native `uuid`, `timeuuid`, `timestamp`, lists and maps) and
//! how it reads one back; nothing here knows either backend.
//!
//! A stored value that cannot be read as its model type (a bad UUID, a negative counter, an
//! unknown stage) is a [`StoreError::Corrupt`] naming the column as `table.column`; a model value
//! that does not fit its column is a [`StoreError::OutOfRange`] or [`StoreError::NotTimeUuid`].
//!
//! | module | tables |
//! | --- | --- |
//! | this one | the neutral [`Value`] and [`RowReader`]; `cluster`, `scheduler_task`, `scheduler_task_run`, `backup_run`, `backup_run_progress` |
//! | `restore` | `restore_run`, `restore_run_progress` |
//! | `validate` | `validate_backup_run_progress` |
//! | `suspension` | `scheduler_suspension` |

mod restore;
mod suspension;
mod validate;

pub(crate) use restore::{
    RESTORE_PROGRESS, RESTORE_RUN, restore_progress_from, restore_progress_row_key,
    restore_progress_values, restore_run_from, restore_run_values,
};
pub(crate) use suspension::{SUSPENSION, suspension_from, suspension_values};
pub(crate) use validate::{VALIDATE_PROGRESS, validate_progress_from, validate_progress_values};

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{BackupRun, BackupRunProgress, Cluster, StoreError, StoreResult, Task, TaskRun};
use super::{BackupStage, time_uuid_ticks};

/// One column value to write, by the kind of value it holds; each store chooses its encoding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// No value (a `None` of the model).
    Null,
    /// Text.
    Text(String),
    /// A signed 32-bit integer (CQL `int`).
    Int(i32),
    /// A signed 64-bit integer (CQL `bigint`).
    BigInt(i64),
    /// A boolean.
    Bool(bool),
    /// A UUID (CQL `uuid`).
    Uuid(Uuid),
    /// A version-1 time UUID (CQL `timeuuid`); made only by [`time_uuid_value`].
    TimeUuid(Uuid),
    /// A time, kept to the millisecond (CQL `timestamp`).
    Time(DateTime<Utc>),
    /// A list of texts (CQL `list<text>`).
    TextList(Vec<String>),
    /// A map of texts (CQL `map<text, text>`).
    TextMap(BTreeMap<String, String>),
    /// A JSON document (text in SQLite, a CQL `blob` in ScyllaDB).
    Document(String),
}

/// A table: its name and its columns, in the order rows are read and values are written.
#[derive(Debug)]
pub(crate) struct Table {
    /// The table's name in statements.
    pub name: &'static str,
    /// The columns every mapping reads and writes, in order.
    pub columns: &'static [&'static str],
}

impl Table {
    /// The columns as a statement lists them: `a, b, c`.
    pub fn column_list(&self) -> String {
        self.columns.join(", ")
    }

    /// The position of the column a label (`table.column`) names.
    pub fn index(&self, label: &'static str) -> StoreResult<usize> {
        label
            .split_once('.')
            .filter(|(table, _)| *table == self.name)
            .and_then(|(_, column)| self.columns.iter().position(|c| *c == column))
            .ok_or_else(|| StoreError::Corrupt {
                field: label,
                value: String::new(),
                reason: format!("not a column read from {}", self.name),
            })
    }
}

/// Reads the columns of one stored row, each named by its label `table.column`. A store
/// implements the kinds of [`Value`] it writes; the typed readers below build on them.
pub(crate) trait RowReader {
    /// A text column.
    fn opt_text(&self, label: &'static str) -> StoreResult<Option<String>>;
    /// An integer column (`int` or `bigint`).
    fn opt_integer(&self, label: &'static str) -> StoreResult<Option<i64>>;
    /// A boolean column.
    fn opt_bool(&self, label: &'static str) -> StoreResult<Option<bool>>;
    /// A UUID or time UUID column.
    fn opt_uuid(&self, label: &'static str) -> StoreResult<Option<Uuid>>;
    /// A time column, as milliseconds since the Unix epoch.
    fn opt_millis(&self, label: &'static str) -> StoreResult<Option<i64>>;
    /// A list of texts; ScyllaDB keeps an empty list as no value, read as empty.
    fn text_list(&self, label: &'static str) -> StoreResult<Vec<String>>;
    /// A map of texts; ScyllaDB keeps an empty map as no value, read as empty.
    fn text_map(&self, label: &'static str) -> StoreResult<BTreeMap<String, String>>;
    /// A JSON document's text.
    fn document(&self, label: &'static str) -> StoreResult<String>;

    /// A text column that must hold a value.
    fn text(&self, label: &'static str) -> StoreResult<String> {
        self.opt_text(label)?.ok_or_else(|| missing(label))
    }

    /// An integer column that must hold a value.
    fn integer(&self, label: &'static str) -> StoreResult<i64> {
        self.opt_integer(label)?.ok_or_else(|| missing(label))
    }

    /// A boolean column that must hold a value.
    fn bool(&self, label: &'static str) -> StoreResult<bool> {
        self.opt_bool(label)?.ok_or_else(|| missing(label))
    }

    /// A UUID column that must hold a value.
    fn uuid(&self, label: &'static str) -> StoreResult<Uuid> {
        self.opt_uuid(label)?.ok_or_else(|| missing(label))
    }

    /// A time column, if it holds a value.
    fn opt_time(&self, label: &'static str) -> StoreResult<Option<DateTime<Utc>>> {
        self.opt_millis(label)?
            .map(|ms| from_millis(label, ms))
            .transpose()
    }

    /// A time column that must hold a value.
    fn time(&self, label: &'static str) -> StoreResult<DateTime<Utc>> {
        self.opt_time(label)?.ok_or_else(|| missing(label))
    }

    /// An integer column as the model's unsigned type.
    fn unsigned<U: TryFrom<i64>>(&self, label: &'static str) -> StoreResult<U> {
        from_signed(label, self.integer(label)?)
    }

    /// A text column parsed as one of the store's enums or another parsed type.
    fn parsed<T>(&self, label: &'static str) -> StoreResult<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        parse_text(label, &self.text(label)?)
    }

    /// A text column holding JSON, as a model value.
    fn json<T: serde::de::DeserializeOwned>(&self, label: &'static str) -> StoreResult<T> {
        from_json(label, &self.text(label)?)
    }
}

/// The error for a column that holds no value where the model needs one.
pub(crate) fn missing(label: &'static str) -> StoreError {
    StoreError::Corrupt {
        field: label,
        value: String::new(),
        reason: "the column holds no value".to_owned(),
    }
}

/// The error for a column whose stored kind is not the one its mapping reads.
pub(crate) fn wrong_kind(label: &'static str, found: impl fmt::Debug, want: &str) -> StoreError {
    StoreError::Corrupt {
        field: label,
        value: format!("{found:?}"),
        reason: format!("not {want}"),
    }
}

/// An optional model value as a column value.
fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    v.map_or(Value::Null, f)
}

/// A run id as a column value, refusing ids that are not version-1 UUIDs.
pub(crate) fn time_uuid_value(field: &'static str, id: Uuid) -> StoreResult<Value> {
    time_uuid_ticks(field, id)?;
    Ok(Value::TimeUuid(id))
}

/// The `cluster` table.
pub(crate) const CLUSTER: Table = Table {
    name: "cluster",
    columns: &[
        "id",
        "name",
        "hosts",
        "agent_port",
        "auth_token",
        "cql_username",
        "cql_password",
        "created_at",
        "agent_pins",
    ],
};

/// A stored `cluster` row as a [`Cluster`].
pub(crate) fn cluster_from(r: &impl RowReader) -> StoreResult<Cluster> {
    Ok(Cluster {
        id: r.uuid("cluster.id")?,
        name: r.text("cluster.name")?,
        hosts: r.text_list("cluster.hosts")?,
        agent_port: r.unsigned("cluster.agent_port")?,
        auth_token: r.text("cluster.auth_token")?,
        cql_username: r.opt_text("cluster.cql_username")?,
        cql_password: r.opt_text("cluster.cql_password")?,
        created_at: r.time("cluster.created_at")?,
        agent_pins: r.text_map("cluster.agent_pins")?,
    })
}

/// The values of a [`Cluster`], in [`CLUSTER`]'s column order.
pub(crate) fn cluster_values(c: &Cluster) -> Vec<Value> {
    vec![
        Value::Uuid(c.id),
        Value::Text(c.name.clone()),
        Value::TextList(c.hosts.clone()),
        Value::Int(i32::from(c.agent_port)),
        Value::Text(c.auth_token.clone()),
        opt(c.cql_username.clone(), Value::Text),
        opt(c.cql_password.clone(), Value::Text),
        Value::Time(c.created_at),
        Value::TextMap(c.agent_pins.clone()),
    ]
}

/// The `scheduler_task` table.
pub(crate) const TASK: Table = Table {
    name: "scheduler_task",
    columns: &[
        "cluster_id",
        "type",
        "id",
        "name",
        "labels",
        "enabled",
        "deleted",
        "sched",
        "properties",
        "status",
        "success_count",
        "error_count",
        "last_success",
        "last_error",
    ],
};

/// A stored `scheduler_task` row as a [`Task`].
pub(crate) fn task_from(r: &impl RowReader) -> StoreResult<Task> {
    Ok(Task {
        cluster_id: r.uuid("scheduler_task.cluster_id")?,
        task_type: r.parsed("scheduler_task.type")?,
        id: r.uuid("scheduler_task.id")?,
        name: r.text("scheduler_task.name")?,
        labels: r.text_map("scheduler_task.labels")?,
        enabled: r.bool("scheduler_task.enabled")?,
        deleted: r.bool("scheduler_task.deleted")?,
        schedule: r.json("scheduler_task.sched")?,
        properties: from_json(
            "scheduler_task.properties",
            &r.document("scheduler_task.properties")?,
        )?,
        status: r
            .opt_text("scheduler_task.status")?
            .map(|s| parse_text("scheduler_task.status", &s))
            .transpose()?,
        success_count: r.unsigned("scheduler_task.success_count")?,
        error_count: r.unsigned("scheduler_task.error_count")?,
        last_success: r.opt_time("scheduler_task.last_success")?,
        last_error: r.opt_time("scheduler_task.last_error")?,
    })
}

/// The values of a [`Task`], in [`TASK`]'s column order.
pub(crate) fn task_values(t: &Task) -> StoreResult<Vec<Value>> {
    Ok(vec![
        Value::Uuid(t.cluster_id),
        Value::Text(t.task_type.as_str().to_owned()),
        Value::Uuid(t.id),
        Value::Text(t.name.clone()),
        Value::TextMap(t.labels.clone()),
        Value::Bool(t.enabled),
        Value::Bool(t.deleted),
        Value::Text(to_json("task schedule", &t.schedule)?),
        Value::Document(to_json("task properties", &t.properties)?),
        opt(t.status, |s| Value::Text(s.as_str().to_owned())),
        Value::BigInt(to_i64("task success_count", t.success_count)?),
        Value::BigInt(to_i64("task error_count", t.error_count)?),
        opt(t.last_success, Value::Time),
        opt(t.last_error, Value::Time),
    ])
}

/// The `scheduler_task_run` table.
pub(crate) const TASK_RUN: Table = Table {
    name: "scheduler_task_run",
    columns: &[
        "cluster_id",
        "type",
        "task_id",
        "id",
        "status",
        "cause",
        "owner",
        "start_time",
        "end_time",
    ],
};

/// A stored `scheduler_task_run` row as a [`TaskRun`].
pub(crate) fn task_run_from(r: &impl RowReader) -> StoreResult<TaskRun> {
    Ok(TaskRun {
        cluster_id: r.uuid("scheduler_task_run.cluster_id")?,
        task_type: r.parsed("scheduler_task_run.type")?,
        task_id: r.uuid("scheduler_task_run.task_id")?,
        id: r.uuid("scheduler_task_run.id")?,
        status: r.parsed("scheduler_task_run.status")?,
        cause: r.opt_text("scheduler_task_run.cause")?.unwrap_or_default(),
        owner: r.opt_text("scheduler_task_run.owner")?.unwrap_or_default(),
        start_time: r.time("scheduler_task_run.start_time")?,
        end_time: r.opt_time("scheduler_task_run.end_time")?,
    })
}

/// The values of a [`TaskRun`], in [`TASK_RUN`]'s column order; refuses a run id that is not
/// a time UUID.
pub(crate) fn task_run_values(r: &TaskRun) -> StoreResult<Vec<Value>> {
    Ok(vec![
        Value::Uuid(r.cluster_id),
        Value::Text(r.task_type.as_str().to_owned()),
        Value::Uuid(r.task_id),
        time_uuid_value("task run id", r.id)?,
        Value::Text(r.status.as_str().to_owned()),
        Value::Text(r.cause.clone()),
        Value::Text(r.owner.clone()),
        Value::Time(r.start_time),
        opt(r.end_time, Value::Time),
    ])
}

/// The `backup_run` table.
pub(crate) const BACKUP_RUN: Table = Table {
    name: "backup_run",
    columns: &[
        "cluster_id",
        "task_id",
        "id",
        "prev_id",
        "snapshot_tag",
        "units",
        "dc",
        "location",
        "nodes",
        "start_time",
        "stage",
        "skipped_hosts",
    ],
};

/// A stored `backup_run` row as a [`BackupRun`].
pub(crate) fn backup_run_from(r: &impl RowReader) -> StoreResult<BackupRun> {
    Ok(BackupRun {
        cluster_id: r.uuid("backup_run.cluster_id")?,
        task_id: r.uuid("backup_run.task_id")?,
        id: r.uuid("backup_run.id")?,
        prev_id: r.opt_uuid("backup_run.prev_id")?,
        snapshot_tag: r.parsed("backup_run.snapshot_tag")?,
        units: r.json("backup_run.units")?,
        dc: r.text_list("backup_run.dc")?,
        location: r
            .text_list("backup_run.location")?
            .iter()
            .map(|l| parse_text("backup_run.location", l))
            .collect::<StoreResult<_>>()?,
        nodes: r.text_list("backup_run.nodes")?,
        start_time: r.time("backup_run.start_time")?,
        stage: r.parsed::<BackupStage>("backup_run.stage")?,
        // A run stored before the column was added has none.
        skipped_hosts: r
            .opt_text("backup_run.skipped_hosts")?
            .map(|s| from_json("backup_run.skipped_hosts", &s))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// The values of a [`BackupRun`], in [`BACKUP_RUN`]'s column order; refuses run ids that are
/// not time UUIDs.
pub(crate) fn backup_run_values(r: &BackupRun) -> StoreResult<Vec<Value>> {
    let prev_id = match r.prev_id {
        Some(p) => time_uuid_value("backup run prev_id", p)?,
        None => Value::Null,
    };
    Ok(vec![
        Value::Uuid(r.cluster_id),
        Value::Uuid(r.task_id),
        time_uuid_value("backup run id", r.id)?,
        prev_id,
        Value::Text(r.snapshot_tag.to_string()),
        Value::Text(to_json("backup run units", &r.units)?),
        Value::TextList(r.dc.clone()),
        Value::TextList(r.location.iter().map(ToString::to_string).collect()),
        Value::TextList(r.nodes.clone()),
        Value::Time(r.start_time),
        Value::Text(r.stage.as_str().to_owned()),
        Value::Text(to_json("backup run skipped_hosts", &r.skipped_hosts)?),
    ])
}

/// The `backup_run_progress` table.
pub(crate) const PROGRESS: Table = Table {
    name: "backup_run_progress",
    columns: &[
        "cluster_id",
        "task_id",
        "run_id",
        "host",
        "unit",
        "table_name",
        "agent_job_id",
        "started_at",
        "completed_at",
        "error",
        "size",
        "uploaded",
        "skipped",
        "failed",
        "files_count",
        "files_skipped_count",
    ],
};

/// A stored `backup_run_progress` row as a [`BackupRunProgress`].
pub(crate) fn progress_from(r: &impl RowReader) -> StoreResult<BackupRunProgress> {
    Ok(BackupRunProgress {
        cluster_id: r.uuid("backup_run_progress.cluster_id")?,
        task_id: r.uuid("backup_run_progress.task_id")?,
        run_id: r.uuid("backup_run_progress.run_id")?,
        host: r.text("backup_run_progress.host")?,
        unit: r.unsigned("backup_run_progress.unit")?,
        table_name: r.text("backup_run_progress.table_name")?,
        agent_job_id: r.opt_text("backup_run_progress.agent_job_id")?,
        started_at: r.opt_time("backup_run_progress.started_at")?,
        completed_at: r.opt_time("backup_run_progress.completed_at")?,
        error: r.opt_text("backup_run_progress.error")?,
        size: r.unsigned("backup_run_progress.size")?,
        uploaded: r.unsigned("backup_run_progress.uploaded")?,
        skipped: r.unsigned("backup_run_progress.skipped")?,
        failed: r.unsigned("backup_run_progress.failed")?,
        files_count: r.unsigned("backup_run_progress.files_count")?,
        files_skipped_count: r.unsigned("backup_run_progress.files_skipped_count")?,
    })
}

/// The values of a [`BackupRunProgress`], in [`PROGRESS`]'s column order.
pub(crate) fn progress_values(p: &BackupRunProgress) -> StoreResult<Vec<Value>> {
    Ok(vec![
        Value::Uuid(p.cluster_id),
        Value::Uuid(p.task_id),
        Value::Uuid(p.run_id),
        Value::Text(p.host.clone()),
        Value::Int(to_i32("progress unit", p.unit)?),
        Value::Text(p.table_name.clone()),
        opt(p.agent_job_id.clone(), Value::Text),
        opt(p.started_at, Value::Time),
        opt(p.completed_at, Value::Time),
        opt(p.error.clone(), Value::Text),
        Value::BigInt(to_i64("progress size", p.size)?),
        Value::BigInt(to_i64("progress uploaded", p.uploaded)?),
        Value::BigInt(to_i64("progress skipped", p.skipped)?),
        Value::BigInt(to_i64("progress failed", p.failed)?),
        Value::BigInt(to_i64("progress files_count", p.files_count)?),
        Value::BigInt(to_i64(
            "progress files_skipped_count",
            p.files_skipped_count,
        )?),
    ])
}

/// Milliseconds since the Unix epoch of a time, as stored.
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time of a stored millisecond count.
pub(crate) fn from_millis(field: &'static str, ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt {
        field,
        value: ms.to_string(),
        reason: "not a representable time".to_owned(),
    })
}

/// An unsigned count as a signed 64-bit column value.
pub(crate) fn to_i64(field: &'static str, v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange {
        field,
        value: v.to_string(),
    })
}

/// An unsigned index as a signed 32-bit column value.
pub(crate) fn to_i32(field: &'static str, v: u32) -> StoreResult<i32> {
    i32::try_from(v).map_err(|_| StoreError::OutOfRange {
        field,
        value: v.to_string(),
    })
}

/// A stored signed integer as the model's unsigned type.
pub(crate) fn from_signed<S, U>(field: &'static str, v: S) -> StoreResult<U>
where
    S: Copy + fmt::Display,
    U: TryFrom<S>,
{
    U::try_from(v).map_err(|_| StoreError::Corrupt {
        field,
        value: v.to_string(),
        reason: "negative or too large".to_owned(),
    })
}

/// A model value as stored JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(field: &'static str, v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::OutOfRange {
        field,
        value: e.to_string(),
    })
}

/// Stored JSON text as a model value.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    field: &'static str,
    text: &str,
) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        field,
        value: text.to_owned(),
        reason: e.to_string(),
    })
}

/// Stored text as one of the store's enums or another parsed type.
pub(crate) fn parse_text<T>(field: &'static str, text: &str) -> StoreResult<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::Corrupt {
        field,
        value: text.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_values_that_do_not_fit_are_refused_naming_the_field() {
        let err = to_i64("progress size", u64::MAX).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "progress size = {} does not fit the store's column",
                u64::MAX
            )
        );
        assert!(from_signed::<i64, u64>("backup_run_progress.size", -1).is_err());
    }

    #[test]
    fn labels_name_a_column_of_their_own_table() {
        assert_eq!(PROGRESS.index("backup_run_progress.unit").ok(), Some(4));
        assert!(PROGRESS.index("backup_run.unit").is_err());
        assert!(CLUSTER.index("cluster.nope").is_err());
        assert!(CLUSTER.index("id").is_err());
        assert_eq!(
            TASK_RUN.column_list(),
            "cluster_id, type, task_id, id, status, cause, owner, start_time, end_time"
        );
    }
}
