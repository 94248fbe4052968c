//! Backups in a location, end to end: backups are laid out file by file in the upstream layout
//! (manifests, schema files, SSTables, Scylla manifests, older versions) in a real location (a
//! `localstorage` directory, or an S3 bucket on `rclone serve s3`), then purged, listed, shown and
//! deleted through real `cairn agent` processes, by the library and over the manager's REST API.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use cairn::format::location::Location;
use cairn::format::manifest::{FilesMeta, Manifest, ManifestContent};
use cairn::format::paths::{ManifestInfo, remote_unsafe_schema_file, scylla_manifest_name};
use cairn::format::sstable::versioned_name;
use cairn::format::tag::SnapshotTag;
use cairn::manager::agent_client::AgentClient;
use cairn::manager::api::router;
use cairn::manager::backup::purge::{PurgeReport, assign_nodes, purge_node};
use cairn::manager::backup::retention::{Policy, Snapshot, oldest_kept, stale_snapshots};
use cairn::manager::backup::settings::RunSettings;
use cairn::manager::location::manifests::list_manifests;
use cairn::manager::runtime::Runtime;
use cairn::manager::store::{self, Cluster, StoreConfig};
use common::TestCluster;
use common::agent::{AgentProcess, TOKEN, config_yaml, start_fleet};
use common::servers::S3Server;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// The bucket name of every location.
const BUCKET: &str = "bkt";

/// The snapshot tag of `2026-01-<day>`.
fn tag(day: u32) -> SnapshotTag {
    format!("sm_202601{day:02}000000UTC").parse().unwrap()
}

/// A location's bucket as the test writes and checks it, beside the agents that serve it.
struct Bucket {
    /// The bucket, reached directly.
    store: Arc<dyn ObjectStore>,
    /// The location string agents know it by.
    location: Location,
}

impl Bucket {
    /// A `localstorage:bkt` bucket in `dir`.
    fn local(dir: &std::path::Path) -> Bucket {
        std::fs::create_dir_all(dir).unwrap();
        Bucket {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap()),
            location: format!("localstorage:{BUCKET}").parse().unwrap(),
        }
    }

    /// The agent configuration of a `localstorage` bucket in `dir`.
    fn local_yaml(dir: &std::path::Path) -> String {
        format!("localstorage:\n  {BUCKET}: {}\n", dir.display())
    }

    /// Writes one object.
    async fn put(&self, path: &str, bytes: Vec<u8>) {
        self.store
            .put(&ObjPath::from(path), PutPayload::from(bytes))
            .await
            .unwrap_or_else(|e| panic!("put {path}: {e}"));
    }

    /// Every object path in the bucket.
    async fn paths(&self) -> BTreeSet<String> {
        self.store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap()
    }

    /// Writes one node's snapshot: every file of `tables` (`(keyspace, table, files)`, each file
    /// `file_size` bytes), the renamed Scylla manifest per table, the schema file, and the node
    /// manifest (temporary when `info` is). Returns the manifest as written.
    async fn snapshot(
        &self,
        info: &ManifestInfo,
        tables: Tables<'_>,
        file_size: usize,
    ) -> Manifest {
        let mut index = Vec::new();
        for (ks, table, files) in tables {
            let version = table_version(ks, table);
            let dir = info.sstable_version_dir(ks, table, &version);
            for f in *files {
                self.put(&format!("{dir}/{f}"), vec![b'x'; file_size]).await;
            }
            let scylla = scylla_manifest_name(&info.snapshot_tag, &info.node_id);
            self.put(&format!("{dir}/{scylla}"), b"{}".to_vec()).await;
            index.push(FilesMeta {
                keyspace: ks.to_string(),
                table: table.to_string(),
                version,
                files: files.iter().map(|f| f.to_string()).collect(),
                size: (files.len() * file_size) as i64,
                scylla_manifests: vec![scylla],
                ..FilesMeta::default()
            });
        }
        let manifest = Manifest {
            content: ManifestContent {
                cluster_id: info.cluster_id,
                dc: info.dc.clone(),
                node_id: info.node_id.clone(),
                task_id: info.task_id,
                snapshot_tag: Some(info.snapshot_tag.clone()),
                schema: info.schema_path(),
                size: index.iter().map(|f| f.size).sum(),
                ..ManifestContent::default()
            },
            index,
        };
        let mut gz = Vec::new();
        manifest.write_gzip(&mut gz).unwrap();
        self.put(&info.path(), gz).await;
        self.put(&info.schema_path(), b"schema".to_vec()).await;
        manifest
    }
}

