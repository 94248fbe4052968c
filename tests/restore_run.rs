//! The restore run engine end to end: a real backup of an emulated cluster (agents, rclone S3,
//! the manager's actors over SQLite), then restore tasks run by the scheduler into the same
//! cluster. What a user checks: the run ends DONE, every byte of every restored table is
//! restored (progress rows), autocompaction is back on, and a stopped run resumes at DATA
//! without restoring again what was restored.

mod common;

use std::time::Duration;

use cairn::manager::restore::stage::RestoreStage;
use cairn::manager::scheduler::StopTask;
use cairn::manager::store::{
    RestoreRun, RestoreRunProgress, RunKey, RunStatus, Schedule, Task, TaskKey, TaskType,
};
use common::backup::{BackupEnv, in_actix};
use serde_json::json;
use uuid::Uuid;

/// Longest a run may take here.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Quick run settings whose free-disk floor does not depend on how full the test machine's
/// disk is (the emulated nodes report the real file system's usage).
fn settings() -> cairn::manager::backup::settings::RunSettings {
    cairn::manager::backup::settings::RunSettings {
        disk_free_min_percent: 1,
        ..BackupEnv::settings()
    }
}

/// Backs up the user keyspaces once; answers the snapshot tag.
async fn backup(env: &BackupEnv) -> String {
    let task = env.user_task(json!({})).await;
    let run = env.run(task, RUN_LIMIT).await;
    assert_eq!(run.status, RunStatus::Done, "backup: {}", run.cause);
    env.last_run(task).await.snapshot_tag.to_string()
}

/// Stores a restore task of the tables of `keyspace` from snapshot `tag` with `extra`
/// properties.
async fn restore_task(
    env: &BackupEnv,
    tag: &str,
    keyspace: &str,
    extra: serde_json::Value,
) -> TaskKey {
    let mut props = json!({
        "location": [BackupEnv::location()],
        "snapshot_tag": tag,
        "keyspace": [keyspace],
        "restore_tables": true,
    });
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let task = Task {
        cluster_id: env.cluster_id,
        task_type: TaskType::Restore,
        id: Uuid::new_v4(),
        name: format!("restore-{}", Uuid::new_v4().simple()),
        labels: Default::default(),
        enabled: false,
        deleted: false,
        schedule: Schedule::default(),
        properties: props,
        status: None,
        success_count: 0,
        error_count: 0,
        last_success: None,
        last_error: None,
    };
    env.store.put_task(&task).await.expect("task stored");
    task.key()
}

/// The restore run record and its progress rows.
async fn restore_state(
    env: &BackupEnv,
    task: TaskKey,
    run: Uuid,
) -> (RestoreRun, Vec<RestoreRunProgress>) {
    let key = RunKey {
        cluster_id: task.cluster_id,
        task_id: task.task_id,
        run_id: run,
    };
    let record = env
        .store
        .get_restore_run(key)
        .await
        .expect("store")
        .expect("a restore run record");
    let rows = env.store.list_restore_progress(key).await.expect("rows");
    (record, rows)
}

/// Asserts that every table of the run is restored to the byte by completed rows.
fn assert_all_restored(record: &RestoreRun, rows: &[RestoreRunProgress]) {
    assert!(!record.units.is_empty(), "the run restores something");
    for u in &record.units {
        for t in &u.tables {
            let restored: u64 = rows
                .iter()
                .filter(|r| r.keyspace_name == u.keyspace_name && r.table_name == t.table_name)
                .map(|r| {
                    assert!(
                        r.restore_completed_at.is_some(),
                        "row of {} not completed",
                        t.table_name
                    );
                    r.restored
                })
                .sum();
            assert_eq!(
                restored, t.size,
                "{}.{} restored",
                u.keyspace_name, t.table_name
            );
        }
    }
}

/// Asserts that autocompaction of every table of the run is on on every node.
async fn assert_autocompaction_on(env: &BackupEnv, record: &RestoreRun) {
    for i in 0..env.cluster.emulator.nodes().len() {
        for u in &record.units {
            for t in &u.tables {
                let on = env
                    .cluster
                    .get(
                        i,
                        &format!(
                            "/column_family/autocompaction/{}:{}",
                            u.keyspace_name, t.table_name
                        ),
                    )
                    .await;
                assert_eq!(
                    on,
                    json!(true),
                    "autocompaction of {}.{} on node {i}",
                    u.keyspace_name,
                    t.table_name
                );
            }
        }
    }
}

