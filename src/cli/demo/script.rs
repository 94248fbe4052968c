//! The demo's scripted part: the cluster and the backup task added, two backups with their
//! progress drawn, a validate of them, the backups listed and a few files shown, then where everything is.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::api::Api;
use super::process::Tokens;
use super::{DemoError, LOCATION, NAME, RECORD_GRACE, REFRESH, RUN_TIMEOUT};
use crate::cli::progress::{bar_lines, is_final, progress_line, rates};
use crate::emulator::Emulator;
use crate::units::format_bytes;

/// What one backup did.
struct RunSummary {
    /// The snapshot tag.
    tag: String,
    /// Bytes of the snapshot.
    size: u64,
    /// Bytes uploaded.
    uploaded: u64,
    /// Bytes already in the location (deduplicated).
    skipped: u64,
    /// Wall time from start to DONE.
    took: Duration,
}

impl RunSummary {
    /// The deduplicated share of the snapshot, in percent.
    fn dedup_percent(&self) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            self.skipped as f64 * 100.0 / self.size as f64
        }
    }
}

/// The scripted part: the cluster and task added, two backups, the listing; prints what
/// happened and where everything is, and returns the second backup's tag.
pub(super) async fn script(
    emulator: &Emulator,
    agent_port: u16,
    url: &str,
    dir: &Path,
    bucket: &Path,
    tokens: &Tokens,
    began: Instant,
) -> Result<String, DemoError> {
    let db = &dir.join("cairn.db");
    let nodes = emulator.nodes();
    // The emulator's CQL credentials: the cluster is added with them so backups carry a schema.
    let config = &emulator.cluster().config;
    let api = Api::new(tokens)?;

    // 2. The cluster, the task, the first backup.
    api.call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/clusters"),
        Some(json!({"name": NAME, "hosts": [nodes[0].address], "port": agent_port, "auth_token": tokens.agent,
                    "username": config.cql_user, "password": config.cql_password})),
    )
    .await?;
    api.call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/cluster/{NAME}/tasks"),
        Some(json!({"type": "backup", "name": NAME, "enabled": false, "properties": {"location": [LOCATION]}})),
    )
    .await?;
    println!(
        "added cluster {NAME:?} (CQL user {}, so backups carry the schema) and backup task backup/{NAME} (location {LOCATION})",
        config.cql_user
    );
    let scripted = Instant::now();
    println!("\nbackup 1: everything");
    let first = backup(&api, url).await?;

    // 3. New data, a compaction, the second backup.
    let emu = format!("http://{}:{}", nodes[0].address, emulator.api_port());
    let written: Vec<&str> = nodes
        .iter()
        .step_by(2)
        .map(|n| n.address.as_str())
        .collect();
    for addr in &written {
        api.call(
            reqwest::Method::POST,
            &format!("{emu}/emulator/nodes/{addr}/write?keyspace=store&table=orders&bytes=1MiB"),
            None,
        )
        .await?;
    }
    let compacted = nodes[1].address.as_str();
    api.call(
        reqwest::Method::POST,
        &format!("{emu}/emulator/nodes/{compacted}/compact?keyspace=store&table=customers"),
        None,
    )
    .await?;
    println!(
        "\nwrote 1 MiB to store.orders on {}; compacted store.customers on {compacted}",
        written.join(" and ")
    );
    println!("backup 2: only what changed is uploaded");
    let second = backup(&api, url).await?;
    let scripted_took = scripted.elapsed();
    super::validate::validate(&api, url).await?;

    // 4. The backups in the location, a few files of the last one.
    let list = api
        .call(
            reqwest::Method::GET,
            &format!("{url}/api/v1/cluster/{NAME}/backups?location={LOCATION}"),
            None,
        )
        .await?;
    println!("\nbackups in {LOCATION}:");
    for item in list.as_array().into_iter().flatten() {
        for s in item["snapshot_info"].as_array().into_iter().flatten() {
            println!(
                "  {}  {} nodes  {}",
                s["snapshot_tag"].as_str().unwrap_or_default(),
                s["nodes"],
                format_bytes(s["size"].as_u64().unwrap_or_default())
            );
        }
    }
    let files = api
        .call(
            reqwest::Method::GET,
            &format!(
                "{url}/api/v1/cluster/{NAME}/backups/files?snapshot_tag={}&location={LOCATION}",
                second.tag
            ),
            None,
        )
        .await?;
    // The schema file every manifest of the snapshot names (read with DESCRIBE over CQL).
    let schema = files
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|f| f["schema"].as_str().filter(|s| !s.is_empty()));
    if let Some(schema) = schema {
        println!("schema of {}: {}/{schema}", second.tag, bucket.display());
    }
    println!("a few files of {} (store.orders first):", second.tag);
    let mut tables: Vec<(String, Vec<String>)> = files
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["files"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            let name = format!(
                "{}.{}",
                t["keyspace"].as_str().unwrap_or_default(),
                t["table"].as_str().unwrap_or_default()
            );
            let names = t["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            (name, names)
        })
        .collect();
    tables.sort_by_key(|(name, _)| (name != "store.orders", !name.starts_with("store.")));
    let total: usize = tables.iter().map(|(_, f)| f.len()).sum();
    let shown: Vec<(&String, &String)> = tables
        .iter()
        .flat_map(|(t, files)| files.iter().map(move |f| (t, f)))
        .take(5)
        .collect();
    for (table, file) in &shown {
        println!("  {table:<14} {file}");
    }
    if total > shown.len() {
        println!(
            "  ... {} more files under {}/backup/sst",
            total - shown.len(),
            bucket.display()
        );
    }

    println!("\nwhat happened:");
    for (i, r) in [&first, &second].iter().enumerate() {
        println!(
            "  backup {}: {}  {} uploaded, {} deduplicated of {} ({:.1}% deduplicated) in {:.1}s",
            i + 1,
            r.tag,
            format_bytes(r.uploaded),
            format_bytes(r.skipped),
            format_bytes(r.size),
            r.dedup_percent(),
            r.took.as_secs_f64()
        );
    }
    println!(
        "  two backups in {:.1}s (whole demo {:.1}s so far)",
        scripted_took.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    println!("where everything is:");
    println!("  directory:    {}", dir.display());
    println!("  bucket:       {}", bucket.display());
    println!("  manager:      {url}");
    println!("  SQLite:       {}", db.display());
    println!("  logs:         {}/*.log", dir.display());

    Ok(second.tag)
}

