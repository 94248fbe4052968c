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

mod row;
mod schema;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use scylla::client::caching_session::CachingSession;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::{CqlTimeuuid, Row};
use uuid::Uuid;

use self::row::{CqlRow, cql_values};
use super::rows::{
    BACKUP_RUN, CLUSTER, PROGRESS, TASK, TASK_RUN, Table, backup_run_from, backup_run_values,
    cluster_from, cluster_values, progress_from, progress_values, task_from, task_run_from,
    task_run_values, task_values,
};
use super::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, PROGRESS_BATCH_ROWS, RunKey, ScyllaConfig,
    Store, StoreError, StoreResult, Task, TaskKey, TaskRun, finish_task_list, readable_tasks,
    sort_clusters, sort_progress, time_uuid_ticks,
};

/// Prepared statements kept per session (every statement this store issues fits).
const STATEMENT_CACHE: usize = 64;

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

    use super::schema::MIGRATIONS;
    use super::*;
    use crate::manager::store::rows::Value;
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
    use scylla::value::CqlValue;
    use std::collections::BTreeMap;

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
            snapshot_tag: crate::format::tag::SnapshotTag::from_time(now),
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
