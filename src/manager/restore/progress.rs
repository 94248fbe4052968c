//! A restore run's progress as operators read it (spec §5): restored and downloaded bytes rolled
//! up table → keyspace → run, per-host rates per shard, the views' build state and the repair's
//! progress. Built from the run's `restore_run_progress` rows and the supervisor's live state;
//! served by the REST API, shown by `cairn progress`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stage::RestoreStage;
use crate::manager::store::RestoreRunProgress;

/// Bytes of one level of the rollup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreCounters {
    /// Bytes to restore.
    pub size: u64,
    /// Bytes restored (loaded and streamed).
    pub restored: u64,
    /// Bytes in `upload/` (downloaded, or found there verified and kept).
    pub downloaded: u64,
    /// Of `downloaded`, bytes kept from an interrupted batch instead of downloaded again.
    pub skipped: u64,
    /// Bytes that failed.
    pub failed: u64,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreTableProgress {
    /// The table.
    pub table: String,
    /// Its tombstone_gc mode before the restore.
    pub tombstone_gc: String,
    /// Its bytes.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// When its first batch started downloading.
    pub started_at: Option<DateTime<Utc>>,
    /// When its last batch was restored, once every byte is.
    pub completed_at: Option<DateTime<Utc>>,
}

/// One keyspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreKeyspaceProgress {
    /// The keyspace.
    pub keyspace: String,
    /// Its bytes.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// Its tables.
    pub tables: Vec<RestoreTableProgress>,
}

/// One host restoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreHostProgress {
    /// The agent's address.
    pub host: String,
    /// Its shards.
    pub shards: u64,
    /// Bytes it downloaded and restored.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// Download rate per shard, bytes/s (downloaded ÷ download time ÷ shards).
    pub download_bytes_per_second_per_shard: f64,
    /// Load&stream rate per shard, bytes/s (restored ÷ load time ÷ shards).
    pub stream_bytes_per_second_per_shard: f64,
    /// What it does now: `downloading`, `loading`, `downloading+loading`, `idle`, `done`.
    pub state: String,
}

/// One view or index recreated at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreViewProgress {
    /// Its keyspace.
    pub keyspace: String,
    /// Its name.
    pub view: String,
    /// `MaterializedView` or `SecondaryIndex`.
    pub view_type: String,
    /// Its base table.
    pub base_table: String,
    /// Build state (least advanced node), empty before RECREATE_VIEWS.
    pub build_status: String,
}

/// The post-restore repair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRepairProgress {
    /// Scylla's task id(s), as stored in `restore_run.repair_task_id`.
    pub task_id: String,
    /// `RUNNING`, `SUCCESSFUL`, `FAILED` (Scylla's words), or empty before it starts.
    pub status: String,
    /// Tables repaired so far, of `tables_total`.
    pub tables_done: u64,
    /// Tables to repair.
    pub tables_total: u64,
}

/// The whole progress of a restore run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreProgress {
    /// The snapshot restored.
    pub snapshot_tag: String,
    /// The stage reached.
    pub stage: RestoreStage,
    /// Whether this is a schema restore (no data, no stages between INIT and DONE).
    pub restore_schema: bool,
    /// Bytes of the whole run.
    #[serde(flatten)]
    pub counters: RestoreCounters,
    /// Per keyspace, then table.
    pub keyspaces: Vec<RestoreKeyspaceProgress>,
    /// Per host.
    pub hosts: Vec<RestoreHostProgress>,
    /// Views and indexes.
    pub views: Vec<RestoreViewProgress>,
    /// The repair, once REPAIR is reached.
    pub repair: Option<RestoreRepairProgress>,
    /// Errors of failed batches, newest last.
    pub errors: Vec<String>,
}

