//! Validate's content check against real stores: the agent's check job (a real agent process)
//! over a directory location and over S3 (rclone serve s3), and the same check run in-process
//! (`--offline`'s `ValidateSource for Remote`) over a directory. Each run sees the same stored
//! SSTables: a clean one, one with a flipped byte in `Data.db`, one whose `TOC.txt` lists a
//! component the backup lacks, one with a truncated `Data.db`, one whose snapshot bytes are in a
//! versioned `.sm_<tag>` copy (the plain object holds other bytes), and one whose `Data.db` is
//! missing.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cairn::agent::storage::Remote;
use cairn::agent::wire::{CheckOutcome, CheckedFile, FindingKind, SSTableCheck};
use cairn::manager::validate::source::{CheckOptions, CheckProgress, ValidateSource};
use common::TestCluster;
use common::agent::{AgentProcess, config_yaml};
use common::servers::S3Server;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const BUCKET: &str = "cairn-check";
const DIR: &str = "backup/sst/cluster/c/dc/dc1/node/n/keyspace/ks/table/t/v1";
const TAG: &str = "sm_20240101000000UTC";

/// `n` bytes of a pattern seeded by `seed` (no two SSTables alike).
fn content(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The stored objects (name -> bytes) and the check request of one SSTable.
struct Stored {
    objects: Vec<(String, Vec<u8>)>,
    check: SSTableCheck,
}

/// A complete SSTable of generation `generation`: Data.db, Index.db, a true Digest.crc32 and a
/// TOC.txt listing exactly these four.
fn sstable(generation: u32) -> Stored {
    let data = content(generation, 200_000 + generation as usize * 1000);
    let files = vec![
        ("Data.db", data.clone()),
        ("Index.db", content(generation + 100, 3000)),
        (
            "Digest.crc32",
            crc32fast::hash(&data).to_string().into_bytes(),
        ),
        (
            "TOC.txt",
            b"Data.db\nIndex.db\nDigest.crc32\nTOC.txt\n".to_vec(),
        ),
    ];
    let objects: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(c, b)| (format!("me-{generation}-big-{c}"), b))
        .collect();
    let check = SSTableCheck {
        dir: DIR.into(),
        files: objects
            .iter()
            .map(|(n, b)| CheckedFile {
                name: n.clone(),
                object: n.clone(),
                size: b.len() as u64,
            })
            .collect(),
    };
    Stored { objects, check }
}

/// The six SSTables every test stores, with their faults.
fn fixtures() -> Vec<Stored> {
    let clean = sstable(1);

    let mut flipped = sstable(2);
    flipped.objects[0].1[1234] ^= 0x40;

    let mut toc = sstable(3);
    toc.objects[3].1 = b"Data.db\nIndex.db\nSummary.db\nDigest.crc32\nTOC.txt\n".to_vec();
    toc.check.files[3].size = toc.objects[3].1.len() as u64;

    let mut truncated = sstable(4);
    truncated.objects[0].1.truncate(150_000);

    // The snapshot's Data.db is kept as a versioned copy; the plain object holds newer bytes.
    let mut versioned = sstable(5);
    let good = versioned.objects[0].1.clone();
    versioned.objects[0].1 = content(999, good.len());
    let object = format!("me-5-big-Data.db.{TAG}");
    versioned.objects.push((object.clone(), good));
    versioned.check.files[0].object = object;

    let mut missing = sstable(6);
    missing.objects.remove(0);

    vec![clean, flipped, toc, truncated, versioned, missing]
}

