//! Restore init against real processes (issue 13): an emulated cluster backed up by the manager's
//! actors through real agents into an rclone S3 bucket, then `Init::connect`, `plan`, `dry_run`
//! and `restore_schema` called directly: the plan's units, views, directories and hosts match the
//! backup and the cluster; a missing object, a missing table and an unfinished manifest are
//! caught; the schema restores into a cluster with other DC names through dc_mapping, and a
//! failing statement drops the keyspaces it created.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cairn::format::paths::ManifestInfo;
use cairn::manager::restore::properties::RestoreProperties;
use cairn::manager::restore::schema::restore_schema;
use cairn::manager::restore::target::{Init, InitError};
use cairn::manager::store::{Cluster, RunStatus};
use common::TestCluster;
use common::agent::{AgentProcess, TOKEN, start_fleet};
use common::backup::{BUCKET, BackupEnv, in_actix};
use common::manager::{agent_certificate_yaml, agent_pins};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::host_filter::AllowListHostFilter;

/// A cluster backed up once (user keyspaces, with the schema), its tag and its store record.
async fn backed_up(nodes: &str) -> Option<(BackupEnv, String, Cluster)> {
    let env = BackupEnv::start(nodes, BackupEnv::settings()).await?;
    let task = env.user_task(serde_json::json!({})).await;
    let run = env.run(task, Duration::from_secs(180)).await;
    assert_eq!(run.status, RunStatus::Done, "backup: {:?}", run.cause);
    let tag = env.last_run(task).await.snapshot_tag.to_string();
    let cluster = env
        .store
        .get_cluster(env.cluster_id)
        .await
        .expect("store")
        .expect("cluster");
    Some((env, tag, cluster))
}

/// A tables restore of `tag` from the test bucket.
fn tables_props(tag: &str) -> RestoreProperties {
    RestoreProperties {
        location: vec![BackupEnv::location()],
        snapshot_tag: tag.to_string(),
        restore_tables: true,
        ..RestoreProperties::default()
    }
}

