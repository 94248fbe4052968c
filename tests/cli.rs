//! The client commands (`cairn cluster ...`, `cairn tasks`, `cairn info`, `cairn start|stop`,
//! `--label`) run as a user runs them: the real binary against a real `cairn manager` process
//! over an emulated `dc1:2,dc2:1` cluster with a real `cairn agent` beside every node. The tests
//! check what a user sees: the tables, valid JSON with `-o json`, one-line errors and non-zero
//! exit statuses.

mod common;

use std::process::Command;

use chrono::{Duration, Timelike, Utc};
use common::agent::TOKEN;
use common::cli::{BackupSetup, Run, cairn, cairn_with_env, table_rows};
use common::manager::{Fleet, ManagerProcess};
use common::servers::free_port;
use reqwest::Method;
use serde_json::{Value, json};

/// What every test here runs against: an emulated cluster, its agents and a manager.
type Setup = Fleet;

impl Setup {
    /// Starts the cluster, the agents and the manager.
    async fn new() -> Self {
        Fleet::start(|_| String::new()).await
    }

    /// Runs `cairn` against this manager.
    async fn cairn(&self, args: &[&str]) -> Run {
        cairn(self.manager.url(), args).await
    }

    /// `cairn cluster add` of the emulated cluster through node 0 with `token`.
    async fn add(&self, name: &str, token: &str) -> Run {
        let (host, port) = (self.cluster.address(0), self.port.to_string());
        self.cairn(&[
            "cluster",
            "add",
            "--name",
            name,
            "--host",
            &host,
            "--port",
            &port,
            "--auth-token",
            token,
        ])
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clusters_are_added_listed_shown_changed_and_deleted() {
    let s = Setup::new().await;

    // A wrong token: one line naming the field, nothing added.
    let wrong = s.add("prod", "not-the-token").await;
    let line = wrong.one_line_error("add with a wrong token");
    assert!(line.contains("auth_token"), "{line}");
    assert_eq!(
        s.cairn(&["cluster", "list", "-o", "json"])
            .await
            .json("list"),
        json!([]),
        "nothing added"
    );

    // Added: the id is printed, alone.
    let added = s.add("prod", TOKEN).await;
    let id = added.ok("cluster add").trim().to_string();
    assert!(id.parse::<uuid::Uuid>().is_ok(), "an id: {id:?}");

    // Listed as a table with every discovered node, and as JSON.
    let list = s.cairn(&["cluster", "list"]).await;
    let rows = table_rows(
        list.ok("cluster list"),
        &["ID", "NAME", "HOSTS", "PORT", "CREATED"],
    );
    assert_eq!(rows.len(), 1, "{}", list.stdout);
    assert_eq!(rows[0][..2], [id.clone(), "prod".to_string()]);
    let nodes = s.cluster.emulator.nodes();
    for n in &nodes {
        assert!(rows[0][2].split(',').any(|h| h == n.address), "{rows:?}");
    }
    assert_eq!(rows[0][3], s.port.to_string());
    assert!(rows[0][4].ends_with("UTC"), "{rows:?}");
    let doc = s
        .cairn(&["cluster", "list", "-o", "json"])
        .await
        .json("list -o json");
    assert_eq!(doc[0]["id"], json!(id));
    assert_eq!(doc[0]["name"], json!("prod"));
    assert_eq!(doc[0]["hosts"].as_array().map(Vec::len), Some(nodes.len()));

    // Status: every node with its DC and its agent up.
    let status = s.cairn(&["cluster", "status", "-c", "prod"]).await;
    let header = [
        "ADDRESS",
        "DC",
        "RACK",
        "AGENT",
        "SCYLLA VERSION",
        "FREE DISK",
        "SNAPSHOTS",
        "CERT SHA-256",
    ];
    let rows = table_rows(status.ok("cluster status"), &header);
    assert_eq!(rows.len(), nodes.len(), "{}", status.stdout);
    for n in &nodes {
        let row = rows
            .iter()
            .find(|r| r[0] == n.address)
            .unwrap_or_else(|| panic!("{} in\n{}", n.address, status.stdout));
        assert_eq!(row[1], n.dc, "{row:?}");
        assert!(row[3].starts_with("UP"), "{row:?}");
        assert!(row[5].ends_with("B"), "free disk in units: {row:?}");
    }
    let doc = s
        .cairn(&["cluster", "status", "-c", &id, "-o", "json"])
        .await
        .json("status by id");
    assert_eq!(doc["nodes"].as_array().map(Vec::len), Some(nodes.len()));

    // An unknown cluster: one line, non-zero.
    let line = s
        .cairn(&["cluster", "status", "-c", "nosuch"])
        .await
        .one_line_error("status of an unknown cluster")
        .to_string();
    assert!(
        line.contains("nosuch") && line.contains("not found"),
        "{line}"
    );

    // Renamed, then deleted.
    let updated = s
        .cairn(&["cluster", "update", "-c", "prod", "--name", "prod2"])
        .await;
    assert!(updated.ok("update").contains("prod2"), "{}", updated.stdout);
    let nothing = s.cairn(&["cluster", "update", "-c", "prod2"]).await;
    assert!(
        nothing
            .one_line_error("update without changes")
            .contains("nothing to change")
    );
    s.cairn(&["cluster", "delete", "-c", "prod2"])
        .await
        .ok("delete");
    assert_eq!(
        s.cairn(&["cluster", "list", "-o", "json"])
            .await
            .json("list"),
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_are_listed_and_unknown_or_idle_ones_refused_in_one_line() {
    let s = Setup::new().await;
    s.add("prod", TOKEN).await.ok("cluster add");
    let (status, body) = s
        .manager
        .call(
            Method::POST,
            "/api/v1/cluster/prod/tasks",
            Some(
                json!({"type": "backup", "name": "nightly", "enabled": false,
                "schedule": {"cron": "0 2 * * *"}, "properties": {"location": ["s3:bkt"]}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "create task: {body}");
    let header = ["TASK", "SCHEDULE", "NEXT RUN", "LAST STATUS", "ID"];

    // Disabled: listed with --all only.
    let enabled_only = s.cairn(&["tasks", "-c", "prod"]).await;
    assert!(table_rows(enabled_only.ok("tasks"), &header).is_empty());
    let all = s.cairn(&["tasks", "-c", "prod", "--all"]).await;
    assert_eq!(
        table_rows(all.ok("tasks --all"), &header),
        [[
            "backup/nightly",
            "0 2 * * *",
            "disabled",
            "never run (0 ok, 0 failed)",
            body["id"].as_str().unwrap()
        ]]
    );

    // Enabled: its next run is the next 02:00 UTC.
    let (status, body) = s
        .manager
        .call(
            Method::PUT,
            "/api/v1/cluster/prod/task/backup/nightly",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "enable: {body}");
    let now = Utc::now();
    let today = now.date_naive().and_hms_opt(2, 0, 0).unwrap().and_utc();
    let next = if now.hour() < 2 {
        today
    } else {
        today + Duration::days(1)
    };
    let listed = s.cairn(&["tasks", "-c", "prod"]).await;
    let rows = table_rows(listed.ok("tasks"), &header);
    assert_eq!(rows.len(), 1, "{}", listed.stdout);
    assert_eq!(rows[0][..2], ["backup/nightly", "0 2 * * *"]);
    let expected = next.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert!(rows[0][2].starts_with(&expected), "{expected} in {rows:?}");
    assert!(rows[0][2].contains("(in "), "{rows:?}");
    let doc = s
        .cairn(&["tasks", "-c", "prod", "-o", "json"])
        .await
        .json("tasks -o json");
    assert_eq!(doc[0]["name"], json!("nightly"));
    assert_eq!(doc[0]["schedule"]["cron"], json!("0 2 * * *"));

    // An unknown task, an unknown type, an unknown cluster: one line each, non-zero.
    let line = s
        .cairn(&["start", "-c", "prod", "backup/nosuch"])
        .await
        .one_line_error("start of an unknown task")
        .to_string();
    assert!(
        line.contains("nosuch") && line.contains("no task"),
        "{line}"
    );
    let line = s
        .cairn(&["start", "-c", "prod", "repair/nightly"])
        .await
        .one_line_error("start of an unknown type")
        .to_string();
    assert!(line.contains("unknown task type"), "{line}");
    let line = s
        .cairn(&["tasks", "-c", "nosuch"])
        .await
        .one_line_error("tasks of an unknown cluster")
        .to_string();
    assert!(line.contains("cluster \"nosuch\" not found"), "{line}");

    // Stopping an idle task: one line naming it as users know it.
    let line = s
        .cairn(&["stop", "-c", "prod", "nightly"])
        .await
        .one_line_error("stop of an idle task")
        .to_string();
    assert_eq!(line, "error: task backup/nightly is not running");

    // Stopped and disabled, then deleted, as sctool's stop --disable and --delete do.
    let run = s
        .cairn(&["stop", "-c", "prod", "nightly", "--disable"])
        .await;
    assert_eq!(run.ok("stop --disable"), "backup/nightly disabled\n");
    let all = s.cairn(&["tasks", "-c", "prod", "--all"]).await;
    assert_eq!(table_rows(all.ok("tasks --all"), &header)[0][2], "disabled");
    let run = s
        .cairn(&["stop", "-c", "prod", "nightly", "--delete", "-o", "json"])
        .await;
    assert_eq!(
        run.json("stop --delete -o json"),
        json!({"task": "backup/nightly", "done": "deleted", "run_stopped": null})
    );
    let all = s.cairn(&["tasks", "-c", "prod", "--all"]).await;
    assert!(
        table_rows(all.ok("tasks --all"), &header).is_empty(),
        "{}",
        all.stdout
    );
    let run = s
        .cairn(&["stop", "-c", "prod", "nightly", "--delete"])
        .await;
    let line = run.one_line_error("delete of a deleted task").to_string();
    assert_eq!(run.code, 4, "{line}");
}

/// Starts a run of `backup/{name}` with `cairn start` and waits (at most 90 s) until that run
/// (not an earlier one, as `BackupSetup::wait_run` may see) has ended; answers `GET .../{run}`.
async fn run_to_end(s: &BackupSetup, name: &str) -> Value {
    let task = format!("backup/{name}");
    let started = s.cairn(&["start", "-c", "prod", &task]).await;
    let run_id = started.ok("start").trim().to_string();
    let path = format!("/api/v1/cluster/prod/task/{task}/{run_id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (status, body) = s.manager.call(Method::GET, &path, None).await;
        // 404 until the run has recorded its start.
        assert!(status == 200 || status == 404, "{status}: {body}");
        if matches!(
            body["run"]["status"].as_str(),
            Some("DONE" | "ERROR" | "ABORTED" | "STOPPED")
        ) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run not ended: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// The TASK cells of the table `cairn ARGS` prints under `header`.
async fn task_names(s: &BackupSetup, args: &[&str], header: &[&str]) -> Vec<String> {
    let run = s.cairn(args).await;
    table_rows(run.ok(&args.join(" ")), header)
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn info_shows_a_task_and_its_history_and_tasks_filter_sort_and_show_labels() {
    let s = BackupSetup::new().await;
    s.create_backup_with(
        "weekly",
        "store",
        &["--retention", "3", "--label", "team=db,env=prod"],
    )
    .await;

    // A bare type names the only task of that type; labels and properties are shown.
    let info = s.cairn(&["info", "-c", "prod", "backup"]).await;
    let text = info.ok("info of the only backup task");
    assert!(text.starts_with("Task:         backup/weekly\n"), "{text}");
    assert!(
        text.contains("\nLabels:       env=prod,team=db\n"),
        "{text}"
    );
    assert!(text.contains("\n  retention: 3\n"), "{text}");
    assert!(text.contains("\n  location:  localstorage:bkt\n"), "{text}");
    assert!(text.ends_with("\n\nNo runs yet.\n"), "{text}");

    // --label KEY- removes one label and keeps the others; bad labels are refused naming --label.
    s.cairn(&[
        "backup", "update", "-c", "prod", "weekly", "--label", "env-",
    ])
    .await
    .ok("update --label env-");
    let doc = s
        .cairn(&["info", "-c", "prod", "backup/weekly", "-o", "json"])
        .await
        .json("info -o json");
    assert_eq!(doc["task"]["labels"], json!({"team": "db"}), "{doc}");
    assert_eq!(doc["runs"], json!([]), "{doc}");
    for (args, code) in [
        (
            &[
                "backup",
                "-c",
                "prod",
                "-L",
                "localstorage:bkt",
                "--label",
                "=db",
            ][..],
            2,
        ),
        (
            &[
                "backup",
                "-c",
                "prod",
                "-L",
                "localstorage:bkt",
                "--label",
                "a=b=c",
            ],
            2,
        ),
        (
            &[
                "backup", "update", "-c", "prod", "weekly", "--label", "x=1,x-",
            ],
            2,
        ),
    ] {
        let run = s.cairn(args).await;
        let line = run.one_line_error(&args.join(" "));
        assert!(line.contains("--label"), "{args:?}: {line}");
        assert_eq!(run.code, code, "{args:?}: {line}");
    }

    // weekly succeeds; nightly succeeds, then fails once its bucket is a file; idle never runs.
    s.create_backup_with("nightly", "store", &["--num-retries", "0"])
        .await;
    s.create_backup("idle", "store").await;
    assert_eq!(run_to_end(&s, "weekly").await["run"]["status"], "DONE");
    assert_eq!(run_to_end(&s, "nightly").await["run"]["status"], "DONE");
    std::fs::remove_dir_all(&s.bucket).unwrap();
    std::fs::write(&s.bucket, b"not a directory").unwrap();
    let failed = run_to_end(&s, "nightly").await;
    assert_eq!(failed["run"]["status"], "ERROR", "{failed}");
    let cause = failed["run"]["cause"].as_str().unwrap().to_string();
    assert!(!cause.is_empty(), "{failed}");

    // info: the history newest first, with the failed run's cause (in full with --cause).
    let history = ["ID", "START", "END", "DURATION", "STATUS", "CAUSE"];
    let info = s.cairn(&["info", "-c", "prod", "nightly", "--cause"]).await;
    let text = info.ok("info nightly");
    let table = &text[text.find("\nID ").expect("a history table") + 1..];
    let rows = table_rows(table, &history);
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(rows[0][0], failed["run"]["id"].as_str().unwrap());
    assert_eq!(rows[0][4], "ERROR", "{text}");
    assert_eq!(
        rows[0][5],
        cause.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    assert_eq!(rows[1][4..], ["DONE", "-"], "{text}");
    let info = s
        .cairn(&["info", "-c", "prod", "nightly", "--limit", "1"])
        .await;
    let text = info.ok("info --limit 1");
    let rows = table_rows(&text[text.find("\nID ").unwrap() + 1..], &history);
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0][4], "ERROR", "{text}");
    let doc = s
        .cairn(&["info", "-c", "prod", "nightly", "-o", "json"])
        .await
        .json("info nightly -o json");
    assert_eq!(doc["task"]["name"], "nightly", "{doc}");
    assert_eq!(doc["runs"][0]["status"], "ERROR", "{doc}");
    assert_eq!(doc["runs"][0]["cause"], json!(cause), "{doc}");
    assert_eq!(doc["runs"][1]["status"], "DONE", "{doc}");

    // tasks --status filters by the last run's status; --sort status orders as sctool.
    let header = [
        "TASK",
        "LABELS",
        "SCHEDULE",
        "NEXT RUN",
        "LAST STATUS",
        "ID",
    ];
    let all = ["tasks", "-c", "prod", "--all"];
    let without_labels: Vec<_> = header.iter().filter(|h| **h != "LABELS").copied().collect();
    assert_eq!(
        task_names(&s, &[&all[..], &["--status", "DONE"]].concat(), &header).await,
        ["backup/weekly"]
    );
    assert_eq!(
        task_names(&s, &[&all[..], &["-s", "error"]].concat(), &without_labels).await,
        ["backup/nightly"]
    );
    assert_eq!(
        task_names(&s, &[&all[..], &["--sort", "status"]].concat(), &header).await,
        ["backup/idle", "backup/weekly", "backup/nightly"]
    );
    let listed = s
        .cairn(&[&all[..], &["--status", "NEW", "--show-properties"]].concat())
        .await;
    let rows = table_rows(
        listed.ok("tasks --show-properties"),
        &[
            "TASK",
            "SCHEDULE",
            "NEXT RUN",
            "LAST STATUS",
            "ID",
            "PROPERTIES",
        ],
    );
    assert_eq!(rows.len(), 1, "{}", listed.stdout);
    assert_eq!(rows[0][0], "backup/idle");
    assert_eq!(rows[0][5], "keyspace=store location=localstorage:bkt");
    let rows = table_rows(
        s.cairn(&[&all[..], &["--show-properties"]].concat())
            .await
            .ok("tasks --show-properties"),
        &[&header[..], &["PROPERTIES"]].concat(),
    );
    let weekly = rows.iter().find(|r| r[0] == "backup/weekly").unwrap();
    assert_eq!(weekly[1], "team=db");
    assert_eq!(
        weekly[6],
        "keyspace=store location=localstorage:bkt retention=3"
    );
    let doc = s
        .cairn(&[&all[..], &["--status", "ERROR", "-o", "json"]].concat())
        .await
        .json("tasks --status -o json");
    assert_eq!(doc.as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc[0]["name"], "nightly");

    // An unknown status or sort key: one line naming the flag and the accepted values, exit 2.
    let run = s.cairn(&[&all[..], &["--status", "FINE"]].concat()).await;
    let line = run.one_line_error("tasks --status FINE");
    assert!(
        line.contains("--status")
            && line.contains("NEW, RUNNING, STOPPING, STOPPED, WAITING, DONE, ERROR, ABORTED"),
        "{line}"
    );
    assert_eq!(run.code, 2, "{line}");
    let (status, body) = s
        .manager
        .call(Method::GET, "/api/v1/cluster/prod/tasks?status=FINE", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("status"), "{body}");
    let run = s.cairn(&[&all[..], &["--sort", "name"]].concat()).await;
    let line = run.one_line_error("tasks --sort name");
    assert!(
        line.contains("--sort") && line.contains("next-activation"),
        "{line}"
    );
    assert_eq!(run.code, 2, "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_not_running_is_one_line() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["cluster", "list"][..],
        &["tasks", "-c", "prod"],
        &["stop", "-c", "prod", "backup/nightly"],
    ] {
        let run = cairn(&url, args).await;
        let line = run.one_line_error(&args.join(" "));
        assert_eq!(
            line,
            format!(
                "error: cannot reach the cairn manager at {url} (is it running? set --url or CAIRN_URL)"
            )
        );
        assert_eq!(run.code, 3, "{args:?}");
    }
    // CAIRN_URL stands in for --url.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["cluster", "list"])
            .env("CAIRN_URL", &url)
            .output()
            .expect("cairn runs")
    })
    .await
    .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot reach the cairn manager at http://127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_https_manager_is_trusted_by_its_certificate_or_with_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("m.crt"), dir.path().join("m.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let https = format!(
        "https: 127.0.0.1:{}\ntls_cert_file: {}\ntls_key_file: {}",
        free_port(),
        cert.display(),
        key.display()
    );
    let mut manager = ManagerProcess::start(dir.path(), &https);
    let url = manager.https_url.clone().expect("an https address");
    let cert = cert.to_str().unwrap();

    // Not trusted: one line saying so and what to do, not "is it running?".
    let run = cairn(&url, &["cluster", "list"]).await;
    let line = run.one_line_error("untrusted certificate");
    assert!(
        line.contains("certificate") && line.contains("--ca-cert"),
        "{line}"
    );
    assert_eq!(run.code, 3, "{line}");

    // Trusted by the certificate itself, from the flag or the environment, or not checked.
    for args in [
        vec!["--ca-cert", cert, "cluster", "list"],
        vec!["--insecure", "cluster", "list"],
    ] {
        let run = cairn(&url, &args).await;
        assert_eq!(
            run.ok(&format!("{args:?}"))
                .lines()
                .next()
                .unwrap()
                .split_whitespace()
                .next(),
            Some("ID")
        );
    }
    let run = cairn_with_env(
        &url,
        &["cluster", "list", "-o", "json"],
        &[("CAIRN_CA_CERT", cert)],
    )
    .await;
    assert_eq!(run.json("CAIRN_CA_CERT"), json!([]));

    // Trusted, but for another name: said so.
    let by_name = url.replace("127.0.0.1", "localhost");
    let run = cairn(&by_name, &["--ca-cert", cert, "cluster", "list"]).await;
    let line = run.one_line_error("certificate for another name");
    assert!(line.contains("not valid for the host in --url"), "{line}");

    // A file that is not a certificate: one line naming it.
    let run = cairn(&url, &["--ca-cert", "/etc/hostname", "cluster", "list"]).await;
    let line = run.one_line_error("not a certificate");
    assert!(line.contains("--ca-cert /etc/hostname"), "{line}");
    assert!(manager.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_api_token_is_one_line_with_its_own_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let manager = ManagerProcess::start(dir.path(), "");
    let url = manager.url();
    for (env, needle) in [
        (vec![("CAIRN_API_TOKEN", "")], "none was given"),
        (
            vec![("CAIRN_API_TOKEN", "0123456789abcdef-not-it")],
            "is wrong",
        ),
    ] {
        let run = cairn_with_env(url, &["cluster", "list"], &env).await;
        let line = run.one_line_error("cluster list with a refused token");
        assert_eq!(run.code, 8, "{line}");
        for word in [
            needle,
            "--api-token",
            "CAIRN_API_TOKEN",
            "--api-token-file",
            "auth_token",
        ] {
            assert!(line.contains(word), "{word} in {line}");
        }
        assert!(
            !line.contains(common::manager::api_token()),
            "no secret printed"
        );
    }
    // The token from a file (flag or environment) is used as it is given.
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", common::manager::api_token())).unwrap();
    let path = file.display().to_string();
    let by_flag = cairn_with_env(
        url,
        &["--api-token-file", &path, "cluster", "list"],
        &[("CAIRN_API_TOKEN", "")],
    )
    .await;
    assert_eq!(
        by_flag.ok("--api-token-file"),
        "ID  NAME  HOSTS  PORT  CREATED\n"
    );
    let by_env = cairn_with_env(
        url,
        &["cluster", "list", "-o", "json"],
        &[("CAIRN_API_TOKEN", ""), ("CAIRN_API_TOKEN_FILE", &path)],
    )
    .await;
    assert_eq!(by_env.json("CAIRN_API_TOKEN_FILE"), json!([]));
}
