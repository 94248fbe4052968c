//! `cairn backup validate --offline -L LOC`: the whole check of a location straight from its store
//! with this machine's credentials (as `backup list --offline`, see [`crate::cli::offline`]), no
//! manager and no agent. Read-only unless `--delete-orphaned-files`.
//!
//! A line per node directory goes to stderr as it finishes; the report's tables (or with `-o
//! json` the [`ValidateReport`], deleted files listed) go to stdout. The sample's window moves
//! with the day: offline, the round is the number of days since the Unix epoch, so a daily
//! `--sample 10` covers every SSTable in ten days. Exit status 0 only when nothing is missing,
//! mis-sized or corrupt and every node directory was checked ([`ValidateReport::healthy`];
//! orphans do not fail it); 1 otherwise; a location that cannot be read exits as the other
//! offline commands do (3, 4 for an unknown cluster).

use std::io::{IsTerminal as _, Write as _};

use chrono::Utc;

use super::ValidateArgs;
use super::render::report_text;
use crate::cli::client::{ClientError, print_text};
use crate::cli::offline::{backups_error, cluster_id, readers, transfer_store};
use crate::cli::output::Format;
use crate::format::tag::SnapshotTag;
use crate::manager::validate::node::NodeOptions;
use crate::manager::validate::offline::{OfflineRequest, validate_location};
use crate::manager::validate::properties::{ContentCheck, ValidateProperties};
use crate::manager::validate::report::{NodeReport, ValidateReport};
use crate::manager::validate::source::CheckOptions;

/// Node directories checked at once offline when `--parallel` is not given (or 0).
pub const DEFAULT_PARALLEL: usize = 4;

/// The content check a `--content` text names.
fn content(text: Option<&str>) -> ContentCheck {
    match text {
        Some("digest") => ContentCheck::Digest,
        Some("full") => ContentCheck::Full,
        _ => ContentCheck::None,
    }
}

/// The sample's round offline: days since the Unix epoch.
pub fn round_of_today() -> u64 {
    u64::try_from(Utc::now().timestamp() / 86_400).unwrap_or(0)
}

/// The properties the flags give, checked as the manager checks a task's.
fn properties(args: &ValidateArgs) -> Result<ValidateProperties, ClientError> {
    let f = &args.flags;
    let defaults = ValidateProperties::default();
    let p = ValidateProperties {
        location: f.location.clone(),
        delete_orphaned_files: f.delete_orphaned_files,
        parallel: f.parallel.unwrap_or(0),
        content: content(f.content.as_deref()),
        sample: f.sample.unwrap_or(defaults.sample),
        orphan_grace: f.orphan_grace.clone().unwrap_or(defaults.orphan_grace),
    };
    p.validate()
        .map_err(|e| ClientError::Invalid(e.to_string().replace('\n', " ")))?;
    Ok(p)
}

/// One finished node directory, for stderr.
fn node_line(location: &str, n: &NodeReport) -> String {
    match &n.error {
        Some(e) => format!("{location} {} {}: not checked: {e}", n.dc, n.node_id),
        None => format!(
            "{location} {} {}: {} manifests, {} files, {} missing, {} corrupt, {} orphaned",
            n.dc,
            n.node_id,
            n.manifests,
            n.files,
            n.missing_files,
            n.corrupt_files,
            n.orphaned_files
        ),
    }
}

/// Runs the offline check of every `-L` location, prints the report, and fails (exit 1) unless
/// the backups are whole.
pub async fn run(args: &ValidateArgs, format: Format) -> Result<(), ClientError> {
    let p = properties(args)?;
    let cluster = cluster_id(
        &readers(&args.offline, &p.location)?,
        args.cluster.as_deref(),
    )
    .await?;
    let tags = args
        .snapshot_tag
        .iter()
        .map(|t| {
            t.parse::<SnapshotTag>()
                .map_err(|e| ClientError::Invalid(format!("-T/--snapshot-tag {t:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let grace = chrono::Duration::from_std(p.grace()).unwrap_or(chrono::Duration::MAX);
    let request = OfflineRequest {
        cluster,
        node: NodeOptions {
            content: p.content,
            sample: p.sample,
            round: round_of_today(),
            find_orphans: tags.is_empty(),
            delete_orphans: p.delete_orphaned_files,
            cutoff: Utc::now()
                .checked_sub_signed(grace)
                .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC),
            check: CheckOptions {
                md5: p.content == ContentCheck::Full,
                transfers: None,
                rate_limit: None,
            },
        },
        tags,
        parallel: match usize::try_from(p.parallel) {
            Ok(0) | Err(_) => DEFAULT_PARALLEL,
            Ok(n) => n,
        },
    };
    let mut report = ValidateReport {
        content: p.content.as_str().into(),
        sample: p.sample,
        delete_orphaned_files: p.delete_orphaned_files,
        locations: Vec::new(),
    };
    let terminal = std::io::stderr().is_terminal();
    for text in &p.location {
        let remote = transfer_store(&args.offline, text)?;
        let location = text
            .parse()
            .map_err(|e| ClientError::Invalid(format!("-L/--location: {e}")))?;
        if terminal {
            eprintln!("validating {text} ...");
        }
        let on_node = |n: &NodeReport| {
            let mut err = std::io::stderr();
            let _ = writeln!(err, "{}", node_line(text, n));
        };
        let found = validate_location(&remote, &location, &request, &on_node)
            .await
            .map_err(backups_error)?;
        report.locations.push(found);
    }
    match format {
        Format::Json => print_text(&format!(
            "{:#}\n",
            serde_json::to_value(&report).unwrap_or_default()
        )),
        Format::Table => print_text(&report_text(&report)),
    }
    if report.healthy() {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "validate: {}",
            report
                .failure()
                .unwrap_or_else(|| "backups are damaged".into())
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_and_rounds() {
        assert_eq!(content(Some("digest")), ContentCheck::Digest);
        assert_eq!(content(Some("full")), ContentCheck::Full);
        assert_eq!(content(None), ContentCheck::None);
        // 2026 is past day 20,000 since 1970.
        assert!(round_of_today() > 20_000);
    }
}
