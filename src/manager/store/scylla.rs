//! The [`Store`] kept in ScyllaDB: upstream's tables (spec section 3) in a keyspace of their own,
//! created if missing. Run ids are `timeuuid` clustering keys in descending order, so lists of
//! runs read newest first; progress batches are CQL batches of at most
//! [`PROGRESS_BATCH_ROWS`](super::PROGRESS_BATCH_ROWS) rows.
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
    from_millis, from_signed, parse_text, sort_clusters, sort_progress, time_uuid_ticks, to_i32,
    to_i64, to_json, to_millis,
};

/// Prepared statements kept per session (every statement this store issues fits).
const STATEMENT_CACHE: usize = 64;

/// Schema migrations in order: `(version, name, CQL statements)`, with `{ks}` standing for the
/// keyspace. Every statement is idempotent (`IF NOT EXISTS`), so a migration interrupted half
/// way is simply run again; it is recorded in `schema_version` once all its statements ran.
const MIGRATIONS: &[(i32, &str, &[&str])] = &[(
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
)];

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
    pub async fn schema_versions(&self) -> StoreResult<Vec<i32>> {
        let mut versions: Vec<i32> = self
            .select::<(i32,)>(
                "read schema versions",
                &self.q("SELECT version FROM {ks}.schema_version"),
                (),
            )
            .await?
            .into_iter()
            .map(|(v,)| v)
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Creates the keyspace and the version table, then runs the migrations not yet recorded.
    async fn migrate(&self, replication_factor: u32) -> StoreResult<()> {
        let session = self.session.get_session();
        let ddl = |version: i32, name: &'static str| {
            move |e: scylla::errors::ExecutionError| StoreError::Migration {
                version: u32::try_from(version).unwrap_or_default(),
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
                session
                    .query_unpaged(self.q(statement), ())
                    .await
                    .map_err(ddl(version, name))?;
            }
            self.exec(
                "record schema version",
                &self.q(
                    "INSERT INTO {ks}.schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                ),
                (version, name, ts(chrono::Utc::now())),
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
);

const CLUSTER_COLUMNS: &str =
    "id, name, hosts, agent_port, auth_token, cql_username, cql_password, created_at";

fn cluster_from(row: ClusterRow) -> StoreResult<Cluster> {
    let (id, name, hosts, agent_port, auth_token, cql_username, cql_password, created_at) = row;
    Ok(Cluster {
        id,
        name,
        hosts: hosts.unwrap_or_default(),
        agent_port: from_signed("cluster.agent_port", agent_port)?,
        auth_token,
        cql_username,
        cql_password,
        created_at: from_millis("cluster.created_at", created_at.0)?,
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
);

const BACKUP_RUN_COLUMNS: &str =
    "cluster_id, task_id, id, prev_id, snapshot_tag, units, dc, location, nodes, start_time, stage";

fn backup_run_from(row: BackupRunRow) -> StoreResult<BackupRun> {
    let (cluster_id, task_id, id, prev_id, tag, units, dc, location, nodes, start_time, stage) =
        row;
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
                "INSERT INTO {{ks}}.cluster ({CLUSTER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            (
                c.id,
                &c.name,
                &c.hosts,
                i32::from(c.agent_port),
                &c.auth_token,
                &c.cql_username,
                &c.cql_password,
                ts(c.created_at),
            ),
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
        let sched = to_json("task schedule", &t.schedule)?;
        let properties = to_json("task properties", &t.properties)?.into_bytes();
        self.exec(
            "put task",
            &self.q(&format!(
                "INSERT INTO {{ks}}.scheduler_task ({TASK_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            (
                t.cluster_id,
                t.task_type.as_str(),
                t.id,
                &t.name,
                &t.labels,
                t.enabled,
                t.deleted,
                sched,
                properties,
                t.status.map(|s| s.as_str()),
                to_i64("task success_count", t.success_count)?,
                to_i64("task error_count", t.error_count)?,
                t.last_success.map(ts),
                t.last_error.map(ts),
            ),
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
        let tasks = rows
            .into_iter()
            .map(task_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(finish_task_list(tasks, include_deleted))
    }

    async fn put_task_run(&self, r: &TaskRun) -> StoreResult<()> {
        self.exec(
            "put task run",
            &self.q(&format!(
                "INSERT INTO {{ks}}.scheduler_task_run ({TASK_RUN_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            (
                r.cluster_id,
                r.task_type.as_str(),
                r.task_id,
                timeuuid("task run id", r.id)?,
                r.status.as_str(),
                &r.cause,
                &r.owner,
                ts(r.start_time),
                r.end_time.map(ts),
            ),
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
        let prev_id = r
            .prev_id
            .map(|p| timeuuid("backup run prev_id", p))
            .transpose()?;
        let location: Vec<String> = r.location.iter().map(ToString::to_string).collect();
        self.exec(
            "put backup run",
            &self.q(&format!(
                "INSERT INTO {{ks}}.backup_run ({BACKUP_RUN_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            (
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
            ),
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
        type Values<'a> = (
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
        let values = rows
            .iter()
            .map(|p| -> StoreResult<Values<'_>> {
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
            })
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
