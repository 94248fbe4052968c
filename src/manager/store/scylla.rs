//! The [`Store`] kept in ScyllaDB: upstream's tables (spec section 3) in a keyspace of their own,
//! created if missing. Run ids are `timeuuid` clustering keys in descending order, so lists of
//! runs read newest first; progress batches are CQL batches of at most
//! [`PROGRESS_BATCH_ROWS`] rows. Deleting a cluster walks its tasks (CQL cannot delete by a
//! column that is not a partition key), so runs and progress written under a task that was never
//! stored are not reached; the manager always stores a task before running it.
//!
//! Differences from upstream's tables: the schedule and the backup units are JSON text instead
//! of user-defined types (the serde model is the one schema), `nodes` is a list (the model keeps
//! its order), counters are `bigint`, `agent_job_id` is text, and no table has a TTL.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use scylla::client::caching_session::CachingSession;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::{CqlTimestamp, CqlTimeuuid, CqlValue, Row};
use uuid::Uuid;

use super::rows::{
    BACKUP_RUN, CLUSTER, PROGRESS, RowReader, TASK, TASK_RUN, Table, Value, backup_run_from,
    backup_run_values, cluster_from, cluster_values, from_signed, missing, progress_from,
    progress_values, task_from, task_run_from, task_run_values, task_values, to_i32, to_millis,
    wrong_kind,
};
use super::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, PROGRESS_BATCH_ROWS, RunKey, ScyllaConfig,
    Store, StoreError, StoreResult, Task, TaskKey, TaskRun, finish_task_list, readable_tasks,
    sort_clusters, sort_progress, time_uuid_ticks,
};

/// Prepared statements kept per session (every statement this store issues fits).
const STATEMENT_CACHE: usize = 64;

/// Schema migrations in order: `(version, name, CQL statements)`, with `{ks}` standing for the
/// keyspace. Every statement is idempotent (`IF NOT EXISTS`), so a migration interrupted half
/// way is simply run again; it is recorded in `schema_version` once all its statements ran. An
/// `ALTER TABLE ... ADD` whose column exists already (a migration interrupted after it) counts
/// as done.
const MIGRATIONS: &[(u32, &str, &[&str])] = &[
    (
        1,
        "initial tables",
        &[
            "CREATE TABLE IF NOT EXISTS {ks}.cluster (
            id uuid PRIMARY KEY,
            name text,
            hosts list<text>,
            agent_port int,
            auth_token text,
            cql_username text,
            cql_password text,
            created_at timestamp)",
            "CREATE TABLE IF NOT EXISTS {ks}.scheduler_task (
            cluster_id uuid,
            type text,
            id uuid,
            name text,
            labels map<text, text>,
            enabled boolean,
            deleted boolean,
            sched text,
            properties blob,
            status text,
            success_count bigint,
            error_count bigint,
            last_success timestamp,
            last_error timestamp,
            PRIMARY KEY (cluster_id, type, id))",
            "CREATE TABLE IF NOT EXISTS {ks}.scheduler_task_run (
            cluster_id uuid,
            type text,
            task_id uuid,
            id timeuuid,
            status text,
            cause text,
            owner text,
            start_time timestamp,
            end_time timestamp,
            PRIMARY KEY ((cluster_id, type, task_id), id))
            WITH CLUSTERING ORDER BY (id DESC)",
            "CREATE TABLE IF NOT EXISTS {ks}.backup_run (
            cluster_id uuid,
            task_id uuid,
            id timeuuid,
            prev_id timeuuid,
            snapshot_tag text,
            units text,
            dc list<text>,
            location list<text>,
            nodes list<text>,
            start_time timestamp,
            stage text,
            PRIMARY KEY ((cluster_id, task_id), id))
            WITH CLUSTERING ORDER BY (id DESC)",
            "CREATE TABLE IF NOT EXISTS {ks}.backup_run_progress (
            cluster_id uuid,
            task_id uuid,
            run_id uuid,
            host text,
            unit int,
            table_name text,
            agent_job_id text,
            started_at timestamp,
            completed_at timestamp,
            error text,
            size bigint,
            uploaded bigint,
            skipped bigint,
            failed bigint,
            files_count bigint,
            files_skipped_count bigint,
            PRIMARY KEY ((cluster_id, task_id, run_id), host, unit, table_name))",
        ],
    ),
    (
        2,
        "backup_run.skipped_hosts",
        &["ALTER TABLE {ks}.backup_run ADD skipped_hosts text"],
    ),
    (
        3,
        "agent certificate pins",
        &["ALTER TABLE {ks}.cluster ADD agent_pins map<text, text>"],
    ),
];

