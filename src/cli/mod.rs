//! The `cairn` command line: one binary, one subcommand per role.
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | `cairn agent`: the node agent daemon |
//! | [`completions`] | `cairn completions SHELL`: shell completion scripts generated from the command line |
//! | [`emulator`] | `cairn emulator`: start an emulated Scylla cluster and serve until interrupted |
//! | [`manager`] | `cairn manager`: the manager daemon (REST API, actors, scheduler, metrics) |
//! | [`output`] | printing results as aligned tables or JSON (`-o json`) |

pub mod agent;
pub mod completions;
pub mod emulator;
pub mod manager;
pub mod output;

use clap::{Parser, Subcommand};

/// Backup orchestrator for ScyllaDB clusters, compatible with ScyllaDB Manager backups.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, propagate_version = true)]
pub struct Cli {
    /// Output format for commands that print data.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = output::Format::Table)]
    pub output: output::Format,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node agent beside a Scylla node (HTTPS API, transfers to object storage).
    Agent(agent::AgentArgs),
    /// Emulate ScyllaDB nodes (REST API and data directories) for tests, demos and benchmarks.
    Emulator(emulator::EmulatorArgs),
    /// Run the manager daemon (REST API, scheduler, backups of whole clusters through the agents).
    Manager(manager::ManagerArgs),
    /// Print the shell completion script (e.g. `cairn completions bash > /etc/bash_completion.d/cairn`).
    Completions(completions::CompletionsArgs),
}

/// Runs the parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match cli.command {
        Command::Agent(args) => runtime()?.block_on(agent::run(args)),
        Command::Emulator(args) => runtime()?.block_on(emulator::run(args, cli.output)),
        // The manager runs an actix system over its own runtime.
        Command::Manager(args) => manager::run(args),
        Command::Completions(args) => completions::run(args),
    }
}
