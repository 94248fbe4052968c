//! The validate table of every store: validate progress rows (one host in one location of a
//! validate run, with the reports of the node directories it checked), upserted by upstream's
//! key, listed by DC, host and location, deleted per run and with their cluster; and, for the
//! SQLite store, a corrupt stored report and a database of the schema before the table.

use cairn::manager::store::{
    self, RunKey, Store, StoreError, TaskRun, TaskType, ValidateRunProgress,
};
use cairn::manager::validate::report::{ContentFinding, FindingKind, NodeReport, SizeMismatch};
use chrono::Duration;

use super::{CURRENT_VERSIONS, cluster, now, reopen_after_downgrade, task, task_run};

/// The report of node `node_id` of `dc`, checked by `host`: a missing file, a table whose sizes
/// do not add up, a corrupt SSTable and an orphan.
pub fn node_report(dc: &str, node_id: &str, host: &str) -> NodeReport {
    let tag = "sm_20260101000000UTC".to_owned();
    let table_dir =
        format!("backup/sst/cluster/c/dc/{dc}/node/{node_id}/keyspace/shop/table/orders/5a1f");
    NodeReport {
        dc: dc.to_owned(),
        node_id: node_id.to_owned(),
        checked_by: host.to_owned(),
        manifests: 3,
        temporary_manifests: 1,
        files: 120,
        scanned_files: 121,
        missing_files: 1,
        missing: vec![format!(
            "{table_dir}/me-3gdt_0q2b_1kxk02kd6ghhqvjbwc-big-Index.db"
        )],
        broken_snapshots: vec![tag.clone()],
        size_mismatches: vec![SizeMismatch {
            dir: table_dir.clone(),
            keyspace: "shop".to_owned(),
            table: "orders".to_owned(),
            snapshots: vec![tag],
            expected: 4096,
            found: 4000,
            files: vec![
                ("me-1-big-Data.db".to_owned(), Some(4000)),
                ("me-1-big-Index.db".to_owned(), None),
            ],
        }],
        sstables_checked: 17,
        sstables_skipped: 3,
        bytes_checked: 1 << 30,
        md5_checked: 40,
        md5_unavailable: 2,
        corrupt_files: 1,
        findings: vec![ContentFinding {
            file: format!("{table_dir}/me-2-big-Data.db"),
            kind: FindingKind::Digest,
            detail: "CRC-32 0x1a2b3c4d, Digest.crc32 says 0x0badf00d".to_owned(),
        }],
        orphaned_files: 1,
        orphaned_bytes: 512,
        orphans: vec![format!("{table_dir}/me-9-big-Data.db")],
        deleted_files: 0,
        deleted: Vec::new(),
        kept_orphans: 1,
        started_at: Some(now()),
        completed_at: Some(now()),
        error: Some("listing stopped: 503 Slow Down".to_owned()),
    }
}

/// The row of `host` (in `dc`) for `location` in task run `run`, with two node reports.
pub fn validate_progress(
    run: &TaskRun,
    dc: &str,
    host: &str,
    location: &str,
) -> ValidateRunProgress {
    ValidateRunProgress {
        cluster_id: run.cluster_id,
        task_id: run.task_id,
        run_id: run.id,
        dc: dc.to_owned(),
        host: host.to_owned(),
        location: location.to_owned(),
        manifests: 6,
        scanned_files: 242,
        missing_files: 2,
        orphaned_files: 2,
        orphaned_bytes: 1024,
        deleted_files: 0,
        broken_snapshots: vec!["sm_20260101000000UTC".to_owned()],
        started_at: Some(run.start_time),
        completed_at: None,
        sstables_checked: 34,
        corrupt_files: 2,
        size_mismatches: 2,
        nodes: vec![
            node_report(dc, "node-a", host),
            node_report(dc, "node-b", host),
        ],
    }
}

/// The key of a validate run (a task run of a validate task).
fn run_key(run: &TaskRun) -> RunKey {
    RunKey {
        cluster_id: run.cluster_id,
        task_id: run.task_id,
        run_id: run.id,
    }
}

/// The key of a row after its run, as the tests compare them.
fn key(p: &ValidateRunProgress) -> (String, String, String) {
    (p.dc.clone(), p.host.clone(), p.location.clone())
}

/// The validate behaviour every store must have.
pub async fn behaves_as_a_validate_store(store: &dyn Store) {
    validate_progress_upserts_by_key_lists_in_order_and_deletes(store).await;
    deleting_a_cluster_removes_its_validate_progress(store).await;
}

