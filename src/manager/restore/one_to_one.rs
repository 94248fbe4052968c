//! 1-1 restore (upstream's `1_1_restore`, spec §9): tables restored into a cluster that mirrors
//! the backed-up one (the same DCs, racks, node count and tokens), each node loading the
//! SSTables of the backed-up node mapped to it where they are (`load_and_stream=false`), with no
//! streaming between nodes. This module owns the node mapping (sctool's file form and the
//! task's JSON), its checks against the other properties, the backup's nodes and the cluster's,
//! and which backed-up node each host restores.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One node as a mapping names it: `dc:rack:host_id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MappedNode {
    /// Its DC.
    pub dc: String,
    /// Its rack.
    pub rack: String,
    /// Its Scylla host ID.
    pub host_id: String,
}

impl std::fmt::Display for MappedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.dc, self.rack, self.host_id)
    }
}

/// A backed-up node and the node of the restored cluster that loads its SSTables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMapping {
    /// The node that was backed up.
    pub source: MappedNode,
    /// The node that restores its SSTables.
    pub target: MappedNode,
}

/// Parses one `dc:rack:host_id` side of a mapping line.
fn parse_node(text: &str) -> Result<MappedNode, String> {
    let parts: Vec<&str> = text.split(':').map(str::trim).collect();
    match parts.as_slice() {
        [dc, rack, host_id] if !dc.is_empty() && !rack.is_empty() && !host_id.is_empty() => {
            Ok(MappedNode {
                dc: dc.to_string(),
                rack: rack.to_string(),
                host_id: host_id.to_string(),
            })
        }
        _ => Err(format!(
            "{:?} is not a node (expected <dc>:<rack>:<host_id>, none empty)",
            text.trim()
        )),
    }
}

impl NodeMapping {
    /// Parses sctool's nodes-mapping file: one `dc:rack:host_id=dc:rack:host_id` per line, the
    /// backed-up node first; blank lines and lines starting with `#` are skipped. An error names
    /// the line.
    pub fn parse_lines(text: &str) -> Result<Vec<NodeMapping>, String> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", i + 1);
            let Some((source, target)) = line.split_once('=') else {
                return Err(at(format!(
                    "{line:?} has no '=' (expected <dc>:<rack>:<host_id>=<dc>:<rack>:<host_id>, the backed-up node first)"
                )));
            };
            out.push(NodeMapping {
                source: parse_node(source).map_err(at)?,
                target: parse_node(target).map_err(at)?,
            });
        }
        if out.is_empty() {
            return Err("no mapping line (expected <dc>:<rack>:<host_id>=<dc>:<rack>:<host_id>, one per node)".into());
        }
        Ok(out)
    }
}

/// The problems of a task's `nodes_mapping` on its own: empty names, a node mapped twice, a
/// target DC the cluster does not have; each as `(field, reason)`.
pub fn property_problems(mapping: &[NodeMapping], cluster_dcs: &[String]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut sources = BTreeSet::new();
    let mut targets = BTreeSet::new();
    for (i, m) in mapping.iter().enumerate() {
        let field = format!("nodes_mapping[{i}]");
        for (side, n) in [("source", &m.source), ("target", &m.target)] {
            if n.dc.trim().is_empty() || n.rack.trim().is_empty() || n.host_id.trim().is_empty() {
                problems.push((
                    format!("{field}.{side}"),
                    "dc, rack and host_id are all required".to_string(),
                ));
            }
        }
        if !sources.insert(&m.source.host_id) {
            problems.push((
                field.clone(),
                format!("source node {} is mapped twice", m.source.host_id),
            ));
        }
        if !targets.insert(&m.target.host_id) {
            problems.push((
                field.clone(),
                format!("target node {} is mapped twice", m.target.host_id),
            ));
        }
        if !cluster_dcs.is_empty() && !cluster_dcs.contains(&m.target.dc) {
            problems.push((
                format!("{field}.target"),
                format!(
                    "unknown DC {:?} (the cluster has DCs: {})",
                    m.target.dc,
                    cluster_dcs.join(", ")
                ),
            ));
        }
    }
    problems
}

