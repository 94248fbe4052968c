//! The manager's state store: one behavioural suite run against every store implementation
//! (SQLite always; ScyllaDB when `CAIRN_TEST_SCYLLA` names a node as `host:port`), plus what is
//! particular to each store (`store/sqlite.rs`, `store/scylla.rs`). The restore tables' part of the suite is
//! in `store/restore.rs`, the validate table's in `store/validate.rs`, the suspension table's in
//! `store/suspension.rs`.

#[path = "store/restore.rs"]
mod restore;
#[path = "store/scylla.rs"]
mod scylla;
#[path = "store/sqlite.rs"]
mod sqlite;
#[path = "store/suspension.rs"]
mod suspension;
#[path = "store/validate.rs"]
mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn::format::filter::Unit;
use cairn::manager::backup::stage::BackupStage;
use cairn::manager::store::{
    self, BackupRun, BackupRunProgress, Cluster, RunKey, RunStatus, Schedule, Store, StoreConfig,
    StoreError, Task, TaskKey, TaskRun, TaskType, time_uuid,
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// Every schema version the SQLite store of this build records.
const CURRENT_VERSIONS: [u32; 6] = [1, 2, 3, 4, 5, 6];

/// Takes the SQLite file at `path` back to an older build's schema with `downgrade` (SQL), opens
/// it again and asserts it was migrated to the current schema; answers the migrated store.
async fn reopen_after_downgrade(
    path: &std::path::Path,
    downgrade: &str,
) -> store::sqlite::SqliteStore {
    let raw = rusqlite::Connection::open(path).expect("open the file directly");
    raw.execute_batch(downgrade)
        .unwrap_or_else(|e| panic!("{downgrade}: {e}"));
    drop(raw);
    let upgraded = store::sqlite::SqliteStore::open(path)
        .await
        .expect("migrated");
    assert_eq!(
        upgraded.schema_versions().await.expect("versions"),
        CURRENT_VERSIONS
    );
    upgraded
}

/// A time at millisecond precision, as the stores keep them.
fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a representable time")
}

/// Now, at millisecond precision.
fn now() -> DateTime<Utc> {
    at(Utc::now().timestamp_millis())
}

fn cluster(name: &str) -> Cluster {
    Cluster {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        hosts: vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()],
        agent_port: 10001,
        auth_token: "token".to_owned(),
        cql_username: Some("cassandra".to_owned()),
        cql_password: None,
        created_at: now(),
        agent_pins: [("10.0.0.1".to_owned(), "ab".repeat(32))]
            .into_iter()
            .collect(),
    }
}

fn task(cluster_id: Uuid, task_type: TaskType, name: &str) -> Task {
    Task {
        cluster_id,
        task_type,
        id: Uuid::new_v4(),
        name: name.to_owned(),
        labels: BTreeMap::from([("team".to_owned(), "storage".to_owned())]),
        enabled: true,
        deleted: false,
        schedule: Schedule {
            start_date: Some(at(1_700_000_000_000)),
            interval_seconds: 86_400,
            cron: Some("0 3 * * *".to_owned()),
            window: vec!["mon-00:00".to_owned(), "fri-23:59".to_owned()],
            timezone: Some("Europe/Warsaw".to_owned()),
            num_retries: 3,
            retry_wait_seconds: 600,
        },
        properties: serde_json::json!({"location": ["s3:bucket"], "retention": 7}),
        status: Some(RunStatus::Done),
        success_count: 5,
        error_count: 1,
        last_success: Some(at(1_700_000_100_000)),
        last_error: None,
    }
}

fn task_run(task: &Task, start: DateTime<Utc>) -> TaskRun {
    TaskRun {
        cluster_id: task.cluster_id,
        task_type: task.task_type,
        task_id: task.id,
        id: time_uuid(start),
        status: RunStatus::Running,
        cause: String::new(),
        owner: "manager-1".to_owned(),
        start_time: start,
        end_time: None,
    }
}

fn backup_run(task: &Task, start: DateTime<Utc>) -> BackupRun {
    BackupRun {
        cluster_id: task.cluster_id,
        task_id: task.id,
        id: time_uuid(start),
        prev_id: None,
        snapshot_tag: cairn::format::tag::SnapshotTag::from_time(start),
        units: vec![
            Unit {
                keyspace: "ks1".to_owned(),
                tables: vec!["t1".to_owned(), "t2".to_owned()],
                all_tables: true,
            },
            Unit {
                keyspace: "system_schema".to_owned(),
                tables: vec!["tables".to_owned()],
                all_tables: false,
            },
        ],
        dc: vec!["dc1".to_owned()],
        location: vec!["dc1:s3:bucket".parse().expect("a valid location")],
        nodes: vec!["host-id-1".to_owned()],
        start_time: start,
        stage: BackupStage::Init,
        skipped_hosts: vec![cairn::manager::store::SkippedHost {
            host: "10.0.0.2".to_owned(),
            reason: "down in gossip".to_owned(),
        }],
    }
}

