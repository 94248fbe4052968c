//! The manager's side of the agents against an emulated 2-DC cluster with a real `cairn agent`
//! beside every node, each on its node's address and one shared port as in production: the
//! client's calls, discovery (with a node taken down), and task properties and backup targets.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use cairn::agent::wire::{DownloadJob, JobProgress, JobStatus, UploadJob};
use cairn::format::location::Location;
use cairn::format::tag::SnapshotTag;
use cairn::manager::agent_client::{
    AgentClient,
    error::{AgentError, RetryPolicy},
    files::Root,
    scylla::{KeyspaceKind, ReplicationKind},
};
use cairn::manager::backup::properties::TaskProperties;
use cairn::manager::backup::target::{TargetError, build_target};
use cairn::manager::discovery::{ClusterView, discover};
use common::TestCluster;
use common::agent::{AgentProcess, TOKEN, start_fleet};
use common::manager::agent_pins;
use futures::TryStreamExt;

/// An emulated `dc1:3,dc2:3` cluster, an agent beside every node on `address:port`, and a
/// `localstorage:bkt` location served by every agent.
struct Setup {
    cluster: TestCluster,
    _agents: Vec<AgentProcess>,
    port: u16,
    /// Every agent's certificate, pinned as `cluster add` does.
    pins: BTreeMap<String, String>,
    bucket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let cluster = TestCluster::start("dc1:3,dc2:3").await;
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bkt");
        std::fs::create_dir_all(&bucket).unwrap();
        let extra = format!("localstorage:\n  bkt: {}", bucket.display());
        let (agents, port) = start_fleet(&cluster, dir.path(), &extra);
        let pins = agent_pins(&cluster, port).await;
        Setup {
            cluster,
            _agents: agents,
            port,
            pins,
            bucket,
            _dir: dir,
        }
    }

    fn client(&self, i: usize) -> AgentClient {
        AgentClient::new(&self.cluster.address(i), self.port, TOKEN, &self.pins).unwrap()
    }

    fn hosts(&self) -> Vec<String> {
        vec![self.cluster.address(0)]
    }

    async fn discover(&self) -> ClusterView {
        discover(&self.hosts(), self.port, TOKEN, &self.pins)
            .await
            .unwrap()
    }

    async fn node_down(&self, i: usize) {
        let addr = self.cluster.address(i);
        self.cluster
            .post_ok(0, &format!("/emulator/nodes/{addr}/down"))
            .await;
    }
}

/// Long-polls a job until it is no longer running.
async fn finish(c: &AgentClient, id: &str) -> JobProgress {
    for _ in 0..30 {
        let p = c.job_progress(id, Duration::from_secs(10)).await.unwrap();
        if p.status != JobStatus::Running {
            return p;
        }
    }
    panic!("job {id} still running after 5 minutes");
}

