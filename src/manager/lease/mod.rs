//! The storage-level lease (DESIGN.md invariant 9): only one manager writes or purges a cluster's
//! backups in a location at a time.
//!
//! A run (or a `backup delete`) holds `backup/meta/cluster/<cluster>/lease.json` in every location
//! it writes or purges: JSON naming the manager (its identity and hostname), the run, the task and
//! when the lease expires. The manager never reaches a store itself: an agent of the cluster does
//! the conditional writes (`PUT /agent/files/write?mode=create|update`).
//!
//! - **Take**: create the object only if absent (S3 `If-None-Match: *`, GCS generation 0, Azure
//!   `If-None-Match: *`, local files by hard link). If it exists and is not expired (and is not
//!   this manager's own, left by its previous process on this host), the run is refused with a
//!   message naming the holder.
//! - **Take over an expired lease**: replace it only if it is still the version read (`If-Match`
//!   on the ETag, GCS generation match), so two managers racing for it cannot both win. Where the
//!   store cannot do that (local directories: `object_store` has no conditional update there),
//!   the takers race to create `lease.json.takeover-<nonce of the expired lease>` instead: only
//!   one creates it, and only that one replaces the lease.
//! - Every write is read back and its `nonce` compared, which also catches a store that ignores
//!   the condition when the other writer landed first.
//! - **Renew** every third of the lease's time to live (`backup.lease_ttl`), with the same
//!   conditional update; finding another holder's lease fails the run ("lease lost").
//! - **Release** at the run's end (done, failed, stopped): the object is deleted if still ours.
//!
//! Runs of one manager process share its lease of a location (the manager already protects its
//! own runs from each other's purges), counted in a process-wide table.
//!
//! Residual risks: expiry is judged by the taker's clock (keep the managers' clocks in sync; the
//! default time to live is minutes); a holder stalled longer than its time to live finds out only
//! at its next renewal; deleting (release) is read-then-delete, not conditional.
//!
//! Files: `identity.rs` (who this process is, the settings it takes leases with) and `object.rs`
//! (one location's lease object: the record it holds; taking, renewing and releasing it).

mod identity;
mod object;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex as StdMutex};
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::format::location::Location;
use crate::format::paths::remote_lease_file;
use crate::manager::agent_client::{AgentClient, error::AgentError};

pub(crate) use identity::hostname;
pub use identity::{Identity, LeaseSettings, configure, settings};
pub use object::LeaseRecord;
use object::{Target, Written};

/// The default time to live of a lease (`backup.lease_ttl`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Shortest accepted time to live.
pub const MIN_TTL: Duration = Duration::from_secs(3);
/// Longest accepted time to live.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Attempts to take a lease that keeps changing under us.
pub(crate) const TAKE_ATTEMPTS: usize = 4;

/// Why a lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another manager (or another process of this one) holds the lease.
    #[error(
        "location {location}: {path} is held by {holder}: another manager writes or purges this cluster's backups there; try again after the lease expires, or stop that manager"
    )]
    Held {
        /// The location.
        location: String,
        /// The lease object.
        path: String,
        /// Who holds it, until when.
        holder: String,
    },
    /// The lease was taken over by someone else while the run held it.
    #[error("location {location}: the lease {path} was lost: {reason}")]
    Lost {
        /// The location.
        location: String,
        /// The lease object.
        path: String,
        /// What was found.
        reason: String,
    },
    /// An agent call failed.
    #[error("location {location}: lease {path}: {source}")]
    Agent {
        /// The location.
        location: String,
        /// The lease object.
        path: String,
        /// What failed.
        #[source]
        source: Box<AgentError>,
    },
    /// No host of the run reaches the location.
    #[error("location {location}: no agent to take the lease through")]
    NoHost {
        /// The location.
        location: String,
    },
    /// The manager's identity file cannot be read or written.
    #[error("manager identity file {path}: {reason}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl LeaseError {
    /// Whether the lease could not be read or written at all (the store or the agents failed),
    /// as opposed to being held by another manager or lost.
    pub fn unreachable(&self) -> bool {
        matches!(self, LeaseError::Agent { .. } | LeaseError::NoHost { .. })
    }
}

/// What takes a lease: a run of a task, or a `backup delete`.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The task (none for `backup delete`).
    pub task: Option<Uuid>,
    /// The run or operation.
    pub run: Uuid,
    /// What for (`backup`, `backup delete`).
    pub purpose: &'static str,
}

