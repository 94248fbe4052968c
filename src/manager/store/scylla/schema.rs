//! The ScyllaDB store's schema: the migrations that create and extend its tables in the
//! keyspace, and applying the ones a keyspace lacks.

use super::ScyllaStore;
use super::row::ts;
use crate::manager::store::rows::{from_signed, to_i32};
use crate::manager::store::{StoreError, StoreResult};

/// Schema migrations in order: `(version, name, CQL statements)`, with `{ks}` standing for the
/// keyspace. Every statement is idempotent (`IF NOT EXISTS`), so a migration interrupted half
/// way is simply run again; it is recorded in `schema_version` once all its statements ran. An
/// `ALTER TABLE ... ADD` whose column exists already (a migration interrupted after it) counts
/// as done.
pub(super) const MIGRATIONS: &[(u32, &str, &[&str])] = &[
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
    (
        4,
        "restore tables",
        &[
            "CREATE TABLE IF NOT EXISTS {ks}.restore_run (
            cluster_id uuid,
            task_id uuid,
            id timeuuid,
            prev_id timeuuid,
            snapshot_tag text,
            stage text,
            repair_task_id text,
            units text,
            views text,
            start_time timestamp,
            PRIMARY KEY ((cluster_id, task_id), id))
            WITH CLUSTERING ORDER BY (id DESC)",
            "CREATE TABLE IF NOT EXISTS {ks}.restore_run_progress (
            cluster_id uuid,
            task_id uuid,
            run_id uuid,
            remote_sstable_dir text,
            keyspace_name text,
            table_name text,
            host text,
            agent_job_id text,
            scylla_task_id text,
            sstable_id list<text>,
            download_started_at timestamp,
            download_completed_at timestamp,
            restore_started_at timestamp,
            restore_completed_at timestamp,
            downloaded bigint,
            versioned_downloaded bigint,
            skipped bigint,
            restored bigint,
            failed bigint,
            error text,
            shard_cnt bigint,
            PRIMARY KEY ((cluster_id, task_id, run_id), remote_sstable_dir, keyspace_name, table_name, host, agent_job_id, scylla_task_id))",
        ],
    ),
    (
        5,
        "validate tables",
        &["CREATE TABLE IF NOT EXISTS {ks}.validate_backup_run_progress (
            cluster_id uuid,
            task_id uuid,
            run_id uuid,
            dc text,
            host text,
            location text,
            manifests bigint,
            scanned_files bigint,
            missing_files bigint,
            orphaned_files bigint,
            orphaned_bytes bigint,
            deleted_files bigint,
            broken_snapshots list<text>,
            started_at timestamp,
            completed_at timestamp,
            sstables_checked bigint,
            corrupt_files bigint,
            size_mismatches bigint,
            nodes text,
            PRIMARY KEY ((cluster_id, task_id, run_id), dc, host, location))"],
    ),
    (
        6,
        "scheduler suspension",
        &["CREATE TABLE IF NOT EXISTS {ks}.scheduler_suspension (
            cluster_id uuid PRIMARY KEY,
            started_at timestamp,
            resume_at timestamp,
            start_tasks boolean,
            stopped_tasks list<text>)"],
    ),
];

impl ScyllaStore {
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
    pub(super) async fn migrate(&self, replication_factor: u32) -> StoreResult<()> {
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
}

/// Whether a failed `ALTER TABLE ... ADD` failed because the column is there already.
fn column_exists(e: &scylla::errors::ExecutionError) -> bool {
    let text = e.to_string();
    text.contains("conflicts with an existing column") || text.contains("already exist")
}
