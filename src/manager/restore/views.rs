//! The DROP_VIEWS and RECREATE_VIEWS stages (spec §3): views and secondary indexes over restored
//! tables dropped before DATA, created again after, and awaited until every node has built them.

use scylla::client::session::Session;

use super::target::{Init, InitError};
use crate::manager::store::RestoreView;

/// Drops every view and index of `views` (`IF EXISTS`), retrying timeouts.
pub async fn drop_views(session: &Session, views: &[RestoreView]) -> Result<(), InitError> {
    let _ = (session, views);
    Err(InitError::NotYet)
}

/// Creates `views` again and polls their build status on every node until all report
/// `SUCCESS`; `on_change` is told each time a view's `build_status` changes (for progress).
pub async fn recreate_views(
    session: &Session,
    init: &Init,
    views: &mut [RestoreView],
    on_change: &mut (dyn FnMut(&[RestoreView]) + Send),
) -> Result<(), InitError> {
    let _ = (session, init, views, on_change);
    Err(InitError::NotYet)
}
