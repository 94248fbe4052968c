//! The check of node directories (`validate_node`) and of a whole location (the offline check)
//! against a real directory bucket built as backups leave it: two nodes, two final snapshots
//! sharing files, an unfinished run's temporary manifest; then each fault a user would look for.
//! The location is reached through a small `ValidateSource` over the directory (listing with
//! modification times, deleting, a content check that flags files whose bytes start with `BAD`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cairn::agent::storage::Remote;
use cairn::agent::wire::{CheckOutcome, ContentFinding, Entry, FindingKind, SSTableCheck};
use cairn::format::location::Location;
use cairn::format::manifest::{FilesMeta, Manifest, ManifestContent};
use cairn::format::paths::{
    remote_manifest_file, remote_schema_file, remote_sstable_version_dir, scylla_manifest_name,
    temp_file,
};
use cairn::format::sstable::versioned_name;
use cairn::format::tag::SnapshotTag;
use cairn::manager::location::reader::{LocationReader, ReadError};
use cairn::manager::validate::location::{NodeManifests, node_dirs};
use cairn::manager::validate::node::{NodeOptions, validate_node};
use cairn::manager::validate::offline::{OfflineRequest, validate_location_with};
use cairn::manager::validate::properties::ContentCheck;
use cairn::manager::validate::report::{NodeReport, ValidateReport};
use cairn::manager::validate::source::{CheckOptions, CheckProgress, ValidateSource};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const DC: &str = "dc1";
const NODES: [&str; 2] = ["n1", "n2"];
const KS: &str = "ks";
const TABLE: &str = "t";
const VERSION: &str = "0123456789abcdef0123456789abcdef";
const T0: &str = "sm_20251231000000UTC";
const T1: &str = "sm_20260101000000UTC";
const T2: &str = "sm_20260102000000UTC";
const T3: &str = "sm_20260103000000UTC";
const COMPONENTS: [&str; 3] = ["Data.db", "Digest.crc32", "TOC.txt"];

fn tag(s: &str) -> SnapshotTag {
    s.parse().unwrap()
}

/// The component names of SSTable generation `g`.
fn sstable(g: u32) -> Vec<String> {
    COMPONENTS
        .iter()
        .map(|c| format!("me-{g}-big-{c}"))
        .collect()
}

/// A directory bucket and the backups in it.
struct Bucket {
    /// Keeps the directory.
    _tmp: tempfile::TempDir,
    /// The bucket's root.
    root: PathBuf,
    /// The cluster.
    cluster: Uuid,
    /// The backup task.
    task: Uuid,
}

