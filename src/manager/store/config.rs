//! Which store the manager uses and how to reach it: the `store:` section of its YAML.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{StoreError, StoreResult};

/// Which store the manager uses, from the manager's YAML (`store:` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreConfig {
    /// An embedded SQLite file (the default).
    Sqlite {
        /// The database file; created if missing, its directory must exist.
        path: PathBuf,
    },
    /// Tables in a ScyllaDB keyspace.
    Scylla(ScyllaConfig),
}

/// Where and how to reach the ScyllaDB cluster that holds the manager's state.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ScyllaConfig {
    /// `host:port` of one or more nodes.
    pub contact_points: Vec<String>,
    /// CQL user name, when authentication is on.
    #[serde(default)]
    pub username: Option<String>,
    /// CQL password, when authentication is on.
    #[serde(default)]
    pub password: Option<String>,
    /// The keyspace, created if missing.
    #[serde(default = "default_keyspace")]
    pub keyspace: String,
    /// Replication factor of the keyspace when it is created (SimpleStrategy).
    #[serde(default = "default_replication_factor")]
    pub replication_factor: u32,
}

impl fmt::Debug for ScyllaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScyllaConfig")
            .field("contact_points", &self.contact_points)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("keyspace", &self.keyspace)
            .field("replication_factor", &self.replication_factor)
            .finish()
    }
}

impl ScyllaConfig {
    /// Checks what can be checked without connecting: contact points present, the keyspace a
    /// plain CQL identifier (it is spliced into statements), the replication factor at least 1.
    pub fn validate(&self) -> StoreResult<()> {
        if self.contact_points.is_empty() {
            return Err(StoreError::Config(
                "scylla store: contact_points is empty; give at least one host:port".to_owned(),
            ));
        }
        let ks = &self.keyspace;
        let plain = ks.len() <= 48
            && ks.starts_with(|c: char| c.is_ascii_alphabetic())
            && ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            return Err(StoreError::Config(format!(
                "scylla store: keyspace {ks:?} is not a plain CQL name \
                 (a letter, then letters, digits or _, at most 48)"
            )));
        }
        if self.replication_factor == 0 {
            return Err(StoreError::Config(
                "scylla store: replication_factor must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The keyspace used when none is configured; not upstream's, so both can share a cluster.
pub const DEFAULT_KEYSPACE: &str = "cairn_manager";

fn default_keyspace() -> String {
    DEFAULT_KEYSPACE.to_owned()
}

fn default_replication_factor() -> u32 {
    1
}
