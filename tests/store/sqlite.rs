//! What is particular to the SQLite store: reopening a file, its migrations (run once, harmless
//! again, upgrading an older schema), corrupt rows refused naming their column, an unwritable
//! path.

use cairn::manager::backup::stage::BackupStage;
use cairn::manager::store::{self, Store, StoreConfig, StoreError, TaskType};

use super::{CURRENT_VERSIONS, backup_run, cluster, now, reopen_after_downgrade, restore, task};

#[tokio::test]
async fn sqlite_reopen_keeps_data_and_migrations_run_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manager.db");
    let c = cluster("persistent");
    let t = task(c.id, TaskType::Backup, "nightly");
    let r = backup_run(&t, now());
    {
        let first = store::sqlite::SqliteStore::open(&path).await.expect("open");
        assert_eq!(
            first.schema_versions().await.expect("versions"),
            CURRENT_VERSIONS
        );
        first.put_cluster(&c).await.expect("put cluster");
        first.put_task(&t).await.expect("put task");
        first.put_backup_run(&r).await.expect("put run");
        first
            .update_backup_stage(r.key(), BackupStage::Upload)
            .await
            .expect("stage");
    }
    let second = store::sqlite::SqliteStore::open(&path)
        .await
        .expect("reopen");
    assert_eq!(
        second.schema_versions().await.expect("versions"),
        CURRENT_VERSIONS,
        "migrations are not applied twice"
    );
    // The WAL file may still hold the first connection's writes: still visible here.
    assert_eq!(second.get_cluster(c.id).await.expect("get"), Some(c));
    assert_eq!(second.get_task(t.key()).await.expect("get"), Some(t));
    let got = second.get_backup_run(r.key()).await.expect("get run");
    assert_eq!(got.map(|r| r.stage), Some(BackupStage::Upload));
    // Two stores on one file (e.g. a restarted manager while the old one drains) both work.
    let third = store::open(&StoreConfig::Sqlite { path: path.clone() })
        .await
        .expect("open alongside");
    assert_eq!(third.list_clusters().await.expect("list").len(), 1);
    drop((second, third));

    // Re-running a migration over the tables it made (its record lost) is harmless.
    let raw = rusqlite::Connection::open(&path).expect("open the file directly");
    raw.execute("DELETE FROM schema_version", [])
        .expect("forget the migrations");
    drop(raw);
    let rerun = store::sqlite::SqliteStore::open(&path)
        .await
        .expect("migrations run again");
    assert_eq!(
        rerun.schema_versions().await.expect("versions"),
        CURRENT_VERSIONS
    );
    assert_eq!(
        rerun.list_clusters().await.expect("list").len(),
        1,
        "data kept"
    );
    drop(rerun);

    // A database of the first schema (no backup_run.skipped_hosts) is migrated: its runs read
    // with no node left out.
    let upgraded = reopen_after_downgrade(
        &path,
        "ALTER TABLE backup_run DROP COLUMN skipped_hosts; DELETE FROM schema_version WHERE version = 2;",
    )
    .await;
    let old = upgraded.get_backup_run(r.key()).await.expect("get run");
    assert_eq!(old.map(|r| r.skipped_hosts), Some(Vec::new()));
}

#[tokio::test]
async fn sqlite_corrupt_restore_rows_are_refused_naming_the_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manager.db");
    let store = store::sqlite::SqliteStore::open(&path).await.expect("open");
    let c = cluster("corrupt");
    let t = task(c.id, TaskType::Restore, "restore");
    let run = restore::restore_run(&t, now());
    store.put_restore_run(&run).await.expect("put restore run");
    let row = restore::restore_progress(&run, "10.0.0.1", "orders", "n1", "1");
    store
        .put_restore_progress(&[row])
        .await
        .expect("put progress");

    // A stage this build does not know (a newer build's, or a hand edit).
    let raw = rusqlite::Connection::open(&path).expect("open the file directly");
    raw.execute("UPDATE restore_run SET stage = 'UPLOAD'", [])
        .expect("corrupt the stage");
    let err = store
        .get_restore_run(run.key())
        .await
        .expect_err("an unknown stage");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("restore_run.stage"), "{msg}");
    assert!(msg.contains("UPLOAD"), "{msg}");
    let err = store
        .list_restore_runs(c.id, t.id, 10)
        .await
        .expect_err("listing reads the stage too");
    assert!(err.to_string().contains("restore_run.stage"), "{err}");

    // Units that are not the model's JSON, and a negative counter.
    raw.execute(
        "UPDATE restore_run SET stage = 'DATA', units = '{\"keyspace\": 1}'",
        [],
    )
    .expect("corrupt the units");
    let err = store
        .get_restore_run(run.key())
        .await
        .expect_err("units of another shape");
    assert!(err.to_string().contains("restore_run.units"), "{err}");
    raw.execute("UPDATE restore_run_progress SET restored = -1", [])
        .expect("corrupt a counter");
    let err = store
        .list_restore_progress(run.key())
        .await
        .expect_err("a negative counter");
    assert!(
        err.to_string().contains("restore_run_progress.restored"),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_unwritable_path_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no-such-dir").join("manager.db");
    let err = store::open(&StoreConfig::Sqlite { path: path.clone() })
        .await
        .expect_err("a file in a missing directory");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.starts_with("cannot open the SQLite store at"), "{msg}");
}