fn progress(
    run: &BackupRun,
    host: &str,
    unit: u32,
    table: &str,
    uploaded: u64,
) -> BackupRunProgress {
    BackupRunProgress {
        cluster_id: run.cluster_id,
        task_id: run.task_id,
        run_id: run.id,
        host: host.to_owned(),
        unit,
        table_name: table.to_owned(),
        agent_job_id: Some("17".to_owned()),
        started_at: Some(run.start_time),
        completed_at: None,
        error: None,
        size: 1 << 40,
        uploaded,
        skipped: 0,
        failed: 0,
        files_count: 9,
        files_skipped_count: 0,
    }
}

/// The behaviour every store must have.
async fn behaves_as_a_store(store: Arc<dyn Store>) {
    clusters_round_trip_and_list_by_name(&*store).await;
    tasks_round_trip_list_and_soft_delete(&*store).await;
    task_runs_list_newest_first_with_a_limit(&*store).await;
    backup_runs_list_newest_first_and_record_stages(&*store).await;
    progress_batches_overwrite_by_key(&*store).await;
    run_ids_must_be_time_uuids(&*store).await;
    restore::behaves_as_a_restore_store(&*store).await;
    validate::behaves_as_a_validate_store(&*store).await;
    suspension::behaves_as_a_suspension_store(&*store).await;
    deleting_a_cluster_removes_everything_under_it(&*store).await;
}

async fn clusters_round_trip_and_list_by_name(store: &dyn Store) {
    let b = cluster("b-cluster");
    let mut a = cluster("a-cluster");
    a.cql_password = Some("secret".to_owned());
    store.put_cluster(&b).await.expect("put cluster b");
    store.put_cluster(&a).await.expect("put cluster a");
    assert_eq!(
        store.get_cluster(a.id).await.expect("get a"),
        Some(a.clone())
    );
    assert_eq!(
        store
            .get_cluster(Uuid::new_v4())
            .await
            .expect("get missing"),
        None
    );

    let listed: Vec<Uuid> = store
        .list_clusters()
        .await
        .expect("list clusters")
        .into_iter()
        .filter(|c| c.id == a.id || c.id == b.id)
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, [a.id, b.id], "clusters are listed by name");

    let mut renamed = b.clone();
    renamed.name = "c-cluster".to_owned();
    renamed.hosts.push("10.0.0.3".to_owned());
    store
        .put_cluster(&renamed)
        .await
        .expect("put again replaces");
    assert_eq!(store.get_cluster(b.id).await.expect("get b"), Some(renamed));

    // Times are kept to the millisecond.
    let mut precise = cluster("precise");
    precise.created_at = at(1_700_000_000_123) + Duration::nanoseconds(456_789);
    store.put_cluster(&precise).await.expect("put precise");
    let back = store.get_cluster(precise.id).await.expect("get precise");
    assert_eq!(back.map(|c| c.created_at), Some(at(1_700_000_000_123)));

    for id in [a.id, b.id, precise.id] {
        store.delete_cluster(id).await.expect("delete cluster");
        assert_eq!(store.get_cluster(id).await.expect("get deleted"), None);
    }
    store
        .delete_cluster(a.id)
        .await
        .expect("deleting a missing cluster is not an error");
}

