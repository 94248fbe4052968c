//! What every connection to one node shares: the statements, the credentials, the node-wide
//! prepared statements and the call record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::outcome::{Shape, Statements};

/// Records a statement a node ran (`CQL <text>`).
pub type Recorder = Box<dyn Fn(String) + Send + Sync>;

/// A statement prepared on the node.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The connection's keyspace when it was prepared.
    pub keyspace: Option<String>,
    /// The statement text.
    pub text: String,
    /// Its markers and result columns.
    pub shape: Shape,
}

/// What every connection to one node shares.
pub struct Service {
    /// Runs the statements.
    pub statements: Arc<dyn Statements>,
    /// The user that may log in.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Prepared statements by id; node-wide as in Scylla (a driver prepares on one connection
    /// and executes on any), lost when the node goes down.
    pub prepared: Mutex<HashMap<Vec<u8>, Prepared>>,
    /// Records every `QUERY`/`EXECUTE` statement.
    pub record: Recorder,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A node's service with no prepared statements yet.
    pub fn new(
        statements: Arc<dyn Statements>,
        user: impl Into<String>,
        password: impl Into<String>,
        record: Recorder,
    ) -> Self {
        Service {
            statements,
            user: user.into(),
            password: password.into(),
            prepared: Mutex::new(HashMap::new()),
            record,
        }
    }

    /// The prepared statement with this id.
    pub fn prepared(&self, id: &[u8]) -> Option<Prepared> {
        self.lock_prepared().get(id).cloned()
    }

    /// Keeps a prepared statement.
    pub fn remember(&self, id: Vec<u8>, prepared: Prepared) {
        self.lock_prepared().insert(id, prepared);
    }

    fn lock_prepared(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Prepared>> {
        self.prepared.lock().unwrap_or_else(|p| p.into_inner())
    }
}
