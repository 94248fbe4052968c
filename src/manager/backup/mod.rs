//! Backup: one run of a backup task, from the target to the last purge.
//!
//! TABLE
pub mod dedup;
pub mod node;
pub mod progress;
pub mod purge;
pub mod resume;
pub mod retention;
pub mod schema;
pub mod stage;
pub mod supervisor;
pub mod target;
