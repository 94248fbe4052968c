//! The engine through [`Statements`], on real emulated clusters in temporary directories.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;

use super::super::outcome::{ChangeTarget, ErrorKind, Outcome, ResultSet};
use super::super::value::{CqlType, Value};
use super::*;
use crate::emulator::schema::{Schema, TableKind};
use crate::emulator::{Emulator, EmulatorConfig};

/// A loopback base address no other test of this process uses.
fn base_address() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    Ipv4Addr::new(
        127,
        230 + (std::process::id() % 20) as u8,
        (n % 250) as u8 + 1,
        11,
    )
}

/// A running emulator on `nodes` and its data directory.
async fn start(nodes: &str) -> (Emulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path().join("cluster"), nodes.parse().unwrap());
    config.base_address = base_address();
    config.api_port = 0;
    config.prometheus_port = 0;
    config.cql_port = 0;
    (Emulator::start(config).await.unwrap(), dir)
}

fn run(e: &Engine, ks: Option<&str>, text: &str) -> Result<Outcome, super::CqlError> {
    e.execute(ks, text, &[])
}

fn rows(e: &Engine, text: &str) -> ResultSet {
    match run(e, None, text) {
        Ok(Outcome::Rows(rs)) => rs,
        other => panic!("{text}: {other:?}"),
    }
}

/// The value of column `name` in `row`.
fn col<'a>(rs: &'a ResultSet, row: usize, name: &str) -> &'a Value {
    let i = rs.columns.iter().position(|c| c.name == name).unwrap();
    &rs.rows[row][i]
}

