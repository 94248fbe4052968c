//! The demo's end: the second backup restored into a fresh emulated cluster (other addresses,
//! other tokens, no user keyspaces), the schema first and then the tables, and every restored
//! table's data compared with the backup's by content: the records of the backup's `Data.db`
//! files against the emulator's placement report (every record on exactly its replicas).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::api::Api;
use super::process::{Agents, Proc, Tokens, start_agents};
use super::{DemoError, LOCATION, NAME, RECORD_GRACE, REFRESH, RUN_TIMEOUT, Stage};
use crate::cli::restore::progress::progress_line;
use crate::emulator::records::records_of_file;
use crate::emulator::{Emulator, EmulatorConfig};

/// The fresh cluster's name in the manager.
const FRESH: &str = "fresh";
/// The fresh cluster's shape.
const FRESH_NODES: &str = "dc1:2,dc2:2";
/// The fresh cluster's first address (after the source cluster's).
const FRESH_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 121);
/// The fresh cluster's token seed: other tokens than the source cluster's.
const FRESH_SEED: u64 = 7;

/// Restores snapshot `tag` into a fresh emulated cluster (its agents pushed into `children`),
/// schema then tables, and prints whether every table's data matches the backup.
pub(super) async fn restore(
    stage: Stage<'_>,
    url: &str,
    tokens: &Tokens,
    agent_port: u16,
    tag: &str,
    children: &mut Vec<Proc>,
) -> Result<(), DemoError> {
    let mut config = EmulatorConfig::new(
        stage.dir.join("fresh-nodes"),
        FRESH_NODES.parse().expect("valid shape"),
    );
    config.base_address = FRESH_ADDRESS;
    config.api_port = 0;
    config.prometheus_port = 0;
    config.cql_port = 0;
    config.seed = FRESH_SEED;
    config.empty = true;
    let fresh = Emulator::start(config).await?;
    let result = restore_into(&fresh, stage, url, tokens, agent_port, tag, children).await;
    fresh.shutdown();
    result
}

