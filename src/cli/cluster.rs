//! `cairn cluster add|list|update|delete|status`: the clusters the manager backs up, as
//! `sctool cluster` and `sctool status` show them.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::client::{
    ClientError, Connection, ManagerClient, parse, print, print_text, segment, time,
};
use super::output::Format;
use crate::manager::api::clusters::{ClusterInfo, ClusterStatus, NodeStatus, parse_cluster_id};
use crate::manager::api::suspend::SuspendDetails;
use crate::manager::config::Secret;
use crate::units::format_bytes;

/// Arguments of `cairn cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The subcommands of `cairn cluster`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Add a cluster: every node is discovered through the agents of the hosts given, and the
    /// token is checked before anything is stored. Prints the new cluster's id (`--id` keeps the
    /// id of a cluster moved from ScyllaDB Manager, and with it its backups).
    Add(AddArgs),
    /// List the clusters.
    List,
    /// Change a cluster (only the options given); the result is checked as when adding.
    Update(UpdateArgs),
    /// Delete a cluster with its tasks (their runs in progress are stopped first).
    Delete(ClusterRef),
    /// Show every node of a cluster: DC, rack, whether its agent answers, Scylla version, free
    /// disk.
    Status(ClusterRef),
}

/// `-c/--cluster`: a cluster's name or id.
#[derive(Debug, Args)]
pub struct ClusterRef {
    /// The cluster's name or id.
    #[arg(
        short = 'c',
        long = "cluster",
        env = "CAIRN_CLUSTER",
        value_name = "CLUSTER"
    )]
    pub cluster: String,
}

/// Arguments of `cairn cluster add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The id the cluster keeps, e.g. the one ScyllaDB Manager gave it: the backups in its
    /// locations under that id stay this cluster's (listed, deduplicated against, restored,
    /// purged by age). A new id when absent.
    #[arg(long, value_name = "UUID", value_parser = parse_cluster_id)]
    pub id: Option<Uuid>,
    /// The name the cluster is known by (unique).
    #[arg(long)]
    pub name: String,
    /// Address of a node; repeat or separate with commas for more (the others are discovered).
    #[arg(
        long = "host",
        required = true,
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub hosts: Vec<String>,
    /// The agents' HTTPS port (the manager's default is 10001).
    #[arg(long)]
    pub port: Option<u16>,
    /// The token the agents require (their `auth_token`).
    #[arg(long, env = "CAIRN_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Secret,
    /// CQL user name, when CQL needs authentication.
    #[arg(long)]
    pub username: Option<String>,
    /// CQL password.
    #[arg(long, requires = "username")]
    pub password: Option<Secret>,
}

/// Arguments of `cairn cluster update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterRef,
    /// A new name.
    #[arg(long)]
    pub name: Option<String>,
    /// New node addresses (replacing the known ones; the others are discovered).
    #[arg(long = "host", value_delimiter = ',', value_name = "HOST")]
    pub hosts: Vec<String>,
    /// A new agents' port.
    #[arg(long)]
    pub port: Option<u16>,
    /// A new agents' token.
    #[arg(long)]
    pub auth_token: Option<Secret>,
    /// A new CQL user name (empty for none).
    #[arg(long)]
    pub username: Option<String>,
    /// A new CQL password (empty for none).
    #[arg(long)]
    pub password: Option<Secret>,
    /// Trust the certificate this node's agent presents now (a replaced certificate, or a node
    /// added to the cluster later); repeat or separate with commas; `all` for every node.
    #[arg(long = "repin", value_delimiter = ',', value_name = "HOST")]
    pub repin: Vec<String>,
}

/// The columns of `cairn cluster list`.
const LIST_HEADER: [&str; 5] = ["ID", "NAME", "HOSTS", "PORT", "CREATED"];
/// The columns of `cairn cluster status`.
const STATUS_HEADER: [&str; 8] = [
    "ADDRESS",
    "DC",
    "RACK",
    "AGENT",
    "SCYLLA VERSION",
    "FREE DISK",
    "SNAPSHOTS",
    "CERT SHA-256",
];
/// Most snapshot tags a SNAPSHOTS cell names (beyond, it names the newest).
const SNAPSHOTS_NAMED: usize = 2;
/// Hex digits of a certificate fingerprint the status table shows (`-o json` has all 64).
const SHORT_FINGERPRINT: usize = 16;

/// Runs `cairn cluster ...` against the manager `manager` reaches.
pub async fn run(
    args: ClusterArgs,
    manager: &Connection,
    format: Format,
) -> Result<(), ClientError> {
    let client = ManagerClient::new(manager)?;
    match args.command {
        ClusterCommand::Add(a) => add(&client, a, format).await,
        ClusterCommand::List => list(&client, format).await,
        ClusterCommand::Update(a) => update(&client, a, format).await,
        ClusterCommand::Delete(c) => {
            let path = format!("/api/v1/cluster/{}", segment(&c.cluster));
            client.call(Method::DELETE, &path, None).await.map(drop)
        }
        ClusterCommand::Status(c) => status(&client, &c.cluster, format).await,
    }
}

