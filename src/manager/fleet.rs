//! Fan-out of one message to the per-host actors of a run, and their supervision; generic over
//! the actor and the message, so a backup's node actors and a restore's share it.
//!
//! Per-DC parallelism (`snapshot_parallel`, `upload_parallel`; spec 1.5): hosts of a DC with its
//! own `dc:N` entry form a group limited to N; the hosts of every other DC share one group
//! limited by the entry without a DC. Groups run side by side; 0 (or no entry) means every host
//! of the group at once. One host's failure never stops the others.
//!
//! Supervision: a host whose actor fails with an error worth retrying gets a fresh actor (made
//! by the owner's [`Respawn`], seeded with what the failed one carries) once its agent answers
//! again, after a backoff that doubles with each restart, a few times.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::format::dclimit::DcLimits;

/// An error a fleet member answers a message with.
pub trait MemberError {
    /// Whether a fresh actor may get past it.
    fn retryable(&self) -> bool;
    /// The error of a host whose actor does not answer (it stopped).
    fn gone(host: &str, reason: String) -> Self;
    /// The error of a host with no actor: the run is stopping.
    fn stopped(host: &str) -> Self;
}

/// How a fleet's owner replaces a member that failed.
pub trait Respawn<A: Actor> {
    /// What a failed actor hands to its replacement (a backup node: its progress rows).
    type Carry;
    /// Asks the failed actor for what it hands over, right after it failed.
    fn carry(&self, old: &Addr<A>) -> impl Future<Output = Self::Carry>;
    /// Whether `host` answers again (one quick call).
    fn reachable(&self, host: &str) -> impl Future<Output = bool>;
    /// A fresh, started actor for `host`, made from `carry`; `None` when the host is not one
    /// the owner knows.
    fn respawn(&self, host: &str, carry: Self::Carry) -> Option<Addr<A>>;
}

/// How often, and after which pauses, a failing host gets a fresh actor.
#[derive(Debug, Clone, Copy)]
pub struct Restarts {
    /// Fresh actors a failing host gets within one message before it fails.
    pub max: u32,
    /// The pause before the first restart (doubled for each next one).
    pub backoff: Duration,
}

/// The per-host actors of one run.
pub struct Fleet<A: Actor> {
    /// The actors by host address.
    members: Mutex<HashMap<String, Addr<A>>>,
    /// Cancelled when the run stops: no more restarts.
    cancel: CancellationToken,
    /// The restart policy.
    restarts: Restarts,
}

impl<A: Actor<Context = Context<A>>> Fleet<A> {
    /// An empty fleet of a run stopped by `cancel`.
    pub fn new(cancel: CancellationToken, restarts: Restarts) -> Self {
        Fleet {
            members: Mutex::new(HashMap::new()),
            cancel,
            restarts,
        }
    }

    /// Makes `addr` the actor of `host`.
    pub fn insert(&self, host: &str, addr: Addr<A>) {
        if let Ok(mut m) = self.members.lock() {
            m.insert(host.to_string(), addr);
        }
    }

    /// Every host with its actor.
    pub fn members(&self) -> Vec<(String, Addr<A>)> {
        self.members
            .lock()
            .map(|m| m.iter().map(|(h, a)| (h.clone(), a.clone())).collect())
            .unwrap_or_default()
    }

    /// The actor of `host`.
    fn member(&self, host: &str) -> Option<Addr<A>> {
        self.members.lock().ok().and_then(|m| m.get(host).cloned())
    }

    /// Sends `msg` to the actor of every host of `hosts` (DC, address) under `limits`, each
    /// [`supervised`](Self::supervised); returns every host's result once all have finished.
    pub async fn on_hosts<M, T, E, R>(
        &self,
        hosts: Vec<(String, String)>,
        limits: &DcLimits,
        respawn: &R,
        msg: M,
    ) -> Vec<(String, Result<T, E>)>
    where
        M: Message<Result = Result<T, E>> + Clone + Send + 'static,
        A: Handler<M>,
        T: Send + 'static,
        E: MemberError + std::fmt::Display + Send + 'static,
        R: Respawn<A>,
    {
        run_limited(hosts, limits, |host| {
            let msg = msg.clone();
            async move {
                let r = self.supervised(&host, respawn, msg).await;
                (host, r)
            }
        })
        .await
    }

