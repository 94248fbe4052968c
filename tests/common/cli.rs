//! Running the `cairn` client commands as a user runs them, against a real manager over an
//! emulated cluster with real agents: what a run printed and how it exited.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;

use serde_json::Value;

use super::TestCluster;
use super::agent::{AgentProcess, TOKEN};
use super::manager::{Fleet, ManagerProcess, api_token};

/// What a run of `cairn` printed and how it exited.
#[derive(Debug)]
pub struct Run {
    /// The exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success and answers stdout.
    pub fn ok(&self, what: &str) -> &str {
        assert_eq!(
            self.code, 0,
            "{what} failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts a failure reported as exactly one `error: ...` line on stderr, with nothing on
    /// stdout; answers that line.
    pub fn one_line_error(&self, what: &str) -> &str {
        assert_ne!(self.code, 0, "{what} succeeded: {}", self.stdout);
        assert_eq!(self.stdout, "", "{what}: nothing on stdout");
        let lines: Vec<_> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: one line on stderr, not {lines:?}");
        assert!(lines[0].starts_with("error: "), "{what}: {}", lines[0]);
        lines[0]
    }

    /// Stdout parsed as JSON.
    pub fn json(&self, what: &str) -> Value {
        serde_json::from_str(self.ok(what))
            .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts a partial listing of `localstorage:bkt` (exit status 7): the `damaged` manifest
    /// named on stderr with its location and why, then the warning; answers stdout.
    pub fn partial(&self, damaged: &str, what: &str) -> &str {
        assert_eq!(self.code, 7, "{what}:\n{}\n{}", self.stdout, self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{what}: {lines:?}");
        let named = format!("skipped manifest {damaged} in localstorage:bkt: ");
        assert!(
            lines[0].starts_with(&named) && lines[0].len() > named.len(),
            "{what}: {}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("warning: 1 manifest could not be read"),
            "{what}: {}",
            lines[1]
        );
        &self.stdout
    }

    /// Stdout as JSON, whatever the exit status.
    pub fn stdout_json(&self, what: &str) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The data lines of a table whose first line is `header` (columns two or more spaces
    /// apart), each split into its cells.
    pub fn table(&self, what: &str, header: &[&str]) -> Vec<Vec<String>> {
        table_rows(self.ok(what), header)
    }
}

/// The cells of a table line: columns are two or more spaces apart.
pub fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The data lines of the table `text` (its first line must be `header`), split into cells.
pub fn table_rows(text: &str, header: &[&str]) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let first = cells(lines.next().unwrap_or_default());
    assert_eq!(first, header, "header of:\n{text}");
    lines.map(cells).collect()
}

/// Runs `cairn --url URL ARGS...` (in a blocking thread, as the emulator serves on this runtime).
pub async fn cairn(url: &str, args: &[&str]) -> Run {
    cairn_with_env(url, args, &[]).await
}

/// [`cairn`] with `env` set (after `CAIRN_API_TOKEN`, the test managers' [`api_token`], which
/// `env` may override).
pub async fn cairn_with_env(url: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["--url", url];
    all.extend_from_slice(args);
    let mut with_token = vec![("CAIRN_API_TOKEN", api_token())];
    with_token.extend_from_slice(env);
    run_cairn(&all, &with_token).await
}

/// Runs `cairn ARGS...` exactly as given (nothing added, e.g. a command another command printed).
pub async fn cairn_as_given<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    run_cairn(args, &[]).await
}

/// Runs `cairn ARGS...` with `env` set, and no `CAIRN_*` or storage credentials (`AWS_*`,
/// `AZURE_*`, `GOOGLE_*`) inherited from the test's environment.
async fn run_cairn<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if ["CAIRN_", "AWS_", "AZURE_", "GOOGLE_"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            command.env_remove(key);
        }
    }
    command.env("CAIRN_LOG", "warn").envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || command.output().expect("cairn runs"))
        .await
        .expect("join");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An emulated `dc1:2,dc2:1` cluster, an agent beside every node serving `localstorage:bkt`, and
/// a manager with the cluster added as `prod`.
pub struct BackupSetup {
    /// The emulated nodes.
    pub cluster: TestCluster,
    /// The agents, one per node.
    pub agents: Vec<AgentProcess>,
    /// The manager.
    pub manager: ManagerProcess,
    /// The bucket's directory.
    pub bucket: PathBuf,
    /// Holds the agents', the bucket's and the manager's files.
    pub dir: tempfile::TempDir,
}

impl BackupSetup {
    /// Starts everything and adds the cluster with `cairn cluster add`.
    pub async fn new() -> Self {
        Self::with_nodes("dc1:2,dc2:1").await
    }

