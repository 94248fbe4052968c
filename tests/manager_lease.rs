//! The storage-level lease (DESIGN.md invariant 9), with real agents, managers and stores:
//! - which test stores honour the agent's conditional writes (`files/write?mode=create|update`);
//! - managers racing for an expired lease: exactly one wins;
//! - two managers (one restored from a copy of the other's database) backing up the same cluster
//!   into one location: the second is refused naming the first, deletes nothing, and proceeds once
//!   the first is killed and its lease has expired.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn::format::location::Location;
use cairn::format::paths::remote_lease_file;
use cairn::manager::agent_client::{AgentClient, files::WriteCondition};
use cairn::manager::lease::{Holder, Identity, Lease, LeaseRecord, LeaseSettings};
use chrono::Utc;
use common::TestCluster;
use common::agent::{AgentProcess, TOKEN, config_yaml, start_fleet};
use common::cli::{add_cluster, cairn};
use common::gcs::GcsServer;
use common::manager::ManagerProcess;
use common::servers::{Azurite, S3Server};
use reqwest::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BUCKET: &str = "lease-test";

/// A store under test: the agent's configuration section and its location.
struct Store {
    /// What it is, for messages.
    name: &'static str,
    /// The agent configuration section.
    yaml: String,
    /// `provider:bucket`.
    location: String,
    /// Keeps the server (or the directory) alive.
    _keep: Box<dyn std::any::Any + Send>,
}

async fn local() -> Store {
    let dir = tempfile::tempdir().unwrap();
    Store {
        name: "local directory",
        yaml: format!("localstorage:\n  {BUCKET}: {}\n", dir.path().display()),
        location: format!("localstorage:{BUCKET}"),
        _keep: Box::new(dir),
    }
}

fn s3_yaml(server: &S3Server) -> String {
    format!(
        "s3:\n  endpoint: {}\n  access_key_id: {}\n  secret_access_key: {}\n  region: {}\n",
        server.endpoint(),
        server.access_key(),
        server.secret_key(),
        server.region()
    )
}

async fn s3(name: &'static str, server: Option<S3Server>) -> Option<Store> {
    let server = server?;
    server.create_bucket(BUCKET).await;
    Some(Store {
        name,
        yaml: s3_yaml(&server),
        location: format!("s3:{BUCKET}"),
        _keep: Box::new(server),
    })
}

async fn azurite() -> Option<Store> {
    let server = Azurite::start().await?;
    server.create_container(BUCKET).await;
    Some(Store {
        name: "Azurite",
        yaml: format!(
            "azure:\n  account: {}\n  key: {}\n  endpoint: {}\n",
            server.account(),
            server.key(),
            server.endpoint()
        ),
        location: format!("azure:{BUCKET}"),
        _keep: Box::new(server),
    })
}

fn gcs() -> Store {
    let server = GcsServer::start();
    server.create_bucket(BUCKET);
    Store {
        name: "GCS contract server",
        yaml: format!(
            "gcs:\n  endpoint: {}\n  access_token: {}\n",
            server.endpoint(),
            server.token()
        ),
        location: format!("gcs:{BUCKET}"),
        _keep: Box::new(server),
    }
}

/// An agent (beside a one-node emulated cluster) configured for `store`, and a client of it.
async fn agent_for(store: &Store) -> (TestCluster, AgentProcess, AgentClient, tempfile::TempDir) {
    let cluster = TestCluster::start("dc1:1").await;
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(dir.path(), &config_yaml(&cluster, 0, &store.yaml));
    let port: u16 = agent
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("agent port");
    let pins = cairn::manager::agent_trust::fetch_fingerprint("127.0.0.1", port)
        .await
        .map(|pin| [("127.0.0.1".to_string(), pin)].into())
        .expect("agent certificate");
    let client = AgentClient::new("127.0.0.1", port, TOKEN, &pins).expect("client");
    (cluster, agent, client, dir)
}

/// What a store does with the agent's conditional writes.
#[derive(Debug, PartialEq, Eq)]
struct Honours {
    /// A second `mode=create` is refused (409).
    create: bool,
    /// `mode=update` with the current version succeeds and with a stale one is refused (412);
    /// `false` when the store cannot update conditionally (501).
    update: bool,
}

