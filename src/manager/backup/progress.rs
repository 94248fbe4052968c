//! A run's progress as operators read it: the `backup_run_progress` rows rolled up
//! host → keyspace → table (spec section 6), with upstream's percentage; a run's status line,
//! its stage worded by [`super::stage::stage_label`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::stage::{BackupStage, stage_label};
use crate::manager::store::{BackupRun, BackupRunProgress, RunStatus, SkippedHost};

/// Counters of one level of the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Bytes to back up.
    pub size: u64,
    /// Bytes uploaded by this run.
    pub uploaded: u64,
    /// Bytes not sent: deduplicated, or uploaded by an earlier run of a resumed backup.
    pub skipped: u64,
    /// Bytes whose upload failed.
    pub failed: u64,
    /// Earliest start below this level.
    pub started_at: Option<DateTime<Utc>>,
    /// Latest completion below this level; absent while anything below is unfinished.
    pub completed_at: Option<DateTime<Utc>>,
}

impl Counters {
    fn from_row(row: &BackupRunProgress) -> Self {
        Counters {
            size: row.size,
            uploaded: row.uploaded,
            skipped: row.skipped,
            failed: row.failed,
            started_at: row.started_at,
            completed_at: row.completed_at,
        }
    }

    /// Sums children: byte counters add up, the start is the earliest, the completion the
    /// latest (and none if a child has not completed).
    pub fn sum<'a>(children: impl IntoIterator<Item = &'a Counters>) -> Self {
        let mut out = Counters::default();
        let mut all_done = true;
        let mut any = false;
        for c in children {
            any = true;
            // Stored rows are summed: saturate rather than overflow on a bad one.
            out.size = out.size.saturating_add(c.size);
            out.uploaded = out.uploaded.saturating_add(c.uploaded);
            out.skipped = out.skipped.saturating_add(c.skipped);
            out.failed = out.failed.saturating_add(c.failed);
            out.started_at = match (out.started_at, c.started_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match c.completed_at {
                Some(t) => out.completed_at = Some(out.completed_at.map_or(t, |o| o.max(t))),
                None => all_done = false,
            }
        }
        if !all_done || !any {
            out.completed_at = None;
        }
        out
    }

    /// Upstream's progress figure: `floor((uploaded+skipped)*100/size)%`, followed by
    /// `/ceil(failed*100/size)%` when something failed; `100%` for an empty backup.
    pub fn percent(&self) -> String {
        if self.size == 0 {
            return "100%".to_string();
        }
        let done = ((u128::from(self.uploaded) + u128::from(self.skipped)) * 100
            / u128::from(self.size)) as u64;
        if self.failed == 0 {
            format!("{done}%")
        } else {
            let failed = (u128::from(self.failed) * 100).div_ceil(u128::from(self.size)) as u64;
            format!("{done}%/{failed}%")
        }
    }
}

/// One table on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableProgress {
    /// Table name.
    pub table: String,
    /// Its counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// The last error of its upload.
    pub error: Option<String>,
}

/// One keyspace on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyspaceProgress {
    /// Keyspace name.
    pub keyspace: String,
    /// Sums of its tables.
    #[serde(flatten)]
    pub counters: Counters,
    /// Its tables, in the unit's order.
    pub tables: Vec<TableProgress>,
}

/// One host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostProgress {
    /// The host's address.
    pub host: String,
    /// Sums of its keyspaces.
    #[serde(flatten)]
    pub counters: Counters,
    /// Its keyspaces, in the run's unit order.
    pub keyspaces: Vec<KeyspaceProgress>,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunProgress {
    /// The run's snapshot tag.
    pub snapshot_tag: String,
    /// The DCs backed up.
    pub dcs: Vec<String>,
    /// The stage reached.
    pub stage: BackupStage,
    /// Sums of the hosts.
    #[serde(flatten)]
    pub counters: Counters,
    /// Per host; empty before indexing, when sizes are not known yet.
    pub hosts: Vec<HostProgress>,
    /// Nodes of the backed-up DCs the run leaves out (live nodes only are backed up), and why.
    pub skipped_hosts: Vec<SkippedHost>,
}

