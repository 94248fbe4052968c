//! Restore: a backup's schema or tables back into any cluster (spec: upstream-restore-spec §1–§7),
//! pipelined per host, resumable to the file.
//!
//! | module | owns |
//! |---|---|
//! | [`properties`] | the task's properties (upstream's keys), their validation, what `restore update` may change |
//! | [`stage`] | the stages and their order |
//! | [`plan`] | what a run works from: target hosts, remote SSTable directories with the chosen files, units, views |
//! | [`target`] | init: manifests of the tag, dc_mapping, units, tombstone_gc, views, the versioned-file rule; the dry run |
//! | [`progress`] | the progress operators read: rollup, per-host rates, views, repair |

pub mod plan;
pub mod progress;
pub mod properties;
pub mod stage;
pub mod target;
