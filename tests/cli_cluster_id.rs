//! `cairn cluster add --id` as a user moving a cluster from another manager runs it: the real
//! binary against real `cairn manager` processes over an emulated `dc1:2,dc2:1` cluster with
//! real agents and a `localstorage:bkt` location. A first manager backs the cluster up (and a
//! ScyllaDB-Manager-style backup of it sits in the same location); a second manager given the
//! cluster with the same id lists those backups, deduplicates its own backup against them, and
//! purges by age only the old tool's snapshots past 30 days.

mod common;

use common::agent::TOKEN;
use common::cli::{BackupSetup, Run, cairn, cells};
use common::manager::ManagerProcess;
use common::sm_layout::write_manager_backup;
use reqwest::Method;
use serde_json::{Value, json};

/// The rows of `cairn backup list -L localstorage:bkt` (TASK, SNAPSHOT, NODES, SIZE,
/// KEYSPACES) on the manager at `url`.
async fn backup_list(url: &str) -> Vec<Vec<String>> {
    let list = cairn(
        url,
        &["backup", "list", "-c", "prod", "-L", "localstorage:bkt"],
    )
    .await;
    let text = list.ok("backup list");
    let mut lines = text.lines();
    assert_eq!(
        cells(lines.next().unwrap_or_default()),
        ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"],
        "{text}"
    );
    lines.map(cells).collect()
}

/// The snapshot tags a backup list shows, sorted.
fn tags(rows: &[Vec<String>]) -> Vec<String> {
    let mut tags: Vec<String> = rows.iter().map(|r| r[1].clone()).collect();
    tags.sort();
    tags
}

/// `cairn cluster add` of the emulated cluster (as `prod` unless `name`) with `extra` flags.
async fn add(url: &str, s: &BackupSetup, port: &str, name: &str, extra: &[&str]) -> Run {
    let host = s.cluster.address(0);
    let (user, password) = s.cluster.cql_credentials();
    let mut args = vec![
        "cluster",
        "add",
        "--name",
        name,
        "--host",
        &host,
        "--port",
        port,
        "--auth-token",
        TOKEN,
        "--username",
        &user,
        "--password",
        &password,
    ];
    args.extend_from_slice(extra);
    cairn(url, &args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_added_with_its_id_keeps_its_backups_and_deduplicates_against_them() {
    let s = BackupSetup::new().await;
    let clusters = s
        .cairn(&["cluster", "list", "-o", "json"])
        .await
        .json("cluster list");
    let id = clusters[0]["id"].as_str().expect("an id").to_string();
    let port = clusters[0]["port"].to_string();

    // The old manager's backup, and an older one ScyllaDB Manager took of the dc1 nodes.
    s.backup_now("nightly").await;
    let old = tags(&backup_list(s.manager.url()).await);
    assert_eq!(old.len(), 1, "{old:?}");
    let dc1: Vec<String> = s
        .cluster
        .emulator
        .nodes()
        .into_iter()
        .filter(|n| n.dc == "dc1")
        .map(|n| n.host_id)
        .collect();
    let dc1: Vec<&str> = dc1.iter().map(String::as_str).collect();
    let sm_tag = write_manager_backup(&s.bucket, &id, &dc1, "0123456789abcdef0123456789abcdef");

    // The cluster moves to a new manager.
    let dir = s.dir.path().join("manager2");
    std::fs::create_dir_all(&dir).unwrap();
    let moved = ManagerProcess::start(&dir, "");
    let url = moved.url();

    // A malformed or nil id is refused naming --id; nothing is added.
    for bad in ["prod-1", "00000000-0000-0000-0000-000000000000"] {
        let r = add(url, &s, &port, "prod", &["--id", bad]).await;
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(
            r.stderr.contains("--id") && r.stdout.is_empty(),
            "{bad}: {}",
            r.stderr
        );
    }
    let r = add(url, &s, &port, "prod", &["--id", &id]).await;
    assert_eq!(r.ok("cluster add --id"), format!("{id}\n"));
    // The id is this cluster's now: another cluster cannot take it.
    let r = add(url, &s, &port, "other", &["--id", &id]).await;
    let line = r.one_line_error("a second cluster with the id");
    assert!(
        line.contains(&id) && line.contains("\"prod\"") && line.contains("id"),
        "{line}"
    );
    let (status, body) = moved
        .call(
            Method::PUT,
            "/api/v1/cluster/prod",
            Some(json!({"id": uuid::Uuid::new_v4()})),
        )
        .await;
    assert_eq!(status, 400, "an id does not change: {body}");
    assert!(body.to_string().contains("id"), "{body}");
    let doc = cairn(url, &["cluster", "list", "-o", "json"])
        .await
        .json("cluster list");
    assert_eq!(doc.as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc[0]["id"], json!(id));

    // Both earlier backups are this cluster's in the new manager.
    let rows = backup_list(url).await;
    let mut expected = vec![old[0].clone(), sm_tag.clone()];
    expected.sort();
    assert_eq!(tags(&rows), expected, "{rows:?}");
    let sm = rows
        .iter()
        .find(|r| r[1] == sm_tag)
        .expect("the sctool snapshot");
    assert_eq!(sm[2], "2", "its two nodes: {sm:?}");
    assert!(sm[4].starts_with("shop"), "{sm:?}");

    // A backup by the new manager sends nothing the old one sent already.
    let created = cairn(
        url,
        &[
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-K",
            "store",
            "--enabled",
            "false",
            "--name",
            "moved",
        ],
    )
    .await;
    assert_eq!(created.ok("backup create"), "backup/moved\n");
    cairn(url, &["start", "-c", "prod", "backup/moved"])
        .await
        .ok("start");
    let watched = cairn(url, &["progress", "-c", "prod", "moved", "--watch"]).await;
    watched.ok("progress --watch");
    let doc: Value = cairn(url, &["progress", "-c", "prod", "moved", "-o", "json"])
        .await
        .json("progress -o json");
    let hosts = doc["progress"]["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 3, "{doc}");
    for h in hosts {
        let size = h["size"].as_u64().unwrap_or(0);
        assert!(size > 0, "{h}");
        assert_eq!(
            h["skipped"].as_u64(),
            Some(size),
            "every file of {} deduplicated against the old manager's: {h}",
            h["host"]
        );
        assert_eq!(h["uploaded"], json!(0), "{h}");
    }

    // Retention: the old manager's task is unknown here, so its snapshot is kept by age (30
    // days); the sctool snapshot, older than that, was purged by the new backup.
    let rows = backup_list(url).await;
    let now = tags(&rows);
    assert_eq!(now.len(), 2, "{rows:?}");
    assert!(now.contains(&old[0]), "{rows:?}");
    assert!(!now.contains(&sm_tag), "{rows:?}");
    assert!(
        !s.bucket
            .join(format!(
                "backup/sst/cluster/{id}/dc/dc1/node/{}/keyspace/shop",
                dc1[0]
            ))
            .join("table/orders/0123456789abcdef0123456789abcdef/mc-2-big-Data.db")
            .exists(),
        "the purged snapshot's files went"
    );
}
