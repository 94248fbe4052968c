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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex as StdMutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::agent_client::{AgentClient, AgentError, ObjectVersion, Root, WriteCondition};
use crate::spec::location::Location;
use crate::spec::paths::remote_lease_file;

/// The default time to live of a lease (`backup.lease_ttl`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Shortest accepted time to live.
pub const MIN_TTL: Duration = Duration::from_secs(3);
/// Longest accepted time to live.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Attempts to take a lease that keeps changing under us.
const TAKE_ATTEMPTS: usize = 4;

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

/// Who this manager process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The manager's identity, generated once and kept in its identity file.
    pub manager: Uuid,
    /// The machine's hostname, for the messages.
    pub hostname: String,
    /// This process (a new one at every start).
    pub instance: Uuid,
}

impl Identity {
    /// A new identity, kept nowhere (tests, and managers that did not configure one).
    pub fn ephemeral() -> Self {
        Identity {
            manager: Uuid::new_v4(),
            hostname: super::backup::run::hostname(),
            instance: Uuid::new_v4(),
        }
    }

    /// The identity kept in `file`: read, or generated and written (mode 0600) on first use.
    pub fn load(file: &Path) -> Result<Self, LeaseError> {
        let bad = |reason: String| LeaseError::Identity {
            path: file.to_path_buf(),
            reason,
        };
        let manager = match std::fs::read_to_string(file) {
            Ok(text) => text.trim().parse::<Uuid>().map_err(|e| {
                bad(format!(
                    "holds {:?}, not a UUID ({e}); remove it to make a new identity",
                    text.trim()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let id = Uuid::new_v4();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(file)
                    .map_err(|e| bad(format!("cannot create it: {e}")))?;
                writeln!(f, "{id}").map_err(|e| bad(format!("cannot write it: {e}")))?;
                id
            }
            Err(e) => return Err(bad(format!("cannot read it: {e}"))),
        };
        Ok(Identity {
            manager,
            ..Identity::ephemeral()
        })
    }
}

/// How this manager takes leases.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Who takes them.
    pub identity: Identity,
    /// How long a lease lives without renewal.
    pub ttl: Duration,
}

/// The daemon's settings, set once at start.
static SETTINGS: OnceLock<LeaseSettings> = OnceLock::new();

/// Sets the process's lease settings (the daemon, once at start); a second call changes nothing.
pub fn configure(settings: LeaseSettings) {
    let _ = SETTINGS.set(settings);
}

/// The process's lease settings: as configured, else an ephemeral identity and the default TTL.
pub fn settings() -> &'static LeaseSettings {
    SETTINGS.get_or_init(|| LeaseSettings {
        identity: Identity::ephemeral(),
        ttl: DEFAULT_TTL,
    })
}

/// What the lease object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// The holding manager's identity.
    pub manager: Uuid,
    /// Its hostname.
    pub hostname: String,
    /// Its process.
    pub instance: Uuid,
    /// The cluster.
    pub cluster: Uuid,
    /// The task of the run that took it (none for `backup delete`).
    pub task: Option<Uuid>,
    /// The run (or the `backup delete` operation) that took it.
    pub run: Uuid,
    /// What it is held for (`backup`, `backup delete`).
    pub purpose: String,
    /// When this holder took it.
    pub acquired: DateTime<Utc>,
    /// When it expires unless renewed.
    pub expires: DateTime<Utc>,
    /// Unique to each write of the object.
    pub nonce: Uuid,
}

