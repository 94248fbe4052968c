//! The embedded [`Store`]: one SQLite file in WAL mode, one connection behind a mutex, used from
//! `tokio::task::spawn_blocking`. Tables follow upstream's CQL tables; collections and
//! user-defined types are JSON text columns, times are integer milliseconds, UUIDs are text.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, RunKey, Store, StoreError, StoreResult,
    Task, TaskKey, TaskRun, finish_task_list, from_json, from_millis, from_signed, parse_text,
    parse_uuid, readable_tasks, sort_clusters, sort_progress, time_uuid_ticks, to_i32, to_i64,
    to_json, to_millis,
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

/// Reads an optional millisecond column as a time.
fn opt_time(
    field: &'static str,
    ms: Option<i64>,
) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
    ms.map(|ms| from_millis(field, ms)).transpose()
}

/// The raw columns of a `cluster` row.
type ClusterRow = (
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    i64,
    String,
);

fn cluster_row(r: &Row<'_>) -> rusqlite::Result<ClusterRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

const CLUSTER_COLUMNS: &str =
    "id, name, hosts, agent_port, auth_token, cql_username, cql_password, created_at, agent_pins";

fn cluster_from(row: ClusterRow) -> StoreResult<Cluster> {
    let (
        id,
        name,
        hosts,
        agent_port,
        auth_token,
        cql_username,
        cql_password,
        created_at,
        agent_pins,
    ) = row;
    Ok(Cluster {
        id: parse_uuid("cluster.id", &id)?,
        name,
        hosts: from_json("cluster.hosts", &hosts)?,
        agent_port: from_signed("cluster.agent_port", agent_port)?,
        auth_token,
        cql_username,
        cql_password,
        created_at: from_millis("cluster.created_at", created_at)?,
        agent_pins: from_json("cluster.agent_pins", &agent_pins)?,
    })
}

/// The raw columns of a `scheduler_task` row.
struct TaskRow {
    cluster_id: String,
    task_type: String,
    id: String,
    name: String,
    labels: String,
    enabled: bool,
    deleted: bool,
    sched: String,
    properties: String,
    status: Option<String>,
    success_count: i64,
    error_count: i64,
    last_success: Option<i64>,
    last_error: Option<i64>,
}

const TASK_COLUMNS: &str = "cluster_id, type, id, name, labels, enabled, deleted, sched, \
    properties, status, success_count, error_count, last_success, last_error";

fn task_row(r: &Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        cluster_id: r.get(0)?,
        task_type: r.get(1)?,
        id: r.get(2)?,
        name: r.get(3)?,
        labels: r.get(4)?,
        enabled: r.get(5)?,
        deleted: r.get(6)?,
        sched: r.get(7)?,
        properties: r.get(8)?,
        status: r.get(9)?,
        success_count: r.get(10)?,
        error_count: r.get(11)?,
        last_success: r.get(12)?,
        last_error: r.get(13)?,
    })
}

fn task_from(row: TaskRow) -> StoreResult<Task> {
    Ok(Task {
        cluster_id: parse_uuid("scheduler_task.cluster_id", &row.cluster_id)?,
        task_type: parse_text("scheduler_task.type", &row.task_type)?,
        id: parse_uuid("scheduler_task.id", &row.id)?,
        name: row.name,
        labels: from_json("scheduler_task.labels", &row.labels)?,
        enabled: row.enabled,
        deleted: row.deleted,
        schedule: from_json("scheduler_task.sched", &row.sched)?,
        properties: from_json("scheduler_task.properties", &row.properties)?,
        status: row
            .status
            .map(|s| parse_text("scheduler_task.status", &s))
            .transpose()?,
        success_count: from_signed("scheduler_task.success_count", row.success_count)?,
        error_count: from_signed("scheduler_task.error_count", row.error_count)?,
        last_success: opt_time("scheduler_task.last_success", row.last_success)?,
        last_error: opt_time("scheduler_task.last_error", row.last_error)?,
    })
}

/// The raw columns of a `scheduler_task_run` row.
type TaskRunRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
);

const TASK_RUN_COLUMNS: &str =
    "cluster_id, type, task_id, id, status, cause, owner, start_time, end_time";

