//! Restore: a backup's schema or tables back into any cluster (spec: upstream-restore-spec §1–§7),
//! pipelined per host, resumable to the file.
//!
//! | module | owns |
//! |---|---|
//! | [`run`] | what a run is given and shares: its dependencies, its errors, the DATA stage's shared context |
//! | [`supervisor`] | `RestoreSupervisor`: one run, its stages from the persisted one on, what it inherits |
//! | [`batches`] | the pool of SSTables left and the batches hosts take from it (pure) |
//! | [`data`] | DATA: autocompaction off and back on, one node actor per host, the final check |
//! | [`node`] | `RestoreNode`: one host's pipelined batches (download N+1 while N loads), resume, failures |
//! | [`repair`] | REPAIR: vnode and tablet repairs, their ids persisted and awaited |
//! | [`properties`] | the task's properties (upstream's keys), their validation, what `restore update` may change |
//! | [`stage`] | the stages and their order |
//! | [`plan`] | what a run works from: target hosts, remote SSTable directories with the chosen files, units, views |
//! | [`target`] | init: the cluster's nodes, the plan of a run, the dry run; init's errors |
//! | [`error`] | [`InitError`](error::InitError): why init or a CQL step of a restore failed |
//! | [`index`] | what init reads of the locations: readers, manifests of the tag, index entries, listings, the schema file |
//! | [`manifests`] | the manifests of the tag: temporary ones shadowed, only mapped DCs |
//! | [`dc_mapping`] | `dc_mapping` checks, source DCs per node, replication maps rewritten |
//! | [`one_to_one`] | 1-1 restore: the node mapping, its checks against the backup and the cluster (same racks, tokens, shards), each host's source node |
//! | [`units`] | which backed-up tables are restored, and the units recorded |
//! | [`dirs`] | remote SSTable directories: files grouped by SSTable, the versioned-file rule, sizes checked |
//! | [`room`] | the dry run's check of each node's room for two batches |
//! | [`cql`] | CQL: sessions, table IDs and tombstone_gc modes, views and indexes, identifiers |
//! | [`schema_file`] | the backup's CQL schema file: finding it, its rows, its views |
//! | [`progress`] | the progress operators read: rollup, per-host rates, views, repair |
//! | [`schema`] | schema restore: the backup's CQL applied in order, replication rewritten by dc_mapping |
//! | [`tgc`] | DISABLE_TGC / ENABLE_TGC: schema agreement, tombstone_gc off and back |
//! | [`views`] | DROP_VIEWS / RECREATE_VIEWS: views and indexes dropped, created again, awaited |

pub mod batches;
pub mod cql;
pub mod data;
pub mod dc_mapping;
pub mod dirs;
pub mod error;
pub mod index;
pub mod manifests;
pub mod node;
pub mod one_to_one;
pub mod plan;
pub mod progress;
pub mod properties;
pub mod repair;
pub mod room;
pub mod run;
pub mod schema;
pub mod schema_file;
pub mod stage;
pub mod supervisor;
pub mod target;
pub mod tgc;
pub mod units;
pub mod views;
