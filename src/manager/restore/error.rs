//! Why restore init, or a CQL step of a restore (views, tombstone_gc, schema), failed: one
//! enum, each message naming what is wrong and, where the user can fix it, how; and whether a
//! retry may help.

use super::dc_mapping::DcMappingError;
use super::schema_file::SchemaFileError;
use super::target::MissingObject;
use crate::format::sstable::SSTableNameError;
use crate::manager::agent_client::error::AgentError;
use crate::manager::discovery::DiscoveryError;
use crate::manager::location::manifests::LocationError;

/// How many missing objects an error names.
const NAMED: usize = 5;

/// Why init (or a CQL step of a restore: views, tombstone_gc, schema) failed; each message names
/// what is wrong and, where the user can fix it, how.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The cluster could not be discovered.
    #[error("restore: {0}")]
    Discovery(Box<DiscoveryError>),
    /// Nodes are not up and normal, or their agents do not answer.
    #[error(
        "restore: every node must be up, normal and its agent reachable: {}; a retry may help once they are back",
        .nodes.iter().map(|(h, r)| format!("{h} {r}")).collect::<Vec<_>>().join("; ")
    )]
    NodesDown {
        /// Each node that cannot be used and why.
        nodes: Vec<(String, String)>,
    },
    /// A call to an agent failed.
    #[error("restore: {0}")]
    Agent(Box<AgentError>),
    /// A property is wrong.
    #[error("restore properties: {0} (fix the task; a retry will not help)")]
    Properties(String),
    /// A location could not be read.
    #[error("restore: {0}")]
    Location(Box<LocationError>),
    /// A temporary manifest of the tag has no final one: the backup did not finish.
    #[error(
        "restore: temporary manifest {path} not shadowed by a final one: the backup of this snapshot did not finish; restore another snapshot"
    )]
    Unshadowed {
        /// The temporary manifest, with its location.
        path: String,
    },
    /// No location holds a manifest of the tag.
    #[error("restore: snapshot {tag} not found in {}; list the snapshots with cairn backup list", .locations.join(", "))]
    NoSnapshot {
        /// The tag.
        tag: String,
        /// The locations searched.
        locations: Vec<String>,
    },
    /// `dc_mapping` does not fit the backup or the cluster, or a replication map cannot be placed.
    #[error("restore: {0}")]
    DcMapping(#[from] DcMappingError),
    /// The keyspace filter selects no backed-up table.
    #[error(
        "restore: the keyspace filter [{}] selects no restorable table of snapshot {tag}; fix -K",
        .patterns.join(", ")
    )]
    NoTables {
        /// The filter as given.
        patterns: Vec<String>,
        /// The tag.
        tag: String,
    },
    /// Backed-up tables the cluster restored into lacks.
    #[error(
        "restore: {} {} missing in the restored cluster: exclude {} with -K or restore the schema first with --restore-schema",
        .tables.join(", "),
        if .tables.len() == 1 { "is" } else { "are" },
        if .tables.len() == 1 { "it" } else { "them" }
    )]
    MissingTables {
        /// `ks.table` of each.
        tables: Vec<String>,
    },
    /// Objects the restore needs are missing or of another size.
    #[error(
        "restore: {} object(s) of the snapshot are missing or of another size than the manifest says: {}; the backup is damaged (run cairn restore --dry-run for the full list)",
        .objects.len(),
        .objects.iter().take(NAMED).map(|o| match o.found_size {
            Some(f) => format!("{} ({f} bytes, expected {})", o.path, o.expected_size),
            None => format!("{} (missing)", o.path),
        }).collect::<Vec<_>>().join(", ")
    )]
    MissingObjects {
        /// Each object.
        objects: Vec<MissingObject>,
    },
    /// A manifest lists a file that is not an SSTable component.
    #[error("restore: {0} (the manifest is not one this restore reads; a retry will not help)")]
    SSTableName(#[from] SSTableNameError),
    /// A 1-1 restore's cluster does not mirror the backed-up one as its node mapping says.
    #[error(
        "restore: 1-1 restore: the cluster does not mirror the backup as nodes_mapping says: {}; fix the mapping or use a regular restore (a retry will not help)",
        .problems.join("; ")
    )]
    OneToOne {
        /// Each problem, naming the nodes.
        problems: Vec<String>,
    },
    /// A schema restore without the schema file.
    #[error(
        "restore: no CQL schema file found for snapshot {tag} in {location}: the backup was taken without the schema (e.g. --skip-schema or no CQL credentials); restore the schema by hand"
    )]
    NoSchemaFile {
        /// The tag.
        tag: String,
        /// The location searched.
        location: String,
    },
    /// The schema file could not be read.
    #[error("restore: {0}")]
    SchemaFile(#[from] SchemaFileError),
    /// CQL is needed and the cluster has no credentials.
    #[error(
        "restore: CQL credentials are required to restore into cluster {cluster} (views, tombstone_gc, schema); add them with cairn cluster update -c {cluster} --username U --password P"
    )]
    NoCredentials {
        /// The cluster's name.
        cluster: String,
    },
    /// No node's CQL answered.
    #[error("restore: no node's CQL could be reached: {failures}; a retry may help")]
    CqlUnreachable {
        /// Each node's failure.
        failures: String,
    },
    /// A CQL statement failed.
    #[error("restore: CQL {statement:?}: {reason}")]
    Cql {
        /// The statement.
        statement: String,
        /// What failed.
        reason: String,
    },
    /// The nodes did not agree on one schema version in time.
    #[error(
        "restore: no schema agreement after {waited_secs} s: {nodes}; a retry may help once the nodes agree"
    )]
    SchemaAgreement {
        /// Each node's schema version.
        nodes: String,
        /// Seconds waited.
        waited_secs: u64,
    },
    /// A schema statement failed; the keyspaces created so far were dropped.
    #[error(
        "restore schema: {statement:?} failed: {reason}; keyspaces created by this restore dropped again: [{}]",
        .dropped.join(", ")
    )]
    SchemaStatement {
        /// The statement.
        statement: String,
        /// What failed.
        reason: String,
        /// The keyspaces dropped again.
        dropped: Vec<String>,
    },
}

