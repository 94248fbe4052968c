//! The REPAIR stage (spec §3.4): data was streamed with `primary_replica_only`, so every
//! restored table is repaired. Vnode keyspaces: `repair_async` of the primary ranges on every
//! host, awaited with `repair_status`. Tablet keyspaces: one tablet repair per table (all tokens),
//! awaited through the task manager. Every repair is started first, then their ids are persisted
//! in `restore_run.repair_task_id` ([`RepairTasks`] text), then awaited: a resumed run waits for
//! the persisted ones instead of starting them again (and starts again only one Scylla forgot).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::plan::TargetHost;
use super::run::{RestoreError, RestoreResult};
use crate::manager::agent_client::AgentClient;
use crate::manager::agent_client::error::AgentError;
use crate::manager::agent_client::restore::RepairState;
use crate::manager::backup::tablets::tablet_keyspaces;
use crate::manager::store::RestoreUnit;

/// How long one status call waits on Scylla's side.
const STATUS_WAIT: Duration = Duration::from_secs(10);

/// One repair started by the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairTask {
    /// The agent it was started through.
    pub host: String,
    /// The keyspace.
    pub keyspace: String,
    /// For a tablet repair, its table; empty for a vnode repair (every restored table of the
    /// keyspace).
    pub table: String,
    /// Scylla's id: the `repair_async` number, or the task manager's id.
    pub id: String,
}

impl RepairTask {
    /// Whether it is a tablet repair (awaited through the task manager).
    fn tablets(&self) -> bool {
        !self.table.is_empty()
    }
}

/// The repairs of a run, as persisted in `restore_run.repair_task_id`: comma-separated
/// `vnode/<host>/<keyspace>=<id>` and `tablet/<host>/<keyspace>.<table>=<id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairTasks(pub Vec<RepairTask>);

impl fmt::Display for RepairTasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|t| {
                if t.tablets() {
                    format!("tablet/{}/{}.{}={}", t.host, t.keyspace, t.table, t.id)
                } else {
                    format!("vnode/{}/{}={}", t.host, t.keyspace, t.id)
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for RepairTasks {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("unreadable repair task ids {s:?}");
        let mut tasks = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (what, id) = part.rsplit_once('=').ok_or_else(bad)?;
            let mut it = what.splitn(3, '/');
            let (kind, host, name) = (
                it.next().ok_or_else(bad)?,
                it.next().ok_or_else(bad)?,
                it.next().ok_or_else(bad)?,
            );
            let (keyspace, table) = match kind {
                "vnode" => (name.to_string(), String::new()),
                "tablet" => {
                    let (k, t) = name.split_once('.').ok_or_else(bad)?;
                    (k.to_string(), t.to_string())
                }
                _ => return Err(bad()),
            };
            tasks.push(RepairTask {
                host: host.to_string(),
                keyspace,
                table,
                id: id.to_string(),
            });
        }
        Ok(RepairTasks(tasks))
    }
}

/// Starts the repairs of `units` (vnode keyspaces on every host, tablet tables through the
/// contact node).
pub async fn start(
    client: &AgentClient,
    hosts: &[TargetHost],
    units: &[RestoreUnit],
) -> Result<RepairTasks, AgentError> {
    let tablets = tablet_keyspaces(client).await?;
    let mut tasks = Vec::new();
    for u in units.iter().filter(|u| !u.tables.is_empty()) {
        let tables: Vec<String> = u.tables.iter().map(|t| t.table_name.clone()).collect();
        if tablets.contains(&u.keyspace_name) {
            for t in &tables {
                let id = client.tablet_repair(&u.keyspace_name, t).await?;
                tasks.push(RepairTask {
                    host: client.host().to_string(),
                    keyspace: u.keyspace_name.clone(),
                    table: t.clone(),
                    id,
                });
            }
        } else {
            for h in hosts {
                let id = client
                    .for_host(&h.address)
                    .repair_async(&u.keyspace_name, &tables)
                    .await?;
                tasks.push(RepairTask {
                    host: h.address.clone(),
                    keyspace: u.keyspace_name.clone(),
                    table: String::new(),
                    id: id.to_string(),
                });
            }
        }
    }
    tracing::info!(repairs = tasks.len(), "repairs started");
    Ok(RepairTasks(tasks))
}

/// Starts one repair again (Scylla forgot it: the node restarted).
async fn restart(
    client: &AgentClient,
    task: &RepairTask,
    units: &[RestoreUnit],
) -> Result<String, AgentError> {
    let c = client.for_host(&task.host);
    if task.tablets() {
        return c.tablet_repair(&task.keyspace, &task.table).await;
    }
    let tables: Vec<String> = units
        .iter()
        .filter(|u| u.keyspace_name == task.keyspace)
        .flat_map(|u| u.tables.iter().map(|t| t.table_name.clone()))
        .collect();
    Ok(c.repair_async(&task.keyspace, &tables).await?.to_string())
}

/// Waits until every repair of `tasks` ends; fails naming the first that failed. A repair
/// Scylla no longer knows is started once again (`tasks` changes; the caller persists it).
pub async fn wait(
    client: &AgentClient,
    tasks: &mut RepairTasks,
    units: &[RestoreUnit],
    cancel: &CancellationToken,
) -> RestoreResult<()> {
    for i in 0..tasks.0.len() {
        let mut restarted = false;
        while let Some(task) = tasks.0.get(i).cloned() {
            let c = client.for_host(&task.host);
            let state = tokio::select! {
                s = status(&c, &task) => s,
                () = cancel.cancelled() => return Err(RestoreError::Stopped),
            };
            match state {
                Ok(RepairState::Running) => {}
                Ok(RepairState::Successful) => break,
                Ok(RepairState::Failed(why)) => {
                    return Err(RestoreError::Repair(format!(
                        "{} on {}: {why}",
                        task.keyspace, task.host
                    )));
                }
                Err(e) if !restarted && !e.retryable() => {
                    tracing::warn!(host = %task.host, id = %task.id, error = %e, "the repair is unknown; starting it again");
                    restarted = true;
                    let id = restart(client, &task, units).await?;
                    if let Some(t) = tasks.0.get_mut(i) {
                        t.id = id;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// The state of one repair.
async fn status(client: &AgentClient, task: &RepairTask) -> Result<RepairState, AgentError> {
    if task.tablets() {
        return client.wait_task(&task.id, STATUS_WAIT).await;
    }
    let id: i64 = task.id.parse().map_err(|_| AgentError::Decode {
        host: task.host.clone(),
        call: "repair_status".into(),
        reason: format!("repair id {:?} is not a number", task.id),
    })?;
    client.repair_status(id, STATUS_WAIT).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_ids_survive_the_run_record() {
        let tasks = RepairTasks(vec![
            RepairTask {
                host: "10.0.0.1".into(),
                keyspace: "ks".into(),
                table: String::new(),
                id: "7".into(),
            },
            RepairTask {
                host: "fe80::1".into(),
                keyspace: "tk".into(),
                table: "t1".into(),
                id: "0b5e-uuid".into(),
            },
        ]);
        let text = tasks.to_string();
        assert_eq!(text, "vnode/10.0.0.1/ks=7,tablet/fe80::1/tk.t1=0b5e-uuid");
        assert_eq!(text.parse::<RepairTasks>().unwrap(), tasks);
        assert!("nonsense".parse::<RepairTasks>().is_err());
        assert_eq!("".parse::<RepairTasks>().unwrap(), RepairTasks::default());
    }
}