async fn tasks_round_trip_list_and_soft_delete(store: &dyn Store) {
    let c = cluster("tasks");
    store.put_cluster(&c).await.expect("put cluster");
    let nightly = task(c.id, TaskType::Backup, "nightly");
    let mut hourly = task(c.id, TaskType::Backup, "hourly");
    hourly.labels.clear();
    hourly.schedule = Schedule::default();
    hourly.status = None;
    hourly.properties = serde_json::json!({});
    let validate = task(c.id, TaskType::ValidateBackup, "check");
    for t in [&nightly, &hourly, &validate] {
        store.put_task(t).await.expect("put task");
    }
    assert_eq!(
        store.get_task(nightly.key()).await.expect("get task"),
        Some(nightly.clone())
    );
    assert_eq!(
        store.get_task(hourly.key()).await.expect("get task"),
        Some(hourly.clone())
    );
    let wrong_type = TaskKey {
        task_type: TaskType::ValidateBackup,
        ..nightly.key()
    };
    assert_eq!(
        store.get_task(wrong_type).await.expect("get by other type"),
        None
    );

    let names = |tasks: Vec<Task>| tasks.into_iter().map(|t| t.name).collect::<Vec<_>>();
    let listed = store.list_tasks(c.id, false).await.expect("list tasks");
    assert_eq!(
        names(listed),
        ["hourly", "nightly", "check"],
        "by type then name"
    );

    let mut updated = nightly.clone();
    updated.success_count += 1;
    updated.last_error = Some(now());
    updated.status = Some(RunStatus::Error);
    store.put_task(&updated).await.expect("update task");
    assert_eq!(
        store.get_task(nightly.key()).await.expect("get"),
        Some(updated)
    );

    store.delete_task(hourly.key()).await.expect("delete task");
    let gone = store
        .get_task(hourly.key())
        .await
        .expect("get deleted task");
    assert!(
        gone.as_ref().is_some_and(|t| t.deleted && !t.enabled),
        "a deleted task is kept, marked deleted and disabled: {gone:?}"
    );
    let live = store
        .list_tasks(c.id, false)
        .await
        .expect("list live tasks");
    assert_eq!(names(live), ["nightly", "check"]);
    let all = store.list_tasks(c.id, true).await.expect("list all tasks");
    assert_eq!(names(all), ["hourly", "nightly", "check"]);

    let missing = TaskKey {
        task_id: Uuid::new_v4(),
        ..hourly.key()
    };
    let err = store.delete_task(missing).await.expect_err("missing task");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(
        err.to_string().contains(&missing.task_id.to_string()),
        "{err}"
    );
    store.delete_cluster(c.id).await.expect("clean up");
}

async fn task_runs_list_newest_first_with_a_limit(store: &dyn Store) {
    let c = cluster("task-runs");
    let t = task(c.id, TaskType::Backup, "runs");
    store.put_cluster(&c).await.expect("put cluster");
    store.put_task(&t).await.expect("put task");
    let base = now();
    // Put out of order: the list must still be newest first.
    let runs: Vec<TaskRun> = [2, 0, 3, 1]
        .into_iter()
        .map(|i| task_run(&t, base + Duration::seconds(i)))
        .collect();
    for r in &runs {
        store.put_task_run(r).await.expect("put task run");
    }
    let mut done = runs[1].clone();
    done.status = RunStatus::Error;
    done.cause = "agent 10.0.0.1 unreachable".to_owned();
    done.end_time = Some(base + Duration::seconds(30));
    store.put_task_run(&done).await.expect("update task run");
    assert_eq!(
        store
            .get_task_run(t.key(), done.id)
            .await
            .expect("get task run"),
        Some(done.clone())
    );
    assert_eq!(
        store
            .get_task_run(t.key(), time_uuid(base))
            .await
            .expect("get missing run"),
        None
    );

    let starts = |runs: Vec<TaskRun>| runs.into_iter().map(|r| r.start_time).collect::<Vec<_>>();
    let all = store.list_task_runs(t.key(), 10).await.expect("list runs");
    assert_eq!(all.len(), 4);
    assert_eq!(all[3], done, "the oldest run, with its update");
    assert_eq!(
        starts(all),
        [3, 2, 1, 0].map(|i| base + Duration::seconds(i))
    );
    let two = store.list_task_runs(t.key(), 2).await.expect("list 2 runs");
    assert_eq!(starts(two), [3, 2].map(|i| base + Duration::seconds(i)));
    assert!(
        store
            .list_task_runs(t.key(), 0)
            .await
            .expect("list 0")
            .is_empty()
    );
    let other = TaskKey {
        task_type: TaskType::ValidateBackup,
        ..t.key()
    };
    assert!(
        store
            .list_task_runs(other, 10)
            .await
            .expect("list other")
            .is_empty()
    );
    store.delete_cluster(c.id).await.expect("clean up");
}

