//! The agent against real object stores: S3 (`rclone serve s3`, which checks SigV4, and `moto`,
//! which enforces AWS's part rules), Azure Blob (Azurite), and GCS through a contract server of
//! the published XML API. Each store gets the same round trip: upload with move semantics, a file
//! already there skipped, a clashing file versioned, everything read back bit for bit, and a
//! download. Then: a stop mid-upload leaves no object and no pending multipart upload, and an S3
//! outage mid-upload is retried through.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::agent::{AgentProcess, config_yaml, read_dir_files};
use common::gcs::GcsServer;
use common::servers::{Azurite, S3Server};
use common::{TestCluster, files_in};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use reqwest::Method;

const TAG: &str = "sm_20260203040506UTC";
const BUCKET: &str = "cairn-test";
const REMOTE_DIR: &str = "backup/sst/cluster/c/dc/dc1/node/n/keyspace/store/table/orders/v";

/// A store under test: how the agent reaches it and how the test checks it.
struct Store {
    /// The agent configuration section.
    yaml: String,
    /// The agent's location string.
    location: String,
    /// A client of the same bucket, for the test's own checks.
    client: Arc<dyn ObjectStore>,
}

async fn s3(server: &S3Server) -> Store {
    server.create_bucket(BUCKET).await;
    Store {
        yaml: format!(
            "s3:\n  endpoint: {}\n  access_key_id: {}\n  secret_access_key: {}\n  region: {}\n",
            server.endpoint(),
            server.access_key(),
            server.secret_key(),
            server.region()
        ),
        location: format!("s3:{BUCKET}"),
        client: server.object_store(BUCKET),
    }
}

async fn azure(server: &Azurite) -> Store {
    server.create_container(BUCKET).await;
    Store {
        yaml: format!(
            "azure:\n  account: {}\n  key: {}\n  endpoint: {}\n",
            server.account(),
            server.key(),
            server.endpoint()
        ),
        location: format!("azure:{BUCKET}"),
        client: server.object_store(BUCKET),
    }
}

fn gcs(server: &GcsServer) -> Store {
    server.create_bucket(BUCKET);
    Store {
        yaml: format!(
            "gcs:\n  endpoint: {}\n  access_token: {}\n",
            server.endpoint(),
            server.token()
        ),
        location: format!("gcs:{BUCKET}"),
        client: server.object_store(BUCKET),
    }
}

/// An emulated node with a snapshot of `store.orders` holding a `big`-byte SSTable, and an agent
/// configured for `store` with extra transfer settings.
async fn node_and_agent(
    store: &Store,
    big: u64,
    transfer_yaml: &str,
) -> (
    TestCluster,
    AgentProcess,
    String,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let cluster = TestCluster::start("dc1:1").await;
    let addr = cluster.address(0);
    cluster
        .post_ok(
            0,
            &format!("/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes={big}"),
        )
        .await;
    cluster
        .post_ok(
            0,
            &format!("/storage_service/snapshots?tag={TAG}&kn=store&cf=orders"),
        )
        .await;
    let abs = cluster
        .table_dir(0, "store", "orders")
        .join("snapshots")
        .join(TAG);
    let rel = abs
        .strip_prefix(cluster.data_dir(0))
        .unwrap()
        .display()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(
        dir.path(),
        &config_yaml(&cluster, 0, &format!("{}{transfer_yaml}", store.yaml)),
    );
    (cluster, agent, rel, abs, dir)
}

