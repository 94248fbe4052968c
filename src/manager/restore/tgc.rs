//! The DISABLE_TGC and ENABLE_TGC stages (spec §3): schema agreement awaited, then each restored
//! table's `tombstone_gc` set to `disabled`, and later back to the mode it had.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use scylla::client::session::Session;
use uuid::Uuid;

use super::cql::{self, qualified};
use super::target::InitError;
use crate::manager::store::RestoreUnit;

/// How long the nodes may take to agree on the schema.
const AGREEMENT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Pause between two looks at the schema versions.
const AGREEMENT_POLL: Duration = Duration::from_millis(500);
/// The mode DISABLE_TGC sets.
const DISABLED: &str = "disabled";

/// Each node's schema version as the session's node sees it: itself (`local`) and its peers.
async fn schema_versions(session: &Session) -> Result<BTreeMap<String, Option<Uuid>>, InitError> {
    let local: Vec<(Option<Uuid>,)> =
        cql::rows(session, "SELECT schema_version FROM system.local").await?;
    let peers: Vec<(IpAddr, Option<Uuid>)> =
        cql::rows(session, "SELECT peer, schema_version FROM system.peers").await?;
    let mut out: BTreeMap<String, Option<Uuid>> = peers
        .into_iter()
        .map(|(peer, v)| (peer.to_string(), v))
        .collect();
    out.insert(
        "local".to_string(),
        local.into_iter().next().and_then(|(v,)| v),
    );
    Ok(out)
}

/// Whether every node reports the same, known, schema version.
fn agreed(versions: &BTreeMap<String, Option<Uuid>>) -> bool {
    let mut seen = versions.values();
    match seen.next() {
        Some(Some(first)) => seen.all(|v| *v == Some(*first)),
        _ => false,
    }
}

/// Waits until every node reports one schema version.
pub async fn await_schema_agreement(session: &Session) -> Result<(), InitError> {
    await_agreement_within(session, AGREEMENT_TIMEOUT).await
}

/// [`await_schema_agreement`] with a given timeout.
async fn await_agreement_within(session: &Session, timeout: Duration) -> Result<(), InitError> {
    let start = Instant::now();
    loop {
        let versions = schema_versions(session).await?;
        if agreed(&versions) {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(InitError::SchemaAgreement {
                nodes: versions
                    .iter()
                    .map(|(n, v)| match v {
                        Some(v) => format!("{n} at {v}"),
                        None => format!("{n} without a version"),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                waited_secs: start.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(AGREEMENT_POLL).await;
    }
}

/// The statement setting `keyspace.table`'s tombstone_gc mode.
fn alter(keyspace: &str, table: &str, mode: &str) -> String {
    format!(
        "ALTER TABLE {} WITH tombstone_gc = {{'mode': '{}'}}",
        qualified(keyspace, table),
        mode.replace('\'', "''")
    )
}

/// Sets every table of `units` to `tombstone_gc = {'mode':'disabled'}`, or (`original`) back to
/// the mode each had; awaits schema agreement first.
pub async fn set_tombstone_gc(
    session: &Session,
    units: &[RestoreUnit],
    original: bool,
) -> Result<(), InitError> {
    await_schema_agreement(session).await?;
    for u in units {
        for t in &u.tables {
            let mode = if original {
                t.tombstone_gc.as_str()
            } else {
                DISABLED
            };
            let mode = if mode.is_empty() {
                cql::DEFAULT_TOMBSTONE_GC
            } else {
                mode
            };
            cql::execute(session, &alter(&u.keyspace_name, &t.table_name, mode)).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_needs_one_known_version() {
        let a = Some(Uuid::from_u128(1));
        let b = Some(Uuid::from_u128(2));
        let m = |v: &[Option<Uuid>]| -> BTreeMap<String, Option<Uuid>> {
            v.iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), *v))
                .collect()
        };
        assert!(agreed(&m(&[a, a, a])));
        assert!(!agreed(&m(&[a, b])));
        assert!(!agreed(&m(&[a, None])));
        assert!(!agreed(&m(&[None])));
    }

    #[test]
    fn the_statement_quotes_names() {
        assert_eq!(
            alter("ks", "T", "disabled"),
            "ALTER TABLE ks.\"T\" WITH tombstone_gc = {'mode': 'disabled'}"
        );
    }
}
