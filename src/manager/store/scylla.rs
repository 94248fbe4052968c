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
use scylla::value::{CqlTimestamp, CqlTimeuuid};
use uuid::Uuid;

use super::{
    BackupRun, BackupRunProgress, BackupStage, Cluster, PROGRESS_BATCH_ROWS, RunKey, ScyllaConfig,
    Store, StoreError, StoreResult, Task, TaskKey, TaskRun, finish_task_list, from_json,
    from_millis, from_signed, parse_text, readable_tasks, sort_clusters, sort_progress,
    time_uuid_ticks, to_i32, to_i64, to_json, to_millis,
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

/// A stored optional `timestamp` as a time.
fn opt_time(
    field: &'static str,
    t: Option<CqlTimestamp>,
) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
    t.map(|t| from_millis(field, t.0)).transpose()
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
}

/// The columns of a `cluster` row.
type ClusterRow = (
    Uuid,
    String,
    Option<Vec<String>>,
    i32,
    String,
    Option<String>,
    Option<String>,
    CqlTimestamp,
    Option<BTreeMap<String, String>>,
);

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
        id,
        name,
        hosts: hosts.unwrap_or_default(),
        agent_port: from_signed("cluster.agent_port", agent_port)?,
        auth_token,
        cql_username,
        cql_password,
        created_at: from_millis("cluster.created_at", created_at.0)?,
        agent_pins: agent_pins.unwrap_or_default(),
    })
}

/// The columns of a `scheduler_task` row.
type TaskRow = (
    Uuid,
    String,
    Uuid,
    String,
    Option<BTreeMap<String, String>>,
    bool,
    bool,
    String,
    Vec<u8>,
    Option<String>,
    i64,
    i64,
    Option<CqlTimestamp>,
    Option<CqlTimestamp>,
);

const TASK_COLUMNS: &str = "cluster_id, type, id, name, labels, enabled, deleted, sched, \
    properties, status, success_count, error_count, last_success, last_error";

fn task_from(row: TaskRow) -> StoreResult<Task> {
    let (
        cluster_id,
        task_type,
        id,
        name,
        labels,
        enabled,
        deleted,
        sched,
        properties,
        status,
        success_count,
        error_count,
        last_success,
        last_error,
    ) = row;
    let properties = String::from_utf8(properties).map_err(|e| StoreError::Corrupt {
        field: "scheduler_task.properties",
        value: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        reason: e.to_string(),
    })?;
    Ok(Task {
        cluster_id,
        task_type: parse_text("scheduler_task.type", &task_type)?,
        id,
        name,
        labels: labels.unwrap_or_default(),
        enabled,
        deleted,
        schedule: from_json("scheduler_task.sched", &sched)?,
        properties: from_json("scheduler_task.properties", &properties)?,
        status: status
            .map(|s| parse_text("scheduler_task.status", &s))
            .transpose()?,
        success_count: from_signed("scheduler_task.success_count", success_count)?,
        error_count: from_signed("scheduler_task.error_count", error_count)?,
        last_success: opt_time("scheduler_task.last_success", last_success)?,
        last_error: opt_time("scheduler_task.last_error", last_error)?,
    })
}

/// The columns of a `scheduler_task_run` row.
type TaskRunRow = (
    Uuid,
    String,
    Uuid,
    CqlTimeuuid,
    String,
    Option<String>,
    Option<String>,
    CqlTimestamp,
    Option<CqlTimestamp>,
);

const TASK_RUN_COLUMNS: &str =
    "cluster_id, type, task_id, id, status, cause, owner, start_time, end_time";

fn task_run_from(row: TaskRunRow) -> StoreResult<TaskRun> {
    let (cluster_id, task_type, task_id, id, status, cause, owner, start_time, end_time) = row;
    Ok(TaskRun {
        cluster_id,
        task_type: parse_text("scheduler_task_run.type", &task_type)?,
        task_id,
        id: id.into(),
        status: parse_text("scheduler_task_run.status", &status)?,
        cause: cause.unwrap_or_default(),
        owner: owner.unwrap_or_default(),
        start_time: from_millis("scheduler_task_run.start_time", start_time.0)?,
        end_time: opt_time("scheduler_task_run.end_time", end_time)?,
    })
}