fn file(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// Asserts what a check of [`fixtures`] must find, whatever ran it.
fn assert_findings(outcome: &CheckOutcome) {
    assert_eq!(outcome.sstables_checked, 6, "{outcome:?}");
    let found = |f: &str, kind: FindingKind| {
        outcome
            .findings
            .iter()
            .filter(|x| x.file == file(f) && x.kind == kind)
            .map(|x| x.detail.clone())
            .collect::<Vec<_>>()
    };
    for clean in ["me-1-", "me-5-"] {
        let about: Vec<_> = outcome
            .findings
            .iter()
            .filter(|f| f.file.contains(clean))
            .collect();
        assert!(about.is_empty(), "{clean}: nothing wrong, found {about:?}");
    }
    let digest = found("me-2-big-Data.db", FindingKind::Digest);
    assert_eq!(digest.len(), 1, "{outcome:?}");
    assert!(digest[0].contains("Digest.crc32 says"), "{digest:?}");
    assert!(
        !outcome
            .findings
            .iter()
            .any(|f| f.file.contains("me-2-") && f.kind != FindingKind::Digest),
        "a flipped byte keeps the size: {outcome:?}"
    );

    let toc = found("me-3-big-TOC.txt", FindingKind::Toc);
    assert_eq!(
        toc,
        vec!["TOC.txt lists Summary.db, not in the backup".to_string()]
    );

    let size = found("me-4-big-Data.db", FindingKind::Size);
    assert_eq!(size.len(), 1, "{outcome:?}");
    assert!(size[0].contains("read 150000 bytes"), "{size:?}");
    assert_eq!(found("me-4-big-Data.db", FindingKind::Digest).len(), 1);

    assert_eq!(
        found("me-6-big-Data.db", FindingKind::Size),
        vec!["missing".to_string()]
    );
    assert_eq!(outcome.findings.len(), 5, "{:#?}", outcome.findings);
}

/// The check requests of [`fixtures`].
fn requests(stored: &[Stored]) -> Vec<SSTableCheck> {
    stored.iter().map(|s| s.check.clone()).collect()
}

/// Writes [`fixtures`] into `store`.
async fn put_all(store: &dyn ObjectStore, stored: &[Stored]) {
    for s in stored {
        for (name, bytes) in &s.objects {
            store
                .put(&ObjPath::from(file(name)), PutPayload::from(bytes.clone()))
                .await
                .unwrap();
        }
    }
}

/// A node and its agent, with a `localstorage:bkt` directory location and, when given, S3.
struct Setup {
    _cluster: TestCluster,
    agent: AgentProcess,
    bucket: PathBuf,
    _dir: tempfile::TempDir,
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
            _cluster: cluster,
            agent,
            bucket,
            _dir: dir,
        }
    }

    /// Runs a check job to its end; returns its last progress.
    async fn check(&self, body: Value) -> Value {
        let (status, v) = self
            .agent
            .call(Method::POST, "/agent/jobs/check", Some(body))
            .await;
        assert_eq!(status, 200, "{v}");
        let id = v["id"].as_str().expect("job id").to_string();
        self.agent.wait(&id).await
    }
}