impl std::fmt::Display for LeaseRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "manager {} on {} ({}, run {}",
            self.manager, self.hostname, self.purpose, self.run
        )?;
        if let Some(task) = self.task {
            write!(f, " of task {task}")?;
        }
        write!(
            f,
            ") until {}",
            self.expires
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
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

/// One location's lease object and the agents that reach it.
#[derive(Debug, Clone)]
struct Target {
    /// The location (without DC).
    location: Location,
    /// `backup/meta/cluster/<cluster>/lease.json`.
    path: String,
    /// Agents to write through, tried in order.
    clients: Vec<AgentClient>,
}

/// A lease as last written by us.
#[derive(Debug, Clone)]
struct Written {
    /// Its content.
    record: LeaseRecord,
}

impl Target {
    /// An error of an agent call.
    fn agent(&self, source: AgentError) -> LeaseError {
        LeaseError::Agent {
            location: self.location.to_string(),
            path: self.path.clone(),
            source: Box::new(source),
        }
    }

    /// Refused: `holder` holds it.
    fn held(&self, holder: &LeaseRecord) -> LeaseError {
        LeaseError::Held {
            location: self.location.to_string(),
            path: self.path.clone(),
            holder: holder.to_string(),
        }
    }

    /// Lost to `reason`.
    fn lost(&self, reason: String) -> LeaseError {
        LeaseError::Lost {
            location: self.location.to_string(),
            path: self.path.clone(),
            reason,
        }
    }

    /// Runs `op` through the first agent that answers (an answer that is an error counts).
    async fn through<T, F, Fut>(&self, mut op: F) -> Result<T, AgentError>
    where
        F: FnMut(AgentClient) -> Fut,
        Fut: Future<Output = Result<T, AgentError>>,
    {
        let mut last = None;
        for c in &self.clients {
            match op(c.clone()).await {
                Err(e @ (AgentError::Connect { .. } | AgentError::Timeout { .. })) => {
                    last = Some(e)
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| AgentError::Client {
            host: "-".into(),
            reason: "no agent".into(),
        }))
    }

    /// The lease object and its version; `None` when there is none. An object that is not a
    /// lease is reported as held by "an unreadable lease".
    async fn read(&self) -> Result<Option<(LeaseRecord, ObjectVersion)>, LeaseError> {
        let got = self
            .through(|c| async move { c.read_file_versioned(&self.location, &self.path).await })
            .await;
        match got {
            Ok((body, version)) => match serde_json::from_slice::<LeaseRecord>(&body) {
                Ok(r) => Ok(Some((r, version))),
                Err(e) => Err(LeaseError::Held {
                    location: self.location.to_string(),
                    path: self.path.clone(),
                    holder: format!(
                        "an object that is not a lease this manager reads ({e}); remove it if no other manager uses this location"
                    ),
                }),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.agent(e)),
        }
    }

    /// Writes `record` under `condition`.
    async fn write(
        &self,
        record: &LeaseRecord,
        condition: Option<WriteCondition<'_>>,
    ) -> Result<ObjectVersion, AgentError> {
        let body = Bytes::from(serde_json::to_vec_pretty(record).unwrap_or_default());
        self.through(|c| {
            let body = body.clone();
            async move {
                match condition {
                    Some(cond) => {
                        c.write_file_if(&self.location, &self.path, body, cond)
                            .await
                    }
                    None => {
                        c.write_file(&self.location, &self.path, body).await?;
                        Ok(ObjectVersion::default())
                    }
                }
            }
        })
        .await
    }

    /// Confirms by reading back that the object is `record` (a store may ignore a condition,
    /// and a lost answer may hide a write that happened).
    async fn confirm(&self, record: LeaseRecord) -> Result<Written, LeaseError> {
        match self.read().await? {
            Some((found, _)) if found.nonce == record.nonce => Ok(Written { record: found }),
            Some((found, _)) => Err(self.held(&found)),
            None => Err(self.lost("it disappeared right after it was written".into())),
        }
    }

    /// Takes the lease for `holder`.
    async fn take(
        &self,
        settings: &LeaseSettings,
        cluster: Uuid,
        holder: &Holder,
    ) -> Result<Written, LeaseError> {
        let me = &settings.identity;
        for _ in 0..TAKE_ATTEMPTS {
            // Read first: a store that ignores the write's condition then overwrites a lease
            // only in the moment between this read and the write (read back after).
            let Some((current, version)) = self.read().await? else {
                let record = fresh(settings, cluster, holder, None);
                match self.write(&record, Some(WriteCondition::Create)).await {
                    Ok(_) => return self.confirm(record).await,
                    Err(e) if e.status() == Some(409) => continue,
                    Err(e) if e.status() == Some(501) => {
                        self.write(&record, None).await.map_err(|e| self.agent(e))?;
                        return self.confirm(record).await;
                    }
                    Err(e) => return self.confirm(record).await.map_err(|_| self.agent(e)),
                }
            };
            let ours = current.manager == me.manager && current.hostname == me.hostname;
            if !ours && current.expires > Utc::now() {
                return Err(self.held(&current));
            }
            tracing::info!(location = %self.location, previous = %current, "taking over the lease");
            let record = fresh(settings, cluster, holder, None);
            match self
                .write(&record, Some(WriteCondition::Update(&version)))
                .await
            {
                Ok(_) => return self.confirm(record).await,
                Err(e) if matches!(e.status(), Some(412 | 404 | 409)) => {}
                Err(e) if e.status() == Some(501) => {
                    // No conditional update here: the takers of this expired lease race to create
                    // its takeover marker; only the one that creates it replaces the lease.
                    let marker = Target {
                        path: format!("{}.takeover-{}", self.path, current.nonce),
                        ..self.clone()
                    };
                    match marker.write(&record, Some(WriteCondition::Create)).await {
                        Ok(_) => {
                            match self.read().await? {
                                Some((now, _)) if now.nonce == current.nonce => {}
                                _ => continue,
                            }
                            self.write(&record, None).await.map_err(|e| self.agent(e))?;
                            return self.confirm(record).await;
                        }
                        Err(e) if e.status() == Some(409) => {}
                        Err(e) => return Err(self.agent(e)),
                    }
                }
                Err(e) => return self.confirm(record).await.map_err(|_| self.agent(e)),
            }
            // Someone else is taking it over: let them finish writing before reading again.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(match self.read().await? {
            Some((current, _)) => self.held(&current),
            None => self.lost("it keeps changing; try again".into()),
        })
    }

    /// Extends `held` by the time to live, if it is still ours.
    async fn renew(&self, settings: &LeaseSettings, held: &Written) -> Result<Written, LeaseError> {
        let (current, version) = match self.read().await? {
            Some((c, _)) if c.nonce != held.record.nonce => {
                return Err(self.lost(format!("it is now held by {c}")));
            }
            Some(found) => found,
            None => return Err(self.lost("it was deleted".into())),
        };
        let record = fresh(
            settings,
            current.cluster,
            &holder_of(&current),
            Some(&current),
        );
        match self
            .write(&record, Some(WriteCondition::Update(&version)))
            .await
        {
            Ok(_) => {}
            Err(e) if e.status() == Some(501) => {
                self.write(&record, None).await.map_err(|e| self.agent(e))?;
            }
            Err(e) if matches!(e.status(), Some(412 | 404)) => {
                return Err(match self.read().await? {
                    Some((c, _)) => self.lost(format!("it is now held by {c}")),
                    None => self.lost("it was deleted".into()),
                });
            }
            Err(e) => return Err(self.agent(e)),
        }
        self.confirm(record)
            .await
            .map_err(|e| self.lost(e.to_string()))
    }

    /// Deletes the object if it is still `held`.
    async fn release(&self, held: &Written) {
        match self.read().await {
            Ok(Some((current, _))) if current.nonce == held.record.nonce => {
                let paths = [self.path.clone()];
                let deleted = self
                    .through(|c| {
                        let paths = &paths;
                        async move { c.delete_files(Root::Backup(&self.location), paths).await }
                    })
                    .await;
                if let Err(e) = deleted {
                    tracing::warn!(location = %self.location, error = %e, "could not release the lease; it expires on its own");
                }
            }
            Ok(Some((current, _))) => {
                tracing::warn!(location = %self.location, holder = %current, "the lease was no longer ours at release")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(location = %self.location, error = %e, "could not release the lease; it expires on its own")
            }
        }
    }
}

/// The holder a record names.
fn holder_of(r: &LeaseRecord) -> Holder {
    Holder {
        task: r.task,
        run: r.run,
        purpose: if r.task.is_some() {
            "backup"
        } else {
            "backup delete"
        },
    }
}

/// A record for `holder`, expiring one TTL from now; a renewal keeps `previous`'s holder fields.
fn fresh(
    settings: &LeaseSettings,
    cluster: Uuid,
    holder: &Holder,
    previous: Option<&LeaseRecord>,
) -> LeaseRecord {
    let now = Utc::now();
    let ttl = chrono::TimeDelta::from_std(settings.ttl).unwrap_or(chrono::TimeDelta::MAX);
    let me = &settings.identity;
    let mut r = LeaseRecord {
        manager: me.manager,
        hostname: me.hostname.clone(),
        instance: me.instance,
        cluster,
        task: holder.task,
        run: holder.run,
        purpose: holder.purpose.to_string(),
        acquired: now,
        expires: now
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        nonce: Uuid::new_v4(),
    };
    if let Some(p) = previous {
        r.purpose.clone_from(&p.purpose);
        r.acquired = p.acquired;
    }
    r
}

/// One location's lease held by this process, shared by its runs.
struct Shared {
    /// Where.
    target: Target,
    /// Runs holding it now.
    users: usize,
    /// Stops the renewal.
    stop: CancellationToken,
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
            let shared = Shared {
                target,
                users: 1,
                stop: CancellationToken::new(),
                written: Arc::new(StdMutex::new(written)),
                lost: Arc::new(StdMutex::new(None)),
                on_lost: Arc::new(StdMutex::new(vec![on_lost.clone()])),
            };
            tokio::spawn(renew_loop(
                settings.clone(),
                shared.target.clone(),
                shared.written.clone(),
                shared.lost.clone(),
                shared.on_lost.clone(),
                shared.stop.clone(),
            ));
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
