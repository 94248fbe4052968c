//! `dc_mapping` (source DC → target DC): its checks against the backup and the cluster, the source
//! DCs each target node restores, and (better than upstream) the rewrite of a `CREATE KEYSPACE`
//! statement's `NetworkTopologyStrategy` replication map onto the target DC names. Pure.

use std::collections::{BTreeMap, BTreeSet};

/// What is wrong with a `dc_mapping`, or a replication map it cannot place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcMappingError {
    /// Source DCs the backup does not have.
    #[error(
        "dc_mapping: source DC {} not in the backup (its DCs: {}); fix --dc-mapping",
        .missing.join(", "),
        .available.join(", ")
    )]
    UnknownSource {
        /// The source DCs not found.
        missing: Vec<String>,
        /// The backup's DCs.
        available: Vec<String>,
    },
    /// Target DCs the cluster does not have.
    #[error(
        "dc_mapping: target DC {} not in the cluster (its DCs: {}); fix --dc-mapping",
        .missing.join(", "),
        .available.join(", ")
    )]
    UnknownTarget {
        /// The target DCs not found.
        missing: Vec<String>,
        /// The cluster's DCs.
        available: Vec<String>,
    },
    /// Two source DCs of one keyspace map onto one target DC with different replication factors.
    #[error(
        "keyspace {keyspace}: dc_mapping maps {} onto {target} with different replication factors; map them onto different DCs",
        .sources.join(" and ")
    )]
    Conflict {
        /// The keyspace.
        keyspace: String,
        /// The target DC.
        target: String,
        /// The source DCs.
        sources: Vec<String>,
    },
    /// A replication map names DCs the cluster lacks and no `dc_mapping` is given.
    #[error(
        "keyspace {keyspace}: its replication names DC {} that the cluster lacks (its DCs: {}); map them with --dc-mapping SOURCE=TARGET,...",
        .missing.join(", "),
        .available.join(", ")
    )]
    UnmappedReplication {
        /// The keyspace.
        keyspace: String,
        /// The DCs the cluster lacks.
        missing: Vec<String>,
        /// The cluster's DCs.
        available: Vec<String>,
    },
}

/// Checks that every source DC of `mapping` is in `backup_dcs` and every target DC in
/// `cluster_dcs`.
pub fn check(
    mapping: &BTreeMap<String, String>,
    backup_dcs: &BTreeSet<String>,
    cluster_dcs: &BTreeSet<String>,
) -> Result<(), DcMappingError> {
    let missing: Vec<String> = mapping
        .keys()
        .filter(|s| !backup_dcs.contains(*s))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(DcMappingError::UnknownSource {
            missing,
            available: backup_dcs.iter().cloned().collect(),
        });
    }
    let missing: BTreeSet<String> = mapping
        .values()
        .filter(|t| !cluster_dcs.contains(*t))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(DcMappingError::UnknownTarget {
            missing: missing.into_iter().collect(),
            available: cluster_dcs.iter().cloned().collect(),
        });
    }
    Ok(())
}

/// The source DCs a node of `target_dc` restores: with a mapping, those mapped onto its DC;
/// without, every DC of the backup (upstream's Q1).
pub fn source_dcs(
    mapping: &BTreeMap<String, String>,
    target_dc: &str,
    backup_dcs: &BTreeSet<String>,
) -> Vec<String> {
    if mapping.is_empty() {
        return backup_dcs.iter().cloned().collect();
    }
    mapping
        .iter()
        .filter(|(_, t)| *t == target_dc)
        .map(|(s, _)| s.clone())
        .collect()
}

/// The replication map of a `CREATE KEYSPACE` statement: its entries in order and the byte
/// range of the `{...}` in the statement.
struct ReplicationMap {
    /// `(key, value)` pairs, unquoted.
    entries: Vec<(String, String)>,
    /// Where the map's braces are in the statement.
    span: std::ops::Range<usize>,
}

impl ReplicationMap {
    /// The value of `class`.
    fn class(&self) -> &str {
        self.entries
            .iter()
            .find(|(k, _)| k == "class")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Whether the strategy is `NetworkTopologyStrategy`.
    fn is_nts(&self) -> bool {
        self.class().ends_with("NetworkTopologyStrategy")
    }

    /// The DC entries (every key but `class` and `replication_factor`).
    fn dcs(&self) -> impl Iterator<Item = &(String, String)> {
        self.entries
            .iter()
            .filter(|(k, _)| k != "class" && k != "replication_factor")
    }
}

/// Whether `stmt` is a `CREATE KEYSPACE` statement.
fn is_create_keyspace(stmt: &str) -> bool {
    let words: Vec<String> = stmt
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_lowercase)
        .collect();
    words == ["create", "keyspace"]
}