/// One location's lease held by this process, shared by its runs.
struct Shared {
    /// Where.
    target: Target,
    /// Runs holding it now.
    users: usize,
    /// Stops the renewal.
    stop: CancellationToken,
    /// The renewal task: awaited on release, so that a renewal in flight has recorded its write
    /// before the release compares it with the store's.
    renewal: tokio::task::JoinHandle<()>,
    /// The last write, for the release.
    written: Arc<StdMutex<Written>>,
    /// Why it was lost, once it was.
    lost: Arc<StdMutex<Option<String>>>,
    /// Cancelled when it is lost (every user's run).
    on_lost: Arc<StdMutex<Vec<CancellationToken>>>,
}

/// Key of the process-wide table: the manager process (its instance), the location and the
/// cluster.
type Key = (Uuid, String, Uuid);

/// One key's lease in this process: `None` while not held. Its lock is held while the lease is
/// taken or released, so that runs of this process wait for each other rather than race.
type Slot = Arc<tokio::sync::Mutex<Option<Shared>>>;

/// Leases of this process, by key.
static HELD: LazyLock<StdMutex<HashMap<Key, Slot>>> =
    LazyLock::new(|| StdMutex::new(HashMap::new()));

/// The slot of `key`.
fn slot(key: &Key) -> Slot {
    let mut table = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    table.entry(key.clone()).or_default().clone()
}

/// The leases of one run (or `backup delete`) in its locations; give them back with
/// [`Lease::release`] (a dropped `Lease` releases them in the background).
#[derive(Debug)]
pub struct Lease {
    /// The table keys held.
    keys: Vec<Key>,
    /// Why a lease was lost, shared with its renewal.
    lost: Vec<Arc<StdMutex<Option<String>>>>,
    /// Whether already given back.
    released: bool,
}

impl Lease {
    /// Takes the lease of `cluster` in every location, each through its agents (tried in
    /// order); `on_lost` is cancelled if a lease is lost while held. Refuses (taking nothing) if
    /// another manager holds one.
    pub async fn take(
        settings: &LeaseSettings,
        locations: Vec<(Location, Vec<AgentClient>)>,
        cluster: Uuid,
        holder: Holder,
        on_lost: CancellationToken,
    ) -> Result<Lease, LeaseError> {
        let mut merged: Vec<(Location, Vec<AgentClient>)> = Vec::new();
        for (l, clients) in locations {
            let l = l.without_dc();
            match merged.iter_mut().find(|(m, _)| *m == l) {
                Some((_, c)) => c.extend(clients),
                None => merged.push((l, clients)),
            }
        }
        merged.sort_by_key(|(l, _)| l.to_string());
        let mut lease = Lease {
            keys: Vec::new(),
            lost: Vec::new(),
            released: false,
        };
        for (location, clients) in merged {
            let key = (settings.identity.instance, location.to_string(), cluster);
            let slot = slot(&key);
            let mut slot = slot.lock().await;
            if let Some(shared) = slot.as_mut() {
                shared.users = shared.users.saturating_add(1);
                if let Ok(mut l) = shared.on_lost.lock() {
                    l.push(on_lost.clone());
                }
                lease.lost.push(shared.lost.clone());
                lease.keys.push(key);
                continue;
            }
            let target = Target {
                location,
                path: remote_lease_file(cluster),
                clients,
            };
            let taken = if target.clients.is_empty() {
                Err(LeaseError::NoHost {
                    location: target.location.to_string(),
                })
            } else {
                target.take(settings, cluster, &holder).await
            };
            let written = match taken {
                Ok(w) => w,
                Err(e) => {
                    drop(slot);
                    lease.release().await;
                    return Err(e);
                }
            };
            tracing::info!(location = %target.location, lease = %written.record, "lease taken");
            let stop = CancellationToken::new();
            let written = Arc::new(StdMutex::new(written));
            let lost = Arc::new(StdMutex::new(None));
            let users_lost = Arc::new(StdMutex::new(vec![on_lost.clone()]));
            let renewal = tokio::spawn(renew_loop(
                settings.clone(),
                target.clone(),
                written.clone(),
                lost.clone(),
                users_lost.clone(),
                stop.clone(),
            ));
            let shared = Shared {
                target,
                users: 1,
                stop,
                renewal,
                written,
                lost,
                on_lost: users_lost,
            };
            lease.lost.push(shared.lost.clone());
            lease.keys.push(key);
            *slot = Some(shared);
        }
        Ok(lease)
    }