impl Bucket {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Bucket {
            _tmp: tmp,
            root,
            cluster: Uuid::from_u128(0xc1),
            task: Uuid::from_u128(0x7a),
        }
    }

    /// The table version dir of `node`, relative to the root.
    fn dir(&self, node: &str) -> String {
        remote_sstable_version_dir(self.cluster, DC, node, KS, TABLE, VERSION)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes `bytes` at `rel`.
    fn put(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// Writes the files of `names` into `node`'s table dir (each holding its name and node).
    fn upload(&self, node: &str, names: &[String]) {
        for n in names {
            self.put(
                &format!("{}/{n}", self.dir(node)),
                format!("{n} of {node}").as_bytes(),
            );
        }
    }

    fn size(&self, rel: &str) -> i64 {
        std::fs::metadata(self.path(rel)).unwrap().len() as i64
    }

    /// Writes the manifest of snapshot `t` of `node` referencing `files` (their current sizes),
    /// its Scylla manifest and, when final, its schema file.
    fn manifest(&self, node: &str, t: &str, files: &[String], temporary: bool) {
        let t = tag(t);
        let dir = self.dir(node);
        let scylla = scylla_manifest_name(&t, node);
        self.put(&format!("{dir}/{scylla}"), b"{}");
        let size = files.iter().map(|f| self.size(&format!("{dir}/{f}"))).sum();
        let schema = remote_schema_file(self.cluster, self.task, &t);
        if !temporary {
            self.put(&schema, b"schema");
        }
        let manifest = Manifest {
            content: ManifestContent {
                size,
                schema,
                dc: DC.into(),
                cluster_id: self.cluster,
                node_id: node.into(),
                task_id: self.task,
                snapshot_tag: Some(t.clone()),
                ..ManifestContent::default()
            },
            index: vec![FilesMeta {
                keyspace: KS.into(),
                table: TABLE.into(),
                version: VERSION.into(),
                files: files.to_vec(),
                size,
                scylla_manifests: vec![scylla],
                ..FilesMeta::default()
            }],
        };
        let mut bytes = Vec::new();
        manifest.write_gzip(&mut bytes).unwrap();
        let path = remote_manifest_file(self.cluster, self.task, &t, DC, node);
        let path = if temporary { temp_file(&path) } else { path };
        self.put(&path, &bytes);
    }

    /// Two nodes, each: snapshot T1 of SSTable 1, T2 of SSTables 1 and 2, and an unfinished run
    /// T3 (temporary manifest) of SSTables 1, 2 and 3; n2 also keeps T1's temporary manifest
    /// beside its final one.
    fn standard() -> Self {
        let b = Bucket::new();
        for node in NODES {
            b.upload(node, &sstable(1));
            b.manifest(node, T1, &sstable(1), false);
            b.upload(node, &sstable(2));
            b.manifest(node, T2, &[sstable(1), sstable(2)].concat(), false);
            b.upload(node, &sstable(3));
            b.manifest(
                node,
                T3,
                &[sstable(1), sstable(2), sstable(3)].concat(),
                true,
            );
        }
        b.manifest("n2", T1, &sstable(1), true);
        b
    }

    /// Sets the modification time of every file to `age` ago.
    fn age_all(&self, age: Duration) {
        fn walk(p: &Path, t: SystemTime) {
            for e in std::fs::read_dir(p).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), t);
                } else {
                    let f = std::fs::File::options().write(true).open(e.path()).unwrap();
                    f.set_modified(t).unwrap();
                }
            }
        }
        walk(&self.root, SystemTime::now() - age);
    }

    fn source(&self) -> DirSource {
        let location: Location = "localstorage:bkt".parse().unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(&self.root).unwrap();
        DirSource {
            remote: Remote {
                location,
                store: Arc::new(store),
                local_dir: Some(self.root.clone()),
                signer: None,
            },
            root: self.root.clone(),
            checked: Mutex::new(Vec::new()),
        }
    }
}

/// A `ValidateSource` over a directory bucket.
struct DirSource {
    /// Lists and reads (the store reached directly).
    remote: Remote,
    /// The bucket's directory.
    root: PathBuf,
    /// Every SSTable sent to the content check.
    checked: Mutex<Vec<SSTableCheck>>,
}

impl LocationReader for DirSource {
    async fn list_files(&self, location: &Location, dir: &str) -> Result<Vec<String>, ReadError> {
        self.remote.list_files(location, dir).await
    }

    async fn read(&self, location: &Location, path: &str) -> Result<Bytes, ReadError> {
        self.remote.read(location, path).await
    }
}

impl ValidateSource for DirSource {
    async fn list_entries(&self, _location: &Location, dir: &str) -> Result<Vec<Entry>, ReadError> {
        fn walk(base: &Path, p: &Path, out: &mut Vec<Entry>) {
            let Ok(rd) = std::fs::read_dir(p) else { return };
            for e in rd {
                let e = e.unwrap();
                let meta = e.metadata().unwrap();
                if meta.is_dir() {
                    walk(base, &e.path(), out);
                } else {
                    out.push(Entry {
                        path: e
                            .path()
                            .strip_prefix(base)
                            .unwrap()
                            .to_string_lossy()
                            .into(),
                        size: meta.len(),
                        dir: false,
                        modified: Some(DateTime::<Utc>::from(meta.modified().unwrap())),
                    });
                }
            }
        }
        let base = self.root.join(dir);
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        Ok(out)
    }

