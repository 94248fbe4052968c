//! REST endpoints proper to restore tasks: the dry run, and a restore run with its progress
//! (served through [`super::runs`]'s run path when the task type is `restore`).
//!
//! | method | path | answer |
//! |---|---|---|
//! | `POST` | `/api/v1/cluster/{cluster}/tasks/restore/target` | the [`DryRunReport`] of a restore task body (200 even when it lists problems) |
//! | `GET` | `/api/v1/cluster/{cluster}/task/restore/{task}/{run}` | [`RestoreRunDetails`] of a run id or `latest` |

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, store_error};
use super::runs::RunInfo;
use super::task_body::{check_restore_properties, dry_run_properties};
use super::{ApiState, find_cluster};
use crate::manager::restore::progress::{RestoreProgress, rollup};
use crate::manager::restore::properties::RestoreProperties;
use crate::manager::restore::stage::RestoreStage;
use crate::manager::restore::target::{DryRunReport, Init, InitError};
use crate::manager::store::{RunStatus, Task, TaskRun, TaskType};

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/cluster/{cluster}/tasks/restore/target",
        post(dry_run),
    )
}

/// A restore run with its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRunDetails {
    /// The run.
    pub run: RunInfo,
    /// The status as operators read it: `RUNNING (restoring data)` while a stage runs.
    pub status_text: String,
    /// The progress; absent when the run stopped before its restore run was recorded.
    pub progress: Option<RestoreProgress>,
}

/// What a restore run does in `stage`, in words.
pub fn stage_label(stage: RestoreStage) -> &'static str {
    match stage {
        RestoreStage::Init => "reading the backup and the cluster",
        RestoreStage::DropViews => "dropping views",
        RestoreStage::DisableTgc => "disabling tombstone_gc",
        RestoreStage::Data => "restoring data",
        RestoreStage::Repair => "repairing",
        RestoreStage::EnableTgc => "enabling tombstone_gc",
        RestoreStage::RecreateViews => "recreating views",
        RestoreStage::Done => "done",
    }
}

/// The status of a restore run as operators read it: the stage in words while it runs.
pub fn status_text(status: RunStatus, progress: Option<&RestoreProgress>) -> String {
    match (status, progress) {
        (RunStatus::Running, Some(p)) => format!("{status} ({})", stage_label(p.stage)),
        (RunStatus::Stopped | RunStatus::Error | RunStatus::Aborted, Some(p))
            if p.stage != RestoreStage::Done =>
        {
            format!("{status} (at {}: start it again to resume)", p.stage)
        }
        _ => status.to_string(),
    }
}

/// The details of `run` of the restore task `task`: the run, its status and its progress
/// rolled up from the stored restore run and its progress rows.
pub(super) async fn run_details(
    state: &ApiState,
    task: &Task,
    run: TaskRun,
) -> Result<RestoreRunDetails, ApiError> {
    let key = run.run_key();
    // A stored document that no longer parses shows as a tables restore.
    let restore_schema = serde_json::from_value::<RestoreProperties>(task.properties.clone())
        .map(|p| p.restore_schema)
        .unwrap_or(false);
    let progress = match state
        .store
        .get_restore_run(key)
        .await
        .map_err(store_error)?
    {
        Some(restore_run) => {
            let rows = state
                .store
                .list_restore_progress(key)
                .await
                .map_err(store_error)?;
            Some(rollup(&restore_run, restore_schema, &rows))
        }
        None => None,
    };
    Ok(RestoreRunDetails {
        status_text: status_text(run.status, progress.as_ref()),
        run: run.into(),
        progress,
    })
}

/// An init error as an answer: 503 for what may pass once nodes are back, else 400 (the backup,
/// the properties or the cluster need fixing).
fn init_problem(e: InitError) -> ApiError {
    let status = if e.retryable() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::new(status, format!("restore init: {e}"))
}

/// `POST /api/v1/cluster/{cluster}/tasks/restore/target`: what a restore task with this body
/// would do, and every reason it would fail, touching nothing. The body is a whole task body
/// (`properties`, and optionally `name`, `schedule`, `labels`, each checked as creation checks
/// it) or the properties alone. A report with problems is still a 200: the caller decides.
async fn dry_run(
    State(state): State<ApiState>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<DryRunReport>, ApiError> {
    let cluster = find_cluster(&state, &cluster).await?;
    let (props, prefix) = dry_run_properties(&state, &cluster, &body, TaskType::Restore).await?;
    let (props, _view) = check_restore_properties(&cluster, props, prefix).await?;
    // Init's future is not provably `Send` (rustc's higher-ranked lifetime limits with its
    // fan-outs), which an axum handler must be: it runs on a blocking thread of the runtime.
    let runtime = tokio::runtime::Handle::current();
    let report = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let init = Init::connect(&cluster).await?;
            init.dry_run(&props).await
        })
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the restore dry run failed: {e}"),
        )
    })?
    .map_err(init_problem)?;
    Ok(Json(report))
}
