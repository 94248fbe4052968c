//! A backup environment for end-to-end tests of the run engine: an emulated cluster, a real
//! agent per node, a real S3 server, and the manager's actors (scheduler, supervisors, node,
//! progress and rate-limit actors) over a real SQLite store, in the test process. The manager
//! as a process is in [`super::manager`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use cairn::format::manifest::Manifest;
use cairn::format::paths::ManifestInfo;
use cairn::manager::backup::settings::RunSettings;
use cairn::manager::progress_actor::ProgressActor;
use cairn::manager::rate_limit_actor::RateLimitActor;
use cairn::manager::runtime::Runtime;
use cairn::manager::scheduler::{Scheduler, StartTask};
use cairn::manager::store::{
    self, BackupRunProgress, Cluster, RunKey, RunStatus, Schedule, Store, StoreConfig, Task,
    TaskKey, TaskRun, TaskType,
};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use uuid::Uuid;

use super::TestCluster;
use super::agent::{AgentProcess, TOKEN, start_fleet};
use super::servers::S3Server;

/// The bucket backups go to.
pub const BUCKET: &str = "backups";

/// Runs `f` inside an actix system on a multi-thread tokio runtime (actors on the system
/// thread, the emulator's and agents' I/O on the workers).
pub fn in_actix<F: Future>(f: F) -> F::Output {
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    });
    system.block_on(f)
}

/// The SSTable files of a node's table dirs: (keyspace, table, version) → file → size.
pub type LiveFiles = BTreeMap<(String, String, String), BTreeMap<String, u64>>;

/// Everything a backup test needs.
pub struct BackupEnv {
    /// The cluster.
    pub cluster: TestCluster,
    /// Its agents.
    pub agents: Vec<AgentProcess>,
    /// The agents' port.
    pub port: u16,
    /// The S3 server.
    pub s3: S3Server,
    /// The manager's store.
    pub store: Arc<dyn Store>,
    /// The scheduler.
    pub scheduler: Addr<Scheduler>,
    /// The progress actor.
    pub progress: Addr<ProgressActor<BackupRunProgress>>,
    /// The rate-limit actor.
    pub rates: Addr<RateLimitActor>,
    /// The cluster's id in the store.
    pub cluster_id: Uuid,
    /// Temporary files.
    pub dir: tempfile::TempDir,
}

impl BackupEnv {
    /// Starts a cluster of `nodes` with agents uploading to a fresh rclone S3 server, and the
    /// manager's actors; the cluster is registered in the store. `None` when rclone is missing
    /// outside CI.
    pub async fn start(nodes: &str, settings: RunSettings) -> Option<BackupEnv> {
        Self::start_with(nodes, settings, |_| {}).await
    }

    /// As [`BackupEnv::start`], letting the test adjust the emulator's configuration.
    pub async fn start_with(
        nodes: &str,
        settings: RunSettings,
        adjust: impl FnOnce(&mut cairn::emulator::EmulatorConfig),
    ) -> Option<BackupEnv> {
        let s3 = S3Server::rclone().await?;
        s3.create_bucket(BUCKET).await;
        let cluster = TestCluster::start_with(nodes, adjust).await;
        let dir = tempfile::tempdir().expect("temp dir");
        // A certificate of their own that survives a restart, as the manager pins it.
        let extra = format!(
            "{}s3:\n  endpoint: {}\n  access_key_id: {}\n  secret_access_key: {}\n  region: {}\n",
            super::manager::agent_certificate_yaml(dir.path()),
            s3.endpoint(),
            s3.access_key(),
            s3.secret_key(),
            s3.region()
        );
        let (agents, port) = start_fleet(&cluster, dir.path(), &extra);
        let store = store::open(&StoreConfig::Sqlite {
            path: dir.path().join("cairn.db"),
        })
        .await
        .expect("store");
        let runtime = Runtime::start(store.clone(), settings);
        let cluster_id = Uuid::new_v4();
        let (cql_user, cql_password) = cluster.cql_credentials();
        store
            .put_cluster(&Cluster {
                id: cluster_id,
                name: "test".into(),
                hosts: vec![cluster.address(0)],
                agent_port: port,
                auth_token: TOKEN.into(),
                cql_username: Some(cql_user),
                cql_password: Some(cql_password),
                created_at: chrono::Utc::now(),
                agent_pins: super::manager::agent_pins(&cluster, port).await,
            })
            .await
            .expect("cluster stored");
        Some(BackupEnv {
            cluster,
            agents,
            port,
            s3,
            store,
            scheduler: runtime.scheduler,
            progress: runtime.progress,
            rates: runtime.rate_limit,
            cluster_id,
            dir,
        })
    }

