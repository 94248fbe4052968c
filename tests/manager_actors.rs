//! The manager's actors: the progress actor over a real SQLite store, and the rate-limit
//! actor's division and pushes of a DC's budget.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor as _;
use cairn::manager::progress_actor::{
    FlushProgress, GetProgressStats, ProgressActor, ProgressUpdate,
};
use cairn::manager::rate_limit_actor::{
    DcKey, FinishUpload, GetRateGate, GetRates, RateLimitActor, RatePusher, SetBudget, StartUpload,
};
use cairn::manager::store::{self, BackupRunProgress, RunKey, StoreConfig};
use uuid::Uuid;

const MIB: u64 = 1 << 20;

#[actix::test]
async fn progress_is_coalesced_into_few_writes_and_the_last_update_of_every_row_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&StoreConfig::Sqlite {
        path: dir.path().join("cairn.db"),
    })
    .await
    .unwrap();
    let key = RunKey {
        cluster_id: Uuid::new_v4(),
        task_id: Uuid::new_v4(),
        run_id: store::time_uuid(chrono::Utc::now()),
    };
    let actor =
        ProgressActor::<BackupRunProgress>::new(store.clone(), Duration::from_millis(50)).start();
    let row = |i: u64| BackupRunProgress {
        cluster_id: key.cluster_id,
        task_id: key.task_id,
        run_id: key.run_id,
        host: format!("10.0.0.{}", i % 3 + 1),
        unit: 0,
        table_name: format!("t{}", i % 60 / 3),
        agent_job_id: None,
        started_at: None,
        completed_at: None,
        error: None,
        size: 10_000_000,
        uploaded: i,
        skipped: 0,
        failed: 0,
        files_count: 9,
        files_skipped_count: 0,
    };
    let updates = 6_000u64;
    for i in 0..updates {
        actor.send(ProgressUpdate(row(i))).await.unwrap();
    }
    actor.send(FlushProgress).await.unwrap().expect("flushed");
    let stats = actor.send(GetProgressStats).await.unwrap();
    assert_eq!(stats.received, updates);
    assert_eq!(
        (stats.pending, stats.writing, stats.failed_writes),
        (0, false, 0)
    );
    assert!(
        stats.writes >= 1 && stats.writes * 10 <= updates,
        "{} store writes for {updates} updates",
        stats.writes
    );

    let stored = store.list_progress(key).await.unwrap();
    assert_eq!(stored.len(), 60, "one row per (host, unit, table)");
    for r in &stored {
        let last = (0..updates)
            .rev()
            .find(|&i| row(i).host == r.host && row(i).table_name == r.table_name)
            .unwrap();
        assert_eq!(
            r.uploaded, last,
            "{} {}: the final state is stored",
            r.host, r.table_name
        );
    }
    actor
        .send(FlushProgress)
        .await
        .unwrap()
        .expect("nothing pending: answered at once");
}

/// Records the rates pushed, in order. The push to real agents is `AgentClient`'s, over
/// `AgentClient::set_bandwidth`, which `tests/manager_client.rs` covers against real agents.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<(String, u64)>>);

impl RatePusher for Recorder {
    fn push(
        &self,
        host: &str,
        rate: u64,
    ) -> futures::future::BoxFuture<'static, Result<(), String>> {
        self.0.lock().unwrap().push((host.to_string(), rate));
        Box::pin(async { Ok(()) })
    }
}

