//! The initial data of each node: the dataset's schema (fixed tables with plausible columns, a
//! user type, a materialized view and a secondary index on `store.orders`), a few small SSTables
//! per system table, and the user tables' share of the dataset split into size tiers as
//! size-tiered compaction leaves them (a large SSTable, one about half its size, and so on).

use super::config::ConfigError;
use super::cql::engine::{ddl, parse, system_tables};
use super::cql::outcome::CqlError;
use super::node::{Node, NodeError, TableRef};
use super::rng::{Rng, uuid_for};
use super::schema::{Replication, Schema};
use super::topology::Topology;

/// The dataset's keyspaces.
pub const KEYSPACES: &[&str] = &["store", "telemetry"];

/// Each dataset table (views and index views included) and its share of a node's user bytes.
pub const USER_DATASET: &[(&str, &[(&str, f64)])] = &[
    (
        "store",
        &[
            ("customers", 0.10),
            ("orders", 0.19),
            ("orders_by_status", 0.03),
            ("orders_placed_at_idx_index", 0.02),
            ("order_items", 0.13),
        ],
    ),
    ("telemetry", &[("readings", 0.45), ("devices", 0.08)]),
];

/// Checks that `tablet_keyspaces` (`--tablet-keyspaces`) names only keyspaces of the dataset.
pub fn check_tablet_keyspaces(tablet_keyspaces: &[String]) -> Result<(), ConfigError> {
    match tablet_keyspaces
        .iter()
        .find(|k| !KEYSPACES.contains(&k.as_str()))
    {
        Some(k) => Err(ConfigError::TabletKeyspace(k.clone(), KEYSPACES.join(", "))),
        None => Ok(()),
    }
}

/// The dataset's schema as CQL; `{id:<table>}` stands for the table's seeded ID and
/// `{ks:<keyspace>}` for its replication and tablets settings.
const DATASET_CQL: &[&str] = &[
    "CREATE KEYSPACE store WITH {ks:store}",
    "CREATE TABLE store.customers (id uuid PRIMARY KEY, name text, email text, tier int, created_at timestamp) WITH ID = {id:store.customers}",
    "CREATE TABLE store.orders (customer_id uuid, order_id timeuuid, status text, total double, placed_at timestamp, PRIMARY KEY (customer_id, order_id)) WITH ID = {id:store.orders} AND CLUSTERING ORDER BY (order_id DESC)",
    "CREATE MATERIALIZED VIEW store.orders_by_status AS SELECT * FROM store.orders WHERE status IS NOT NULL AND customer_id IS NOT NULL AND order_id IS NOT NULL PRIMARY KEY (status, customer_id, order_id) WITH ID = {id:store.orders_by_status}",
    "CREATE INDEX orders_placed_at_idx ON store.orders (placed_at) WITH ID = {id:store.orders_placed_at_idx_index}",
    "CREATE TABLE store.order_items (order_id timeuuid, item_no int, sku text, quantity int, price double, PRIMARY KEY (order_id, item_no)) WITH ID = {id:store.order_items}",
    "CREATE KEYSPACE telemetry WITH {ks:telemetry}",
    "CREATE TYPE telemetry.location (lat double, lon double, site text)",
    "CREATE TABLE telemetry.devices (device_id uuid PRIMARY KEY, model text, firmware text, tags set<text>, location frozen<location>) WITH ID = {id:telemetry.devices}",
    "CREATE TABLE telemetry.readings (device_id uuid, day date, ts timestamp, value double, unit text, PRIMARY KEY ((device_id, day), ts)) WITH ID = {id:telemetry.readings} AND CLUSTERING ORDER BY (ts DESC) AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_size': '1', 'compaction_window_unit': 'DAYS'} AND default_time_to_live = 2592000",
];

/// The schema of a fresh cluster: Scylla's own keyspaces and the dataset's, replicated with
/// NetworkTopologyStrategy at RF min(3, nodes) per DC, with tablets for `tablet_keyspaces`;
/// only Scylla's own keyspaces when `empty`.
pub fn schema(
    seed: u64,
    dcs: &[(String, usize)],
    tablet_keyspaces: &[String],
    empty: bool,
) -> Result<Schema, CqlError> {
    let mut schema = Schema::system(seed, system_tables::schema_columns);
    let replication = Replication::NetworkTopology(
        dcs.iter()
            .map(|(dc, n)| (dc.clone(), (*n).min(3) as u32))
            .collect(),
    );
    let repl_cql: Vec<String> = replication
        .options()
        .into_iter()
        .map(|(dc, rf)| format!(", '{dc}': '{rf}'"))
        .collect();
    let dataset: &[&str] = if empty { &[] } else { DATASET_CQL };
    for text in dataset {
        let mut cql = text.to_string();
        while let Some(start) = cql
            .find('{')
            .filter(|s| cql[*s..].starts_with("{id:") || cql[*s..].starts_with("{ks:"))
        {
            let end = cql[start..].find('}').map_or(cql.len(), |e| start + e + 1);
            let key = &cql[start + 4..end - 1];
            let value = if cql[start..].starts_with("{id:") {
                let (ks, t) = key.split_once('.').unwrap_or((key, ""));
                uuid_for(seed, &["table", ks, t]).to_string()
            } else {
                format!(
                    "replication = {{'class': 'NetworkTopologyStrategy'{}}} AND tablets = {{'enabled': {}}}",
                    repl_cql.concat(),
                    tablet_keyspaces.iter().any(|k| k == key)
                )
            };
            cql.replace_range(start..end, &value);
        }
        let invalid = |e: CqlError| CqlError {
            message: format!("creating the dataset schema ({cql}): {}", e.message),
            ..e
        };
        let parsed = parse::parse(&cql).map_err(invalid)?;
        ddl::apply(
            &mut schema,
            &parsed.statement,
            ddl::Context {
                dcs,
                keyspace: None,
            },
        )
        .map_err(invalid)?;
    }
    Ok(schema)
}

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
/// and small SSTables in every system table; every record's token is one the node replicates
/// for the table's keyspace.
pub fn populate(
    node: &Node,
    topology: &Topology,
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
        let ranges = topology.owned_ranges(&keyspace.replication, node.id.index, false);
        node.seed_table(&t, &sizes, &ranges)?;
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
