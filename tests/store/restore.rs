//! The restore tables of every store: restore runs (newest first, replaced whole) and their
//! progress rows (upserted by upstream's key, deleted one by one or per run).

use cairn::manager::restore::stage::RestoreStage;
use cairn::manager::store::{
    RestoreRun, RestoreRunProgress, RestoreTable, RestoreUnit, RestoreView, RunKey, Store,
    StoreError, Task, TaskType, time_uuid,
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{cluster, now, task};

/// A restore run of `task` started at `start`, at INIT, with one keyspace and one view.
pub fn restore_run(task: &Task, start: DateTime<Utc>) -> RestoreRun {
    RestoreRun {
        cluster_id: task.cluster_id,
        task_id: task.id,
        id: time_uuid(start),
        prev_id: None,
        snapshot_tag: cairn::format::tag::SnapshotTag::from_time(start - Duration::days(1)),
        stage: RestoreStage::Init,
        repair_task_id: None,
        units: vec![RestoreUnit {
            keyspace_name: "shop".to_owned(),
            size: 3 << 30,
            tables: vec![
                RestoreTable {
                    table_name: "orders".to_owned(),
                    size: 2 << 30,
                    tombstone_gc: "repair".to_owned(),
                },
                RestoreTable {
                    table_name: "items".to_owned(),
                    size: 1 << 30,
                    tombstone_gc: "timeout".to_owned(),
                },
            ],
        }],
        views: vec![RestoreView {
            keyspace_name: "shop".to_owned(),
            view_name: "orders_by_day".to_owned(),
            base_table: "orders".to_owned(),
            view_type: "MaterializedView".to_owned(),
            create_stmt: "CREATE MATERIALIZED VIEW IF NOT EXISTS shop.orders_by_day AS \
                          SELECT * FROM shop.orders WHERE day IS NOT NULL PRIMARY KEY (day, id)"
                .to_owned(),
            build_status: String::new(),
        }],
        start_time: start,
    }
}

/// A progress row of `run`: one batch of directory `dir` of `table` on `host`, by job `job`.
pub fn restore_progress(
    run: &RestoreRun,
    host: &str,
    table: &str,
    dir: &str,
    job: &str,
) -> RestoreRunProgress {
    RestoreRunProgress {
        cluster_id: run.cluster_id,
        task_id: run.task_id,
        run_id: run.id,
        remote_sstable_dir: format!(
            "backup/sst/cluster/{}/dc/dc1/node/{dir}/keyspace/shop/table/{table}/5a1f",
            run.cluster_id
        ),
        keyspace_name: "shop".to_owned(),
        table_name: table.to_owned(),
        host: host.to_owned(),
        agent_job_id: job.to_owned(),
        scylla_task_id: String::new(),
        sstable_id: vec!["3gdt_0q2b_1kxk02kd6ghhqvjbwc".to_owned(), "7".to_owned()],
        download_started_at: Some(run.start_time),
        download_completed_at: None,
        restore_started_at: None,
        restore_completed_at: None,
        downloaded: 1 << 20,
        versioned_downloaded: 0,
        skipped: 0,
        restored: 0,
        failed: 0,
        error: None,
        shard_cnt: 4,
    }
}

/// The restore behaviour every store must have.
pub async fn behaves_as_a_restore_store(store: &dyn Store) {
    restore_runs_list_newest_first_and_replace_whole(store).await;
    restore_progress_upserts_by_key_and_deletes(store).await;
}

async fn restore_runs_list_newest_first_and_replace_whole(store: &dyn Store) {
    let c = cluster("restore-runs");
    let t = task(c.id, TaskType::Restore, "restore");
    store.put_cluster(&c).await.expect("put cluster");
    store.put_task(&t).await.expect("put task");
    assert!(
        store
            .list_restore_runs(c.id, t.id, 10)
            .await
            .expect("no run yet")
            .is_empty()
    );

    let base = now();
    let first = restore_run(&t, base);
    let mut second = restore_run(&t, base + Duration::minutes(5));
    second.prev_id = Some(first.id);
    second.units.clear();
    second.views.clear();
    let third = restore_run(&t, base + Duration::minutes(10));
    for r in [&second, &third, &first] {
        store.put_restore_run(r).await.expect("put restore run");
    }
    assert_eq!(
        store.get_restore_run(first.key()).await.expect("get run"),
        Some(first.clone())
    );
    assert_eq!(
        store.get_restore_run(second.key()).await.expect("get run"),
        Some(second.clone()),
        "no units and no views read back as empty lists"
    );

    let ids = |runs: Vec<RestoreRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = store
        .list_restore_runs(c.id, t.id, 100)
        .await
        .expect("list runs");
    assert_eq!(ids(all), [third.id, second.id, first.id], "newest first");
    let two = store
        .list_restore_runs(c.id, t.id, 2)
        .await
        .expect("list two");
    assert_eq!(ids(two), [third.id, second.id]);
    assert!(
        store
            .list_restore_runs(c.id, t.id, 0)
            .await
            .expect("list none")
            .is_empty()
    );
    assert!(
        store
            .list_restore_runs(c.id, Uuid::new_v4(), 10)
            .await
            .expect("list another task's")
            .is_empty()
    );

    // A run moves through its stages by being put again; every field is replaced.
    let mut advanced = first.clone();
    for stage in RestoreStage::ALL {
        advanced.stage = *stage;
        store.put_restore_run(&advanced).await.expect("put stage");
        let got = store.get_restore_run(first.key()).await.expect("get run");
        assert_eq!(got.map(|r| r.stage), Some(*stage));
    }
    advanced.repair_task_id = Some("4f2c0c1e-8d7e-4c61-9b2a-0d1d6f1c2a3b".to_owned());
    advanced.views[0].build_status = "SUCCESS".to_owned();
    advanced.units[0].tables.pop();
    store.put_restore_run(&advanced).await.expect("put again");
    assert_eq!(
        store.get_restore_run(first.key()).await.expect("get run"),
        Some(advanced)
    );

    let missing = RunKey {
        run_id: time_uuid(base - Duration::minutes(1)),
        ..first.key()
    };
    assert_eq!(
        store.get_restore_run(missing).await.expect("get missing"),
        None
    );
    let not_time = RunKey {
        run_id: Uuid::new_v4(),
        ..first.key()
    };
    assert_eq!(
        store
            .get_restore_run(not_time)
            .await
            .expect("get by a v4 id"),
        None
    );

    let mut bad = restore_run(&t, now());
    bad.prev_id = Some(Uuid::new_v4());
    let err = store.put_restore_run(&bad).await.expect_err("a v4 prev_id");
    assert!(matches!(err, StoreError::NotTimeUuid { .. }), "{err}");
    assert!(err.to_string().contains("restore run prev_id"), "{err}");
    bad.prev_id = None;
    bad.id = Uuid::new_v4();
    let err = store.put_restore_run(&bad).await.expect_err("a v4 id");
    assert!(err.to_string().contains("restore run id"), "{err}");
    store.delete_cluster(c.id).await.expect("clean up");
}

/// The key of a progress row, as the tests compare them.
fn key(p: &RestoreRunProgress) -> (String, String, String, String, String, String) {
    (
        p.host.clone(),
        p.keyspace_name.clone(),
        p.table_name.clone(),
        p.remote_sstable_dir.clone(),
        p.agent_job_id.clone(),
        p.scylla_task_id.clone(),
    )
}

async fn restore_progress_upserts_by_key_and_deletes(store: &dyn Store) {
    let c = cluster("restore-progress");
    let t = task(c.id, TaskType::Restore, "restore");
    let run = restore_run(&t, now());
    let other = restore_run(&t, now() + Duration::seconds(1));
    store.put_cluster(&c).await.expect("put cluster");
    store.put_task(&t).await.expect("put task");
    store.put_restore_run(&run).await.expect("put run");
    store.put_restore_run(&other).await.expect("put other run");

    // More rows than one CQL batch holds, and a row of another run in the same call.
    let mut batch: Vec<RestoreRunProgress> = (0..230)
        .map(|i| {
            restore_progress(
                &run,
                &format!("10.0.0.{}", i % 3),
                ["orders", "items"][i % 2],
                &format!("node-{i:03}"),
                &format!("{}", i % 5),
            )
        })
        .collect();
    batch.push(restore_progress(&other, "10.0.0.9", "orders", "n", "1"));
    store
        .put_restore_progress(&batch)
        .await
        .expect("put progress batch");
    store
        .put_restore_progress(&[])
        .await
        .expect("an empty batch is fine");

    let listed = store
        .list_restore_progress(run.key())
        .await
        .expect("list progress");
    let mut expected = batch[..230].to_vec();
    expected.sort_by_key(key);
    assert_eq!(
        listed, expected,
        "every row back, by host, keyspace, table, directory, job"
    );

    // A later write of the same key replaces the row; a row differing only in its agent job
    // or its Scylla task is another row.
    let mut restored = batch[4].clone();
    restored.download_completed_at = Some(now());
    restored.restore_started_at = Some(now());
    restored.restore_completed_at = Some(now());
    restored.restored = restored.downloaded;
    restored.versioned_downloaded = 512;
    restored.skipped = 7;
    restored.sstable_id.clear();
    let mut failed = batch[5].clone();
    failed.error = Some("load and stream failed: node 10.0.0.2 is down".to_owned());
    failed.failed = failed.downloaded;
    let mut second_job = batch[6].clone();
    second_job.agent_job_id = "99".to_owned();
    let mut with_task = batch[6].clone();
    with_task.scylla_task_id = "2b8e0f0a-9a4c-4c56-8f57-1f0c1d2e3f40".to_owned();
    store
        .put_restore_progress(&[
            restored.clone(),
            failed.clone(),
            second_job.clone(),
            with_task.clone(),
        ])
        .await
        .expect("put second batch");
    let listed = store
        .list_restore_progress(run.key())
        .await
        .expect("list progress");
    assert_eq!(listed.len(), 232);
    let find = |p: &RestoreRunProgress| listed.iter().find(|r| key(r) == key(p)).cloned();
    assert_eq!(find(&restored), Some(restored.clone()));
    assert_eq!(find(&failed), Some(failed.clone()));
    assert_eq!(find(&second_job), Some(second_job.clone()));
    assert_eq!(find(&with_task), Some(with_task.clone()));
    assert_eq!(
        find(&batch[6]),
        Some(batch[6].clone()),
        "the first job's row kept"
    );

    // Deleting one row (an interrupted batch, redone from scratch) leaves its neighbours.
    store
        .delete_restore_progress_row(&second_job)
        .await
        .expect("delete one row");
    store
        .delete_restore_progress_row(&second_job)
        .await
        .expect("deleting a missing row is not an error");
    let listed = store
        .list_restore_progress(run.key())
        .await
        .expect("list progress");
    assert_eq!(listed.len(), 231);
    assert!(!listed.iter().any(|r| key(r) == key(&second_job)));
    assert!(listed.iter().any(|r| key(r) == key(&batch[6])));
    assert!(listed.iter().any(|r| key(r) == key(&with_task)));

    let mut too_big = batch[0].clone();
    too_big.restored = u64::MAX;
    let err = store
        .put_restore_progress(&[too_big])
        .await
        .expect_err("a count over i64");
    assert!(err.to_string().contains("restored"), "{err}");
    assert_eq!(
        store
            .list_restore_progress(run.key())
            .await
            .expect("list progress")
            .len(),
        231,
        "a refused batch changes nothing"
    );

    // Deleting a run's rows leaves the other run's.
    store
        .delete_restore_progress(run.key())
        .await
        .expect("delete run's progress");
    assert!(
        store
            .list_restore_progress(run.key())
            .await
            .expect("list deleted")
            .is_empty()
    );
    assert_eq!(
        store
            .list_restore_progress(other.key())
            .await
            .expect("other run kept"),
        [batch[230].clone()]
    );
    assert!(
        store
            .get_restore_run(run.key())
            .await
            .expect("get run")
            .is_some(),
        "deleting progress keeps the run"
    );
    store.delete_cluster(c.id).await.expect("clean up");
}
