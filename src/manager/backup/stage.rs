//! The stages of a backup run: the [`BackupStage`] enum (stored as `backup_run.stage`), the
//! order a run goes through them ([`BackupStage::RUN`]), which ones a run skips
//! ([`BackupStage::skipped`]) and how operators read them ([`stage_label`]).
//!
//! Where each stage's work lives: SNAPSHOT, INDEX, MANIFEST, DEDUPLICATE, UPLOAD and
//! MOVE_MANIFEST in [`super::node`] (one file each; tablet balancing around SNAPSHOT in
//! [`super::tablets`]), AWAIT_SCHEMA and SCHEMA in [`super::schema_stage`] and [`super::schema`],
//! PURGE in [`super::node::snapshot`] (the node's snapshot) and [`super::purge_stage`]
//! (retention).

use crate::manager::store::text_enum;

text_enum!(
    /// The stage of a backup run (`backup_run.stage`), ordered as a run goes through them.
    BackupStage, "backup stage", {
        /// The run is registered.
        Init => "INIT",
        /// Snapshots are taken on every host.
        Snapshot => "SNAPSHOT",
        /// The CQL schema is dumped.
        AwaitSchema => "AWAIT_SCHEMA",
        /// Snapshot files are listed.
        Index => "INDEX",
        /// Temporary manifests are written.
        Manifest => "MANIFEST",
        /// The schema file is uploaded.
        Schema => "SCHEMA",
        /// Files already in the location are dropped from the snapshot.
        Deduplicate => "DEDUPLICATE",
        /// Files are uploaded.
        Upload => "UPLOAD",
        /// Temporary manifests are made final.
        MoveManifest => "MOVE_MANIFEST",
        /// Snapshots are removed and retention applied.
        Purge => "PURGE",
        /// The run is complete.
        Done => "DONE",
    }
);

impl BackupStage {
    /// The stages a run works through, in order (upstream's, spec 1.4): every stage but INIT
    /// (recorded when the run is stored) and DONE (recorded when the last one ends).
    pub const RUN: &'static [BackupStage] = match BackupStage::ALL.split_first() {
        Some((_, after_init)) => match after_init.split_last() {
            Some((_, run)) => run,
            None => after_init,
        },
        None => BackupStage::ALL,
    };

    /// Whether a run that resumes at `resume_at` (INIT for a new run) skips this stage. A resumed
    /// run re-runs its interrupted stage and what follows; the schema dump is kept only in
    /// memory, so it runs again unless the schema was already uploaded. A purge-only run skips
    /// everything before PURGE.
    pub fn skipped(self, resume_at: BackupStage, purge_only: bool) -> bool {
        (purge_only && self < BackupStage::Purge)
            || if self == BackupStage::AwaitSchema {
                resume_at > BackupStage::Schema
            } else {
                self < resume_at
            }
    }

    /// Whether the stage writes to the run's locations, so the run must hold their lease.
    pub fn writes_location(self) -> bool {
        self >= BackupStage::Manifest
    }
}

/// What operators see for each stage while it runs (upstream wording).
pub fn stage_label(stage: BackupStage) -> &'static str {
    match stage {
        BackupStage::Init => "initialising",
        BackupStage::Snapshot => "taking snapshot",
        BackupStage::AwaitSchema => "awaiting schema agreement",
        BackupStage::Index => "indexing files",
        BackupStage::Manifest => "uploading manifests",
        BackupStage::Schema => "uploading schema",
        BackupStage::Deduplicate => "deduplicating the snapshot",
        BackupStage::Upload => "uploading data",
        BackupStage::MoveManifest => "moving manifests",
        BackupStage::Purge => "retention",
        BackupStage::Done => "done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_stages_are_ordered_as_upstream() {
        let names: Vec<&str> = BackupStage::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "INIT",
                "SNAPSHOT",
                "AWAIT_SCHEMA",
                "INDEX",
                "MANIFEST",
                "SCHEMA",
                "DEDUPLICATE",
                "UPLOAD",
                "MOVE_MANIFEST",
                "PURGE",
                "DONE"
            ]
        );
        assert!(BackupStage::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(BackupStage::Upload > BackupStage::Index);
    }

    #[test]
    fn a_run_goes_through_every_stage_between_init_and_done() {
        assert_eq!(
            BackupStage::RUN,
            &BackupStage::ALL[1..BackupStage::ALL.len() - 1]
        );
    }

    #[test]
    fn resumed_and_purge_only_runs_skip_what_is_done() {
        use BackupStage::*;
        assert!(!Snapshot.skipped(Init, false));
        assert!(Snapshot.skipped(Upload, false));
        assert!(!Upload.skipped(Upload, false));
        assert!(AwaitSchema.skipped(Upload, false));
        assert!(!AwaitSchema.skipped(Schema, false));
        assert!(AwaitSchema.skipped(Deduplicate, false));
        assert!(Upload.skipped(Init, true));
        assert!(!Purge.skipped(Init, true));
    }
}
