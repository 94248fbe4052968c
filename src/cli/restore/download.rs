//! `cairn restore download --offline -L LOCATION -T TAG --node NODE_ID --dest DIR
//! [--storage-config FILE]`: one node's SSTables of a snapshot, fetched straight from the store
//! into `DIR/<keyspace>/<table>-<version>/`, sizes verified, ready for `nodetool refresh`.

use clap::Args;

use crate::cli::client::ClientError;
use crate::cli::output::Format;

/// The arguments of `cairn restore download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {}

/// Runs `cairn restore download`.
pub async fn run(args: DownloadArgs, output: Format) -> Result<(), ClientError> {
    let _ = (args, output);
    Err(ClientError::Usage(
        "restore download is not available yet".into(),
    ))
}