impl From<DiscoveryError> for InitError {
    fn from(e: DiscoveryError) -> Self {
        InitError::Discovery(Box::new(e))
    }
}

impl From<AgentError> for InitError {
    fn from(e: AgentError) -> Self {
        InitError::Agent(Box::new(e))
    }
}

impl From<LocationError> for InitError {
    fn from(e: LocationError) -> Self {
        InitError::Location(Box::new(e))
    }
}

impl InitError {
    /// Whether a later attempt may get past it (a node or store briefly away), as opposed to a
    /// problem of the backup or the properties that a retry cannot fix.
    pub fn retryable(&self) -> bool {
        match self {
            InitError::Discovery(e) => e.retryable(),
            InitError::Agent(e) => e.retryable(),
            InitError::Location(e) => e.retryable(),
            InitError::NodesDown { .. }
            | InitError::CqlUnreachable { .. }
            | InitError::SchemaAgreement { .. } => true,
            InitError::Cql { reason, .. } => {
                let r = reason.to_ascii_lowercase();
                r.contains("timeout") || r.contains("timed out") || r.contains("connection")
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do_and_whether_to_retry() {
        let one = InitError::MissingTables {
            tables: vec!["ks.t".into()],
        };
        assert_eq!(
            one.to_string(),
            "restore: ks.t is missing in the restored cluster: exclude it with -K or restore the schema first with --restore-schema"
        );
        assert!(!one.retryable());
        let two = InitError::MissingTables {
            tables: vec!["ks.t".into(), "ks.u".into()],
        };
        assert!(two.to_string().contains("ks.t, ks.u are missing"));
        let down = InitError::NodesDown {
            nodes: vec![("10.0.0.1".into(), "down in gossip".into())],
        };
        assert!(down.to_string().contains("10.0.0.1 down in gossip"));
        assert!(down.retryable());
        let tmp = InitError::Unshadowed {
            path: "p.tmp".into(),
        };
        assert!(
            tmp.to_string()
                .contains("temporary manifest p.tmp not shadowed")
        );
    }
}
