//! The DISABLE_TGC and ENABLE_TGC stages (spec §3): schema agreement awaited, then each restored
//! table's `tombstone_gc` set to `disabled`, and later back to the mode it had.

use scylla::client::session::Session;

use super::target::InitError;
use crate::manager::store::RestoreUnit;

/// Waits until every node reports one schema version.
pub async fn await_schema_agreement(session: &Session) -> Result<(), InitError> {
    let _ = session;
    Err(InitError::NotYet)
}

/// Sets every table of `units` to `tombstone_gc = {'mode':'disabled'}`, or (`original`) back to
/// the mode each had; awaits schema agreement first.
pub async fn set_tombstone_gc(
    session: &Session,
    units: &[RestoreUnit],
    original: bool,
) -> Result<(), InitError> {
    let _ = (session, units, original);
    Err(InitError::NotYet)
}