/// Probes `store` through a real agent.
async fn probe(store: &Store) -> Honours {
    let (_cluster, agent, client, _dir) = agent_for(store).await;
    let location: Location = store.location.parse().unwrap();
    let path = "backup/meta/cluster/probe/lease.json";
    let name = store.name;
    let first = client
        .write_file_if(
            &location,
            path,
            Bytes::from_static(b"one"),
            WriteCondition::Create,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: first create: {e}"));
    let (body, read) = client.read_file_versioned(&location, path).await.unwrap();
    assert_eq!(&body[..], b"one", "{name}");
    assert!(
        read.e_tag.is_some() || read.version.is_some(),
        "{name}: the read names no version"
    );
    assert!(
        first.e_tag.is_some() || first.version.is_some(),
        "{name}: the write answered no version: {first:?}"
    );
    let again = client
        .write_file_if(
            &location,
            path,
            Bytes::from_static(b"two"),
            WriteCondition::Create,
        )
        .await;
    let create = match &again {
        Err(e) => {
            assert_eq!(e.status(), Some(409), "{name}: {e}");
            true
        }
        Ok(_) => false,
    };
    // Update with the version just read: succeeds where the store can update conditionally.
    let (_, current) = client.read_file_versioned(&location, path).await.unwrap();
    let updated = client
        .write_file_if(
            &location,
            path,
            Bytes::from_static(b"three"),
            WriteCondition::Update(&current),
        )
        .await;
    let update = match updated {
        Ok(_) => {
            // The version read before this update is stale now.
            let stale = client
                .write_file_if(
                    &location,
                    path,
                    Bytes::from_static(b"four"),
                    WriteCondition::Update(&current),
                )
                .await;
            match stale {
                Err(e) => {
                    assert_eq!(e.status(), Some(412), "{name}: {e}");
                    true
                }
                Ok(_) => false,
            }
        }
        Err(e) => {
            assert_eq!(e.status(), Some(501), "{name}: {e}");
            false
        }
    };
    // Conditional writes are for `backup/meta/` only; the ordinary write is unchanged.
    let outside = client
        .write_file_if(
            &location,
            "backup/sst/x",
            Bytes::from_static(b"x"),
            WriteCondition::Create,
        )
        .await
        .unwrap_err();
    assert_eq!(outside.status(), Some(403), "{name}: {outside}");
    let (status, body) = agent
        .call(
            Method::PUT,
            &format!(
                "/agent/files/write?location={}&path={path}&mode=update",
                store.location
            ),
            None,
        )
        .await;
    assert_eq!(status, 400, "{name}: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("e_tag"),
        "{body}"
    );
    Honours { create, update }
}

/// Which stores honour conditional create and update (stated in the README). A store missing
/// outside CI is skipped with a message by the harness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_stores_honour_conditional_writes() {
    let full = Honours {
        create: true,
        update: true,
    };
    let create_only = Honours {
        create: true,
        update: false,
    };
    assert_eq!(probe(&local().await).await, create_only, "local directory");
    if let Some(s) = s3("rclone serve s3", S3Server::rclone().await).await {
        let got = probe(&s).await;
        assert_eq!(got, RCLONE, "rclone");
    }
    if let Some(s) = s3("moto", S3Server::moto().await).await {
        assert_eq!(probe(&s).await, full, "moto");
    }
    if let Some(s) = azurite().await {
        assert_eq!(probe(&s).await, full, "Azurite");
    }
    assert_eq!(probe(&gcs()).await, full, "GCS contract server");
}

/// What rclone serve s3 honours: neither `If-None-Match: *` nor `If-Match` (it overwrites).
const RCLONE: Honours = Honours {
    create: false,
    update: false,
};

/// A lease of a manager that is gone, expired a minute ago, written in `location` for `cluster`.
async fn plant_expired(client: &AgentClient, location: &Location, cluster: Uuid) -> LeaseRecord {
    let now = Utc::now();
    let dead = LeaseRecord {
        manager: Uuid::new_v4(),
        hostname: "gone-host".into(),
        instance: Uuid::new_v4(),
        cluster,
        task: Some(Uuid::new_v4()),
        run: Uuid::new_v4(),
        purpose: "backup".into(),
        acquired: now - chrono::TimeDelta::hours(1),
        expires: now - chrono::TimeDelta::minutes(1),
        nonce: Uuid::new_v4(),
    };
    let body = Bytes::from(serde_json::to_vec(&dead).unwrap());
    client
        .write_file(location, &remote_lease_file(cluster), body)
        .await
        .expect("plant the expired lease");
    dead
}

