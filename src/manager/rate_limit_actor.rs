//! `RateLimitActor`: the manager's bandwidth budgets. Per DC of a cluster ([`DcKey`]) it knows
//! the per-host limit (upstream `rate_limit`) and the aggregate budget (`rate_limit_total`), and
//! which hosts upload right now; whenever one starts or finishes it re-divides the DC's budget
//! among them (see [`super::rate_share`]) and pushes each changed rate to that host's agent, so
//! the DC total is used and never exceeded. A host's [`StartUpload`] brings the [`RatePusher`]
//! that reaches its agent (its own agent client); the actor keeps it while the host uploads.
//!
//! A push reaches only the agent that runs now: an agent restarted mid-run starts with its
//! configured rate. So every upload job also carries its host's current rate, read through the
//! host's [`RateGate`] while holding the host's push turn: the agent applies it before it moves
//! a byte, and no push decided earlier can land after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::rate_share::divide;
use crate::manager::agent_client::AgentClient;

/// Applies a host's rate (bytes/s, 0 unlimited) to its agent. Each [`StartUpload`] brings the
/// pusher of its host, so a rate always goes through the client of the host's own cluster.
pub trait RatePusher: Send + Sync + 'static {
    /// Pushes `rate` to `host`'s agent.
    fn push(&self, host: &str, rate: u64) -> BoxFuture<'static, Result<(), String>>;
}

/// An agent's client pushes through the agent API (`PUT /agent/bandwidth`) of its own node, the
/// `host` the actor knows it as.
impl RatePusher for AgentClient {
    fn push(&self, _host: &str, rate: u64) -> BoxFuture<'static, Result<(), String>> {
        let client = self.clone();
        let mib = rate as f64 / (1u64 << 20) as f64;
        Box::pin(async move {
            client
                .set_bandwidth(mib)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// A DC of a cluster: what budgets are set for and shared within (DCs of different clusters may
/// have the same name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DcKey {
    /// The cluster.
    pub cluster: Uuid,
    /// The DC's name.
    pub dc: String,
}

impl DcKey {
    /// The DC `dc` of `cluster`.
    pub fn new(cluster: Uuid, dc: impl Into<String>) -> Self {
        DcKey {
            cluster,
            dc: dc.into(),
        }
    }
}

/// Sets a DC's budgets (bytes/s; 0 means none) and re-divides at once.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SetBudget {
    /// The DC.
    pub dc: DcKey,
    /// Limit of each host (upstream `rate_limit`).
    pub per_host: u64,
    /// Limit of the DC's hosts together (`rate_limit_total`).
    pub total: u64,
}

/// A host starts uploading.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct StartUpload {
    /// The host's address.
    pub host: String,
    /// Its DC.
    pub dc: DcKey,
    /// How rates reach the host's agent (its own client) while it uploads.
    pub pusher: Arc<dyn RatePusher>,
}

/// A host finished (or stopped) uploading.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct FinishUpload {
    /// The host's address.
    pub host: String,
}

/// Asks for the actor's observable state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "RateStats")]
pub struct GetRates;

/// Asks for a host's [`RateGate`].
#[derive(Message, Debug, Clone)]
#[rtype(result = "RateGate")]
pub struct GetRateGate {
    /// The host's address.
    pub host: String,
}

/// The way to a host's current rate for a job about to start: the rate is read while holding
/// the host's push turn, so pushes decided before it cannot overtake the job's start, and those
/// decided after it wait until the job has started (then send the newest rate).
#[derive(Debug, Clone)]
pub struct RateGate {
    /// The host.
    host: String,
    /// The host's push lock.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The latest rate decided for each host.
    desired: Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
}

impl RateGate {
    /// Waits for the host's turn; answers it (hold it until the job has started) with the rate
    /// the host has now, bytes/s (0 unlimited), `None` when no rate was ever decided for it.
    pub async fn turn(&self) -> (tokio::sync::OwnedMutexGuard<()>, Option<u64>) {
        let turn = self.lock.clone().lock_owned().await;
        let rate = self
            .desired
            .lock()
            .ok()
            .and_then(|d| d.get(&self.host).copied());
        (turn, rate)
    }
}

/// The actor's observable state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RateStats {
    /// The rate each uploading host was given, bytes/s (0 unlimited).
    pub rates: BTreeMap<String, u64>,
    /// Rates pushed to agents.
    pub pushes: u64,
    /// Pushes that failed (the host keeps its previous rate until the next division).
    pub failed_pushes: u64,
}

/// The budgets of one DC.
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    /// Per-host limit.
    per_host: u64,
    /// DC total.
    total: u64,
}

/// A host uploading now.
struct Uploader {
    /// How many uploads (of concurrent runs) it has going.
    uploads: usize,
    /// Applies its rates to its agent: the pusher of its latest [`StartUpload`].
    pusher: Arc<dyn RatePusher>,
}

/// The rate-limit actor of the manager.
#[derive(Default)]
pub struct RateLimitActor {
    /// The latest rate decided for each host: what a push sends when its turn comes.
    desired: Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
    /// One lock per host, so pushes to a host go one after another (never out of order).
    push_locks: BTreeMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Budgets by DC.
    budgets: BTreeMap<DcKey, Budget>,
    /// Uploading hosts by DC.
    uploading: BTreeMap<DcKey, BTreeMap<String, Uploader>>,
    /// Observable state.
    stats: RateStats,
}

