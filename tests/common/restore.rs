//! Restores as a user runs them: a source cluster backed up to a shared bucket directory and a
//! second, fresh cluster restored into, each emulated with an agent beside every node, one manager
//! managing both (`prod` and `fresh`), all real processes on loopback.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn::emulator::EmulatorConfig;
use cairn::emulator::records::records_of_file;
use cairn::format::manifest::Manifest;
use cairn::format::sstable::version_for_tag;
use cairn::format::tag::SnapshotTag;
use reqwest::Method;
use serde_json::Value;

use super::TestCluster;
use super::agent::{AgentProcess, TOKEN, start_fleet};
use super::cli::{Run, cairn};
use super::manager::ManagerProcess;

/// The source cluster `prod`, the target cluster `fresh`, their agents and one manager.
pub struct RestoreSetup {
    /// The backed-up cluster (`prod`).
    pub source: TestCluster,
    /// Its agents.
    pub source_agents: Vec<AgentProcess>,
    /// The cluster restored into (`fresh`).
    pub target: TestCluster,
    /// Its agents.
    pub target_agents: Vec<AgentProcess>,
    /// The target agents' port.
    pub target_port: u16,
    /// The manager.
    pub manager: ManagerProcess,
    /// The bucket's directory, shared by both clusters' agents as `localstorage:bkt`.
    pub bucket: PathBuf,
    /// Holds the agents', the bucket's and the manager's files.
    pub dir: tempfile::TempDir,
}