    async fn delete(&self, _location: &Location, paths: &[String]) -> Result<u64, ReadError> {
        for p in paths {
            let _ = std::fs::remove_file(self.root.join(p));
        }
        Ok(paths.len() as u64)
    }

    async fn check_content(
        &self,
        _location: &Location,
        sstables: Vec<SSTableCheck>,
        _options: CheckOptions,
        _cancel: &CancellationToken,
        on_progress: &(dyn Fn(CheckProgress) + Send + Sync),
    ) -> Result<CheckOutcome, ReadError> {
        let mut outcome = CheckOutcome::default();
        let mut bytes = 0;
        for s in &sstables {
            for f in &s.files {
                let path = format!("{}/{}", s.dir, f.object);
                let content = std::fs::read(self.root.join(&path)).unwrap();
                bytes += content.len() as u64;
                if content.starts_with(b"BAD") {
                    outcome.findings.push(ContentFinding {
                        file: path,
                        kind: FindingKind::Digest,
                        detail: "crc32 0 expected, 1 found".into(),
                    });
                }
            }
            outcome.sstables_checked += 1;
            on_progress(CheckProgress {
                sstables: outcome.sstables_checked,
                bytes,
            });
        }
        self.checked.lock().unwrap().extend(sstables);
        Ok(outcome)
    }

    fn checked_by(&self) -> String {
        "test".into()
    }
}

fn options() -> NodeOptions {
    NodeOptions {
        content: ContentCheck::None,
        sample: 100,
        round: 0,
        find_orphans: true,
        delete_orphans: false,
        cutoff: Utc::now() - chrono::Duration::hours(1),
        check: CheckOptions::default(),
    }
}

fn location() -> Location {
    "localstorage:bkt".parse().unwrap()
}

async fn nodes(src: &DirSource) -> Vec<NodeManifests> {
    node_dirs(src, &location(), None, &[]).await.unwrap()
}

/// Checks every node of the bucket with `options`.
async fn check(src: &DirSource, options: &NodeOptions) -> Vec<NodeReport> {
    let mut out = Vec::new();
    for n in nodes(src).await {
        let r = validate_node(
            src,
            &location(),
            &n,
            options,
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap();
        out.push(r);
    }
    out
}

fn whole(nodes: Vec<NodeReport>, delete: bool) -> ValidateReport {
    ValidateReport {
        delete_orphaned_files: delete,
        locations: vec![cairn::manager::validate::report::LocationReport {
            location: "localstorage:bkt".into(),
            cluster_id: None,
            nodes,
        }],
        ..ValidateReport::default()
    }
}

#[tokio::test]
async fn a_whole_location_is_clean() {
    let b = Bucket::standard();
    let src = b.source();
    let groups = nodes(&src).await;
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[1].temporaries.len(),
        1,
        "n2's T1 temporary is shadowed"
    );
    let mut opts = options();
    opts.content = ContentCheck::Digest;
    let reports = check(&src, &opts).await;
    for (r, node) in reports.iter().zip(NODES) {
        assert_eq!((r.dc.as_str(), r.node_id.as_str()), (DC, node));
        assert_eq!(r.checked_by, "test");
        assert_eq!(r.manifests, 2);
        assert_eq!(r.temporary_manifests, 1);
        // SSTables 1 and 2, two Scylla manifests, two schema files.
        assert_eq!(r.files, 10, "{r:#?}");
        assert_eq!(r.scanned_files, 12, "3 SSTables and 3 Scylla manifests");
        assert_eq!(r.missing_files, 0, "{:?}", r.missing);
        assert!(r.broken_snapshots.is_empty());
        assert!(r.size_mismatches.is_empty(), "{:?}", r.size_mismatches);
        assert_eq!(r.orphaned_files, 0, "{:?}", r.orphans);
        assert_eq!(
            r.sstables_checked, 2,
            "SSTable 1 is checked once for both snapshots"
        );
        assert_eq!(r.sstables_skipped, 0);
        assert!(r.bytes_checked > 0);
        assert_eq!(r.corrupt_files, 0);
        assert!(r.error.is_none());
        assert!(r.started_at.is_some() && r.completed_at >= r.started_at);
    }
    let checked = src.checked.lock().unwrap().clone();
    assert_eq!(checked.len(), 4);
    assert!(checked.iter().all(|s| s.files.len() == 3));
    let report = whole(reports, false);
    assert!(report.healthy());
    assert_eq!(report.failure(), None);
}

