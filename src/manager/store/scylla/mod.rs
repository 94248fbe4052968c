//! The [`Store`] kept in ScyllaDB: upstream's tables (spec section 3) in a keyspace of their own,
//! created if missing. Run ids are `timeuuid` clustering keys in descending order, so lists of
//! runs read newest first; progress batches are CQL batches of at most
//! [`PROGRESS_BATCH_ROWS`] rows. Deleting a cluster walks its tasks (CQL cannot delete by a
//! column that is not a partition key), so runs and progress written under a task that was never
//! stored are not reached; the manager always stores a task before running it.
//!
//! Differences from upstream's tables: the schedule, the backup units and the restore units and
//! views are JSON text instead of user-defined types (the serde model is the one schema), `nodes`
//! is a list (the model keeps its order), counters are `bigint`, `agent_job_id` is text, and no
//! table has a TTL.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this one | [`ScyllaStore`]: the session, statement helpers, the [`Store`] methods |
//! | `row` | its encoding of the neutral values and its row reader |
//! | `schema` | keyspace and migrations |
//! | `restore` | the restore tables' operations |
//! | `validate` | the validate table's operations |
//! | `suspension` | the suspension table's operations |

mod restore;
mod row;
mod schema;
mod suspension;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use scylla::client::caching_session::CachingSession;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::{CqlTimeuuid, CqlValue, Row};
use uuid::Uuid;

use self::row::{CqlRow, cql_values};
use super::rows::{
    BACKUP_RUN, CLUSTER, PROGRESS, TASK, TASK_RUN, Table, backup_run_from, backup_run_values,
    cluster_from, cluster_values, progress_from, progress_values, task_from, task_run_from,
    task_run_values, task_values,
};
use super::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, PROGRESS_BATCH_ROWS, RestoreRun,
    RestoreRunProgress, RunKey, ScyllaConfig, Store, StoreError, StoreResult, Suspension, Task,
    TaskKey, TaskRun, ValidateRunProgress, finish_task_list, readable_tasks, sort_clusters,
    sort_progress, time_uuid_ticks,
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

impl ScyllaStore {
    /// Writes rows of a table partitioned by run, in CQL batches of at most
    /// [`PROGRESS_BATCH_ROWS`] rows; every row is given with the run it belongs to.
    async fn put_run_rows(
        &self,
        op: &'static str,
        table: &Table,
        rows: &[(RunKey, Vec<Option<CqlValue>>)],
    ) -> StoreResult<()> {
        let insert = self.insert_all(table);
        for chunk in rows.chunks(PROGRESS_BATCH_ROWS) {
            // One partition per run: a batch within one run is unlogged (atomic and isolated
            // per partition already); one spanning runs is logged so it applies whole.
            let one_run = chunk.windows(2).all(|w| w[0].0 == w[1].0);
            let mut batch = Batch::new(if one_run {
                BatchType::Unlogged
            } else {
                BatchType::Logged
            });
            let values: Vec<&Vec<Option<CqlValue>>> = chunk.iter().map(|(_, v)| v).collect();
            for _ in &values {
                batch.append_statement(insert.as_str());
            }
            self.session.batch(&batch, values).await.map_err(cql(op))?;
        }
        Ok(())
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
            let mut runs: Vec<Uuid> = Vec::new();
            for run_table in ["backup_run", "restore_run"] {
                runs.extend(
                    self.select::<(CqlTimeuuid,)>(
                        OP,
                        &self.q(&format!(
                            "SELECT id FROM {{ks}}.{run_table} WHERE cluster_id = ? AND task_id = ?"
                        )),
                        (id, *task_id),
                    )
                    .await?
                    .into_iter()
                    .map(|(r,)| Uuid::from(r)),
                );
            }
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
                let run = RunKey {
                    cluster_id: id,
                    task_id: *task_id,
                    run_id,
                };
                self.delete_progress(run).await?;
                self.remove_restore_progress(run).await?;
                self.remove_validate_progress(run).await?;
            }
            for run_table in ["backup_run", "restore_run"] {
                self.exec(
                    OP,
                    &self.q(&format!(
                        "DELETE FROM {{ks}}.{run_table} WHERE cluster_id = ? AND task_id = ?"
                    )),
                    (id, *task_id),
                )
                .await?;
            }
            self.exec(
                OP,
                &self.q("DELETE FROM {ks}.scheduler_task_run \
                     WHERE cluster_id = ? AND type = ? AND task_id = ?"),
                (id, task_type, *task_id),
            )
            .await?;
        }
        self.remove_suspension(id).await?;
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
        let rows = rows
            .iter()
            .map(|p| Ok((p.run_key(), cql_values(progress_values(p)?))))
            .collect::<StoreResult<Vec<_>>>()?;
        self.put_run_rows("put progress", &PROGRESS, &rows).await
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

    async fn put_restore_run(&self, run: &RestoreRun) -> StoreResult<()> {
        self.write_restore_run(run).await
    }

    async fn get_restore_run(&self, key: RunKey) -> StoreResult<Option<RestoreRun>> {
        self.read_restore_run(key).await
    }

    async fn list_restore_runs(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<RestoreRun>> {
        self.read_restore_runs(cluster_id, task_id, limit).await
    }

    async fn put_restore_progress(&self, rows: &[RestoreRunProgress]) -> StoreResult<()> {
        self.write_restore_progress(rows).await
    }

    async fn list_restore_progress(&self, run: RunKey) -> StoreResult<Vec<RestoreRunProgress>> {
        self.read_restore_progress(run).await
    }

    async fn delete_restore_progress_row(&self, row: &RestoreRunProgress) -> StoreResult<()> {
        self.remove_restore_progress_row(row).await
    }

    async fn delete_restore_progress(&self, run: RunKey) -> StoreResult<()> {
        self.remove_restore_progress(run).await
    }

    async fn put_validate_progress(&self, rows: &[ValidateRunProgress]) -> StoreResult<()> {
        self.write_validate_progress(rows).await
    }

    async fn list_validate_progress(&self, run: RunKey) -> StoreResult<Vec<ValidateRunProgress>> {
        self.read_validate_progress(run).await
    }

    async fn delete_validate_progress(&self, run: RunKey) -> StoreResult<()> {
        self.remove_validate_progress(run).await
    }

    async fn put_suspension(&self, s: &Suspension) -> StoreResult<()> {
        self.write_suspension(s).await
    }

    async fn get_suspension(&self, cluster_id: Uuid) -> StoreResult<Option<Suspension>> {
        self.read_suspension(cluster_id).await
    }

    async fn delete_suspension(&self, cluster_id: Uuid) -> StoreResult<()> {
        self.remove_suspension(cluster_id).await
    }
}
