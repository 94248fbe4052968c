//! `cairn agent --config FILE`: runs the node agent until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::agent::{self, config::AgentConfig};

/// Options of `cairn agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's YAML configuration (see config/agent.yaml for every key).
    #[arg(
        long,
        short = 'c',
        default_value = "/etc/cairn/agent.yaml",
        value_name = "FILE"
    )]
    pub config: PathBuf,
}

/// Runs the agent until it is told to stop.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let config = AgentConfig::load(&args.config)?;
    let running = agent::start(config)
        .await
        .context("cannot start the agent")?;
    println!(
        "cairn agent listening on https://{} (data directory {}{})",
        running.https,
        running.data_directory.display(),
        running
            .prometheus
            .map(|p| format!(", metrics on http://{p}/metrics"))
            .unwrap_or_default()
    );
    wait_for_stop().await?;
    tracing::info!("stopping the agent");
    running.shutdown();
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM (how systemd stops a service).
pub async fn wait_for_stop() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