async fn validate_progress_upserts_by_key_lists_in_order_and_deletes(store: &dyn Store) {
    let c = cluster("validate-progress");
    let t = task(c.id, TaskType::ValidateBackup, "validate");
    let run = task_run(&t, now());
    let other = task_run(&t, now() + Duration::seconds(1));
    store.put_cluster(&c).await.expect("put cluster");
    store.put_task(&t).await.expect("put task");
    store.put_task_run(&run).await.expect("put run");
    store.put_task_run(&other).await.expect("put other run");
    assert!(
        store
            .list_validate_progress(run_key(&run))
            .await
            .expect("no rows yet")
            .is_empty()
    );

    // More rows than one CQL batch holds, written out of order, and a row of another run in the
    // same call.
    let mut batch: Vec<ValidateRunProgress> = (0..150)
        .rev()
        .map(|i| {
            validate_progress(
                &run,
                ["dc2", "dc1"][i % 2],
                &format!("10.0.{}.{}", i % 7, i),
                ["s3:backups", "dc1:azure:cold"][i % 3 % 2],
            )
        })
        .collect();
    batch.push(validate_progress(&other, "dc1", "10.0.0.1", "s3:backups"));
    store
        .put_validate_progress(&batch)
        .await
        .expect("put validate progress");
    store
        .put_validate_progress(&[])
        .await
        .expect("an empty batch is fine");

    let listed = store
        .list_validate_progress(run_key(&run))
        .await
        .expect("list validate progress");
    let mut expected = batch[..150].to_vec();
    expected.sort_by_key(key);
    assert_eq!(
        listed, expected,
        "every row back whole, node reports included, by DC, host, location"
    );
    assert_eq!(listed[0].dc, "dc1");
    assert_eq!(listed[149].dc, "dc2");
    assert_eq!(listed[0].nodes[1].findings[0].kind, FindingKind::Digest);

    // A later write of the same key replaces the row; a row differing only in its location is
    // another row.
    let mut finished = batch[10].clone();
    finished.completed_at = Some(now());
    finished.deleted_files = 2;
    finished.orphaned_files = 0;
    finished.broken_snapshots.clear();
    finished.nodes[0].deleted = vec!["gone".to_owned()];
    finished.nodes.pop();
    let mut elsewhere = batch[10].clone();
    elsewhere.location = "gcs:elsewhere".to_owned();
    elsewhere.nodes.clear();
    store
        .put_validate_progress(&[finished.clone(), elsewhere.clone()])
        .await
        .expect("put second batch");
    let listed = store
        .list_validate_progress(run_key(&run))
        .await
        .expect("list validate progress");
    assert_eq!(listed.len(), 151);
    let find = |p: &ValidateRunProgress| listed.iter().find(|r| key(r) == key(p)).cloned();
    assert_eq!(find(&finished), Some(finished.clone()), "replaced whole");
    assert_eq!(find(&elsewhere), Some(elsewhere.clone()));
    assert_eq!(find(&batch[11]), Some(batch[11].clone()), "neighbour kept");

    // A count that does not fit the column is refused naming it, and nothing of the batch is
    // written.
    let mut too_big = batch[0].clone();
    too_big.orphaned_bytes = u64::MAX;
    let mut new_row = batch[0].clone();
    new_row.host = "10.9.9.9".to_owned();
    let err = store
        .put_validate_progress(&[new_row.clone(), too_big])
        .await
        .expect_err("a count over i64");
    assert!(matches!(err, StoreError::OutOfRange { .. }), "{err}");
    assert!(err.to_string().contains("orphaned_bytes"), "{err}");
    let listed = store
        .list_validate_progress(run_key(&run))
        .await
        .expect("list validate progress");
    assert_eq!(listed.len(), 151, "a refused batch changes nothing");
    assert_eq!(find(&batch[0]), Some(batch[0].clone()));

    // Deleting a run's rows leaves the other run's.
    store
        .delete_validate_progress(run_key(&run))
        .await
        .expect("delete the run's rows");
    assert!(
        store
            .list_validate_progress(run_key(&run))
            .await
            .expect("list deleted")
            .is_empty()
    );
    assert_eq!(
        store
            .list_validate_progress(run_key(&other))
            .await
            .expect("other run kept"),
        [batch[150].clone()]
    );
    store
        .delete_validate_progress(run_key(&run))
        .await
        .expect("deleting no rows is not an error");
    assert!(
        store
            .get_task_run(t.key(), run.id)
            .await
            .expect("get run")
            .is_some(),
        "deleting progress keeps the task run"
    );
    store.delete_cluster(c.id).await.expect("clean up");
}

async fn deleting_a_cluster_removes_its_validate_progress(store: &dyn Store) {
    let doomed = cluster("validate-doomed");
    let kept = cluster("validate-kept");
    let mut runs = Vec::new();
    for c in [&doomed, &kept] {
        let t = task(c.id, TaskType::ValidateBackup, "validate");
        let run = task_run(&t, now());
        store.put_cluster(c).await.expect("put cluster");
        store.put_task(&t).await.expect("put task");
        store.put_task_run(&run).await.expect("put run");
        store
            .put_validate_progress(&[
                validate_progress(&run, "dc1", "10.0.0.1", "s3:backups"),
                validate_progress(&run, "dc1", "10.0.0.2", "s3:backups"),
            ])
            .await
            .expect("put validate progress");
        runs.push((c.id, run_key(&run)));
    }
    store
        .delete_cluster(doomed.id)
        .await
        .expect("delete cluster");
    for (cluster_id, run) in runs {
        let rows = store
            .list_validate_progress(run)
            .await
            .expect("list validate progress");
        if cluster_id == doomed.id {
            assert!(rows.is_empty(), "the deleted cluster's rows are gone");
        } else {
            assert_eq!(rows.len(), 2, "the other cluster's rows are kept");
        }
    }
    store.delete_cluster(kept.id).await.expect("clean up");
}