/// The [`Store`] kept in a ScyllaDB keyspace.
pub struct ScyllaStore {
    /// The session, with its prepared-statement cache.
    session: CachingSession,
    /// The keyspace holding the tables (validated as a plain identifier).
    keyspace: String,
}

impl fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("keyspace", &self.keyspace)
            .finish_non_exhaustive()
    }
}

/// Wraps a driver error with the operation that failed.
fn cql<E: fmt::Display>(op: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Scylla {
        op,
        message: e.to_string(),
    }
}

/// A time as a CQL `timestamp`.
fn ts(t: chrono::DateTime<chrono::Utc>) -> CqlTimestamp {
    CqlTimestamp(to_millis(t))
}

/// A run id as a CQL `timeuuid`, refusing ids that are not version-1 UUIDs.
fn timeuuid(field: &'static str, id: Uuid) -> StoreResult<CqlTimeuuid> {
    time_uuid_ticks(field, id)?;
    Ok(CqlTimeuuid::from(id))
}

impl ScyllaStore {
    /// Connects, creates the keyspace if missing and applies the migrations it lacks.
    pub async fn open(config: &ScyllaConfig) -> StoreResult<ScyllaStore> {
        config.validate()?;
        let mut builder = SessionBuilder::new()
            .known_nodes(&config.contact_points)
            .connection_timeout(Duration::from_secs(10));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.user(user, password);
        }
        let session = builder
            .build()
            .await
            .map_err(|e| StoreError::ConnectScylla {
                contact_points: config.contact_points.join(","),
                message: e.to_string(),
            })?;
        let store = ScyllaStore {
            session: CachingSession::from(session, STATEMENT_CACHE),
            keyspace: config.keyspace.clone(),
        };
        store.migrate(config.replication_factor).await?;
        Ok(store)
    }

    /// The keyspace holding the tables.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// The schema versions applied, in order.
    pub async fn schema_versions(&self) -> StoreResult<Vec<u32>> {
        let mut versions: Vec<u32> = self
            .select::<(i32,)>(
                "read schema versions",
                &self.q("SELECT version FROM {ks}.schema_version"),
                (),
            )
            .await?
            .into_iter()
            .map(|(v,)| from_signed("schema_version.version", v))
            .collect::<StoreResult<_>>()?;
        versions.sort_unstable();
        Ok(versions)
    }

    /// Creates the keyspace and the version table, then runs the migrations not yet recorded.
    async fn migrate(&self, replication_factor: u32) -> StoreResult<()> {
        let session = self.session.get_session();
        let ddl = |version: u32, name: &'static str| {
            move |e: scylla::errors::ExecutionError| StoreError::Migration {
                version,
                name,
                message: e.to_string(),
            }
        };
        session
            .query_unpaged(
                format!(
                    "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = \
                     {{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}",
                    self.keyspace
                ),
                (),
            )
            .await
            .map_err(ddl(0, "keyspace"))?;
        session
            .query_unpaged(
                self.q("CREATE TABLE IF NOT EXISTS {ks}.schema_version (
                    version int PRIMARY KEY, name text, applied_at timestamp)"),
                (),
            )
            .await
            .map_err(ddl(0, "schema_version table"))?;
        let applied = self.schema_versions().await?;
        for &(version, name, statements) in MIGRATIONS {
            if applied.contains(&version) {
                continue;
            }
            for statement in statements {
                match session.query_unpaged(self.q(statement), ()).await {
                    Ok(_) => {}
                    Err(e) if statement.contains(" ADD ") && column_exists(&e) => {}
                    Err(e) => return Err(ddl(version, name)(e)),
                }
            }
            self.exec(
                "record schema version",
                &self.q(
                    "INSERT INTO {ks}.schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                ),
                (
                    to_i32("schema version", version)?,
                    name,
                    ts(chrono::Utc::now()),
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// A statement with `{ks}` replaced by the keyspace.
    fn q(&self, statement: &str) -> String {
        statement.replace("{ks}", &self.keyspace)
    }

    /// Executes a prepared write.
    async fn exec(
        &self,
        op: &'static str,
        statement: &str,
        values: impl SerializeRow,
    ) -> StoreResult<()> {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(cql(op))?;
        Ok(())
    }

    /// Executes a prepared read and collects every row, page by page.
    async fn select<R>(
        &self,
        op: &'static str,
        statement: &str,
        values: impl SerializeRow,
    ) -> StoreResult<Vec<R>>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata> + Send + 'static,
    {
        self.session
            .execute_iter(statement, values)
            .await
            .map_err(cql(op))?
            .rows_stream::<R>()
            .map_err(cql(op))?
            .try_collect()
            .await
            .map_err(cql(op))
    }

    /// `INSERT` of every column of `table`.
    fn insert_all(&self, table: &Table) -> String {
        let slots = vec!["?"; table.columns.len()].join(", ");
        format!(
            "INSERT INTO {}.{} ({}) VALUES ({slots})",
            self.keyspace,
            table.name,
            table.column_list()
        )
    }

    /// Selects every column of `table` with `rest` (conditions, limit) and converts every row.
    async fn fetch<T>(
        &self,
        op: &'static str,
        table: &'static Table,
        rest: &str,
        values: impl SerializeRow,
        convert: fn(&CqlRow) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let statement = format!(
            "SELECT {} FROM {}.{} {rest}",
            table.column_list(),
            self.keyspace,
            table.name
        );
        let rows = self.select::<Row>(op, &statement, values).await?;
        rows.into_iter()
            .map(|row| convert(&CqlRow { row, table }))
            .collect()
    }
}

/// Whether a failed `ALTER TABLE ... ADD` failed because the column is there already.
fn column_exists(e: &scylla::errors::ExecutionError) -> bool {
    let text = e.to_string();
    text.contains("conflicts with an existing column") || text.contains("already exist")
}

/// A ScyllaDB row, read through the stores' neutral [`RowReader`].
struct CqlRow {
    /// The row's cells, in the table's column order; none where a column holds no value.
    row: Row,
    /// The table it was selected from, all its columns in order.
    table: &'static Table,
}

impl CqlRow {
    /// The stored cell of the column a label names, if it holds a value.
    fn cell(&self, label: &'static str) -> StoreResult<Option<&CqlValue>> {
        let index = self.table.index(label)?;
        match self.row.columns.get(index) {
            Some(cell) => Ok(cell.as_ref()),
            None => Err(wrong_kind(
                label,
                self.row.columns.len(),
                "a row with the column",
            )),
        }
    }
}

/// A cell of a text list or map as its text.
fn cql_text(label: &'static str, v: &CqlValue) -> StoreResult<String> {
    match v {
        CqlValue::Text(text) | CqlValue::Ascii(text) => Ok(text.clone()),
        other => Err(wrong_kind(label, other, "text")),
    }
}

impl RowReader for CqlRow {
    fn opt_text(&self, label: &'static str) -> StoreResult<Option<String>> {
        self.cell(label)?.map(|v| cql_text(label, v)).transpose()
    }

    fn opt_integer(&self, label: &'static str) -> StoreResult<Option<i64>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Int(i)) => Ok(Some(i64::from(*i))),
            Some(CqlValue::BigInt(i)) => Ok(Some(*i)),
            Some(other) => Err(wrong_kind(label, other, "an integer")),
        }
    }

    fn opt_bool(&self, label: &'static str) -> StoreResult<Option<bool>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_kind(label, other, "a boolean")),
        }
    }

    fn opt_uuid(&self, label: &'static str) -> StoreResult<Option<Uuid>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Uuid(id)) => Ok(Some(*id)),
            Some(CqlValue::Timeuuid(id)) => Ok(Some(Uuid::from(*id))),
            Some(other) => Err(wrong_kind(label, other, "a UUID")),
        }
    }

    fn opt_millis(&self, label: &'static str) -> StoreResult<Option<i64>> {
        match self.cell(label)? {
            None => Ok(None),
            Some(CqlValue::Timestamp(t)) => Ok(Some(t.0)),
            Some(other) => Err(wrong_kind(label, other, "a timestamp")),
        }
    }

    fn text_list(&self, label: &'static str) -> StoreResult<Vec<String>> {
        match self.cell(label)? {
            None => Ok(Vec::new()),
            Some(CqlValue::List(items)) => items.iter().map(|v| cql_text(label, v)).collect(),
            Some(other) => Err(wrong_kind(label, other, "a list")),
        }
    }

    fn text_map(&self, label: &'static str) -> StoreResult<BTreeMap<String, String>> {
        match self.cell(label)? {
            None => Ok(BTreeMap::new()),
            Some(CqlValue::Map(pairs)) => pairs
                .iter()
                .map(|(k, v)| Ok((cql_text(label, k)?, cql_text(label, v)?)))
                .collect(),
            Some(other) => Err(wrong_kind(label, other, "a map")),
        }
    }

    fn document(&self, label: &'static str) -> StoreResult<String> {
        match self.cell(label)? {
            None => Err(missing(label)),
            Some(CqlValue::Blob(bytes)) => {
                String::from_utf8(bytes.clone()).map_err(|e| StoreError::Corrupt {
                    field: label,
                    value: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    reason: e.to_string(),
                })
            }
            Some(other) => Err(wrong_kind(label, other, "a blob")),
        }
    }
}

