//! The backup format shared with ScyllaDB Manager: everything that names or describes a backup.
//!
//! Every type here parses, validates and formats; none performs I/O beyond bytes handed to it.
//!
//! | module | owns |
//! |---|---|
//! | [`location`] | `[dc:]provider:bucket` locations |
//! | [`tag`] | `sm_YYYYMMDDhhmmssUTC` snapshot tags |
//! | [`paths`] | every remote path of the layout, built and parsed back |
//! | [`manifest`] | the v2 node manifest (gzip JSON), with a streaming reader and writer for its index |
//! | [`filter`] | keyspace/table and DC glob filters with upstream semantics |
//! | [`dclimit`] | `[dc:]N` lists used by rate limits and parallelism |
//! | [`sstable`] | SSTable file names: versions, generations (integer and UUID), components, versioned suffixes |

pub mod dclimit;
pub mod filter;
pub mod location;
pub mod manifest;
pub mod paths;
pub mod sstable;
pub mod tag;

/// Most files an agent transfers in parallel for one job (a task's `transfers`, an agent job's
/// `transfers`); the manager refuses more at task creation, the agent refuses more in a job.
pub const MAX_TRANSFERS: usize = 256;