fn props(json: &str) -> TaskProperties {
    TaskProperties::from_json(json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_calls_round_trip_through_the_agent() {
    let s = Setup::new().await;
    let nodes = s.cluster.emulator.nodes();
    let addr = s.cluster.address(0);
    let c = s.client(0);

    c.ping().await.unwrap();
    let info = c.node_info().await.unwrap();
    assert!(!info.scylla_version.is_empty());
    assert_eq!(info.scylla_version, c.release_version().await.unwrap());
    assert!(info.storage_size > 0 && info.storage_free > 0);
    assert_eq!(
        PathBuf::from(&info.data_directory),
        s.cluster.data_dir(0).canonicalize().unwrap()
    );

    // Membership, as the cluster knows it.
    let ids = c.host_id_map().await.unwrap();
    assert_eq!(ids.len(), 6);
    for n in &nodes {
        assert_eq!(ids[&n.address], n.host_id);
        assert_eq!(c.datacenter(Some(&n.address)).await.unwrap(), n.dc);
        assert_eq!(c.rack(Some(&n.address)).await.unwrap(), n.rack);
    }
    assert_eq!(c.datacenter(None).await.unwrap(), "dc1");
    assert_eq!(c.live_endpoints().await.unwrap().len(), 6);
    assert!(c.joining().await.unwrap().is_empty());
    assert!(c.leaving().await.unwrap().is_empty());

    // Schema and ring.
    let user = c
        .keyspaces(KeyspaceKind::User, ReplicationKind::All)
        .await
        .unwrap();
    assert!(user.contains(&"store".into()) && user.contains(&"telemetry".into()));
    assert!(!user.iter().any(|k| k.starts_with("system")), "{user:?}");
    let replicated = c
        .keyspaces(KeyspaceKind::NonLocalStrategy, ReplicationKind::All)
        .await
        .unwrap();
    assert!(replicated.contains(&"system_distributed".into()));
    assert!(!replicated.contains(&"system_schema".into()));
    let tables = c.table_names().await.unwrap();
    assert!(tables.contains(&("store".into(), "orders".into())));
    let ring = c.describe_ring("store", None).await.unwrap();
    assert!(!ring.is_empty());
    for r in &ring {
        assert_eq!(r.endpoints.len(), 6, "RF 3 in each DC: {r:?}");
        let dcs: std::collections::BTreeSet<&str> = r
            .endpoint_details
            .iter()
            .map(|d| d.datacenter.as_str())
            .collect();
        assert_eq!(dcs.into_iter().collect::<Vec<_>>(), ["dc1", "dc2"]);
    }
    assert!(!c.tokens(&addr).await.unwrap().is_empty());
    assert!(c.table_disk_size("store", "orders").await.unwrap() > 0);
    c.flush_keyspace("store", &[]).await.unwrap();

    // Snapshots.
    let tag = SnapshotTag::now();
    c.take_snapshot(&tag, "store", &["orders".into()], false)
        .await
        .unwrap();
    let snaps = c.snapshots().await.unwrap();
    let snap = snaps.iter().find(|x| x.tag == tag.as_str()).unwrap();
    assert_eq!(snap.tables.len(), 1);
    assert_eq!(
        (snap.tables[0].ks.as_str(), snap.tables[0].cf.as_str()),
        ("store", "orders")
    );
    assert!(snap.tables[0].total > 0);

    // Files: the snapshot directory, streamed.
    let table_dir = c
        .list_files(Root::Data, "store", false)
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.dir && e.path.starts_with("orders-"))
        .expect("the orders directory is listed");
    let snap_dir = format!("store/{}/snapshots/{tag}", table_dir.path);
    let files = c
        .list_files(Root::Data, &snap_dir, true)
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(files.iter().any(|e| e.path == "manifest.json"));
    assert!(
        files
            .iter()
            .any(|e| e.path.ends_with("Data.db") && e.size > 0)
    );
    let manifest = c
        .read_file(Root::Data, &format!("{snap_dir}/manifest.json"))
        .await
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&manifest).expect("Scylla's manifest is JSON");

    // An upload job, followed by long poll.
    c.set_bandwidth(0.0).await.unwrap();
    let id = c
        .start_upload(&UploadJob {
            source_dir: snap_dir.clone(),
            location: "localstorage:bkt".into(),
            remote_dir: "backup/sst/t".into(),
            tag: tag.clone(),
            transfers: Some(2),
            rate_limit: None,
        })
        .await
        .unwrap();
    let progress = finish(&c, &id).await;
    assert_eq!(progress.status, JobStatus::Success, "{progress:?}");
    assert_eq!(progress.files_transferred as usize, files.len());
    let loc: Location = "localstorage:bkt".parse().unwrap();
    let uploaded = c
        .list_files(Root::Backup(&loc), "backup/sst/t", true)
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let mut names: Vec<_> = uploaded.iter().map(|e| e.path.clone()).collect();
    let mut expected: Vec<_> = files.iter().map(|e| e.path.clone()).collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);

    // A download job brings them back into the table's upload directory.
    let dest = format!("store/{}/upload", table_dir.path);
    let id2 = c
        .start_download(&DownloadJob {
            location: "localstorage:bkt".into(),
            files: names.iter().map(|n| format!("backup/sst/t/{n}")).collect(),
            dest_dir: dest.clone(),
            names: Vec::new(),
            keep_verified: false,
            transfers: None,
            rate_limit: None,
        })
        .await
        .unwrap();
    let progress = finish(&c, &id2).await;
    assert_eq!(progress.status, JobStatus::Success, "{progress:?}");
    let mut downloaded = common::files_in(&s.cluster.data_dir(0).join(&dest));
    downloaded.sort();
    assert_eq!(downloaded, expected);
    assert_eq!(c.jobs().await.unwrap().len(), 2);

    assert_eq!(c.remove_job(&id).await.unwrap().status, JobStatus::Success);
    assert_eq!(
        c.job_progress(&id, Duration::ZERO).await.unwrap().status,
        JobStatus::NotFound,
        "a removed job is not found"
    );
    assert_eq!(
        c.stop_job("no-such-job").await.unwrap().status,
        JobStatus::NotFound
    );

    // Small objects in the location: write, read, copy, delete.
    let meta = "backup/meta/t/manifest.json";
    c.write_file(&loc, meta, Bytes::from_static(b"{\"v\":1}"))
        .await
        .unwrap();
    assert_eq!(
        c.read_file(Root::Backup(&loc), meta).await.unwrap(),
        Bytes::from_static(b"{\"v\":1}")
    );
    let copy = "backup/meta/t2/manifest.json";
    c.move_file(Root::Backup(&loc), meta, copy, true)
        .await
        .unwrap();
    assert!(s.bucket.join(meta).exists() && s.bucket.join(copy).exists());
    let deleted = c
        .delete_files(
            Root::Backup(&loc),
            &[meta.into(), copy.into(), "backup/meta/none".into()],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 2, "missing paths are not errors and not counted");
    assert!(!s.bucket.join(copy).exists());

    let disk = c.disk().await.unwrap();
    assert!(disk.total >= disk.free && disk.total > 0);
    let bw = c.set_bandwidth(25.0).await.unwrap();
    assert_eq!(bw.bytes_per_second, 25 << 20);
    assert_eq!(c.bandwidth().await.unwrap().rate_limit, 25.0);

    c.delete_snapshot(Some(tag.as_str()), Some("store"), None)
        .await
        .unwrap();
    assert!(
        !c.snapshots()
            .await
            .unwrap()
            .iter()
            .any(|x| x.tag == tag.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_say_who_refused_and_why() {
    let s = Setup::new().await;
    let addr = s.cluster.address(0);

    let wrong = AgentClient::new(&addr, s.port, "not-the-token", &s.pins).unwrap();
    let e = wrong.node_info().await.unwrap_err();
    assert!(matches!(e, AgentError::Unauthorized { .. }), "{e}");
    assert!(!e.retryable());
    let msg = e.to_string();
    assert!(
        msg.contains(&addr) && msg.contains("refused the auth token"),
        "{msg}"
    );
    wrong.ping().await.expect("ping needs no token");

    let c = s.client(0);
    let e = c
        .raw(reqwest::Method::POST, "/storage_service/decommission")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(!e.retryable());
    assert!(e.to_string().contains("not exposed"), "{e}");

    let e = c.describe_ring("no_such_keyspace", None).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(!e.retryable());
    assert!(e.to_string().contains(&addr), "{e}");

    // No agent on this port: a connection error, worth retrying later.
    let nobody = AgentClient::new(&addr, 1, TOKEN, &s.pins)
        .unwrap()
        .with_retry(RetryPolicy::none());
    let e = nobody.ping().await.unwrap_err();
    assert!(matches!(e, AgentError::Connect { .. }), "{e}");
    assert!(e.retryable());

    // The node's Scylla down: the agent still answers, the proxied call fails and may be retried.
    s.node_down(0).await;
    let e = c
        .clone()
        .with_retry(RetryPolicy::none())
        .host_id_map()
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_every_node_and_reports_a_down_one() {
    let s = Setup::new().await;
    let nodes = s.cluster.emulator.nodes();

    // An unreachable first host is skipped.
    let hosts = vec!["127.255.255.254".to_string(), s.cluster.address(0)];
    let view = discover(&hosts, s.port, TOKEN, &s.pins).await.unwrap();
    assert_eq!(view.contact, s.cluster.address(0));
    assert_eq!(view.dcs(), ["dc1", "dc2"]);
    assert_eq!(view.nodes.len(), 6);
    for n in &nodes {
        let v = view.node(&n.address).expect("every node is discovered");
        assert_eq!((&v.dc, &v.rack, &v.host_id), (&n.dc, &n.rack, &n.host_id));
        assert!(v.is_live(), "{v:?}");
        assert!(v.scylla_version.is_some() && v.disk_free.is_some());
    }

    // A wrong token: every host refuses, and the error says so for each.
    let e = discover(&s.hosts(), s.port, "wrong", &s.pins)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&s.cluster.address(0)) && msg.contains("refused the auth token"),
        "{msg}"
    );
    assert!(!e.retryable());

    // Nothing reachable: the hosts are named.
    let e = discover(&["127.255.255.254".into()], s.port, TOKEN, &s.pins)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("127.255.255.254"), "{e}");

    // A node taken down: discovered through another node, reported down.
    let down = s.cluster.address(5);
    s.node_down(5).await;
    let view = discover(
        &[down.clone(), s.cluster.address(0)],
        s.port,
        TOKEN,
        &s.pins,
    )
    .await
    .unwrap();
    assert_eq!(view.contact, s.cluster.address(0));
    let d = view.node(&down).unwrap();
    assert!(!d.gossip_up && !d.is_live());
    assert_eq!(d.down_reason().as_deref(), Some("down in gossip"));
    assert!(d.agent_ok, "its agent still answers");
    assert_eq!(view.live_nodes().count(), 5);
    assert_eq!(view.down_nodes().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_are_checked_and_targets_select_tables_nodes_and_locations() {
    let s = Setup::new().await;
    let view = s.discover().await;
    let c = s.client(0);

    // Each bad property is refused naming the field.
    for (json, field) in [
        (
            r#"{"location":["localstorage:bkt"],"retention":-1}"#,
            "retention",
        ),
        (r#"{"location":["s3:Bad_Bucket"]}"#, "location[0]"),
        (
            r#"{"location":["localstorage:bkt"],"rate_limit":["dc9:10"]}"#,
            "rate_limit",
        ),
        (
            r#"{"location":["localstorage:bkt"],"transfers":0}"#,
            "transfers",
        ),
        (
            r#"{"location":["localstorage:bkt"],"keyspace":["store.[x"]}"#,
            "keyspace",
        ),
        (r#"{"keyspace":["store"]}"#, "location"),
    ] {
        match build_target(&props(json), &view, &c).await {
            Err(TargetError::Properties(e)) => {
                assert!(e.problem(field).is_some(), "{json}: {e}");
                assert!(e.to_string().contains(field), "{e}");
            }
            other => panic!("{json}: expected a property error, got {other:?}"),
        }
    }

    // One keyspace, every live node, the default location and rate.
    let t = build_target(
        &props(r#"{"location":["localstorage:bkt"],"keyspace":["store"]}"#),
        &view,
        &c,
    )
    .await
    .unwrap();
    let units: Vec<&str> = t.units.iter().map(|u| u.keyspace.as_str()).collect();
    assert_eq!(units, ["store", "system_schema"]);
    let mut store_tables = t.units[0].tables.clone();
    store_tables.sort();
    // The target lists what Scylla's REST API lists, views and index views included; a run and
    // a dry run then leave the views out over CQL (backup::schema::exclude_views).
    assert_eq!(
        store_tables,
        [
            "customers",
            "order_items",
            "orders",
            "orders_by_status",
            "orders_placed_at_idx_index"
        ]
    );
    assert!(t.units.iter().all(|u| u.all_tables));
    assert_eq!(t.dc, ["dc1", "dc2"]);
    assert_eq!(t.hosts.len(), 6);
    assert!(t.ignored_hosts.is_empty());
    assert_eq!(t.dcs.len(), 2);
    for dc in &t.dcs {
        assert_eq!(dc.location.to_string(), "localstorage:bkt");
        assert_eq!(dc.rate_limit, Some(100));
        assert_eq!(dc.hosts.len(), 3);
    }
    assert_eq!((t.retention, t.transfers, t.continue_), (3, -1, true));
    let mut expected_size = 0;
    for h in &view.nodes {
        let hc = c.for_host(&h.address);
        for u in &t.units {
            for table in &u.tables {
                expected_size += hc.table_disk_size(&u.keyspace, table).await.unwrap();
            }
        }
    }
    assert!(t.size > 0);
    assert_eq!(t.size, expected_size);
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["location"], serde_json::json!(["localstorage:bkt"]));
    assert_eq!(json["rate_limit"], serde_json::json!(["100"]));

    // A tablet keyspace: its ring is asked per table.
    s.cluster
        .post_ok(
            0,
            "/emulator/tables?keyspace=tab&table=t&replication=dc1:3,dc2:3&tablets=true",
        )
        .await;
    let t = build_target(
        &props(r#"{"location":["localstorage:bkt"],"keyspace":["tab"],"skip_schema":true}"#),
        &view,
        &c,
    )
    .await
    .unwrap();
    assert_eq!(t.units.len(), 1);
    assert_eq!(
        (t.units[0].keyspace.as_str(), t.units[0].tables.as_slice()),
        ("tab", &["t".to_string()][..])
    );

    // dc2 alone: SimpleStrategy system keyspaces have ranges held only in dc1, which upstream
    // refuses until they are excluded.
    let e = build_target(
        &props(r#"{"location":["localstorage:bkt"],"dc":["dc2"]}"#),
        &view,
        &c,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, TargetError::Uncovered { .. }), "{e}");
    assert!(!e.retryable());
    assert!(e.to_string().contains("outside the selected DCs"), "{e}");

    // A keyspace replicated only in dc1 is left out of a dc2 backup.
    s.cluster
        .post_ok(
            0,
            "/emulator/tables?keyspace=only_dc1&table=t&replication=dc1:3",
        )
        .await;
    let p = props(
        r#"{"location":["dc1:localstorage:bkt","dc2:localstorage:other"],"dc":["dc2"],
            "keyspace":["store","telemetry","only_dc1"],"rate_limit":["dc1:10","dc2:20"],
            "upload_parallel":["1"]}"#,
    );
    let t = build_target(&p, &view, &c).await.unwrap();
    let units: Vec<&str> = t.units.iter().map(|u| u.keyspace.as_str()).collect();
    assert_eq!(units, ["store", "telemetry", "system_schema"]);
    assert_eq!(t.dc, ["dc2"]);
    assert!(t.hosts.iter().all(|h| h.dc == "dc2") && t.hosts.len() == 3);
    assert_eq!(t.location.len(), 1);
    assert_eq!(t.location[0].to_string(), "dc2:localstorage:other");
    assert_eq!(Vec::<String>::from(t.rate_limit.clone()), ["dc2:20"]);
    assert_eq!(t.dcs[0].rate_limit, Some(20));
    assert_eq!(t.dcs[0].upload_parallel, Some(1));
    assert!(t.size > 0);

    // A dc2 node down: ignored and reported; its ranges still have live replicas.
    let down = s.cluster.address(5);
    s.node_down(5).await;
    let view = s.discover().await;
    let t = build_target(&p, &view, &c).await.unwrap();
    assert_eq!(t.hosts.len(), 2);
    assert_eq!(t.ignored_hosts.len(), 1);
    assert_eq!(t.ignored_hosts[0].address, down);
    assert_eq!(t.ignored_hosts[0].reason, "down in gossip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_scylla_errors_are_not() {
    let s = Setup::new().await;
    let addr = s.cluster.address(0);
    let inject = |path: &'static str, method: &'static str, status: u16, count: u32| {
        let url = s.cluster.url(0, &format!("/emulator/nodes/{addr}/faults"));
        let http = s.cluster.http.clone();
        async move {
            let r = http
                .post(url)
                .json(&serde_json::json!({"path": path, "method": method, "status": status, "count": count}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "fault injection refused");
        }
    };
    let c = s.client(0).with_retry(RetryPolicy {
        retries: 3,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    });

    // Two 503s, then an answer: the caller sees only the answer.
    inject("/storage_service/host_id", "GET", 503, 2).await;
    assert_eq!(c.host_id_map().await.unwrap().len(), 6);

    // More 503s than retries: the last error is returned, marked retryable.
    inject("/storage_service/host_id", "GET", 503, 10).await;
    let e = c.host_id_map().await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(e.retryable(), "{e}");

    // Scylla's own error is an answer: returned at once, the next call is not affected.
    inject("/storage_service/keyspaces", "GET", 500, 1).await;
    let e = c
        .keyspaces(KeyspaceKind::User, ReplicationKind::All)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(
        !e.retryable() && e.to_string().contains("injected fault"),
        "{e}"
    );
    c.keyspaces(KeyspaceKind::User, ReplicationKind::All)
        .await
        .expect("only one try consumed the fault");

    // A snapshot request that reached the node is not repeated, even on a 503.
    inject("/storage_service/snapshots", "POST", 503, 1).await;
    let tag = SnapshotTag::now();
    let e = c
        .take_snapshot(&tag, "store", &[], false)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    c.take_snapshot(&tag, "store", &[], false)
        .await
        .expect("the fault was used by the single first try");
}
