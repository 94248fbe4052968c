//! `cairn progress --host GLOB -K GLOB` (sctool's `progress --host`/`-K`): which hosts and which
//! keyspaces/tables a run's progress shows.
//!
//! [`ProgressFilter::apply`] prunes a run's details document (the manager's answer) to what the
//! patterns select, and that pruned document ([`View::shown`]) is what the tables, the `--watch`
//! drawings and `-o json` show; the run's own totals (the header's progress and sizes, the
//! errors, a validate run's summary line) are taken from the whole document ([`View::whole`]).
//!
//! - `--host` keeps the hosts whose address matches: backup and restore hosts, and the node
//!   directories of a validate run by the address of the agent that checked them.
//! - `-K` keeps the tables whose `keyspace.table` matches, with backup's `-K` syntax
//!   ([`KeyspaceFilter`]: `ks` means `ks.*`, `!` excludes, the last matching pattern decides).
//!   Keyspaces left without a table go. A backup host's and keyspace's figures, and a restore
//!   keyspace's, are summed anew from the tables kept; a restore host's and a validate node's
//!   cover every table (they are not kept per table). A restore view is kept when its base table
//!   or itself is selected; a validate run's listed files (missing, mis-sized, corrupt,
//!   orphaned, deleted) when their table is (files of no table, such as schema files, stay).
//!
//! Patterns that select nothing are not an error: [`View::unmatched`] says so, and the view
//! prints it instead of the tables.

use serde::Serialize;
use serde_json::Value;

use super::{counters as backup_counters, list};
use crate::cli::client::ClientError;
use crate::cli::run_header::text;
use crate::format::filter::{DcFilter, FilterError, KeyspaceFilter};
use crate::format::paths::SSTableDirInfo;
use crate::manager::backup::progress::Counters;
use crate::manager::restore::progress::RestoreCounters;
use crate::manager::store::TaskType;

/// The `--host` and `-K` patterns of `cairn progress`, compiled.
#[derive(Debug, Clone, Default)]
pub struct ProgressFilter {
    /// `--host`: the patterns as given (joined with commas) and their filter.
    host: Option<(String, DcFilter)>,
    /// `-K`: the patterns as given (joined with commas) and their filter.
    keyspace: Option<(String, KeyspaceFilter)>,
}

/// A run's details as a progress view shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct View<'a> {
    /// The manager's document, whole: the run's totals come from it.
    pub whole: &'a Value,
    /// The document with only the selected hosts, keyspaces and tables: the tables and `-o json`
    /// show it.
    pub shown: Value,
    /// `no host matches --host X` (or `-K`) when the patterns selected nothing the run has.
    pub unmatched: Option<String>,
    /// The patterns given, as the header's `Filter:` line shows them (none when none given).
    pub filter: Option<String>,
}

impl View<'_> {
    /// Appends the `Filter:` line to a view's header lines, when patterns were given.
    pub fn push_filter_line(&self, header: &mut Vec<(&'static str, String)>) {
        if let Some(f) = &self.filter {
            header.push(("Filter", f.clone()));
        }
    }
}

/// A `--host` pattern's fault, worded for hosts (the filter's own wording speaks of keyspaces).
fn host_error(e: FilterError) -> ClientError {
    let why = match e {
        FilterError::InvalidGlob {
            pattern,
            position,
            reason,
        } => format!("pattern {pattern:?} at position {position}: invalid glob: {reason}"),
        FilterError::EmptyPattern { pattern, position } => format!(
            "pattern {pattern:?} at position {position} is empty (expected an address glob, e.g. 10.0.0.* or !10.0.0.7)"
        ),
        FilterError::EmptyExclusion { pattern, position } => {
            format!("pattern {pattern:?} at position {position}: nothing after '!'")
        }
        other => other.to_string(),
    };
    ClientError::Usage(format!("--host: {why}"))
}