    /// As [`BackupSetup::new`], with the cluster's nodes given (e.g. `dc1:4`).
    pub async fn with_nodes(nodes: &str) -> Self {
        let Fleet {
            cluster,
            agents,
            port,
            manager,
            dir,
        } = Fleet::start_nodes(nodes, |dir| {
            let bucket = dir.join("bkt");
            std::fs::create_dir_all(&bucket).unwrap();
            format!("localstorage:\n  bkt: {}", bucket.display())
        })
        .await;
        let s = BackupSetup {
            cluster,
            agents,
            manager,
            bucket: dir.path().join("bkt"),
            dir,
        };
        add_cluster(s.manager.url(), &s.cluster, port).await;
        s
    }

    /// Runs `cairn --url MANAGER ARGS...`.
    pub async fn cairn(&self, args: &[&str]) -> Run {
        cairn(self.manager.url(), args).await
    }

    /// Creates the disabled backup task `name` of keyspace `keyspace` to `localstorage:bkt`.
    pub async fn create_backup(&self, name: &str, keyspace: &str) {
        self.create_backup_with(name, keyspace, &[]).await;
    }

    /// As [`BackupSetup::create_backup`], with more flags of `cairn backup` (e.g.
    /// `--skip-schema`).
    pub async fn create_backup_with(&self, name: &str, keyspace: &str, extra: &[&str]) {
        let mut args = vec![
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "-K",
            keyspace,
            "--enabled",
            "false",
            "--name",
            name,
        ];
        args.extend_from_slice(extra);
        let created = self.cairn(&args).await;
        assert_eq!(created.ok("backup create"), format!("backup/{name}\n"));
    }

    /// Backs keyspace `store` up to `localstorage:bkt` with a new disabled task `name`, started
    /// with `cairn start`; returns when its run is DONE (panics if it ends otherwise).
    pub async fn backup_now(&self, name: &str) {
        self.create_backup(name, "store").await;
        self.cairn(&["start", "-c", "prod", &format!("backup/{name}")])
            .await
            .ok("start");
        let body = self.wait_run(name).await;
        assert_eq!(
            body["run"]["status"], "DONE",
            "the run ended otherwise: {body}"
        );
    }

    /// Waits (at most 90 s) until the latest run of task `backup/{name}` has ended, and answers
    /// `GET .../latest` then (`run.status`, `run.cause`, `progress`).
    pub async fn wait_run(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        let path = format!("/api/v1/cluster/prod/task/backup/{name}/latest");
        loop {
            let (status, body) = self.manager.call(Method::GET, &path, None).await;
            assert_eq!(status, 200, "{body}");
            let run = body["run"]["status"].as_str().unwrap_or_default();
            if matches!(run, "DONE" | "ERROR" | "ABORTED" | "STOPPED") {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "the run did not end within 90 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Adds the cluster `prod` through `cairn cluster add`, its agents reached at node 0's address
/// and `port`, with the emulator's CQL credentials.
pub async fn add_cluster(manager_url: &str, cluster: &TestCluster, port: u16) {
    let port = port.to_string();
    let host = cluster.address(0);
    let (user, password) = cluster.cql_credentials();
    cairn(
        manager_url,
        &[
            "cluster",
            "add",
            "--name",
            "prod",
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

/// Every file under `dir`, relative to it.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}
