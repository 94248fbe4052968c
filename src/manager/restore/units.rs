//! Which backed-up tables a tables restore restores (spec §2.3: the keyspace filter, minus local
//! keyspaces, `system_auth`, `system_distributed.service_levels`, CDC log tables, `*$paxos` and
//! every view and index table; beyond upstream, every Scylla keyspace named `system*`, e.g.
//! `system_traces` and `system_distributed`'s CDC generations: Scylla owns them, and their tables
//! refuse the tombstone_gc change a restore makes) and the units it records: bytes summed per keyspace and table from
//! the manifests' index, with each table's tombstone_gc mode. Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::cql::{DEFAULT_TOMBSTONE_GC, TableInfo};
use crate::format::filter::KeyspaceFilter;
use crate::manager::store::{RestoreTable, RestoreUnit};

/// What decides whether a backed-up table is restored.
#[derive(Debug, Clone)]
pub enum Selection {
    /// A new run: the keyspace filter, with the exclusions.
    Filter {
        /// The task's keyspace filter.
        filter: KeyspaceFilter,
        /// The target's keyspaces with `LocalStrategy`.
        local_keyspaces: BTreeSet<String>,
        /// Tables that are views or index views, in the backup or the target.
        views: BTreeSet<(String, String)>,
    },
    /// A run inheriting its units: exactly their tables.
    Inherited(BTreeSet<(String, String)>),
}

impl Selection {
    /// The selection of exactly the tables of `units`.
    pub fn inherited(units: &[RestoreUnit]) -> Selection {
        Selection::Inherited(
            units
                .iter()
                .flat_map(|u| {
                    u.tables
                        .iter()
                        .map(|t| (u.keyspace_name.clone(), t.table_name.clone()))
                })
                .collect(),
        )
    }

    /// Whether `keyspace.table` of the backup is restored.
    pub fn restores(&self, keyspace: &str, table: &str) -> bool {
        match self {
            Selection::Inherited(tables) => tables.contains(&(keyspace.into(), table.into())),
            Selection::Filter {
                filter,
                local_keyspaces,
                views,
            } => {
                !excluded(keyspace, table, local_keyspaces, views) && filter.check(keyspace, table)
            }
        }
    }
}

/// Whether a tables restore leaves `keyspace.table` out whatever the filter.
pub fn excluded(
    keyspace: &str,
    table: &str,
    local_keyspaces: &BTreeSet<String>,
    views: &BTreeSet<(String, String)>,
) -> bool {
    local_keyspaces.contains(keyspace)
        || keyspace == "system"
        || keyspace.starts_with("system_")
        || table.ends_with("_scylla_cdc_log")
        || table.ends_with("$paxos")
        || views.contains(&(keyspace.to_string(), table.to_string()))
}

/// The units of the restored tables `sizes` ((keyspace, table) → bytes), by keyspace then table,
/// with each table's tombstone_gc mode from `tables` (the default when unknown).
pub fn build(
    sizes: &BTreeMap<(String, String), u64>,
    tables: &BTreeMap<(String, String), TableInfo>,
) -> Vec<RestoreUnit> {
    let mut units: Vec<RestoreUnit> = Vec::new();
    for ((ks, t), size) in sizes {
        let table = RestoreTable {
            table_name: t.clone(),
            size: *size,
            tombstone_gc: tables
                .get(&(ks.clone(), t.clone()))
                .map(|i| i.tombstone_gc.clone())
                .unwrap_or_else(|| DEFAULT_TOMBSTONE_GC.to_string()),
        };
        match units.last_mut() {
            Some(u) if u.keyspace_name == *ks => {
                u.size += size;
                u.tables.push(table);
            }
            _ => units.push(RestoreUnit {
                keyspace_name: ks.clone(),
                size: *size,
                tables: vec![table],
            }),
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn system_cdc_paxos_and_views_are_never_restored() {
        let sel = Selection::Filter {
            filter: KeyspaceFilter::new(&[]).unwrap(),
            local_keyspaces: BTreeSet::from(["system".to_string()]),
            views: BTreeSet::from([pair("shop", "by_city"), pair("shop", "idx_index")]),
        };
        assert!(sel.restores("shop", "orders"));
        assert!(!sel.restores("system_distributed", "view_build_status"));
        assert!(!sel.restores("system_traces", "sessions"));
        for (ks, t) in [
            ("system", "local"),
            ("system_schema", "tables"),
            ("system_auth", "roles"),
            ("system_distributed", "service_levels"),
            ("shop", "orders_scylla_cdc_log"),
            ("shop", "orders$paxos"),
            ("shop", "by_city"),
            ("shop", "idx_index"),
        ] {
            assert!(!sel.restores(ks, t), "{ks}.{t}");
        }
        let only = Selection::Filter {
            filter: KeyspaceFilter::new(&["shop.o*".to_string()]).unwrap(),
            local_keyspaces: BTreeSet::new(),
            views: BTreeSet::new(),
        };
        assert!(only.restores("shop", "orders"));
        assert!(!only.restores("shop", "users"));
    }

    #[test]
    fn units_sum_per_keyspace_with_modes() {
        let sizes = BTreeMap::from([
            (pair("a", "t1"), 10),
            (pair("a", "t2"), 5),
            (pair("b", "t"), 7),
        ]);
        let tables = BTreeMap::from([(
            pair("a", "t2"),
            TableInfo {
                id: uuid::Uuid::nil(),
                tombstone_gc: "repair".into(),
            },
        )]);
        let units = build(&sizes, &tables);
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].size, 15);
        assert_eq!(units[0].tables[0].tombstone_gc, "timeout");
        assert_eq!(units[0].tables[1].tombstone_gc, "repair");
        let again = Selection::inherited(&units);
        assert!(again.restores("b", "t"));
        assert!(!again.restores("b", "u"));
    }
}
