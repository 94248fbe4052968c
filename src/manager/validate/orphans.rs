//! Orphans: listed files no manifest (final or temporary) references, and which of them may be
//! deleted. A file is never deleted when it was modified after the cut-off (the oldest run that
//! may still resume, or the grace period before validation started, whichever is earlier), or
//! when the listing gives it no modification time. Deletion goes in batches of 1,000.

use chrono::{DateTime, Utc};

use crate::agent::wire::Entry;

/// Files in one delete call.
pub const DELETE_BATCH: usize = 1000;

/// Whether the orphan `entry` may be deleted: only when it was last modified at or before
/// `cutoff`.
pub fn deletable(entry: &Entry, cutoff: DateTime<Utc>) -> bool {
    entry.modified.is_some_and(|m| m <= cutoff)
}
