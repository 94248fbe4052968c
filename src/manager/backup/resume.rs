//! Resuming an interrupted backup run (spec 1.8): which earlier run of the task the next run
//! continues, how a table's progress carries over when its snapshot is indexed again, and what
//! the scheduler does at start-up with a run the manager itself left unfinished.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::stage::BackupStage;
use crate::manager::store::{BackupRun, BackupRunProgress, RunStatus, TaskRun};

/// The cause recorded on a run the manager left unfinished when it stopped (a crash or a kill).
pub const MANAGER_STOPPED: &str = "the manager stopped during the run";

/// Whether a run found in the store when the manager starts was cut short by the manager itself
/// (left RUNNING, STOPPING or NEW by a crash, or ABORTED by a shutdown).
pub fn left_by_manager(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::New | RunStatus::Running | RunStatus::Stopping | RunStatus::Aborted
    )
}

/// What the scheduler does at start-up with a task, from its newest runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtStartup {
    /// Nothing to resume: its schedule decides.
    Nothing,
    /// Resume the run the manager aborted now, as retry number `retry` of the task.
    Resume {
        /// The retry this resumption counts as (1 for the first).
        retry: u32,
    },
    /// The run the manager aborted is not resumed; why.
    GiveUp(String),
}

/// What to do at start-up with a task whose runs are `runs` (newest first, runs the manager
/// left unfinished already marked ABORTED): a newest ABORTED run is resumed as a retry of the
/// task, unless the failed or aborted runs in a row already used up `num_retries`. A run a user
/// stopped, or one that ended, is left to the schedule.
pub fn at_startup(runs: &[TaskRun], num_retries: u32) -> AtStartup {
    let Some(newest) = runs.first() else {
        return AtStartup::Nothing;
    };
    if newest.status != RunStatus::Aborted {
        return AtStartup::Nothing;
    }
    let failed = runs
        .iter()
        .take_while(|r| matches!(r.status, RunStatus::Aborted | RunStatus::Error))
        .count();
    let retry = u32::try_from(failed).unwrap_or(u32::MAX);
    if retry > num_retries {
        AtStartup::GiveUp(format!(
            "run {} was aborted when the manager stopped and is not resumed: {failed} runs in a row failed or were aborted, more than num_retries ({num_retries}); start the task by hand",
            newest.id
        ))
    } else {
        AtStartup::Resume { retry }
    }
}

/// How many of a task's newest runs are looked at for one to resume.
pub const RESUME_LOOKBACK: usize = 20;

/// The run the next run of a task resumes, from the task's runs newest first: the newest run
/// interrupted at a resumable stage (INDEX up to PURGE), unless a finished run comes first.
/// Runs that failed before INDEX are passed over. A run whose snapshot is older than `age_max`
/// is not resumed.
pub fn resumable_run(
    runs: &[BackupRun],
    now: DateTime<Utc>,
    age_max: Option<Duration>,
) -> Option<&BackupRun> {
    let found = runs.iter().find_map(|r| match r.stage {
        BackupStage::Done => Some(None),
        s if s >= BackupStage::Index => Some(Some(r)),
        _ => None,
    })??;
    let too_old = age_max.is_some_and(|max| {
        chrono::Duration::from_std(max).is_ok_and(|max| now - found.snapshot_tag.time() > max)
    });
    (!too_old).then_some(found)
}

/// A table's progress when its snapshot dir is indexed again, from its previous row and what is
/// still on disk: a completed table keeps its row; otherwise the bytes and files no longer on
/// disk were uploaded (or deduplicated) earlier and count as skipped now.
pub fn resumed_row(
    prev: &BackupRunProgress,
    bytes_on_disk: u64,
    files_on_disk: u64,
) -> BackupRunProgress {
    let mut row = prev.clone();
    if prev.completed_at.is_some() && prev.error.is_none() {
        return row;
    }
    row.uploaded = 0;
    row.failed = 0;
    row.error = None;
    row.skipped = prev.size.saturating_sub(bytes_on_disk);
    row.files_skipped_count = prev.files_count.saturating_sub(files_on_disk);
    row.completed_at = None;
    row
}

