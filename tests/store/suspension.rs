//! The suspension table of every store: a cluster's suspension round trips (with and without an
//! end and stopped tasks), is replaced by a new one, deleted on resume and with its cluster;
//! and, for the SQLite store, a database of the schema before the table is migrated.

use cairn::manager::store::{self, Store, Suspension, TaskType};
use chrono::Duration;
use uuid::Uuid;

use super::{cluster, now, reopen_after_downgrade, task};

/// A suspension of `cluster_id` that began now, ends in two hours and stopped two tasks.
fn suspension(cluster_id: Uuid) -> Suspension {
    Suspension {
        cluster_id,
        started_at: now(),
        resume_at: Some(now() + Duration::hours(2)),
        start_tasks: true,
        stopped_tasks: vec![Uuid::new_v4(), Uuid::new_v4()],
    }
}

/// The behaviour of the suspension table.
pub async fn behaves_as_a_suspension_store(store: &dyn Store) {
    let c = cluster("suspended");
    let other = cluster("running");
    for x in [&c, &other] {
        store.put_cluster(x).await.expect("put cluster");
    }
    assert_eq!(store.get_suspension(c.id).await.expect("get"), None);
    let s = suspension(c.id);
    store.put_suspension(&s).await.expect("put suspension");
    assert_eq!(
        store.get_suspension(c.id).await.expect("get"),
        Some(s.clone())
    );
    assert_eq!(
        store.get_suspension(other.id).await.expect("get"),
        None,
        "per cluster"
    );
    // A suspension without an end and with nothing stopped; it replaces the first.
    let open = Suspension {
        resume_at: None,
        start_tasks: false,
        stopped_tasks: Vec::new(),
        ..suspension(c.id)
    };
    store.put_suspension(&open).await.expect("replace");
    assert_eq!(store.get_suspension(c.id).await.expect("get"), Some(open));
    // Resumed: gone; deleting again is no error.
    store.delete_suspension(c.id).await.expect("delete");
    assert_eq!(store.get_suspension(c.id).await.expect("get"), None);
    store.delete_suspension(c.id).await.expect("delete again");
    // Deleted with its cluster, and only with its own.
    store
        .put_suspension(&suspension(c.id))
        .await
        .expect("put suspension");
    let kept = suspension(other.id);
    store.put_suspension(&kept).await.expect("put suspension");
    store.delete_cluster(c.id).await.expect("delete cluster");
    assert_eq!(store.get_suspension(c.id).await.expect("get"), None);
    assert_eq!(
        store.get_suspension(other.id).await.expect("get"),
        Some(kept)
    );
    store.delete_cluster(other.id).await.expect("clean up");
}

#[tokio::test]
async fn sqlite_store_of_an_older_schema_gets_the_suspension_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manager.db");
    let c = cluster("suspension-migrated");
    let t = task(c.id, TaskType::Backup, "nightly");
    {
        let first = store::sqlite::SqliteStore::open(&path).await.expect("open");
        first.put_cluster(&c).await.expect("put cluster");
        first.put_task(&t).await.expect("put task");
    }
    // Back to the schema an older build made: no suspension table, version 6 not recorded.
    let upgraded = reopen_after_downgrade(
        &path,
        "DROP TABLE scheduler_suspension; DELETE FROM schema_version WHERE version = 6;",
    )
    .await;
    assert_eq!(upgraded.get_task(t.key()).await.expect("get"), Some(t));
    let s = suspension(c.id);
    upgraded.put_suspension(&s).await.expect("put suspension");
    assert_eq!(upgraded.get_suspension(c.id).await.expect("get"), Some(s));
}
