//! The tests' own look at a cluster over CQL, through the real `scylla` driver.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::host_filter::AllowListHostFilter;

use super::TestCluster;

/// A CQL session to node 0 of `cluster` alone, on the port its Scylla API names, with the
/// emulator's credentials.
pub async fn session(cluster: &TestCluster) -> Session {
    let port = cluster.get(0, "/v2/config/native_transport_port").await;
    let node = format!("{}:{}", cluster.address(0), port);
    let (user, password) = cluster.cql_credentials();
    SessionBuilder::new()
        .known_node(&node)
        .host_filter(Arc::new(AllowListHostFilter::new([node.as_str()]).unwrap()))
        .user(user, password)
        .build()
        .await
        .unwrap_or_else(|e| panic!("CQL session to {node}: {e}"))
}

/// `(keyspace, name)` of the rows of `query` (two text columns), user keyspaces only.
pub async fn pairs(session: &Session, query: &str) -> BTreeSet<(String, String)> {
    let rows: Vec<(String, String)> = session
        .query_iter(query, ())
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .rows_stream::<(String, String)>()
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    rows.into_iter()
        .filter(|(ks, _)| !ks.starts_with("system"))
        .collect()
}