async fn backup_runs_list_newest_first_and_record_stages(store: &dyn Store) {
    let c = cluster("backup-runs");
    let t = task(c.id, TaskType::Backup, "backup");
    store.put_cluster(&c).await.expect("put cluster");
    store.put_task(&t).await.expect("put task");
    assert_eq!(
        store.last_backup_run(c.id, t.id).await.expect("no run yet"),
        None
    );

    let base = now();
    let first = backup_run(&t, base);
    let mut second = backup_run(&t, base + Duration::minutes(5));
    second.prev_id = Some(first.id);
    second.snapshot_tag = first.snapshot_tag.clone();
    second
        .location
        .push("s3:other-bucket".parse().expect("a location"));
    let third = backup_run(&t, base + Duration::minutes(10));
    for r in [&second, &third, &first] {
        store.put_backup_run(r).await.expect("put backup run");
    }
    assert_eq!(
        store.get_backup_run(second.key()).await.expect("get run"),
        Some(second.clone())
    );

    let ids = |runs: Vec<BackupRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = store
        .list_backup_runs(c.id, t.id, 100)
        .await
        .expect("list runs");
    assert_eq!(ids(all), [third.id, second.id, first.id]);
    let one = store
        .list_backup_runs(c.id, t.id, 1)
        .await
        .expect("list one");
    assert_eq!(ids(one), [third.id]);
    assert_eq!(
        store.last_backup_run(c.id, t.id).await.expect("last run"),
        Some(third.clone())
    );

    for stage in BackupStage::ALL {
        store
            .update_backup_stage(second.key(), *stage)
            .await
            .expect("update stage");
        let got = store.get_backup_run(second.key()).await.expect("get run");
        assert_eq!(got.as_ref().map(|r| r.stage), Some(*stage));
    }
    let mut expected = second.clone();
    expected.stage = BackupStage::Done;
    assert_eq!(
        store.get_backup_run(second.key()).await.expect("get run"),
        Some(expected),
        "a stage update changes nothing else"
    );

    let missing = RunKey {
        run_id: time_uuid(base),
        ..first.key()
    };
    let err = store
        .update_backup_stage(missing, BackupStage::Upload)
        .await
        .expect_err("stage of a missing run");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(
        store.get_backup_run(missing).await.expect("get missing"),
        None
    );
    store.delete_cluster(c.id).await.expect("clean up");
}

async fn progress_batches_overwrite_by_key(store: &dyn Store) {
    let c = cluster("progress");
    let t = task(c.id, TaskType::Backup, "backup");
    let run = backup_run(&t, now());
    let other = backup_run(&t, now() + Duration::seconds(1));
    store.put_cluster(&c).await.expect("put cluster");
    store.put_task(&t).await.expect("put task");
    store.put_backup_run(&run).await.expect("put run");
    store.put_backup_run(&other).await.expect("put other run");

    // More rows than one CQL batch holds, and rows of two runs in one call.
    let mut batch: Vec<BackupRunProgress> = (0..250)
        .map(|i| {
            progress(
                &run,
                &format!("10.0.0.{}", i % 3),
                i % 2,
                &format!("t{i:03}"),
                0,
            )
        })
        .collect();
    batch.push(progress(&other, "10.0.0.9", 0, "t1", 5));
    store
        .put_progress(&batch)
        .await
        .expect("put progress batch");
    store
        .put_progress(&[])
        .await
        .expect("an empty batch is fine");

    let listed = store.list_progress(run.key()).await.expect("list progress");
    assert_eq!(listed.len(), 250);
    let mut expected = batch[..250].to_vec();
    expected
        .sort_by(|a, b| (&a.host, a.unit, &a.table_name).cmp(&(&b.host, b.unit, &b.table_name)));
    assert_eq!(listed, expected, "every row back, by host, unit, table");

    // A later batch overwrites the rows with the same key and adds new ones.
    let mut done = batch[7].clone();
    done.uploaded = done.size;
    done.completed_at = Some(now());
    done.agent_job_id = None;
    let mut failed = batch[8].clone();
    failed.error = Some("upload failed: 503".to_owned());
    failed.failed = 42;
    let fresh = progress(&run, "10.0.0.7", 1, "new_table", 1);
    store
        .put_progress(&[done.clone(), failed.clone(), fresh.clone()])
        .await
        .expect("put second batch");
    let listed = store.list_progress(run.key()).await.expect("list progress");
    assert_eq!(listed.len(), 251);
    let find = |p: &BackupRunProgress| {
        listed
            .iter()
            .find(|r| (&r.host, r.unit, &r.table_name) == (&p.host, p.unit, &p.table_name))
            .cloned()
    };
    assert_eq!(find(&done), Some(done));
    assert_eq!(find(&failed), Some(failed));
    assert_eq!(find(&fresh), Some(fresh));

    let others = store.list_progress(other.key()).await.expect("list other");
    assert_eq!(others, [batch[250].clone()]);

    store
        .delete_progress(run.key())
        .await
        .expect("delete progress");
    assert!(
        store
            .list_progress(run.key())
            .await
            .expect("list deleted")
            .is_empty()
    );
    assert_eq!(
        store
            .list_progress(other.key())
            .await
            .expect("other run kept")
            .len(),
        1
    );

    let mut too_big = progress(&run, "10.0.0.1", 0, "t", 0);
    too_big.size = u64::MAX;
    let err = store
        .put_progress(&[too_big])
        .await
        .expect_err("a size over i64");
    assert!(err.to_string().contains("size"), "{err}");
    store.delete_cluster(c.id).await.expect("clean up");
}

