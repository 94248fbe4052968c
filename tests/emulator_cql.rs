//! The emulator's CQL side seen by independent clients: `cqlsh` (PyPI `scylla-cqlsh`, installed by
//! `scripts/test`) and the `scylla` driver, against a running emulated cluster.

mod common;

use std::process::Output;

use common::TestCluster;
use common::servers::{cqlsh_path, require_tool};

/// Runs `cqlsh` against node `i` with the given password and statements; its output.
fn cqlsh(cluster: &TestCluster, i: usize, password: &str, statements: &str) -> Option<Output> {
    let program = require_tool(&cqlsh_path(), "cqlsh (PyPI scylla-cqlsh)")?;
    let home = cluster.dir.path().join("cqlsh-home");
    std::fs::create_dir_all(&home).expect("cqlsh home");
    let output = std::process::Command::new(program)
        .arg(cluster.address(i))
        .arg(cluster.emulator.cql_port().to_string())
        .args(["-u", "cassandra", "-p", password])
        .args(["--connect-timeout", "20", "--request-timeout", "20"])
        .args(["-e", statements])
        .env("HOME", &home)
        .env_remove("CQLSH_HOST")
        .output()
        .expect("cqlsh runs");
    Some(output)
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn cqlsh_describes_the_schema_with_internals() {
    let cluster = TestCluster::start("dc1:2").await;
    let Some(out) = tokio::task::block_in_place(|| {
        cqlsh(&cluster, 1, "cassandra", "DESCRIBE SCHEMA WITH INTERNALS")
    }) else {
        return;
    };
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "cqlsh failed: {stderr}\n{stdout}");
    let schema = cluster.emulator.cluster().schema().clone();
    for (ks, table) in schema.all_tables().filter(|(k, _)| !k.is_system()) {
        let _ = table;
        assert!(
            stdout.contains(&format!("CREATE KEYSPACE {}", ks.name)),
            "keyspace {} missing from:\n{stdout}",
            ks.name
        );
    }
    for needle in [
        "CREATE TABLE store.orders",
        "CREATE MATERIALIZED VIEW store.",
        "CREATE INDEX ",
        "WITH ID = ",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("CREATE KEYSPACE system_schema"),
        "system keyspaces are not part of DESCRIBE SCHEMA:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_created_with_cqlsh_appears_on_every_node() {
    let cluster = TestCluster::start("dc1:2,dc2:1").await;
    let ddl = "CREATE KEYSPACE IF NOT EXISTS shop WITH replication = \
               {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}; \
               CREATE TABLE shop.baskets (id uuid, line int, item text, PRIMARY KEY (id, line)); \
               CREATE TABLE IF NOT EXISTS shop.baskets (id uuid PRIMARY KEY);";
    let Some(out) = tokio::task::block_in_place(|| cqlsh(&cluster, 0, "cassandra", ddl)) else {
        return;
    };
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "cqlsh failed: {stderr}\n{stdout}");
    for i in 0..3 {
        let dir = cluster.table_dir(i, "shop", "baskets");
        assert!(dir.is_dir(), "{} on node {i}", dir.display());
        let names = cluster.get(i, "/column_family/name").await;
        assert!(
            names
                .as_array()
                .expect("list")
                .iter()
                .any(|n| n == "shop:baskets"),
            "node {i} REST lists {names}"
        );
    }
    // The same table, described by another node, over CQL.
    let out = tokio::task::block_in_place(|| {
        cqlsh(&cluster, 2, "cassandra", "DESCRIBE TABLE shop.baskets")
    })
    .expect("cqlsh present");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "cqlsh failed: {stderr}\n{stdout}");
    assert!(stdout.contains("CREATE TABLE shop.baskets"), "{stdout}");
    assert!(stdout.contains("PRIMARY KEY (id, line)"), "{stdout}");

    // Dropping it removes the live directory on every node.
    let out = tokio::task::block_in_place(|| {
        cqlsh(
            &cluster,
            1,
            "cassandra",
            "DROP TABLE shop.baskets; DROP KEYSPACE shop;",
        )
    })
    .expect("cqlsh present");
    assert!(out.status.success(), "{}", text(&out).1);
    for i in 0..3 {
        let names = cluster.get(i, "/column_family/name").await;
        assert!(
            !names
                .as_array()
                .expect("list")
                .iter()
                .any(|n| n == "shop:baskets"),
            "node {i} still lists shop:baskets: {names}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cqlsh_with_a_wrong_password_is_refused() {
    let cluster = TestCluster::start("dc1:1").await;
    let Some(out) = tokio::task::block_in_place(|| {
        cqlsh(
            &cluster,
            0,
            "not-the-password",
            "SELECT * FROM system.local",
        )
    }) else {
        return;
    };
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "a wrong password got in: {stdout}");
    assert!(
        stderr.contains("Username and/or password are incorrect"),
        "cqlsh said: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cqlsh_gets_an_error_naming_an_unsupported_statement() {
    let cluster = TestCluster::start("dc1:1").await;
    let Some(out) = tokio::task::block_in_place(|| {
        cqlsh(
            &cluster,
            0,
            "cassandra",
            "ALTER TABLE store.orders ADD extra text; SELECT cluster_name FROM system.local;",
        )
    }) else {
        return;
    };
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("ALTER TABLE store.orders ADD extra text"),
        "the error names the statement: {stderr}"
    );
    // The connection survived the error: the next statement ran.
    assert!(stdout.contains("emulated"), "{stdout}\n{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scylla_driver_reads_the_topology_and_the_schema_and_awaits_agreement() {
    use scylla::client::session_builder::SessionBuilder;

    let cluster = TestCluster::start_with("dc1:2,dc2:1", |c| {
        c.tablet_keyspaces = vec!["telemetry".into()];
    })
    .await;
    let session = SessionBuilder::new()
        .known_node(format!(
            "{}:{}",
            cluster.address(0),
            cluster.emulator.cql_port()
        ))
        .user("cassandra", "cassandra")
        .build()
        .await
        .expect("the driver connects and reads the metadata");

    // Topology: every node, by host ID and DC, learned from system.local and system.peers.
    let state = session.get_cluster_state();
    let mut seen: Vec<(String, Option<String>)> = state
        .get_nodes_info()
        .iter()
        .map(|n| (n.host_id.to_string(), n.datacenter.clone()))
        .collect();
    seen.sort();
    let mut nodes: Vec<(String, Option<String>)> = cluster
        .emulator
        .nodes()
        .iter()
        .map(|n| (n.host_id.clone(), Some(n.dc.clone())))
        .collect();
    nodes.sort();
    assert_eq!(seen, nodes);

    // Schema metadata, as the driver parses system_schema.
    let store = state.get_keyspace("store").expect("store keyspace");
    let orders = store.tables.get("orders").expect("store.orders");
    assert_eq!(orders.partition_key, ["customer_id"]);
    assert_eq!(orders.clustering_key, ["order_id"]);
    assert!(
        store.views.contains_key("orders_by_status"),
        "{:?}",
        store.views.keys()
    );
    assert!(!store.tablet_based);
    let telemetry = state.get_keyspace("telemetry").expect("telemetry keyspace");
    assert!(telemetry.tablet_based, "--tablet-keyspaces telemetry");
    assert!(telemetry.user_defined_types.contains_key("location"));

    // A schema change through the driver: every node agrees on the new version, and the table
    // has its directory everywhere.
    let before = session.await_schema_agreement().await.expect("agreement");
    session
        .query_unpaged(
            "CREATE TABLE store.returns (id uuid PRIMARY KEY, reason text)",
            (),
        )
        .await
        .expect("create table");
    let after = session.await_schema_agreement().await.expect("agreement");
    assert_ne!(before, after, "the schema version changes with the schema");
    for i in 0..3 {
        assert!(cluster.table_dir(i, "store", "returns").is_dir());
    }
}
