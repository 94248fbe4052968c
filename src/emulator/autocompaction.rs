//! Autocompaction per table and node, as `/column_family/autocompaction/{ks}:{table}` switches
//! it: on unless the user disabled it. The emulator never compacts on its own, so the switch
//! only records what a restore asked for, for tests to check.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The tables of one node whose autocompaction is disabled.
#[derive(Debug, Default)]
pub struct Autocompaction {
    /// (keyspace, table) of every table with autocompaction disabled.
    disabled: Mutex<BTreeSet<(String, String)>>,
}

impl Autocompaction {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, String)>> {
        self.disabled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether autocompaction of `keyspace.table` is on.
    pub fn enabled(&self, keyspace: &str, table: &str) -> bool {
        !self
            .lock()
            .contains(&(keyspace.to_string(), table.to_string()))
    }

    /// Turns autocompaction of `keyspace.table` on or off.
    pub fn set(&self, keyspace: &str, table: &str, enabled: bool) {
        let key = (keyspace.to_string(), table.to_string());
        let mut disabled = self.lock();
        if enabled {
            disabled.remove(&key);
        } else {
            disabled.insert(key);
        }
    }

    /// The tables with autocompaction disabled, as `keyspace.table`.
    pub fn disabled(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|(k, t)| format!("{k}.{t}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_start_enabled_and_toggle() {
        let a = Autocompaction::default();
        assert!(a.enabled("ks", "t"));
        a.set("ks", "t", false);
        assert!(!a.enabled("ks", "t"));
        assert!(a.enabled("ks", "u"));
        assert_eq!(a.disabled(), vec!["ks.t"]);
        a.set("ks", "t", true);
        assert!(a.disabled().is_empty());
    }
}