/// A backed-up node as its manifest of the snapshot describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceNode {
    /// Its DC (from the manifest's path).
    pub dc: String,
    /// Its rack (empty when the manifest does not say).
    pub rack: String,
    /// Its host ID (from the manifest's path).
    pub host_id: String,
    /// Its vnode tokens.
    pub tokens: Vec<i64>,
    /// Its shard count (0 when the manifest does not say).
    pub shard_count: u64,
}

/// A node of the restored cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetNode {
    /// Its agent's address.
    pub address: String,
    /// Its DC.
    pub dc: String,
    /// Its rack.
    pub rack: String,
    /// Its host ID.
    pub host_id: String,
    /// Its vnode tokens.
    pub tokens: Vec<i64>,
    /// Its shard count.
    pub shards: u64,
}

/// Checks that `mapping` pairs every backed-up node with exactly one node of the cluster, on the
/// same DC and rack as the mapping says, with the same tokens and shard count; answers the
/// backed-up host ID each node of the cluster restores, by address. Every problem is collected.
pub fn check_topology(
    mapping: &[NodeMapping],
    sources: &[SourceNode],
    targets: &[TargetNode],
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = BTreeMap::new();
    let by_source: BTreeMap<&str, &SourceNode> =
        sources.iter().map(|s| (s.host_id.as_str(), s)).collect();
    let by_target: BTreeMap<&str, &TargetNode> =
        targets.iter().map(|t| (t.host_id.as_str(), t)).collect();
    for m in mapping {
        let source = by_source.get(m.source.host_id.as_str());
        let target = by_target.get(m.target.host_id.as_str());
        let Some(source) = source else {
            problems.push(format!(
                "source node {} has no manifest of the snapshot (backed-up nodes: {})",
                m.source,
                names(sources.iter().map(|s| s.host_id.as_str()))
            ));
            continue;
        };
        let Some(target) = target else {
            problems.push(format!(
                "target node {} is not a node of the cluster (its nodes: {})",
                m.target,
                names(targets.iter().map(|t| t.host_id.as_str()))
            ));
            continue;
        };
        if source.dc != m.source.dc || (!source.rack.is_empty() && source.rack != m.source.rack) {
            problems.push(format!(
                "source node {} was backed up in {}:{}",
                m.source,
                source.dc,
                if source.rack.is_empty() {
                    "?"
                } else {
                    &source.rack
                }
            ));
        }
        if target.dc != m.target.dc || target.rack != m.target.rack {
            problems.push(format!(
                "target node {} is in {}:{}",
                m.target, target.dc, target.rack
            ));
        }
        let mut want = source.tokens.clone();
        let mut have = target.tokens.clone();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            let differ = want
                .iter()
                .filter(|t| have.binary_search(t).is_err())
                .count();
            problems.push(format!(
                "target node {} ({}) does not own the tokens of source node {}: {} of its {} tokens differ (1-1 restore needs identical tokens)",
                m.target.host_id,
                target.address,
                m.source.host_id,
                differ.max(want.len().abs_diff(have.len())),
                want.len()
            ));
        }
        if source.shard_count != 0 && source.shard_count != target.shards {
            problems.push(format!(
                "target node {} ({}) has {} shards, source node {} had {}",
                m.target.host_id,
                target.address,
                target.shards,
                m.source.host_id,
                source.shard_count
            ));
        }
        out.insert(target.address.clone(), source.host_id.clone());
    }
    let mapped_sources: BTreeSet<&str> =
        mapping.iter().map(|m| m.source.host_id.as_str()).collect();
    let mapped_targets: BTreeSet<&str> =
        mapping.iter().map(|m| m.target.host_id.as_str()).collect();
    for s in sources
        .iter()
        .filter(|s| !mapped_sources.contains(s.host_id.as_str()))
    {
        problems.push(format!(
            "backed-up node {}:{}:{} is not in the mapping (each backed-up node needs a node of the cluster)",
            s.dc, s.rack, s.host_id
        ));
    }
    for t in targets
        .iter()
        .filter(|t| !mapped_targets.contains(t.host_id.as_str()))
    {
        problems.push(format!(
            "node {}:{}:{} ({}) of the cluster is not in the mapping (1-1 restore needs as many nodes as were backed up)",
            t.dc, t.rack, t.host_id, t.address
        ));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Names joined for a message.
fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dc: &str, rack: &str, id: &str) -> MappedNode {
        MappedNode {
            dc: dc.into(),
            rack: rack.into(),
            host_id: id.into(),
        }
    }

    #[test]
    fn the_mapping_file_reads_as_sctool_writes_it_and_names_a_bad_line() {
        let text = "dc1:rack1:a = dc1:rack1:x\n\n# comment\ndc2:r2:b=dc2:r2:y\n";
        let m = NodeMapping::parse_lines(text).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].source, node("dc1", "rack1", "a"));
        assert_eq!(m[1].target, node("dc2", "r2", "y"));
        let e = NodeMapping::parse_lines("dc1:r:a=dc1:r:x\ndc1:r:b dc1:r:y\n").unwrap_err();
        assert!(e.starts_with("line 2: ") && e.contains("no '='"), "{e}");
        let e = NodeMapping::parse_lines("dc1:a=dc1:r:x").unwrap_err();
        assert!(e.contains("<dc>:<rack>:<host_id>"), "{e}");
        assert!(NodeMapping::parse_lines("\n# only\n").is_err());
    }

    fn source(id: &str, tokens: &[i64]) -> SourceNode {
        SourceNode {
            dc: "dc1".into(),
            rack: "rack1".into(),
            host_id: id.into(),
            tokens: tokens.to_vec(),
            shard_count: 2,
        }
    }

    fn target(addr: &str, id: &str, tokens: &[i64]) -> TargetNode {
        TargetNode {
            address: addr.into(),
            dc: "dc1".into(),
            rack: "rack1".into(),
            host_id: id.into(),
            tokens: tokens.to_vec(),
            shards: 2,
        }
    }

    fn map(s: &str, t: &str) -> NodeMapping {
        NodeMapping {
            source: node("dc1", "rack1", s),
            target: node("dc1", "rack1", t),
        }
    }

    #[test]
    fn a_mirror_maps_each_host_to_its_source_and_differences_are_all_named() {
        let sources = [source("a", &[1, 5]), source("b", &[3, 9])];
        let targets = [
            target("10.0.0.1", "x", &[5, 1]),
            target("10.0.0.2", "y", &[3, 9]),
        ];
        let ok = check_topology(&[map("a", "x"), map("b", "y")], &sources, &targets).unwrap();
        assert_eq!(ok.get("10.0.0.1").map(String::as_str), Some("a"));
        assert_eq!(ok.get("10.0.0.2").map(String::as_str), Some("b"));

        let e = check_topology(&[map("a", "y"), map("b", "x")], &sources, &targets).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].contains("does not own the tokens of source node a"),
            "{e:?}"
        );

        let e = check_topology(&[map("a", "x")], &sources, &targets).unwrap_err();
        assert!(
            e.iter()
                .any(|p| p.contains("backed-up node dc1:rack1:b is not in the mapping")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|p| p.contains("(10.0.0.2) of the cluster is not in the mapping")),
            "{e:?}"
        );

        let e = check_topology(&[map("a", "x"), map("b", "z")], &sources, &targets).unwrap_err();
        assert!(
            e.iter()
                .any(|p| p.contains("target node dc1:rack1:z is not a node")),
            "{e:?}"
        );

        let mut other_rack = map("a", "x");
        other_rack.target.rack = "rack2".into();
        let e = check_topology(&[other_rack, map("b", "y")], &sources, &targets).unwrap_err();
        assert!(e.iter().any(|p| p.contains("is in dc1:rack1")), "{e:?}");
    }

    #[test]
    fn property_problems_name_the_entry() {
        let twice = [map("a", "x"), map("a", "y")];
        let p = property_problems(&twice, &["dc1".into()]);
        assert_eq!(p[0].0, "nodes_mapping[1]");
        let mut other_dc = map("a", "x");
        other_dc.target.dc = "dc9".into();
        let p = property_problems(&[other_dc], &["dc1".into()]);
        assert_eq!(p[0].0, "nodes_mapping[0].target");
        assert!(p[0].1.contains("unknown DC \"dc9\""));
    }
}
