//! The statements an emulated node runs over CQL, against the cluster's shared schema.
//!
//! Placeholder: every statement is refused until the engine lands.

use std::sync::{Arc, Weak};

use super::outcome::{CqlError, Outcome, Shape, Statements};
use crate::emulator::Cluster;

/// Runs statements for one node of the cluster.
#[derive(Debug)]
pub struct Engine {
    /// The cluster (weak: the cluster owns the servers that own the engine).
    cluster: Weak<Cluster>,
    /// Index of the node the connection reached.
    node: usize,
}

impl Engine {
    /// The engine of node `node`.
    pub fn new(cluster: &Arc<Cluster>, node: usize) -> Self {
        Engine {
            cluster: Arc::downgrade(cluster),
            node,
        }
    }
}

impl Statements for Engine {
    fn prepare(&self, _keyspace: Option<&str>, text: &str) -> Result<Shape, CqlError> {
        let _ = (&self.cluster, self.node);
        Err(CqlError::syntax(format!("not supported yet: {text}")))
    }

    fn execute(
        &self,
        _keyspace: Option<&str>,
        text: &str,
        _values: &[Option<Vec<u8>>],
    ) -> Result<Outcome, CqlError> {
        Err(CqlError::syntax(format!("not supported yet: {text}")))
    }
}
