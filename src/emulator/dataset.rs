//! The initial data of each node: a few small SSTables per system table, and the user tables'
//! share of the dataset split into size tiers as size-tiered compaction leaves them (a large
//! SSTable, one about half its size, and so on).

use super::node::{Node, NodeError, TableRef};
use super::rng::Rng;
use super::schema::{Schema, USER_DATASET};

/// Most SSTables a user table starts with.
const MAX_TIERS: usize = 6;
/// Smallest `Data.db` the tier split produces.
const MIN_SSTABLE: u64 = 4096;

/// The `Data.db` sizes a table starts with on a node holding `bytes` of its data.
pub fn tier_sizes(rng: &mut Rng, bytes: u64) -> Vec<u64> {
    let mut sizes = Vec::new();
    let mut left = bytes;
    while left > 0 {
        let size = if sizes.len() + 1 == MAX_TIERS || left <= 2 * MIN_SSTABLE {
            left
        } else {
            (left / 100 * rng.range(40, 65)).clamp(MIN_SSTABLE, left)
        };
        sizes.push(size);
        left -= size;
    }
    sizes
}

/// Writes a node's initial SSTables: `bytes_per_node` of user data over the dataset's tables,
/// and small SSTables in every system table.
pub fn populate(
    node: &Node,
    schema: &Schema,
    seed: u64,
    bytes_per_node: u64,
) -> Result<(), NodeError> {
    let node_part = node.id.index.to_string();
    for (keyspace, table) in schema.all_tables() {
        let t = TableRef {
            keyspace: keyspace.name.clone(),
            table: table.clone(),
        };
        node.create_table_dir(&t)?;
        let mut rng = Rng::for_parts(seed, &["dataset", &node_part, &keyspace.name, &table.name]);
        let share = USER_DATASET
            .iter()
            .filter(|(ks, _)| *ks == keyspace.name)
            .flat_map(|(_, tables)| tables.iter())
            .find(|(name, _)| *name == table.name)
            .map(|(_, share)| *share);
        let sizes = match share {
            // Replicas hold different amounts: ±15% around the table's share.
            Some(share) => {
                let jitter = rng.range(85, 116) as f64 / 100.0;
                tier_sizes(&mut rng, (bytes_per_node as f64 * share * jitter) as u64)
            }
            None => (0..rng.range(1, 3))
                .map(|_| rng.range(1 << 10, 24 << 10))
                .collect(),
        };
        node.seed_table(&t, &sizes)?;
    }
    node.use_wall_clock();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_sum_to_the_table_size_largest_first() {
        let mut rng = Rng::for_parts(3, &["t"]);
        for bytes in [1, 5000, 1 << 20, 10 << 30] {
            let sizes = tier_sizes(&mut rng, bytes);
            assert_eq!(sizes.iter().sum::<u64>(), bytes);
            assert!(sizes.len() <= MAX_TIERS);
            if sizes.len() > 2 {
                assert!(sizes[0] > sizes[1], "{sizes:?}");
            }
        }
    }
}
