//! Schema restore (spec §7): the backup's `DESCRIBE SCHEMA WITH INTERNALS` rows applied over CQL
//! in order, with upstream's exclusions, `NetworkTopologyStrategy` replication rewritten through
//! `dc_mapping`, and every keyspace created so far dropped again if a statement fails.

use super::plan::RestorePlan;
use super::properties::RestoreProperties;
use super::target::{Init, InitError};

/// Applies the schema file of `plan` to the cluster.
pub async fn restore_schema(
    init: &Init,
    plan: &RestorePlan,
    props: &RestoreProperties,
) -> Result<(), InitError> {
    let _ = (init, plan, props);
    Err(InitError::NotYet)
}
