//! The properties of a restore task (upstream's JSON keys and defaults, spec §1) and their
//! validation; which of them `restore update` may change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The properties of a restore task, with upstream's JSON keys and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreProperties {
    /// Locations `[dc:]provider:bucket` to restore from; at least one, no duplicates.
    pub location: Vec<String>,
    /// Keyspace/table glob filters; empty means every table (a schema restore takes none).
    pub keyspace: Vec<String>,
    /// The snapshot tag to restore (`sm_YYYYMMDDhhmmssUTC`); required.
    pub snapshot_tag: String,
    /// SSTables per shard in a batch; 0 means at most 5% of the node's expected share of bytes.
    pub batch_size: i64,
    /// Hosts restoring at once; 0 means all.
    pub parallel: i64,
    /// Files in parallel per host: -1 for the agent's setting, 0 for 2 × shards, or at least 1.
    pub transfers: i64,
    /// Download rate per host `[dc:]MiB/s` (0: unlimited); empty means unlimited.
    pub rate_limit: Vec<String>,
    /// Keep autocompaction on for the restored tables during DATA.
    pub allow_compaction: bool,
    /// Accepted for compatibility; the agent pins no CPU.
    pub unpin_agent_cpu: bool,
    /// Restore the schema (exactly one of the two is true).
    pub restore_schema: bool,
    /// Restore the tables' data (exactly one of the two is true).
    pub restore_tables: bool,
    /// Continue the task's unfinished run at its stage (`--no-continue` starts over, still
    /// inheriting units and views).
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Source DC → target DC; a source DC not named is not restored (when set).
    pub dc_mapping: BTreeMap<String, String>,
    /// `rclone` or `auto` (both the agent's download jobs here); `native` is refused.
    pub method: String,
}

impl Default for RestoreProperties {
    fn default() -> Self {
        RestoreProperties {
            location: Vec::new(),
            keyspace: Vec::new(),
            snapshot_tag: String::new(),
            batch_size: 2,
            parallel: 0,
            transfers: 0,
            rate_limit: Vec::new(),
            allow_compaction: false,
            unpin_agent_cpu: false,
            restore_schema: false,
            restore_tables: false,
            continue_: true,
            dc_mapping: BTreeMap::new(),
            method: "rclone".into(),
        }
    }
}