impl ProgressFilter {
    /// Compiles the `--host` and `-K` patterns (none given: everything is shown); a pattern
    /// that is not a glob is refused naming its flag.
    pub fn new(hosts: &[String], keyspaces: &[String]) -> Result<ProgressFilter, ClientError> {
        let host = if hosts.is_empty() {
            None
        } else {
            Some((hosts.join(","), DcFilter::new(hosts).map_err(host_error)?))
        };
        let keyspace = if keyspaces.is_empty() {
            None
        } else {
            let filter = KeyspaceFilter::new(keyspaces)
                .map_err(|e| ClientError::Usage(format!("-K/--keyspace: {e}")))?;
            Some((keyspaces.join(","), filter))
        };
        Ok(ProgressFilter { host, keyspace })
    }

    /// Whether no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.host.is_none() && self.keyspace.is_none()
    }

    /// The header line that tells the view is filtered: `--host 10.0.0.* -K store`.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some((given, _)) = &self.host {
            parts.push(format!("--host {given}"));
        }
        if let Some((given, _)) = &self.keyspace {
            parts.push(format!("-K {given}"));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// Whether the host `address` is shown.
    fn host(&self, address: &str) -> bool {
        self.host.as_ref().is_none_or(|(_, f)| f.check(address))
    }

    /// Whether the table `keyspace.table` is shown.
    fn table(&self, keyspace: &str, table: &str) -> bool {
        self.keyspace
            .as_ref()
            .is_none_or(|(_, f)| f.check(keyspace, table))
    }

    /// The message for hosts there were but none selected.
    fn no_host(&self) -> Option<String> {
        let (given, _) = self.host.as_ref()?;
        Some(format!("no host matches --host {given}"))
    }

    /// The message for tables there were but none selected.
    fn no_table(&self) -> Option<String> {
        let (given, _) = self.keyspace.as_ref()?;
        Some(format!("no keyspace or table matches -K {given}"))
    }

    /// The details of a run of a `task_type` task (`GET .../task/{type}/{task}/{run}`) with only
    /// what the patterns select.
    pub fn apply<'a>(&self, task_type: TaskType, details: &'a Value) -> View<'a> {
        let mut doc = details.clone();
        let unmatched = match task_type {
            _ if self.is_empty() => None,
            TaskType::Restore => doc.get_mut("progress").and_then(|p| self.restore(p)),
            TaskType::ValidateBackup => doc.get_mut("report").and_then(|r| self.validate(r)),
            _ => doc.get_mut("progress").and_then(|p| self.backup(p)),
        };
        View {
            whole: details,
            shown: doc,
            unmatched,
            filter: self.describe(),
        }
    }

    /// Prunes a backup run's progress; answers why nothing is left, if nothing is.
    fn backup(&self, progress: &mut Value) -> Option<String> {
        let hosts = progress.get_mut("hosts")?.as_array_mut()?;
        if hosts.is_empty() {
            return None;
        }
        hosts.retain(|h| self.host(&text(&h["host"])));
        if hosts.is_empty() {
            return self.no_host();
        }
        // Without -K, every table stays.
        self.keyspace.as_ref()?;
        let mut any_table = false;
        for host in hosts.iter_mut() {
            any_table |= self.keep_tables(host, backup_counters);
            resum(host, "keyspaces", backup_counters);
        }
        (!any_table).then(|| self.no_table()).flatten()
    }

    /// Prunes a restore run's progress; answers why nothing is left, if nothing is.
    fn restore(&self, progress: &mut Value) -> Option<String> {
        let had_hosts = !list(&progress["hosts"]).is_empty();
        if let Some(hosts) = progress.get_mut("hosts").and_then(Value::as_array_mut) {
            hosts.retain(|h| self.host(&text(&h["host"])));
        }
        if had_hosts && list(&progress["hosts"]).is_empty() {
            return self.no_host();
        }
        // Without -K, every table stays.
        self.keyspace.as_ref()?;
        let had_tables = !list(&progress["keyspaces"]).is_empty();
        let kept = self.keep_tables(progress, restore_counters);
        if let Some(views) = progress.get_mut("views").and_then(Value::as_array_mut) {
            views.retain(|v| {
                let keyspace = text(&v["keyspace"]);
                self.table(&keyspace, &text(&v["base_table"]))
                    || self.table(&keyspace, &text(&v["view"]))
            });
        }
        (had_tables && !kept).then(|| self.no_table()).flatten()
    }

    /// Keeps, under `parent["keyspaces"]`, the selected tables and the keyspaces left with one;
    /// a keyspace's figures are summed anew from its tables' (read by `read`). Answers whether
    /// any table is left.
    fn keep_tables<C: Summed>(&self, parent: &mut Value, read: fn(&Value) -> C) -> bool {
        let Some(keyspaces) = parent.get_mut("keyspaces").and_then(Value::as_array_mut) else {
            return false;
        };
        for k in keyspaces.iter_mut() {
            let keyspace = text(&k["keyspace"]);
            if let Some(tables) = k.get_mut("tables").and_then(Value::as_array_mut) {
                tables.retain(|t| self.table(&keyspace, &text(&t["table"])));
            }
            resum(k, "tables", read);
        }
        keyspaces.retain(|k| !list(&k["tables"]).is_empty());
        !keyspaces.is_empty()
    }

    /// Prunes a validate run's report; answers why nothing is left, if nothing is.
    fn validate(&self, report: &mut Value) -> Option<String> {
        let locations = report.get_mut("locations")?.as_array_mut()?;
        let mut had_nodes = false;
        let mut kept_nodes = false;
        for l in locations.iter_mut() {
            let Some(nodes) = l.get_mut("nodes").and_then(Value::as_array_mut) else {
                continue;
            };
            had_nodes |= !nodes.is_empty();
            nodes.retain(|n| self.host(&text(&n["checked_by"])));
            kept_nodes |= !nodes.is_empty();
            if self.keyspace.is_some() {
                for n in nodes.iter_mut() {
                    self.keep_files(n);
                }
            }
        }
        (had_nodes && !kept_nodes).then(|| self.no_host()).flatten()
    }

    /// Keeps, of a validate node's listed files (missing, orphaned, deleted, corrupt, mis-sized),
    /// those of a selected table or of no table.
    fn keep_files(&self, node: &mut Value) {
        let of_selected = |path: String| match SSTableDirInfo::parse(&path) {
            Ok((dir, _)) => self.table(&dir.keyspace, &dir.table),
            Err(_) => true,
        };
        for listed in ["missing", "orphans", "deleted"] {
            if let Some(files) = node.get_mut(listed).and_then(Value::as_array_mut) {
                files.retain(|f| of_selected(text(f)));
            }
        }
        if let Some(findings) = node.get_mut("findings").and_then(Value::as_array_mut) {
            findings.retain(|f| of_selected(text(&f["file"])));
        }
        if let Some(sizes) = node
            .get_mut("size_mismatches")
            .and_then(Value::as_array_mut)
        {
            sizes.retain(|m| self.table(&text(&m["keyspace"]), &text(&m["table"])));
        }
    }
}