async fn run_ids_must_be_time_uuids(store: &dyn Store) {
    let c = cluster("ids");
    let t = task(c.id, TaskType::Backup, "backup");
    let mut run = task_run(&t, now());
    run.id = Uuid::new_v4();
    let err = store
        .put_task_run(&run)
        .await
        .expect_err("a v4 task run id");
    assert!(matches!(err, StoreError::NotTimeUuid { .. }), "{err}");
    let mut backup = backup_run(&t, now());
    backup.prev_id = Some(Uuid::new_v4());
    let err = store
        .put_backup_run(&backup)
        .await
        .expect_err("a v4 prev_id");
    assert!(err.to_string().contains("prev_id"), "{err}");
}

async fn deleting_a_cluster_removes_everything_under_it(store: &dyn Store) {
    let doomed = cluster("doomed");
    let kept = cluster("kept");
    let mut runs = Vec::new();
    for c in [&doomed, &kept] {
        store.put_cluster(c).await.expect("put cluster");
        for task_type in TaskType::ALL {
            let t = task(c.id, *task_type, "t");
            store.put_task(&t).await.expect("put task");
            store
                .put_task_run(&task_run(&t, now()))
                .await
                .expect("put task run");
            let r = backup_run(&t, now());
            store.put_backup_run(&r).await.expect("put backup run");
            store
                .put_progress(&[progress(&r, "10.0.0.1", 0, "t1", 3)])
                .await
                .expect("put progress");
            let restore_run = restore::restore_run(&t, now());
            store
                .put_restore_run(&restore_run)
                .await
                .expect("put restore run");
            store
                .put_restore_progress(&[restore::restore_progress(
                    &restore_run,
                    "10.0.0.1",
                    "orders",
                    "n1",
                    "1",
                )])
                .await
                .expect("put restore progress");
            runs.push((c.id, t, r, restore_run));
        }
    }
    store
        .delete_cluster(doomed.id)
        .await
        .expect("delete cluster");

    assert_eq!(store.get_cluster(doomed.id).await.expect("get"), None);
    assert!(store.get_cluster(kept.id).await.expect("get").is_some());
    for (cluster_id, t, r, restore_run) in &runs {
        let alive = *cluster_id == kept.id;
        let what = if alive { "kept" } else { "removed" };
        assert_eq!(
            store.get_task(t.key()).await.expect("get task").is_some(),
            alive,
            "task {what}"
        );
        assert_eq!(
            store.list_task_runs(t.key(), 10).await.expect("runs").len(),
            usize::from(alive),
            "task runs {what}"
        );
        assert_eq!(
            store.get_backup_run(r.key()).await.expect("run").is_some(),
            alive,
            "backup run {what}"
        );
        assert_eq!(
            store.list_progress(r.key()).await.expect("progress").len(),
            usize::from(alive),
            "progress {what}"
        );
        assert_eq!(
            store
                .get_restore_run(restore_run.key())
                .await
                .expect("restore run")
                .is_some(),
            alive,
            "restore run {what}"
        );
        assert_eq!(
            store
                .list_restore_progress(restore_run.key())
                .await
                .expect("restore progress")
                .len(),
            usize::from(alive),
            "restore progress {what}"
        );
    }
    assert!(
        store
            .list_tasks(doomed.id, true)
            .await
            .expect("tasks")
            .is_empty()
    );
    store.delete_cluster(kept.id).await.expect("clean up");
}

fn sqlite_config(dir: &tempfile::TempDir) -> StoreConfig {
    StoreConfig::Sqlite {
        path: dir.path().join("manager.db"),
    }
}

#[tokio::test]
async fn sqlite_store_behaves_as_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store::open(&sqlite_config(&dir))
        .await
        .expect("open SQLite store");
    behaves_as_a_store(store).await;
}