/// A row of the resumed run as the new run starts from it: what was uploaded then counts as
/// skipped now (the new run's `uploaded` is only what it sends itself).
pub fn carried_over(prev: &BackupRunProgress, run_id: uuid::Uuid) -> BackupRunProgress {
    BackupRunProgress {
        run_id,
        uploaded: 0,
        skipped: prev.skipped + prev.uploaded,
        failed: 0,
        ..prev.clone()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::format::tag::SnapshotTag;

    fn run(stage: BackupStage, minutes_ago: i64, now: DateTime<Utc>) -> BackupRun {
        BackupRun {
            cluster_id: Uuid::nil(),
            task_id: Uuid::nil(),
            id: Uuid::new_v4(),
            prev_id: None,
            snapshot_tag: SnapshotTag::from_time(now - chrono::Duration::minutes(minutes_ago)),
            units: vec![],
            dc: vec![],
            location: vec![],
            nodes: vec![],
            start_time: now,
            stage,
            skipped_hosts: vec![],
        }
    }

    #[test]
    fn the_newest_interrupted_run_is_resumed_unless_a_finished_one_is_newer() {
        let now = Utc::now();
        let day = Some(Duration::from_secs(86_400));
        let upload = run(BackupStage::Upload, 30, now);
        let runs = vec![run(BackupStage::Snapshot, 5, now), upload.clone()];
        assert_eq!(
            resumable_run(&runs, now, day).map(|r| r.id),
            Some(upload.id),
            "a run that failed in SNAPSHOT is passed over"
        );
        let runs = vec![run(BackupStage::Done, 5, now), upload.clone()];
        assert!(
            resumable_run(&runs, now, day).is_none(),
            "a finished run ends the search"
        );
        let old = vec![run(BackupStage::Upload, 25 * 60, now)];
        assert!(
            resumable_run(&old, now, day).is_none(),
            "older than age_max"
        );
        assert!(resumable_run(&old, now, None).is_some(), "no age limit");
        assert!(resumable_run(&[run(BackupStage::Init, 1, now)], now, day).is_none());
    }

    fn task_run(status: RunStatus, n: u128) -> TaskRun {
        TaskRun {
            cluster_id: Uuid::nil(),
            task_type: crate::manager::store::TaskType::Backup,
            task_id: Uuid::nil(),
            id: Uuid::from_u128(n),
            status,
            cause: String::new(),
            owner: String::new(),
            start_time: Utc::now(),
            end_time: None,
        }
    }

    #[test]
    fn a_run_the_manager_aborted_is_resumed_as_a_retry_within_num_retries() {
        use RunStatus::*;
        assert!(left_by_manager(Running) && left_by_manager(Stopping) && left_by_manager(Aborted));
        assert!(!left_by_manager(Stopped) && !left_by_manager(Done) && !left_by_manager(Error));
        let runs = |s: &[RunStatus]| -> Vec<TaskRun> {
            s.iter()
                .enumerate()
                .map(|(i, s)| task_run(*s, i as u128))
                .collect()
        };
        assert_eq!(at_startup(&[], 3), AtStartup::Nothing);
        assert_eq!(
            at_startup(&runs(&[Aborted, Done]), 3),
            AtStartup::Resume { retry: 1 }
        );
        assert_eq!(
            at_startup(&runs(&[Aborted, Error, Done]), 3),
            AtStartup::Resume { retry: 2 }
        );
        assert_eq!(
            at_startup(&runs(&[Stopped, Aborted]), 3),
            AtStartup::Nothing,
            "a run a user stopped is not resumed"
        );
        assert_eq!(at_startup(&runs(&[Done, Aborted]), 3), AtStartup::Nothing);
        match at_startup(&runs(&[Aborted, Aborted, Error]), 2) {
            AtStartup::GiveUp(why) => assert!(why.contains("num_retries (2)"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            at_startup(&runs(&[Aborted]), 0),
            AtStartup::GiveUp(_)
        ));
    }

    #[test]
    fn bytes_gone_from_disk_count_as_skipped_and_completed_tables_keep_their_row() {
        let prev = BackupRunProgress {
            cluster_id: Uuid::nil(),
            task_id: Uuid::nil(),
            run_id: Uuid::nil(),
            host: "h".into(),
            unit: 0,
            table_name: "t".into(),
            agent_job_id: Some("j".into()),
            started_at: Some(Utc::now()),
            completed_at: None,
            error: Some("agent lost".into()),
            size: 1000,
            uploaded: 600,
            skipped: 100,
            failed: 50,
            files_count: 10,
            files_skipped_count: 1,
        };
        let r = resumed_row(&prev, 350, 4);
        assert_eq!((r.uploaded, r.skipped, r.failed), (0, 650, 0));
        assert_eq!((r.files_count, r.files_skipped_count), (10, 6));
        assert_eq!(r.error, None);
        let done = BackupRunProgress {
            completed_at: Some(Utc::now()),
            error: None,
            uploaded: 900,
            ..prev
        };
        assert_eq!(resumed_row(&done, 0, 0), done);
        let carried = carried_over(&done, Uuid::from_u128(7));
        assert_eq!((carried.uploaded, carried.skipped), (0, 1000));
        assert_eq!(carried.run_id, Uuid::from_u128(7));
        assert!(
            carried.completed_at.is_some(),
            "a completed table stays completed"
        );
    }
}