/// Six managers race for one expired lease through one agent: exactly one wins, the others are
/// refused naming the winner, the object names the winner, and its release deletes it.
async fn race(store: &Store) {
    let (_cluster, _agent, client, _dir) = agent_for(store).await;
    let location: Location = store.location.parse().unwrap();
    let name = store.name;
    let cluster = Uuid::new_v4();
    plant_expired(&client, &location, cluster).await;
    let contenders: Vec<LeaseSettings> = (0..6)
        .map(|i| LeaseSettings {
            identity: Identity {
                manager: Uuid::new_v4(),
                hostname: format!("contender-{i}"),
                instance: Uuid::new_v4(),
            },
            ttl: Duration::from_secs(60),
        })
        .collect();
    let takes = contenders.iter().map(|s| {
        let (location, client) = (location.clone(), client.clone());
        async move {
            let holder = Holder {
                task: Some(Uuid::new_v4()),
                run: Uuid::new_v4(),
                purpose: "backup",
            };
            let taken = Lease::take(
                s,
                vec![(location, vec![client])],
                cluster,
                holder,
                CancellationToken::new(),
            )
            .await;
            (s.identity.clone(), taken)
        }
    });
    let results = futures::future::join_all(takes).await;
    let mut winners = Vec::new();
    let mut refusals = Vec::new();
    for (who, taken) in results {
        match taken {
            Ok(lease) => winners.push((who, lease)),
            Err(e) => refusals.push(e.to_string()),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "{name}: winners {winners:?}, refusals {refusals:#?}"
    );
    let (winner, lease) = winners.pop().unwrap();
    for r in &refusals {
        assert!(
            r.contains(&winner.manager.to_string()) && r.contains(&winner.hostname),
            "{name}: a refusal does not name the winner {winner:?}: {r}"
        );
    }
    let (body, _) = client
        .read_file_versioned(&location, &remote_lease_file(cluster))
        .await
        .unwrap();
    let held: LeaseRecord = serde_json::from_slice(&body).unwrap();
    assert_eq!(held.manager, winner.manager, "{name}");
    assert!(held.expires > Utc::now(), "{name}");
    lease.release().await;
    let gone = client
        .read_file_versioned(&location, &remote_lease_file(cluster))
        .await
        .unwrap_err();
    assert!(
        gone.is_not_found(),
        "{name}: released lease still there: {gone}"
    );
}

/// Racing takeovers of an expired lease have one winner: with the store's conditional update
/// (moto, GCS) and with the takeover marker where the store has none (local directory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_takeovers_of_an_expired_lease_have_one_winner() {
    race(&local().await).await;
    race(&gcs()).await;
    if let Some(s) = s3("moto", S3Server::moto().await).await {
        race(&s).await;
    }
}

