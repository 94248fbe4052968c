//! Upload budgets over real agents: a DC's aggregate budget (`rate_limit_total`) divided among
//! the hosts uploading, re-divided as they finish, used fully and never exceeded; a host's limit
//! kept by an agent restarted mid-upload. Alone in their test binary, so no other test competes
//! for the two cores while rates are measured.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cairn::emulator::config::Dataset;
use cairn::manager::rate_limit_actor::GetRates;
use cairn::manager::scheduler::StopTask;
use cairn::manager::store::RunStatus;
use common::backup::{BackupEnv, in_actix};
use serde_json::json;

const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The value of the first sample of `metric` (name and labels as printed) in Prometheus text.
fn sample(text: &str, metric: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(metric)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn an_agent_restarted_mid_upload_keeps_its_hosts_rate_limit_for_the_rest_of_the_run() {
    const LIMIT: f64 = (1u64 << 20) as f64;
    /// How long the restarted agent's transfers are watched once it moves bytes again.
    const WINDOW: Duration = Duration::from_secs(5);
    in_actix(async {
        // 40 MiB at 1 MiB/s: the upload outlasts the measurement by far.
        let Some(mut env) = BackupEnv::start_with("dc1:1", BackupEnv::settings(), |c| {
            c.dataset = Dataset::Bytes(40 << 20);
        })
        .await
        else {
            return;
        };
        let task = env.user_task(json!({"rate_limit": ["1"]})).await;
        let host = env.cluster.address(0);
        let id = env.start_run(task).await;
        env.wait_uploading(task, id, Some(&host)).await;
        // A restart loses the agent's jobs and the rate the manager pushed to it; the manager
        // starts the jobs again, and the agent starts with its configured rate (unlimited).
        env.agents[0].kill();
        env.start_agent(0);
        let restarted = Instant::now();
        let (mut limit, mut moved, mut moving_since) = (None, 0.0, None);
        loop {
            let m = env.agents[0].metrics().await;
            limit = sample(&m, "cairn_agent_bandwidth_limit_bytes").or(limit);
            moved = sample(&m, "cairn_agent_bytes_total{result=\"transferred\"}").unwrap_or(moved);
            // Everything moved since the restart, at any moment: at most twice the limit over
            // the time since, plus a second's worth (the bucket's burst and chunks in flight).
            let secs = restarted.elapsed().as_secs_f64();
            assert!(
                moved <= 2.0 * LIMIT * secs + LIMIT,
                "{moved} bytes moved {secs:.1} s after the restart under a 1 MiB/s limit (limit now {limit:?})"
            );
            if moved > 0.0 && moving_since.is_none() {
                moving_since = Some(Instant::now());
            }
            if moving_since.is_some_and(|t: Instant| t.elapsed() >= WINDOW) {
                break;
            }
            assert!(
                restarted.elapsed() < Duration::from_secs(60),
                "the restarted agent never uploaded again"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!(
            "restarted agent: {moved} bytes in {:.1} s, limit {limit:?}",
            restarted.elapsed().as_secs_f64()
        );
        assert_eq!(
            limit,
            Some(LIMIT),
            "the restarted agent runs under its host's limit"
        );
        env.scheduler
            .send(StopTask { task })
            .await
            .unwrap()
            .unwrap();
        let run = env.wait_run(task, id, RUN_LIMIT).await;
        assert_eq!(run.status, RunStatus::Stopped, "{}", run.cause);
    });
}

#[test]
fn a_dc_budget_is_divided_among_the_uploading_hosts_fully_used_and_never_exceeded() {
    const BUDGET_MIB: u64 = 3;
    in_actix(async {
        let Some(env) = BackupEnv::start_with("dc1:3", BackupEnv::settings(), |c| {
            c.dataset = Dataset::Bytes(12 << 20);
        })
        .await
        else {
            return;
        };
        let task = env
            .user_task(json!({"rate_limit_total": [format!("dc1:{BUDGET_MIB}")]}))
            .await;
        let id = env.start_run(task).await;
        // While hosts upload, the rates handed out add up to the budget, never more.
        let mut samples = 0;
        loop {
            let done = env
                .store
                .get_task_run(task, id)
                .await
                .unwrap()
                .is_some_and(|r| r.status != RunStatus::Running);
            if done {
                break;
            }
            let rates = env.rates.send(GetRates).await.unwrap();
            if !rates.rates.is_empty() {
                let sum: u64 = rates.rates.values().sum();
                assert_eq!(sum, BUDGET_MIB << 20, "rates {:?}", rates.rates);
                samples += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(samples > 10, "the upload was observed ({samples} samples)");
        let run = env.wait_run(task, id, RUN_LIMIT).await;
        assert_eq!(run.status, RunStatus::Done, "{}", run.cause);
        let rows: Vec<_> = env
            .progress(task, id)
            .await
            .into_iter()
            .filter(|r| r.uploaded > 0)
            .collect();
        for h in rows.iter().map(|r| r.host.clone()).collect::<BTreeSet<_>>() {
            let hr: Vec<_> = rows.iter().filter(|r| r.host == h).collect();
            let b: u64 = hr.iter().map(|r| r.uploaded).sum();
            let s0 = hr.iter().filter_map(|r| r.started_at).min().unwrap();
            let e0 = hr.iter().filter_map(|r| r.completed_at).max().unwrap();
            eprintln!(
                "{h}: {b} bytes {:.2} s {:.3} MiB/s from {} to {}",
                (e0 - s0).num_milliseconds() as f64 / 1000.0,
                b as f64 / ((e0 - s0).num_milliseconds() as f64 / 1000.0) / 1048576.0,
                s0.format("%S%.3f"),
                e0.format("%S%.3f")
            );
        }
        let bytes: u64 = rows.iter().map(|r| r.uploaded).sum();
        let start = rows.iter().filter_map(|r| r.started_at).min().unwrap();
        let end = rows.iter().filter_map(|r| r.completed_at).max().unwrap();
        let secs = (end - start).num_milliseconds() as f64 / 1000.0;
        let rate = bytes as f64 / secs / (1u64 << 20) as f64;
        eprintln!("DC total: {bytes} bytes in {secs:.2} s = {rate:.3} MiB/s (budget {BUDGET_MIB})");
        let error = (rate - BUDGET_MIB as f64) / BUDGET_MIB as f64;
        assert!(
            error.abs() <= 0.05,
            "the DC total {rate:.3} MiB/s is within 5% of {BUDGET_MIB} MiB/s"
        );
    });
}