/// The JSON body of the options given (absent ones left out).
fn body<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect::<Map<_, _>>(),
    )
}

/// `cairn cluster add`: prints the new id (with `-o json`, the cluster).
async fn add(client: &ManagerClient, a: AddArgs, format: Format) -> Result<(), ClientError> {
    let body = body([
        ("id", a.id.map(|id| json!(id))),
        ("name", Some(json!(a.name))),
        ("hosts", Some(json!(a.hosts))),
        ("port", a.port.map(|p| json!(p))),
        ("auth_token", Some(json!(a.auth_token.0))),
        ("username", a.username.map(Value::String)),
        ("password", a.password.map(|p| Value::String(p.0))),
    ]);
    let path = "/api/v1/clusters";
    let answer = client.call(Method::POST, path, Some(&body)).await?;
    let info: ClusterInfo = parse(&answer, &format!("POST {path}"))?;
    match format {
        Format::Json => print(format, &answer, &[], &[]),
        Format::Table => {
            print_text(&format!("{}\n", info.id));
            // The id stays alone on stdout (scripts read it); the pins go to stderr.
            for (host, fingerprint) in &info.agent_fingerprints {
                eprintln!("pinned the certificate of the agent at {host}: SHA-256 {fingerprint}");
            }
        }
    }
    Ok(())
}

/// A row of the cluster table.
fn row(c: &ClusterInfo) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.name.clone(),
        c.hosts.join(","),
        c.port.to_string(),
        time(c.created_at),
    ]
}

/// `cairn cluster list`.
async fn list(client: &ManagerClient, format: Format) -> Result<(), ClientError> {
    let path = "/api/v1/clusters";
    let answer = client.get(path).await?;
    let clusters: Vec<ClusterInfo> = parse(&answer, &format!("GET {path}"))?;
    let rows: Vec<_> = clusters.iter().map(row).collect();
    print(format, &answer, &LIST_HEADER, &rows);
    Ok(())
}

/// `cairn cluster update`: prints the cluster as it is after the change.
async fn update(client: &ManagerClient, a: UpdateArgs, format: Format) -> Result<(), ClientError> {
    let body = body([
        ("name", a.name.map(Value::String)),
        (
            "hosts",
            Some(json!(a.hosts)).filter(|_| !a.hosts.is_empty()),
        ),
        ("port", a.port.map(|p| json!(p))),
        ("auth_token", a.auth_token.map(|t| Value::String(t.0))),
        ("username", a.username.map(Value::String)),
        ("password", a.password.map(|p| Value::String(p.0))),
        (
            "repin",
            Some(json!(a.repin)).filter(|_| !a.repin.is_empty()),
        ),
    ]);
    if body.as_object().is_some_and(Map::is_empty) {
        return Err(ClientError::Usage(
            "nothing to change: give --name, --host, --port, --auth-token, --username, --password or --repin"
                .into(),
        ));
    }
    let path = format!("/api/v1/cluster/{}", segment(&a.cluster.cluster));
    let answer = client.call(Method::PUT, &path, Some(&body)).await?;
    let info: ClusterInfo = parse(&answer, &format!("PUT {path}"))?;
    print(format, &answer, &LIST_HEADER, &[row(&info)]);
    Ok(())
}

/// The AGENT cell of a node: `UP (3ms)`, or `DOWN: why`.
fn agent_cell(n: &NodeStatus) -> String {
    if n.agent_ok {
        match n.agent_latency_ms {
            Some(ms) => format!("UP ({ms}ms)"),
            None => "UP".into(),
        }
    } else {
        match n.agent_error.as_deref().filter(|e| !e.is_empty()) {
            Some(e) => format!("DOWN: {}", e.replace('\n', " ")),
            None => "DOWN".into(),
        }
    }
}

/// The SNAPSHOTS cell: how many backup snapshots the node holds, and which (the newest when
/// there are many).
fn snapshots_cell(tags: &[String]) -> String {
    match tags {
        [] => "0".into(),
        few if few.len() <= SNAPSHOTS_NAMED => format!("{} ({})", few.len(), few.join(", ")),
        [.., newest] => format!("{} (newest {newest})", tags.len()),
    }
}

/// The rows of `cairn cluster status`, one per node.
fn status_rows(s: &ClusterStatus) -> Vec<Vec<String>> {
    let dash = || "-".to_string();
    s.nodes
        .iter()
        .map(|n| {
            vec![
                n.address.clone(),
                n.dc.clone().unwrap_or_else(dash),
                n.rack.clone().unwrap_or_else(dash),
                agent_cell(n),
                n.scylla_version.clone().unwrap_or_else(dash),
                n.disk_free.map(format_bytes).unwrap_or_else(dash),
                n.snapshots
                    .as_deref()
                    .map(snapshots_cell)
                    .unwrap_or_else(dash),
                n.agent_cert_sha256
                    .as_deref()
                    .and_then(|f| f.get(..SHORT_FINGERPRINT))
                    .map(|f| format!("{f}…"))
                    .unwrap_or_else(dash),
            ]
        })
        .collect()
}

