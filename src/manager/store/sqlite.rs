//! The embedded [`Store`]: one SQLite file in WAL mode, one connection behind a mutex, used from
//! `tokio::task::spawn_blocking`. Tables follow upstream's CQL tables; collections and
//! user-defined types are JSON text columns, times are integer milliseconds, UUIDs are text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use uuid::Uuid;

use super::rows::{
    BACKUP_RUN, CLUSTER, PROGRESS, RowReader, TASK, TASK_RUN, Table, Value, backup_run_from,
    backup_run_values, cluster_from, cluster_values, parse_text, progress_from, progress_values,
    task_from, task_run_from, task_run_values, task_values, to_json, to_millis, wrong_kind,
};
use super::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, RunKey, Store, StoreError, StoreResult,
    Task, TaskKey, TaskRun, finish_task_list, readable_tasks, sort_clusters, sort_progress,
    time_uuid_ticks,
};

/// Schema migrations in order: `(version, name, SQL)`. Each runs once, in a transaction that
/// also records it in `schema_version`; each is harmless to run again (an `ADD COLUMN` migration
/// is one statement, and finding its column there counts as done).
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "initial tables",
        "
    CREATE TABLE IF NOT EXISTS cluster (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hosts TEXT NOT NULL,
        agent_port INTEGER NOT NULL,
        auth_token TEXT NOT NULL,
        cql_username TEXT,
        cql_password TEXT,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS scheduler_task (
        cluster_id TEXT NOT NULL,
        type TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        sched TEXT NOT NULL,
        properties TEXT NOT NULL,
        status TEXT,
        success_count INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        last_success INTEGER,
        last_error INTEGER,
        PRIMARY KEY (cluster_id, type, id)
    );
    CREATE TABLE IF NOT EXISTS scheduler_task_run (
        cluster_id TEXT NOT NULL,
        type TEXT NOT NULL,
        task_id TEXT NOT NULL,
        id TEXT NOT NULL,
        id_time INTEGER NOT NULL,
        status TEXT NOT NULL,
        cause TEXT NOT NULL,
        owner TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER,
        PRIMARY KEY (cluster_id, type, task_id, id)
    );
    CREATE INDEX IF NOT EXISTS scheduler_task_run_newest
        ON scheduler_task_run (cluster_id, type, task_id, id_time DESC, id DESC);
    CREATE TABLE IF NOT EXISTS backup_run (
        cluster_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        id TEXT NOT NULL,
        id_time INTEGER NOT NULL,
        prev_id TEXT,
        snapshot_tag TEXT NOT NULL,
        units TEXT NOT NULL,
        dc TEXT NOT NULL,
        location TEXT NOT NULL,
        nodes TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        stage TEXT NOT NULL,
        PRIMARY KEY (cluster_id, task_id, id)
    );
    CREATE INDEX IF NOT EXISTS backup_run_newest
        ON backup_run (cluster_id, task_id, id_time DESC, id DESC);
    CREATE TABLE IF NOT EXISTS backup_run_progress (
        cluster_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        host TEXT NOT NULL,
        unit INTEGER NOT NULL,
        table_name TEXT NOT NULL,
        agent_job_id TEXT,
        started_at INTEGER,
        completed_at INTEGER,
        error TEXT,
        size INTEGER NOT NULL,
        uploaded INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        files_count INTEGER NOT NULL,
        files_skipped_count INTEGER NOT NULL,
        PRIMARY KEY (cluster_id, task_id, run_id, host, unit, table_name)
    );
    ",
    ),
    (
        2,
        "backup_run.skipped_hosts",
        "ALTER TABLE backup_run ADD COLUMN skipped_hosts TEXT NOT NULL DEFAULT '[]';",
    ),
    (
        3,
        "agent certificate pins",
        "ALTER TABLE cluster ADD COLUMN agent_pins TEXT NOT NULL DEFAULT '{}';",
    ),
];

/// The [`Store`] kept in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The database file.
    path: PathBuf,
    /// The one connection, used by one blocking worker at a time.
    conn: Arc<Mutex<Connection>>,
}

/// Wraps a SQLite error with the operation that failed.
fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { op, source }
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

/// Opens the connection and migrates the schema.
fn open_blocking(path: &Path) -> StoreResult<Connection> {
    let open_err = |source| StoreError::OpenSqlite {
        path: path.to_path_buf(),
        source,
    };
    private_file(path).map_err(|source| StoreError::PrivateSqlite {
        path: path.to_path_buf(),
        source,
    })?;
    let mut conn = Connection::open(path).map_err(open_err)?;
    // WAL mode needs to write the file, so this is where an unwritable location shows.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        .map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Makes the database file (created empty if missing) and its `-wal`/`-shm` companions mode 0600:
/// they hold agent tokens and CQL passwords. A file readable by others is tightened, with a
/// warning. (SQLite creates the companions with the database file's mode.)
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                mode = format!("{mode:o}"),
                "the manager's state holds agent tokens and CQL passwords: tightening its mode to 600"
            );
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