/// Reads a quoted (`'...'` with `''` escapes) or bare token at `i`; returns it and the index after.
fn token(bytes: &[u8], s: &str, mut i: usize) -> Option<(String, usize)> {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if bytes.get(i) == Some(&b'\'') {
        let mut out = String::new();
        let mut j = i + 1;
        loop {
            let c = s.get(j..)?.chars().next()?;
            if c == '\'' {
                if bytes.get(j + 1) == Some(&b'\'') {
                    out.push('\'');
                    j += 2;
                    continue;
                }
                return Some((out, j + 1));
            }
            out.push(c);
            j += c.len_utf8();
        }
    }
    let start = i;
    while bytes
        .get(i)
        .is_some_and(|b| !matches!(b, b':' | b',' | b'}') && !b.is_ascii_whitespace())
    {
        i += 1;
    }
    (i > start).then(|| (s.get(start..i).unwrap_or_default().to_string(), i))
}

/// Skips whitespace, then expects `c`.
fn expect(bytes: &[u8], mut i: usize, c: u8) -> Option<usize> {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    (bytes.get(i) == Some(&c)).then_some(i + 1)
}

/// Finds and parses the `replication = {...}` map of a `CREATE KEYSPACE` statement.
fn replication_map(stmt: &str) -> Option<ReplicationMap> {
    if !is_create_keyspace(stmt) {
        return None;
    }
    let lower = stmt.to_ascii_lowercase();
    let bytes = stmt.as_bytes();
    let at = lower.find("replication")?;
    let eq = expect(bytes, at + "replication".len(), b'=')?;
    let open = expect(bytes, eq, b'{')?;
    let mut entries = Vec::new();
    let mut i = open;
    if let Some(close) = expect(bytes, i, b'}') {
        return Some(ReplicationMap {
            entries,
            span: open - 1..close,
        });
    }
    loop {
        let (key, next) = token(bytes, stmt, i)?;
        let next = expect(bytes, next, b':')?;
        let (value, next) = token(bytes, stmt, next)?;
        entries.push((key, value));
        if let Some(after) = expect(bytes, next, b',') {
            i = after;
        } else {
            let close = expect(bytes, next, b'}')?;
            return Some(ReplicationMap {
                entries,
                span: open - 1..close,
            });
        }
    }
}

/// The keyspace a `CREATE KEYSPACE` statement creates (for messages).
fn keyspace_name(stmt: &str) -> String {
    let words: Vec<&str> = stmt.split_whitespace().collect();
    let mut rest = words.iter().skip(2);
    let mut name = rest.next().copied().unwrap_or_default();
    if name.eq_ignore_ascii_case("if") {
        name = rest.nth(2).copied().unwrap_or_default();
    }
    name.trim_matches('"').to_string()
}