/// The outcome in a finished check job's progress, after checking the job's own counts.
fn outcome_of(progress: &Value) -> CheckOutcome {
    assert_eq!(progress["status"], "success", "{progress}");
    assert_eq!(progress["kind"], "check");
    assert_eq!(progress["files_total"], 6);
    assert_eq!(progress["files_transferred"], 6);
    assert!(progress["bytes_transferred"].as_u64().unwrap() > 1_000_000);
    serde_json::from_value(progress["check"].clone()).expect("check outcome")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_checks_sstables_in_a_directory_location() {
    let s = Setup::new(None).await;
    let stored = fixtures();
    let local = LocalFileSystem::new_with_prefix(&s.bucket).unwrap();
    put_all(&local, &stored).await;

    let progress = s
        .check(
            json!({"location": "localstorage:bkt", "sstables": requests(&stored),
            "md5": true, "transfers": 3}),
        )
        .await;
    let outcome = outcome_of(&progress);
    assert_findings(&outcome);
    // A directory keeps no MD5: every object read is unavailable, none compared.
    assert_eq!(outcome.md5_checked, 0);
    assert!(outcome.md5_unavailable >= 20, "{outcome:?}");

    let metrics = s.agent.metrics().await;
    assert!(
        metrics.contains("cairn_agent_check_findings_total{kind=\"digest\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cairn_agent_check_bytes_total"),
        "{metrics}"
    );

    // Paths are checked as a download's are, before anything starts.
    for (sstables, field) in [
        (
            json!([{"dir": "backup/../etc", "files": []}]),
            "sstables[0].dir",
        ),
        (
            json!([{"dir": DIR, "files": [{"name": "a", "object": "../x", "size": 1}]}]),
            "sstables[0].files[0].object",
        ),
    ] {
        let (status, v) = s
            .agent
            .call(
                Method::POST,
                "/agent/jobs/check",
                Some(json!({"location": "localstorage:bkt", "sstables": sstables})),
            )
            .await;
        assert_eq!(status, 400, "{v}");
        assert!(
            v["message"].as_str().unwrap_or_default().contains(field),
            "{v}"
        );
    }
    let (status, v) = s
        .agent
        .call(
            Method::POST,
            "/agent/jobs/check",
            Some(json!({"location": "localstorage:bkt", "sstables": [], "surprise": 1})),
        )
        .await;
    assert!(
        status == 400 || status == 422,
        "unknown fields are refused: {status} {v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_checks_sstables_on_s3_and_compares_md5s() {
    let Some(server) = S3Server::rclone().await else {
        return;
    };
    let s = Setup::new(Some(&server)).await;
    let stored = fixtures();
    put_all(server.object_store(BUCKET).as_ref(), &stored).await;
    let location = format!("s3:{BUCKET}");

    let progress = s
        .check(json!({"location": location, "sstables": requests(&stored)}))
        .await;
    let outcome = outcome_of(&progress);
    assert_findings(&outcome);
    assert_eq!((outcome.md5_checked, outcome.md5_unavailable), (0, 0));

    // With md5: every object that exists is single-part, so its ETag is its MD5.
    let progress = s
        .check(json!({"location": location, "sstables": requests(&stored), "md5": true}))
        .await;
    let outcome = outcome_of(&progress);
    assert_findings(&outcome);
    let objects: u64 = stored
        .iter()
        .map(|s| s.check.files.len() as u64)
        .sum::<u64>()
        - 1;
    assert_eq!(outcome.md5_checked, objects, "{outcome:?}");
    assert_eq!(outcome.md5_unavailable, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_check_reads_the_store_itself() {
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let stored = fixtures();
    put_all(local.as_ref(), &stored).await;
    let remote = Remote {
        location: "localstorage:bkt".parse().unwrap(),
        store: local,
        local_dir: Some(dir.path().to_path_buf()),
        signer: None,
    };
    let location = remote.location.clone();
    let seen = Mutex::new(Vec::new());
    let on_progress = |p: CheckProgress| seen.lock().unwrap().push(p);
    let options = CheckOptions {
        md5: false,
        transfers: Some(2),
        rate_limit: None,
    };
    let outcome = remote
        .check_content(
            &location,
            requests(&stored),
            options,
            &CancellationToken::new(),
            &on_progress,
        )
        .await
        .unwrap();
    assert_findings(&outcome);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 6);
    assert_eq!(seen.last().map(|p| p.sstables), Some(6));
    assert!(seen.windows(2).all(|w| w[0].bytes <= w[1].bytes));

    // The listing validate compares manifests with: files with sizes and times.
    let entries = remote.list_entries(&location, DIR).await.unwrap();
    let data = entries
        .iter()
        .find(|e| e.path == "me-1-big-Data.db")
        .expect("listed");
    assert_eq!(data.size, 201_000);
    assert!(data.modified.is_some() && !data.dir);
    assert!(
        remote
            .list_entries(&location, "backup/none")
            .await
            .unwrap()
            .is_empty()
    );

    // Deleting counts what is gone, including what already was.
    let gone = vec![file("me-1-big-Index.db"), file("me-1-big-never.db")];
    assert_eq!(remote.delete(&location, &gone).await.unwrap(), 2);
    assert!(!dir.path().join(DIR).join("me-1-big-Index.db").exists());

    // A stopped check returns what it had found (here: nothing yet).
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcome = remote
        .check_content(&location, requests(&stored), options, &cancel, &|_| {})
        .await
        .unwrap();
    assert_eq!(outcome.sstables_checked, 0);
}