#[actix::test]
async fn a_dc_budget_is_divided_among_uploading_hosts_and_only_changes_are_pushed() {
    let recorder = Arc::new(Recorder::default());
    let actor = RateLimitActor::new().start();
    let [a, b, c, d] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1"].map(String::from);
    actor
        .send(SetBudget {
            dc: DcKey::new(Uuid::nil(), "dc1"),
            per_host: 120 * MIB,
            total: 300 * MIB,
        })
        .await
        .unwrap();
    for host in [&a, &b, &c] {
        actor
            .send(StartUpload {
                host: host.clone(),
                dc: DcKey::new(Uuid::nil(), "dc1"),
                pusher: recorder.clone(),
            })
            .await
            .unwrap();
    }
    actor
        .send(StartUpload {
            host: d.clone(),
            dc: DcKey::new(Uuid::nil(), "dc2"),
            pusher: recorder.clone(),
        })
        .await
        .unwrap();
    let stats = actor.send(GetRates).await.unwrap();
    assert_eq!(
        [stats.rates[&a], stats.rates[&b], stats.rates[&c]],
        [100 * MIB; 3],
        "300 MiB/s split three ways, under the 120 cap"
    );
    assert_eq!(stats.rates[&d], 0, "dc2 has no budget: unlimited");
    let pushed: Vec<(String, u64)> = recorder.0.lock().unwrap().clone();
    assert_eq!(pushed.last(), Some(&(d.clone(), 0)));
    assert!(pushed.contains(&(c.clone(), 100 * MIB)));

    recorder.0.lock().unwrap().clear();
    actor.send(FinishUpload { host: c.clone() }).await.unwrap();
    let stats = actor.send(GetRates).await.unwrap();
    assert_eq!(
        [stats.rates[&a], stats.rates[&b]],
        [120 * MIB; 2],
        "two hosts left: 150 each would pass the per-host cap"
    );
    assert!(!stats.rates.contains_key(&c));
    let pushed: Vec<(String, u64)> = recorder.0.lock().unwrap().clone();
    assert_eq!(
        pushed,
        vec![(a.clone(), 120 * MIB), (b.clone(), 120 * MIB)],
        "only the changed rates are pushed"
    );
    assert_eq!(stats.failed_pushes, 0);

    // A host uploading for two runs at once keeps its share until both are done.
    actor
        .send(StartUpload {
            host: a.clone(),
            dc: DcKey::new(Uuid::nil(), "dc1"),
            pusher: recorder.clone(),
        })
        .await
        .unwrap();
    actor.send(FinishUpload { host: a.clone() }).await.unwrap();
    let stats = actor.send(GetRates).await.unwrap();
    assert_eq!(
        stats.rates.get(&a),
        Some(&(120 * MIB)),
        "still uploading for the other run"
    );
    actor.send(FinishUpload { host: a.clone() }).await.unwrap();
    let stats = actor.send(GetRates).await.unwrap();
    assert!(!stats.rates.contains_key(&a));
    assert_eq!(stats.rates[&b], 120 * MIB);
}

#[actix::test]
async fn a_job_reads_its_hosts_rate_under_the_push_turn_so_no_push_decided_before_lands_after_it() {
    let recorder = Arc::new(Recorder::default());
    let actor = RateLimitActor::new().start();
    let a = "10.0.0.1".to_string();
    let budget = |per_host| SetBudget {
        dc: DcKey::new(Uuid::nil(), "dc1"),
        per_host,
        total: 0,
    };
    actor.send(budget(100 * MIB)).await.unwrap();
    actor
        .send(StartUpload {
            host: a.clone(),
            dc: DcKey::new(Uuid::nil(), "dc1"),
            pusher: recorder.clone(),
        })
        .await
        .unwrap();
    let gate = actor.send(GetRateGate { host: a.clone() }).await.unwrap();
    let (turn, rate) = gate.turn().await;
    assert_eq!(rate, Some(100 * MIB), "the job carries the host's rate");
    recorder.0.lock().unwrap().clear();
    // A new limit decided while the job starts is pushed after the start, with the newest rate.
    actor.send(budget(10 * MIB)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        recorder.0.lock().unwrap().is_empty(),
        "the push waits for the job's start"
    );
    drop(turn);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while recorder.0.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the push never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*recorder.0.lock().unwrap(), vec![(a.clone(), 10 * MIB)]);
    assert_eq!(gate.turn().await.1, Some(10 * MIB));
    let never = actor
        .send(GetRateGate {
            host: "10.0.0.9".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        never.turn().await.1,
        None,
        "no rate decided: the job leaves the agent's own"
    );
}