/// The DCs a `CREATE KEYSPACE` statement's `NetworkTopologyStrategy` replication names (none for
/// any other statement or strategy).
pub fn replication_dcs(stmt: &str) -> Vec<String> {
    replication_map(stmt)
        .filter(ReplicationMap::is_nts)
        .map(|m| m.dcs().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default()
}

/// Quotes a CQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `stmt` ready for a cluster of `cluster_dcs`: a `CREATE KEYSPACE` with `NetworkTopologyStrategy`
/// gets its DC keys renamed through `mapping` (source DCs not mapped are left out); without a
/// mapping, a replication naming a DC the cluster lacks is refused. Any other statement is
/// returned as it is.
pub fn rewrite_replication(
    stmt: &str,
    mapping: &BTreeMap<String, String>,
    cluster_dcs: &BTreeSet<String>,
) -> Result<String, DcMappingError> {
    let Some(map) = replication_map(stmt).filter(ReplicationMap::is_nts) else {
        return Ok(stmt.to_string());
    };
    if mapping.is_empty() {
        let missing: Vec<String> = map
            .dcs()
            .filter(|(dc, _)| !cluster_dcs.contains(dc))
            .map(|(dc, _)| dc.clone())
            .collect();
        if missing.is_empty() {
            return Ok(stmt.to_string());
        }
        return Err(DcMappingError::UnmappedReplication {
            keyspace: keyspace_name(stmt),
            missing,
            available: cluster_dcs.iter().cloned().collect(),
        });
    }
    let mut placed: Vec<(String, String, String)> = Vec::new();
    for (dc, rf) in map.dcs() {
        let Some(target) = mapping.get(dc) else {
            continue;
        };
        match placed.iter().find(|(t, _, _)| t == target) {
            Some((_, other_rf, source)) if other_rf != rf => {
                return Err(DcMappingError::Conflict {
                    keyspace: keyspace_name(stmt),
                    target: target.clone(),
                    sources: vec![source.clone(), dc.clone()],
                });
            }
            Some(_) => {}
            None => placed.push((target.clone(), rf.clone(), dc.clone())),
        }
    }
    let mut parts = vec![format!("{}: {}", quote("class"), quote(map.class()))];
    parts.extend(
        map.entries
            .iter()
            .filter(|(k, _)| k == "replication_factor")
            .map(|(k, v)| format!("{}: {}", quote(k), quote(v))),
    );
    parts.extend(
        placed
            .iter()
            .map(|(dc, rf, _)| format!("{}: {}", quote(dc), quote(rf))),
    );
    let mut out = stmt.to_string();
    out.replace_range(map.span, &format!("{{{}}}", parts.join(", ")));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const KS: &str = "CREATE KEYSPACE shop WITH replication = {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'dc1': '3', 'dc2': '2'} AND durable_writes = true AND tablets = {'enabled': false}";

    #[test]
    fn mapped_dcs_are_renamed_and_the_rest_kept() {
        let out = rewrite_replication(
            KS,
            &map(&[("dc1", "east"), ("dc2", "west")]),
            &set(&["east", "west"]),
        )
        .unwrap();
        assert_eq!(
            out,
            "CREATE KEYSPACE shop WITH replication = {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'east': '3', 'west': '2'} AND durable_writes = true AND tablets = {'enabled': false}"
        );
        assert_eq!(replication_dcs(&out), ["east", "west"]);
    }

    #[test]
    fn unmapped_source_dcs_are_left_out() {
        let out = rewrite_replication(KS, &map(&[("dc2", "west")]), &set(&["west"])).unwrap();
        assert_eq!(replication_dcs(&out), ["west"]);
        assert!(out.contains("'west': '2'"), "{out}");
    }

    #[test]
    fn without_mapping_unknown_dcs_are_refused_naming_them() {
        let err = rewrite_replication(KS, &BTreeMap::new(), &set(&["dc1", "east"])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("keyspace shop"), "{text}");
        assert!(text.contains("DC dc2"), "{text}");
        assert!(text.contains("--dc-mapping"), "{text}");
        assert_eq!(
            rewrite_replication(KS, &BTreeMap::new(), &set(&["dc1", "dc2"])).unwrap(),
            KS
        );
    }

    #[test]
    fn other_statements_and_strategies_pass_unchanged() {
        let simple = "CREATE KEYSPACE s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '3'}";
        let m = map(&[("dc1", "east")]);
        assert_eq!(
            rewrite_replication(simple, &m, &set(&["east"])).unwrap(),
            simple
        );
        let table = "CREATE TABLE shop.t (a int PRIMARY KEY) WITH comment = 'replication = {}'";
        assert_eq!(
            rewrite_replication(table, &m, &set(&["east"])).unwrap(),
            table
        );
        assert!(replication_dcs(simple).is_empty());
    }

    #[test]
    fn two_sources_onto_one_target_must_agree() {
        let m = map(&[("dc1", "east"), ("dc2", "east")]);
        let err = rewrite_replication(KS, &m, &set(&["east"])).unwrap_err();
        assert!(matches!(err, DcMappingError::Conflict { .. }), "{err}");
        let same = KS.replace("'dc2': '2'", "'dc2': '3'");
        let out = rewrite_replication(&same, &m, &set(&["east"])).unwrap();
        assert_eq!(replication_dcs(&out), ["east"]);
    }

    #[test]
    fn quoted_names_and_if_not_exists_are_read() {
        let s = "create keyspace if not exists \"Ks\" with REPLICATION={'class':'NetworkTopologyStrategy','d''c':3}";
        assert_eq!(replication_dcs(s), ["d'c"]);
        let err = rewrite_replication(s, &BTreeMap::new(), &set(&["x"])).unwrap_err();
        assert!(err.to_string().contains("keyspace Ks"), "{err}");
        let out = rewrite_replication(s, &map(&[("d'c", "x")]), &set(&["x"])).unwrap();
        assert!(
            out.ends_with("{'class': 'NetworkTopologyStrategy', 'x': '3'}"),
            "{out}"
        );
    }

    #[test]
    fn mapping_checks_name_what_is_missing() {
        let backup = set(&["dc1", "dc2"]);
        let cluster = set(&["east"]);
        assert!(check(&map(&[("dc1", "east")]), &backup, &cluster).is_ok());
        let err = check(&map(&[("dc3", "east")]), &backup, &cluster).unwrap_err();
        assert!(err.to_string().contains("source DC dc3"), "{err}");
        let err = check(&map(&[("dc1", "west")]), &backup, &cluster).unwrap_err();
        assert!(err.to_string().contains("target DC west"), "{err}");
        assert_eq!(
            source_dcs(&map(&[("dc1", "east"), ("dc2", "x")]), "east", &backup),
            ["dc1"]
        );
        assert_eq!(
            source_dcs(&BTreeMap::new(), "east", &backup),
            ["dc1", "dc2"]
        );
    }
}
