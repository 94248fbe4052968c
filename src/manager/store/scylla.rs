//! The [`Store`](super::Store) kept in ScyllaDB tables (not built yet: opening it is refused).

use super::{ScyllaConfig, StoreError, StoreResult};

/// The store kept in a ScyllaDB keyspace.
#[derive(Debug)]
pub struct ScyllaStore {}

impl ScyllaStore {
    /// Refuses: this build has no ScyllaDB store yet.
    pub async fn open(_config: &ScyllaConfig) -> StoreResult<std::sync::Arc<dyn super::Store>> {
        Err(StoreError::Config(
            "the ScyllaDB store is not available in this build; use type: sqlite".to_owned(),
        ))
    }
}