/// The user keyspaces of a schema, for comparing two clusters.
fn user_part(s: &Schema) -> Vec<String> {
    s.keyspaces
        .values()
        .filter(|k| !k.is_system())
        .map(|k| serde_json::to_string(k).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn system_local_and_peers_describe_the_topology_and_agree_on_the_schema_version() {
    let (emu, _dir) = start("dc1:2,dc2:1").await;
    let cluster = emu.cluster();
    let e0 = Engine::new(cluster, 0);
    let local = rows(
        &e0,
        "SELECT host_id, data_center, rack, tokens, rpc_address, release_version, schema_version, partitioner FROM system.local WHERE key='local'",
    );
    assert_eq!(local.rows.len(), 1);
    let node = &cluster.topology.nodes[0];
    assert_eq!(col(&local, 0, "host_id"), &Value::Uuid(node.host_id));
    assert_eq!(col(&local, 0, "data_center"), &Value::text(&node.dc));
    assert_eq!(col(&local, 0, "release_version"), &Value::text("3.0.8"));
    assert_eq!(
        col(&local, 0, "partitioner"),
        &Value::text("org.apache.cassandra.dht.Murmur3Partitioner")
    );
    let Value::Set(tokens) = col(&local, 0, "tokens") else {
        panic!()
    };
    assert_eq!(tokens.len(), node.tokens.len());
    assert_eq!(local.columns[3].ty, CqlType::Set(Box::new(CqlType::Text)));
    let peers = rows(
        &e0,
        "select peer, host_id, schema_version from system.peers",
    );
    assert_eq!(peers.rows.len(), 2);
    let e2 = Engine::new(cluster, 2);
    let local2 = rows(&e2, "SELECT schema_version FROM system.local");
    assert_eq!(
        col(&local2, 0, "schema_version"),
        col(&local, 0, "schema_version")
    );
    assert_eq!(
        col(&peers, 0, "schema_version"),
        col(&local, 0, "schema_version")
    );

    let err = run(&e0, None, "SELECT * FROM system.peers_v2").unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::Invalid, "unconfigured table peers_v2")
    );
    let err = run(&e0, None, "SELECT nope FROM system.local").unwrap_err();
    assert_eq!(err.message, "Undefined name nope in selection clause");
    let err = run(&e0, None, "SELECT * FROM system.local WHERE x = 'a''b'").unwrap_err();
    assert_eq!(
        err.message,
        "Undefined name x in where clause ('x = 'a''b'')"
    );
    // Drivers filter by keyspace with a bound list.
    let ks = Value::List(vec![Value::text("store")]);
    let mut bytes = Vec::new();
    ks.encode(&mut bytes);
    let shape = e0
        .prepare(
            None,
            "SELECT keyspace_name, table_name FROM system_schema.tables WHERE keyspace_name IN ?",
        )
        .unwrap();
    assert_eq!(shape.markers[0].ty, CqlType::List(Box::new(CqlType::Text)));
    let Outcome::Rows(tables) = e0
        .execute(
            None,
            "SELECT keyspace_name, table_name FROM system_schema.tables WHERE keyspace_name IN ?",
            &[Some(bytes[4..].to_vec())],
        )
        .unwrap()
    else {
        panic!()
    };
    let names: Vec<&Value> = tables.rows.iter().map(|r| &r[1]).collect();
    assert_eq!(
        names,
        [
            &Value::text("customers"),
            &Value::text("order_items"),
            &Value::text("orders")
        ]
    );
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn system_schema_shows_the_dataset_view_index_and_tombstone_gc() {
    let (emu, _dir) = start("dc1:1").await;
    let e = Engine::new(emu.cluster(), 0);
    let views = rows(
        &e,
        "SELECT keyspace_name, view_name, base_table_name, include_all_columns FROM system_schema.views WHERE keyspace_name = 'store'",
    );
    let names: Vec<&Value> = views.rows.iter().map(|r| &r[1]).collect();
    assert_eq!(
        names,
        [
            &Value::text("orders_by_status"),
            &Value::text("orders_placed_at_idx_index")
        ]
    );
    let idx = rows(
        &e,
        "SELECT table_name, index_name, kind, options FROM system_schema.indexes",
    );
    assert_eq!(
        idx.rows,
        vec![vec![
            Value::text("orders"),
            Value::text("orders_placed_at_idx"),
            Value::text("COMPOSITES"),
            Value::text_map([("target", "placed_at")]),
        ]]
    );
    let ext = rows(
        &e,
        "SELECT extensions FROM system_schema.tables WHERE keyspace_name = 'store' AND table_name = 'orders'",
    );
    let Value::Map(pairs) = &ext.rows[0][0] else {
        panic!()
    };
    assert_eq!(pairs[0].0, Value::text("tombstone_gc"));
    let Value::Blob(blob) = &pairs[0].1 else {
        panic!()
    };
    let text = String::from_utf8_lossy(blob);
    assert!(text.contains("mode") && text.contains("timeout"), "{text}");
    let cols = rows(
        &e,
        "SELECT column_name, kind, position, clustering_order, type FROM system_schema.columns WHERE keyspace_name = 'store' AND table_name = 'orders'",
    );
    assert_eq!(cols.rows[1][0], Value::text("order_id"));
    assert_eq!(cols.rows[1][3], Value::text("desc"));
    let idx = rows(&e, "DESCRIBE INDEX store.orders_placed_at_idx");
    assert_eq!(idx.rows[0][1], Value::text("index"));
    assert_eq!(
        idx.rows[0][3].as_text().unwrap().lines().next(),
        Some(
            "CREATE INDEX orders_placed_at_idx ON store.orders(placed_at) WITH bloom_filter_fp_chance = 0.01"
        )
    );
    let view = rows(&e, "DESCRIBE MATERIALIZED VIEW store.orders_by_status");
    assert!(view.rows[0][3].as_text().unwrap().contains("\n    WHERE status IS NOT NULL AND customer_id IS NOT NULL AND order_id IS NOT NULL\n    PRIMARY KEY (status, customer_id, order_id)\n"));
    let err = run(
        &e,
        None,
        "ALTER TABLE store.orders_by_status WITH tombstone_gc = {'mode': 'repair'}",
    )
    .unwrap_err();
    assert_eq!(err.message, "Cannot use ALTER TABLE on Materialized View");
    // REST and CQL see the same schema object: views and index views are column families.
    let schema = emu.cluster().schema();
    assert!(schema.table("store", "orders_placed_at_idx_index").is_ok());
    drop(schema);
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_schema_with_internals_round_trips_onto_a_fresh_cluster() {
    let (a, _da) = start("dc1:2").await;
    let ea = Engine::new(a.cluster(), 0);
    let desc = rows(&ea, "DESCRIBE SCHEMA WITH INTERNALS");
    let cols: Vec<&str> = desc.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, ["keyspace_name", "type", "name", "create_statement"]);
    let order: Vec<(String, String)> = desc
        .rows
        .iter()
        .map(|r| {
            (
                r[1].as_text().unwrap().to_string(),
                r[2].as_text().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("keyspace", "store"),
        ("table", "customers"),
        ("table", "order_items"),
        ("table", "orders"),
        ("index", "orders_placed_at_idx"),
        ("view", "orders_by_status"),
        ("keyspace", "telemetry"),
        ("type", "location"),
        ("table", "devices"),
        ("table", "readings"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(order, expected);
    let orders = desc.rows[3][3].as_text().unwrap();
    let id = a.cluster().schema().table("store", "orders").unwrap().1.id;
    assert!(
        orders.starts_with("CREATE TABLE store.orders (\n    customer_id uuid,\n"),
        "{orders}"
    );
    assert!(
        orders.contains(&format!(
            "WITH ID = {id}\nAND CLUSTERING ORDER BY (order_id DESC)"
        )),
        "{orders}"
    );
    assert!(
        orders.contains(
            "AND tombstone_gc = {'mode': 'timeout', 'propagation_delay_in_seconds': '3600'};"
        ),
        "{orders}"
    );

    let (b, _db) = start("dc1:2").await;
    let eb = Engine::new(b.cluster(), 1);
    for ks in ["store", "telemetry"] {
        run(&eb, None, &format!("DROP KEYSPACE {ks}")).unwrap();
    }
    assert!(user_part(&b.cluster().schema()).is_empty());
    for row in &desc.rows {
        let text = row[3].as_text().unwrap();
        for stmt in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let out = run(&eb, None, stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
            assert!(matches!(out, Outcome::SchemaChange(_)), "{stmt}");
        }
    }
    assert_eq!(
        user_part(&b.cluster().schema()),
        user_part(&a.cluster().schema())
    );
    let again = rows(&eb, "DESCRIBE SCHEMA WITH INTERNALS");
    assert_eq!(again.rows, desc.rows);
    // The recreated tables have their directories (same IDs) on every node.
    for node in b.nodes() {
        let dir = std::path::Path::new(&node.data_dir).join("store");
        let view = b
            .cluster()
            .schema()
            .table("store", "orders_by_status")
            .unwrap()
            .1
            .dir_name();
        assert!(dir.join(view).is_dir());
    }
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_creates_and_removes_directories_on_every_node_and_refuses_as_scylla() {
    let (emu, _dir) = start("dc1:2,dc2:1").await;
    let cluster = emu.cluster();
    let e = Engine::new(cluster, 1);
    let version = cluster.schema().version();
    let out = run(&e, None, "CREATE KEYSPACE shop WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 2} AND durable_writes = true").unwrap();
    assert!(matches!(out, Outcome::SchemaChange(c) if c.target == ChangeTarget::Keyspace));
    assert_ne!(cluster.schema().version(), version);
    let err = run(&e, None, "CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::AlreadyExists {
            keyspace: "shop".into(),
            table: String::new()
        }
    );
    assert!(matches!(
        run(
            &e,
            None,
            "CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        ),
        Ok(Outcome::Void)
    ));
    let err = run(
        &e,
        None,
        "CREATE KEYSPACE x WITH replication = {'class': 'NetworkTopologyStrategy', 'dc9': 1}",
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("dc9"), "{}", err.message);

    let out = run(
        &e,
        Some("shop"),
        "create table Items (\"Id\" int primary key, v text) with comment = 'x'",
    )
    .unwrap();
    assert!(
        matches!(out, Outcome::SchemaChange(c) if c.target == ChangeTarget::Table("items".into()))
    );
    let table = cluster.schema().table("shop", "items").unwrap().1.clone();
    assert_eq!(table.columns[0].name, "Id");
    for node in emu.nodes() {
        let dir = std::path::Path::new(&node.data_dir)
            .join("shop")
            .join(table.dir_name());
        assert!(dir.join("upload").is_dir(), "{}", dir.display());
    }
    let err = run(
        &e,
        None,
        &format!(
            "CREATE TABLE shop.other (a int PRIMARY KEY) WITH ID = {}",
            table.id
        ),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        format!("Table with ID {} already exists", table.id)
    );
    let err = run(&e, None, "CREATE TABLE shop.items (a int PRIMARY KEY)").unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::AlreadyExists {
            keyspace: "shop".into(),
            table: "items".into()
        }
    );
    // Every native type the parser knows is a column type (varchar included).
    run(
        &e,
        None,
        "CREATE TABLE shop.natives (a varchar PRIMARY KEY, b frozen<map<text, varchar>>)",
    )
    .unwrap();
    run(&e, None, "DROP TABLE shop.natives").unwrap();
    let err = run(&e, None, "CREATE TABLE nope.t (a int PRIMARY KEY)").unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::Invalid, "Keyspace nope does not exist")
    );
    for bad in [
        "CREATE KEYSPACE \"../x\" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE shop.\"a/b\" (a int PRIMARY KEY)",
        "CREATE INDEX \"..\" ON shop.items (v)",
    ] {
        let err = run(&e, None, bad).unwrap_err();
        assert!(
            err.message.contains("is not a valid"),
            "{bad}: {}",
            err.message
        );
    }
    let err = run(&e, None, "CREATE TABLE system.t (a int PRIMARY KEY)").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    let err = run(&e, None, "DROP TABLE store.orders").unwrap_err();
    assert!(err.message.contains("orders_by_status"), "{}", err.message);

    run(&e, None, "CREATE MATERIALIZED VIEW shop.by_v AS SELECT * FROM shop.items WHERE v IS NOT NULL AND \"Id\" IS NOT NULL PRIMARY KEY (v, \"Id\")").unwrap();
    run(&e, None, "CREATE INDEX ON shop.items (v)").unwrap();
    assert!(cluster.schema().table("shop", "items_v_idx_index").is_ok());
    run(
        &e,
        None,
        "ALTER TABLE shop.items WITH tombstone_gc = {'mode': 'repair'}",
    )
    .unwrap();
    let tgc = cluster
        .schema()
        .table("shop", "items")
        .unwrap()
        .1
        .options
        .map("tombstone_gc");
    assert_eq!(tgc.get("mode").map(String::as_str), Some("repair"));
    let err = run(&e, None, "ALTER TABLE shop.items ADD w int").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    for stmt in [
        "DROP TABLE shop.items_v_idx_index",
        "DROP MATERIALIZED VIEW shop.items_v_idx_index",
    ] {
        assert_eq!(
            run(&e, None, stmt).unwrap_err().kind,
            ErrorKind::Invalid,
            "{stmt}"
        );
    }
    assert!(cluster.schema().table("shop", "items_v_idx_index").is_ok());
    let desc = rows(&e, "DESCRIBE MATERIALIZED VIEW shop.items_v_idx_index");
    assert_eq!(
        desc.rows[0][1..3],
        [Value::text("index"), Value::text("items_v_idx")]
    );
    run(&e, None, "DROP INDEX shop.items_v_idx").unwrap();
    run(&e, None, "DROP MATERIALIZED VIEW shop.by_v").unwrap();
    assert!(matches!(
        run(&e, None, "DROP MATERIALIZED VIEW IF EXISTS shop.by_v"),
        Ok(Outcome::Void)
    ));
    run(&e, None, "DROP TABLE shop.items").unwrap();
    let schema = cluster.schema();
    assert!(schema.keyspace("shop").unwrap().tables.is_empty());
    drop(schema);
    run(&e, None, "DROP KEYSPACE shop").unwrap();
    let err = run(&e, None, "DROP KEYSPACE shop").unwrap_err();
    assert!(
        err.message.contains("non existing keyspace"),
        "{}",
        err.message
    );
    assert!(matches!(
        cluster
            .schema()
            .table("store", "orders_by_status")
            .unwrap()
            .1
            .kind,
        TableKind::View { .. }
    ));
    let err = run(&e, None, "DESCRIBE FUNCTIONS").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax);
    let err = run(&e, None, "INSERT INTO store.orders (a) VALUES (1)").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax);
    emu.shutdown();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn garbled_statements_are_refused_without_a_panic(
        base in prop::sample::select(vec![
            "SELECT * FROM system.local WHERE key = 'local' LIMIT 1;",
            "CREATE TABLE IF NOT EXISTS ks.t (a int, b text static, PRIMARY KEY ((a), b)) WITH CLUSTERING ORDER BY (b DESC) AND tombstone_gc = {'mode': 'repair'}",
            "CREATE MATERIALIZED VIEW ks.v AS SELECT * FROM ks.t WHERE b IS NOT NULL PRIMARY KEY (b, a)",
            "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND tablets = {'enabled': false}",
            "DESCRIBE SCHEMA WITH INTERNALS",
            "ALTER TABLE ks.t WITH tombstone_gc = {'mode': 'disabled'}",
        ]),
        cut in 0usize..200,
        insert in "[\\PC]{0,6}",
        noise in "[\\PC]{0,40}",
    ) {
        let at = cut.min(base.len());
        let garbled = format!("{}{insert}{}", &base[..at], &base[at..]);
        for text in [garbled.as_str(), noise.as_str()] {
            if let Ok(p) = parse(text) {
                let mut schema = Schema::system(1, system_tables::schema_columns);
                let _ = ddl::apply(&mut schema, &p.statement, ddl::Context { dcs: &[("dc1".into(), 1)], keyspace: Some("ks") });
                let _ = describe::describe(&schema, &statement::Describe::Schema { full: true }, true, None);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tablet_keyspaces_of_the_dataset_use_tablets_and_unknown_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path().join("cluster"), "dc1:1".parse().unwrap());
    config.base_address = base_address();
    config.api_port = 0;
    config.prometheus_port = 0;
    config.cql_port = 0;
    config.tablet_keyspaces = vec!["nope".into()];
    let err = Emulator::start(config.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("store, telemetry"),
        "{err}"
    );

    config.tablet_keyspaces = vec!["telemetry".into()];
    let emu = Emulator::start(config).await.unwrap();
    let e = Engine::new(emu.cluster(), 0);
    let ks = rows(&e, "DESCRIBE KEYSPACE telemetry");
    let stmt = ks.rows[0][3].as_text().unwrap();
    assert!(
        stmt.ends_with("AND durable_writes = true AND tablets = {'enabled': true};"),
        "{stmt}"
    );
    let tablets = rows(
        &e,
        "SELECT keyspace_name, initial_tablets FROM system_schema.scylla_keyspaces",
    );
    assert_eq!(
        tablets.rows,
        vec![vec![Value::text("telemetry"), Value::Int(0)]]
    );
    assert!(!emu.cluster().schema().keyspace("store").unwrap().tablets);
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_system_table_row_has_a_value_per_column() {
    let (emu, _dir) = start("dc1:2").await;
    let e = Engine::new(emu.cluster(), 0);
    let schema = emu.cluster().schema().clone();
    for (k, t) in schema.all_tables() {
        let Some(cols) = system_tables::columns(&k.name, &t.name) else {
            continue;
        };
        let all = rows(&e, &format!("SELECT * FROM {}.{}", k.name, t.name));
        assert_eq!(all.columns.len(), cols.len());
        for row in &all.rows {
            assert_eq!(row.len(), cols.len(), "{}.{}", k.name, t.name);
        }
        let count = rows(&e, &format!("SELECT COUNT(*) FROM {}.{}", k.name, t.name));
        assert_eq!(count.rows, vec![vec![Value::Bigint(all.rows.len() as i64)]]);
    }
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_changes_survive_a_restart_on_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path().join("cluster"), "dc1:2".parse().unwrap());
    config.base_address = base_address();
    config.api_port = 0;
    config.prometheus_port = 0;
    config.cql_port = 0;
    let emu = Emulator::start(config.clone()).await.unwrap();
    let e = Engine::new(emu.cluster(), 0);
    run(
        &e,
        None,
        "CREATE TYPE store.money (units bigint, currency text)",
    )
    .unwrap();
    run(&e, None, "CREATE TABLE store.refunds (id uuid PRIMARY KEY, amount frozen<money>) WITH gc_grace_seconds = 3600").unwrap();
    run(&e, None, "DROP INDEX store.orders_placed_at_idx").unwrap();
    let before = emu.cluster().schema().clone();
    emu.shutdown();

    let emu = Emulator::start(config).await.unwrap();
    assert_eq!(*emu.cluster().schema(), before);
    let e = Engine::new(emu.cluster(), 1);
    let desc = rows(&e, "DESCRIBE TABLE store.refunds");
    let stmt = desc.rows[0][3].as_text().unwrap();
    assert!(stmt.contains("\n    amount frozen<money>,\n"), "{stmt}");
    assert!(
        stmt.contains("\n    AND gc_grace_seconds = 3600\n"),
        "{stmt}"
    );
    let err = run(&e, None, "DROP TYPE store.money").unwrap_err();
    assert!(err.message.contains("still used"), "{}", err.message);
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn views_and_indexes_recreate_from_their_describe_statements_with_if_not_exists() {
    let (emu, _dir) = start("dc1:1").await;
    let e = Engine::new(emu.cluster(), 0);
    let mut statements = Vec::new();
    for (kind, name) in [
        ("INDEX", "store.orders_placed_at_idx"),
        ("MATERIALIZED VIEW", "store.orders_by_status"),
    ] {
        let desc = rows(&e, &format!("DESCRIBE {kind} {name}"));
        let stmt = desc.rows[0][3].as_text().unwrap().to_string();
        let stmt = stmt.replacen(
            &format!("CREATE {kind} "),
            &format!("CREATE {kind} IF NOT EXISTS "),
            1,
        );
        statements.push(stmt);
    }
    run(&e, None, "DROP INDEX IF EXISTS store.orders_placed_at_idx").unwrap();
    run(
        &e,
        None,
        "DROP MATERIALIZED VIEW IF EXISTS store.orders_by_status",
    )
    .unwrap();
    let keyspace = emu.cluster().schema().keyspace("store").unwrap().clone();
    assert_eq!(keyspace.views_of("orders").count(), 0);
    for stmt in &statements {
        assert!(
            matches!(run(&e, None, stmt), Ok(Outcome::SchemaChange(_))),
            "{stmt}"
        );
        assert!(
            matches!(run(&e, None, stmt), Ok(Outcome::Void)),
            "{stmt} again"
        );
    }
    let schema = emu.cluster().schema();
    let views: Vec<&str> = schema
        .keyspace("store")
        .unwrap()
        .views_of("orders")
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(views, ["orders_by_status", "orders_placed_at_idx_index"]);
    drop(schema);
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn views_report_their_build_status_per_node_over_rest() {
    let (emu, _dir) = start("dc1:2").await;
    let node = &emu.nodes()[1];
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", node.api_url);
        async move { http.get(url).send().await.unwrap() }
    };
    let statuses: serde_json::Value =
        get("/storage_service/view_build_statuses/store/orders_placed_at_idx_index".into())
            .await
            .json()
            .await
            .unwrap();
    let hosts: Vec<String> = emu.nodes().iter().map(|n| n.host_id.clone()).collect();
    let expected: Vec<serde_json::Value> = hosts
        .iter()
        .map(|h| serde_json::json!({"key": h, "value": "SUCCESS"}))
        .collect();
    assert_eq!(statuses, serde_json::Value::Array(expected));
    let none: serde_json::Value = get("/storage_service/view_build_statuses/store/orders".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, serde_json::json!([]));
    let missing = get("/storage_service/view_build_statuses/nope/v".into()).await;
    assert_eq!(missing.status(), reqwest::StatusCode::BAD_REQUEST);
    // A view created while running is built for a moment before it reports SUCCESS.
    let e = Engine::new(emu.cluster(), 0);
    run(&e, None, "CREATE MATERIALIZED VIEW store.by_total AS SELECT * FROM store.orders WHERE total IS NOT NULL AND customer_id IS NOT NULL AND order_id IS NOT NULL PRIMARY KEY (total, customer_id, order_id)").unwrap();
    let values = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["value"].as_str().unwrap().to_string())
            .collect()
    };
    let path = "/storage_service/view_build_statuses/store/by_total";
    let building = values(get(path.into()).await.json().await.unwrap());
    assert_eq!(building, vec!["STARTED"; 2]);
    tokio::time::sleep(crate::emulator::view_builds::BUILD_TIME).await;
    let built = values(get(path.into()).await.json().await.unwrap());
    assert_eq!(built, vec!["SUCCESS"; 2]);
    emu.shutdown();
}
