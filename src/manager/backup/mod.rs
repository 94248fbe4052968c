//! Backup: one run of a backup task, from the target to the last purge.
//!
//! TABLE
pub mod dedup;
pub mod node;
pub mod plan;
pub mod progress;
pub mod properties;
pub mod purge;
pub mod purge_stage;
pub mod resume;
pub mod retention;
pub mod run;
pub mod schema;
pub mod schema_stage;
pub mod stage;
pub mod supervisor;
pub mod target;