/// A CQL session to node 0 of `cluster` alone: the test's own look at the schema.
async fn cql(cluster: &TestCluster) -> Session {
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

/// The rows of `query`, two text columns each.
async fn texts2(session: &Session, query: &str) -> BTreeSet<(String, String)> {
    session
        .query_iter(query, ())
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .rows_stream::<(String, String)>()
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Runs a statement the test needs.
async fn run(session: &Session, statement: &str) {
    session
        .query_unpaged(statement, ())
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// (keyspace, view table) of every view and index view of the cluster.
async fn view_tables(session: &Session) -> BTreeSet<(String, String)> {
    texts2(
        session,
        "SELECT keyspace_name, view_name FROM system_schema.views",
    )
    .await
}

/// The replication of `keyspace`, if the cluster has it.
async fn replication(session: &Session, keyspace: &str) -> Option<BTreeMap<String, String>> {
    let rows: Vec<(String, BTreeMap<String, String>)> = session
        .query_iter(
            "SELECT keyspace_name, replication FROM system_schema.keyspaces",
            (),
        )
        .await
        .unwrap()
        .rows_stream::<(String, BTreeMap<String, String>)>()
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    rows.into_iter()
        .find(|(k, _)| k == keyspace)
        .map(|(_, r)| r)
}

/// The keyspaces of the cluster with `LocalStrategy` (never restored as tables).
async fn local_keyspaces(session: &Session) -> BTreeSet<String> {
    let rows: Vec<(String, BTreeMap<String, String>)> = session
        .query_iter(
            "SELECT keyspace_name, replication FROM system_schema.keyspaces",
            (),
        )
        .await
        .unwrap()
        .rows_stream::<(String, BTreeMap<String, String>)>()
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    rows.into_iter()
        .filter(|(_, r)| r.get("class").is_some_and(|c| c.ends_with("LocalStrategy")))
        .map(|(k, _)| k)
        .collect()
}

/// The final manifests of `tag` in the bucket with their index entries.
async fn manifests_of(
    env: &BackupEnv,
    tag: &str,
) -> Vec<(ManifestInfo, cairn::format::manifest::Manifest)> {
    let mut out = Vec::new();
    for m in env.manifests().await {
        if m.snapshot_tag.as_str() == tag && !m.temporary {
            let read = env.read_manifest(&m).await;
            out.push((m, read));
        }
    }
    out
}

#[test]
fn a_backed_up_cluster_plans_its_units_views_dirs_and_hosts() {
    in_actix(async {
        let Some((env, tag, cluster)) = backed_up("dc1:3").await else {
            return;
        };
        let init = Init::connect(&cluster).await.expect("connect");
        assert_eq!(init.view.nodes.len(), 3);
        let plan = init.plan(&tables_props(&tag), None).await.expect("plan");

        // Units: every backed-up table that is not a view, with the bytes the manifests list.
        let session = cql(&env.cluster).await;
        let views = view_tables(&session).await;
        let local = local_keyspaces(&session).await;
        assert!(local.contains("system_schema"), "{local:?}");
        let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut entries = 0;
        for (_, m) in manifests_of(&env, &tag).await {
            for e in &m.index {
                if !views.contains(&(e.keyspace.clone(), e.table.clone()))
                    && !local.contains(&e.keyspace)
                {
                    *expected
                        .entry((e.keyspace.clone(), e.table.clone()))
                        .or_default() += e.size as u64;
                    entries += 1;
                }
            }
        }
        assert!(expected.len() >= 2, "the dataset has tables: {expected:?}");
        let planned: BTreeMap<(String, String), u64> = plan
            .units
            .iter()
            .flat_map(|u| {
                u.tables
                    .iter()
                    .map(|t| ((u.keyspace_name.clone(), t.table_name.clone()), t.size))
            })
            .collect();
        assert_eq!(planned, expected);
        for u in &plan.units {
            assert_eq!(u.size, u.tables.iter().map(|t| t.size).sum::<u64>());
            assert!(u.tables.iter().all(|t| t.tombstone_gc == "timeout"));
        }

        // Views: the dataset's view and index over restored tables, with statements to recreate.
        let indexes = texts2(
            &session,
            "SELECT keyspace_name, index_name FROM system_schema.indexes",
        )
        .await;
        assert!(!indexes.is_empty());
        for (ks, name) in &indexes {
            let v = plan
                .views
                .iter()
                .find(|v| &v.keyspace_name == ks && &v.view_name == name)
                .unwrap_or_else(|| panic!("index {ks}.{name} not in {:?}", plan.views));
            assert_eq!(v.view_type, "SecondaryIndex");
            assert!(v.create_stmt.contains("IF NOT EXISTS"), "{}", v.create_stmt);
        }
        let mvs = plan
            .views
            .iter()
            .filter(|v| v.view_type == "MaterializedView")
            .count();
        assert_eq!(mvs + indexes.len(), plan.views.len());
        assert_eq!(
            mvs,
            views.len() - indexes.len(),
            "every materialized view, no index view: {:?}",
            plan.views
        );

        // Directories: one per index entry, every file in the bucket with its size.
        assert_eq!(plan.dirs.len(), entries);
        let objects = env.objects().await;
        let mut files = 0u64;
        for d in &plan.dirs {
            for s in &d.sstables {
                for f in &s.files {
                    assert_eq!(objects.get(&f.remote), Some(&f.size), "{}", f.remote);
                    assert!(!f.versioned);
                    files += 1;
                }
            }
        }
        let sizes: Vec<u64> = plan.dirs.iter().map(|d| d.size).collect();
        assert_eq!(
            sizes.iter().sum::<u64>(),
            expected.values().sum::<u64>(),
            "the directories hold every byte of the units"
        );

        // Hosts: every node with its shards, its disk and the backup's DC.
        let shards = u64::from(env.cluster.emulator.cluster().config.shards);
        assert_eq!(plan.hosts.len(), 3);
        for h in &plan.hosts {
            assert_eq!(h.shards, shards, "{h:?}");
            assert!(h.disk_total > 0 && h.disk_free > 0, "{h:?}");
            assert_eq!(h.source_dcs, ["dc1"]);
        }

        // Table directories: the ones the nodes have on disk.
        for ((ks, t), dir) in &plan.table_dirs {
            let on_disk = env.cluster.table_dir(0, ks, t);
            assert!(on_disk.ends_with(dir), "{} vs {dir}", on_disk.display());
        }
        assert_eq!(plan.table_dirs.len(), expected.len());

        // The dry run finds nothing wrong and checked every file.
        let report = init.dry_run(&tables_props(&tag)).await.expect("dry run");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.objects_checked, files);
        assert!(report.hosts.iter().all(|h| h.ok && h.needed > 0));
    });
}

#[test]
fn the_dry_run_names_a_missing_object_and_a_missing_table_and_runs_refuse() {
    in_actix(async {
        let Some((env, tag, cluster)) = backed_up("dc1:2").await else {
            return;
        };
        let init = Init::connect(&cluster).await.expect("connect");
        let plan = init.plan(&tables_props(&tag), None).await.expect("plan");

        // One object of a table gone from the bucket, and another table gone from the cluster.
        let victim = plan
            .dirs
            .iter()
            .find(|d| d.table != "order_items")
            .expect("a directory");
        let lost = victim.sstables[0].files[0].remote.clone();
        let bucket = env.s3.object_store(BUCKET);
        bucket
            .delete(&ObjectPath::from(lost.as_str()))
            .await
            .expect("delete");
        let session = cql(&env.cluster).await;
        run(&session, "DROP TABLE store.order_items").await;

        let report = init.dry_run(&tables_props(&tag)).await.expect("dry run");
        assert_eq!(report.missing_tables, ["store.order_items"]);
        assert_eq!(
            report.missing_objects.len(),
            1,
            "{:?}",
            report.missing_objects
        );
        assert_eq!(
            report.missing_objects[0].path,
            format!("s3:{BUCKET}/{lost}")
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("store.order_items") && p.contains("--restore-schema")),
            "{:?}",
            report.problems
        );
        assert!(report.problems.iter().any(|p| p.contains(&lost)));

        // A run refuses, naming the table.
        let err = init.plan(&tables_props(&tag), None).await.unwrap_err();
        assert!(matches!(err, InitError::MissingTables { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("store.order_items is missing in the restored cluster")
        );
        // Without that table, the missing object stops a run.
        let mut others = tables_props(&tag);
        others.keyspace = vec!["*".into(), "!store.order_items".into()];
        let err = init.plan(&others, None).await.unwrap_err();
        assert!(err.to_string().contains(&lost), "{err}");

        // A temporary manifest that no final one shadows: the backup did not finish.
        let (m, _) = manifests_of(&env, &tag).await.remove(0);
        let tmp = ManifestInfo {
            node_id: "00000000-0000-0000-0000-0000000000ff".into(),
            temporary: true,
            ..m.clone()
        };
        let body = bucket
            .get(&ObjectPath::from(m.path().as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        bucket
            .put(&ObjectPath::from(tmp.path().as_str()), body.into())
            .await
            .unwrap();
        let err = init.plan(&others, None).await.unwrap_err();
        assert!(
            err.to_string().contains("not shadowed") && err.to_string().contains(&tmp.path()),
            "{err}"
        );
    });
}

/// A second emulated cluster with agents reading the same bucket, and its store record.
struct Target {
    /// The cluster.
    cluster: TestCluster,
    /// Its agents (stopped when dropped).
    _agents: Vec<AgentProcess>,
    /// What the manager knows of it.
    record: Cluster,
    /// The agents' files.
    _dir: tempfile::TempDir,
}

async fn target(env: &BackupEnv, nodes: &str) -> Target {
    let cluster = TestCluster::start(nodes).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}s3:\n  endpoint: {}\n  access_key_id: {}\n  secret_access_key: {}\n  region: {}\n",
        agent_certificate_yaml(dir.path()),
        env.s3.endpoint(),
        env.s3.access_key(),
        env.s3.secret_key(),
        env.s3.region()
    );
    let (agents, port) = start_fleet(&cluster, dir.path(), &extra);
    let (user, password) = cluster.cql_credentials();
    let record = Cluster {
        id: uuid::Uuid::new_v4(),
        name: "target".into(),
        hosts: vec![cluster.address(0)],
        agent_port: port,
        auth_token: TOKEN.into(),
        cql_username: Some(user),
        cql_password: Some(password),
        created_at: chrono::Utc::now(),
        agent_pins: agent_pins(&cluster, port).await,
    };
    Target {
        cluster,
        _agents: agents,
        record,
        _dir: dir,
    }
}

#[test]
fn the_schema_restores_into_other_dc_names_and_a_failure_drops_what_it_created() {
    in_actix(async {
        let Some((env, tag, _)) = backed_up("dc1:2").await else {
            return;
        };
        let source = cql(&env.cluster).await;
        let source_rf = replication(&source, "store").await.expect("store");
        let source_tables = texts2(
            &source,
            "SELECT keyspace_name, table_name FROM system_schema.tables",
        )
        .await;

        let t = target(&env, "east:2").await;
        let session = cql(&t.cluster).await;
        for ks in ["store", "telemetry"] {
            run(&session, &format!("DROP KEYSPACE {ks}")).await;
        }
        let init = Init::connect(&t.record).await.expect("connect");
        let mut props = RestoreProperties {
            location: vec![BackupEnv::location()],
            snapshot_tag: tag.clone(),
            restore_schema: true,
            ..RestoreProperties::default()
        };

        // Without dc_mapping the backup's dc1 cannot be placed: refused before anything is made.
        let plan = init.plan(&props, None).await.expect("plan");
        let (_, path) = plan.schema_file.clone().expect("a schema file");
        assert!(path.ends_with("_schema_with_internals.json.gz"), "{path}");
        let err = restore_schema(&init, &plan, &props).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("dc1") && text.contains("--dc-mapping"),
            "{text}"
        );
        assert_eq!(replication(&session, "store").await, None);

        // A failing statement (telemetry exists already) drops the keyspaces made before it.
        props.dc_mapping = BTreeMap::from([("dc1".to_string(), "east".to_string())]);
        run(
            &session,
            "CREATE KEYSPACE telemetry WITH replication = {'class': 'NetworkTopologyStrategy', 'east': '1'}",
        )
        .await;
        let plan = init.plan(&props, None).await.expect("plan");
        let err = restore_schema(&init, &plan, &props).await.unwrap_err();
        match &err {
            InitError::SchemaStatement {
                statement, dropped, ..
            } => {
                assert!(statement.contains("telemetry"), "{statement}");
                assert_eq!(dropped, &["store"]);
            }
            other => panic!("{other}"),
        }
        assert_eq!(replication(&session, "store").await, None);
        assert!(
            replication(&session, "telemetry").await.is_some(),
            "not ours to drop"
        );

        // With the mapping and a clean cluster, the schema restores with east in place of dc1.
        run(&session, "DROP KEYSPACE telemetry").await;
        restore_schema(&init, &plan, &props)
            .await
            .expect("schema restore");
        let restored = replication(&session, "store")
            .await
            .expect("store restored");
        assert_eq!(restored.get("east"), source_rf.get("dc1"), "{restored:?}");
        assert!(!restored.contains_key("dc1"), "{restored:?}");
        let tables = texts2(
            &session,
            "SELECT keyspace_name, table_name FROM system_schema.tables",
        )
        .await;
        let user = |s: &BTreeSet<(String, String)>| -> BTreeSet<(String, String)> {
            s.iter()
                .filter(|(k, _)| k == "store" || k == "telemetry")
                .cloned()
                .collect()
        };
        assert_eq!(user(&tables), user(&source_tables));
        assert_eq!(
            view_tables(&session).await,
            view_tables(&source).await,
            "views and indexes restored too"
        );
    });
}