#[tokio::test]
async fn a_deleted_data_file_breaks_only_the_snapshots_referencing_it() {
    let b = Bucket::standard();
    let gone = format!("{}/me-2-big-Data.db", b.dir("n1"));
    std::fs::remove_file(b.path(&gone)).unwrap();
    let reports = check(&b.source(), &options()).await;
    assert_eq!(reports[0].missing_files, 1);
    assert_eq!(reports[0].missing, vec![gone]);
    assert_eq!(reports[0].broken_snapshots, vec![T2.to_string()]);
    assert!(!reports[1].damaged(), "{:#?}", reports[1]);
    let report = whole(reports, false);
    assert_eq!(report.failure().unwrap(), format!("broken snapshots: {T2}"));
}

#[tokio::test]
async fn a_truncated_file_is_a_size_mismatch_naming_its_dir_and_snapshots() {
    let b = Bucket::standard();
    let data = format!("{}/me-1-big-Data.db", b.dir("n2"));
    let size = b.size(&data) as u64;
    std::fs::File::options()
        .write(true)
        .open(b.path(&data))
        .unwrap()
        .set_len(size - 4)
        .unwrap();
    let reports = check(&b.source(), &options()).await;
    assert!(!reports[0].damaged());
    let r = &reports[1];
    assert_eq!(r.missing_files, 0);
    assert_eq!(r.broken_snapshots, vec![T1.to_string(), T2.to_string()]);
    assert_eq!(
        r.size_mismatches.len(),
        2,
        "T1 and T2 expect different sizes"
    );
    for (m, t) in r.size_mismatches.iter().zip([T1, T2]) {
        assert_eq!(m.dir, b.dir("n2"));
        assert_eq!((m.keyspace.as_str(), m.table.as_str()), (KS, TABLE));
        assert_eq!(m.snapshots, vec![t.to_string()]);
        assert_eq!(m.found, m.expected - 4);
        assert!(
            m.files
                .contains(&("me-1-big-Data.db".to_string(), Some(size - 4)))
        );
    }
}

#[tokio::test]
async fn snapshots_expecting_the_same_size_are_named_in_one_mismatch() {
    let b = Bucket::new();
    b.upload("n1", &sstable(1));
    b.manifest("n1", T1, &sstable(1), false);
    b.manifest("n1", T2, &sstable(1), false);
    let data = format!("{}/me-1-big-TOC.txt", b.dir("n1"));
    b.put(&data, b"x");
    let reports = check(&b.source(), &options()).await;
    let m = &reports[0].size_mismatches;
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].snapshots, vec![T1.to_string(), T2.to_string()]);
}

#[tokio::test]
async fn a_missing_schema_file_breaks_its_snapshot() {
    let b = Bucket::standard();
    let schema = remote_schema_file(b.cluster, b.task, &tag(T1));
    std::fs::remove_file(b.path(&schema)).unwrap();
    let reports = check(&b.source(), &options()).await;
    for r in &reports {
        assert_eq!(r.missing, vec![schema.clone()]);
        assert_eq!(r.broken_snapshots, vec![T1.to_string()]);
    }
}

