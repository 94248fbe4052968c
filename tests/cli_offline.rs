//! `cairn backup list|files --offline` as an operator runs it after losing the manager: a real
//! backup is taken through a real manager, the manager is stopped, and the same listing and file
//! list are read straight from the location — a `localstorage` directory named by an agent's own
//! configuration file, then a real S3 server (rclone) and Azurite holding the same objects, with
//! the credentials in the environment, and the GCS contract server with them in a file. Bad
//! input gives one line and changes nothing. A bucket holding every kind of manifest (unknown
//! versions and replication types, an empty index, a corrupt one) is listed as far as it can be,
//! the damaged manifest named, without any manager.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::cli::{BackupSetup, Run, cairn_with_env, files_under, table_rows};
use common::gcs::GcsServer;
use common::servers::{Azurite, S3Server};
use common::sm_layout::{
    ODD_TAG, ODD_TASK, ODD_VERSION, write_manager_backup, write_odd_manifests,
};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};

/// Where the manager was: nothing answers there once it is stopped.
const GONE: &str = "http://127.0.0.1:1";

/// Runs `cairn --url GONE ARGS...` with `env`.
async fn offline(args: &[&str], env: &[(&str, &str)]) -> Run {
    cairn_with_env(GONE, args, env).await
}

/// Copies every file of the directory `from` into `store` under the same paths.
async fn copy_tree(from: &Path, store: &Arc<dyn ObjectStore>) {
    for rel in files_under(from) {
        let bytes = std::fs::read(from.join(&rel)).unwrap();
        store
            .put(&ObjPath::from(rel.as_str()), PutPayload::from(bytes))
            .await
            .unwrap_or_else(|e| panic!("put {rel}: {e}"));
    }
}