/// What operators read about the nodes a run leaves out:
/// `1 node not backed up: 127.0.0.152 down in gossip`; `None` when it leaves none out.
pub fn skipped_summary(skipped: &[SkippedHost]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let nodes = if skipped.len() == 1 { "node" } else { "nodes" };
    let which: Vec<String> = skipped
        .iter()
        .map(|h| format!("{} {}", h.host, h.reason))
        .collect();
    Some(format!(
        "{} {nodes} not backed up: {}",
        skipped.len(),
        which.join("; ")
    ))
}

/// A run's status as operators read it: the stage while it runs, and the nodes it leaves out:
/// `RUNNING (uploading data)`, `DONE (1 node not backed up: 127.0.0.152 down in gossip)`.
pub fn status_text(status: RunStatus, progress: Option<&RunProgress>) -> String {
    let mut notes = Vec::new();
    if let (Some(p), RunStatus::Running) = (progress, status) {
        notes.push(stage_label(p.stage).to_string());
    }
    notes.extend(progress.and_then(|p| skipped_summary(&p.skipped_hosts)));
    if notes.is_empty() {
        status.to_string()
    } else {
        format!("{status} ({})", notes.join("; "))
    }
}

/// Rolls a run's progress rows up into the host → keyspace → table tree. Tables of the run's
/// units that have no row on a host appear with zeros.
pub fn rollup(run: &BackupRun, rows: &[BackupRunProgress]) -> RunProgress {
    let mut hosts: Vec<&str> = rows.iter().map(|r| r.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let before_sizes = run.stage <= BackupStage::Index;
    let host_tree = |host: &str| {
        let keyspaces: Vec<KeyspaceProgress> = run
            .units
            .iter()
            .enumerate()
            .map(|(i, unit)| {
                let tables: Vec<TableProgress> = unit
                    .tables
                    .iter()
                    .map(|t| {
                        let row = rows
                            .iter()
                            .find(|r| r.host == host && r.unit as usize == i && &r.table_name == t);
                        TableProgress {
                            table: t.clone(),
                            counters: row.map(Counters::from_row).unwrap_or_default(),
                            error: row.and_then(|r| r.error.clone()),
                        }
                    })
                    .collect();
                KeyspaceProgress {
                    keyspace: unit.keyspace.clone(),
                    counters: Counters::sum(tables.iter().map(|t| &t.counters)),
                    tables,
                }
            })
            .collect();
        HostProgress {
            host: host.to_string(),
            counters: Counters::sum(keyspaces.iter().map(|k| &k.counters)),
            keyspaces,
        }
    };
    let hosts: Vec<HostProgress> = if before_sizes {
        Vec::new()
    } else {
        hosts.into_iter().map(host_tree).collect()
    };
    RunProgress {
        snapshot_tag: run.snapshot_tag.to_string(),
        dcs: run.dc.clone(),
        stage: run.stage,
        counters: Counters::sum(hosts.iter().map(|h| &h.counters)),
        hosts,
        skipped_hosts: run.skipped_hosts.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::filter::Unit;
    use uuid::Uuid;

    fn row(
        host: &str,
        unit: u32,
        table: &str,
        size: u64,
        uploaded: u64,
        skipped: u64,
        done: bool,
    ) -> BackupRunProgress {
        let t0: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        BackupRunProgress {
            cluster_id: Uuid::nil(),
            task_id: Uuid::nil(),
            run_id: Uuid::nil(),
            host: host.into(),
            unit,
            table_name: table.into(),
            agent_job_id: None,
            started_at: Some(t0 + chrono::Duration::seconds(unit.into())),
            completed_at: done.then(|| t0 + chrono::Duration::seconds(60 + i64::from(unit))),
            error: None,
            size,
            uploaded,
            skipped,
            failed: 0,
            files_count: 1,
            files_skipped_count: 0,
        }
    }

    fn run(stage: BackupStage) -> BackupRun {
        BackupRun {
            cluster_id: Uuid::nil(),
            task_id: Uuid::nil(),
            id: Uuid::nil(),
            prev_id: None,
            snapshot_tag: "sm_20261124100000UTC".parse().unwrap(),
            units: vec![
                Unit {
                    keyspace: "store".into(),
                    tables: vec!["orders".into(), "customers".into()],
                    all_tables: true,
                },
                Unit {
                    keyspace: "system_schema".into(),
                    tables: vec!["tables".into()],
                    all_tables: true,
                },
            ],
            dc: vec!["dc1".into()],
            location: vec![],
            nodes: vec![],
            start_time: "2026-11-24T10:00:00Z".parse().unwrap(),
            stage,
            skipped_hosts: vec![],
        }
    }

    #[test]
    fn rows_roll_up_host_keyspace_table_with_missing_tables_as_zeros() {
        let rows = [
            row("10.0.0.2", 0, "orders", 1000, 400, 100, false),
            row("10.0.0.1", 0, "orders", 1000, 1000, 0, true),
            row("10.0.0.1", 0, "customers", 500, 0, 500, true),
            row("10.0.0.1", 1, "tables", 20, 20, 0, true),
        ];
        let p = rollup(&run(BackupStage::Upload), &rows);
        assert_eq!(
            p.hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(),
            ["10.0.0.1", "10.0.0.2"]
        );
        let h1 = &p.hosts[0];
        assert_eq!(
            (h1.counters.size, h1.counters.uploaded, h1.counters.skipped),
            (1520, 1020, 500)
        );
        assert!(
            h1.counters.completed_at.is_some(),
            "everything on host 1 completed"
        );
        assert_eq!(
            h1.keyspaces
                .iter()
                .map(|k| k.keyspace.as_str())
                .collect::<Vec<_>>(),
            ["store", "system_schema"],
            "unit order"
        );
        let h2 = &p.hosts[1];
        assert_eq!(
            h2.keyspaces[0].tables[1].counters,
            Counters::default(),
            "customers has no row on host 2 yet"
        );
        assert!(h2.counters.completed_at.is_none());
        assert_eq!(p.counters.size, 1520 + 1000);
        assert!(
            p.counters.completed_at.is_none(),
            "the run completes when every host has"
        );
        assert_eq!(
            p.counters.started_at,
            Some("2026-11-24T10:00:00Z".parse().unwrap())
        );
        assert_eq!(h2.counters.percent(), "50%");
        assert!(
            rollup(&run(BackupStage::Index), &rows).hosts.is_empty(),
            "no host tree before sizes are known"
        );
    }

    #[test]
    fn the_status_names_the_stage_while_running_and_the_nodes_left_out() {
        let mut r = run(BackupStage::Upload);
        let p = rollup(&r, &[]);
        assert_eq!(
            status_text(RunStatus::Running, Some(&p)),
            "RUNNING (uploading data)"
        );
        assert_eq!(status_text(RunStatus::Done, Some(&p)), "DONE");
        assert_eq!(status_text(RunStatus::Error, None), "ERROR");
        r.skipped_hosts = vec![SkippedHost {
            host: "127.0.0.152".into(),
            reason: "down in gossip".into(),
        }];
        let p = rollup(&r, &[]);
        assert_eq!(
            status_text(RunStatus::Done, Some(&p)),
            "DONE (1 node not backed up: 127.0.0.152 down in gossip)"
        );
        assert_eq!(
            status_text(RunStatus::Running, Some(&p)),
            "RUNNING (uploading data; 1 node not backed up: 127.0.0.152 down in gossip)"
        );
        r.skipped_hosts.push(SkippedHost {
            host: "127.0.0.153".into(),
            reason: "agent check failed: refused".into(),
        });
        assert_eq!(
            skipped_summary(&r.skipped_hosts).as_deref(),
            Some(
                "2 nodes not backed up: 127.0.0.152 down in gossip; 127.0.0.153 agent check failed: refused"
            )
        );
    }

    #[test]
    fn percent_follows_upstream() {
        let c = |size, uploaded, skipped, failed| Counters {
            size,
            uploaded,
            skipped,
            failed,
            ..Counters::default()
        };
        assert_eq!(c(0, 0, 0, 0).percent(), "100%");
        assert_eq!(c(3, 1, 0, 0).percent(), "33%");
        assert_eq!(c(1000, 500, 0, 1).percent(), "50%/1%");
        assert_eq!(c(u64::MAX, u64::MAX / 2, 0, 0).percent(), "49%");
        assert_eq!(stage_label(BackupStage::Upload), "uploading data");
    }
}