fn task_run_row(r: &Row<'_>) -> rusqlite::Result<TaskRunRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn task_run_from(row: TaskRunRow) -> StoreResult<TaskRun> {
    let (cluster_id, task_type, task_id, id, status, cause, owner, start_time, end_time) = row;
    Ok(TaskRun {
        cluster_id: parse_uuid("scheduler_task_run.cluster_id", &cluster_id)?,
        task_type: parse_text("scheduler_task_run.type", &task_type)?,
        task_id: parse_uuid("scheduler_task_run.task_id", &task_id)?,
        id: parse_uuid("scheduler_task_run.id", &id)?,
        status: parse_text("scheduler_task_run.status", &status)?,
        cause,
        owner,
        start_time: from_millis("scheduler_task_run.start_time", start_time)?,
        end_time: opt_time("scheduler_task_run.end_time", end_time)?,
    })
}

/// The raw columns of a `backup_run` row.
struct BackupRunRow {
    cluster_id: String,
    task_id: String,
    id: String,
    prev_id: Option<String>,
    snapshot_tag: String,
    units: String,
    dc: String,
    location: String,
    nodes: String,
    start_time: i64,
    stage: String,
    skipped_hosts: String,
}

const BACKUP_RUN_COLUMNS: &str = "cluster_id, task_id, id, prev_id, snapshot_tag, units, dc, location, nodes, start_time, stage, skipped_hosts";

fn backup_run_row(r: &Row<'_>) -> rusqlite::Result<BackupRunRow> {
    Ok(BackupRunRow {
        cluster_id: r.get(0)?,
        task_id: r.get(1)?,
        id: r.get(2)?,
        prev_id: r.get(3)?,
        snapshot_tag: r.get(4)?,
        units: r.get(5)?,
        dc: r.get(6)?,
        location: r.get(7)?,
        nodes: r.get(8)?,
        start_time: r.get(9)?,
        stage: r.get(10)?,
        skipped_hosts: r.get(11)?,
    })
}

fn backup_run_from(row: BackupRunRow) -> StoreResult<BackupRun> {
    Ok(BackupRun {
        cluster_id: parse_uuid("backup_run.cluster_id", &row.cluster_id)?,
        task_id: parse_uuid("backup_run.task_id", &row.task_id)?,
        id: parse_uuid("backup_run.id", &row.id)?,
        prev_id: row
            .prev_id
            .map(|p| parse_uuid("backup_run.prev_id", &p))
            .transpose()?,
        snapshot_tag: parse_text("backup_run.snapshot_tag", &row.snapshot_tag)?,
        units: from_json("backup_run.units", &row.units)?,
        dc: from_json("backup_run.dc", &row.dc)?,
        location: from_json("backup_run.location", &row.location)?,
        nodes: from_json("backup_run.nodes", &row.nodes)?,
        start_time: from_millis("backup_run.start_time", row.start_time)?,
        stage: parse_text::<BackupStage>("backup_run.stage", &row.stage)?,
        skipped_hosts: from_json("backup_run.skipped_hosts", &row.skipped_hosts)?,
    })
}

/// The raw columns of a `backup_run_progress` row.
struct ProgressRow {
    cluster_id: String,
    task_id: String,
    run_id: String,
    host: String,
    unit: i64,
    table_name: String,
    agent_job_id: Option<String>,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    error: Option<String>,
    counters: [i64; 6],
}

const PROGRESS_COLUMNS: &str = "cluster_id, task_id, run_id, host, unit, table_name, \
    agent_job_id, started_at, completed_at, error, size, uploaded, skipped, failed, \
    files_count, files_skipped_count";

fn progress_row(r: &Row<'_>) -> rusqlite::Result<ProgressRow> {
    Ok(ProgressRow {
        cluster_id: r.get(0)?,
        task_id: r.get(1)?,
        run_id: r.get(2)?,
        host: r.get(3)?,
        unit: r.get(4)?,
        table_name: r.get(5)?,
        agent_job_id: r.get(6)?,
        started_at: r.get(7)?,
        completed_at: r.get(8)?,
        error: r.get(9)?,
        counters: [
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get(14)?,
            r.get(15)?,
        ],
    })
}

