//! The agent's download job as a restore uses it, against a real agent process: versioned
//! remote files landing under the plain names given in `names`, `keep_verified` keeping what is
//! already there and right (by size on a directory location, by size and MD5 on S3, whose
//! single-part ETags are MD5s; moto serves it) and fetching again what is truncated or corrupted, bad names
//! refused before anything starts, and a link planted in the destination never followed.

mod common;

use std::path::{Path, PathBuf};

use common::TestCluster;
use common::agent::{AgentProcess, config_yaml};
use common::servers::S3Server;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};
use reqwest::Method;
use serde_json::{Value, json};

const BUCKET: &str = "cairn-restore";
const DIR: &str = "backup/sst/cluster/c/dc/dc1/node/n/keyspace/store/table/orders/v";
const OLDER: &str = "sm_20240101000000UTC";

/// A node, its agent (a `localstorage:bkt` directory location, and S3 when a server is given).
struct Setup {
    cluster: TestCluster,
    agent: AgentProcess,
    bucket: PathBuf,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new(s3: Option<&S3Server>) -> Self {
        let cluster = TestCluster::start("dc1:1").await;
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        let mut extra = format!("localstorage:\n  bkt: {}\n", bucket.display());
        if let Some(server) = s3 {
            server.create_bucket(BUCKET).await;
            extra.push_str(&format!(
                "s3:\n  endpoint: {}\n  access_key_id: {}\n  secret_access_key: {}\n  region: {}\n",
                server.endpoint(),
                server.access_key(),
                server.secret_key(),
                server.region()
            ));
        }
        let agent_dir = dir.path().join("agent");
        std::fs::create_dir_all(&agent_dir).unwrap();
        let agent = AgentProcess::start(&agent_dir, &config_yaml(&cluster, 0, &extra));
        Setup {
            cluster,
            agent,
            bucket,
            dir,
        }
    }

