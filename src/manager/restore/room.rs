//! Whether each target node has room for its share of a restore (the dry run's check): with
//! pipelining a node holds two batches in `upload/` at once; a batch is `batch_size × shards` of
//! the largest SSTables it may take, or with `batch_size = 0` 5% of its expected share of bytes
//! (at least its largest SSTable); what is left must stay above the free-space floor. Pure.

use super::plan::{RestorePlan, TargetHost};
use super::target::HostRoom;

/// Percentage of a node's disk that must stay free (upstream's `disk_space_free_min_percent`).
pub const MIN_FREE_PERCENT: u64 = 10;
/// Batches a node holds in `upload/` at once with pipelining.
const BATCHES_AT_ONCE: u64 = 2;
/// With `batch_size = 0`, a batch's share of the node's expected bytes, in percent.
const AUTO_BATCH_PERCENT: u64 = 5;

/// Bytes `host` holds in `upload/` at most at once.
pub fn needed(host: &TargetHost, plan: &RestorePlan, batch_size: i64) -> u64 {
    let mut sizes: Vec<u64> = plan
        .dirs
        .iter()
        .filter(|d| host.restores(d))
        .flat_map(|d| d.sstables.iter().map(|s| s.size))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mine: u64 = sizes.iter().sum();
    let batch = match u64::try_from(batch_size) {
        Ok(n) if n > 0 => {
            let count = usize::try_from(n.saturating_mul(host.shards.max(1))).unwrap_or(usize::MAX);
            sizes.iter().take(count).sum()
        }
        _ => {
            let total: u64 = plan.dirs.iter().map(|d| d.size).sum();
            let shards: u64 = plan.hosts.iter().map(|h| h.shards).sum::<u64>().max(1);
            let share = total / shards * host.shards;
            (share / 100 * AUTO_BATCH_PERCENT).max(sizes.first().copied().unwrap_or_default())
        }
    };
    batch.saturating_mul(BATCHES_AT_ONCE).min(mine)
}

/// The room of every host of `plan`.
pub fn rooms(plan: &RestorePlan, batch_size: i64) -> Vec<HostRoom> {
    plan.hosts
        .iter()
        .map(|h| {
            let needed = needed(h, plan, batch_size);
            let floor = h.disk_total / 100 * MIN_FREE_PERCENT;
            HostRoom {
                host: h.address.clone(),
                dc: h.dc.clone(),
                needed,
                free: h.disk_free,
                ok: h.disk_free.saturating_sub(needed) >= floor && h.disk_free >= needed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::restore::plan::{RemoteDir, RemoteSSTable};
    use std::collections::BTreeMap;

    fn plan(sizes: &[u64], free: u64) -> RestorePlan {
        let sstables = sizes
            .iter()
            .enumerate()
            .map(|(i, s)| RemoteSSTable {
                id: i.to_string(),
                uuid_generation: false,
                files: Vec::new(),
                size: *s,
            })
            .collect();
        RestorePlan {
            tag: "sm_20260101000000UTC".parse().unwrap(),
            units: Vec::new(),
            views: Vec::new(),
            hosts: vec![TargetHost {
                address: "h1".into(),
                dc: "dc1".into(),
                host_id: "id".into(),
                shards: 2,
                disk_free: free,
                disk_total: 1000,
                source_dcs: vec!["dc1".into()],
                source_node: None,
            }],
            dirs: vec![RemoteDir {
                location: "s3:b".parse().unwrap(),
                source_dc: "dc1".into(),
                node_id: "n".into(),
                keyspace: "ks".into(),
                table: "t".into(),
                path: "p".into(),
                sstables,
                size: sizes.iter().sum(),
            }],
            table_dirs: BTreeMap::new(),
            schema_file: None,
        }
    }

    #[test]
    fn two_batches_of_the_largest_sstables_must_fit_above_the_floor() {
        // batch_size 1 × 2 shards = the two largest (100 + 90), twice.
        let p = plan(&[100, 90, 10, 5, 1], 1000);
        assert_eq!(
            needed(&p.hosts[0], &p, 1),
            206,
            "two batches (380) capped by all it restores"
        );
        let rooms = rooms(&p, 1);
        assert!(rooms[0].ok);
        let tight = plan(&[100, 90, 10, 5, 1], 250);
        let r = &super::rooms(&tight, 1)[0];
        assert_eq!(r.needed, 206);
        assert!(!r.ok, "250 - 206 leaves less than 10% of 1000");
    }

    #[test]
    fn auto_batches_take_at_least_the_largest_sstable() {
        let p = plan(&[100, 1], 1000);
        assert_eq!(
            needed(&p.hosts[0], &p, 0),
            101,
            "capped by what the host restores"
        );
    }
}
