//! Validate (`validate_backup`): proving that a location's backups are whole and that their bytes
//! are the node's. One run checks, per location, every node directory of the cluster through the
//! agents (online) or straight from the store (`cairn backup validate --offline`); both share the
//! per-node check, so what is found does not depend on how the location is reached.
//!
//! | module | owns |
//! |---|---|
//! | [`properties`] | the task's properties (upstream's keys, Cairn's `content`, `sample`, `orphan_grace`) and their validation |
//! | [`report`] | what a check found, per node directory and per location: counts, missing files, broken snapshots, size mismatches, corrupt files, orphans; shared by the run, the offline check, the API and the CLI |
//! | [`source`] | `ValidateSource`: listing with sizes and times, deleting, checking SSTable content; through an agent or straight from the store |
//! | [`location`] | a location's manifests for validate: this cluster's (or every cluster's), temporary ones shadowed by final ones dropped, grouped by node directory |
//! | [`node`] | the check of one node directory: its listing, then each manifest streamed against it (missing files, schema files, sizes), content (sampled), orphans and their safe deletion |
//! | [`sample`] | which SSTables a run checks the content of: a deterministic share, rotating between runs |
//! | [`orphans`] | which listed files are orphans (the referenced files, versioned copies included), and which of those may be deleted (the safety rules) |
//! | [`offline`] | the whole check of a location from the store alone, for `--offline`; the deletion cut-off lowered to unfinished runs |
//! | [`targets`] | what an online run works on: the task's locations (defaulting to the backup tasks'), the live hosts, per location the hosts reaching it and its node directories |
//! | [`work`] | one location's node directories fanned out to its hosts: own directory first, then a shared queue; failing hosts dropped and their directories given back |
//! | [`progress`] | progress rows: a host's row from its node reports, a run's rows read back as a report |
//! | [`run`] | what a validate run is given (`ValidateDeps`) and its live state |
//! | [`supervisor`] | `ValidateSupervisor`: one online run: hosts per location, node directories fanned out to them, progress rows, metrics, the run's outcome |

pub mod location;
pub mod node;
pub mod offline;
pub mod orphans;
pub mod progress;
pub mod properties;
pub mod report;
pub mod run;
pub mod sample;
pub mod source;
pub mod supervisor;
pub mod targets;
pub mod work;