/// The tables of a snapshot: `(keyspace, table, files)`.
type Tables<'a> = &'a [(&'a str, &'a str, &'a [&'a str])];

/// A stable 32-hex table version per table name.
fn table_version(ks: &str, table: &str) -> String {
    format!(
        "{:032x}",
        crc32fast::hash(format!("{ks}.{table}").as_bytes())
    )
}

/// A manifest's identity.
fn info(
    cluster: Uuid,
    dc: &str,
    node: &str,
    task: Uuid,
    t: SnapshotTag,
    tmp: bool,
) -> ManifestInfo {
    ManifestInfo {
        cluster_id: cluster,
        dc: dc.into(),
        node_id: node.into(),
        task_id: task,
        snapshot_tag: t,
        temporary: tmp,
    }
}

/// The path of file `name` of `ks.table` in a node's sst tree.
fn sst(m: &ManifestInfo, ks: &str, table: &str, name: &str) -> String {
    format!(
        "{}/{name}",
        m.sstable_version_dir(ks, table, &table_version(ks, table))
    )
}

/// The purge scenario, on any store: node n1 has snapshots T1..T3 of task A (retention 2), a
/// temporary manifest T4 of a run in progress and an abandoned temporary one T0; files are
/// shared between consecutive snapshots (deduplication), and two older versions of files exist.
/// Node n2 has T1 only. Asserts exactly which files the purge of n1, then of the rest, deletes.
async fn purge_scenario(bucket: &Bucket, client: &AgentClient) {
    let (cluster, task) = (Uuid::new_v4(), Uuid::new_v4());
    let n1 = |t, tmp| info(cluster, "dc1", "n1", task, t, tmp);
    let (t0, t1, t2, t3, t4) = (tag(1), tag(2), tag(3), tag(4), tag(5));
    let n2_t1 = info(cluster, "dc1", "n2", task, t1.clone(), false);
    let layout: [(ManifestInfo, Tables); 6] = [
        (n1(t0.clone(), true), &[("store", "orders", &["d0"])]),
        (n1(t1.clone(), false), &[("store", "orders", &["d1", "d2"])]),
        (n1(t2.clone(), false), &[("store", "orders", &["d2", "d3"])]),
        (
            n1(t3.clone(), false),
            &[
                ("store", "orders", &["d3", "d4"]),
                ("telemetry", "events", &["e1"]),
            ],
        ),
        (n1(t4.clone(), true), &[("store", "orders", &["d4", "d5"])]),
        (n2_t1.clone(), &[("store", "orders", &["d1"])]),
    ];
    for (m, tables) in &layout {
        bucket.snapshot(m, tables, 10).await;
    }
    // Older versions, kept when T2 and T4 uploaded new content of d2 and d3: the first only
    // snapshots before T2 could need, the second T2 and T3 still need.
    let m1 = n1(t1.clone(), false);
    let old_d2 = sst(&m1, "store", "orders", &versioned_name("d2", &t2));
    let old_d3 = sst(&m1, "store", "orders", &versioned_name("d3", &t4));
    bucket.put(&old_d2, b"old".to_vec()).await;
    bucket.put(&old_d3, b"old".to_vec()).await;
    let unsafe_schema = remote_unsafe_schema_file(cluster, task, &t1);
    bucket.put(&unsafe_schema, b"legacy".to_vec()).await;
    let before = bucket.paths().await;

    let manifests = list_manifests(client, &bucket.location, Some(cluster))
        .await
        .unwrap();
    assert_eq!(manifests.len(), 6, "{manifests:?}");
    let policies = HashMap::from([(
        task,
        Policy {
            retention: 2,
            retention_days: 0,
        },
    )]);
    let running = HashSet::from([(task, t4.clone())]);
    let now = "2026-01-10T00:00:00Z".parse().unwrap();
    let stale = stale_snapshots(&manifests, &policies, &running, now);
    let expected: BTreeSet<Snapshot> = [(task, t0.clone()), (task, t1.clone())].into();
    assert_eq!(stale, expected);
    let oldest = oldest_kept(&manifests, &stale);
    assert_eq!(oldest, Some(t2.clone()));

    // n1 alone: n2's manifest is among those given but is not n1's.
    let report = purge_node(
        client,
        &bucket.location,
        &m1,
        &manifests,
        &stale,
        oldest.as_ref(),
    )
    .await
    .unwrap();
    let m0 = n1(t0.clone(), true);
    let gone: BTreeSet<String> = [
        sst(&m1, "store", "orders", "d1"),
        sst(&m1, "store", "orders", &scylla_manifest_name(&t1, "n1")),
        sst(&m0, "store", "orders", "d0"),
        sst(&m0, "store", "orders", &scylla_manifest_name(&t0, "n1")),
        old_d2.clone(),
        m1.path(),
        m0.path(),
        m1.schema_path(),
        m0.schema_path(),
        unsafe_schema,
    ]
    .into_iter()
    .collect();
    let after = bucket.paths().await;
    assert_eq!(
        before.difference(&after).cloned().collect::<BTreeSet<_>>(),
        gone,
        "exactly T0's and T1's own files, their manifests and schema, and the expired version go"
    );
    assert!(after.is_subset(&before));
    assert!(
        after.contains(&sst(&m1, "store", "orders", "d2")),
        "shared with T2"
    );
    assert!(after.contains(&old_d3), "a version T2 and T3 may need");
    assert!(
        after.contains(&n1(t4.clone(), true).path()),
        "the run in progress"
    );
    assert!(
        after.contains(&sst(&m1, "store", "orders", "d5")),
        "the run in progress"
    );
    assert!(after.contains(&n2_t1.path()), "another node's manifest");
    assert_eq!(
        report,
        PurgeReport {
            files_to_delete: 5,
            files_deleted: 5,
            manifests_deleted: 2
        }
    );

    // The rest of the location, as the PURGE stage does it with one host (n1): n2 is unclaimed
    // and purged too. Purging n1 again changes nothing.
    let manifests = list_manifests(client, &bucket.location, Some(cluster))
        .await
        .unwrap();
    let stale = stale_snapshots(&manifests, &policies, &running, now);
    let oldest = oldest_kept(&manifests, &stale);
    let assigned = assign_nodes(&manifests, &["n1".to_string()]);
    assert_eq!(assigned.len(), 1);
    let mut total = PurgeReport::default();
    for n in &assigned[0].1 {
        total += purge_node(
            client,
            &bucket.location,
            &n.node,
            &n.manifests,
            &stale,
            oldest.as_ref(),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        total,
        PurgeReport {
            files_to_delete: 2,
            files_deleted: 2,
            manifests_deleted: 1
        },
        "n2's T1: d1, its Scylla manifest and its manifest"
    );
    let last = bucket.paths().await;
    let n2_gone: BTreeSet<String> = [
        sst(&n2_t1, "store", "orders", "d1"),
        sst(&n2_t1, "store", "orders", &scylla_manifest_name(&t1, "n2")),
        n2_t1.path(),
    ]
    .into();
    assert_eq!(
        after.difference(&last).cloned().collect::<BTreeSet<_>>(),
        n2_gone
    );
    let manifests = list_manifests(client, &bucket.location, Some(cluster))
        .await
        .unwrap();
    assert_eq!(
        manifests
            .iter()
            .map(|m| (m.snapshot_tag.clone(), m.temporary))
            .collect::<Vec<_>>(),
        [(t2, false), (t3, false), (t4, true)],
        "what stays"
    );
}

/// One emulated node and its agent, configured with `yaml`.
async fn one_agent(yaml: &str) -> (TestCluster, AgentProcess, AgentClient, tempfile::TempDir) {
    let cluster = TestCluster::start("dc1:1").await;
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(dir.path(), &config_yaml(&cluster, 0, yaml));
    let port: u16 = agent
        .url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", agent.url));
    let pins = cairn::manager::agent_trust::fetch_fingerprint("127.0.0.1", port)
        .await
        .map(|f| [("127.0.0.1".to_string(), f)].into_iter().collect())
        .unwrap();
    let client = AgentClient::new("127.0.0.1", port, TOKEN, &pins).unwrap();
    (cluster, agent, client, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_in_a_local_directory_deletes_exactly_the_unreferenced_files() {
    let data = tempfile::tempdir().unwrap();
    let bucket = Bucket::local(&data.path().join(BUCKET));
    let (_cluster, _agent, client, _dir) =
        one_agent(&Bucket::local_yaml(&data.path().join(BUCKET))).await;
    purge_scenario(&bucket, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_in_an_s3_bucket_deletes_exactly_the_unreferenced_files() {
    let Some(server) = S3Server::rclone().await else {
        return;
    };
    server.create_bucket(BUCKET).await;
    let bucket = Bucket {
        store: server.object_store(BUCKET),
        location: format!("s3:{BUCKET}").parse().unwrap(),
    };
    let yaml = format!(
        "s3:\n  endpoint: {}\n  access_key_id: {}\n  secret_access_key: {}\n  region: {}\n",
        server.endpoint(),
        server.access_key(),
        server.secret_key(),
        server.region()
    );
    let (_cluster, _agent, client, _dir) = one_agent(&yaml).await;
    purge_scenario(&bucket, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_without_backups_lists_no_manifests_and_purges_nothing() {
    let data = tempfile::tempdir().unwrap();
    let bucket = Bucket::local(&data.path().join(BUCKET));
    let (_cluster, _agent, client, _dir) =
        one_agent(&Bucket::local_yaml(&data.path().join(BUCKET))).await;
    assert!(
        list_manifests(&client, &bucket.location, None)
            .await
            .unwrap()
            .is_empty()
    );
    // A stray file in the meta tree is not a manifest.
    bucket
        .put("backup/meta/cluster/README", b"x".to_vec())
        .await;
    assert!(
        list_manifests(&client, &bucket.location, None)
            .await
            .unwrap()
            .is_empty()
    );
    let m = info(Uuid::new_v4(), "dc1", "n1", Uuid::new_v4(), tag(1), false);
    let stale = BTreeSet::from([(m.task_id, m.snapshot_tag.clone())]);
    let report = purge_node(&client, &bucket.location, &m, &[], &stale, Some(&tag(9)))
        .await
        .unwrap();
    assert_eq!(report, PurgeReport::default());
    assert_eq!(bucket.paths().await.len(), 1);
}

/// Runs `f` in an actix system over a multi-thread tokio runtime, as the manager runs.
fn in_actix<F: Future>(f: F) -> F::Output {
    actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
    .block_on(f)
}

/// A manager API over a SQLite store with one cluster (`prod`, its agents at `hosts`), served on
/// a free port; returns its base URL.
async fn serve_api(dir: &std::path::Path, cluster: Cluster) -> String {
    let store = store::open(&StoreConfig::Sqlite {
        path: dir.join("cairn.db"),
    })
    .await
    .unwrap();
    store.put_cluster(&cluster).await.unwrap();
    let app = router(Runtime::start(store, RunSettings::default()).api());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/v1/cluster/prod")
}

/// Sends `method base+path`; returns the status and the JSON body.
async fn call(http: &reqwest::Client, method: Method, url: &str) -> (u16, Value) {
    let resp = http.request(method, url).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The API over a 3-node, 2-DC cluster with agents and a `localstorage` location holding two
/// tasks' backups, a run in progress and another cluster's backup.
struct ApiEnv {
    /// The emulated cluster.
    cluster: TestCluster,
    /// An agent beside every node.
    _agents: Vec<AgentProcess>,
    /// The `localstorage:bkt` location.
    bucket: Bucket,
    /// Base URL of the cluster's endpoints.
    base: String,
    /// The API's client.
    http: reqwest::Client,
    /// The cluster's id.
    id: Uuid,
    /// Its node manifests' identities: (dc, node id) of every node.
    nodes: Vec<(String, String)>,
    /// Where the bucket, the agents' files and the store live.
    _dir: tempfile::TempDir,
}

impl ApiEnv {
    /// Starts the cluster, its agents and the API.
    async fn start() -> ApiEnv {
        let cluster = TestCluster::start("dc1:2,dc2:1").await;
        let dir = tempfile::tempdir().unwrap();
        let bucket_dir = dir.path().join(BUCKET);
        let bucket = Bucket::local(&bucket_dir);
        let (agents, port) = start_fleet(&cluster, dir.path(), &Bucket::local_yaml(&bucket_dir));
        let id = Uuid::new_v4();
        let base = serve_api(
            dir.path(),
            Cluster {
                id,
                name: "prod".into(),
                hosts: vec![cluster.address(0), cluster.address(1)],
                agent_port: port,
                auth_token: TOKEN.into(),
                cql_username: None,
                cql_password: None,
                created_at: chrono::Utc::now(),
                agent_pins: common::manager::agent_pins(&cluster, port).await,
            },
        )
        .await;
        let nodes = cluster
            .emulator
            .nodes()
            .iter()
            .map(|n| (n.dc.clone(), n.host_id.clone()))
            .collect();
        ApiEnv {
            cluster,
            _agents: agents,
            bucket,
            base,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            id,
            nodes,
            _dir: dir,
        }
    }

    /// Sends `method` to the cluster's `path_and_query`.
    async fn call(&self, method: Method, path_and_query: &str) -> (u16, Value) {
        call(
            &self.http,
            method,
            &format!("{}{path_and_query}", self.base),
        )
        .await
    }

    /// The identity of node `node`'s manifest of `task` at `t`.
    fn manifest(&self, node: usize, task: Uuid, t: SnapshotTag, tmp: bool) -> ManifestInfo {
        let (dc, id) = &self.nodes[node];
        info(self.id, dc, id, task, t, tmp)
    }
}

/// Task A: T1 on all three nodes (store.orders 2 × 100 B, telemetry.events 100 B), T2 on the two
/// dc1 nodes (store.orders, sharing one file with T1), a temporary T3 on every node. Task B: T2 on
/// node 0. Another cluster: T1 on one node.
async fn lay_out(env: &ApiEnv, a: Uuid, b: Uuid) {
    for n in 0..3 {
        let m = env.manifest(n, a, tag(1), false);
        let tables: Tables = &[
            ("store", "orders", &["o1", "o2"]),
            ("telemetry", "events", &["e1"]),
        ];
        env.bucket.snapshot(&m, tables, 100).await;
        env.bucket
            .snapshot(
                &env.manifest(n, a, tag(3), true),
                &[("store", "orders", &["o9"])],
                100,
            )
            .await;
    }
    for n in 0..2 {
        env.bucket
            .snapshot(
                &env.manifest(n, a, tag(2), false),
                &[("store", "orders", &["o2", "o3"])],
                100,
            )
            .await;
    }
    env.bucket
        .snapshot(
            &env.manifest(0, b, tag(2), false),
            &[("store", "orders", &["o2"])],
            100,
        )
        .await;
    let other = info(Uuid::new_v4(), "dc1", "x", a, tag(1), false);
    env.bucket
        .snapshot(&other, &[("store", "orders", &["o1"])], 100)
        .await;
}

const LOC: &str = "location=localstorage:bkt";

#[test]
fn the_api_lists_backups_and_files_and_refuses_bad_parameters() {
    in_actix(async {
        let env = ApiEnv::start().await;
        let (a, b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
        lay_out(&env, a, b).await;

        let (status, list) = env.call(Method::GET, &format!("/backups?{LOC}")).await;
        assert_eq!(status, 200, "{list}");
        let items = list.as_array().unwrap();
        assert_eq!(items.len(), 2, "tasks a and b of this cluster only: {list}");
        assert_eq!(items[0]["task_id"], a.to_string());
        assert_eq!(items[0]["cluster_id"], env.id.to_string());
        assert_eq!(
            items[0]["snapshot_info"],
            json!([
                {"snapshot_tag": tag(2).to_string(), "nodes": 2, "size": 400},
                {"snapshot_tag": tag(1).to_string(), "nodes": 3, "size": 900},
            ]),
            "newest first; the temporary T3 is hidden; sizes summed over nodes"
        );
        assert_eq!(
            items[0]["units"],
            json!([
                {"keyspace": "store", "tables": ["orders"], "all_tables": true},
                {"keyspace": "telemetry", "tables": ["events"], "all_tables": true},
            ])
        );
        assert_eq!(items[1]["task_id"], b.to_string());
        assert_eq!(
            items[1]["snapshot_info"],
            json!([{"snapshot_tag": tag(2).to_string(), "nodes": 1, "size": 100}])
        );

        // With with_skipped=true the same listing in an object that names skipped manifests.
        let (status, both) = env
            .call(Method::GET, &format!("/backups?{LOC}&with_skipped=true"))
            .await;
        assert_eq!(status, 200, "{both}");
        assert_eq!(both, json!({"backups": list, "skipped": []}));
        let (status, _) = env
            .call(Method::GET, &format!("/backups?{LOC}&with_skipped=maybe"))
            .await;
        assert_eq!(status, 400, "with_skipped is a boolean");

        // Filters: keyspace (sizes count only the selected tables), dates, task, cluster.
        let (_, list) = env
            .call(Method::GET, &format!("/backups?{LOC}&keyspace=telemetry"))
            .await;
        assert_eq!(
            list,
            json!([{
                "cluster_id": env.id.to_string(),
                "task_id": a.to_string(),
                "units": [{"keyspace": "telemetry", "tables": ["events"], "all_tables": true}],
                "snapshot_info": [{"snapshot_tag": tag(1).to_string(), "nodes": 3, "size": 300}],
            }])
        );
        let (_, list) = env
            .call(
                Method::GET,
                &format!("/backups?{LOC}&min_date=2026-01-02T00:00:00Z&task_id={a}"),
            )
            .await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["snapshot_info"].as_array().unwrap().len(), 1);
        assert_eq!(
            list[0]["snapshot_info"][0]["snapshot_tag"],
            tag(2).to_string()
        );
        let (_, list) = env
            .call(
                Method::GET,
                "/backups?locations=localstorage:bkt&max_date=2026-01-01T12:00:00Z",
            )
            .await;
        assert_eq!(
            list.as_array().unwrap().len(),
            1,
            "only task a had T1: {list}"
        );
        let (_, list) = env
            .call(Method::GET, &format!("/backups?{LOC}&all_clusters=true"))
            .await;
        assert_eq!(
            list.as_array().unwrap().len(),
            3,
            "the other cluster's backup too"
        );

        // The files of T2: one entry per node manifest, with the version dir as path.
        let (status, files) = env
            .call(
                Method::GET,
                &format!("/backups/files?{LOC}&snapshot_tag={}", tag(2)),
            )
            .await;
        assert_eq!(status, 200, "{files}");
        let files = files.as_array().unwrap();
        assert_eq!(files.len(), 3, "two nodes of task a, one of task b");
        let node0_a = files
            .iter()
            .find(|f| f["node_id"] == env.nodes[0].1.as_str() && f["task_id"] == a.to_string())
            .unwrap();
        let m = env.manifest(0, a, tag(2), false);
        assert_eq!(node0_a["location"], "localstorage:bkt");
        assert_eq!(node0_a["schema"], m.schema_path());
        assert_eq!(node0_a["files"][0]["files"], json!(["o2", "o3"]));
        let dir = m.sstable_version_dir("store", "orders", &table_version("store", "orders"));
        assert_eq!(node0_a["files"][0]["path"], dir);
        assert!(env.bucket.paths().await.contains(&format!("{dir}/o3")));
        let (status, files) = env
            .call(
                Method::GET,
                &format!(
                    "/backups/files?{LOC}&snapshot_tag={}&keyspace=telemetry",
                    tag(1)
                ),
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            files
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["files"].as_array().unwrap().len() == 1
                    && f["files"][0]["table"] == "events")
        );
        let (status, body) = env
            .call(
                Method::GET,
                &format!("/backups/files?{LOC}&snapshot_tag={}", tag(28)),
            )
            .await;
        assert_eq!(status, 404, "{body}");
        assert!(body["message"].as_str().unwrap().contains(tag(28).as_str()));

        // Bad parameters: 400 naming the field, before any agent is asked.
        for (query, field) in [
            ("/backups?location=s3:Bad_Bucket", "location"),
            ("/backups?locations=localstorage:bkt,nope", "locations"),
            ("/backups?location=localstorage:unconfigured", "location"),
            (&format!("/backups?{LOC}&keyspace=store.[x"), "keyspace"),
            (&format!("/backups?{LOC}&keyspace=.orders"), "keyspace"),
            (&format!("/backups?{LOC}&min_date=yesterday"), "min_date"),
            (&format!("/backups?{LOC}&task_id=12"), "task_id"),
            (
                &format!("/backups?{LOC}&all_clusters=maybe"),
                "all_clusters",
            ),
            (&format!("/backups?{LOC}&colour=red"), "colour"),
            (&format!("/backups/files?{LOC}"), "snapshot_tag"),
            (
                &format!("/backups/files?{LOC}&snapshot_tag=sm_1"),
                "snapshot_tag",
            ),
        ] {
            let (status, body) = env.call(Method::GET, query).await;
            assert_eq!(
                (status, body["field"].as_str()),
                (400, Some(field)),
                "{query}: {body}"
            );
        }
        let (status, _) = call(
            &env.http,
            Method::GET,
            &format!("{}/backups?{LOC}", env.base.replace("/prod", "/nosuch")),
        )
        .await;
        assert_eq!(status, 404, "unknown cluster");
    });
}

#[test]
fn the_api_deletes_snapshots_with_reference_counting_and_local_snapshots() {
    in_actix(async {
        let env = ApiEnv::start().await;
        let (a, b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
        lay_out(&env, a, b).await;
        let before = env.bucket.paths().await;

        // An unknown tag changes nothing, even beside a known one.
        for tags in [tag(28).to_string(), format!("{},{}", tag(1), tag(28))] {
            let (status, body) = env
                .call(
                    Method::DELETE,
                    &format!("/backups?{LOC}&snapshot_tags={tags}"),
                )
                .await;
            assert_eq!(status, 404, "{body}");
            assert!(
                body["message"].as_str().unwrap().contains(tag(28).as_str()),
                "{body}"
            );
            assert_eq!(env.bucket.paths().await, before);
        }
        let (status, body) = env.call(Method::DELETE, &format!("/backups?{LOC}")).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("snapshot_tags"))
        );

        // T1 goes on all three nodes: o1 (T1 only) goes, o2 (shared with T2 on the dc1 nodes)
        // stays there but goes on the dc2 node, which has no T2.
        let (status, body) = env
            .call(
                Method::DELETE,
                &format!("/backups?{LOC}&snapshot_tags={}", tag(1)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let after = env.bucket.paths().await;
        let mut gone = BTreeSet::new();
        for n in 0..3 {
            let m = env.manifest(n, a, tag(1), false);
            let scylla = scylla_manifest_name(&tag(1), &env.nodes[n].1);
            gone.extend([
                m.path(),
                sst(&m, "store", "orders", "o1"),
                sst(&m, "store", "orders", &scylla),
                sst(&m, "telemetry", "events", "e1"),
                sst(&m, "telemetry", "events", &scylla),
            ]);
            if n == 2 {
                gone.insert(sst(&m, "store", "orders", "o2"));
            }
        }
        gone.insert(env.manifest(0, a, tag(1), false).schema_path());
        assert_eq!(
            before.difference(&after).cloned().collect::<BTreeSet<_>>(),
            gone
        );
        assert_eq!(
            body,
            json!({"deleted_manifests": 3, "deleted_files": gone.len() - 4})
        );
        let (_, list) = env
            .call(Method::GET, &format!("/backups?{LOC}&task_id={a}"))
            .await;
        assert_eq!(
            list[0]["snapshot_info"],
            json!([{"snapshot_tag": tag(2).to_string(), "nodes": 2, "size": 400}])
        );
        let (status, _) = env
            .call(
                Method::DELETE,
                &format!("/backups?{LOC}&snapshot_tags={}", tag(1)),
            )
            .await;
        assert_eq!(status, 404, "already deleted");

        // Local snapshots: sm_* tags go on every node; other tags stay.
        for i in 0..3 {
            env.cluster
                .post_ok(
                    i,
                    &format!("/storage_service/snapshots?tag={}&kn=store", tag(7)),
                )
                .await;
        }
        env.cluster
            .post_ok(
                0,
                &format!("/storage_service/snapshots?tag={}&kn=store", tag(8)),
            )
            .await;
        env.cluster
            .post_ok(0, "/storage_service/snapshots?tag=mine&kn=store")
            .await;
        let (status, body) = env.call(Method::DELETE, "/backups/local_snapshots").await;
        assert_eq!(status, 200, "{body}");
        let hosts = body["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 3);
        for h in hosts {
            let expected = if h["host"] == env.cluster.address(0).as_str() {
                2
            } else {
                1
            };
            assert_eq!(h["deleted"], expected, "{h}");
            assert!(h.get("error").is_none(), "{h}");
        }
        let left = env.cluster.get(0, "/storage_service/snapshots").await;
        let tags: Vec<&str> = left
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["key"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["mine"]);
        let (status, body) = env
            .call(Method::DELETE, "/backups/local_snapshots?x=1")
            .await;
        assert_eq!((status, body["field"].as_str()), (400, Some("x")));
    });
}
