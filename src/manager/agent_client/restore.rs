//! The Scylla calls a restore run makes through the agent's proxy: load&stream of a table's
//! `upload/` directory, autocompaction off and on, the post-restore repair (vnode keyspaces:
//! `repair_async` and `repair_status`; tablet keyspaces: tablet repair and the task manager).

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use super::error::AgentError;
use super::{AgentClient, Call, segment};

/// Time a load&stream call may take before it is sent again (Scylla answers "Already loading
/// SSTables" while the first one still runs, and the caller asks again until it is done).
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(3600);
/// Slack given to a call that waits on Scylla's side for `timeout` seconds.
const WAIT_SLACK: Duration = Duration::from_secs(30);

/// What Scylla says about a repair (`repair_status`) or a task (`wait_task`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairState {
    /// Still running.
    Running,
    /// Done successfully.
    Successful,
    /// Failed, with Scylla's reason when it gave one.
    Failed(String),
}

/// The part of a task manager status a restore reads.
#[derive(Debug, Clone, Deserialize)]
struct TaskStatus {
    /// `created`, `running`, `done`, `failed`, `suspended`.
    state: String,
    /// Why it failed.
    #[serde(default)]
    error: String,
}

/// The answer to a tablet repair.
#[derive(Debug, Clone, Deserialize)]
struct TabletRepair {
    /// The task manager's id of the repair.
    tablet_task_id: String,
}

/// How Scylla loads the SSTables put in a table's `upload/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Load&stream: each SSTable streamed to the nodes owning its ranges (with
    /// `primary_replica_only`, to the primary owner only).
    Stream {
        /// Whether only the primary owner receives each range.
        primary_replica_only: bool,
    },
    /// Kept on this node as they are (a refresh): its tokens are those of the node that was
    /// backed up (1-1 restore).
    Local,
}

impl AgentClient {
    /// Loads the SSTables in `upload/` of `keyspace.table` as `how` says. Returns when Scylla
    /// has loaded them all.
    pub async fn load_sstables(
        &self,
        keyspace: &str,
        table: &str,
        how: Load,
    ) -> Result<(), AgentError> {
        let call = Call::new(
            Method::POST,
            format!("/storage_service/sstables/{}", segment(keyspace)),
        )
        .param("cf", table);
        let call = match how {
            Load::Stream {
                primary_replica_only,
            } => call
                .param("load_and_stream", "true")
                .param("primary_replica_only", primary_replica_only.to_string()),
            Load::Local => call.param("load_and_stream", "false"),
        };
        self.void(call.timeout(LOAD_TIMEOUT)).await
    }

    /// Turns the autocompaction of `keyspace.table` on or off on this node.
    pub async fn set_autocompaction(
        &self,
        keyspace: &str,
        table: &str,
        enabled: bool,
    ) -> Result<(), AgentError> {
        let method = if enabled {
            Method::POST
        } else {
            Method::DELETE
        };
        self.void(
            Call::new(
                method,
                format!(
                    "/column_family/autocompaction/{}:{}",
                    segment(keyspace),
                    segment(table)
                ),
            )
            .idempotent(),
        )
        .await
    }

    /// Starts a repair of the primary ranges of this node for `tables` of `keyspace` (a vnode
    /// keyspace); returns Scylla's repair id.
    pub async fn repair_async(&self, keyspace: &str, tables: &[String]) -> Result<i64, AgentError> {
        self.json(
            Call::new(
                Method::POST,
                format!("/storage_service/repair_async/{}", segment(keyspace)),
            )
            .param("columnFamilies", tables.join(","))
            .param("primaryRange", "true"),
        )
        .await
    }

    /// The state of repair `id` on this node, waiting up to `wait` for it to end.
    pub async fn repair_status(&self, id: i64, wait: Duration) -> Result<RepairState, AgentError> {
        let status: String = self
            .json(
                Call::new(Method::GET, "/storage_service/repair_status")
                    .param("id", id.to_string())
                    .param("timeout", wait.as_secs().to_string())
                    .timeout(wait + WAIT_SLACK),
            )
            .await?;
        Ok(match status.as_str() {
            "RUNNING" => RepairState::Running,
            "SUCCESSFUL" => RepairState::Successful,
            other => RepairState::Failed(format!("repair {id} ended {other}")),
        })
    }

    /// Starts a repair of every token of the tablet table `keyspace.table`; returns the task
    /// manager's id of it.
    pub async fn tablet_repair(&self, keyspace: &str, table: &str) -> Result<String, AgentError> {
        let r: TabletRepair = self
            .json(
                Call::new(Method::POST, "/storage_service/tablets/repair")
                    .param("ks", keyspace)
                    .param("table", table)
                    .param("tokens", "all"),
            )
            .await?;
        Ok(r.tablet_task_id)
    }

    /// The state of task `id`, waiting up to `wait` for it to end (an answer 408 means it still
    /// runs).
    pub async fn wait_task(&self, id: &str, wait: Duration) -> Result<RepairState, AgentError> {
        let call = Call::new(
            Method::GET,
            format!("/task_manager/wait_task/{}", segment(id)),
        )
        .param("timeout", wait.as_secs().to_string())
        .timeout(wait + WAIT_SLACK);
        let status: TaskStatus = match self.json(call).await {
            Ok(s) => s,
            Err(e) if e.status() == Some(408) => return Ok(RepairState::Running),
            Err(e) => return Err(e),
        };
        Ok(match status.state.as_str() {
            "done" => RepairState::Successful,
            "failed" => RepairState::Failed(if status.error.is_empty() {
                format!("task {id} failed")
            } else {
                format!("task {id} failed: {}", status.error)
            }),
            _ => RepairState::Running,
        })
    }
}