/// Whether a failed `ALTER TABLE ... ADD` failed because the column is there already.
fn column_exists(e: &scylla::errors::ExecutionError) -> bool {
    let text = e.to_string();
    text.contains("conflicts with an existing column") || text.contains("already exist")
}

/// The columns of a `backup_run` row.
type BackupRunRow = (
    Uuid,
    Uuid,
    CqlTimeuuid,
    Option<CqlTimeuuid>,
    String,
    String,
    Option<Vec<String>>,
    Option<Vec<String>>,
    Option<Vec<String>>,
    CqlTimestamp,
    String,
    Option<String>,
);

const BACKUP_RUN_COLUMNS: &str = "cluster_id, task_id, id, prev_id, snapshot_tag, units, dc, location, nodes, start_time, stage, skipped_hosts";

fn backup_run_from(row: BackupRunRow) -> StoreResult<BackupRun> {
    let (
        cluster_id,
        task_id,
        id,
        prev_id,
        tag,
        units,
        dc,
        location,
        nodes,
        start_time,
        stage,
        skipped_hosts,
    ) = row;
    Ok(BackupRun {
        cluster_id,
        task_id,
        id: id.into(),
        prev_id: prev_id.map(Uuid::from),
        snapshot_tag: parse_text("backup_run.snapshot_tag", &tag)?,
        units: from_json("backup_run.units", &units)?,
        dc: dc.unwrap_or_default(),
        location: location
            .unwrap_or_default()
            .iter()
            .map(|l| parse_text("backup_run.location", l))
            .collect::<StoreResult<_>>()?,
        nodes: nodes.unwrap_or_default(),
        start_time: from_millis("backup_run.start_time", start_time.0)?,
        stage: parse_text::<BackupStage>("backup_run.stage", &stage)?,
        skipped_hosts: skipped_hosts
            .map(|s| from_json("backup_run.skipped_hosts", &s))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// The columns of a `backup_run_progress` row.
type ProgressRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    i32,
    String,
    Option<String>,
    Option<CqlTimestamp>,
    Option<CqlTimestamp>,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

const PROGRESS_COLUMNS: &str = "cluster_id, task_id, run_id, host, unit, table_name, \
    agent_job_id, started_at, completed_at, error, size, uploaded, skipped, failed, \
    files_count, files_skipped_count";

fn progress_from(row: ProgressRow) -> StoreResult<BackupRunProgress> {
    const F: &str = "backup_run_progress counter";
    let (
        cluster_id,
        task_id,
        run_id,
        host,
        unit,
        table_name,
        agent_job_id,
        started_at,
        completed_at,
        error,
        size,
        uploaded,
        skipped,
        failed,
        files_count,
        files_skipped_count,
    ) = row;
    Ok(BackupRunProgress {
        cluster_id,
        task_id,
        run_id,
        host,
        unit: from_signed("backup_run_progress.unit", unit)?,
        table_name,
        agent_job_id,
        started_at: opt_time("backup_run_progress.started_at", started_at)?,
        completed_at: opt_time("backup_run_progress.completed_at", completed_at)?,
        error,
        size: from_signed(F, size)?,
        uploaded: from_signed(F, uploaded)?,
        skipped: from_signed(F, skipped)?,
        failed: from_signed(F, failed)?,
        files_count: from_signed(F, files_count)?,
        files_skipped_count: from_signed(F, files_skipped_count)?,
    })
}

/// The values of an INSERT of all [`CLUSTER_COLUMNS`].
fn cluster_values(c: &Cluster) -> impl SerializeRow + '_ {
    (
        c.id,
        &c.name,
        &c.hosts,
        i32::from(c.agent_port),
        &c.auth_token,
        &c.cql_username,
        &c.cql_password,
        ts(c.created_at),
        &c.agent_pins,
    )
}

/// The values of an INSERT of all [`TASK_COLUMNS`].
fn task_values(t: &Task) -> StoreResult<impl SerializeRow + '_> {
    Ok((
        t.cluster_id,
        t.task_type.as_str(),
        t.id,
        &t.name,
        &t.labels,
        t.enabled,
        t.deleted,
        to_json("task schedule", &t.schedule)?,
        to_json("task properties", &t.properties)?.into_bytes(),
        t.status.map(|s| s.as_str()),
        to_i64("task success_count", t.success_count)?,
        to_i64("task error_count", t.error_count)?,
        t.last_success.map(ts),
        t.last_error.map(ts),
    ))
}

/// The values of an INSERT of all [`TASK_RUN_COLUMNS`].
fn task_run_values(r: &TaskRun) -> StoreResult<impl SerializeRow + '_> {
    Ok((
        r.cluster_id,
        r.task_type.as_str(),
        r.task_id,
        timeuuid("task run id", r.id)?,
        r.status.as_str(),
        &r.cause,
        &r.owner,
        ts(r.start_time),
        r.end_time.map(ts),
    ))
}