/// A column value as ScyllaDB keeps it: native UUIDs, timestamps, lists and maps; a JSON
/// document as a blob.
fn to_cql(value: Value) -> Option<CqlValue> {
    let text = CqlValue::Text;
    Some(match value {
        Value::Null => return None,
        Value::Text(t) => text(t),
        Value::Int(i) => CqlValue::Int(i),
        Value::BigInt(i) => CqlValue::BigInt(i),
        Value::Bool(b) => CqlValue::Boolean(b),
        Value::Uuid(id) => CqlValue::Uuid(id),
        Value::TimeUuid(id) => CqlValue::Timeuuid(CqlTimeuuid::from(id)),
        Value::Time(t) => CqlValue::Timestamp(ts(t)),
        Value::TextList(list) => CqlValue::List(list.into_iter().map(text).collect()),
        Value::TextMap(map) => {
            CqlValue::Map(map.into_iter().map(|(k, v)| (text(k), text(v))).collect())
        }
        Value::Document(json) => CqlValue::Blob(json.into_bytes()),
    })
}

/// The values of a row as statement values.
fn cql_values(values: Vec<Value>) -> Vec<Option<CqlValue>> {
    values.into_iter().map(to_cql).collect()
}

/// A CQL `LIMIT` value (a positive 32-bit count).
fn cql_limit(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

#[async_trait]
impl Store for ScyllaStore {
    async fn put_cluster(&self, c: &Cluster) -> StoreResult<()> {
        self.exec(
            "put cluster",
            &self.insert_all(&CLUSTER),
            cql_values(cluster_values(c)),
        )
        .await
    }

    async fn get_cluster(&self, id: Uuid) -> StoreResult<Option<Cluster>> {
        let mut found = self
            .fetch("get cluster", &CLUSTER, "WHERE id = ?", (id,), |r| {
                cluster_from(r)
            })
            .await?;
        Ok(found.pop())
    }

    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>> {
        let mut all = self
            .fetch("list clusters", &CLUSTER, "", (), cluster_from)
            .await?;
        sort_clusters(&mut all);
        Ok(all)
    }

    async fn delete_cluster(&self, id: Uuid) -> StoreResult<()> {
        const OP: &str = "delete cluster";
        let tasks = self
            .select::<(String, Uuid)>(
                OP,
                &self.q("SELECT type, id FROM {ks}.scheduler_task WHERE cluster_id = ?"),
                (id,),
            )
            .await?;
        // Children first: an interrupted delete leaves the cluster to be deleted again.
        for (task_type, task_id) in &tasks {
            let mut runs: Vec<Uuid> = self
                .select::<(CqlTimeuuid,)>(
                    OP,
                    &self.q("SELECT id FROM {ks}.backup_run WHERE cluster_id = ? AND task_id = ?"),
                    (id, *task_id),
                )
                .await?
                .into_iter()
                .map(|(r,)| r.into())
                .collect();
            runs.extend(
                self.select::<(CqlTimeuuid,)>(
                    OP,
                    &self.q("SELECT id FROM {ks}.scheduler_task_run \
                         WHERE cluster_id = ? AND type = ? AND task_id = ?"),
                    (id, task_type, *task_id),
                )
                .await?
                .into_iter()
                .map(|(r,)| Uuid::from(r)),
            );
            runs.sort_unstable();
            runs.dedup();
            for run_id in runs {
                self.delete_progress(RunKey {
                    cluster_id: id,
                    task_id: *task_id,
                    run_id,
                })
                .await?;
            }
            self.exec(
                OP,
                &self.q("DELETE FROM {ks}.backup_run WHERE cluster_id = ? AND task_id = ?"),
                (id, *task_id),
            )
            .await?;
            self.exec(
                OP,
                &self.q("DELETE FROM {ks}.scheduler_task_run \
                     WHERE cluster_id = ? AND type = ? AND task_id = ?"),
                (id, task_type, *task_id),
            )
            .await?;
        }
        self.exec(
            OP,
            &self.q("DELETE FROM {ks}.scheduler_task WHERE cluster_id = ?"),
            (id,),
        )
        .await?;
        self.exec(OP, &self.q("DELETE FROM {ks}.cluster WHERE id = ?"), (id,))
            .await
    }

    async fn put_task(&self, t: &Task) -> StoreResult<()> {
        self.exec(
            "put task",
            &self.insert_all(&TASK),
            cql_values(task_values(t)?),
        )
        .await
    }

    async fn get_task(&self, key: TaskKey) -> StoreResult<Option<Task>> {
        let mut found = self
            .fetch(
                "get task",
                &TASK,
                "WHERE cluster_id = ? AND type = ? AND id = ?",
                (key.cluster_id, key.task_type.as_str(), key.task_id),
                task_from,
            )
            .await?;
        Ok(found.pop())
    }

    async fn list_tasks(&self, cluster_id: Uuid, include_deleted: bool) -> StoreResult<Vec<Task>> {
        let tasks = self
            .fetch(
                "list tasks",
                &TASK,
                "WHERE cluster_id = ?",
                (cluster_id,),
                |r| Ok(task_from(r)),
            )
            .await?;
        Ok(finish_task_list(readable_tasks(tasks), include_deleted))
    }

    async fn put_task_run(&self, r: &TaskRun) -> StoreResult<()> {
        self.exec(
            "put task run",
            &self.insert_all(&TASK_RUN),
            cql_values(task_run_values(r)?),
        )
        .await
    }

    async fn get_task_run(&self, task: TaskKey, run_id: Uuid) -> StoreResult<Option<TaskRun>> {
        let Ok(run_id) = timeuuid("task run id", run_id) else {
            return Ok(None);
        };
        let mut found = self
            .fetch(
                "get task run",
                &TASK_RUN,
                "WHERE cluster_id = ? AND type = ? AND task_id = ? AND id = ?",
                (
                    task.cluster_id,
                    task.task_type.as_str(),
                    task.task_id,
                    run_id,
                ),
                task_run_from,
            )
            .await?;
        Ok(found.pop())
    }

    async fn list_task_runs(&self, task: TaskKey, limit: usize) -> StoreResult<Vec<TaskRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.fetch(
            "list task runs",
            &TASK_RUN,
            "WHERE cluster_id = ? AND type = ? AND task_id = ? LIMIT ?",
            (
                task.cluster_id,
                task.task_type.as_str(),
                task.task_id,
                cql_limit(limit),
            ),
            task_run_from,
        )
        .await
    }

    async fn put_backup_run(&self, r: &BackupRun) -> StoreResult<()> {
        self.exec(
            "put backup run",
            &self.insert_all(&BACKUP_RUN),
            cql_values(backup_run_values(r)?),
        )
        .await
    }

    async fn get_backup_run(&self, key: RunKey) -> StoreResult<Option<BackupRun>> {
        let Ok(run_id) = timeuuid("backup run id", key.run_id) else {
            return Ok(None);
        };
        let mut found = self
            .fetch(
                "get backup run",
                &BACKUP_RUN,
                "WHERE cluster_id = ? AND task_id = ? AND id = ?",
                (key.cluster_id, key.task_id, run_id),
                backup_run_from,
            )
            .await?;
        Ok(found.pop())
    }

    async fn update_backup_stage(&self, key: RunKey, stage: BackupStage) -> StoreResult<()> {
        const OP: &str = "update backup stage";
        // An UPDATE of a missing row would create a partial one: check it exists first (the
        // run's supervisor is its only writer, so nothing removes it in between but a cluster
        // delete, which stops the run first).
        let not_found = || StoreError::NotFound {
            what: "backup run",
            key: key.to_string(),
        };
        let run_id = timeuuid("backup run id", key.run_id).map_err(|_| not_found())?;
        let exists = !self
            .select::<(CqlTimeuuid,)>(
                OP,
                &self.q(
                    "SELECT id FROM {ks}.backup_run WHERE cluster_id = ? AND task_id = ? AND id = ?",
                ),
                (key.cluster_id, key.task_id, run_id),
            )
            .await?
            .is_empty();
        if !exists {
            return Err(not_found());
        }
        self.exec(
            OP,
            &self.q(
                "UPDATE {ks}.backup_run SET stage = ? WHERE cluster_id = ? AND task_id = ? AND id = ?",
            ),
            (stage.as_str(), key.cluster_id, key.task_id, run_id),
        )
        .await
    }

    async fn list_backup_runs(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<BackupRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.fetch(
            "list backup runs",
            &BACKUP_RUN,
            "WHERE cluster_id = ? AND task_id = ? LIMIT ?",
            (cluster_id, task_id, cql_limit(limit)),
            backup_run_from,
        )
        .await
    }

    async fn put_progress(&self, rows: &[BackupRunProgress]) -> StoreResult<()> {
        const OP: &str = "put progress";
        let values = rows
            .iter()
            .map(|p| Ok(cql_values(progress_values(p)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let insert = self.insert_all(&PROGRESS);
        for (chunk, chunk_rows) in values
            .chunks(PROGRESS_BATCH_ROWS)
            .zip(rows.chunks(PROGRESS_BATCH_ROWS))
        {
            // One partition per run: a batch within one run is unlogged (atomic and isolated
            // per partition already); one spanning runs is logged so it applies whole.
            let one_run = chunk_rows
                .windows(2)
                .all(|w| w[0].run_key() == w[1].run_key());
            let mut batch = Batch::new(if one_run {
                BatchType::Unlogged
            } else {
                BatchType::Logged
            });
            for _ in chunk {
                batch.append_statement(insert.as_str());
            }
            self.session.batch(&batch, chunk).await.map_err(cql(OP))?;
        }
        Ok(())
    }

    async fn list_progress(&self, run: RunKey) -> StoreResult<Vec<BackupRunProgress>> {
        let mut all = self
            .fetch(
                "list progress",
                &PROGRESS,
                "WHERE cluster_id = ? AND task_id = ? AND run_id = ?",
                (run.cluster_id, run.task_id, run.run_id),
                progress_from,
            )
            .await?;
        sort_progress(&mut all);
        Ok(all)
    }

    async fn delete_progress(&self, run: RunKey) -> StoreResult<()> {
        self.exec(
            "delete progress",
            &self.q("DELETE FROM {ks}.backup_run_progress \
                 WHERE cluster_id = ? AND task_id = ? AND run_id = ?"),
            (run.cluster_id, run.task_id, run.run_id),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    //! Without a ScyllaDB node, these check every row type and every INSERT's values against
    //! the column types the migrations create, as the driver does when a statement runs.

    use super::*;
    use crate::manager::store::{RunStatus, Schedule, TaskType, time_uuid};
    use bytes::Bytes;
    use chrono::DateTime;
    use scylla::deserialize::FrameSlice;
    use scylla::frame::response::result::{
        CollectionType, ColumnSpec, ColumnType, NativeType, TableSpec,
    };
    use scylla::serialize::row::RowSerializationContext;
    use scylla::serialize::writers::CellWriter;
    use scylla::serialize::writers::RowWriter;

    /// The CQL type named in the migrations.
    fn cql_type(name: &str) -> ColumnType<'static> {
        let native = |n| ColumnType::Native(n);
        let text = || Box::new(native(NativeType::Text));
        match name {
            "uuid" => native(NativeType::Uuid),
            "timeuuid" => native(NativeType::Timeuuid),
            "text" => native(NativeType::Text),
            "int" => native(NativeType::Int),
            "bigint" => native(NativeType::BigInt),
            "boolean" => native(NativeType::Boolean),
            "blob" => native(NativeType::Blob),
            "timestamp" => native(NativeType::Timestamp),
            "list<text>" => ColumnType::Collection {
                frozen: false,
                typ: CollectionType::List(text()),
            },
            "map<text, text>" => ColumnType::Collection {
                frozen: false,
                typ: CollectionType::Map(text(), text()),
            },
            other => panic!("the test does not know CQL type {other}"),
        }
    }

    /// The columns of `table` as the migrations create them, with the given names in order.
    fn specs(table: &'static str, columns: &str) -> Vec<ColumnSpec<'static>> {
        let ddl = MIGRATIONS
            .iter()
            .flat_map(|(_, _, statements)| statements.iter())
            .find(|s| s.contains(&format!("{{ks}}.{table} (")))
            .unwrap_or_else(|| panic!("no migration creates {table}"));
        let mut types: BTreeMap<&str, &str> = ddl
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.starts_with("PRIMARY KEY") && !l.starts_with("WITH"))
            .filter_map(|l| l.split_once(' '))
            .map(|(name, typ)| {
                let typ = typ.trim_end_matches([',', ')']);
                (name, typ.strip_suffix(" PRIMARY KEY").unwrap_or(typ))
            })
            .collect();
        // Columns later migrations add.
        let alter = format!("ALTER TABLE {{ks}}.{table} ADD ");
        types.extend(
            MIGRATIONS
                .iter()
                .flat_map(|(_, _, statements)| statements.iter())
                .filter_map(|s| s.strip_prefix(alter.as_str()))
                .filter_map(|l| l.split_once(' ')),
        );
        columns
            .split(',')
            .map(str::trim)
            .map(|name| {
                let typ = types
                    .get(name)
                    .unwrap_or_else(|| panic!("{table} has no column {name}"));
                ColumnSpec::owned(
                    name.to_owned(),
                    cql_type(typ),
                    TableSpec::borrowed("ks", table),
                )
            })
            .collect()
    }

    /// Serializes `values` for the given columns, as the driver does before sending.
    fn serializes(values: &impl SerializeRow, specs: &[ColumnSpec<'_>]) {
        let mut buf = Vec::new();
        let ctx = RowSerializationContext::from_specs(specs);
        if let Err(e) = values.serialize(&ctx, &mut RowWriter::new(&mut buf)) {
            panic!("values do not fit the columns: {e}");
        }
    }

    fn type_checks<R: for<'f, 'm> DeserializeRow<'f, 'm>>(specs: &[ColumnSpec<'_>]) {
        if let Err(e) = R::type_check(specs) {
            panic!(
                "{} does not read the columns: {e}",
                std::any::type_name::<R>()
            );
        }
    }

    #[test]
    fn row_types_read_the_tables_the_migrations_create() {
        type_checks::<(String, Uuid)>(&specs("scheduler_task", "type, id"));
        type_checks::<(CqlTimeuuid,)>(&specs("backup_run", "id"));
        type_checks::<(CqlTimeuuid,)>(&specs("scheduler_task_run", "id"));
        // The check has teeth: a plain UUID does not read a timeuuid column.
        assert!(<(Uuid,)>::type_check(&specs("backup_run", "id")).is_err());
    }

    /// One value of each row type, its times whole milliseconds as the stores keep them.
    fn samples() -> (Cluster, Task, TaskRun, BackupRun, BackupRunProgress) {
        let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
        let cluster = Cluster {
            id: Uuid::new_v4(),
            name: "c".to_owned(),
            hosts: vec!["h".to_owned()],
            agent_port: 10001,
            auth_token: "t".to_owned(),
            cql_username: None,
            cql_password: Some("p".to_owned()),
            created_at: now,
            agent_pins: [("h".to_owned(), "ab".repeat(32))].into_iter().collect(),
        };
        let task = Task {
            cluster_id: cluster.id,
            task_type: TaskType::Backup,
            id: Uuid::new_v4(),
            name: "n".to_owned(),
            labels: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            enabled: true,
            deleted: false,
            schedule: Schedule::default(),
            properties: serde_json::json!({"retention": 3}),
            status: Some(RunStatus::Done),
            success_count: 1,
            error_count: 0,
            last_success: Some(now),
            last_error: None,
        };
        let run = TaskRun {
            cluster_id: cluster.id,
            task_type: TaskType::Backup,
            task_id: task.id,
            id: time_uuid(now),
            status: RunStatus::Running,
            cause: String::new(),
            owner: "o".to_owned(),
            start_time: now,
            end_time: None,
        };
        let backup = BackupRun {
            cluster_id: cluster.id,
            task_id: task.id,
            id: run.id,
            prev_id: Some(time_uuid(now)),
            snapshot_tag: crate::spec::tag::SnapshotTag::from_time(now),
            units: Vec::new(),
            dc: vec!["dc1".to_owned()],
            location: vec!["s3:b".parse().expect("a location")],
            nodes: vec!["n1".to_owned()],
            start_time: now,
            stage: BackupStage::Upload,
            skipped_hosts: vec![crate::manager::store::SkippedHost {
                host: "10.0.0.4".to_owned(),
                reason: "down in gossip".to_owned(),
            }],
        };
        let progress = BackupRunProgress {
            cluster_id: cluster.id,
            task_id: task.id,
            run_id: run.id,
            host: "h".to_owned(),
            unit: 0,
            table_name: "t".to_owned(),
            agent_job_id: Some("1".to_owned()),
            started_at: Some(now),
            completed_at: None,
            error: None,
            size: 1,
            uploaded: 1,
            skipped: 0,
            failed: 0,
            files_count: 1,
            files_skipped_count: 0,
        };
        (cluster, task, run, backup, progress)
    }

    /// Writes `values` into the columns of `table` as the migrations create them, then reads
    /// each cell back as the driver does, as a row of the store.
    fn round_trip(table: &'static Table, values: Vec<Value>) -> CqlRow {
        let specs = specs(table.name, &table.column_list());
        let columns = cql_values(values)
            .into_iter()
            .zip(&specs)
            .map(|(cell, spec)| {
                let mut buf = Vec::new();
                if let Err(e) = scylla::serialize::value::SerializeValue::serialize(
                    &cell,
                    spec.typ(),
                    CellWriter::new(&mut buf),
                ) {
                    panic!("{} does not fit {}: {e}", table.name, spec.name());
                }
                let (len, bytes) = buf.split_at(4);
                if i32::from_be_bytes([len[0], len[1], len[2], len[3]]) < 0 {
                    return None;
                }
                let bytes = Bytes::copy_from_slice(bytes);
                match <CqlValue as scylla::deserialize::value::DeserializeValue>::deserialize(
                    spec.typ(),
                    Some(FrameSlice::new(&bytes)),
                ) {
                    Ok(v) => Some(v),
                    Err(e) => panic!("{} does not read {}: {e}", table.name, spec.name()),
                }
            })
            .collect();
        CqlRow {
            row: Row { columns },
            table,
        }
    }

    #[test]
    fn rows_read_back_as_they_were_written() {
        let (cluster, task, run, backup, progress) = samples();
        let values = cluster_values(&cluster);
        assert_eq!(
            cluster_from(&round_trip(&CLUSTER, values)).ok(),
            Some(cluster)
        );
        let values = task_values(&task).expect("task values");
        assert_eq!(task_from(&round_trip(&TASK, values)).ok(), Some(task));
        let values = task_run_values(&run).expect("task run values");
        assert_eq!(
            task_run_from(&round_trip(&TASK_RUN, values)).ok(),
            Some(run.clone())
        );
        let values = backup_run_values(&backup).expect("backup run values");
        assert_eq!(
            backup_run_from(&round_trip(&BACKUP_RUN, values)).ok(),
            Some(backup)
        );
        let values = progress_values(&progress).expect("progress values");
        assert_eq!(
            progress_from(&round_trip(&PROGRESS, values)).ok(),
            Some(progress)
        );
        // A cell of another kind is refused naming its column, and so is a missing value.
        let mut bad = round_trip(&TASK_RUN, task_run_values(&run).expect("task run values"));
        bad.row.columns[4] = Some(CqlValue::Int(1));
        let err = task_run_from(&bad).unwrap_err().to_string();
        assert!(err.contains("scheduler_task_run.status"), "{err}");
        bad.row.columns[4] = None;
        let err = task_run_from(&bad).unwrap_err().to_string();
        assert!(err.contains("scheduler_task_run.status"), "{err}");
    }

    #[test]
    fn insert_values_fit_the_tables_the_migrations_create() {
        let (cluster, task, run, backup, progress) = samples();
        serializes(
            &cql_values(cluster_values(&cluster)),
            &specs("cluster", &CLUSTER.column_list()),
        );
        let values = cql_values(task_values(&task).expect("task values"));
        serializes(&values, &specs("scheduler_task", &TASK.column_list()));
        let values = cql_values(task_run_values(&run).expect("task run values"));
        serializes(
            &values,
            &specs("scheduler_task_run", &TASK_RUN.column_list()),
        );
        let values = cql_values(backup_run_values(&backup).expect("backup run values"));
        serializes(&values, &specs("backup_run", &BACKUP_RUN.column_list()));
        let values = cql_values(progress_values(&progress).expect("progress values"));
        serializes(
            &values,
            &specs("backup_run_progress", &PROGRESS.column_list()),
        );
        // The check has teeth: a plain UUID is refused for a timeuuid column.
        let mut buf = Vec::new();
        let backup_id = specs("backup_run", "id");
        let ctx = RowSerializationContext::from_specs(&backup_id);
        assert!(
            (run.id,)
                .serialize(&ctx, &mut RowWriter::new(&mut buf))
                .is_err()
        );
        // The key-only statements.
        let run_id = CqlTimeuuid::from(run.id);
        serializes(
            &(BackupStage::Done.as_str(), cluster.id, task.id, run_id),
            &specs("backup_run", "stage, cluster_id, task_id, id"),
        );
        serializes(
            &(cluster.id, "backup", task.id, cql_limit(5)),
            &[
                specs("scheduler_task_run", "cluster_id, type, task_id"),
                vec![ColumnSpec::owned(
                    "[limit]".to_owned(),
                    cql_type("int"),
                    TableSpec::borrowed("ks", "scheduler_task_run"),
                )],
            ]
            .concat(),
        );
    }
}
