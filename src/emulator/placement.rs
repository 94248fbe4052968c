//! Where records belong: picking tokens inside the ranges a node replicates, splitting records
//! by the nodes that should hold them, and the placement report tests compare a restore with.
//!
//! Tablet keyspaces are placed by the same vnode ring as the others: the emulator has no tablet
//! map, so "the replicas of a token" means the ring's replicas under the keyspace's replication.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::records::{Record, RecordId};
use super::rng::Rng;

/// A token inside one of `ranges` (start exclusive, end inclusive), the range chosen uniformly;
/// any token when there are no ranges.
pub fn pick_token(rng: &mut Rng, ranges: &[(i64, i64)]) -> i64 {
    if ranges.is_empty() {
        return rng.next_u64() as i64;
    }
    let i = rng.range(0, ranges.len() as u64) as usize;
    let Some((start, end)) = ranges.get(i).copied() else {
        return rng.next_u64() as i64;
    };
    let width = end.wrapping_sub(start) as u64;
    if width == 0 {
        // A range from a token to itself is the whole ring.
        return rng.next_u64() as i64;
    }
    start.wrapping_add((1 + rng.next_u64() % width) as i64)
}

/// Whether `token` falls in one of `ranges`.
pub fn in_ranges(token: i64, ranges: &[(i64, i64)]) -> bool {
    ranges.iter().any(|(start, end)| {
        if start < end {
            *start < token && token <= *end
        } else {
            // Wrapping range (or the whole ring when start == end).
            token > *start || token <= *end
        }
    })
}

/// Groups records by the nodes that should receive them: `owners(token)` lists those nodes.
pub fn split_by_owner<'a>(
    records: &[Record<'a>],
    owners: impl Fn(i64) -> Vec<usize>,
) -> BTreeMap<usize, Vec<Record<'a>>> {
    let mut out: BTreeMap<usize, Vec<Record<'a>>> = BTreeMap::new();
    for r in records {
        for node in owners(r.token) {
            out.entry(node).or_default().push(*r);
        }
    }
    out
}

/// One record of a table and where it is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Placement {
    /// The partition's token.
    pub token: i64,
    /// The record's hash.
    pub hash: String,
    /// Addresses of the nodes holding it in live SSTables.
    pub held_by: Vec<String>,
    /// Addresses of the nodes that should hold it (its replicas now).
    pub replicas: Vec<String>,
}

impl Placement {
    /// Whether exactly its replicas hold it.
    pub fn is_placed(&self) -> bool {
        let held: BTreeSet<&String> = self.held_by.iter().collect();
        let wanted: BTreeSet<&String> = self.replicas.iter().collect();
        held == wanted
    }
}

/// Every record of a table held anywhere, with a count of the misplaced ones.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementReport {
    /// Records held anywhere.
    pub records: Vec<Placement>,
    /// How many are not held by exactly their replicas.
    pub misplaced: usize,
}

/// The report for records `held` (identity → holding node indexes); `replicas(token)` gives
/// the nodes that should hold a token and `name(node)` a node's address.
pub fn report(
    held: &BTreeMap<RecordId, BTreeSet<usize>>,
    replicas: impl Fn(i64) -> Vec<usize>,
    name: impl Fn(usize) -> String,
) -> PlacementReport {
    let records: Vec<Placement> = held
        .iter()
        .map(|(id, nodes)| Placement {
            token: id.token,
            hash: id.hash.clone(),
            held_by: nodes.iter().map(|n| name(*n)).collect(),
            replicas: replicas(id.token).into_iter().map(&name).collect(),
        })
        .collect();
    let misplaced = records.iter().filter(|p| !p.is_placed()).count();
    PlacementReport { records, misplaced }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::records::{encode, parse};

    #[test]
    fn picked_tokens_fall_in_the_ranges() {
        let mut rng = Rng::for_parts(9, &["p"]);
        let ranges = [(-100, -50), (i64::MAX - 3, i64::MIN + 3), (10, 11)];
        for _ in 0..2000 {
            let t = pick_token(&mut rng, &ranges);
            assert!(in_ranges(t, &ranges), "{t}");
        }
        assert!(!in_ranges(-100, &ranges), "start is exclusive");
        assert!(in_ranges(-50, &ranges), "end is inclusive");
        assert!(in_ranges(5, &[(3, 3)]), "one token is the whole ring");
    }

    #[test]
    fn records_split_to_their_owners_and_misplacement_is_reported() {
        let data = [encode(-10, b"a"), encode(10, b"b")].concat();
        let records = parse(&data);
        let owners = |t: i64| if t < 0 { vec![0, 1] } else { vec![2] };
        let split = split_by_owner(&records, owners);
        assert_eq!(split.get(&0).map(Vec::len), Some(1));
        assert_eq!(split.get(&1).map(Vec::len), Some(1));
        assert_eq!(split.get(&2).map(|r| r[0].token), Some(10));
        let mut held = BTreeMap::new();
        held.insert(records[0].id(), BTreeSet::from([0, 1]));
        held.insert(records[1].id(), BTreeSet::from([0, 2]));
        let r = report(&held, owners, |n| format!("n{n}"));
        assert_eq!(r.misplaced, 1);
        assert!(r.records[0].is_placed());
        assert_eq!(r.records[1].held_by, vec!["n0", "n2"]);
    }
}