/// `cairn cluster status`: one row per node; a cluster no node of which answers is reported on
/// stderr above the table.
async fn status(client: &ManagerClient, cluster: &str, format: Format) -> Result<(), ClientError> {
    let path = format!("/api/v1/cluster/{}/status", segment(cluster));
    let answer = client.get(&path).await?;
    let s: ClusterStatus = parse(&answer, &format!("GET {path}"))?;
    if let (Some(e), Format::Table) = (&s.error, format) {
        eprintln!("cluster {}: {}", s.name, e.replace('\n', " "));
    }
    if format == Format::Table
        && let Some(line) = suspension_line(client, &s.name).await
    {
        print_text(&line);
    }
    print(format, &answer, &STATUS_HEADER, &status_rows(&s));
    Ok(())
}

/// The line `cluster status` starts with when the cluster is suspended (its tasks do not run);
/// `None` when it is not, or when the manager does not say.
async fn suspension_line(client: &ManagerClient, cluster: &str) -> Option<String> {
    let path = format!("/api/v1/cluster/{}/suspended/details", segment(cluster));
    let details: SuspendDetails = parse(&client.get(&path).await.ok()?, &path).ok()?;
    if !details.suspended {
        return None;
    }
    let since = details.started_at.map(time).unwrap_or_else(|| "?".into());
    let until = match details.resume_at {
        Some(t) => format!("resumes by itself at {}", time(t)),
        None => format!("no task runs until `cairn resume -c {cluster}`"),
    };
    Some(format!("Suspended since {since}: {until}.\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::api::clusters::ClusterIdError;

    #[test]
    fn status_rows_show_each_node_and_its_agent() {
        let up = NodeStatus {
            address: "10.0.0.1".into(),
            dc: Some("dc1".into()),
            rack: Some("r1".into()),
            host_id: None,
            gossip_up: Some(true),
            state: None,
            agent_ok: true,
            agent_error: None,
            agent_latency_ms: Some(3),
            agent_version: None,
            scylla_version: Some("2025.1.3".into()),
            disk_free: Some(3 << 30),
            disk_total: None,
            cpu_count: None,
            memory_total: None,
            snapshots: Some(vec!["sm_20260101000000UTC".into()]),
            agent_cert_sha256: Some("0123456789abcdef0123".into()),
        };
        let down = NodeStatus {
            address: "10.0.0.2".into(),
            dc: None,
            agent_ok: false,
            agent_error: Some("connection refused\nretry".into()),
            agent_latency_ms: None,
            scylla_version: None,
            disk_free: None,
            snapshots: None,
            ..up.clone()
        };
        let s = ClusterStatus {
            cluster_id: uuid::Uuid::nil(),
            name: "prod".into(),
            error: None,
            nodes: vec![up, down],
        };
        let rows = status_rows(&s);
        assert_eq!(
            rows[0],
            [
                "10.0.0.1",
                "dc1",
                "r1",
                "UP (3ms)",
                "2025.1.3",
                "3.0 GiB",
                "1 (sm_20260101000000UTC)",
                "0123456789abcdef…"
            ]
        );
        assert_eq!(
            rows[1],
            [
                "10.0.0.2",
                "-",
                "r1",
                "DOWN: connection refused retry",
                "-",
                "-",
                "-",
                "0123456789abcdef…"
            ]
        );
        let many: Vec<String> = (1..=3).map(|i| format!("sm_2026010100000{i}UTC")).collect();
        assert_eq!(snapshots_cell(&many), "3 (newest sm_20260101000003UTC)");
        assert_eq!(snapshots_cell(&[]), "0");
    }

    #[test]
    fn an_id_must_be_a_uuid_and_not_the_nil_one() {
        let id = "7D1F2B3C-0A4E-4C1B-9D55-3F2A1B0C9E8D";
        assert_eq!(
            parse_cluster_id(id).map(|u| u.to_string()),
            Ok(id.to_lowercase())
        );
        assert!(
            parse_cluster_id("prod")
                .unwrap_err()
                .to_string()
                .starts_with("\"prod\" is not a UUID")
        );
        assert_eq!(
            parse_cluster_id("00000000-0000-0000-0000-000000000000"),
            Err(ClusterIdError::Nil)
        );
    }

    #[test]
    fn bodies_carry_only_the_options_given() {
        let b = body([
            ("name", Some(json!("n"))),
            ("hosts", None),
            ("port", Some(json!(1))),
            ("auth_token", None),
            ("username", None),
            ("password", None),
        ]);
        assert_eq!(b, json!({"name": "n", "port": 1}));
    }
}