    /// Quick run settings for tests: short polls, quick host restarts.
    pub fn settings() -> RunSettings {
        RunSettings {
            long_poll: Duration::from_secs(1),
            host_restarts: 1,
            host_restart_backoff: Duration::from_millis(500),
            ..RunSettings::default()
        }
    }

    /// Stores a backup task with `properties` that runs only when started.
    pub async fn task(&self, properties: serde_json::Value) -> TaskKey {
        let task = Task {
            cluster_id: self.cluster_id,
            task_type: TaskType::Backup,
            id: Uuid::new_v4(),
            name: format!("backup-{}", Uuid::new_v4().simple()),
            labels: BTreeMap::new(),
            enabled: false,
            deleted: false,
            schedule: Schedule::default(),
            properties,
            status: None,
            success_count: 0,
            error_count: 0,
            last_success: None,
            last_error: None,
        };
        self.store.put_task(&task).await.expect("task stored");
        task.key()
    }

    /// Stores a task backing up the user keyspaces to the bucket with `extra` properties (e.g. a
    /// rate limit that makes the upload last a while).
    pub async fn user_task(&self, extra: serde_json::Value) -> TaskKey {
        let mut props = serde_json::json!({
            "location": [Self::location()],
            "keyspace": ["store", "telemetry"],
        });
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.task(props).await
    }

    /// Starts a run of `task` (resuming if it can) without waiting for it; answers its id.
    pub async fn start_run(&self, task: TaskKey) -> Uuid {
        self.scheduler
            .send(StartTask { task, resume: true })
            .await
            .expect("scheduler answers")
            .expect("run starts")
    }

