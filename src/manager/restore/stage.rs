//! The stages of a restore run: the [`RestoreStage`] enum (stored as `restore_run.stage`) and the
//! order a tables restore goes through them (upstream's `tables_worker.go`, spec §3). A schema
//! restore has no stages beyond INIT and DONE: it applies the schema in one step.

use crate::manager::store::text_enum;

text_enum!(
    /// The stage of a restore run (`restore_run.stage`), ordered as a run goes through them.
    RestoreStage, "restore stage", {
        /// The run is registered: target, units and views are being read.
        Init => "INIT",
        /// Views and secondary indexes of the restored tables are dropped.
        DropViews => "DROP_VIEWS",
        /// tombstone_gc is set to `disabled` on every restored table.
        DisableTgc => "DISABLE_TGC",
        /// SSTables are downloaded into `upload/` and loaded with load&stream.
        Data => "DATA",
        /// The restored tables are repaired.
        Repair => "REPAIR",
        /// Every restored table gets its original tombstone_gc mode back.
        EnableTgc => "ENABLE_TGC",
        /// Views and indexes are created again and awaited until built everywhere.
        RecreateViews => "RECREATE_VIEWS",
        /// The restore is complete.
        Done => "DONE",
    }
);

impl RestoreStage {
    /// The stages a tables restore works through, in order: every stage but INIT and DONE.
    pub const RUN: &'static [RestoreStage] = &[
        RestoreStage::DropViews,
        RestoreStage::DisableTgc,
        RestoreStage::Data,
        RestoreStage::Repair,
        RestoreStage::EnableTgc,
        RestoreStage::RecreateViews,
    ];
}