/// [`restore`] once the fresh cluster is up.
async fn restore_into(
    fresh: &Emulator,
    stage: Stage<'_>,
    url: &str,
    tokens: &Tokens,
    agent_port: u16,
    tag: &str,
    children: &mut Vec<Proc>,
) -> Result<(), DemoError> {
    let nodes = fresh.nodes();
    println!(
        "\nrestore of {tag} into a fresh emulated cluster: {} nodes ({FRESH_NODES}), other tokens, no keyspaces",
        nodes.len()
    );
    start_agents(
        Agents {
            emulator: fresh,
            dir: stage.dir,
            bucket: stage.bucket,
            token: &tokens.agent,
            port: agent_port,
            prefix: "fresh-agent",
        },
        children,
        stage.stop,
    )?;
    let api = Api::new(tokens)?;
    let config = &fresh.cluster().config;
    api.call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/clusters"),
        Some(
            json!({"name": FRESH, "hosts": [nodes[0].address], "port": agent_port,
                    "auth_token": tokens.agent, "username": config.cql_user,
                    "password": config.cql_password}),
        ),
    )
    .await?;
    println!("added cluster {FRESH:?} with an agent per node");

    println!("restore 1: the schema");
    run_restore(&api, url, "schema", json!({"restore_schema": true}), tag).await?;
    println!("restore 2: the tables (load&stream to the new owners, then repair)");
    // The dataset's keyspaces: Scylla's own (system_traces, system_distributed) are not
    // user-modifiable, so their tables are left out.
    let details = run_restore(
        &api,
        url,
        "tables",
        json!({"restore_tables": true, "keyspace": ["store", "telemetry"]}),
        tag,
    )
    .await?;

    // The restored tables, and the backup's records of each.
    let restored: Vec<(String, String)> = details["progress"]["keyspaces"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|k| {
            let ks = k["keyspace"].as_str().unwrap_or_default().to_string();
            k["tables"].as_array().into_iter().flatten().map(move |t| {
                (
                    ks.clone(),
                    t["table"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    let files = api
        .call(
            reqwest::Method::GET,
            &format!(
                "{url}/api/v1/cluster/{NAME}/backups/files?snapshot_tag={tag}&location={LOCATION}"
            ),
            None,
        )
        .await?;
    let mut backed_up: BTreeMap<(String, String), BTreeSet<(i64, String)>> = BTreeMap::new();
    for t in files
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["files"].as_array().cloned().unwrap_or_default())
    {
        let key = (
            t["keyspace"].as_str().unwrap_or_default().to_string(),
            t["table"].as_str().unwrap_or_default().to_string(),
        );
        let dir = stage.bucket.join(t["path"].as_str().unwrap_or_default());
        let records = backed_up.entry(key).or_default();
        for name in t["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if name.ends_with("-Data.db") {
                let path = dir.join(name);
                let found = records_of_file(&path)
                    .map_err(|e| DemoError::Run(format!("reading {}: {e}", path.display())))?;
                records.extend(found.into_iter().map(|r| (r.token, r.hash)));
            }
        }
    }

    // Each table of the fresh cluster against the backup.
    let emu = format!("http://{}:{}", nodes[0].address, fresh.api_port());
    println!("every restored table against the backup (by content, on every replica):");
    let mut wrong = Vec::new();
    for (ks, table) in &restored {
        let report = api
            .call(
                reqwest::Method::GET,
                &format!("{emu}/emulator/placement/{ks}/{table}"),
                None,
            )
            .await?;
        let held: BTreeSet<(i64, String)> = report["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["token"].as_i64().unwrap_or_default(),
                    r["hash"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let misplaced = report["misplaced"].as_u64().unwrap_or_default();
        let expected = backed_up
            .get(&(ks.clone(), table.clone()))
            .cloned()
            .unwrap_or_default();
        let matches = held == expected && misplaced == 0;
        println!(
            "  {:<24} {} records, {} misplaced: {}",
            format!("{ks}.{table}"),
            held.len(),
            misplaced,
            if matches {
                "matches the backup"
            } else {
                "DIFFERS from the backup"
            }
        );
        if !matches {
            wrong.push(format!("{ks}.{table}"));
        }
    }
    if !wrong.is_empty() {
        return Err(DemoError::Run(format!(
            "restored data differs from the backup in {}",
            wrong.join(", ")
        )));
    }
    println!(
        "restore: every table's data matches the backup ({} tables)",
        restored.len()
    );
    Ok(())
}

/// Creates the restore task `restore/<name>` of the fresh cluster with `kind`'s properties,
/// starts it, prints its progress until it ends, and answers its final details.
async fn run_restore(
    api: &Api,
    url: &str,
    name: &str,
    kind: Value,
    tag: &str,
) -> Result<Value, DemoError> {
    let mut properties = json!({"location": [LOCATION], "snapshot_tag": tag});
    if let (Some(p), Some(k)) = (properties.as_object_mut(), kind.as_object()) {
        p.extend(k.clone());
    }
    api.call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/cluster/{FRESH}/tasks"),
        Some(json!({"type": "restore", "name": name, "enabled": false, "properties": properties})),
    )
    .await?;
    let task = format!("{url}/api/v1/cluster/{FRESH}/task/restore/{name}");
    let started = Instant::now();
    let run = api
        .call(reqwest::Method::PUT, &format!("{task}/start"), None)
        .await?;
    let run_id = run["run_id"].as_str().unwrap_or("latest").to_string();
    let mut last = String::new();
    let details = loop {
        let doc = match api
            .call(reqwest::Method::GET, &format!("{task}/{run_id}"), None)
            .await
        {
            Ok(doc) => doc,
            Err(DemoError::Api { status: 404, .. }) if started.elapsed() < RECORD_GRACE => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let line = progress_line(&doc);
        if line != last {
            println!("  {line}");
            let _ = std::io::stdout().flush();
            last = line;
        }
        if crate::cli::progress::is_final(&doc) {
            break doc;
        }
        if started.elapsed() > RUN_TIMEOUT {
            return Err(DemoError::Run(format!(
                "restore/{name} still running after {} s",
                RUN_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(REFRESH).await;
    };
    let status = details["run"]["status"].as_str().unwrap_or_default();
    if status != "DONE" {
        return Err(DemoError::Run(format!(
            "restore/{name} ended {status}: {}",
            details["run"]["cause"].as_str().unwrap_or_default()
        )));
    }
    println!(
        "  restore/{name} DONE in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(details)
}
