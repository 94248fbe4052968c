//! What is particular to the ScyllaDB store: the behavioural suite against a node (when
//! `CAIRN_TEST_SCYLLA` names one), reopening a keyspace, and the configuration and connection
//! failures every run checks.

use cairn::manager::store::{self, ScyllaConfig, StoreConfig};

use super::{behaves_as_a_store, cluster};

#[tokio::test]
async fn scylla_store_behaves_as_a_store() {
    let Ok(node) = std::env::var("CAIRN_TEST_SCYLLA") else {
        // Straight to stderr: the test harness hides eprintln! of passing tests, and this line
        // must show in every run's output.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "NOT RUN: ScyllaDB store suite: CAIRN_TEST_SCYLLA is not set \
             (no ScyllaDB node here; set it to host:port to run it)"
        );
        return;
    };
    let config = StoreConfig::Scylla(ScyllaConfig {
        contact_points: vec![node],
        username: std::env::var("CAIRN_TEST_SCYLLA_USERNAME").ok(),
        password: std::env::var("CAIRN_TEST_SCYLLA_PASSWORD").ok(),
        keyspace: "cairn_store_test".to_owned(),
        replication_factor: 1,
    });
    let store = store::open(&config).await.expect("open ScyllaDB store");
    behaves_as_a_store(store).await;
    // Opening again finds the schema in place and keeps the data.
    let again = store::open(&config).await.expect("reopen ScyllaDB store");
    let c = cluster("reopened");
    again.put_cluster(&c).await.expect("put cluster");
    assert_eq!(again.get_cluster(c.id).await.expect("get"), Some(c.clone()));
    again.delete_cluster(c.id).await.expect("clean up");
}

#[tokio::test]
async fn scylla_store_config_is_checked_before_connecting() {
    let config = StoreConfig::Scylla(ScyllaConfig {
        contact_points: vec!["127.0.0.1:1".to_owned()],
        username: None,
        password: None,
        keyspace: "bad-name; DROP".to_owned(),
        replication_factor: 1,
    });
    let err = store::open(&config).await.expect_err("a bad keyspace name");
    assert!(err.to_string().contains("bad-name; DROP"), "{err}");
}

#[tokio::test]
async fn scylla_store_unreachable_is_refused_naming_the_contact_points() {
    let config = StoreConfig::Scylla(ScyllaConfig {
        contact_points: vec!["127.0.0.1:1".to_owned()],
        username: None,
        password: None,
        keyspace: "cairn_manager".to_owned(),
        replication_factor: 1,
    });
    let opened = tokio::time::timeout(std::time::Duration::from_secs(60), store::open(&config))
        .await
        .expect("a refused connection fails within a minute");
    let err = opened.expect_err("nothing listens on port 1");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot connect the ScyllaDB store to 127.0.0.1:1"),
        "{msg}"
    );
}