/// The progress of `run` from its progress rows (views and repair from the run's record).
pub fn rollup(
    run: &crate::manager::store::RestoreRun,
    restore_schema: bool,
    rows: &[RestoreRunProgress],
) -> RestoreProgress {
    let mut keyspaces: Vec<RestoreKeyspaceProgress> = run
        .units
        .iter()
        .map(|u| RestoreKeyspaceProgress {
            keyspace: u.keyspace_name.clone(),
            counters: RestoreCounters::default(),
            tables: u
                .tables
                .iter()
                .map(|t| RestoreTableProgress {
                    table: t.table_name.clone(),
                    tombstone_gc: t.tombstone_gc.clone(),
                    counters: RestoreCounters {
                        size: t.size,
                        ..RestoreCounters::default()
                    },
                    started_at: None,
                    completed_at: None,
                })
                .collect(),
        })
        .collect();
    let mut last_restored: BTreeMap<(String, String), DateTime<Utc>> = BTreeMap::new();
    for row in rows {
        let table = keyspaces
            .iter_mut()
            .filter(|k| k.keyspace == row.keyspace_name)
            .flat_map(|k| k.tables.iter_mut())
            .find(|t| t.table == row.table_name);
        let Some(table) = table else { continue };
        table.counters.add_row(row);
        if let Some(s) = row.download_started_at {
            table.started_at = Some(table.started_at.map_or(s, |t| t.min(s)));
        }
        if let Some(c) = row.restore_completed_at {
            let key = (row.keyspace_name.clone(), row.table_name.clone());
            let e = last_restored.entry(key).or_insert(c);
            *e = (*e).max(c);
        }
    }
    let mut counters = RestoreCounters::default();
    for k in &mut keyspaces {
        for t in &mut k.tables {
            if t.counters.size > 0 && t.counters.restored >= t.counters.size {
                t.completed_at = last_restored
                    .get(&(k.keyspace.clone(), t.table.clone()))
                    .copied();
            }
            k.counters.add(&t.counters);
        }
        counters.add(&k.counters);
    }
    let tables_total = run.units.iter().map(|u| u.tables.len() as u64).sum();
    let repair = run.repair_task_id.as_ref().map(|id| {
        let done = run.stage > RestoreStage::Repair;
        RestoreRepairProgress {
            task_id: id.clone(),
            status: if done { "SUCCESSFUL" } else { "RUNNING" }.to_string(),
            tables_done: if done { tables_total } else { 0 },
            tables_total,
        }
    });
    RestoreProgress {
        snapshot_tag: run.snapshot_tag.to_string(),
        stage: run.stage,
        restore_schema,
        counters,
        keyspaces,
        hosts: hosts(run.stage, rows),
        views: run
            .views
            .iter()
            .map(|v| RestoreViewProgress {
                keyspace: v.keyspace_name.clone(),
                view: v.view_name.clone(),
                view_type: v.view_type.clone(),
                base_table: v.base_table.clone(),
                build_status: v.build_status.clone(),
            })
            .collect(),
        repair,
        errors: rows.iter().filter_map(|r| r.error.clone()).collect(),
    }
}

impl RestoreCounters {
    /// Adds one progress row's bytes.
    fn add_row(&mut self, row: &RestoreRunProgress) {
        self.restored += row.restored;
        self.downloaded += row.downloaded + row.versioned_downloaded + row.skipped;
        self.skipped += row.skipped;
        self.failed += row.failed;
    }

    /// Adds another level's bytes.
    pub fn add(&mut self, other: &RestoreCounters) {
        self.size += other.size;
        self.restored += other.restored;
        self.downloaded += other.downloaded;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }
}

