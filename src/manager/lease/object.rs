//! One location's lease object: the record it holds, and taking, renewing and releasing it
//! through the cluster's agents with conditional writes.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Holder, LeaseError, LeaseSettings, TAKE_ATTEMPTS};
use crate::agent::wire::ObjectVersion;
use crate::format::location::Location;
use crate::manager::agent_client::{
    AgentClient,
    error::AgentError,
    files::{Root, WriteCondition},
};

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

/// One location's lease object and the agents that reach it.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The location (without DC).
    pub(super) location: Location,
    /// `backup/meta/cluster/<cluster>/lease.json`.
    pub(super) path: String,
    /// Agents to write through, tried in order.
    pub(super) clients: Vec<AgentClient>,
}

/// A lease as last written by us.
#[derive(Debug, Clone)]
pub(super) struct Written {
    /// Its content.
    pub(super) record: LeaseRecord,
}

impl Target {
    /// An error of an agent call.
    pub(super) fn agent(&self, source: AgentError) -> LeaseError {
        LeaseError::Agent {
            location: self.location.to_string(),
            path: self.path.clone(),
            source: Box::new(source),
        }
    }

    /// Refused: `holder` holds it.
    pub(super) fn held(&self, holder: &LeaseRecord) -> LeaseError {
        LeaseError::Held {
            location: self.location.to_string(),
            path: self.path.clone(),
            holder: holder.to_string(),
        }
    }

    /// Lost to `reason`.
    pub(super) fn lost(&self, reason: String) -> LeaseError {
        LeaseError::Lost {
            location: self.location.to_string(),
            path: self.path.clone(),
            reason,
        }
    }

    /// Runs `op` through the first agent that answers (an answer that is an error counts).
    pub(super) async fn through<T, F, Fut>(&self, mut op: F) -> Result<T, AgentError>
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
    pub(super) async fn read(&self) -> Result<Option<(LeaseRecord, ObjectVersion)>, LeaseError> {
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
    pub(super) async fn write(
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
    pub(super) async fn confirm(&self, record: LeaseRecord) -> Result<Written, LeaseError> {
        match self.read().await? {
            Some((found, _)) if found.nonce == record.nonce => Ok(Written { record: found }),
            Some((found, _)) => Err(self.held(&found)),
            None => Err(self.lost("it disappeared right after it was written".into())),
        }
    }

    /// Takes the lease for `holder`.
    pub(super) async fn take(
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
    pub(super) async fn renew(
        &self,
        settings: &LeaseSettings,
        held: &Written,
    ) -> Result<Written, LeaseError> {
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
    pub(super) async fn release(&self, held: &Written) {
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
pub(super) fn holder_of(r: &LeaseRecord) -> Holder {
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
pub(super) fn fresh(
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