/// A run key's rows as SQLite keeps them, for the tests that edit the file directly.
fn run_rows(run: RunKey) -> String {
    format!(
        "cluster_id = '{}' AND task_id = '{}' AND run_id = '{}'",
        run.cluster_id, run.task_id, run.run_id
    )
}

#[tokio::test]
async fn sqlite_corrupt_validate_rows_are_refused_naming_the_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manager.db");
    let store = store::sqlite::SqliteStore::open(&path).await.expect("open");
    let c = cluster("validate-corrupt");
    let t = task(c.id, TaskType::ValidateBackup, "validate");
    let run = task_run(&t, now());
    let row = validate_progress(&run, "dc1", "10.0.0.1", "s3:backups");
    store
        .put_validate_progress(std::slice::from_ref(&row))
        .await
        .expect("put validate progress");
    assert_eq!(
        store
            .list_validate_progress(run_key(&run))
            .await
            .expect("list"),
        [row]
    );

    // Node reports of another shape (a newer build's, or a hand edit).
    let raw = rusqlite::Connection::open(&path).expect("open the file directly");
    let changed = raw
        .execute(
            &format!(
                "UPDATE validate_backup_run_progress SET nodes = '[{{\"dc\": 1}}]' WHERE {}",
                run_rows(run_key(&run))
            ),
            [],
        )
        .expect("corrupt the nodes");
    assert_eq!(changed, 1);
    let err = store
        .list_validate_progress(run_key(&run))
        .await
        .expect_err("node reports that are not the model's");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("validate_backup_run_progress.nodes"), "{msg}");

    // Text that is not JSON at all, then tags that are not a list, then a negative counter.
    raw.execute(
        "UPDATE validate_backup_run_progress SET nodes = 'not json'",
        [],
    )
    .expect("corrupt the nodes again");
    let err = store
        .list_validate_progress(run_key(&run))
        .await
        .expect_err("nodes that are not JSON");
    assert!(
        err.to_string()
            .contains("validate_backup_run_progress.nodes"),
        "{err}"
    );
    raw.execute(
        "UPDATE validate_backup_run_progress SET nodes = '[]', broken_snapshots = '{\"a\": 1}'",
        [],
    )
    .expect("corrupt the tags");
    let err = store
        .list_validate_progress(run_key(&run))
        .await
        .expect_err("tags that are not a list");
    assert!(
        err.to_string()
            .contains("validate_backup_run_progress.broken_snapshots"),
        "{err}"
    );
    raw.execute(
        "UPDATE validate_backup_run_progress SET broken_snapshots = '[]', corrupt_files = -3",
        [],
    )
    .expect("corrupt a counter");
    let err = store
        .list_validate_progress(run_key(&run))
        .await
        .expect_err("a negative counter");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("validate_backup_run_progress.corrupt_files"),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_database_of_schema_4_migrates_to_the_current_schema_keeping_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manager.db");
    let c = cluster("validate-migrated");
    let t = task(c.id, TaskType::ValidateBackup, "validate");
    let run = task_run(&t, now());
    {
        let first = store::sqlite::SqliteStore::open(&path).await.expect("open");
        first.put_cluster(&c).await.expect("put cluster");
        first.put_task(&t).await.expect("put task");
        first.put_task_run(&run).await.expect("put run");
    }
    // Back to the schema an older build made: no validate table, version 5 not recorded.
    let upgraded = reopen_after_downgrade(
        &path,
        "DROP TABLE validate_backup_run_progress; DELETE FROM schema_version WHERE version = 5;",
    )
    .await;
    assert_eq!(
        upgraded.get_cluster(c.id).await.expect("get"),
        Some(c.clone())
    );
    assert_eq!(
        upgraded.get_task(t.key()).await.expect("get"),
        Some(t.clone())
    );
    assert_eq!(
        upgraded
            .get_task_run(t.key(), run.id)
            .await
            .expect("get run"),
        Some(run.clone())
    );
    let row = validate_progress(&run, "dc1", "10.0.0.1", "s3:backups");
    upgraded
        .put_validate_progress(std::slice::from_ref(&row))
        .await
        .expect("the new table takes rows");
    drop(upgraded);

    // Opening again applies nothing twice and keeps the new rows.
    let again = store::sqlite::SqliteStore::open(&path)
        .await
        .expect("reopen");
    assert_eq!(
        again.schema_versions().await.expect("versions"),
        CURRENT_VERSIONS
    );
    assert_eq!(
        again
            .list_validate_progress(run_key(&run))
            .await
            .expect("list"),
        [row]
    );
}