impl RestoreSetup {
    /// Starts a source cluster of `source_nodes` (its usual dataset) and a target cluster of
    /// `target_nodes` adjusted by `target` (e.g. another seed, so other tokens and host IDs; no
    /// dataset), agents beside both, a manager, and adds both clusters with CQL credentials.
    pub async fn start(
        source_nodes: &str,
        target_nodes: &str,
        source: impl FnOnce(&mut EmulatorConfig),
        target: impl FnOnce(&mut EmulatorConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bucket = dir.path().join("bkt");
        std::fs::create_dir_all(&bucket).expect("bucket dir");
        let yaml = format!("localstorage:\n  bkt: {}", bucket.display());
        let source = TestCluster::start_with(source_nodes, source).await;
        let target = TestCluster::start_with(target_nodes, target).await;
        let source_dir = dir.path().join("source");
        let target_dir = dir.path().join("target");
        std::fs::create_dir_all(&source_dir).expect("source dir");
        std::fs::create_dir_all(&target_dir).expect("target dir");
        let (source_agents, source_port) = start_fleet(&source, &source_dir, &yaml);
        let (target_agents, target_port) = start_fleet(&target, &target_dir, &yaml);
        let manager_dir = dir.path().join("manager");
        std::fs::create_dir_all(&manager_dir).expect("manager dir");
        let manager = ManagerProcess::start(&manager_dir, "");
        add_cluster_named(manager.url(), "prod", &source, source_port).await;
        add_cluster_named(manager.url(), "fresh", &target, target_port).await;
        RestoreSetup {
            source,
            source_agents,
            target,
            target_agents,
            target_port,
            manager,
            bucket,
            dir,
        }
    }

    /// Runs `cairn --url MANAGER ARGS...`.
    pub async fn cairn(&self, args: &[&str]) -> Run {
        cairn(self.manager.url(), args).await
    }

    /// Backs up `keyspaces` (globs) of `prod` with a new task `name`, started now; returns the
    /// snapshot tag once the run is DONE.
    pub async fn backup(&self, name: &str, keyspaces: &str) -> String {
        let created = self
            .cairn(&[
                "backup",
                "-c",
                "prod",
                "-L",
                "localstorage:bkt",
                "-K",
                keyspaces,
                "--enabled",
                "false",
                "--name",
                name,
            ])
            .await;
        assert_eq!(created.ok("backup create"), format!("backup/{name}\n"));
        self.cairn(&["start", "-c", "prod", &format!("backup/{name}")])
            .await
            .ok("start backup");
        let body = self.wait("prod", "backup", name, 180).await;
        assert_eq!(
            body["run"]["status"], "DONE",
            "backup ended otherwise: {body}"
        );
        body["progress"]["snapshot_tag"]
            .as_str()
            .expect("the run's snapshot tag")
            .to_string()
    }

    /// Creates the disabled restore task `name` on `fresh` with `args` after the cluster and
    /// location, then starts it; answers the run's end (`GET .../latest`) within `limit_s`.
    pub async fn restore(&self, name: &str, args: &[&str], limit_s: u64) -> Value {
        self.create_restore(name, args).await;
        self.cairn(&["start", "-c", "fresh", &format!("restore/{name}")])
            .await
            .ok("start restore");
        self.wait("fresh", "restore", name, limit_s).await
    }

    /// Creates the disabled restore task `name` on `fresh`.
    pub async fn create_restore(&self, name: &str, args: &[&str]) {
        let mut all = vec![
            "restore",
            "-c",
            "fresh",
            "-L",
            "localstorage:bkt",
            "--enabled",
            "false",
            "--name",
            name,
        ];
        all.extend_from_slice(args);
        let created = self.cairn(&all).await;
        assert_eq!(created.ok("restore create"), format!("restore/{name}\n"));
    }

    /// Waits (at most `limit_s`) until the latest run of `cluster`'s task `kind/name` has ended,
    /// and answers `GET .../latest` then.
    pub async fn wait(&self, cluster: &str, kind: &str, name: &str, limit_s: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(limit_s);
        let path = format!("/api/v1/cluster/{cluster}/task/{kind}/{name}/latest");
        loop {
            let (status, body) = self.manager.call(Method::GET, &path, None).await;
            if status == 200 {
                let run = body["run"]["status"].as_str().unwrap_or_default();
                if matches!(run, "DONE" | "ERROR" | "ABORTED" | "STOPPED") {
                    return body;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{kind}/{name} did not end within {limit_s} s: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The latest run of `fresh`'s task `restore/name` as `GET .../latest` answers it now.
    pub async fn restore_run(&self, name: &str) -> Value {
        let path = format!("/api/v1/cluster/fresh/task/restore/{name}/latest");
        let (status, body) = self.manager.call(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Adds `cluster` to the manager at `manager_url` as `name` through `cairn cluster add`, its
/// agents reached at node 0's address and `port`, with the emulator's CQL credentials.
pub async fn add_cluster_named(manager_url: &str, name: &str, cluster: &TestCluster, port: u16) {
    let port = port.to_string();
    let host = cluster.address(0);
    let (user, password) = cluster.cql_credentials();
    cairn(
        manager_url,
        &[
            "cluster",
            "add",
            "--name",
            name,
            "--host",
            &host,
            "--port",
            &port,
            "--auth-token",
            TOKEN,
            "--username",
            &user,
            "--password",
            &password,
        ],
    )
    .await
    .ok("cluster add");
}

/// Makes a cluster start with no user keyspace (the emulator's `--empty`), as a cluster built to
/// receive a restore does.
pub fn empty_dataset(config: &mut EmulatorConfig) {
    config.empty = true;
}

/// The backed-up data of `ks.table` in snapshot `tag`: the `(token, hash)` of every record of
/// every `Data.db` the tag's final manifests in `bucket` list, the versioned copy chosen as a
/// restore chooses it.
pub fn backup_records(bucket: &Path, tag: &str, ks: &str, table: &str) -> BTreeSet<(i64, String)> {
    let restored: SnapshotTag = tag.parse().expect("a snapshot tag");
    let suffix = format!("_tag_{tag}_manifest.json.gz");
    let mut out = BTreeSet::new();
    for rel in super::cli::files_under(bucket) {
        if !rel.starts_with("backup/meta/") || !rel.ends_with(&suffix) {
            continue;
        }
        let file = std::fs::File::open(bucket.join(&rel)).expect("manifest opens");
        let manifest = Manifest::read_gzip(file).expect("manifest reads");
        // backup/meta/cluster/<c>/dc/<dc>/node/<n>/<file>: the node's identity is in its path
        // (ScyllaDB Manager's manifests do not repeat it).
        let parts: Vec<&str> = rel.split('/').collect();
        let (cluster, dc, node) = (parts[3], parts[5], parts[7]);
        for entry in &manifest.index {
            if entry.keyspace != ks || entry.table != table {
                continue;
            }
            let dir = bucket.join(format!(
                "backup/sst/cluster/{cluster}/dc/{dc}/node/{node}/keyspace/{ks}/table/{table}/{}",
                entry.version
            ));
            let listing = super::files_in(&dir);
            for f in entry.files.iter().filter(|f| f.ends_with("-Data.db")) {
                let chosen = version_for_tag(f, &restored, listing.iter().map(String::as_str))
                    .unwrap_or_else(|| panic!("{f} of {} is in the bucket", dir.display()));
                let records = records_of_file(&dir.join(&chosen))
                    .unwrap_or_else(|e| panic!("reading {chosen}: {e}"));
                out.extend(records.into_iter().map(|r| (r.token, r.hash)));
            }
        }
    }
    out
}

/// Asserts that every record of `ks.table` in `cluster` is held by exactly its replicas (no node
/// lacks one it replicates, no node holds one it does not) and that the records are exactly
/// `expected`, as the emulator's placement report shows them.
pub async fn assert_placed(
    cluster: &TestCluster,
    ks: &str,
    table: &str,
    expected: &BTreeSet<(i64, String)>,
) {
    let report = cluster
        .get(0, &format!("/emulator/placement/{ks}/{table}"))
        .await;
    let records = report["records"].as_array().cloned().unwrap_or_default();
    let misplaced: Vec<&Value> = records
        .iter()
        .filter(|r| {
            let set = |k: &str| -> BTreeSet<String> {
                r[k].as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            };
            set("held_by") != set("replicas")
        })
        .take(3)
        .collect();
    assert!(
        misplaced.is_empty() && report["misplaced"] == 0,
        "{ks}.{table}: {} records not held by exactly their replicas, e.g. {misplaced:?}",
        report["misplaced"]
    );
    let held: BTreeSet<(i64, String)> = records
        .iter()
        .filter_map(|r| Some((r["token"].as_i64()?, r["hash"].as_str()?.to_string())))
        .collect();
    let lost: Vec<_> = expected.difference(&held).take(3).collect();
    let extra: Vec<_> = held.difference(expected).take(3).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "{ks}.{table}: {} backed-up records missing (e.g. {lost:?}), {} records not in the backup (e.g. {extra:?})",
        expected.difference(&held).count(),
        held.difference(expected).count()
    );
}