/// Starts the demo task, shows its progress until it ends, and returns what it did.
async fn backup(api: &Api, url: &str) -> Result<RunSummary, DemoError> {
    let started = Instant::now();
    let task = format!("{url}/api/v1/cluster/{NAME}/task/backup/{NAME}");
    let run = api
        .call(reqwest::Method::PUT, &format!("{task}/start"), None)
        .await?;
    let run_id = run["run_id"].as_str().unwrap_or("latest").to_string();
    let tty = std::io::stdout().is_terminal();
    let mut drawn = 0usize;
    let mut previous: Option<(Value, Instant)> = None;
    let details = loop {
        let doc = match api
            .call(reqwest::Method::GET, &format!("{task}/{run_id}"), None)
            .await
        {
            Ok(doc) => doc,
            // The run is recorded a moment after it is started.
            Err(DemoError::Api { status: 404, .. }) if started.elapsed() < RECORD_GRACE => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let mut out = std::io::stdout().lock();
        if tty {
            let r = previous
                .as_ref()
                .map(|(p, t)| rates(p, &doc, now - *t))
                .unwrap_or_default();
            let lines = bar_lines(&doc, &r);
            if drawn > 0 {
                let _ = write!(out, "\x1b[{drawn}A");
            }
            for l in &lines {
                let _ = writeln!(out, "\x1b[2K  {l}");
            }
            drawn = lines.len();
        } else {
            let _ = writeln!(out, "  {}", progress_line(&doc));
        }
        let _ = out.flush();
        drop(out);
        if is_final(&doc) {
            break doc;
        }
        if started.elapsed() > RUN_TIMEOUT {
            return Err(DemoError::Run(format!(
                "backup still running after {} s",
                RUN_TIMEOUT.as_secs()
            )));
        }
        previous = Some((doc, now));
        tokio::time::sleep(REFRESH).await;
    };
    let status = details["run"]["status"].as_str().unwrap_or_default();
    if status != "DONE" {
        return Err(DemoError::Run(format!(
            "backup ended {status}: {}",
            details["run"]["cause"].as_str().unwrap_or_default()
        )));
    }
    let p = &details["progress"];
    let n = |k: &str| p[k].as_u64().unwrap_or_default();
    Ok(RunSummary {
        tag: p["snapshot_tag"].as_str().unwrap_or_default().to_string(),
        size: n("size"),
        uploaded: n("uploaded"),
        skipped: n("skipped"),
        took: started.elapsed(),
    })
}
