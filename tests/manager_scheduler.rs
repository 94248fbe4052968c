//! The scheduler with real runs: a stopped run keeps its snapshots and the next run resumes it;
//! runs of one task never overlap; a failed run is retried after `retry_wait` and the retry
//! resumes it; two tasks of a type never run together on a cluster (a start by hand is refused
//! naming the running task, a scheduled run waits for it).

mod common;

use std::time::Duration;

use cairn::manager::backup::stage::BackupStage;
use cairn::manager::scheduler::{
    GetLiveRun, GetSchedulerState, SchedulerError, StartTask, StopTask, TaskChanged,
};
use cairn::manager::store::{RunStatus, Schedule};
use common::backup::{BackupEnv, in_actix};
use serde_json::json;

const RUN_LIMIT: Duration = Duration::from_secs(180);

#[test]
fn a_stopped_run_keeps_its_snapshots_and_the_next_run_resumes_it_and_runs_never_overlap() {
    in_actix(async {
        let Some(env) = BackupEnv::start("dc1:2", BackupEnv::settings()).await else {
            return;
        };
        let task = env.user_task(json!({"rate_limit": ["1"]})).await;
        let start = StartTask { task, resume: true };
        let id = env.scheduler.send(start.clone()).await.unwrap().unwrap();
        match env.scheduler.send(start.clone()).await.unwrap() {
            Err(SchedulerError::AlreadyRunning { run, .. }) => assert_eq!(run, id),
            other => panic!("a second run of a running task must be refused: {other:?}"),
        }
        let state = env.scheduler.send(GetSchedulerState).await.unwrap();
        let entry = state
            .tasks
            .iter()
            .find(|t| t.task_id == task.task_id)
            .unwrap();
        assert_eq!(entry.running, Some(id), "the scheduler shows the run");

        // Stop once data is flowing.
        let host = env.cluster.address(0);
        let begun = std::time::Instant::now();
        while !env
            .progress(task, id)
            .await
            .iter()
            .any(|r| r.host == host && r.uploaded > 0)
        {
            assert!(begun.elapsed() < Duration::from_secs(60), "no upload began");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The run's live state, as the supervisor and node actors see it.
        let live = env
            .scheduler
            .send(GetLiveRun { task })
            .await
            .unwrap()
            .expect("the running task has a live state");
        assert_eq!((live.run_id, live.stage), (id, Some(BackupStage::Upload)));
        assert_eq!(live.hosts.len(), 2, "{live:?}");
        let node = live.hosts[&host]
            .node
            .clone()
            .expect("the node actor answers");
        assert_eq!(node.stage, Some(BackupStage::Upload));
        assert!(node.size > 0 && node.tables > 0, "{node:?}");
        assert!(node.error.is_none());
        env.scheduler
            .send(StopTask { task })
            .await
            .unwrap()
            .unwrap();
        let stopped = env.wait_run(task, id, RUN_LIMIT).await;
        assert_eq!(stopped.status, RunStatus::Stopped, "{}", stopped.cause);
        let tag = env.last_run(task).await.snapshot_tag;
        assert!(
            env.local_snapshots(0).contains(tag.as_str()),
            "the stopped run's snapshot stays on the node"
        );
        assert!(env.manifests().await.iter().all(|m| m.temporary));
        assert!(
            env.scheduler
                .send(GetLiveRun { task })
                .await
                .unwrap()
                .is_none()
        );
        match env.scheduler.send(StopTask { task }).await.unwrap() {
            Err(SchedulerError::NotRunning(_)) => {}
            other => panic!("stopping an idle task: {other:?}"),
        }

        let run2 = env.run(task, RUN_LIMIT).await;
        assert_eq!(run2.status, RunStatus::Done, "{}", run2.cause);
        let resumed = env.last_run(task).await;
        assert_eq!((resumed.prev_id, &resumed.snapshot_tag), (Some(id), &tag));
        assert!(
            env.manifests()
                .await
                .iter()
                .all(|m| !m.temporary && m.snapshot_tag == tag)
        );
        assert!(
            !env.local_snapshots(0).contains(tag.as_str()),
            "snapshot removed at the end"
        );

        // Without resume, a new snapshot.
        let id3 = env
            .scheduler
            .send(StartTask {
                task,
                resume: false,
            })
            .await
            .unwrap()
            .unwrap();
        let run3 = env.wait_run(task, id3, RUN_LIMIT).await;
        assert_eq!(run3.status, RunStatus::Done, "{}", run3.cause);
        let third = env.last_run(task).await;
        assert_eq!(third.prev_id, None);
        assert_ne!(third.snapshot_tag, tag);
    });
}

#[test]
fn a_failed_run_is_retried_after_retry_wait_and_the_retry_resumes_it() {
    in_actix(async {
        let Some(env) = BackupEnv::start("dc1:2", BackupEnv::settings()).await else {
            return;
        };
        // The location's bucket does not exist yet: the run fails writing manifests.
        let missing = "not-yet";
        let key = env
            .task(json!({"location": [format!("s3:{missing}")], "keyspace": ["store"]}))
            .await;
        let mut task = env.store.get_task(key).await.unwrap().unwrap();
        task.enabled = true;
        task.schedule = Schedule {
            start_date: Some(chrono::Utc::now() + chrono::Duration::days(30)),
            num_retries: 1,
            retry_wait_seconds: 3,
            ..Schedule::default()
        };
        env.store.put_task(&task).await.unwrap();
        let first = env
            .scheduler
            .send(StartTask {
                task: key,
                resume: true,
            })
            .await
            .unwrap()
            .unwrap();
        let failed = env.wait_run(key, first, RUN_LIMIT).await;
        assert_eq!(failed.status, RunStatus::Error);
        assert!(
            failed.cause.contains(missing),
            "the cause names the bucket: {}",
            failed.cause
        );
        env.s3.create_bucket(missing).await;
        let state = env.scheduler.send(GetSchedulerState).await.unwrap();
        let entry = state
            .tasks
            .iter()
            .find(|t| t.task_id == key.task_id)
            .unwrap();
        assert_eq!(entry.retries, 1);
        let next = entry.next_activation.expect("a retry is scheduled");
        let wait = (next - failed.end_time.unwrap()).num_milliseconds();
        assert!(
            (2_500..=4_000).contains(&wait),
            "retry {wait} ms after the failure"
        );

        // The retry is a new run that resumes the failed one.
        let begun = std::time::Instant::now();
        let retry = loop {
            let runs = env.store.list_task_runs(key, 5).await.unwrap();
            if let Some(r) = runs.iter().find(|r| r.id != first) {
                break r.id;
            }
            assert!(
                begun.elapsed() < Duration::from_secs(30),
                "no retry started"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let done = env.wait_run(key, retry, RUN_LIMIT).await;
        assert_eq!(done.status, RunStatus::Done, "{}", done.cause);
        let run = env.last_run(key).await;
        assert_eq!(run.prev_id, Some(first));
        let t = env.store.get_task(key).await.unwrap().unwrap();
        assert_eq!((t.success_count, t.error_count), (1, 1));
    });
}

#[test]
fn two_tasks_of_a_type_never_run_together_on_a_cluster() {
    in_actix(async {
        let Some(env) = BackupEnv::start("dc1:2", BackupEnv::settings()).await else {
            return;
        };
        let first = env.user_task(json!({"rate_limit": ["1"]})).await;
        let second = env.user_task(json!({})).await;
        let name = |key| {
            let store = env.store.clone();
            async move { store.get_task(key).await.unwrap().unwrap().name }
        };
        let (first_name, second_name) = (name(first).await, name(second).await);
        let running = env.start_run(first).await;

        // By hand: refused, naming the running task and its run.
        let refused = env
            .scheduler
            .send(StartTask {
                task: second,
                resume: true,
            })
            .await
            .unwrap();
        let err = match refused {
            Err(e @ SchedulerError::Excluded { .. }) => e.to_string(),
            other => panic!("a second backup of the cluster must be refused: {other:?}"),
        };
        for part in [
            format!("backup task {second_name:?}"),
            format!("backup task {first_name:?} ({})", first.task_id),
            format!("run {running}"),
            "at most one backup task runs on a cluster at a time".to_owned(),
        ] {
            assert!(err.contains(&part), "{part:?} missing from: {err}");
        }
        assert!(
            env.store
                .list_task_runs(second, 5)
                .await
                .unwrap()
                .is_empty(),
            "a refused start leaves no run"
        );

        // By schedule: due now, it waits for the running task, keeping its activation.
        let mut task = env.store.get_task(second).await.unwrap().unwrap();
        task.enabled = true;
        env.store.put_task(&task).await.unwrap();
        env.scheduler
            .send(TaskChanged { task: second })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let state = env.scheduler.send(GetSchedulerState).await.unwrap();
        let waiting = state
            .tasks
            .iter()
            .find(|t| t.task_id == second.task_id)
            .unwrap()
            .clone();
        assert_eq!(waiting.running, None, "{waiting:?}");
        assert!(
            waiting
                .next_activation
                .is_some_and(|n| n <= chrono::Utc::now()),
            "the due activation is kept: {waiting:?}"
        );
        let why = waiting.waiting_for.clone().unwrap_or_default();
        assert!(
            why.contains(&first_name) && why.contains(&running.to_string()),
            "it says which run it waits for: {waiting:?}"
        );
        assert_eq!(waiting.problem, None, "waiting is not a schedule problem");
        assert!(
            env.store
                .list_task_runs(second, 5)
                .await
                .unwrap()
                .is_empty()
        );
        let stored = env.store.get_task(second).await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.error_count),
            (None, 0),
            "waiting is not a failure"
        );

        // Once the first run ends, the waiting run starts by itself and completes.
        env.scheduler
            .send(StopTask { task: first })
            .await
            .unwrap()
            .unwrap();
        let stopped = env.wait_run(first, running, RUN_LIMIT).await;
        assert_eq!(stopped.status, RunStatus::Stopped, "{}", stopped.cause);
        let begun = std::time::Instant::now();
        let started = loop {
            if let Some(r) = env.store.list_task_runs(second, 5).await.unwrap().first() {
                break r.id;
            }
            assert!(
                begun.elapsed() < Duration::from_secs(10),
                "the waiting run did not start after the first ended"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let done = env.wait_run(second, started, RUN_LIMIT).await;
        assert_eq!(done.status, RunStatus::Done, "{}", done.cause);
        let state = env.scheduler.send(GetSchedulerState).await.unwrap();
        let after = state
            .tasks
            .iter()
            .find(|t| t.task_id == second.task_id)
            .unwrap();
        assert_eq!(after.waiting_for, None, "{after:?}");
    });
}
