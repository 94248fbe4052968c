//! One location's node directories fanned out to the hosts that reach it: each host checks its
//! own node's directory first, then takes directories from a shared queue (those of nodes no
//! longer in the cluster included), `parallel` hosts at once. A host whose check fails with a
//! retryable error is retried once; failing again, it gives the directory back and is dropped.
//! Directories no host is left to check get a report with the last error. Each host's progress
//! row goes to the progress actor on every report the check hands over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use chrono::Utc;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::location::NodeManifests;
use super::node::{NodeOptions, validate_node};
use super::progress::{RowKey, host_row};
use super::report::NodeReport;
use super::targets::{Host, LocationTarget};
use crate::manager::agent_client::AgentClient;
use crate::manager::progress_actor::{ProgressActor, ProgressUpdate};
use crate::manager::store::{RunKey, ValidateRunProgress};

/// Wait before retrying a node directory whose check failed with a retryable error.
const RETRY_WAIT: Duration = Duration::from_secs(2);

/// What the fan-out of one location is given.
pub struct LocationWork<'a> {
    /// The run.
    pub run: RunKey,
    /// The location, its hosts and directories.
    pub target: LocationTarget,
    /// How each directory is checked.
    pub options: &'a NodeOptions,
    /// Hosts checking at once (0: all).
    pub parallel: usize,
    /// Where rows go.
    pub progress: Addr<ProgressActor<ValidateRunProgress>>,
    /// Cancelled to stop.
    pub cancel: CancellationToken,
}

/// One host's row as it grows.
struct HostRow {
    /// The row's key.
    key: RowKey,
    /// Node reports finished.
    done: Vec<NodeReport>,
    /// When the host started.
    started: chrono::DateTime<Utc>,
}

impl HostRow {
    /// The row with `current` (the directory in progress) beside the finished ones.
    fn row(&self, current: Option<&NodeReport>) -> ValidateRunProgress {
        let mut nodes = self.done.clone();
        nodes.extend(current.cloned());
        let mut row = host_row(&self.key, &nodes);
        row.started_at = Some(self.started);
        row
    }
}

/// The directories not taken yet and the last failure of each given back.
#[derive(Default)]
struct Queue {
    /// Directories waiting.
    dirs: VecDeque<NodeManifests>,
    /// For a directory given back: the host that failed on it and why.
    failed: Vec<(String, String, String)>,
}

impl Queue {
    /// The next directory for `host`: its own node's first.
    fn take(&mut self, host: &Host) -> Option<NodeManifests> {
        let own = self
            .dirs
            .iter()
            .position(|d| d.dc == host.dc && d.node_id == host.host_id);
        match own {
            Some(i) => self.dirs.remove(i),
            None => self.dirs.pop_front(),
        }
    }
}