    /// Puts `bytes` at `DIR/name` in the directory location.
    fn put_local(&self, name: &str, bytes: &[u8]) {
        let path = self.bucket.join(DIR).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// The absolute path of `rel` in the node's data directory.
    fn data(&self, rel: &str) -> PathBuf {
        self.cluster.data_dir(0).join(rel)
    }

    /// Starts a download job; returns the status and the answer (the job's progress once it
    /// ends, when it started).
    async fn download(&self, body: Value) -> (u16, Value) {
        let (status, v) = self
            .agent
            .call(Method::POST, "/agent/jobs/download", Some(body))
            .await;
        if status != 200 {
            return (status, v);
        }
        let id = v["id"].as_str().expect("job id").to_string();
        (status, self.agent.wait(&id).await)
    }
}

/// `n` bytes of a pattern seeded by `seed`.
fn content(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn remote(name: &str) -> String {
    format!("{DIR}/{name}")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn versioned_files_land_under_the_names_given_and_bad_names_are_refused() {
    let s = Setup::new(None).await;
    let (old, new, other) = (content(1, 3000), content(2, 4000), content(3, 1234));
    s.put_local("me-1-big-Data.db", &new);
    s.put_local(&format!("me-1-big-Data.db.{OLDER}"), &old);
    s.put_local("me-2-big-Data.db", &other);

    // Bad names: refused with the field named, 400, nothing started or created.
    let files = vec![
        remote(&format!("me-1-big-Data.db.{OLDER}")),
        remote("me-2-big-Data.db"),
    ];
    let jobs_before = s.agent.call(Method::GET, "/agent/jobs", None).await.1;
    for (names, field) in [
        (json!(["me-1-big-Data.db"]), "names"),
        (json!(["me-1-big-Data.db", "../escape"]), "names[1]"),
        (json!(["a/b", "me-2-big-Data.db"]), "names[0]"),
        (json!(["me-1-big-Data.db", ".."]), "names[1]"),
        (json!(["", "me-2-big-Data.db"]), "names[0]"),
        (json!(["same", "same"]), "names[1]"),
        (json!(["me-1-big-Data.db", "nul\u{0}byte"]), "names[1]"),
    ] {
        let (status, v) = s
            .download(json!({"location": "localstorage:bkt", "files": files,
                "dest_dir": "store/refused", "names": names}))
            .await;
        assert_eq!(status, 400, "{names} must be refused: {v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{names}: the message names {field}: {message}"
        );
    }
    assert!(
        !s.data("store/refused").exists(),
        "a refused job creates nothing"
    );
    assert_eq!(
        s.agent.call(Method::GET, "/agent/jobs", None).await.1,
        jobs_before,
        "a refused job starts nothing"
    );

    // The version the restored snapshot saw lands under its plain name.
    let (status, p) = s
        .download(json!({"location": "localstorage:bkt", "files": files,
            "dest_dir": "store/restored", "names": ["me-1-big-Data.db", "me-2-big-Data.db"]}))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["status"], "success", "{p}");
    let restored = s.data("store/restored");
    assert_eq!(read(&restored.join("me-1-big-Data.db")), old);
    assert_eq!(read(&restored.join("me-2-big-Data.db")), other);
    let mut names: Vec<String> = std::fs::read_dir(&restored)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["me-1-big-Data.db", "me-2-big-Data.db"],
        "no versioned name and no temporary file left"
    );
    assert_eq!(p["bytes_transferred"], (old.len() + other.len()) as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_verified_keeps_a_right_file_and_fetches_a_truncated_one_by_size_on_a_directory() {
    let s = Setup::new(None).await;
    let (a, b, c) = (content(4, 5000), content(5, 7000), content(6, 2000));
    for (name, bytes) in [("a", &a), ("b", &b), ("c", &c)] {
        s.put_local(name, bytes);
    }
    let dest = s.data("store/resume");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("a"), &a).unwrap();
    std::fs::write(dest.join("b"), b.get(..100).unwrap()).unwrap();
    let files: Vec<String> = ["a", "b", "c"].iter().map(|n| remote(n)).collect();
    let body = json!({"location": "localstorage:bkt", "files": files,
        "dest_dir": "store/resume", "keep_verified": true});
    let (_, p) = s.download(body.clone()).await;
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(p["files_skipped"], 1, "{p}");
    assert_eq!(p["bytes_skipped"], a.len() as u64, "{p}");
    assert_eq!(p["files_transferred"], 2, "{p}");
    assert_eq!(
        p["bytes_transferred"],
        (b.len() + c.len()) as u64,
        "only the truncated and the missing file are fetched: {p}"
    );
    for (name, bytes) in [("a", &a), ("b", &b), ("c", &c)] {
        assert_eq!(&read(&dest.join(name)), bytes, "{name}");
    }

    // Run again: everything is there and kept.
    let (_, p) = s.download(body).await;
    assert_eq!(p["files_skipped"], 3, "{p}");
    assert_eq!(p["bytes_transferred"], 0, "{p}");

    // Without keep_verified everything is fetched again.
    let (_, p) = s
        .download(json!({"location": "localstorage:bkt", "files": files,
            "dest_dir": "store/resume"}))
        .await;
    assert_eq!(p["files_skipped"], 0, "{p}");
    assert_eq!(p["bytes_transferred"], (a.len() + b.len() + c.len()) as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_verified_on_s3_fetches_a_same_size_corrupted_file_again() {
    let Some(server) = S3Server::moto().await else {
        return;
    };
    let s = Setup::new(Some(&server)).await;
    let store = server.object_store(BUCKET);
    let (right, truncated, corrupted) = (content(7, 9000), content(8, 6000), content(9, 4000));
    for (name, bytes) in [
        ("right", &right),
        ("truncated", &truncated),
        ("corrupted", &corrupted),
    ] {
        store
            .put(
                &ObjPath::from(remote(name).as_str()),
                PutPayload::from(bytes.clone()),
            )
            .await
            .unwrap();
    }
    let dest = s.data("store/s3");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("right"), &right).unwrap();
    std::fs::write(dest.join("truncated"), truncated.get(..10).unwrap()).unwrap();
    let mut bad = corrupted.clone();
    bad[100] ^= 0xff;
    std::fs::write(dest.join("corrupted"), &bad).unwrap();

    let files: Vec<String> = ["right", "truncated", "corrupted"]
        .iter()
        .map(|n| remote(n))
        .collect();
    let (_, p) = s
        .download(json!({"location": format!("s3:{BUCKET}"), "files": files,
            "dest_dir": "store/s3", "keep_verified": true}))
        .await;
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(p["files_skipped"], 1, "{p}");
    assert_eq!(p["bytes_skipped"], right.len() as u64, "{p}");
    assert_eq!(
        p["bytes_transferred"],
        (truncated.len() + corrupted.len()) as u64,
        "the MD5 in the ETag exposes the same-size corrupted file: {p}"
    );
    for (name, bytes) in [
        ("right", &right),
        ("truncated", &truncated),
        ("corrupted", &corrupted),
    ] {
        assert_eq!(&read(&dest.join(name)), bytes, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_planted_in_the_destination_is_neither_followed_nor_kept() {
    let s = Setup::new(None).await;
    let data = content(10, 3000);
    s.put_local("me-3-big-Data.db", &data);
    let dest = s.data("store/linked");
    std::fs::create_dir_all(&dest).unwrap();
    // A file outside the data directory, with the very content expected: a link to it must not
    // pass for the file, and must not be written through.
    let outside = s.dir.path().join("outside");
    std::fs::write(&outside, &data).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("me-3-big-Data.db")).unwrap();
    let victim = s.dir.path().join("victim");
    std::fs::write(&victim, b"do not touch").unwrap();
    std::os::unix::fs::symlink(&victim, dest.join(".me-3-big-Data.db.cairn-part")).unwrap();

    let (_, p) = s
        .download(json!({"location": "localstorage:bkt",
            "files": [remote("me-3-big-Data.db")],
            "dest_dir": "store/linked", "keep_verified": true}))
        .await;
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(p["files_skipped"], 0, "a link is never kept: {p}");
    assert_eq!(p["bytes_transferred"], data.len() as u64, "{p}");
    let landed = dest.join("me-3-big-Data.db");
    assert!(
        std::fs::symlink_metadata(&landed).unwrap().is_file(),
        "the link was replaced by a regular file"
    );
    assert_eq!(read(&landed), data);
    assert_eq!(read(&victim), b"do not touch", "nothing written through");
    assert_eq!(read(&outside), data);
}