async fn get(client: &Arc<dyn ObjectStore>, path: &str) -> Option<Bytes> {
    match client.get(&ObjPath::from(path)).await {
        Ok(r) => Some(r.bytes().await.unwrap()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("{path}: {e}"),
    }
}

/// S3 settings that send the 20 MiB SSTable in parts (8, 8 and 4 MiB) rather than streamed in one
/// PUT, to exercise multipart uploads on a server that enforces AWS's part rules.
const S3_MULTIPART: &str = "transfer:\n  s3_single_put_max: 8MiB\n";

/// Upload with skip and versioning, read back, download: the same on every store.
async fn round_trip(store: Store, transfer_yaml: &str) {
    // 20 MiB: above the 16 MiB multipart threshold (S3 streams it in one PUT unless told not to).
    let (cluster, agent, rel, abs, _dir) = node_and_agent(&store, 20 << 20, transfer_yaml).await;
    let original = read_dir_files(&abs);
    let same = original
        .keys()
        .find(|n| n.ends_with("Statistics.db"))
        .unwrap()
        .clone();
    let differs = original
        .keys()
        .find(|n| n.ends_with("Digest.crc32"))
        .unwrap()
        .clone();
    let put = |name: &str, body: Vec<u8>| {
        let client = store.client.clone();
        let path = ObjPath::from(format!("{REMOTE_DIR}/{name}"));
        async move { client.put(&path, PutPayload::from(body)).await.unwrap() }
    };
    put(&same, original[&same].clone()).await;
    put(&differs, b"12345".to_vec()).await;

    let id = agent
        .upload(&rel, &store.location, REMOTE_DIR, TAG, 4)
        .await;
    let p = agent.wait(&id).await;
    assert_eq!(p["status"], "success", "{}: {p}", store.location);
    assert_eq!(p["files_skipped"], 1, "{p}");
    assert_eq!(p["files_versioned"], 1, "{p}");
    assert_eq!(p["files_transferred"], original.len() - 1, "{p}");
    assert!(files_in(&abs).is_empty(), "move semantics");
    for (name, bytes) in &original {
        let stored = get(&store.client, &format!("{REMOTE_DIR}/{name}")).await;
        assert!(
            stored.as_deref() == Some(bytes.as_slice()),
            "{}: {name} differs or is missing",
            store.location
        );
    }
    let kept = get(&store.client, &format!("{REMOTE_DIR}/{differs}.{TAG}")).await;
    assert_eq!(
        kept.as_deref(),
        Some(&b"12345"[..]),
        "older version kept as <name>.<tag>"
    );

    let files: Vec<String> = original
        .keys()
        .map(|n| format!("{REMOTE_DIR}/{n}"))
        .collect();
    let p = agent
        .wait(
            &agent
                .download(&store.location, &files, "store/restored")
                .await,
        )
        .await;
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(
        read_dir_files(&cluster.data_dir(0).join("store/restored")),
        original,
        "{}: download is bit for bit",
        store.location
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_rclone_s3_streamed() {
    let Some(server) = S3Server::rclone().await else {
        return;
    };
    round_trip(s3(&server).await, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_moto_s3_in_parts() {
    let Some(server) = S3Server::moto().await else {
        return;
    };
    round_trip(s3(&server).await, S3_MULTIPART).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_azurite() {
    let Some(server) = Azurite::start().await else {
        return;
    };
    round_trip(azure(&server).await, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_gcs_contract() {
    let server = GcsServer::start();
    round_trip(gcs(&server), "").await;
    // The multipart flow followed the published XML API: initiate, parts in order, complete.
    let requests = server.requests();
    let initiated = requests
        .iter()
        .filter(|r| r.method == "POST" && r.has_param("uploads"))
        .count();
    let parts: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.has_param("partNumber"))
        .collect();
    let completed = requests
        .iter()
        .filter(|r| r.method == "POST" && r.has_param("uploadId"))
        .count();
    assert_eq!(
        (initiated, parts.len(), completed),
        (1, 3, 1),
        "one 20 MiB file in 3 parts"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {}", server.token()))),
        "every request carries the token"
    );
    assert_eq!(server.pending_uploads(), 0);
}

/// Stops an upload of a 24 MiB SSTable at 4 MiB/s after 1.5 s; returns the SSTable's name.
async fn stop_mid_upload(
    store: &Store,
    transfer_yaml: &str,
) -> (String, AgentProcess, TestCluster, tempfile::TempDir) {
    let yaml = format!("{transfer_yaml}  rate_limit: 4\n");
    let (cluster, agent, rel, abs, dir) = node_and_agent(store, 24 << 20, &yaml).await;
    let big = files_in(&abs)
        .into_iter()
        .find(|f| std::fs::metadata(abs.join(f)).unwrap().len() == 24 << 20)
        .unwrap();
    let id = agent
        .upload(&rel, &store.location, REMOTE_DIR, TAG, 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, p) = agent
        .call(Method::POST, &format!("/agent/jobs/{id}/stop"), None)
        .await;
    assert_eq!(
        (status, p["status"].as_str()),
        (200, Some("stopped")),
        "{p}"
    );
    assert!(
        get(&store.client, &format!("{REMOTE_DIR}/{big}"))
            .await
            .is_none(),
        "no partial object under the final name"
    );
    assert!(
        abs.join(&big).exists(),
        "the file not uploaded stays in the snapshot"
    );
    (big, agent, cluster, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_on_s3_leaves_no_object_and_no_pending_multipart_upload() {
    let Some(server) = S3Server::moto().await else {
        return;
    };
    let store = s3(&server).await;
    let _kept = stop_mid_upload(&store, S3_MULTIPART).await;
    // moto checks no signature, so a plain ListMultipartUploads shows what the bucket holds.
    let xml = reqwest::get(format!("{}/{BUCKET}?uploads", server.endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("ListMultipartUploadsResult") && !xml.contains("<Upload>"),
        "the multipart upload was aborted: {xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_on_gcs_aborts_the_multipart_upload() {
    let server = GcsServer::start();
    let store = gcs(&server);
    let _kept = stop_mid_upload(&store, "transfer:\n").await;
    assert_eq!(
        server.pending_uploads(),
        0,
        "the XML API multipart upload was aborted"
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.has_param("uploadId")),
        "abort was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_streamed_put_leaves_no_object() {
    let Some(server) = S3Server::rclone().await else {
        return;
    };
    let store = s3(&server).await;
    let _kept = stop_mid_upload(&store, "transfer:\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_outage_mid_upload_is_retried_through() {
    let Some(mut server) = S3Server::rclone().await else {
        return;
    };
    let store = s3(&server).await;
    let (cluster, agent, rel, abs, _dir) =
        node_and_agent(&store, 24 << 20, "transfer:\n  rate_limit: 6\n").await;
    let original = read_dir_files(&abs);
    let id = agent
        .upload(&rel, &store.location, REMOTE_DIR, TAG, 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.process_mut().stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let probe = format!("{}/", server.endpoint());
    server.process_mut().restart(&probe).await;
    let p = agent.wait(&id).await;
    assert_eq!(
        p["status"], "success",
        "the store came back within the retry window: {p}"
    );
    for (name, bytes) in &original {
        let stored = get(&store.client, &format!("{REMOTE_DIR}/{name}")).await;
        assert!(
            stored.as_deref() == Some(bytes.as_slice()),
            "{name} differs or is missing after the outage"
        );
    }
    assert!(files_in(&abs).is_empty());
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_fails_the_files_cleanly_and_keeps_them() {
    let Some(server) = S3Server::rclone().await else {
        return;
    };
    let mut store = s3(&server).await;
    store.yaml = store
        .yaml
        .replace(server.secret_key(), "not-the-secret-key-0000000000");
    let (_cluster, agent, rel, abs, _dir) = node_and_agent(&store, 1 << 20, "").await;
    let before = files_in(&abs);
    let p = agent
        .wait(
            &agent
                .upload(&rel, &store.location, REMOTE_DIR, TAG, 2)
                .await,
        )
        .await;
    assert_eq!(p["status"], "error", "{p}");
    let error = p["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&store.location) || error.contains("list"),
        "the error names the location: {error}"
    );
    assert_eq!(files_in(&abs), before, "nothing left the snapshot");
}