/// Seconds from `from` to `to`, when both are known (0 otherwise).
fn seconds(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> f64 {
    match (from, to) {
        (Some(f), Some(t)) if t > f => (t - f).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    }
}

/// Bytes per second per shard (0 when no time was measured).
fn rate(bytes: u64, secs: f64, shards: u64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 / secs / shards.max(1) as f64
}

/// Per host: bytes, rates per shard over the finished downloads and loads, and what it does now.
fn hosts(stage: RestoreStage, rows: &[RestoreRunProgress]) -> Vec<RestoreHostProgress> {
    let mut by_host: BTreeMap<&str, Vec<&RestoreRunProgress>> = BTreeMap::new();
    for r in rows {
        by_host.entry(r.host.as_str()).or_default().push(r);
    }
    by_host
        .into_iter()
        .map(|(host, rows)| {
            let mut counters = RestoreCounters::default();
            let (mut down_bytes, mut down_secs) = (0u64, 0.0f64);
            let (mut stream_bytes, mut stream_secs) = (0u64, 0.0f64);
            let (mut downloading, mut loading) = (false, false);
            let shards = rows.iter().map(|r| r.shard_cnt).max().unwrap_or(0);
            for r in &rows {
                counters.add_row(r);
                if r.download_completed_at.is_some() {
                    down_bytes += r.downloaded + r.versioned_downloaded;
                    down_secs += seconds(r.download_started_at, r.download_completed_at);
                } else if r.download_started_at.is_some() && r.error.is_none() {
                    downloading = true;
                }
                if r.restore_completed_at.is_some() {
                    stream_bytes += r.restored;
                    stream_secs += seconds(r.download_completed_at, r.restore_completed_at);
                } else if r.restore_started_at.is_some() && r.error.is_none() {
                    loading = true;
                }
            }
            let state = match (downloading, loading) {
                (true, true) => "downloading+loading",
                (true, false) => "downloading",
                (false, true) => "loading",
                (false, false) if stage > RestoreStage::Data => "done",
                (false, false) => "idle",
            };
            RestoreHostProgress {
                host: host.to_string(),
                shards,
                counters,
                download_bytes_per_second_per_shard: rate(down_bytes, down_secs, shards),
                stream_bytes_per_second_per_shard: rate(stream_bytes, stream_secs, shards),
                state: state.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::store::{RestoreRun, RestoreTable, RestoreUnit, RestoreView};
    use chrono::TimeZone;
    use uuid::Uuid;

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        Some(Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap())
    }

    fn run(stage: RestoreStage) -> RestoreRun {
        RestoreRun {
            cluster_id: Uuid::nil(),
            task_id: Uuid::nil(),
            id: Uuid::nil(),
            prev_id: None,
            snapshot_tag: "sm_20260101000000UTC".parse().unwrap(),
            stage,
            repair_task_id: Some("h1=7".into()),
            units: vec![RestoreUnit {
                keyspace_name: "ks".into(),
                size: 300,
                tables: vec![
                    RestoreTable {
                        table_name: "a".into(),
                        size: 200,
                        tombstone_gc: "timeout".into(),
                    },
                    RestoreTable {
                        table_name: "b".into(),
                        size: 100,
                        tombstone_gc: "repair".into(),
                    },
                ],
            }],
            views: vec![RestoreView {
                keyspace_name: "ks".into(),
                view_name: "v".into(),
                base_table: "a".into(),
                view_type: "MaterializedView".into(),
                create_stmt: "CREATE ...".into(),
                build_status: "STARTED".into(),
            }],
            start_time: Utc::now(),
        }
    }

    fn row(host: &str, table: &str, downloaded: u64, skipped: u64) -> RestoreRunProgress {
        RestoreRunProgress {
            cluster_id: Uuid::nil(),
            task_id: Uuid::nil(),
            run_id: Uuid::nil(),
            remote_sstable_dir: format!("dir/{table}"),
            keyspace_name: "ks".into(),
            table_name: table.into(),
            host: host.into(),
            agent_job_id: format!("{host}-{table}-{downloaded}"),
            scylla_task_id: String::new(),
            sstable_id: vec!["1".into()],
            download_started_at: at(0),
            download_completed_at: None,
            restore_started_at: None,
            restore_completed_at: None,
            downloaded,
            versioned_downloaded: 0,
            skipped,
            restored: 0,
            failed: 0,
            error: None,
            shard_cnt: 2,
        }
    }

    #[test]
    fn bytes_roll_up_table_keyspace_run_and_rates_are_per_shard() {
        // h1 restored all of `a` in two batches: 10 s download, 5 s load&stream each.
        let mut done = Vec::new();
        for (i, bytes) in [(0i64, 120u64), (1, 80)] {
            let mut r = row("h1", "a", bytes, 0);
            r.agent_job_id = format!("j{i}");
            r.download_started_at = at(100 * i);
            r.download_completed_at = at(100 * i + 10);
            r.restore_started_at = at(100 * i + 10);
            r.restore_completed_at = at(100 * i + 15);
            r.restored = bytes;
            done.push(r);
        }
        // h2 is downloading `b`: 30 kept from an interrupted batch, 20 downloaded so far.
        let open = row("h2", "b", 20, 30);
        let rows = [done.clone(), vec![open]].concat();
        let p = rollup(&run(RestoreStage::Data), false, &rows);
        assert_eq!(p.counters.size, 300);
        assert_eq!(p.counters.restored, 200);
        assert_eq!(p.counters.downloaded, 250);
        assert_eq!(p.counters.skipped, 30);
        let ks = &p.keyspaces[0];
        assert_eq!(ks.counters.restored, 200);
        let a = &ks.tables[0];
        assert_eq!(
            (a.table.as_str(), a.tombstone_gc.as_str()),
            ("a", "timeout")
        );
        assert_eq!(a.started_at, at(0));
        assert_eq!(a.completed_at, at(115), "every byte of `a` is restored");
        assert_eq!(ks.tables[1].completed_at, None);
        let h1 = p.hosts.iter().find(|h| h.host == "h1").unwrap();
        // 200 bytes in 20 s over 2 shards; 200 bytes streamed in 10 s over 2 shards.
        assert_eq!(h1.download_bytes_per_second_per_shard, 5.0);
        assert_eq!(h1.stream_bytes_per_second_per_shard, 10.0);
        assert_eq!(h1.state, "idle");
        let h2 = p.hosts.iter().find(|h| h.host == "h2").unwrap();
        assert_eq!(h2.state, "downloading");
        assert_eq!(h2.download_bytes_per_second_per_shard, 0.0);
        assert_eq!(p.views[0].build_status, "STARTED");
        let repair = p.repair.unwrap();
        assert_eq!(
            (repair.status.as_str(), repair.tables_total),
            ("RUNNING", 2)
        );
    }

    #[test]
    fn host_state_follows_its_open_rows_and_failed_rows_are_errors() {
        let mut loading = row("h", "a", 10, 0);
        loading.download_completed_at = at(5);
        loading.restore_started_at = at(5);
        let downloading = row("h", "b", 5, 0);
        let mut failed = row("h2", "a", 0, 0);
        failed.error = Some("boom".into());
        let p = rollup(
            &run(RestoreStage::Data),
            false,
            &[loading.clone(), downloading, failed],
        );
        assert_eq!(p.hosts[0].state, "downloading+loading");
        assert_eq!(p.hosts[1].state, "idle");
        assert_eq!(p.errors, vec!["boom".to_string()]);
        let p = rollup(&run(RestoreStage::Done), false, &[]);
        assert!(p.hosts.is_empty());
        assert_eq!(p.repair.unwrap().tables_done, 2);
    }
}
