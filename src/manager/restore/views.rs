//! The DROP_VIEWS and RECREATE_VIEWS stages (spec §3): views and secondary indexes over restored
//! tables dropped before DATA, created again after, and awaited until every node has built them.

use std::time::{Duration, Instant};

use scylla::client::session::Session;

use super::cql::{self, SECONDARY_INDEX, qualified};
use super::target::{Init, InitError};
use crate::manager::store::RestoreView;

/// First pause before a timed-out statement is sent again.
const RETRY_FIRST: Duration = Duration::from_secs(5);
/// Longest pause between two tries.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How long a statement is retried on timeouts.
const RETRY_FOR: Duration = Duration::from_secs(15 * 60);
/// Pause between two looks at the build statuses (upstream's).
const BUILD_POLL: Duration = Duration::from_secs(10);
/// The status of a view built on a node.
pub const SUCCESS: &str = "SUCCESS";
/// The status of a view a node has not reported on.
pub const UNKNOWN: &str = "UNKNOWN";

/// The statement dropping `view`.
fn drop_statement(view: &RestoreView) -> String {
    let kind = if view.view_type == SECONDARY_INDEX {
        "INDEX"
    } else {
        "MATERIALIZED VIEW"
    };
    format!(
        "DROP {kind} IF EXISTS {}",
        qualified(&view.keyspace_name, &view.view_name)
    )
}

/// The table Scylla builds for `view` (an index's `<name>_index`).
fn view_table(view: &RestoreView) -> String {
    if view.view_type == SECONDARY_INDEX {
        format!("{}_index", view.view_name)
    } else {
        view.view_name.clone()
    }
}

/// Runs `statement`, sending it again after a timeout (5 s, doubling to 1 min, for 15 min).
async fn execute_retrying(session: &Session, statement: &str) -> Result<(), InitError> {
    let start = Instant::now();
    let mut pause = RETRY_FIRST;
    loop {
        match cql::execute(session, statement).await {
            Err(e) if e.retryable() && start.elapsed() + pause < RETRY_FOR => {
                tracing::warn!(%statement, error = %e, "statement timed out; sending it again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
            other => return other,
        }
    }
}

/// Drops every view and index of `views` (`IF EXISTS`), retrying timeouts.
pub async fn drop_views(session: &Session, views: &[RestoreView]) -> Result<(), InitError> {
    for v in views {
        execute_retrying(session, &drop_statement(v)).await?;
    }
    Ok(())
}

/// The least advanced of `statuses` (host ID, status) over the nodes `hosts`: a node without a
/// status counts as `UNKNOWN`.
fn least_advanced(statuses: &[(String, String)], hosts: &[&str]) -> String {
    let rank = |s: &str| match s {
        SUCCESS => 2,
        "STARTED" => 1,
        _ => 0,
    };
    hosts
        .iter()
        .map(|h| {
            statuses
                .iter()
                .find(|(id, _)| id == h)
                .map(|(_, s)| s.as_str())
                .unwrap_or(UNKNOWN)
        })
        .min_by_key(|s| rank(s))
        .unwrap_or(UNKNOWN)
        .to_string()
}

/// The build statuses of `view` on every node, asked through the first agent that answers.
async fn build_statuses(
    init: &Init,
    view: &RestoreView,
) -> Result<Vec<(String, String)>, InitError> {
    let table = view_table(view);
    let mut last = None;
    for n in &init.view.nodes {
        match init
            .client
            .for_host(&n.address)
            .view_build_statuses(&view.keyspace_name, &table)
            .await
        {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map(InitError::from).unwrap_or(InitError::NodesDown {
        nodes: vec![("-".into(), "the cluster has no nodes".into())],
    }))
}

/// Creates `views` again and polls their build status on every node until all report
/// `SUCCESS`; `on_change` is told each time a view's `build_status` changes (for progress).
pub async fn recreate_views(
    session: &Session,
    init: &Init,
    views: &mut [RestoreView],
    on_change: &mut (dyn FnMut(&[RestoreView]) + Send),
) -> Result<(), InitError> {
    for v in views.iter() {
        execute_retrying(session, &v.create_stmt).await?;
    }
    let hosts: Vec<&str> = init.view.nodes.iter().map(|n| n.host_id.as_str()).collect();
    loop {
        let mut changed = false;
        for v in views.iter_mut().filter(|v| v.build_status != SUCCESS) {
            let statuses = build_statuses(init, v).await?;
            let status = least_advanced(&statuses, &hosts);
            if status != v.build_status {
                v.build_status = status;
                changed = true;
            }
        }
        if changed {
            on_change(views);
        }
        if views.iter().all(|v| v.build_status == SUCCESS) {
            return Ok(());
        }
        tokio::time::sleep(BUILD_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(kind: &str) -> RestoreView {
        RestoreView {
            keyspace_name: "ks".into(),
            view_name: "v".into(),
            base_table: "t".into(),
            view_type: kind.into(),
            create_stmt: String::new(),
            build_status: String::new(),
        }
    }

    #[test]
    fn indexes_and_views_drop_and_build_under_their_names() {
        let idx = view(SECONDARY_INDEX);
        assert_eq!(drop_statement(&idx), "DROP INDEX IF EXISTS ks.v");
        assert_eq!(view_table(&idx), "v_index");
        let mv = view(cql::MATERIALIZED_VIEW);
        assert_eq!(drop_statement(&mv), "DROP MATERIALIZED VIEW IF EXISTS ks.v");
        assert_eq!(view_table(&mv), "v");
    }

    #[test]
    fn the_least_advanced_node_decides() {
        let s = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let hosts = ["a", "b"];
        assert_eq!(
            least_advanced(&s(&[("a", "SUCCESS"), ("b", "SUCCESS")]), &hosts),
            "SUCCESS"
        );
        assert_eq!(
            least_advanced(&s(&[("a", "SUCCESS"), ("b", "STARTED")]), &hosts),
            "STARTED"
        );
        assert_eq!(least_advanced(&s(&[("a", "SUCCESS")]), &hosts), "UNKNOWN");
    }
}
