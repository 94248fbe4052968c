//! `cairn restore`: restore tasks through the manager (create, `--dry-run`, `update`) and, with
//! no manager at all, `restore download --offline` of one node's SSTables.
//!
//! | module | owns |
//! |---|---|
//! | [`download`] | `cairn restore download --offline`: one node's SSTables of a snapshot into per-table directories ready for `nodetool refresh` |

pub mod download;

use clap::{Args, Subcommand};

use super::client::{ClientError, Connection};
use super::output::Format;

/// `cairn restore ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RestoreArgs {
    /// A subcommand; none creates a restore task.
    #[command(subcommand)]
    pub command: Option<RestoreCommand>,
}

/// The subcommands of `cairn restore`.
#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Download one node's SSTables of a snapshot into per-table directories, without a manager.
    Download(download::DownloadArgs),
}

/// Runs `cairn restore ...`.
pub async fn run(args: RestoreArgs, conn: &Connection, output: Format) -> Result<(), ClientError> {
    let _ = conn;
    match args.command {
        Some(RestoreCommand::Download(a)) => download::run(a, output).await,
        None => Err(ClientError::Usage(
            "creating restore tasks is not available yet".into(),
        )),
    }
}