    /// Waits until `check` holds on the stored progress rows of run `run` (at most a minute).
    pub async fn wait_progress(
        &self,
        task: TaskKey,
        run: Uuid,
        check: impl Fn(&[BackupRunProgress]) -> bool,
    ) {
        let start = std::time::Instant::now();
        while !check(&self.progress(task, run).await) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "progress never got there"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `host` (any host when `None`) has uploaded something in run `run`.
    pub async fn wait_uploading(&self, task: TaskKey, run: Uuid, host: Option<&str>) {
        self.wait_progress(task, run, |rows| {
            rows.iter()
                .any(|r| host.is_none_or(|h| r.host == h) && r.uploaded > 0)
        })
        .await;
    }

    /// Starts a run of `task` and waits for its end (at most `limit`).
    pub async fn run(&self, task: TaskKey, limit: Duration) -> TaskRun {
        let id = self.start_run(task).await;
        self.wait_run(task, id, limit).await
    }

    /// Waits until run `id` of `task` has ended.
    pub async fn wait_run(&self, task: TaskKey, id: Uuid, limit: Duration) -> TaskRun {
        let start = std::time::Instant::now();
        loop {
            if let Some(r) = self.store.get_task_run(task, id).await.expect("store")
                && r.status != RunStatus::Running
            {
                return r;
            }
            assert!(
                start.elapsed() < limit,
                "run {id} still running after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The newest backup run of `task`.
    pub async fn last_run(&self, task: TaskKey) -> cairn::manager::store::BackupRun {
        self.store
            .last_backup_run(task.cluster_id, task.task_id)
            .await
            .expect("store")
            .expect("a backup run")
    }

    /// The progress rows of a run.
    pub async fn progress(&self, task: TaskKey, run: Uuid) -> Vec<BackupRunProgress> {
        self.store
            .list_progress(RunKey {
                cluster_id: task.cluster_id,
                task_id: task.task_id,
                run_id: run,
            })
            .await
            .expect("progress")
    }

    /// The bucket's objects: path → size.
    pub async fn objects(&self) -> BTreeMap<String, u64> {
        let s3 = self.s3.object_store(BUCKET);
        s3.list(None)
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await
            .expect("bucket listing")
    }

    /// The manifests in the bucket (final and temporary).
    pub async fn manifests(&self) -> Vec<ManifestInfo> {
        self.objects()
            .await
            .keys()
            .filter_map(|p| ManifestInfo::parse(p).ok())
            .collect()
    }

    /// Reads a manifest from the bucket.
    pub async fn read_manifest(&self, m: &ManifestInfo) -> Manifest {
        let s3 = self.s3.object_store(BUCKET);
        // A temporary manifest's path already ends in `.tmp`.
        let path = m.path();
        let body = s3
            .get(&ObjectPath::from(path.as_str()))
            .await
            .expect("manifest object")
            .bytes()
            .await
            .expect("manifest body");
        Manifest::read_gzip(&body[..]).expect("manifest parses")
    }

    /// The SSTable files of every table dir of node `i` (outside snapshots): (keyspace, table,
    /// version) → file → size.
    pub fn live_files(
        &self,
        i: usize,
    ) -> BTreeMap<(String, String, String), BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        let data = self.cluster.data_dir(i);
        for ks in std::fs::read_dir(&data).expect("data dir").flatten() {
            let keyspace = ks.file_name().to_string_lossy().to_string();
            let Ok(tables) = std::fs::read_dir(ks.path()) else {
                continue;
            };
            for t in tables.flatten() {
                let name = t.file_name().to_string_lossy().to_string();
                let Some((table, version)) = name.rsplit_once('-') else {
                    continue;
                };
                let mut files = BTreeMap::new();
                for f in std::fs::read_dir(t.path()).expect("table dir").flatten() {
                    let meta = f.metadata().expect("metadata");
                    if meta.is_file() {
                        files.insert(f.file_name().to_string_lossy().to_string(), meta.len());
                    }
                }
                out.insert(
                    (keyspace.clone(), table.to_string(), version.to_string()),
                    files,
                );
            }
        }
        out
    }

    /// Writes `bytes` to `keyspace.table` on node `i` (flushed by the next snapshot).
    pub async fn write(&self, i: usize, keyspace: &str, table: &str, bytes: u64) {
        let a = self.cluster.address(i);
        self.cluster
            .post_ok(
                0,
                &format!(
                    "/emulator/nodes/{a}/write?keyspace={keyspace}&table={table}&bytes={bytes}"
                ),
            )
            .await;
    }

    /// Major-compacts `keyspace.table` on node `i`.
    pub async fn compact(&self, i: usize, keyspace: &str, table: &str) {
        let a = self.cluster.address(i);
        self.cluster
            .post_ok(
                0,
                &format!("/emulator/nodes/{a}/compact?keyspace={keyspace}&table={table}"),
            )
            .await;
    }

    /// The location of the bucket, as task properties name it.
    pub fn location() -> String {
        format!("s3:{BUCKET}")
    }

    /// [`BackupEnv::live_files`] of every node, in node order.
    pub fn all_live_files(&self) -> Vec<LiveFiles> {
        (0..self.cluster.emulator.nodes().len())
            .map(|i| self.live_files(i))
            .collect()
    }

    /// Starts node `i`'s agent again with its configuration (after a kill).
    pub fn start_agent(&mut self, i: usize) {
        let config = self.agents[i].config.clone();
        self.agents[i] = AgentProcess::start_with(config);
    }

    /// The snapshot tags of node `i` still on disk.
    pub fn local_snapshots(&self, i: usize) -> BTreeSet<String> {
        self.cluster.local_snapshots(i)
    }
}
