//! Where the manager reads backup locations: listings and manifests, through an agent that
//! reaches the location or straight from its object store (`--offline`), the `backup list` and
//! `backup files` answers, and whether the agents can use a task's locations.
//!
//! The agent opens object stores itself ([`crate::agent::storage`]) and never depends on the
//! manager; the direct reader here reuses that opening for `--offline`. Writing and deleting in a
//! location is backup's work (`purge`, [`super::backup::delete`]), done through the agents.
//!
//! | module | owns |
//! |---|---|
//! | [`check`] | whether the agents of a task's DCs can use its locations, asked at task creation and by the dry run |
//! | [`listing`] | the `backup list` aggregate (per cluster and task: snapshots, nodes, sizes, tables) and the files of one snapshot, with the manifests that could not be read skipped and named |
//! | [`manifests`] | the manifests of a location: the agent that reaches it, listing, reading streaming or whole; the errors of reading a location |
//! | [`reader`] | `LocationReader`: listing and reading a location's objects through an agent or straight from its store |
//! | [`verify`] | whether every file a node manifest lists is in the location with its size (a backup's commit; validate) |

pub mod check;
pub mod listing;
pub mod manifests;
pub mod reader;
pub mod verify;
