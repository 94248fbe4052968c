//! The SQLite store's schema: the migrations that create and extend its tables, and opening a
//! database file (private to its owner, in WAL mode) with the migrations it lacks applied.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::row::sql;
use crate::manager::store::rows::to_millis;
use crate::manager::store::{StoreError, StoreResult};

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
    (
        4,
        "restore tables",
        "
    CREATE TABLE IF NOT EXISTS restore_run (
        cluster_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        id TEXT NOT NULL,
        id_time INTEGER NOT NULL,
        prev_id TEXT,
        snapshot_tag TEXT NOT NULL,
        stage TEXT NOT NULL,
        repair_task_id TEXT,
        units TEXT NOT NULL,
        views TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        PRIMARY KEY (cluster_id, task_id, id)
    );
    CREATE INDEX IF NOT EXISTS restore_run_newest
        ON restore_run (cluster_id, task_id, id_time DESC, id DESC);
    CREATE TABLE IF NOT EXISTS restore_run_progress (
        cluster_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        remote_sstable_dir TEXT NOT NULL,
        keyspace_name TEXT NOT NULL,
        table_name TEXT NOT NULL,
        host TEXT NOT NULL,
        agent_job_id TEXT NOT NULL,
        scylla_task_id TEXT NOT NULL,
        sstable_id TEXT NOT NULL,
        download_started_at INTEGER,
        download_completed_at INTEGER,
        restore_started_at INTEGER,
        restore_completed_at INTEGER,
        downloaded INTEGER NOT NULL,
        versioned_downloaded INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        restored INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        error TEXT,
        shard_cnt INTEGER NOT NULL,
        PRIMARY KEY (cluster_id, task_id, run_id, remote_sstable_dir, keyspace_name,
            table_name, host, agent_job_id, scylla_task_id)
    );
    ",
    ),
    (
        5,
        "validate tables",
        "
    CREATE TABLE IF NOT EXISTS validate_backup_run_progress (
        cluster_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        dc TEXT NOT NULL,
        host TEXT NOT NULL,
        location TEXT NOT NULL,
        manifests INTEGER NOT NULL,
        scanned_files INTEGER NOT NULL,
        missing_files INTEGER NOT NULL,
        orphaned_files INTEGER NOT NULL,
        orphaned_bytes INTEGER NOT NULL,
        deleted_files INTEGER NOT NULL,
        broken_snapshots TEXT NOT NULL,
        started_at INTEGER,
        completed_at INTEGER,
        sstables_checked INTEGER NOT NULL,
        corrupt_files INTEGER NOT NULL,
        size_mismatches INTEGER NOT NULL,
        nodes TEXT NOT NULL,
        PRIMARY KEY (cluster_id, task_id, run_id, dc, host, location)
    );
    ",
    ),
    (
        6,
        "scheduler suspension",
        "
    CREATE TABLE IF NOT EXISTS scheduler_suspension (
        cluster_id TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        resume_at INTEGER,
        start_tasks INTEGER NOT NULL,
        stopped_tasks TEXT NOT NULL
    );
    ",
    ),
];

/// Opens the connection and migrates the schema.
pub(super) fn open_blocking(path: &Path) -> StoreResult<Connection> {
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