#[tokio::test]
async fn orphans_are_counted_and_fail_the_run_unless_deleted() {
    let b = Bucket::standard();
    let stray = format!("{}/me-9-big-Data.db", b.dir("n1"));
    b.put(&stray, b"12345");
    let reports = check(&b.source(), &options()).await;
    assert_eq!(reports[0].orphaned_files, 1);
    assert_eq!(reports[0].orphaned_bytes, 5);
    assert_eq!(reports[0].orphans, vec![stray.clone()]);
    assert_eq!(reports[0].deleted_files, 0);
    assert!(b.path(&stray).exists());
    assert_eq!(reports[1].orphaned_files, 0);
    let report = whole(reports, false);
    assert!(report.healthy(), "orphans do not damage backups");
    assert_eq!(report.failure().unwrap(), "orphaned files: 1 (5 bytes)");
    let mut opts = options();
    opts.find_orphans = false;
    let reports = check(&b.source(), &opts).await;
    assert_eq!(reports[0].orphaned_files, 0, "orphans not looked for");
    // A file written while the check runs (here: stamped later) belongs to a backup whose
    // manifest the check could not read: not an orphan.
    let later = format!("{}/me-7-big-Data.db", b.dir("n2"));
    b.put(&later, b"uploading");
    std::fs::File::options()
        .write(true)
        .open(b.path(&later))
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    let reports = check(&b.source(), &options()).await;
    assert_eq!(reports[0].orphans, vec![stray]);
    assert_eq!(reports[1].orphaned_files, 0, "{:?}", reports[1].orphans);
}

#[tokio::test]
async fn deletion_removes_exactly_the_old_orphans() {
    let b = Bucket::standard();
    let dir = b.dir("n1");
    // SSTable 2 is first referenced by T2: a copy kept for T0 (earlier) holds nothing needed.
    let unneeded = format!("{dir}/{}", versioned_name("me-2-big-Data.db", &tag(T0)));
    b.put(&unneeded, b"old");
    let old = format!("{dir}/me-8-big-Data.db");
    b.put(&old, b"old orphan");
    // SSTable 1's bytes for T1, replaced in T2: kept as a versioned copy, still needed.
    let needed = format!("{dir}/{}", versioned_name("me-1-big-Data.db", &tag(T2)));
    std::fs::copy(b.path(&format!("{dir}/me-1-big-Data.db")), b.path(&needed)).unwrap();
    b.age_all(Duration::from_secs(2 * 24 * 3600));
    let new = format!("{dir}/me-9-big-Data.db");
    b.put(&new, b"new orphan");
    let mut opts = options();
    opts.delete_orphans = true;
    let src = b.source();
    let reports = check(&src, &opts).await;
    let r = &reports[0];
    assert!(!r.damaged(), "{r:#?}");
    assert_eq!(r.orphaned_files, 3, "{:?}", r.orphans);
    let mut deleted = vec![old.clone(), unneeded.clone()];
    deleted.sort();
    assert_eq!(r.deleted, deleted);
    assert_eq!(r.deleted_files, 2);
    assert_eq!(r.kept_orphans, 1, "the new orphan");
    assert!(!b.path(&old).exists() && !b.path(&unneeded).exists());
    assert!(b.path(&new).exists(), "newer than the cut-off");
    assert!(b.path(&needed).exists(), "the versioned copy T1 needs");
    for f in sstable(3) {
        assert!(
            b.path(&format!("{dir}/{f}")).exists(),
            "{f} of the unfinished run"
        );
    }
    let again = check(&src, &opts).await;
    assert_eq!(again[0].orphans, vec![new]);
    assert_eq!(again[0].deleted_files, 0);
    assert!(!again[0].damaged());
    assert!(
        whole(again, true).failure().is_none(),
        "orphans being deleted do not fail it"
    );
}