impl RateLimitActor {
    /// An actor with no budgets and no host uploading.
    pub fn new() -> Self {
        RateLimitActor::default()
    }

    /// Re-divides `dc`'s budget among its uploading hosts; answers the pushes of the rates
    /// that changed, to run.
    fn rebalance(&mut self, dc: &DcKey) -> BoxFuture<'static, Vec<(String, Result<(), String>)>> {
        let budget = self.budgets.get(dc).copied().unwrap_or_default();
        let hosts: Vec<(String, Arc<dyn RatePusher>)> = self
            .uploading
            .get(dc)
            .map(|h| {
                h.iter()
                    .map(|(host, u)| (host.clone(), u.pusher.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let caps = vec![budget.per_host; hosts.len()];
        let mut pushes = Vec::new();
        for ((host, pusher), share) in hosts.into_iter().zip(divide(budget.total, &caps)) {
            if self.stats.rates.get(&host) == Some(&share.rate) {
                continue;
            }
            self.stats.rates.insert(host.clone(), share.rate);
            if let Ok(mut d) = self.desired.lock() {
                d.insert(host.clone(), share.rate);
            }
            let lock = self.push_locks.entry(host.clone()).or_default().clone();
            let desired = self.desired.clone();
            // Pushes started by quick successive re-divisions may overtake each other on the
            // wire; serialised per host and sending the latest rate, the last one always wins.
            pushes.push(async move {
                let _turn = lock.lock().await;
                let rate = desired
                    .lock()
                    .ok()
                    .and_then(|d| d.get(&host).copied())
                    .unwrap_or(0);
                let result = pusher.push(&host, rate).await;
                (host, result)
            });
        }
        Box::pin(futures::future::join_all(pushes))
    }

    /// Counts the outcome of pushes.
    fn record(&mut self, results: Vec<(String, Result<(), String>)>) {
        for (host, result) in results {
            match result {
                Ok(()) => self.stats.pushes += 1,
                Err(e) => {
                    tracing::warn!(host, error = %e, "could not push the bandwidth budget");
                    self.stats.failed_pushes += 1;
                }
            }
        }
    }

    /// Re-divides `dc`'s budget and pushes the new rates in the background.
    fn rebalance_later(&mut self, dc: &DcKey, ctx: &mut Context<Self>) {
        let pushes = self.rebalance(dc);
        ctx.spawn(
            pushes
                .into_actor(self)
                .map(|results, act, _| act.record(results)),
        );
    }
}

impl Actor for RateLimitActor {
    type Context = Context<Self>;
}

impl Handler<SetBudget> for RateLimitActor {
    type Result = ();

    fn handle(&mut self, msg: SetBudget, ctx: &mut Self::Context) {
        self.budgets.insert(
            msg.dc.clone(),
            Budget {
                per_host: msg.per_host,
                total: msg.total,
            },
        );
        self.rebalance_later(&msg.dc, ctx);
    }
}

impl Handler<StartUpload> for RateLimitActor {
    type Result = ResponseActFuture<Self, ()>;

    /// Answers once the new rates are pushed, so the host's upload starts under its share.
    fn handle(&mut self, msg: StartUpload, _: &mut Self::Context) -> Self::Result {
        let hosts = self.uploading.entry(msg.dc.clone()).or_default();
        match hosts.get_mut(&msg.host) {
            Some(u) => {
                u.uploads += 1;
                u.pusher = msg.pusher;
            }
            None => {
                hosts.insert(
                    msg.host,
                    Uploader {
                        uploads: 1,
                        pusher: msg.pusher,
                    },
                );
            }
        }
        let pushes = self.rebalance(&msg.dc);
        Box::pin(
            pushes
                .into_actor(self)
                .map(|results, act, _| act.record(results)),
        )
    }
}

impl Handler<FinishUpload> for RateLimitActor {
    type Result = ();

    fn handle(&mut self, msg: FinishUpload, ctx: &mut Self::Context) {
        // A host uploading for two runs at once stays until both finished.
        let mut emptied = None;
        for (dc, hosts) in &mut self.uploading {
            if let Some(u) = hosts.get_mut(&msg.host) {
                u.uploads -= 1;
                if u.uploads == 0 {
                    hosts.remove(&msg.host);
                    emptied = Some(dc.clone());
                }
                break;
            }
        }
        if let Some(dc) = emptied {
            self.stats.rates.remove(&msg.host);
            self.rebalance_later(&dc, ctx);
        }
    }
}

impl Handler<GetRateGate> for RateLimitActor {
    type Result = MessageResult<GetRateGate>;

    fn handle(&mut self, msg: GetRateGate, _: &mut Self::Context) -> Self::Result {
        let lock = self.push_locks.entry(msg.host.clone()).or_default().clone();
        MessageResult(RateGate {
            host: msg.host,
            lock,
            desired: self.desired.clone(),
        })
    }
}

impl Handler<GetRates> for RateLimitActor {
    type Result = MessageResult<GetRates>;

    fn handle(&mut self, _: GetRates, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.stats.clone())
    }
}
