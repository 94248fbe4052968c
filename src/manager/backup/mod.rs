//! Backups: one run of a backup task, from its target to the last purge, and the decisions it
//! shares with the commands that read or delete backups (retention, purge, resume, progress).
//!
//! A run is a [`supervisor::BackupSupervisor`]: it has the run [`plan`]ned, then drives the
//! [`stage`]s in order over one [`node::NodeActor`] per host (fanned out and restarted by
//! [`crate::manager::fleet`]); [`stage`] says which file does each stage's work.
//!
//! | module | owns |
//! |---|---|
//! | [`cql`] | a single-node CQL session of a run: the node's CQL address and port (from `node_info`), the cluster's credentials |
//! | [`dedup`] | which snapshot files are already in the location (same generation, names and sizes; equal digests for integer generations) |
//! | [`delete`] | deleting snapshots on request (`backup delete`): purged under the locations' leases; and the nodes' `sm_*` snapshots |
//! | [`node`] | `NodeActor`: one host's part of a run, one file per stage (see its table) |
//! | [`plan`] | what a run works from before its first stage: cluster, `Target`, the run it resumes, hosts and their locations, budgets; stale and protected snapshot tags |
//! | [`progress`] | a run's progress rolled up host → keyspace → table, with upstream's percentage |
//! | [`properties`] | a backup task's properties and their validation, each problem naming its field |
//! | [`purge`] | the purge of one node's stale snapshots in a location (reference counting by set difference, expired versions), and which host purges which node |
//! | [`purge_stage`] | the PURGE stage's retention: every task's policy applied to the run's locations |
//! | [`resume`] | which interrupted run the next run resumes, and how a table's progress carries over |
//! | [`retention`] | a task's retention policy, which snapshots it keeps, which files purge may delete, which old versions go |
//! | [`run`] | what a run is given and shows: the manager's parts, the request, errors, observable state |
//! | [`schema`] | the CQL schema of a cluster, dumped over CQL (after a read barrier) for the backup's schema file; materialized views left out; the refusal without credentials |
//! | [`schema_stage`] | the AWAIT_SCHEMA and SCHEMA stages: the dump, and its upload once per location |
//! | [`settings`] | `RunSettings`: the manager's settings for runs, from its configuration |
//! | [`stage`] | `BackupStage`: the stages, their order, the skip rule of resumed runs, the operators' wording |
//! | [`supervisor`] | `BackupSupervisor`: the actor of one run, its messages, the stages' course, host failures, the commit and its rollback |
//! | [`tablets`] | which keyspaces use tablets, and tablet balancing kept off during SNAPSHOT (on again on any outcome) |
//! | [`target`] | what a run will do: DCs, nodes, tables, locations, rates, size (spec 1.2); also the dry run's answer |

pub mod cql;
pub mod dedup;
pub mod delete;
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
pub mod settings;
pub mod stage;
pub mod supervisor;
pub mod tablets;
pub mod target;