#[tokio::test]
async fn the_older_snapshot_is_checked_against_its_versioned_copy() {
    let b = Bucket::new();
    let dir = b.dir("n1");
    let data = format!("{dir}/me-1-big-Data.db");
    b.upload("n1", &sstable(1));
    b.put(&data, b"T1's bytes, longer than T2's");
    b.manifest("n1", T1, &sstable(1), false);
    // T2 uploads new bytes under the same name, keeping T1's under the version tag T2.
    let copy = format!("{dir}/{}", versioned_name("me-1-big-Data.db", &tag(T2)));
    std::fs::rename(b.path(&data), b.path(&copy)).unwrap();
    b.put(&data, b"T2's bytes");
    b.manifest("n1", T2, &sstable(1), false);
    let src = b.source();
    let mut opts = options();
    opts.content = ContentCheck::Full;
    let reports = check(&src, &opts).await;
    let r = &reports[0];
    assert!(!r.damaged(), "{r:#?}");
    assert_eq!(r.orphaned_files, 0, "{:?}", r.orphans);
    assert_eq!(
        r.sstables_checked, 2,
        "one SSTable, different objects per snapshot"
    );
    let checked = src.checked.lock().unwrap().clone();
    let objects: Vec<(String, u64)> = checked
        .iter()
        .flat_map(|s| s.files.iter())
        .filter(|f| f.name == "me-1-big-Data.db")
        .map(|f| (f.object.clone(), f.size))
        .collect();
    assert!(objects.contains(&(copy.rsplit('/').next().unwrap().to_string(), 28)));
    assert!(objects.contains(&("me-1-big-Data.db".to_string(), 10)));
    // The plain file gone: only T2 is broken, T1 has its copy.
    std::fs::remove_file(b.path(&data)).unwrap();
    let reports = check(&src, &options()).await;
    assert_eq!(reports[0].missing, vec![data]);
    assert_eq!(reports[0].broken_snapshots, vec![T2.to_string()]);
}

#[tokio::test]
async fn corrupt_content_breaks_the_snapshots_holding_it() {
    let b = Bucket::standard();
    let data = format!("{}/me-2-big-Data.db", b.dir("n1"));
    let len = b.size(&data) as usize;
    b.put(&data, &[b"BAD".as_slice(), &vec![b'x'; len - 3]].concat());
    let mut opts = options();
    opts.content = ContentCheck::Digest;
    let reports = check(&b.source(), &opts).await;
    let r = &reports[0];
    assert_eq!(r.corrupt_files, 1);
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].file, data);
    assert_eq!(r.findings[0].kind, FindingKind::Digest);
    assert_eq!(r.broken_snapshots, vec![T2.to_string()]);
    assert!(r.size_mismatches.is_empty());
    assert!(!reports[1].damaged());
    let failure = whole(reports, false).failure().unwrap();
    assert!(
        failure.contains(&format!("broken snapshots: {T2}")),
        "{failure}"
    );
    assert!(failure.contains("1 corrupt files"), "{failure}");
}

