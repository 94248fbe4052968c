//! `cairn emulator`: starts an emulated cluster, prints its nodes, serves until interrupted.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::emulator::{Dataset, Emulator, EmulatorConfig, NameFormat, NodeCounts};

use super::output::{Format, table};

/// Options of `cairn emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Root of the nodes' data; node A keeps its files under DIR/A/data. Reused when it exists.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// DCs and their node counts.
    #[arg(long, default_value = "dc1:3", value_name = "DC:N,...")]
    pub nodes: NodeCounts,
    /// Address of the first node; node i listens on this address + i.
    #[arg(long, default_value = "127.0.0.11")]
    pub base_address: Ipv4Addr,
    /// Scylla REST API port of every node (0 picks a free one).
    #[arg(long, default_value_t = 10000)]
    pub api_port: u16,
    /// Prometheus port of every node (0 picks a free one).
    #[arg(long, default_value_t = 9180)]
    pub prometheus_port: u16,
    /// User data per node: tiny (about 2 MiB), small (about 64 MiB) or a size such as 10GiB.
    #[arg(long, default_value = "tiny")]
    pub dataset: Dataset,
    /// Seed every name, token and byte follows from.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Generation form of SSTable names.
    #[arg(long, default_value = "uuid", value_name = "uuid|integer")]
    pub sstable_names: NameFormat,
    /// Shards per node.
    #[arg(long, default_value_t = 2)]
    pub shards: u32,
    /// Version the nodes report.
    #[arg(long, default_value = "2025.1.3")]
    pub scylla_version: String,
    /// CQL native protocol port of every node (0 picks a free one).
    #[arg(long, default_value_t = 9042)]
    pub cql_port: u16,
    /// User name CQL clients log in with (PasswordAuthenticator).
    #[arg(long, default_value = "cassandra")]
    pub cql_user: String,
    /// Password CQL clients log in with.
    #[arg(long, default_value = "cassandra", env = "CAIRN_EMULATOR_CQL_PASSWORD")]
    pub cql_password: String,
    /// Dataset keyspaces that use tablets instead of vnodes (store, telemetry).
    #[arg(long, value_delimiter = ',', value_name = "KEYSPACE,...")]
    pub tablet_keyspaces: Vec<String>,
    /// Streaming rate of load&stream and repair in MiB/s per shard (0: unlimited).
    #[arg(long, default_value_t = 0, value_name = "MIB")]
    pub stream_rate: u64,
    /// Start with no user keyspaces (only Scylla's own), for a schema restore to fill.
    #[arg(long)]
    pub empty: bool,
    /// Seed of the host IDs when not --seed: the same tokens with other nodes (a cluster to
    /// receive a 1-1 restore of the cluster of --seed).
    #[arg(long, value_name = "SEED")]
    pub host_id_seed: Option<u64>,
}

/// Runs `cairn emulator` until Ctrl-C.
pub async fn run(args: EmulatorArgs, format: Format) -> anyhow::Result<()> {
    let mut config = EmulatorConfig::new(&args.data_dir, args.nodes);
    config.base_address = args.base_address;
    config.api_port = args.api_port;
    config.prometheus_port = args.prometheus_port;
    config.dataset = args.dataset;
    config.seed = args.seed;
    config.host_id_seed = args.host_id_seed;
    config.name_format = args.sstable_names;
    config.shards = args.shards;
    config.scylla_version = args.scylla_version;
    config.cql_port = args.cql_port;
    config.cql_user = args.cql_user;
    config.cql_password = args.cql_password;
    config.tablet_keyspaces = args.tablet_keyspaces;
    config.stream_rate = args.stream_rate;
    config.empty = args.empty;
    tracing::info!(data_dir = %args.data_dir.display(), dataset = %args.dataset, "starting emulated cluster");
    let emulator = Emulator::start(config)
        .await
        .context("cannot start the emulator")?;
    let nodes = emulator.nodes();
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "api_port": emulator.api_port(),
                "prometheus_port": emulator.prometheus_port(),
                "cql_port": emulator.cql_port(),
                "shards": args.shards,
                "stream_rate": args.stream_rate,
                "nodes": nodes,
            });
            println!("{doc}");
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| {
                    vec![
                        n.address.clone(),
                        n.dc.clone(),
                        n.rack.clone(),
                        n.host_id.clone(),
                        n.data_dir.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["ADDRESS", "DC", "RACK", "HOST ID", "DATA DIR"], &rows)
            );
            println!(
                "\n{} nodes serving the Scylla REST API on port {} (Prometheus on {}, CQL on {}). Controls: GET http://{}:{}/emulator/cluster. Ctrl-C stops.",
                nodes.len(),
                emulator.api_port(),
                emulator.prometheus_port(),
                emulator.cql_port(),
                nodes[0].address,
                emulator.api_port()
            );
        }
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping emulated cluster");
    emulator.shutdown();
    Ok(())
}
