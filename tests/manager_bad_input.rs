//! No input stops the manager: out-of-bounds schedules, properties that would fail only at run
//! time, and names too long to print are refused at creation (and update, and by the dry run)
//! with a 400 naming the field; a task stored with a schedule the scheduler cannot use (written
//! straight into the SQLite file) is reported, not run, while the manager stays up and the other
//! tasks keep their schedule.

mod common;

use std::time::{Duration, Instant};

use common::cli::BackupSetup;
use reqwest::Method;
use serde_json::{Value, json};

/// `POST /tasks` of a backup task `name` of `store` to `localstorage:bkt` with `extra` merged
/// into the body (its `schedule` and `properties` keys merged one level deep).
fn task_body(name: &str, extra: Value) -> Value {
    let mut body = json!({
        "type": "backup",
        "name": name,
        "enabled": true,
        "schedule": {},
        "properties": {"location": ["localstorage:bkt"], "keyspace": ["store"]},
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        match (body.get_mut(&k), v) {
            (Some(Value::Object(inner)), Value::Object(more)) => inner.extend(more),
            (_, v) => {
                body[&k] = v;
            }
        }
    }
    body
}

/// Waits until `GET path` answers 200 with a body for which `done` holds.
async fn wait_for(
    s: &BackupSetup,
    path: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = s.manager.call(Method::GET, path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(start.elapsed() < limit, "{path}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_values_are_refused_at_creation_update_and_dry_run_naming_the_field() {
    let s = BackupSetup::new().await;
    let tasks = "/api/v1/cluster/prod/tasks";
    let long_name = "n".repeat(70_000);
    let cases = [
        (
            json!({"schedule": {"interval": "99999999999d"}}),
            "schedule.interval",
        ),
        (
            json!({"schedule": {"interval": 18446744073709551615u64}}),
            "schedule.interval",
        ),
        (
            json!({"schedule": {"start_date": "now+100000000d"}}),
            "schedule.start_date",
        ),
        (
            json!({"schedule": {"start_date": "9999-01-01T00:00:00Z"}}),
            "schedule.start_date",
        ),
        (
            json!({"schedule": {"retry_wait": "99999999999d"}}),
            "schedule.retry_wait",
        ),
        (
            json!({"schedule": {"num_retries": 4000000000u32}}),
            "schedule.num_retries",
        ),
        (json!({"schedule": {"cron": ""}}), "schedule.cron"),
        (json!({"schedule": {"cron": "0 0 31 2 *"}}), "schedule.cron"),
        (
            json!({"schedule": {"window": ["*-22:00", "*-22:00"]}}),
            "schedule.window",
        ),
        (
            json!({"schedule": {"window": ["Mon-10:00", "Mon-09:00"]}}),
            "schedule.window",
        ),
        (
            json!({"properties": {"transfers": 100000}}),
            "properties.transfers",
        ),
        (
            json!({"properties": {"location": ["s3:.."]}}),
            "properties.location[0]",
        ),
        (
            json!({"properties": {"location": ["azure:a--b"]}}),
            "properties.location[0]",
        ),
        (
            json!({"properties": {"location": ["localstorage:nosuch"]}}),
            "properties.location[0]",
        ),
        (
            json!({"properties": {"keyspace": [""]}}),
            "properties.keyspace",
        ),
        (
            json!({"properties": {"retention_days": 9999999999i64}}),
            "properties.retention_days",
        ),
        (
            json!({"properties": {"rate_limit": ["99999999999999"]}}),
            "properties.rate_limit",
        ),
        (json!({"name": long_name}), "name"),
    ];
    for (i, (extra, field)) in cases.iter().enumerate() {
        let body = task_body(&format!("bad-{i}"), extra.clone());
        let (status, answer) = s.manager.call(Method::POST, tasks, Some(body)).await;
        assert_eq!(status, 400, "{extra}: {answer}");
        assert_eq!(answer["field"], *field, "{extra}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{extra}: {message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
    // The location no agent serves names the hosts that refused it.
    let (_, answer) = s
        .manager
        .call(
            Method::POST,
            tasks,
            Some(task_body(
                "x",
                json!({"properties": {"location": ["localstorage:nosuch"]}}),
            )),
        )
        .await;
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("localstorage:nosuch") && message.contains(&s.cluster.address(0)),
        "{message}"
    );
    let (status, answer) = s.manager.call(Method::GET, tasks, None).await;
    assert_eq!((status, answer), (200, json!([])), "nothing was stored");

    // Updates are checked the same way, and change nothing.
    let (status, created) = s
        .manager
        .call(
            Method::POST,
            tasks,
            Some(task_body("ok", json!({"enabled": false}))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = "/api/v1/cluster/prod/task/backup/ok";
    for (body, field) in [
        (
            json!({"schedule": {"interval": "99999999999d"}}),
            "schedule.interval",
        ),
        (json!({"schedule": {"cron": " "}}), "schedule.cron"),
        (
            json!({"properties": {"location": ["localstorage:bkt"], "transfers": 257}}),
            "properties.transfers",
        ),
        (json!({"name": "x".repeat(129)}), "name"),
    ] {
        let (status, answer) = s.manager.call(Method::PUT, path, Some(body.clone())).await;
        assert_eq!(
            (status, &answer["field"]),
            (400, &json!(field)),
            "{body}: {answer}"
        );
    }
    let (_, now) = s.manager.call(Method::GET, path, None).await;
    assert_eq!(now["schedule"], created["schedule"]);
    assert_eq!(now["properties"], created["properties"]);

    // The dry run refuses what creation refuses.
    for (props, field) in [
        (
            json!({"location": ["localstorage:bkt"], "transfers": 100000}),
            "transfers",
        ),
        (json!({"location": ["s3:.."]}), "location[0]"),
        (json!({"location": ["localstorage:nosuch"]}), "location[0]"),
        (
            json!({"location": ["localstorage:bkt"], "keyspace": [""]}),
            "keyspace",
        ),
    ] {
        let (status, answer) = s
            .manager
            .call(
                Method::POST,
                "/api/v1/cluster/prod/backups/target",
                Some(props.clone()),
            )
            .await;
        assert_eq!(
            (status, &answer["field"]),
            (400, &json!(field)),
            "{props}: {answer}"
        );
    }

    // The CLI prints the manager's one-line message with the field, and exits 1.
    for (i, (args, field)) in [
        (vec!["--transfers", "100000"], "properties.transfers"),
        (vec!["-K", ""], "properties.keyspace"),
        (vec!["--cron", ""], "schedule.cron"),
        (vec!["--interval", "99999999999d"], "schedule.interval"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("cli-{i}");
        let mut all = vec![
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "--name",
            &name,
        ];
        all.extend(args.iter().copied());
        refused(&s, &all, "backup", field).await;
        // The dry run refuses the same, with the same field.
        all.push("--dry-run");
        refused(&s, &all, "backup", field).await;
    }
    for (args, field) in [
        (vec!["--timezone", "+99:00"], "schedule.timezone"),
        (vec!["--window", "mon-25:00,tue-01:00"], "schedule.window"),
        (vec!["--name", "../x"], "name"),
    ] {
        let mut all = vec![
            "backup",
            "-c",
            "prod",
            "-L",
            "localstorage:bkt",
            "--dry-run",
        ];
        all.extend(args.iter().copied());
        refused(&s, &all, "backup", field).await;
    }
    for (args, field) in [
        (vec!["--transfers", "100000"], "properties.transfers"),
        (vec!["--window", "*-10:00,*-10:00"], "schedule.window"),
        (
            vec!["--start-date", "now+100000000d"],
            "schedule.start_date",
        ),
    ] {
        let mut all = vec!["backup", "update", "-c", "prod", "ok"];
        all.extend(args.iter().copied());
        refused(&s, &all, "backup update", field).await;
    }
}

/// Runs `cairn ARGS`, which must exit 1 with one `error:` line of `command` naming `field`.
async fn refused(s: &BackupSetup, args: &[&str], command: &str, field: &str) {
    let r = s.cairn(args).await;
    assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
    let line = r.one_line_error(command);
    assert!(line.contains(field), "{args:?}: {line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_task_the_scheduler_cannot_use_is_reported_and_the_others_keep_their_schedule() {
    let mut s = BackupSetup::new().await;
    let tasks = "/api/v1/cluster/prod/tasks";
    // The good task's first activation comes after the restart below.
    let mut limit_id = String::new();
    for (name, schedule) in [
        ("good", json!({"start_date": "now+20s", "interval": "1h"})),
        ("huge", json!({"interval": "1h", "start_date": "now+1h"})),
        ("never", json!({"cron": "0 2 * * *"})),
        ("garbled", json!({"interval": "1h"})),
        (
            "limit",
            json!({"interval": "1h", "start_date": "now+1h", "num_retries": 0}),
        ),
    ] {
        let body = task_body(name, json!({ "schedule": schedule }));
        let (status, answer) = s.manager.call(Method::POST, tasks, Some(body)).await;
        assert_eq!(status, 201, "{answer}");
        if name == "limit" {
            limit_id = answer["id"].as_str().unwrap_or_default().to_string();
        }
    }
    let long = "é".repeat(70_000);
    assert!(s.manager.stop().success());

    // What an older build (or a hand edit) may have stored.
    let db = rusqlite::Connection::open(s.dir.path().join("manager").join("cairn.db")).unwrap();
    for (name, sql) in [
        (
            "huge",
            "UPDATE scheduler_task SET sched = json_set(sched, '$.interval_seconds', 8639999999136000) WHERE name = ?1",
        ),
        (
            "never",
            "UPDATE scheduler_task SET sched = json_set(sched, '$.cron', '0 0 31 2 *') WHERE name = ?1",
        ),
        (
            "garbled",
            "UPDATE scheduler_task SET sched = '{\"interval_seconds\": \"soon\"' WHERE name = ?1",
        ),
    ] {
        assert_eq!(db.execute(sql, [name]).unwrap(), 1, "{name}");
    }
    db.execute(
        "UPDATE scheduler_task SET name = ?1 WHERE name = 'never'",
        [&long],
    )
    .unwrap();
    drop(db);
    // A run of `limit` the manager aborted, with no retry left: it is not resumed.
    {
        use cairn::manager::store::{self, RunStatus, Store, TaskRun, TaskType};
        let store =
            store::sqlite::SqliteStore::open(&s.dir.path().join("manager").join("cairn.db"))
                .await
                .unwrap();
        let cluster = store.list_clusters().await.unwrap()[0].id;
        let now = chrono::Utc::now();
        store
            .put_task_run(&TaskRun {
                cluster_id: cluster,
                task_type: TaskType::Backup,
                task_id: limit_id.parse().unwrap(),
                id: store::time_uuid(now),
                status: RunStatus::Running,
                cause: String::new(),
                owner: "killed".into(),
                start_time: now,
                end_time: None,
            })
            .await
            .unwrap();
    }

    s.manager.restart();
    let (status, huge) = s
        .manager
        .call(Method::GET, "/api/v1/cluster/prod/task/backup/huge", None)
        .await;
    assert_eq!(status, 200, "{huge}");
    let problem = huge["problem"].as_str().unwrap_or_default();
    assert!(problem.starts_with("schedule.interval: "), "{huge}");
    assert_eq!(huge["next_activation"], Value::Null);
    let (status, all) = s.manager.call(Method::GET, tasks, None).await;
    assert_eq!(
        status, 200,
        "a row that cannot be read hides no other task: {all}"
    );
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter(|n| n.len() < 100)
        .collect();
    assert_eq!(
        names,
        ["good", "huge", "limit"],
        "all but the unreadable one (and the long-named one)"
    );
    let never = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == long.as_str())
        .expect("the renamed task is listed");
    assert!(
        never["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("never fires"),
        "{}",
        never["problem"]
    );

    let (_, limit) = s
        .manager
        .call(
            Method::GET,
            "/api/v1/cluster/prod/task/backup/limit/history",
            None,
        )
        .await;
    assert_eq!(
        limit[0]["status"], "ABORTED",
        "the run left RUNNING: {limit}"
    );
    let (_, limit) = s
        .manager
        .call(Method::GET, "/api/v1/cluster/prod/task/backup/limit", None)
        .await;
    assert!(
        limit["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("num_retries (0)"),
        "not resumed past num_retries, and says why: {limit}"
    );
    assert_eq!(limit["running_run_id"], Value::Null);

    // `cairn tasks` prints every stored value, and says why the bad tasks do not run.
    let r = s.cairn(&["tasks", "-c", "prod"]).await;
    let out = r.ok("tasks");
    assert!(
        out.contains("NOT SCHEDULED: schedule.interval"),
        "{out:.2000}"
    );
    assert!(out.contains(&long), "the long name is printed whole");

    // The good task runs on its schedule, with no start by hand, and the manager answers.
    let history = wait_for(
        &s,
        "/api/v1/cluster/prod/task/backup/good/history",
        Duration::from_secs(90),
        |b| b.as_array().is_some_and(|runs| !runs.is_empty()),
    )
    .await;
    assert_ne!(history[0]["status"], "ERROR", "{history}");
    let (status, body) = s
        .manager
        .call(
            Method::PUT,
            "/api/v1/cluster/prod/task/backup/huge/start",
            None,
        )
        .await;
    assert!(
        status == 200 || status == 409,
        "the scheduler still answers: {status} {body}"
    );
}