/// Checks every directory of the location; returns the final row of each host that reaches
/// it (directories no host could check are in the row of the host that failed on them last).
pub async fn validate_location(work: LocationWork<'_>) -> Vec<ValidateRunProgress> {
    let location = work.target.location.to_string();
    let queue = Mutex::new(Queue {
        dirs: work.target.dirs.iter().cloned().collect(),
        failed: Vec::new(),
    });
    let rows: Vec<(Host, AgentClient, Arc<Mutex<HostRow>>)> = work
        .target
        .hosts
        .iter()
        .map(|(h, c)| {
            let row = HostRow {
                key: RowKey {
                    run: work.run,
                    dc: h.dc.clone(),
                    host: h.address.clone(),
                    location: location.clone(),
                },
                done: Vec::new(),
                started: Utc::now(),
            };
            work.progress.do_send(ProgressUpdate(row.row(None)));
            (h.clone(), c.clone(), Arc::new(Mutex::new(row)))
        })
        .collect();
    let mut alive: Vec<usize> = (0..rows.len()).collect();
    loop {
        let waiting = queue.lock().map(|q| !q.dirs.is_empty()).unwrap_or(false);
        if !waiting || alive.is_empty() || work.cancel.is_cancelled() {
            break;
        }
        let at_once = if work.parallel == 0 {
            alive.len()
        } else {
            work.parallel
        };
        let failed: Vec<usize> = futures::stream::iter(alive.iter().copied())
            .map(|i| {
                let (host, client, row) = &rows[i];
                let queue = &queue;
                let work = &work;
                async move { (!host_loop(work, host, client, row, queue).await).then_some(i) }
            })
            .buffer_unordered(at_once)
            .filter_map(|x| async move { x })
            .collect()
            .await;
        alive.retain(|i| !failed.contains(i));
    }
    if !work.cancel.is_cancelled()
        && let Ok(mut q) = queue.lock()
    {
        let left: Vec<NodeManifests> = q.dirs.drain(..).collect();
        for dir in left {
            let last = q
                .failed
                .iter()
                .rev()
                .find(|(dc, id, _)| *dc == dir.dc && *id == dir.node_id)
                .map(|(_, _, why)| why.clone())
                .unwrap_or_else(|| "no host reaching the location was left".into());
            let holder = rows
                .iter()
                .find(|(h, _, _)| last.starts_with(&format!("{}: ", h.address)))
                .or(rows.first());
            if let Some((_, _, row)) = holder
                && let Ok(mut r) = row.lock()
            {
                r.done.push(NodeReport {
                    dc: dir.dc.clone(),
                    node_id: dir.node_id.clone(),
                    manifests: dir.finals.len() as u64,
                    temporary_manifests: dir.temporaries.len() as u64,
                    error: Some(format!("no host could check it: {last}")),
                    ..NodeReport::default()
                });
            }
        }
    }
    let stopped = work.cancel.is_cancelled();
    rows.iter()
        .filter_map(|(_, _, row)| row.lock().ok().map(|r| r.row(None)))
        .map(|mut row| {
            if !stopped {
                row.completed_at = Some(Utc::now());
            }
            work.progress.do_send(ProgressUpdate(row.clone()));
            row
        })
        .collect()
}

/// One host taking directories until none is left; `false` when it failed and was dropped.
async fn host_loop(
    work: &LocationWork<'_>,
    host: &Host,
    client: &AgentClient,
    row: &Arc<Mutex<HostRow>>,
    queue: &Mutex<Queue>,
) -> bool {
    let location = &work.target.location;
    loop {
        if work.cancel.is_cancelled() {
            return true;
        }
        let Some(dir) = queue.lock().ok().and_then(|mut q| q.take(host)) else {
            return true;
        };
        let progress = work.progress.clone();
        let row_for_progress = row.clone();
        let on_progress = move |current: &NodeReport| {
            if let Ok(r) = row_for_progress.lock() {
                progress.do_send(ProgressUpdate(r.row(Some(current))));
            }
        };
        let mut retried = false;
        let report = loop {
            match validate_node(
                client,
                location,
                &dir,
                work.options,
                &work.cancel,
                &on_progress,
            )
            .await
            {
                Ok(r) => break r,
                Err(e) if e.retryable() && !retried && !work.cancel.is_cancelled() => {
                    tracing::warn!(%host.address, %location, node = %dir.node_id, error = %e, "validating a node directory failed; trying again");
                    retried = true;
                    tokio::time::sleep(RETRY_WAIT).await;
                }
                Err(e) if e.retryable() => {
                    tracing::warn!(%host.address, %location, node = %dir.node_id, error = %e, "the host is dropped; its node directory goes to another");
                    if let Ok(mut q) = queue.lock() {
                        q.failed.push((
                            dir.dc.clone(),
                            dir.node_id.clone(),
                            format!("{}: {e}", host.address),
                        ));
                        q.dirs.push_back(dir);
                    }
                    return false;
                }
                Err(e) => {
                    break NodeReport {
                        dc: dir.dc.clone(),
                        node_id: dir.node_id.clone(),
                        manifests: dir.finals.len() as u64,
                        temporary_manifests: dir.temporaries.len() as u64,
                        error: Some(e.to_string()),
                        ..NodeReport::default()
                    };
                }
            }
        };
        if work.cancel.is_cancelled() {
            return true;
        }
        let mut report = report;
        if report.checked_by.is_empty() {
            report.checked_by = host.address.clone();
        }
        if let Ok(mut r) = row.lock() {
            r.done.push(report);
            progress_now(&work.progress, &r);
        }
    }
}

/// Sends a host's row as it stands.
fn progress_now(progress: &Addr<ProgressActor<ValidateRunProgress>>, row: &HostRow) {
    progress.do_send(ProgressUpdate(row.row(None)));
}
