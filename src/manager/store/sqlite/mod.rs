//! The embedded [`Store`]: one SQLite file in WAL mode, one connection behind a mutex, used from
//! `tokio::task::spawn_blocking`. Tables follow upstream's CQL tables; collections and
//! user-defined types are JSON text columns, times are integer milliseconds, UUIDs are text.
//!
//! | module | what it owns |
//! | --- | --- |
//! | this one | [`SqliteStore`]: the connection, its blocking worker, the [`Store`] methods |
//! | `row` | its encoding of the neutral values, its row reader, its statements |
//! | `schema` | migrations, opening the file |
//! | `restore` | the restore tables' operations |
//! | `validate` | the validate table's operations |
//! | `suspension` | the suspension table's operations |

mod restore;
mod row;
mod schema;
mod suspension;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};
use uuid::Uuid;

use self::row::{SqliteRow, insert, query_all, select, sql, sql_limit, sql_values, text};
use self::schema::open_blocking;
use super::rows::{
    BACKUP_RUN, CLUSTER, PROGRESS, TASK, TASK_RUN, Table, Value, backup_run_from,
    backup_run_values, cluster_from, cluster_values, progress_from, progress_values, task_from,
    task_run_from, task_run_values, task_values,
};
use super::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, RestoreRun, RestoreRunProgress, RunKey,
    Store, StoreError, StoreResult, Suspension, Task, TaskKey, TaskRun, ValidateRunProgress,
    finish_task_list, readable_tasks, sort_clusters, sort_progress, time_uuid_ticks,
};

