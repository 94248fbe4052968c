//! The manager's run-time, started and stopped in order: the progress actors (backup, restore and validate rows), the rate-limit
//! actor and the scheduler (with one runner per task type) over a store, then the servers in
//! front of them. `cairn manager` and the end-to-end tests start the manager through here.
//!
//! Stopping goes the other way: the servers stop accepting and finish their requests, the runs
//! in progress are stopped (they end ABORTED and resume next time), and the progress actor writes
//! what it holds, so a run's last progress reaches the store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::api::ApiState;
use super::backup::run::RunDeps;
use super::backup::settings::RunSettings;
use super::progress_actor::{FLUSH_EVERY, FlushProgress, ProgressActor};
use super::rate_limit_actor::RateLimitActor;
use super::restore::run::RestoreDeps;
use super::scheduler::runner::Runner;
use super::scheduler::{Scheduler, StopAll};
use super::store::{BackupRunProgress, RestoreRunProgress, Store, ValidateRunProgress};
use super::validate::run::ValidateDeps;

/// How long the servers get to finish the requests in flight once told to stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the progress actor gets to write what it holds at shutdown.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The manager's actors and servers, running on the current actix system.
pub struct Runtime {
    /// The state store.
    pub store: Arc<dyn Store>,
    /// Batched writes of backup progress rows.
    pub progress: Addr<ProgressActor<BackupRunProgress>>,
    /// Batched writes of restore progress rows.
    pub restore_progress: Addr<ProgressActor<RestoreRunProgress>>,
    /// Batched writes of validate progress rows.
    pub validate_progress: Addr<ProgressActor<ValidateRunProgress>>,
    /// Bandwidth budgets pushed to the agents.
    pub rate_limit: Addr<RateLimitActor>,
    /// When tasks run; starts and stops the runs.
    pub scheduler: Addr<Scheduler>,
    /// Cancelled to tell the servers to stop accepting.
    stop: CancellationToken,
    /// The servers started, waited for at stop.
    servers: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// Starts the actors on the current actix system over `store`; backup runs get `settings`.
    pub fn start(store: Arc<dyn Store>, settings: RunSettings) -> Self {
        let progress = ProgressActor::new(store.clone(), FLUSH_EVERY).start();
        let restore_progress = ProgressActor::new(store.clone(), FLUSH_EVERY).start();
        let validate_progress = ProgressActor::new(store.clone(), FLUSH_EVERY).start();
        let rate_limit = RateLimitActor::new().start();
        let settings = Arc::new(settings);
        let backup = Runner::Backup(RunDeps {
            store: store.clone(),
            progress: progress.clone(),
            rates: rate_limit.clone(),
            settings: settings.clone(),
        });
        let restore = Runner::Restore(RestoreDeps {
            store: store.clone(),
            progress: restore_progress.clone(),
            settings: settings.clone(),
        });
        let validate = Runner::Validate(ValidateDeps {
            store: store.clone(),
            progress: validate_progress.clone(),
            settings,
        });
        let scheduler = Scheduler::new(store.clone(), vec![backup, restore, validate]).start();
        Runtime {
            store,
            progress,
            restore_progress,
            validate_progress,
            rate_limit,
            scheduler,
            stop: CancellationToken::new(),
            servers: Vec::new(),
        }
    }

    /// What the REST API serves from.
    pub fn api(&self) -> ApiState {
        ApiState {
            store: self.store.clone(),
            scheduler: self.scheduler.clone(),
        }
    }

    /// Serves `router` over plain HTTP on `listener` until the run-time stops; `name` names the
    /// server in the log when it fails.
    pub fn serve(&mut self, name: &'static str, listener: TcpListener, router: axum::Router) {
        self.spawn_server(move |stop| async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "the {name} server failed");
            }
        });
    }

    /// Runs a server made by `server`, which must finish its requests and end once the token
    /// it gets is cancelled.
    pub fn spawn_server<F>(&mut self, server: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.servers.push(tokio::spawn(server(self.stop.clone())));
    }

    /// Stops in order: the servers (each given `DRAIN_TIMEOUT`), the runs in progress, then
    /// the progress actor's pending writes (given `FLUSH_TIMEOUT`).
    pub async fn stop(self) {
        self.stop.cancel();
        for server in self.servers {
            if tokio::time::timeout(DRAIN_TIMEOUT, server).await.is_err() {
                tracing::warn!("a server did not finish its requests in time; leaving them");
            }
        }
        // Runs in progress end ABORTED (the next run of their task resumes them); their last
        // progress reaches the progress actor before the flush below.
        if let Err(e) = self.scheduler.send(StopAll).await {
            tracing::warn!(error = %e, "the scheduler did not answer the stop");
        }
        match tokio::time::timeout(FLUSH_TIMEOUT, self.validate_progress.send(FlushProgress)).await
        {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::error!(error = %e, "pending validate progress could not be written")
            }
            Ok(Err(e)) => tracing::error!(error = %e, "the validate progress actor did not answer"),
            Err(_) => {
                tracing::error!(
                    "pending validate progress was not written within {FLUSH_TIMEOUT:?}"
                )
            }
        }
        match tokio::time::timeout(FLUSH_TIMEOUT, self.restore_progress.send(FlushProgress)).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::error!(error = %e, "pending restore progress could not be written")
            }
            Ok(Err(e)) => tracing::error!(error = %e, "the restore progress actor did not answer"),
            Err(_) => {
                tracing::error!("pending restore progress was not written within {FLUSH_TIMEOUT:?}")
            }
        }
        match tokio::time::timeout(FLUSH_TIMEOUT, self.progress.send(FlushProgress)).await {
            Ok(Ok(Ok(()))) => tracing::info!("progress written; manager stopped"),
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "pending progress could not be written"),
            Ok(Err(e)) => tracing::error!(error = %e, "the progress actor did not answer"),
            Err(_) => tracing::error!("pending progress was not written within {FLUSH_TIMEOUT:?}"),
        }
    }
}
