//! REST endpoints proper to validate tasks: the dry run, and a validate run with its progress rows
//! and report (served through [`super::runs`]'s run path when the task type is
//! `validate_backup`).
//!
//! | method | path | answer |
//! |---|---|---|
//! | `POST` | `/api/v1/cluster/{cluster}/tasks/validate_backup/target` | the [`ValidateTarget`] of a validate task body |
//! | `GET` | `/api/v1/cluster/{cluster}/task/validate_backup/{task}/{run}` | [`ValidateRunDetails`] of a run id or `latest` |

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, store_error};
use super::task_body::{check_validate_properties, dry_run_properties};
use super::{ApiState, find_cluster};
use crate::manager::store::{RunStatus, Task, TaskRun, TaskType, ValidateRunProgress};
use crate::manager::validate::progress::report_from_rows;
use crate::manager::validate::properties::{ContentCheck, ValidateProperties};
use crate::manager::validate::report::ValidateReport;
use crate::manager::validate::targets::{self, Host};

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/cluster/{cluster}/tasks/validate_backup/target",
        post(dry_run),
    )
}

/// A validate run: the run, its status line, its progress rows, and the report they add up to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateRunDetails {
    /// The run.
    pub run: TaskRun,
    /// The run's status as one line (`DONE`, `RUNNING`, `ERROR: broken snapshots: ...`).
    pub status_text: String,
    /// The progress rows (one per DC, host and location).
    pub progress: Vec<ValidateRunProgress>,
    /// What the run found so far, per location and node directory.
    pub report: ValidateReport,
}

/// What a validate task with a given body would check, found without creating anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidateTarget {
    /// How much content would be checked.
    pub content: ContentCheck,
    /// Percent of SSTables whose content a run checks.
    pub sample: u8,
    /// Whether orphans would be deleted.
    pub delete_orphaned_files: bool,
    /// Files written within this are never deleted.
    pub orphan_grace: String,
    /// Hosts checking at once per location (0: all).
    pub parallel: i64,
    /// Each location (the task's, or the backup tasks' when it gives none).
    pub locations: Vec<LocationTargetInfo>,
}

/// One location of a [`ValidateTarget`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationTargetInfo {
    /// The location.
    pub location: String,
    /// The hosts whose agents reach it and would check.
    pub hosts: Vec<String>,
    /// Hosts of its DCs that do not reach it, and why.
    pub unreachable: Vec<UnreachableHost>,
    /// Its node directories of the cluster.
    pub nodes: Vec<NodeDirInfo>,
    /// Why the location could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A host that does not reach a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreachableHost {
    /// The host.
    pub host: String,
    /// Why.
    pub reason: String,
}

/// One node directory of a location, as a dry run finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDirInfo {
    /// The node's DC.
    pub dc: String,
    /// The node's host ID.
    pub node_id: String,
    /// Final manifests.
    pub manifests: u64,
    /// Temporary manifests with no final one (runs not finished).
    pub temporary_manifests: u64,
    /// The host that checks it first: its own node's, when that node is live and reaches the
    /// location; else any of `hosts`.
    pub own_host: Option<String>,
}

/// The run's status as one line: `ERROR: <cause>` when it has a cause.
fn status_text(run: &TaskRun) -> String {
    if run.cause.is_empty() || run.status == RunStatus::Done {
        run.status.to_string()
    } else {
        format!("{}: {}", run.status, run.cause)
    }
}

/// The details of `run` of the validate task `task`: its rows and the report they add up to.
pub(super) async fn run_details(
    state: &ApiState,
    task: &Task,
    run: TaskRun,
) -> Result<ValidateRunDetails, ApiError> {
    let key = run.run_key();
    let rows = state
        .store
        .list_validate_progress(key)
        .await
        .map_err(store_error)?;
    // A stored document that no longer parses shows with the default settings.
    let props = ValidateProperties::from_json(&task.properties.to_string()).unwrap_or_default();
    Ok(ValidateRunDetails {
        status_text: status_text(&run),
        report: report_from_rows(&props, &rows),
        progress: rows,
        run,
    })
}

/// `POST /api/v1/cluster/{cluster}/tasks/validate_backup/target`: what a validate task with this
/// body would check: per location the hosts that would check it and its node directories with
/// their manifests. The body is a whole task body or the properties alone, checked as creation
/// checks them; nothing is created.
async fn dry_run(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<ValidateTarget>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let (props, prefix) =
        dry_run_properties(&state, &cluster, &body, TaskType::ValidateBackup).await?;
    let (props, view) = check_validate_properties(&state, &cluster, props, prefix).await?;
    let hosts: Vec<Host> = view
        .nodes
        .iter()
        .filter(|n| n.is_live())
        .map(|n| Host {
            address: n.address.clone(),
            host_id: n.host_id.clone(),
            dc: n.dc.clone(),
        })
        .collect();
    let locations = targets::locations(state.store.as_ref(), cluster.id, &props.location)
        .await
        .map_err(|e| ApiError::bad_field(format!("{prefix}location"), e))?;
    let mut out = Vec::new();
    for location in &locations {
        let info = match targets::location_target(&cluster, &hosts, location).await {
            Ok(t) => {
                let reaching: Vec<&Host> = t.hosts.iter().map(|(h, _)| h).collect();
                LocationTargetInfo {
                    location: location.to_string(),
                    hosts: reaching.iter().map(|h| h.address.clone()).collect(),
                    unreachable: t
                        .unreachable
                        .iter()
                        .map(|(host, reason)| UnreachableHost {
                            host: host.clone(),
                            reason: reason.clone(),
                        })
                        .collect(),
                    nodes: t
                        .dirs
                        .iter()
                        .map(|d| NodeDirInfo {
                            dc: d.dc.clone(),
                            node_id: d.node_id.clone(),
                            manifests: d.finals.len() as u64,
                            temporary_manifests: d.temporaries.len() as u64,
                            own_host: reaching
                                .iter()
                                .find(|h| h.dc == d.dc && h.host_id == d.node_id)
                                .map(|h| h.address.clone()),
                        })
                        .collect(),
                    error: None,
                }
            }
            Err(e) => LocationTargetInfo {
                location: location.to_string(),
                hosts: Vec::new(),
                unreachable: Vec::new(),
                nodes: Vec::new(),
                error: Some(e.to_string()),
            },
        };
        out.push(info);
    }
    Ok(Json(ValidateTarget {
        content: props.content,
        sample: props.sample,
        delete_orphaned_files: props.delete_orphaned_files,
        orphan_grace: props.orphan_grace,
        parallel: props.parallel,
        locations: out,
    }))
}
