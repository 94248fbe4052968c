//! Schema restore (spec §7): the backup's `DESCRIBE SCHEMA WITH INTERNALS` rows applied over CQL
//! in order, with upstream's exclusions, `NetworkTopologyStrategy` replication rewritten through
//! `dc_mapping`, and every keyspace created so far dropped again if a statement fails.

use super::cql::{self, quote_ident};
use super::dc_mapping;
use super::plan::RestorePlan;
use super::properties::RestoreProperties;
use super::schema_file::{self, SchemaRow};
use super::target::{Init, InitError};
use super::tgc::await_schema_agreement;
use crate::manager::location::manifests::{LocationError, location_client};
use crate::manager::location::reader::LocationReader;

/// The keyspace of Scylla's audit log, never restored.
const AUDIT_KEYSPACE: &str = "audit";
/// Scylla's replicated encryption keys, never restored.
const REPLICATED_KEYS: &str = "system_replicated_keys";
/// Prefix of Alternator tables' keyspaces (their schema has a file of its own).
const ALTERNATOR_PREFIX: &str = "alternator_";

/// Whether a schema row is applied (upstream's exclusions: roles and service levels have no
/// keyspace; replicated keys, LWT state, the audit log and Alternator are left out).
pub fn applied(row: &SchemaRow) -> bool {
    !row.keyspace.is_empty()
        && row.keyspace != REPLICATED_KEYS
        && row.keyspace != AUDIT_KEYSPACE
        && !row.keyspace.starts_with(ALTERNATOR_PREFIX)
        && !row.name.ends_with("$paxos")
}

/// The statements of `cql`, split on `;` outside quotes and comments-free text, trimmed, empty
/// ones left out.
pub fn split_statements(cql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut dollar = false;
    let mut chars = cql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, dollar, c) {
            (None, false, '$') if chars.peek() == Some(&'$') => {
                chars.next();
                dollar = true;
                current.push_str("$$");
                continue;
            }
            (None, true, '$') if chars.peek() == Some(&'$') => {
                chars.next();
                dollar = false;
                current.push_str("$$");
                continue;
            }
            (None, false, '\'' | '"') => quote = Some(c),
            (Some(q), false, _) if c == q => quote = None,
            (None, false, ';') => {
                let s = current.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    out
}

/// The statements to run for `rows`, each with the keyspace it creates (for a `CREATE
/// KEYSPACE`), replication rewritten for the cluster's DCs; refused before anything runs when a
/// replication map cannot be placed.
pub fn statements(
    rows: &[SchemaRow],
    props: &RestoreProperties,
    init_dcs: &std::collections::BTreeSet<String>,
) -> Result<Vec<(String, Option<String>)>, InitError> {
    let mut out = Vec::new();
    for row in rows.iter().filter(|r| applied(r)) {
        for stmt in split_statements(&row.cql_stmt) {
            let stmt = dc_mapping::rewrite_replication(&stmt, &props.dc_mapping, init_dcs)?;
            let creates = (row.kind == "keyspace").then(|| row.keyspace.clone());
            out.push((stmt, creates));
        }
    }
    Ok(out)
}

/// Reads the rows of the schema file of `plan` through an agent that reaches its location.
pub async fn read(init: &Init, plan: &RestorePlan) -> Result<Vec<SchemaRow>, InitError> {
    let Some((location, path)) = &plan.schema_file else {
        return Err(InitError::NoSchemaFile {
            tag: plan.tag.to_string(),
            location: "the first location".into(),
        });
    };
    let c = &init.cluster;
    let hosts: Vec<String> = init.view.nodes.iter().map(|n| n.address.clone()).collect();
    let reader =
        location_client(&hosts, c.agent_port, &c.auth_token, &c.agent_pins, location).await?;
    let gz = LocationReader::read(&reader.client, location, path)
        .await
        .map_err(|source| LocationError::List {
            location: location.to_string(),
            source,
        })?;
    Ok(schema_file::read_rows(&location.remote_path(path), &gz)?)
}

/// Applies the schema file of `plan` to the cluster.
pub async fn restore_schema(
    init: &Init,
    plan: &RestorePlan,
    props: &RestoreProperties,
) -> Result<(), InitError> {
    let rows = read(init, plan).await?;
    let todo = statements(&rows, props, &init.dcs())?;
    let session = init.cql().await?;
    await_schema_agreement(&session).await?;
    let mut created: Vec<String> = Vec::new();
    for (stmt, creates) in todo {
        if let Err(e) = cql::execute(&session, &stmt).await {
            let reason = match e {
                InitError::Cql { reason, .. } => reason,
                other => other.to_string(),
            };
            let mut dropped = Vec::new();
            for ks in created.iter().rev() {
                let drop = format!("DROP KEYSPACE IF EXISTS {}", quote_ident(ks));
                match cql::execute(&session, &drop).await {
                    Ok(()) => dropped.push(ks.clone()),
                    Err(e) => {
                        tracing::error!(keyspace = %ks, error = %e, "could not drop a keyspace this schema restore created")
                    }
                }
            }
            return Err(InitError::SchemaStatement {
                statement: stmt,
                reason,
                dropped,
            });
        }
        if let Some(ks) = creates {
            created.push(ks);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn row(ks: &str, kind: &str, name: &str, stmt: &str) -> SchemaRow {
        SchemaRow {
            keyspace: ks.into(),
            kind: kind.into(),
            name: name.into(),
            cql_stmt: stmt.into(),
        }
    }

    #[test]
    fn statements_split_on_semicolons_outside_quotes() {
        assert_eq!(
            split_statements("CREATE TABLE a (x int) WITH comment = 'a;b'; ALTER TABLE a; ;"),
            [
                "CREATE TABLE a (x int) WITH comment = 'a;b'",
                "ALTER TABLE a"
            ]
        );
        assert_eq!(
            split_statements("CREATE FUNCTION f() AS $$ x; y $$;"),
            ["CREATE FUNCTION f() AS $$ x; y $$"]
        );
        assert!(split_statements("  ").is_empty());
    }

    #[test]
    fn excluded_rows_are_skipped() {
        assert!(applied(&row("ks", "table", "t", "")));
        assert!(!applied(&row("", "role", "r", "")));
        assert!(!applied(&row("system_replicated_keys", "table", "t", "")));
        assert!(!applied(&row("audit", "table", "t", "")));
        assert!(!applied(&row("alternator_t", "table", "t", "")));
        assert!(!applied(&row("ks", "table", "t$paxos", "")));
    }

    #[test]
    fn keyspaces_are_mapped_or_refused_before_anything_runs() {
        let rows = vec![
            row(
                "ks",
                "keyspace",
                "ks",
                "CREATE KEYSPACE ks WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '1'};",
            ),
            row("ks", "table", "t", "CREATE TABLE ks.t (a int PRIMARY KEY);"),
        ];
        let dcs: BTreeSet<String> = ["east".to_string()].into();
        let refused = statements(&rows, &RestoreProperties::default(), &dcs).unwrap_err();
        assert!(refused.to_string().contains("--dc-mapping"), "{refused}");
        let props = RestoreProperties {
            dc_mapping: BTreeMap::from([("dc1".to_string(), "east".to_string())]),
            ..RestoreProperties::default()
        };
        let got = statements(&rows, &props, &dcs).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].0.contains("'east': '1'"), "{}", got[0].0);
        assert_eq!(got[0].1.as_deref(), Some("ks"));
        assert_eq!(got[1].1, None);
    }
}