fn progress_from(row: ProgressRow) -> StoreResult<BackupRunProgress> {
    const F: &str = "backup_run_progress counter";
    let [
        size,
        uploaded,
        skipped,
        failed,
        files_count,
        files_skipped_count,
    ] = row.counters;
    Ok(BackupRunProgress {
        cluster_id: parse_uuid("backup_run_progress.cluster_id", &row.cluster_id)?,
        task_id: parse_uuid("backup_run_progress.task_id", &row.task_id)?,
        run_id: parse_uuid("backup_run_progress.run_id", &row.run_id)?,
        host: row.host,
        unit: from_signed("backup_run_progress.unit", row.unit)?,
        table_name: row.table_name,
        agent_job_id: row.agent_job_id,
        started_at: opt_time("backup_run_progress.started_at", row.started_at)?,
        completed_at: opt_time("backup_run_progress.completed_at", row.completed_at)?,
        error: row.error,
        size: from_signed(F, size)?,
        uploaded: from_signed(F, uploaded)?,
        skipped: from_signed(F, skipped)?,
        failed: from_signed(F, failed)?,
        files_count: from_signed(F, files_count)?,
        files_skipped_count: from_signed(F, files_skipped_count)?,
    })
}

/// Runs a query and converts every row.
fn query_all<R, T>(
    conn: &Connection,
    op: &'static str,
    query: &str,
    params: impl rusqlite::Params,
    read: fn(&Row<'_>) -> rusqlite::Result<R>,
    convert: fn(R) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare(query).map_err(sql(op))?;
    let raw = stmt
        .query_map(params, read)
        .map_err(sql(op))?
        .collect::<Result<Vec<R>, _>>()
        .map_err(sql(op))?;
    raw.into_iter().map(convert).collect()
}

/// A `LIMIT` value for SQLite (which takes a signed 64-bit count).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_cluster(&self, c: &Cluster) -> StoreResult<()> {
        const OP: &str = "put cluster";
        let values = (
            c.id.to_string(),
            c.name.clone(),
            to_json("cluster hosts", &c.hosts)?,
            i64::from(c.agent_port),
            c.auth_token.clone(),
            c.cql_username.clone(),
            c.cql_password.clone(),
            to_millis(c.created_at),
            to_json("cluster agent_pins", &c.agent_pins)?,
        );
        self.call(OP, move |conn| {
            conn.execute(
                &format!(
                    "INSERT OR REPLACE INTO cluster ({CLUSTER_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                values,
            )
            .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }

    async fn get_cluster(&self, id: Uuid) -> StoreResult<Option<Cluster>> {
        const OP: &str = "get cluster";
        let mut found = self
            .call(OP, move |conn| {
                query_all(
                    conn,
                    OP,
                    &format!("SELECT {CLUSTER_COLUMNS} FROM cluster WHERE id = ?1"),
                    [id.to_string()],
                    cluster_row,
                    cluster_from,
                )
            })
            .await?;
        Ok(found.pop())
    }

    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>> {
        const OP: &str = "list clusters";
        let mut all = self
            .call(OP, move |conn| {
                query_all(
                    conn,
                    OP,
                    &format!("SELECT {CLUSTER_COLUMNS} FROM cluster"),
                    [],
                    cluster_row,
                    cluster_from,
                )
            })
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
        const OP: &str = "put task";
        let values = (
            t.cluster_id.to_string(),
            t.task_type.as_str(),
            t.id.to_string(),
            t.name.clone(),
            to_json("task labels", &t.labels)?,
            t.enabled,
            t.deleted,
            to_json("task schedule", &t.schedule)?,
            to_json("task properties", &t.properties)?,
            t.status.map(|s| s.as_str()),
            to_i64("task success_count", t.success_count)?,
            to_i64("task error_count", t.error_count)?,
            t.last_success.map(to_millis),
            t.last_error.map(to_millis),
        );
        self.call(OP, move |conn| {
            conn.execute(
                &format!(
                    "INSERT OR REPLACE INTO scheduler_task ({TASK_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                ),
                values,
            )
            .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }

    async fn get_task(&self, key: TaskKey) -> StoreResult<Option<Task>> {
        const OP: &str = "get task";
        let mut found = self
            .call(OP, move |conn| {
                query_all(
                    conn,
                    OP,
                    &format!(
                        "SELECT {TASK_COLUMNS} FROM scheduler_task \
                         WHERE cluster_id = ?1 AND type = ?2 AND id = ?3"
                    ),
                    params![
                        key.cluster_id.to_string(),
                        key.task_type.as_str(),
                        key.task_id.to_string()
                    ],
                    task_row,
                    task_from,
                )
            })
            .await?;
        Ok(found.pop())
    }

    async fn list_tasks(&self, cluster_id: Uuid, include_deleted: bool) -> StoreResult<Vec<Task>> {
        const OP: &str = "list tasks";
        let tasks = self
            .call(OP, move |conn| {
                query_all(
                    conn,
                    OP,
                    &format!("SELECT {TASK_COLUMNS} FROM scheduler_task WHERE cluster_id = ?1"),
                    [cluster_id.to_string()],
                    task_row,
                    |row| Ok(task_from(row)),
                )
            })
            .await?;
        Ok(finish_task_list(readable_tasks(tasks), include_deleted))
    }

    async fn put_task_run(&self, r: &TaskRun) -> StoreResult<()> {
        const OP: &str = "put task run";
        let values = (
            r.cluster_id.to_string(),
            r.task_type.as_str(),
            r.task_id.to_string(),
            r.id.to_string(),
            time_uuid_ticks("task run id", r.id)?,
            r.status.as_str(),
            r.cause.clone(),
            r.owner.clone(),
            to_millis(r.start_time),
            r.end_time.map(to_millis),
        );
        self.call(OP, move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO scheduler_task_run (cluster_id, type, task_id, id, \
                 id_time, status, cause, owner, start_time, end_time) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                values,
            )
            .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }

    async fn get_task_run(&self, task: TaskKey, run_id: Uuid) -> StoreResult<Option<TaskRun>> {
        const OP: &str = "get task run";
        let mut found = self
            .call(OP, move |conn| {
                query_all(
                    conn,
                    OP,
                    &format!(
                        "SELECT {TASK_RUN_COLUMNS} FROM scheduler_task_run \
                         WHERE cluster_id = ?1 AND type = ?2 AND task_id = ?3 AND id = ?4"
                    ),
                    params![
                        task.cluster_id.to_string(),
                        task.task_type.as_str(),
                        task.task_id.to_string(),
                        run_id.to_string()
                    ],
                    task_run_row,
                    task_run_from,
                )
            })
            .await?;
        Ok(found.pop())
    }

    async fn list_task_runs(&self, task: TaskKey, limit: usize) -> StoreResult<Vec<TaskRun>> {
        const OP: &str = "list task runs";
        self.call(OP, move |conn| {
            query_all(
                conn,
                OP,
                &format!(
                    "SELECT {TASK_RUN_COLUMNS} FROM scheduler_task_run \
                     WHERE cluster_id = ?1 AND type = ?2 AND task_id = ?3 \
                     ORDER BY id_time DESC, id DESC LIMIT ?4"
                ),
                params![
                    task.cluster_id.to_string(),
                    task.task_type.as_str(),
                    task.task_id.to_string(),
                    sql_limit(limit)
                ],
                task_run_row,
                task_run_from,
            )
        })
        .await
    }

    async fn put_backup_run(&self, r: &BackupRun) -> StoreResult<()> {
        const OP: &str = "put backup run";
        if let Some(prev) = r.prev_id {
            time_uuid_ticks("backup run prev_id", prev)?;
        }
        let values = (
            r.cluster_id.to_string(),
            r.task_id.to_string(),
            r.id.to_string(),
            time_uuid_ticks("backup run id", r.id)?,
            r.prev_id.map(|p| p.to_string()),
            r.snapshot_tag.to_string(),
            to_json("backup run units", &r.units)?,
            to_json("backup run dc", &r.dc)?,
            to_json("backup run location", &r.location)?,
            to_json("backup run nodes", &r.nodes)?,
            to_millis(r.start_time),
            r.stage.as_str(),
            to_json("backup run skipped_hosts", &r.skipped_hosts)?,
        );
        self.call(OP, move |conn| {
            conn.execute(
                &format!(
                    "INSERT OR REPLACE INTO backup_run ({BACKUP_RUN_COLUMNS}, id_time) \
                     VALUES (?1, ?2, ?3, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?4)"
                ),
                values,
            )
            .map_err(sql(OP))?;
            Ok(())
        })
        .await
    }

    async fn get_backup_run(&self, key: RunKey) -> StoreResult<Option<BackupRun>> {
        const OP: &str = "get backup run";
        let mut found = self
            .call(OP, move |conn| {
                query_all(
                    conn,
                    OP,
                    &format!(
                        "SELECT {BACKUP_RUN_COLUMNS} FROM backup_run \
                         WHERE cluster_id = ?1 AND task_id = ?2 AND id = ?3"
                    ),
                    params![
                        key.cluster_id.to_string(),
                        key.task_id.to_string(),
                        key.run_id.to_string()
                    ],
                    backup_run_row,
                    backup_run_from,
                )
            })
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
        const OP: &str = "list backup runs";
        self.call(OP, move |conn| {
            query_all(
                conn,
                OP,
                &format!(
                    "SELECT {BACKUP_RUN_COLUMNS} FROM backup_run \
                     WHERE cluster_id = ?1 AND task_id = ?2 \
                     ORDER BY id_time DESC, id DESC LIMIT ?3"
                ),
                params![
                    cluster_id.to_string(),
                    task_id.to_string(),
                    sql_limit(limit)
                ],
                backup_run_row,
                backup_run_from,
            )
        })
        .await
    }

    async fn put_progress(&self, rows: &[BackupRunProgress]) -> StoreResult<()> {
        const OP: &str = "put progress";
        type Values = (
            [String; 4],
            i32,
            String,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            [i64; 6],
        );
        let values = rows
            .iter()
            .map(|p| -> StoreResult<Values> {
                Ok((
                    [
                        p.cluster_id.to_string(),
                        p.task_id.to_string(),
                        p.run_id.to_string(),
                        p.host.clone(),
                    ],
                    to_i32("progress unit", p.unit)?,
                    p.table_name.clone(),
                    p.agent_job_id.clone(),
                    p.started_at.map(to_millis),
                    p.completed_at.map(to_millis),
                    p.error.clone(),
                    [
                        to_i64("progress size", p.size)?,
                        to_i64("progress uploaded", p.uploaded)?,
                        to_i64("progress skipped", p.skipped)?,
                        to_i64("progress failed", p.failed)?,
                        to_i64("progress files_count", p.files_count)?,
                        to_i64("progress files_skipped_count", p.files_skipped_count)?,
                    ],
                ))
            })
            .collect::<StoreResult<Vec<Values>>>()?;
        self.call(OP, move |conn| {
            let tx = conn.transaction().map_err(sql(OP))?;
            {
                let mut stmt = tx
                    .prepare(&format!(
                        "INSERT OR REPLACE INTO backup_run_progress ({PROGRESS_COLUMNS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
                         ?15, ?16)"
                    ))
                    .map_err(sql(OP))?;
                for (keys, unit, table, job, started, completed, error, c) in values {
                    let [cluster_id, task_id, run_id, host] = keys;
                    stmt.execute(params![
                        cluster_id, task_id, run_id, host, unit, table, job, started, completed,
                        error, c[0], c[1], c[2], c[3], c[4], c[5]
                    ])
                    .map_err(sql(OP))?;
                }
            }
            tx.commit().map_err(sql(OP))
        })
        .await
    }

    async fn list_progress(&self, run: RunKey) -> StoreResult<Vec<BackupRunProgress>> {
        const OP: &str = "list progress";
        let mut rows = self
            .call(OP, move |conn| {
                query_all(
                    conn,
                    OP,
                    &format!(
                        "SELECT {PROGRESS_COLUMNS} FROM backup_run_progress \
                         WHERE cluster_id = ?1 AND task_id = ?2 AND run_id = ?3"
                    ),
                    params![
                        run.cluster_id.to_string(),
                        run.task_id.to_string(),
                        run.run_id.to_string()
                    ],
                    progress_row,
                    progress_from,
                )
            })
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
