//! Restores as a user runs them: a source cluster backed up to a shared bucket directory and a
//! second, fresh cluster restored into, each emulated with an agent beside every node, one manager
//! managing both (`prod` and `fresh`), all real processes on loopback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn::emulator::EmulatorConfig;
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
        self.latest_tag(name).await
    }

    /// The snapshot tag of the latest backup run of `prod`'s task `name`.
    async fn latest_tag(&self, name: &str) -> String {
        let listed = self
            .cairn(&[
                "backup",
                "list",
                "-c",
                "prod",
                "-L",
                "localstorage:bkt",
                "-o",
                "json",
            ])
            .await
            .json("backup list");
        let tags: Vec<String> = listed
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|item| item["snapshots"].as_array().cloned().unwrap_or_default())
            .filter_map(|s| s["snapshot_tag"].as_str().map(str::to_string))
            .collect();
        let _ = name;
        tags.into_iter().max().expect("a snapshot in the bucket")
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