/// The values of an INSERT of all [`BACKUP_RUN_COLUMNS`].
fn backup_run_values(r: &BackupRun) -> StoreResult<impl SerializeRow + '_> {
    let prev_id = r
        .prev_id
        .map(|p| timeuuid("backup run prev_id", p))
        .transpose()?;
    let location: Vec<String> = r.location.iter().map(ToString::to_string).collect();
    Ok((
        r.cluster_id,
        r.task_id,
        timeuuid("backup run id", r.id)?,
        prev_id,
        r.snapshot_tag.as_str(),
        to_json("backup run units", &r.units)?,
        &r.dc,
        location,
        &r.nodes,
        ts(r.start_time),
        r.stage.as_str(),
        to_json("backup run skipped_hosts", &r.skipped_hosts)?,
    ))
}

/// The values of an INSERT of all [`PROGRESS_COLUMNS`].
type ProgressValues<'a> = (
    Uuid,
    Uuid,
    Uuid,
    &'a str,
    i32,
    &'a str,
    Option<&'a str>,
    Option<CqlTimestamp>,
    Option<CqlTimestamp>,
    Option<&'a str>,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// The values of an INSERT of all [`PROGRESS_COLUMNS`] for one row.
fn progress_values(p: &BackupRunProgress) -> StoreResult<ProgressValues<'_>> {
    Ok((
        p.cluster_id,
        p.task_id,
        p.run_id,
        &p.host,
        to_i32("progress unit", p.unit)?,
        &p.table_name,
        p.agent_job_id.as_deref(),
        p.started_at.map(ts),
        p.completed_at.map(ts),
        p.error.as_deref(),
        to_i64("progress size", p.size)?,
        to_i64("progress uploaded", p.uploaded)?,
        to_i64("progress skipped", p.skipped)?,
        to_i64("progress failed", p.failed)?,
        to_i64("progress files_count", p.files_count)?,
        to_i64("progress files_skipped_count", p.files_skipped_count)?,
    ))
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
            &self.q(&format!(
                "INSERT INTO {{ks}}.cluster ({CLUSTER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            cluster_values(c),
        )
        .await
    }

    async fn get_cluster(&self, id: Uuid) -> StoreResult<Option<Cluster>> {
        let rows = self
            .select::<ClusterRow>(
                "get cluster",
                &self.q(&format!(
                    "SELECT {CLUSTER_COLUMNS} FROM {{ks}}.cluster WHERE id = ?"
                )),
                (id,),
            )
            .await?;
        rows.into_iter().next().map(cluster_from).transpose()
    }

    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>> {
        let rows = self
            .select::<ClusterRow>(
                "list clusters",
                &self.q(&format!("SELECT {CLUSTER_COLUMNS} FROM {{ks}}.cluster")),
                (),
            )
            .await?;
        let mut all = rows
            .into_iter()
            .map(cluster_from)
            .collect::<StoreResult<Vec<_>>>()?;
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
            &self.q(&format!(
                "INSERT INTO {{ks}}.scheduler_task ({TASK_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            task_values(t)?,
        )
        .await
    }

    async fn get_task(&self, key: TaskKey) -> StoreResult<Option<Task>> {
        let rows = self
            .select::<TaskRow>(
                "get task",
                &self.q(&format!(
                    "SELECT {TASK_COLUMNS} FROM {{ks}}.scheduler_task \
                     WHERE cluster_id = ? AND type = ? AND id = ?"
                )),
                (key.cluster_id, key.task_type.as_str(), key.task_id),
            )
            .await?;
        rows.into_iter().next().map(task_from).transpose()
    }

    async fn list_tasks(&self, cluster_id: Uuid, include_deleted: bool) -> StoreResult<Vec<Task>> {
        let rows = self
            .select::<TaskRow>(
                "list tasks",
                &self.q(&format!(
                    "SELECT {TASK_COLUMNS} FROM {{ks}}.scheduler_task WHERE cluster_id = ?"
                )),
                (cluster_id,),
            )
            .await?;
        let tasks = rows.into_iter().map(task_from).collect();
        Ok(finish_task_list(readable_tasks(tasks), include_deleted))
    }

    async fn put_task_run(&self, r: &TaskRun) -> StoreResult<()> {
        self.exec(
            "put task run",
            &self.q(&format!(
                "INSERT INTO {{ks}}.scheduler_task_run ({TASK_RUN_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            task_run_values(r)?,
        )
        .await
    }

    async fn get_task_run(&self, task: TaskKey, run_id: Uuid) -> StoreResult<Option<TaskRun>> {
        let Ok(run_id) = timeuuid("task run id", run_id) else {
            return Ok(None);
        };
        let rows = self
            .select::<TaskRunRow>(
                "get task run",
                &self.q(&format!(
                    "SELECT {TASK_RUN_COLUMNS} FROM {{ks}}.scheduler_task_run \
                     WHERE cluster_id = ? AND type = ? AND task_id = ? AND id = ?"
                )),
                (
                    task.cluster_id,
                    task.task_type.as_str(),
                    task.task_id,
                    run_id,
                ),
            )
            .await?;
        rows.into_iter().next().map(task_run_from).transpose()
    }

    async fn list_task_runs(&self, task: TaskKey, limit: usize) -> StoreResult<Vec<TaskRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .select::<TaskRunRow>(
                "list task runs",
                &self.q(&format!(
                    "SELECT {TASK_RUN_COLUMNS} FROM {{ks}}.scheduler_task_run \
                     WHERE cluster_id = ? AND type = ? AND task_id = ? LIMIT ?"
                )),
                (
                    task.cluster_id,
                    task.task_type.as_str(),
                    task.task_id,
                    cql_limit(limit),
                ),
            )
            .await?;
        rows.into_iter().map(task_run_from).collect()
    }

    async fn put_backup_run(&self, r: &BackupRun) -> StoreResult<()> {
        self.exec(
            "put backup run",
            &self.q(&format!(
                "INSERT INTO {{ks}}.backup_run ({BACKUP_RUN_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            backup_run_values(r)?,
        )
        .await
    }

    async fn get_backup_run(&self, key: RunKey) -> StoreResult<Option<BackupRun>> {
        let Ok(run_id) = timeuuid("backup run id", key.run_id) else {
            return Ok(None);
        };
        let rows = self
            .select::<BackupRunRow>(
                "get backup run",
                &self.q(&format!(
                    "SELECT {BACKUP_RUN_COLUMNS} FROM {{ks}}.backup_run \
                     WHERE cluster_id = ? AND task_id = ? AND id = ?"
                )),
                (key.cluster_id, key.task_id, run_id),
            )
            .await?;
        rows.into_iter().next().map(backup_run_from).transpose()
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
        let rows = self
            .select::<BackupRunRow>(
                "list backup runs",
                &self.q(&format!(
                    "SELECT {BACKUP_RUN_COLUMNS} FROM {{ks}}.backup_run \
                     WHERE cluster_id = ? AND task_id = ? LIMIT ?"
                )),
                (cluster_id, task_id, cql_limit(limit)),
            )
            .await?;
        rows.into_iter().map(backup_run_from).collect()
    }

    async fn put_progress(&self, rows: &[BackupRunProgress]) -> StoreResult<()> {
        const OP: &str = "put progress";
        let values = rows
            .iter()
            .map(progress_values)
            .collect::<StoreResult<Vec<_>>>()?;
        let insert = self.q(&format!(
            "INSERT INTO {{ks}}.backup_run_progress ({PROGRESS_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ));
        for chunk in values.chunks(PROGRESS_BATCH_ROWS) {
            // One partition per run: a batch within one run is unlogged (atomic and isolated
            // per partition already); one spanning runs is logged so it applies whole.
            let one_run = chunk
                .windows(2)
                .all(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1 && w[0].2 == w[1].2);
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
        let rows = self
            .select::<ProgressRow>(
                "list progress",
                &self.q(&format!(
                    "SELECT {PROGRESS_COLUMNS} FROM {{ks}}.backup_run_progress \
                     WHERE cluster_id = ? AND task_id = ? AND run_id = ?"
                )),
                (run.cluster_id, run.task_id, run.run_id),
            )
            .await?;
        let mut all = rows
            .into_iter()
            .map(progress_from)
            .collect::<StoreResult<Vec<_>>>()?;
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
    use scylla::frame::response::result::{
        CollectionType, ColumnSpec, ColumnType, NativeType, TableSpec,
    };
    use scylla::serialize::row::RowSerializationContext;
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
        type_checks::<ClusterRow>(&specs("cluster", CLUSTER_COLUMNS));
        type_checks::<TaskRow>(&specs("scheduler_task", TASK_COLUMNS));
        type_checks::<TaskRunRow>(&specs("scheduler_task_run", TASK_RUN_COLUMNS));
        type_checks::<BackupRunRow>(&specs("backup_run", BACKUP_RUN_COLUMNS));
        type_checks::<ProgressRow>(&specs("backup_run_progress", PROGRESS_COLUMNS));
        type_checks::<(String, Uuid)>(&specs("scheduler_task", "type, id"));
        type_checks::<(CqlTimeuuid,)>(&specs("backup_run", "id"));
        type_checks::<(CqlTimeuuid,)>(&specs("scheduler_task_run", "id"));
        // The check has teeth: a plain UUID does not read a timeuuid column.
        assert!(<(Uuid,)>::type_check(&specs("backup_run", "id")).is_err());
    }

    #[test]
    fn insert_values_fit_the_tables_the_migrations_create() {
        let now = chrono::Utc::now();
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
        serializes(
            &cluster_values(&cluster),
            &specs("cluster", CLUSTER_COLUMNS),
        );
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
        let values = task_values(&task).expect("task values");
        serializes(&values, &specs("scheduler_task", TASK_COLUMNS));
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
        let values = task_run_values(&run).expect("task run values");
        serializes(&values, &specs("scheduler_task_run", TASK_RUN_COLUMNS));
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
        let values = backup_run_values(&backup).expect("backup run values");
        serializes(&values, &specs("backup_run", BACKUP_RUN_COLUMNS));
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
        let values = progress_values(&progress).expect("progress values");
        serializes(&values, &specs("backup_run_progress", PROGRESS_COLUMNS));
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