/// `doc` with every `"location"` value replaced by `location` (the file list names it).
fn with_location(doc: &Value, location: &str) -> Value {
    let mut doc = doc.clone();
    for node in doc["files"].as_array_mut().into_iter().flatten() {
        node["location"] = json!(location);
    }
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_are_listed_and_their_files_shown_from_the_location_alone() {
    let mut s = BackupSetup::new().await;
    s.backup_now("nightly").await;
    s.backup_now("weekly").await;

    // What the manager shows, to compare with.
    let online_list = s
        .cairn(&["backup", "list", "-c", "prod", "-o", "json"])
        .await
        .json("online list");
    let items = online_list["backups"].as_array().expect("a list");
    assert_eq!(items.len(), 2, "two tasks: {online_list}");
    let cluster_id = items[0]["cluster_id"].as_str().unwrap().to_string();
    let tag = items[0]["snapshot_info"][0]["snapshot_tag"]
        .as_str()
        .unwrap()
        .to_string();
    let online_files = s
        .cairn(&["backup", "files", "-c", "prod", "-T", &tag, "-o", "json"])
        .await
        .json("online files");
    let online_table = s
        .cairn(&["backup", "files", "-c", "prod", "-T", &tag])
        .await
        .ok("online files table")
        .to_string();

    // The manager is lost.
    assert!(s.manager.stop().success(), "the manager stops cleanly");
    let down = offline(&["backup", "list", "-c", "prod"], &[]).await;
    let line = down.one_line_error("list without a manager").to_string();
    assert_eq!(down.code, 3, "{line}");

    // An agent's own configuration names the bucket's directory.
    let agent_yaml = s.dir.path().join("agent0/agent.yaml");
    let config = agent_yaml.to_str().unwrap();
    let before = files_under(&s.bucket);
    for cluster in [vec!["-c", "prod"], vec!["-c", cluster_id.as_str()], vec![]] {
        let mut args = vec!["backup", "list", "--offline", "-L", "localstorage:bkt"];
        args.extend(["--storage-config", config, "-o", "json"]);
        args.extend(&cluster);
        let doc = offline(&args, &[]).await.json(&format!("{args:?}"));
        assert_eq!(doc, online_list, "{args:?}: the manager's listing");
    }
    // The config file may also come from the environment; tasks show by ID.
    let table = offline(
        &[
            "backup",
            "list",
            "--offline",
            "-L",
            "localstorage:bkt",
            "-c",
            "prod",
        ],
        &[("CAIRN_STORAGE_CONFIG", config)],
    )
    .await;
    let text = table.ok("offline list table");
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"]
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    for (row, item) in rows.iter().zip(items) {
        let task = item["task_id"].as_str().unwrap();
        assert!(row.starts_with(task), "{row} names task {task}");
        assert!(row.contains("  3  "), "3 nodes: {row}");
        assert!(row.contains("store(3)"), "{row}");
    }

    // The files of a snapshot: the same document and lines as the manager gave.
    let files_args = [
        "backup",
        "files",
        "--offline",
        "-L",
        "localstorage:bkt",
        "--storage-config",
        config,
        "-T",
        &tag,
    ];
    let doc = offline(&[&files_args[..], &["-o", "json"]].concat(), &[])
        .await
        .json("offline files");
    assert_eq!(doc, online_files, "the manager's file list");
    let lines = offline(&files_args, &[]).await;
    assert_eq!(lines.ok("offline files table"), online_table);

    // Bad input: one line, the kind of failure in the exit status, nothing changed.
    let missing_dir = s.dir.path().join("no-such-bucket-dir");
    let no_dir = s.dir.path().join("no-dir.yaml");
    let yaml = format!("localstorage:\n  bkt: {}\n", missing_dir.display());
    std::fs::write(&no_dir, yaml).unwrap();
    let no_dir = no_dir.to_str().unwrap();
    // `-L localstorage:bkt` with the agent's configuration, then `extra`.
    let at = |sub: &'static str, extra: &[&'static str]| -> Vec<String> {
        let mut args = vec![
            sub,
            "--offline",
            "-L",
            "localstorage:bkt",
            "--storage-config",
        ];
        args.push(config);
        args.extend(extra);
        args.into_iter().map(str::to_string).collect()
    };
    let plain = |args: &[&str]| -> Vec<String> { args.iter().map(|a| a.to_string()).collect() };
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (plain(&["list", "--offline"]), 2, "-L/--location"),
        (plain(&["list", "--offline", "-L", "nowhere"]), 1, "nowhere"),
        (
            plain(&["list", "--offline", "-L", "localstorage:bkt"]),
            1,
            "--storage-config",
        ),
        (
            plain(&[
                "list",
                "--offline",
                "-L",
                "localstorage:bkt",
                "--storage-config",
                "/nonexistent.yaml",
            ]),
            1,
            "/nonexistent.yaml",
        ),
        (
            plain(&[
                "list",
                "--offline",
                "-L",
                "localstorage:bkt",
                "--storage-config",
                no_dir,
            ]),
            1,
            "not a directory",
        ),
        (
            plain(&[
                "list",
                "--offline",
                "-L",
                "localstorage:other",
                "--storage-config",
                config,
            ]),
            1,
            "localstorage.other",
        ),
        (at("list", &["-c", "nosuch"]), 4, "prod ("),
        (at("list", &["-K", "store.["]), 1, "-K/--keyspace"),
        (at("list", &["--min-date", "yesterday"]), 1, "--min-date"),
        (
            at(
                "list",
                &[
                    "--min-date",
                    "2026-02-01T00:00:00Z",
                    "--max-date",
                    "2026-01-01T00:00:00Z",
                ],
            ),
            1,
            "earlier than min_date",
        ),
        (
            at("files", &["-T", "sm_20000101000000UTC"]),
            4,
            "sm_20000101000000UTC",
        ),
        (at("files", &["-T", "latest"]), 1, "-T/--snapshot-tag"),
    ];
    for (args, code, named) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = offline(&[&["backup"][..], &args[..]].concat(), &[]).await;
        let line = run.one_line_error(&format!("{args:?}")).to_string();
        assert_eq!(run.code, code, "{args:?}: {line}");
        assert!(line.contains(named), "{args:?} names {named:?}: {line}");
    }
    assert_eq!(
        files_under(&s.bucket),
        before,
        "nothing changed in the bucket"
    );
    assert!(
        !missing_dir.exists(),
        "a configured directory is not created"
    );

    // The same objects in S3, credentials and endpoint from the environment.
    if let Some(s3) = S3Server::rclone().await {
        s3.create_bucket("offline").await;
        copy_tree(&s.bucket, &s3.object_store("offline")).await;
        let endpoint = s3.endpoint();
        let env = [
            ("AWS_ACCESS_KEY_ID", s3.access_key()),
            ("AWS_SECRET_ACCESS_KEY", s3.secret_key()),
            ("AWS_DEFAULT_REGION", s3.region()),
            ("AWS_ENDPOINT", endpoint.as_str()),
        ];
        let base = [
            "backup",
            "list",
            "--offline",
            "-L",
            "s3:offline",
            "-c",
            "prod",
        ];
        let doc = offline(&[&base[..], &["-o", "json"]].concat(), &env)
            .await
            .json("S3 list");
        assert_eq!(doc, online_list, "the listing from S3");
        let doc = offline(
            &[
                "backup",
                "files",
                "--offline",
                "-L",
                "s3:offline",
                "-T",
                &tag,
                "-o",
                "json",
            ],
            &env,
        )
        .await
        .json("S3 files");
        assert_eq!(doc, with_location(&online_files, "s3:offline"));
        // Wrong credentials, a missing bucket: one line each.
        let mut wrong = env;
        wrong[1] = ("AWS_SECRET_ACCESS_KEY", "not-the-secret");
        let run = offline(&base, &wrong).await;
        let line = run.one_line_error("wrong S3 secret").to_string();
        assert_eq!(run.code, 3, "{line}");
        assert!(
            line.contains("s3:offline") && line.contains("403"),
            "{line}"
        );
        let run = offline(
            &["backup", "list", "--offline", "-L", "s3:no-such-bucket"],
            &env,
        )
        .await;
        let line = run.one_line_error("a missing S3 bucket");
        assert!(line.contains("s3:no-such-bucket"), "{line}");
        assert_eq!(run.code, 3, "the store's answer: {line}");
    }

    // In GCS (the contract server), with the endpoint and token from a --storage-config file.
    let gcs = GcsServer::start();
    gcs.create_bucket("offline");
    copy_tree(&s.bucket, &gcs.object_store("offline")).await;
    let stored = gcs.requests().len();
    let gcs_yaml = s.dir.path().join("gcs.yaml");
    let yaml = |token: &str| {
        format!(
            "gcs:\n  endpoint: {}\n  access_token: {token}\n",
            gcs.endpoint()
        )
    };
    std::fs::write(&gcs_yaml, yaml(gcs.token())).unwrap();
    let gcs_config = gcs_yaml.to_str().unwrap();
    let base = [
        "backup",
        "list",
        "--offline",
        "-L",
        "gcs:offline",
        "--storage-config",
        gcs_config,
    ];
    let doc = offline(&[&base[..], &["-o", "json"]].concat(), &[])
        .await
        .json("GCS list");
    assert_eq!(doc, online_list, "the listing from GCS");
    std::fs::write(&gcs_yaml, yaml("not-the-token")).unwrap();
    let run = offline(&base, &[]).await;
    let line = run.one_line_error("a wrong GCS token").to_string();
    assert_eq!(run.code, 3, "{line}");
    assert!(line.contains("gcs:offline"), "{line}");
    let writes = gcs.requests()[stored..]
        .iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .count();
    assert_eq!(writes, 0, "offline reads only");

    // And in Azure Blob Storage (Azurite).
    if let Some(azurite) = Azurite::start().await {
        azurite.create_container("offline").await;
        copy_tree(&s.bucket, &azurite.object_store("offline")).await;
        let endpoint = azurite.endpoint();
        let env = [
            ("AZURE_STORAGE_ACCOUNT_NAME", azurite.account()),
            ("AZURE_STORAGE_ACCOUNT_KEY", azurite.key()),
            ("AZURE_STORAGE_ENDPOINT", endpoint.as_str()),
        ];
        let doc = offline(
            &[
                "backup",
                "list",
                "--offline",
                "-L",
                "azure:offline",
                "-o",
                "json",
            ],
            &env,
        )
        .await
        .json("Azure list");
        assert_eq!(doc, online_list, "the listing from Azure");
        let run = offline(&["backup", "list", "--offline", "-L", "azure:offline"], &[]).await;
        let line = run.one_line_error("Azure without an account").to_string();
        assert!(line.contains("AZURE_STORAGE_ACCOUNT_NAME"), "{line}");
        assert_eq!(run.code, 1, "a configuration to fix: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_readable_manifest_is_listed_and_the_damaged_one_named() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bkt");
    std::fs::create_dir_all(&bucket).unwrap();
    let yaml = dir.path().join("storage.yaml");
    std::fs::write(
        &yaml,
        format!("localstorage:\n  bkt: {}\n", bucket.display()),
    )
    .unwrap();
    let odd = "0b5e1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    let other = "7a7a7a7a-1b1b-4c4c-8d8d-9e9e9e9e9e9e";
    let damaged = write_odd_manifests(&bucket, odd);
    write_manager_backup(&bucket, other, &["a", "b"], ODD_VERSION);
    let at = |sub: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec!["backup", sub, "--offline", "-L", "localstorage:bkt"];
        args.extend(["--storage-config", yaml.to_str().unwrap()]);
        args.extend(extra);
        args.into_iter().map(String::from).collect()
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        offline(&args, &[]).await
    };
    let header = ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"];

    // The v2, `future`, v3 and version-less manifests are listed; the empty one is no node.
    let list = run(at("list", &["-c", odd])).await;
    list.partial(&damaged, "list");
    let rows = table_rows(&list.stdout, &header);
    assert_eq!(
        rows,
        [[ODD_TASK, ODD_TAG, "4", "200 B", "shop(1)"]],
        "{}",
        list.stdout
    );
    let json = run(at("list", &["-c", odd, "-o", "json"])).await;
    json.partial(&damaged, "list -o json");
    let doc = json.stdout_json("list -o json");
    assert_eq!(doc["backups"][0]["snapshot_info"][0]["nodes"], json!(4));
    assert_eq!(doc["skipped"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["skipped"][0]["location"], json!("localstorage:bkt"));
    assert_eq!(doc["skipped"][0]["path"], json!(damaged));
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );

    // Every cluster's backups, or only the other one's (which has nothing damaged: exit 0).
    let all = run(at("list", &["--all-clusters"])).await;
    all.partial(&damaged, "list --all-clusters");
    let tasks: Vec<String> = table_rows(&all.stdout, &header)
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        tasks,
        [
            format!("{odd}/{ODD_TASK}"),
            format!("{other}/9f3c2f5e-5b55-4d8e-9d6a-0a8c1f0e5a11")
        ]
    );
    let only_other = run(at("list", &["--query-cluster-id", other])).await;
    let rows = table_rows(only_other.ok("list --query-cluster-id"), &header);
    assert_eq!(rows.len(), 1, "{}", only_other.stdout);
    assert_eq!(rows[0][2], "2", "{rows:?}");
    assert_eq!(only_other.stderr, "");

    // Dates relative to now (the snapshot is of 2025).
    let recent = run(at("list", &["-c", odd, "--min-date", "now-1h"])).await;
    assert!(table_rows(recent.ok("--min-date now-1h"), &header).is_empty());
    let until_now = run(at("list", &["-c", odd, "--max-date", "now+1h"])).await;
    until_now.partial(&damaged, "--max-date now+1h");
    assert_eq!(table_rows(&until_now.stdout, &header).len(), 1);
    for (flag, value) in [("--min-date", "now-1y"), ("--max-date", "now+")] {
        let bad = run(at("list", &["-c", odd, flag, value])).await;
        let line = bad.one_line_error(value);
        assert_eq!(bad.code, 1, "{line}");
        assert!(line.contains(flag) && line.contains(value), "{line}");
    }

    // Files: the schema file once, a line per file of the readable manifests.
    let sst = |node: &str, file: &str| {
        format!(
            "localstorage:bkt/backup/sst/cluster/{odd}/dc/dc1/node/{node}/keyspace/shop/table/orders/{ODD_VERSION}/{file}"
        )
    };
    let schema = format!("backup/schema/cluster/{odd}/task_{ODD_TASK}_tag_{ODD_TAG}_schema.tar.gz");
    let files = run(at("files", &["-c", odd, "-T", ODD_TAG])).await;
    files.partial(&damaged, "files");
    let mut expected = vec![format!("localstorage:bkt/{schema}  schema")];
    let data = [
        ("n1", "mc-1-big-Data.db"),
        ("n1", "mc-1-big-TOC.txt"),
        ("n2", "mc-2-big-Data.db"),
        ("n3", "mc-3-big-Data.db"),
        ("n4", "mc-4-big-Data.db"),
    ];
    expected.extend(
        data.iter()
            .map(|(n, f)| format!("{}  shop/orders", sst(n, f))),
    );
    assert_eq!(files.stdout.lines().collect::<Vec<_>>(), expected);
    let doc = run(at("files", &["-c", odd, "-T", ODD_TAG, "-o", "json"]))
        .await
        .stdout_json("files");
    assert_eq!(
        doc["files"].as_array().map(Vec::len),
        Some(4),
        "no entry for n5: {doc}"
    );
    assert_eq!(doc["skipped"][0]["path"], json!(damaged));
    let comma = run(at("files", &["-c", odd, "-T", ODD_TAG, "-d", ","])).await;
    assert!(
        comma
            .stdout
            .ends_with(&format!("{},shop/orders\n", sst("n4", "mc-4-big-Data.db"))),
        "{}",
        comma.stdout
    );

    // sctool's output, byte for byte: schema files first, `provider://`, Fprintln's spaces.
    let sctool = run(at(
        "files",
        &["-c", odd, "-T", ODD_TAG, "--sctool", "--with-version"],
    ))
    .await;
    sctool.partial(&damaged, "files --sctool");
    let mut expected = format!("localstorage://bkt/{schema} \t ./\n");
    for (n, f) in data {
        let url = sst(n, f).replacen(':', "://", 1);
        expected.push_str(&format!("{url} \t shop/orders-{ODD_VERSION}\n"));
    }
    assert_eq!(sctool.stdout, expected);

    // Another cluster's files in the same location, or every cluster's.
    let theirs = run(at("files", &["--query-cluster-id", other, "-T", ODD_TAG])).await;
    let text = theirs.ok("files --query-cluster-id");
    assert!(
        text.lines()
            .all(|l| l.contains(&format!("/cluster/{other}/"))),
        "{text}"
    );
    let everyone = run(at("files", &["--all-clusters", "-T", ODD_TAG])).await;
    everyone.partial(&damaged, "files --all-clusters");
    assert_eq!(
        everyone.stdout.lines().count(),
        text.lines().count() + expected.lines().count(),
        "{}",
        everyone.stdout
    );
}