    /// Sends `msg` to `host`'s actor; on an error worth retrying, replaces the actor with a
    /// fresh one after a backoff, a few times.
    pub async fn supervised<M, T, E, R>(&self, host: &str, respawn: &R, msg: M) -> Result<T, E>
    where
        M: Message<Result = Result<T, E>> + Clone + Send + 'static,
        A: Handler<M>,
        T: Send + 'static,
        E: MemberError + std::fmt::Display + Send + 'static,
        R: Respawn<A>,
    {
        let mut restarts = 0;
        loop {
            let Some(addr) = self.member(host) else {
                return Err(E::stopped(host));
            };
            let result = match addr.send(msg.clone()).await {
                Ok(r) => r,
                Err(e) => Err(E::gone(host, e.to_string())),
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) if e.retryable() && !self.cancel.is_cancelled() => e,
                Err(e) => return Err(e),
            };
            let carry = respawn.carry(&addr).await;
            // A fresh actor only once the agent answers again: while it is down, each restart
            // attempt costs a backoff pause and one quick ping, not a full stage of retries.
            let mut reachable = false;
            while !reachable && restarts < self.restarts.max {
                restarts += 1;
                let pause = self.restarts.backoff * 2u32.pow(restarts - 1);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = self.cancel.cancelled() => return Err(error),
                }
                reachable = respawn.reachable(host).await;
                tracing::warn!(%host, %error, restart = restarts, ?pause, reachable, "restarting the host's node actor");
            }
            if !reachable {
                return Err(error);
            }
            let Some(fresh) = respawn.respawn(host, carry) else {
                return Err(error);
            };
            self.insert(host, fresh);
        }
    }
}

/// Splits `hosts` (DC, item) into groups with their limit (0: no limit).
pub fn groups<T>(hosts: Vec<(String, T)>, limits: &DcLimits) -> Vec<(u64, Vec<T>)> {
    let own: BTreeMap<&str, u64> = limits
        .as_slice()
        .iter()
        .filter_map(|l| l.dc.as_deref().map(|dc| (dc, l.limit)))
        .collect();
    let mut by_dc: BTreeMap<String, Vec<T>> = BTreeMap::new();
    let mut shared = Vec::new();
    for (dc, item) in hosts {
        if own.contains_key(dc.as_str()) {
            by_dc.entry(dc).or_default().push(item);
        } else {
            shared.push(item);
        }
    }
    let mut out: Vec<(u64, Vec<T>)> = by_dc
        .into_iter()
        .map(|(dc, items)| (own[dc.as_str()], items))
        .collect();
    if !shared.is_empty() {
        out.push((limits.default_limit().unwrap_or(0), shared));
    }
    out
}

/// Runs `work` for every host under the groups' limits and returns every result (in no
/// particular order); a failure does not cancel anything.
pub async fn run_limited<T, R, F, Fut>(
    hosts: Vec<(String, T)>,
    limits: &DcLimits,
    work: F,
) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let work = &work;
    let groups = groups(hosts, limits)
        .into_iter()
        .map(|(limit, items)| async move {
            let width = if limit == 0 {
                items.len().max(1)
            } else {
                limit as usize
            };
            futures::stream::iter(items.into_iter().map(work))
                .buffer_unordered(width)
                .collect::<Vec<R>>()
                .await
        });
    futures::future::join_all(groups)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn limits(items: &[&str]) -> DcLimits {
        DcLimits::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn hosts() -> Vec<(String, String)> {
        ["dc1", "dc1", "dc1", "dc2", "dc2", "dc3"]
            .iter()
            .enumerate()
            .map(|(i, dc)| (dc.to_string(), format!("{dc}-h{i}")))
            .collect()
    }

    #[test]
    fn dcs_with_their_own_entry_form_groups_and_the_rest_share_the_default() {
        let g = groups(hosts(), &limits(&["dc1:2", "5"]));
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0],
            (2, vec!["dc1-h0".into(), "dc1-h1".into(), "dc1-h2".into()])
        );
        assert_eq!(g[1].0, 5);
        assert_eq!(g[1].1.len(), 3, "dc2 and dc3 share one group");
        let none = groups(hosts(), &DcLimits::default());
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].0, 0, "no entry: all at once");
    }

    #[tokio::test]
    async fn at_most_the_limit_of_a_group_runs_at_once_and_failures_do_not_stop_others() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let results = run_limited(hosts(), &limits(&["dc1:1", "1"]), |h: String| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                if h.ends_with("h0") { Err(h) } else { Ok(h) }
            }
        })
        .await;
        assert_eq!(results.len(), 6, "every host ran despite h0 failing");
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "one per group, two groups side by side"
        );
    }
}