    /// Why a lease was lost while held, if one was.
    pub fn lost(&self) -> Option<String> {
        self.lost
            .iter()
            .find_map(|l| l.lock().ok().and_then(|l| l.clone()))
    }

    /// Gives the leases back: each is deleted once no run of this process holds it.
    pub async fn release(mut self) {
        self.released = true;
        release_keys(std::mem::take(&mut self.keys)).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released || self.keys.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.keys);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(release_keys(keys));
        }
    }
}

/// Drops one user of each key; the last one stops the renewal and deletes the object (under
/// the key's lock, so that a run of this process taking the same lease meanwhile waits for the
/// deletion instead of being refused by it).
async fn release_keys(keys: Vec<Key>) {
    for key in keys {
        let slot = slot(&key);
        let mut slot = slot.lock().await;
        let Some(shared) = slot.as_mut() else {
            continue;
        };
        shared.users = shared.users.saturating_sub(1);
        if shared.users > 0 {
            continue;
        }
        if let Some(shared) = slot.take() {
            shared.stop.cancel();
            // A renewal in flight may have rewritten the object: wait until it has recorded
            // that write, or the release would find a nonce it does not know and leave the
            // lease to expire.
            let _ = shared.renewal.await;
            let written = shared.written.lock().ok().map(|w| w.clone());
            if let Some(w) = written {
                shared.target.release(&w).await;
                tracing::info!(location = %shared.target.location, "lease released");
            }
        }
    }
}

/// Renews a lease every third of its time to live until stopped; on loss records why and
/// cancels its users' runs. A renewal that cannot reach the store is retried until the lease
/// would expire, then the lease counts as lost.
async fn renew_loop(
    settings: LeaseSettings,
    target: Target,
    written: Arc<StdMutex<Written>>,
    lost: Arc<StdMutex<Option<String>>>,
    on_lost: Arc<StdMutex<Vec<CancellationToken>>>,
    stop: CancellationToken,
) {
    let every = settings.ttl / 3;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let Some(held) = written.lock().ok().map(|w| w.clone()) else {
            return;
        };
        let failure = match target.renew(&settings, &held).await {
            Ok(w) => {
                if let Ok(mut slot) = written.lock() {
                    *slot = w;
                }
                continue;
            }
            Err(LeaseError::Agent { source, .. }) if held.record.expires > Utc::now() => {
                tracing::warn!(location = %target.location, error = %source, "could not renew the lease; trying again");
                continue;
            }
            Err(e) => e.to_string(),
        };
        if stop.is_cancelled() {
            return;
        }
        tracing::error!(location = %target.location, reason = %failure, "lease lost: stopping the runs that held it");
        if let Ok(mut l) = lost.lock() {
            *l = Some(failure);
        }
        if let Ok(tokens) = on_lost.lock() {
            tokens.iter().for_each(CancellationToken::cancel);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::object::fresh;
    use super::*;

    #[test]
    fn the_holder_message_names_manager_host_run_task_and_expiry() {
        let s = LeaseSettings {
            identity: Identity {
                manager: Uuid::nil(),
                hostname: "db-admin-1".into(),
                instance: Uuid::nil(),
            },
            ttl: Duration::from_secs(60),
        };
        let (task, run) = (Uuid::new_v4(), Uuid::new_v4());
        let r = fresh(
            &s,
            Uuid::nil(),
            &Holder {
                task: Some(task),
                run,
                purpose: "backup",
            },
            None,
        );
        let text = r.to_string();
        for needle in [
            Uuid::nil().to_string(),
            "db-admin-1".into(),
            run.to_string(),
            task.to_string(),
            r.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ] {
            assert!(text.contains(&needle), "{needle} not in {text}");
        }
    }

    #[test]
    fn the_identity_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("manager.id");
        let a = Identity::load(&file).unwrap();
        let b = Identity::load(&file).unwrap();
        assert_eq!(a.manager, b.manager);
        assert_ne!(a.instance, b.instance);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&file, "garbage\n").unwrap();
        let e = Identity::load(&file).unwrap_err().to_string();
        assert!(e.contains("manager.id") && e.contains("not a UUID"), "{e}");
    }
}