/// The [`Store`] kept in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The database file.
    path: PathBuf,
    /// The one connection, used by one blocking worker at a time.
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, switches it to WAL mode and applies
    /// the migrations it lacks.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_blocking(&opened))
            .await
            .map_err(|e| StoreError::Worker {
                op: "open",
                message: e.to_string(),
            })??;
        Ok(SqliteStore {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema versions applied, in order.
    pub async fn schema_versions(&self) -> StoreResult<Vec<u32>> {
        self.call("read schema versions", |conn| {
            let mut stmt = conn
                .prepare("SELECT version FROM schema_version ORDER BY version")
                .map_err(sql("read schema versions"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, u32>(0))
                .map_err(sql("read schema versions"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(sql("read schema versions"))
        })
        .await
    }

    /// Runs `f` on the connection in a blocking worker.
    async fn call<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no open transaction (dropping one rolls it
            // back), so the connection is still sound.
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Worker {
            op,
            message: e.to_string(),
        })?
    }
}

impl SqliteStore {
    /// Writes one row of `table`; a run table also gets its `id_time` (the time of its run id,
    /// SQLite's own column that orders runs newest first).
    async fn put_row(
        &self,
        op: &'static str,
        table: &'static Table,
        values: Vec<Value>,
        id_time: Option<i64>,
    ) -> StoreResult<()> {
        let mut values = sql_values(table, values)?;
        let statement = match id_time {
            Some(ticks) => {
                values.push(SqlValue::Integer(ticks));
                insert(table, &["id_time"])
            }
            None => insert(table, &[]),
        };
        self.call(op, move |conn| {
            conn.execute(&statement, params_from_iter(values))
                .map_err(sql(op))?;
            Ok(())
        })
        .await
    }

    /// Selects every column of `table` with `rest` (conditions, order, limit) and converts
    /// every row.
    async fn fetch<T: Send + 'static>(
        &self,
        op: &'static str,
        table: &'static Table,
        rest: &str,
        params: Vec<SqlValue>,
        convert: fn(&SqliteRow<'_>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let query = select(table, rest);
        self.call(op, move |conn| {
            query_all(conn, op, table, &query, params_from_iter(params), convert)
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_cluster(&self, c: &Cluster) -> StoreResult<()> {
        self.put_row("put cluster", &CLUSTER, cluster_values(c), None)
            .await
    }

    async fn get_cluster(&self, id: Uuid) -> StoreResult<Option<Cluster>> {
        let mut found = self
            .fetch(
                "get cluster",
                &CLUSTER,
                "WHERE id = ?1",
                vec![text(id)],
                |r| cluster_from(r),
            )
            .await?;
        Ok(found.pop())
    }

    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>> {
        let mut all = self
            .fetch("list clusters", &CLUSTER, "", vec![], |r| cluster_from(r))
            .await?;
        sort_clusters(&mut all);
        Ok(all)
    }

    async fn delete_cluster(&self, id: Uuid) -> StoreResult<()> {
        const OP: &str = "delete cluster";
        self.call(OP, move |conn| {
            let tx = conn.transaction().map_err(sql(OP))?;
            let id = id.to_string();
            for table in [
                "scheduler_suspension",
                "validate_backup_run_progress",
                "restore_run_progress",
                "restore_run",
                "backup_run_progress",
                "backup_run",
                "scheduler_task_run",
                "scheduler_task",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE cluster_id = ?1"), [&id])
                    .map_err(sql(OP))?;
            }
            tx.execute("DELETE FROM cluster WHERE id = ?1", [&id])
                .map_err(sql(OP))?;
            tx.commit().map_err(sql(OP))
        })
        .await
    }

    async fn put_task(&self, t: &Task) -> StoreResult<()> {
        self.put_row("put task", &TASK, task_values(t)?, None).await
    }

    async fn get_task(&self, key: TaskKey) -> StoreResult<Option<Task>> {
        let mut found = self
            .fetch(
                "get task",
                &TASK,
                "WHERE cluster_id = ?1 AND type = ?2 AND id = ?3",
                vec![text(key.cluster_id), text(key.task_type), text(key.task_id)],
                |r| task_from(r),
            )
            .await?;
        Ok(found.pop())
    }

    async fn list_tasks(&self, cluster_id: Uuid, include_deleted: bool) -> StoreResult<Vec<Task>> {
        let tasks = self
            .fetch(
                "list tasks",
                &TASK,
                "WHERE cluster_id = ?1",
                vec![text(cluster_id)],
                |r| Ok(task_from(r)),
            )
            .await?;
        Ok(finish_task_list(readable_tasks(tasks), include_deleted))
    }

    async fn put_task_run(&self, r: &TaskRun) -> StoreResult<()> {
        let values = task_run_values(r)?;
        let id_time = time_uuid_ticks("task run id", r.id)?;
        self.put_row("put task run", &TASK_RUN, values, Some(id_time))
            .await
    }

    async fn get_task_run(&self, task: TaskKey, run_id: Uuid) -> StoreResult<Option<TaskRun>> {
        let mut found = self
            .fetch(
                "get task run",
                &TASK_RUN,
                "WHERE cluster_id = ?1 AND type = ?2 AND task_id = ?3 AND id = ?4",
                vec![
                    text(task.cluster_id),
                    text(task.task_type),
                    text(task.task_id),
                    text(run_id),
                ],
                |r| task_run_from(r),
            )
            .await?;
        Ok(found.pop())
    }

    async fn list_task_runs(&self, task: TaskKey, limit: usize) -> StoreResult<Vec<TaskRun>> {
        self.fetch(
            "list task runs",
            &TASK_RUN,
            "WHERE cluster_id = ?1 AND type = ?2 AND task_id = ?3 \
             ORDER BY id_time DESC, id DESC LIMIT ?4",
            vec![
                text(task.cluster_id),
                text(task.task_type),
                text(task.task_id),
                SqlValue::Integer(sql_limit(limit)),
            ],
            |r| task_run_from(r),
        )
        .await
    }

    async fn put_backup_run(&self, r: &BackupRun) -> StoreResult<()> {
        let values = backup_run_values(r)?;
        let id_time = time_uuid_ticks("backup run id", r.id)?;
        self.put_row("put backup run", &BACKUP_RUN, values, Some(id_time))
            .await
    }

    async fn get_backup_run(&self, key: RunKey) -> StoreResult<Option<BackupRun>> {
        let mut found = self
            .fetch(
                "get backup run",
                &BACKUP_RUN,
                "WHERE cluster_id = ?1 AND task_id = ?2 AND id = ?3",
                vec![text(key.cluster_id), text(key.task_id), text(key.run_id)],
                |r| backup_run_from(r),
            )
            .await?;
        Ok(found.pop())
    }

    async fn update_backup_stage(&self, key: RunKey, stage: BackupStage) -> StoreResult<()> {
        const OP: &str = "update backup stage";
        let changed = self
            .call(OP, move |conn| {
                conn.execute(
                    "UPDATE backup_run SET stage = ?4 \
                     WHERE cluster_id = ?1 AND task_id = ?2 AND id = ?3",
                    params![
                        key.cluster_id.to_string(),
                        key.task_id.to_string(),
                        key.run_id.to_string(),
                        stage.as_str()
                    ],
                )
                .map_err(sql(OP))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "backup run",
                key: key.to_string(),
            });
        }
        Ok(())
    }

    async fn list_backup_runs(
        &self,
        cluster_id: Uuid,
        task_id: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<BackupRun>> {
        self.fetch(
            "list backup runs",
            &BACKUP_RUN,
            "WHERE cluster_id = ?1 AND task_id = ?2 ORDER BY id_time DESC, id DESC LIMIT ?3",
            vec![
                text(cluster_id),
                text(task_id),
                SqlValue::Integer(sql_limit(limit)),
            ],
            |r| backup_run_from(r),
        )
        .await
    }

    async fn put_progress(&self, rows: &[BackupRunProgress]) -> StoreResult<()> {
        const OP: &str = "put progress";
        let values = rows
            .iter()
            .map(|p| sql_values(&PROGRESS, progress_values(p)?))
            .collect::<StoreResult<Vec<_>>>()?;
        self.call(OP, move |conn| {
            let tx = conn.transaction().map_err(sql(OP))?;
            {
                let mut stmt = tx.prepare(&insert(&PROGRESS, &[])).map_err(sql(OP))?;
                for row in values {
                    stmt.execute(params_from_iter(row)).map_err(sql(OP))?;
                }
            }
            tx.commit().map_err(sql(OP))
        })
        .await
    }

    async fn list_progress(&self, run: RunKey) -> StoreResult<Vec<BackupRunProgress>> {
        let mut rows = self
            .fetch(
                "list progress",
                &PROGRESS,
                "WHERE cluster_id = ?1 AND task_id = ?2 AND run_id = ?3",
                vec![text(run.cluster_id), text(run.task_id), text(run.run_id)],
                |r| progress_from(r),
            )
            .await?;
        sort_progress(&mut rows);
        Ok(rows)
    }

    async fn delete_progress(&self, run: RunKey) -> StoreResult<()> {
        const OP: &str = "delete progress";
        self.call(OP, move |conn| {
            conn.execute(
                "DELETE FROM backup_run_progress \
                 WHERE cluster_id = ?1 AND task_id = ?2 AND run_id = ?3",
                params![
                    run.cluster_id.to_string(),
                    run.task_id.to_string(),
                    run.run_id.to_string()
                ],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
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