/// A held lease is renewed past its time to live (another manager is still refused), and a
/// holder whose lease is taken from it (here by its own manager's next process, which takes over
/// at once) learns it: its runs are cancelled and the reason names the new holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_is_renewed_and_a_lost_one_cancels_its_runs() {
    let store = local().await;
    let (_cluster, _agent, client, _dir) = agent_for(&store).await;
    let location: Location = store.location.parse().unwrap();
    let cluster = Uuid::new_v4();
    let settings = |manager: Uuid, hostname: &str| LeaseSettings {
        identity: Identity {
            manager,
            hostname: hostname.into(),
            instance: Uuid::new_v4(),
        },
        ttl: Duration::from_secs(3),
    };
    let holder = || Holder {
        task: Some(Uuid::new_v4()),
        run: Uuid::new_v4(),
        purpose: "backup",
    };
    let take = |s: LeaseSettings, cancel: CancellationToken| {
        let (location, client) = (location.clone(), client.clone());
        async move {
            Lease::take(
                &s,
                vec![(location, vec![client])],
                cluster,
                holder(),
                cancel,
            )
            .await
        }
    };
    let a = settings(Uuid::new_v4(), "host-a");
    let a_cancel = CancellationToken::new();
    let held = take(a.clone(), a_cancel.clone()).await.expect("A takes it");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let other = take(settings(Uuid::new_v4(), "host-b"), CancellationToken::new())
        .await
        .expect_err("B is refused: A renewed its lease past the 3 s TTL");
    assert!(other.to_string().contains("host-a"), "{other}");
    assert!(held.lost().is_none() && !a_cancel.is_cancelled());

    // A's manager restarted (same identity and host, a new process): it takes over at once.
    let next = take(
        settings(a.identity.manager, "host-a"),
        CancellationToken::new(),
    )
    .await
    .expect("the same manager's next process takes over its own lease");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !a_cancel.is_cancelled() {
        assert!(
            Instant::now() < deadline,
            "A never learnt it lost the lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = held.lost().expect("the reason");
    assert!(
        reason.contains("lost") && reason.contains("host-a"),
        "{reason}"
    );
    // A's release leaves the new holder's lease alone.
    held.release().await;
    let (body, _) = client
        .read_file_versioned(&location, &remote_lease_file(cluster))
        .await
        .expect("the new holder's lease is still there");
    assert!(serde_json::from_slice::<LeaseRecord>(&body).is_ok());
    next.release().await;
}

/// Every object under `backup/` of the location, through an agent.
async fn objects(agent: &AgentProcess, location: &str) -> std::collections::BTreeSet<String> {
    agent
        .list(location, "backup", true)
        .await
        .into_iter()
        .filter(|e| e["dir"] != true)
        .map(|e| e["path"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Whether a lease object is in the location.
async fn lease_present(agent: &AgentProcess, location: &str) -> bool {
    objects(agent, location)
        .await
        .iter()
        .any(|p| p.ends_with("/lease.json"))
}

/// Starts task `name` on `manager` and answers its run once it has ended.
async fn run_to_end(manager: &ManagerProcess, name: &str) -> Value {
    cairn(
        manager.url(),
        &["start", "-c", "prod", &format!("backup/{name}")],
    )
    .await
    .ok("start");
    wait_end(manager, name).await
}

/// The latest run of task `name` once it has ended.
async fn wait_end(manager: &ManagerProcess, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let path = format!("/api/v1/cluster/prod/task/backup/{name}/latest");
    loop {
        let (status, body) = manager.call(Method::GET, &path, None).await;
        if status == 200 {
            let run = &body["run"];
            if matches!(
                run["status"].as_str(),
                Some("DONE" | "ERROR" | "STOPPED" | "ABORTED")
            ) {
                return run.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name}: no end within 120 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Writes `mib` MiB of new data on every node.
async fn write_data(cluster: &TestCluster, nodes: usize, mib: u64) {
    for i in 0..nodes {
        let addr = cluster.address(i);
        cluster
            .post_ok(
                0,
                &format!(
                    "/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes={}",
                    mib << 20
                ),
            )
            .await;
    }
}

/// Waits until a lease object is in the location.
async fn wait_lease(agent: &AgentProcess, location: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lease_present(agent, location).await {
        assert!(
            Instant::now() < deadline,
            "no lease in {location} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two managers back up one cluster into one location: the second (a copy of the first's
/// database on "another machine", i.e. with its own identity) is refused while the first's run
/// holds the lease, naming the first; its `backup delete` is refused too; nothing of the
/// first's is deleted. Then the first is killed mid-run: the second is refused until the lease
/// expires (`backup.lease_ttl`), then its run takes the lease over and succeeds.
async fn two_managers(store: &Store) {
    const NODES: usize = 2;
    let name = store.name;
    let loc = store.location.as_str();
    let cluster = TestCluster::start("dc1:2").await;
    write_data(&cluster, NODES, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let (agents, port) = start_fleet(&cluster, dir.path(), &store.yaml);
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let ttl_yaml = "backup:\n  lease_ttl: 10s\n";
    let mut a = ManagerProcess::start(&dir_a, ttl_yaml);
    add_cluster(a.url(), &cluster, port).await;
    for (task, extra) in [("quick", None), ("slow", Some("1"))] {
        let mut args = vec![
            "backup",
            "-c",
            "prod",
            "-L",
            loc,
            "-K",
            "store",
            "--enabled",
            "false",
            "--name",
            task,
        ];
        if let Some(rate) = extra {
            args.extend(["--rate-limit", rate]);
        }
        cairn(a.url(), &args).await.ok("backup create");
    }
    // B: a copy of A's database (as restored from a backup of it) on "another machine": it gets
    // its own identity file.
    a.stop();
    for entry in std::fs::read_dir(&dir_a).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if file.starts_with("cairn.db") {
            std::fs::copy(&path, dir_b.join(&file)).unwrap();
        }
    }
    let a_config = a.config.clone();
    drop(a);
    let mut a = ManagerProcess::start_with(a_config);
    let b = ManagerProcess::start(&dir_b, ttl_yaml);
    let a_id = std::fs::read_to_string(dir_a.join("manager.id")).unwrap();
    let b_id = std::fs::read_to_string(dir_b.join("manager.id")).unwrap();
    assert_ne!(a_id, b_id, "each manager has its own identity");

    let first = run_to_end(&a, "quick").await;
    assert_eq!(first["status"], "DONE", "{name}: {first}");
    assert!(
        !lease_present(&agents[0], loc).await,
        "{name}: the lease was not released"
    );
    let list = cairn(a.url(), &["backup", "list", "-c", "prod", "-o", "json"]).await;
    let tag = list.json("backup list")["backups"][0]["snapshot_info"][0]["snapshot_tag"]
        .as_str()
        .unwrap()
        .to_string();

    // A's slow run holds the lease: B's run and B's delete are refused, naming A's run.
    write_data(&cluster, NODES, 16).await;
    cairn(a.url(), &["start", "-c", "prod", "backup/slow"])
        .await
        .ok("start slow");
    wait_lease(&agents[0], loc).await;
    let before = objects(&agents[0], loc).await;
    let (_, slow) = a
        .call(
            Method::GET,
            "/api/v1/cluster/prod/task/backup/slow/latest",
            None,
        )
        .await;
    let (a_run, a_task) = (
        slow["run"]["id"].as_str().unwrap().to_string(),
        slow["run"]["task_id"].as_str().unwrap().to_string(),
    );
    let refused = run_to_end(&b, "quick").await;
    assert_eq!(refused["status"], "ERROR", "{name}: {refused}");
    let cause = refused["cause"].as_str().unwrap();
    for needle in [a_id.trim(), &a_run, &a_task, "held by", "until"] {
        assert!(
            cause.contains(needle),
            "{name}: {needle:?} not in the cause {cause:?}"
        );
    }
    let delete = cairn(b.url(), &["backup", "delete", "-c", "prod", "-T", &tag]).await;
    assert_ne!(
        delete.code, 0,
        "{name}: B's delete was not refused: {}",
        delete.stdout
    );
    assert!(
        delete.stderr.contains(a_id.trim()) && delete.stderr.contains(&a_run),
        "{name}: {}",
        delete.stderr
    );
    let (status, body) = b
        .call(
            Method::DELETE,
            &format!("/api/v1/cluster/prod/backups?snapshot_tags={tag}&location={loc}"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{name}: {body}");
    assert!(body["message"].as_str().unwrap().contains(&a_run), "{body}");
    let after = objects(&agents[0], loc).await;
    let lost: Vec<_> = before.difference(&after).collect();
    assert!(
        lost.is_empty(),
        "{name}: deleted while A held the lease: {lost:?}"
    );
    let slow = wait_end(&a, "slow").await;
    assert_eq!(slow["status"], "DONE", "{name}: {slow}");
    let kept = objects(&agents[0], loc).await;
    assert!(
        kept.iter().any(|p| p.contains(&tag)),
        "{name}: the snapshot B tried to delete is gone"
    );

    // A is killed mid-run: its lease blocks B until it expires, then B takes it over.
    write_data(&cluster, NODES, 16).await;
    cairn(a.url(), &["start", "-c", "prod", "backup/slow"])
        .await
        .ok("start slow");
    wait_lease(&agents[0], loc).await;
    a.kill();
    let killed_at = Instant::now();
    let refused = run_to_end(&b, "quick").await;
    // A's last renewal was at most a third of the 10 s TTL before the kill: its lease lives at
    // least 6.6 s after it. B's run is refused naming A, unless it reached the lease later.
    let ended = killed_at.elapsed();
    match refused["status"].as_str() {
        Some("ERROR") => assert!(
            refused["cause"].as_str().unwrap().contains(a_id.trim()),
            "{name}: {refused}"
        ),
        Some("DONE") => assert!(
            ended > Duration::from_secs(6),
            "{name}: B ran {ended:?} after A was killed, within A's lease: {refused}"
        ),
        _ => panic!("{name}: {refused}"),
    }
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(killed_at.elapsed())).await;
    let taken = run_to_end(&b, "quick").await;
    assert_eq!(taken["status"], "DONE", "{name}: {taken}");
    assert!(
        !lease_present(&agents[0], loc).await,
        "{name}: B did not release the lease"
    );
}

/// Two managers and one local directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_local_directory() {
    two_managers(&local().await).await;
}

/// Two managers and one S3 bucket (moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_s3() {
    if let Some(s) = s3("moto", S3Server::moto().await).await {
        two_managers(&s).await;
    }
}