#[test]
fn a_tables_restore_goes_through_every_stage_and_restores_every_byte() {
    in_actix(async {
        let Some(env) = BackupEnv::start("dc1:2", settings()).await else {
            return;
        };
        let tag = backup(&env).await;
        let task = restore_task(&env, &tag, "store", json!({"batch_size": 1})).await;
        let run = env.run(task, RUN_LIMIT).await;
        assert_eq!(run.status, RunStatus::Done, "restore: {}", run.cause);
        let (record, rows) = restore_state(&env, task, run.id).await;
        assert_eq!(record.stage, RestoreStage::Done);
        assert!(
            record.repair_task_id.is_some(),
            "the restored tables were repaired"
        );
        assert_all_restored(&record, &rows);
        let hosts: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts.len(), 2, "both nodes restored batches");
        assert_autocompaction_on(&env, &record).await;
    });
}

#[test]
fn a_stopped_restore_resumes_at_data_and_restores_nothing_twice() {
    in_actix(async {
        let Some(env) = BackupEnv::start_with("dc1:2", settings(), |c| {
            c.dataset = cairn::emulator::Dataset::Bytes(4 << 20);
        })
        .await
        else {
            return;
        };
        let tag = backup(&env).await;
        // 1 MiB/s and one SSTable per batch: DATA lasts long enough to be stopped in.
        let task = restore_task(
            &env,
            &tag,
            "store",
            json!({"batch_size": 1, "rate_limit": ["1"]}),
        )
        .await;
        let first = env.start_run(task).await;
        let key = RunKey {
            cluster_id: task.cluster_id,
            task_id: task.task_id,
            run_id: first,
        };
        let start = std::time::Instant::now();
        loop {
            let rows = env
                .store
                .list_restore_progress(key)
                .await
                .unwrap_or_default();
            if rows.iter().any(|r| r.restore_completed_at.is_some()) {
                break;
            }
            assert!(start.elapsed() < RUN_LIMIT, "no batch restored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        env.scheduler
            .send(StopTask { task })
            .await
            .expect("scheduler answers")
            .expect("the run stops");
        let stopped = env.wait_run(task, first, RUN_LIMIT).await;
        assert_eq!(stopped.status, RunStatus::Stopped, "{}", stopped.cause);
        let (record, first_rows) = restore_state(&env, task, first).await;
        assert_eq!(record.stage, RestoreStage::Data, "stopped in DATA");
        let done_before: Vec<&RestoreRunProgress> = first_rows
            .iter()
            .filter(|r| r.restore_completed_at.is_some())
            .collect();
        assert_autocompaction_on(&env, &record).await;

        let second = env.start_run(task).await;
        let run = env.wait_run(task, second, RUN_LIMIT).await;
        assert_eq!(
            run.status,
            RunStatus::Done,
            "resumed restore: {}",
            run.cause
        );
        let (record, rows) = restore_state(&env, task, second).await;
        assert_eq!(record.prev_id, Some(first));
        assert_eq!(record.stage, RestoreStage::Done);
        assert_all_restored(&record, &rows);
        // Every batch restored before the stop is carried over, none restored again.
        for before in &done_before {
            let carried: Vec<&RestoreRunProgress> = rows
                .iter()
                .filter(|r| r.remote_sstable_dir == before.remote_sstable_dir)
                .filter(|r| r.sstable_id.iter().any(|id| before.sstable_id.contains(id)))
                .collect();
            assert_eq!(carried.len(), 1, "{:?} restored once", before.sstable_id);
            assert_eq!(
                carried[0].agent_job_id, before.agent_job_id,
                "carried over, not redone"
            );
        }
    });
}

#[test]
fn a_host_downloads_its_next_batch_while_the_current_one_is_loaded() {
    in_actix(async {
        let Some(env) = BackupEnv::start_with("dc1:2", settings(), |c| {
            c.dataset = cairn::emulator::Dataset::Bytes(4 << 20);
            // Load&stream as slow as the download: pipelining has something to hide.
            c.stream_rate = 1;
        })
        .await
        else {
            return;
        };
        let tag = backup(&env).await;
        let task = restore_task(
            &env,
            &tag,
            "store",
            json!({"batch_size": 1, "rate_limit": ["1"]}),
        )
        .await;
        let run = env.run(task, RUN_LIMIT).await;
        assert_eq!(run.status, RunStatus::Done, "restore: {}", run.cause);
        let (record, rows) = restore_state(&env, task, run.id).await;
        assert_all_restored(&record, &rows);
        // Some batch of a host was downloading while another batch of that host was loading.
        let overlapping = rows.iter().any(|a| {
            rows.iter().any(|b| {
                a.agent_job_id != b.agent_job_id
                    && a.host == b.host
                    && a.download_started_at < b.restore_completed_at
                    && a.download_completed_at > b.restore_started_at
            })
        });
        let windows: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    &r.host,
                    r.download_started_at,
                    r.download_completed_at,
                    r.restore_started_at,
                    r.restore_completed_at,
                )
            })
            .collect();
        assert!(overlapping, "no download overlapped a load: {windows:#?}");
    });
}