/// Sums backup levels' figures (as the manager rolls them up).
impl Summed for Counters {
    fn total(parts: Vec<Self>) -> Self {
        Counters::sum(parts.iter())
    }
}

/// A restore level's figures, read from its document.
fn restore_counters(v: &Value) -> RestoreCounters {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// Sums restore levels' bytes (as the manager rolls them up).
impl Summed for RestoreCounters {
    fn total(parts: Vec<Self>) -> Self {
        let mut total = RestoreCounters::default();
        for p in &parts {
            total.add(p);
        }
        total
    }
}

/// Figures of a progress level that add up from the level below.
trait Summed: Serialize + Sized {
    /// The sum of `parts`.
    fn total(parts: Vec<Self>) -> Self;
}

/// Sets `level`'s figures to the sum of those of its `children` (read by `read`).
fn resum<C: Summed>(level: &mut Value, children: &str, read: fn(&Value) -> C) {
    let sum = C::total(list(&level[children]).iter().map(read).collect());
    if let (Some(obj), Ok(Value::Object(figures))) =
        (level.as_object_mut(), serde_json::to_value(&sum))
    {
        obj.extend(figures);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn filter(hosts: &[&str], keyspaces: &[&str]) -> ProgressFilter {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ProgressFilter::new(&owned(hosts), &owned(keyspaces)).unwrap()
    }

    fn table(name: &str, size: u64, done: bool) -> Value {
        json!({"table": name, "size": size, "uploaded": size / 2, "skipped": size / 2,
            "failed": 0, "started_at": "2026-11-24T10:00:00Z",
            "completed_at": if done { json!("2026-11-24T10:01:00Z") } else { Value::Null }})
    }

    fn backup_host(host: &str) -> Value {
        json!({"host": host, "size": 700, "uploaded": 350, "skipped": 350, "failed": 0,
        "keyspaces": [
            {"keyspace": "store", "size": 300, "tables": [table("orders", 100, true), table("tmp_x", 200, false)]},
            {"keyspace": "system_schema", "size": 400, "tables": [table("tables", 400, true)]}
        ]})
    }

    fn backup() -> Value {
        json!({"run": {"id": "r1"}, "progress": {"size": 2100, "uploaded": 1050,
            "hosts": [backup_host("10.0.0.1"), backup_host("10.0.0.2"), backup_host("10.0.1.1")]}})
    }

    fn hosts_of(doc: &Value) -> Vec<String> {
        list(&doc["progress"]["hosts"])
            .iter()
            .map(|h| text(&h["host"]))
            .collect()
    }

    #[test]
    fn hosts_are_kept_by_address_glob_and_the_run_totals_stay() {
        let whole = backup();
        let view = filter(&["10.0.0.*", "!10.0.0.2"], &[]).apply(TaskType::Backup, &whole);
        assert_eq!(hosts_of(&view.shown), ["10.0.0.1"]);
        assert_eq!(view.shown["progress"]["size"], json!(2100));
        assert_eq!(view.unmatched, None);
        assert_eq!(view.filter.as_deref(), Some("--host 10.0.0.*,!10.0.0.2"));
        assert_eq!(view.shown["progress"]["hosts"][0], backup_host("10.0.0.1"));

        let none = filter(&["192.168.*"], &[]).apply(TaskType::Backup, &whole);
        assert_eq!(
            none.unmatched.as_deref(),
            Some("no host matches --host 192.168.*")
        );
        let all = ProgressFilter::default().apply(TaskType::Backup, &whole);
        assert_eq!((all.shown, all.unmatched, all.filter), (whole, None, None));
    }

    #[test]
    fn tables_are_kept_by_keyspace_glob_and_hosts_summed_anew() {
        let whole = backup();
        let view = filter(&[], &["store", "!store.tmp_*"]).apply(TaskType::Backup, &whole);
        let host = &view.shown["progress"]["hosts"][0];
        assert_eq!(list(&host["keyspaces"]).len(), 1, "{host}");
        let store = &host["keyspaces"][0];
        assert_eq!(list(&store["tables"]).len(), 1, "{store}");
        assert_eq!(store["tables"][0]["table"], json!("orders"));
        for level in [host, store] {
            assert_eq!(level["size"], json!(100), "{level}");
            assert_eq!(level["uploaded"], json!(50), "{level}");
            assert_eq!(level["skipped"], json!(50), "{level}");
            assert_eq!(
                level["completed_at"],
                json!("2026-11-24T10:01:00Z"),
                "{level}"
            );
        }
        assert_eq!(view.shown["progress"]["size"], json!(2100), "run whole");
        assert_eq!(view.unmatched, None);
        let none = filter(&[], &["nosuch"]).apply(TaskType::Backup, &whole);
        assert_eq!(
            none.unmatched.as_deref(),
            Some("no keyspace or table matches -K nosuch")
        );
    }

    #[test]
    fn bad_globs_are_refused_naming_the_flag() {
        let owned = |s: &str| vec![s.to_string()];
        let e = ProgressFilter::new(&owned("10.0.[0"), &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--host: pattern \"10.0.[0\" at position 1: invalid glob"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
        let e = ProgressFilter::new(&owned("!"), &[]).unwrap_err();
        assert!(e.to_string().starts_with("--host: "), "{e}");
        let e = ProgressFilter::new(&[], &owned("ks.{a")).unwrap_err();
        assert!(e.to_string().starts_with("-K/--keyspace: "), "{e}");
    }

    #[test]
    fn restore_hosts_tables_and_views_are_kept_and_keyspaces_summed() {
        let t = |name: &str, size: u64| {
            json!({"table": name, "tombstone_gc": "repair",
            "size": size, "restored": size, "downloaded": size, "skipped": 0, "failed": 0})
        };
        let whole = json!({"progress": {"size": 30, "restored": 30,
            "keyspaces": [{"keyspace": "ks", "size": 30, "restored": 30, "downloaded": 30,
                "skipped": 0, "failed": 0, "tables": [t("a", 10), t("b", 20)]}],
            "hosts": [{"host": "10.0.0.1"}, {"host": "10.0.0.2"}],
            "views": [{"keyspace": "ks", "view": "a_by_x", "base_table": "a"},
                      {"keyspace": "ks", "view": "b_by_x", "base_table": "b"}]}});
        let view = filter(&["10.0.0.2"], &["ks.a*"]).apply(TaskType::Restore, &whole);
        let p = &view.shown["progress"];
        assert_eq!(p["hosts"], json!([{"host": "10.0.0.2"}]));
        assert_eq!(list(&p["keyspaces"][0]["tables"]).len(), 1);
        assert_eq!(p["keyspaces"][0]["size"], json!(10));
        assert_eq!(p["keyspaces"][0]["restored"], json!(10));
        assert_eq!(list(&p["views"]).len(), 1);
        assert_eq!(p["size"], json!(30), "run whole");
        assert_eq!(
            filter(&["10.9.*"], &[])
                .apply(TaskType::Restore, &whole)
                .unmatched
                .as_deref(),
            Some("no host matches --host 10.9.*")
        );
    }

    #[test]
    fn validate_nodes_are_kept_by_their_checker_and_files_by_table() {
        let node = |by: &str| {
            json!({"node_id": "n", "checked_by": by,
            "missing": ["backup/sst/cluster/7d1f2b3c-0a4e-4c1b-9d55-3f2a1b0c9e8d/dc/dc1/node/n/keyspace/ks/table/a/0123456789abcdef0123456789abcdef/x-Data.db",
                        "backup/sst/cluster/7d1f2b3c-0a4e-4c1b-9d55-3f2a1b0c9e8d/dc/dc1/node/n/keyspace/ks/table/b/0123456789abcdef0123456789abcdef/y-Data.db",
                        "backup/schema/cluster/c/task_t_tag_sm_20260101000000UTC_schema.json.gz"],
            "size_mismatches": [{"keyspace": "ks", "table": "a"}, {"keyspace": "ks", "table": "b"}],
            "findings": []})
        };
        let whole = json!({"report": {"locations": [{"location": "s3:b",
            "nodes": [node("10.0.0.1"), node("10.0.0.2")]}]}});
        let view = filter(&["10.0.0.1"], &["ks.b"]).apply(TaskType::ValidateBackup, &whole);
        let nodes = list(&view.shown["report"]["locations"][0]["nodes"]);
        assert_eq!(nodes.len(), 1);
        let missing: Vec<String> = list(&nodes[0]["missing"]).iter().map(text).collect();
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("/table/b/"), "{missing:?}");
        assert!(missing[1].contains("schema"), "{missing:?}");
        assert_eq!(
            nodes[0]["size_mismatches"],
            json!([{"keyspace": "ks", "table": "b"}])
        );
        assert_eq!(
            filter(&["x"], &[])
                .apply(TaskType::ValidateBackup, &whole)
                .unmatched
                .as_deref(),
            Some("no host matches --host x")
        );
    }
}