/// Applies the migrations not yet recorded in `schema_version`.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
    .map_err(sql("create schema_version"))?;
    for &(version, name, ddl) in MIGRATIONS {
        let failed = |e: rusqlite::Error| StoreError::Migration {
            version,
            name,
            message: e.to_string(),
        };
        let tx = conn.transaction().map_err(failed)?;
        let applied = tx
            .query_row(
                "SELECT 1 FROM schema_version WHERE version = ?1",
                [version],
                |_| Ok(()),
            )
            .optional()
            .map_err(failed)?
            .is_some();
        if !applied {
            match tx.execute_batch(ddl) {
                Ok(()) => {}
                // A column added by a run whose record was lost: the migration is done.
                Err(e) if ddl.contains(" ADD COLUMN ") && column_exists(&e) => {}
                Err(e) => return Err(failed(e)),
            }
            tx.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, to_millis(chrono::Utc::now())],
            )
            .map_err(failed)?;
        }
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

/// Whether a failed `ALTER TABLE ... ADD COLUMN` failed because the column is there already.
fn column_exists(e: &rusqlite::Error) -> bool {
    e.to_string().contains("duplicate column name")
}

/// A SQLite row, read through the stores' neutral [`RowReader`].
struct SqliteRow<'a> {
    /// The row.
    row: &'a Row<'a>,
    /// The table it was selected from, all its columns in order.
    table: &'static Table,
}

impl SqliteRow<'_> {
    /// The stored cell of the column a label names.
    fn cell(&self, label: &'static str) -> StoreResult<ValueRef<'_>> {
        let index = self.table.index(label)?;
        self.row.get_ref(index).map_err(|e| StoreError::Corrupt {
            field: label,
            value: String::new(),
            reason: e.to_string(),
        })
    }
}

impl RowReader for SqliteRow<'_> {
    fn opt_text(&self, label: &'static str) -> StoreResult<Option<String>> {
        match self.cell(label)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Ok(Some(text.to_owned())),
                Err(e) => Err(StoreError::Corrupt {
                    field: label,
                    value: String::from_utf8_lossy(bytes).into_owned(),
                    reason: e.to_string(),
                }),
            },
            other => Err(wrong_kind(label, other, "text")),
        }
    }

    fn opt_integer(&self, label: &'static str) -> StoreResult<Option<i64>> {
        match self.cell(label)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            other => Err(wrong_kind(label, other, "an integer")),
        }
    }

    fn opt_bool(&self, label: &'static str) -> StoreResult<Option<bool>> {
        Ok(self.opt_integer(label)?.map(|i| i != 0))
    }

    fn opt_uuid(&self, label: &'static str) -> StoreResult<Option<Uuid>> {
        self.opt_text(label)?
            .map(|text| parse_text(label, &text))
            .transpose()
    }

    fn opt_millis(&self, label: &'static str) -> StoreResult<Option<i64>> {
        self.opt_integer(label)
    }

    fn text_list(&self, label: &'static str) -> StoreResult<Vec<String>> {
        self.json(label)
    }

    fn text_map(&self, label: &'static str) -> StoreResult<BTreeMap<String, String>> {
        self.json(label)
    }

    fn document(&self, label: &'static str) -> StoreResult<String> {
        self.text(label)
    }
}

/// A column value as SQLite keeps it: UUIDs as text, times as integer milliseconds, booleans as
/// 0 or 1, lists and maps as JSON text.
fn to_sql(column: &'static str, value: Value) -> StoreResult<SqlValue> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Text(text) | Value::Document(text) => SqlValue::Text(text),
        Value::Int(i) => SqlValue::Integer(i64::from(i)),
        Value::BigInt(i) => SqlValue::Integer(i),
        Value::Bool(b) => SqlValue::Integer(i64::from(b)),
        Value::Uuid(id) | Value::TimeUuid(id) => SqlValue::Text(id.to_string()),
        Value::Time(t) => SqlValue::Integer(to_millis(t)),
        Value::TextList(list) => SqlValue::Text(to_json(column, &list)?),
        Value::TextMap(map) => SqlValue::Text(to_json(column, &map)?),
    })
}

/// The values of a row of `table` as SQLite parameters.
fn sql_values(table: &Table, values: Vec<Value>) -> StoreResult<Vec<SqlValue>> {
    table
        .columns
        .iter()
        .zip(values)
        .map(|(column, value)| to_sql(column, value))
        .collect()
}

/// `INSERT OR REPLACE` of every column of `table`, then of the `extra` ones (SQLite's own).
fn insert(table: &Table, extra: &[&str]) -> String {
    let columns: Vec<&str> = table.columns.iter().chain(extra).copied().collect();
    let slots: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
        table.name,
        columns.join(", "),
        slots.join(", ")
    )
}

/// `SELECT` of every column of `table`, followed by `rest` (conditions, order, limit).
fn select(table: &Table, rest: &str) -> String {
    format!("SELECT {} FROM {} {rest}", table.column_list(), table.name)
}

/// Runs a query selecting every column of `table` and converts every row.
fn query_all<T>(
    conn: &Connection,
    op: &'static str,
    table: &'static Table,
    query: &str,
    params: impl rusqlite::Params,
    convert: impl Fn(&SqliteRow<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare(query).map_err(sql(op))?;
    let mut rows = stmt.query(params).map_err(sql(op))?;
    let mut all = Vec::new();
    while let Some(row) = rows.next().map_err(sql(op))? {
        all.push(convert(&SqliteRow { row, table })?);
    }
    Ok(all)
}

/// A `LIMIT` value for SQLite (which takes a signed 64-bit count).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A key or condition value as SQLite keeps it (text, as UUIDs and names are stored).
fn text(v: impl ToString) -> SqlValue {
    SqlValue::Text(v.to_string())
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
}
