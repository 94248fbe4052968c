//! Resuming an interrupted backup run (spec 1.8): which earlier run of the task the next run
//! continues, and how a table's progress carries over when its snapshot is indexed again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::store::{BackupRun, BackupRunProgress, BackupStage};

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
    use crate::spec::tag::SnapshotTag;

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