#[tokio::test]
async fn the_sample_rotates_over_every_sstable() {
    let b = Bucket::new();
    let files: Vec<String> = (1..=40).flat_map(sstable).collect();
    b.upload("n1", &files);
    b.manifest("n1", T1, &files, false);
    let src = b.source();
    let mut seen = std::collections::BTreeMap::new();
    for round in 0..4 {
        let mut opts = options();
        opts.content = ContentCheck::Digest;
        opts.sample = 25;
        opts.round = round;
        let before = src.checked.lock().unwrap().len();
        let r = &check(&src, &opts).await[0];
        assert_eq!(r.sstables_checked + r.sstables_skipped, 40);
        assert!(r.sstables_checked < 40, "round {round} checked everything");
        for s in &src.checked.lock().unwrap()[before..] {
            *seen.entry(s.files[0].name.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(
        seen.len(),
        40,
        "every SSTable checked within 4 rounds of 25%"
    );
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
}

#[tokio::test]
async fn a_stopped_check_says_so() {
    let b = Bucket::standard();
    let src = b.source();
    let n = &nodes(&src).await[0];
    let cancel = CancellationToken::new();
    cancel.cancel();
    let r = validate_node(&src, &location(), n, &options(), &cancel, &|_| {})
        .await
        .unwrap();
    assert_eq!(r.error.as_deref(), Some("stopped"));
    assert_eq!(r.scanned_files, 12);
}

#[tokio::test]
async fn offline_keeps_files_of_unfinished_runs_and_reports_every_node() {
    let b = Bucket::standard();
    let dir = b.dir("n1");
    let old = format!("{dir}/me-8-big-Data.db");
    b.put(&old, b"old orphan");
    b.age_all(Duration::from_secs(2 * 24 * 3600));
    // n2's T2 manifest is unreadable: n2 reports the error, n1 is still checked.
    let bad = remote_manifest_file(b.cluster, b.task, &tag(T2), DC, "n2");
    b.put(&bad, b"not gzip");
    let src = b.source();
    let mut node = options();
    node.delete_orphans = true;
    node.find_orphans = false;
    let request = OfflineRequest {
        cluster: None,
        tags: Vec::new(),
        node,
        parallel: 2,
    };
    let finished = Mutex::new(Vec::new());
    let on_node = |r: &NodeReport| finished.lock().unwrap().push(r.node_id.clone());
    let report = validate_location_with(
        &src,
        &location(),
        &request,
        &CancellationToken::new(),
        &on_node,
    )
    .await
    .unwrap();
    let ids: Vec<&str> = report.nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(ids, NODES);
    assert_eq!(finished.lock().unwrap().len(), 2);
    let n1 = &report.nodes[0];
    assert_eq!(
        n1.orphans,
        vec![old.clone()],
        "orphans looked for with no tags"
    );
    assert_eq!(
        n1.deleted_files, 0,
        "T3 is unfinished: nothing newer than its tag is deleted"
    );
    assert_eq!(n1.kept_orphans, 1);
    assert!(b.path(&old).exists());
    let n2 = &report.nodes[1];
    let error = n2.error.as_deref().unwrap();
    assert!(error.contains(&bad), "{error}");

    // The unfinished run gone, the old orphan may go.
    for node in NODES {
        let tmp = temp_file(&remote_manifest_file(b.cluster, b.task, &tag(T3), DC, node));
        std::fs::remove_file(b.path(&tmp)).unwrap();
    }
    let report = validate_location_with(
        &src,
        &location(),
        &request,
        &CancellationToken::new(),
        &|_| {},
    )
    .await
    .unwrap();
    // SSTable 3 and T3's Scylla manifest belonged to T3 only: orphans now, old enough to go.
    let deleted = &report.nodes[0].deleted;
    assert_eq!(report.nodes[0].deleted_files, 5, "{deleted:?}");
    assert!(deleted.contains(&old), "{deleted:?}");
    assert!(
        deleted.iter().any(|p| p.ends_with("me-3-big-Data.db")),
        "{deleted:?}"
    );
    assert!(!b.path(&old).exists());

    // With tags, orphans are not looked for.
    let tagged = OfflineRequest {
        tags: vec![tag(T1)],
        ..request.clone()
    };
    let report = validate_location_with(
        &src,
        &location(),
        &tagged,
        &CancellationToken::new(),
        &|_| {},
    )
    .await
    .unwrap();
    assert!(
        report
            .nodes
            .iter()
            .all(|n| n.orphaned_files == 0 && n.manifests == 1)
    );
}

#[tokio::test]
async fn progress_is_reported_every_thousand_files_and_as_content_checks_finish() {
    let b = Bucket::new();
    let files: Vec<String> = (1..=350).flat_map(sstable).collect();
    b.upload("n1", &files);
    b.manifest("n1", T1, &files, false);
    let src = b.source();
    let n = &nodes(&src).await[0];
    let mut opts = options();
    opts.content = ContentCheck::Digest;
    let seen = Mutex::new(Vec::new());
    let on_progress = |r: &NodeReport| {
        seen.lock()
            .unwrap()
            .push((r.scanned_files, r.sstables_checked))
    };
    let r = validate_node(
        &src,
        &location(),
        n,
        &opts,
        &CancellationToken::new(),
        &on_progress,
    )
    .await
    .unwrap();
    assert_eq!(r.scanned_files, 1051);
    assert_eq!(r.sstables_checked, 350);
    let seen = seen.into_inner().unwrap();
    assert!(seen.contains(&(1000, 0)), "{:?}", &seen[..3]);
    let checked: Vec<u64> = seen.iter().map(|(_, c)| *c).filter(|c| *c > 0).collect();
    assert!(checked.windows(2).all(|w| w[0] <= w[1]), "{checked:?}");
    let mut steps = checked.clone();
    steps.dedup();
    assert_eq!(
        steps,
        (1..=350).collect::<Vec<u64>>(),
        "a report per SSTable checked"
    );
}
