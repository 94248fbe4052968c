//! `RestoreSupervisor`: one restore run. It reads the task's properties, finds the task's
//! unfinished run (its units and views are always inherited; with `continue` also its stage,
//! its repair ids and its progress: every completed row, and the interrupted batches each host
//! takes again first), has init plan the run, stores the run record, then either restores the
//! schema or goes through [`RestoreStage::RUN`] from the persisted stage, persisting each stage
//! when it is reached. A stop cancels the stage in progress; the run stays resumable.
//!
//! This file holds the run's course; the actor shell is [`crate::manager::run_actor`], the DATA
//! stage [`super::data`], its node actors [`super::node`], the repair [`super::repair`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use scylla::client::session::Session;

use super::batches::BatchPool;
use super::data::DataStage;
use super::plan::RestorePlan;
use super::properties::RestoreProperties;
use super::repair::{self, RepairTasks};
use super::run::{DataContext, RestoreDeps, RestoreError, RestoreResult};
use super::stage::RestoreStage;
use super::target::Init;
use super::{schema, tgc, views};
use crate::format::dclimit::DcLimits;
use crate::manager::metrics;
use crate::manager::progress_actor::FlushProgress;
use crate::manager::run_actor::RunFinished;
use crate::manager::run_actor::{RunActor, RunContext, RunFlow};
use crate::manager::run_record::{self, RunEnd};
use crate::manager::store::{RestoreRun, RestoreRunProgress, RestoreView, RunKey};

/// The supervisor of one restore run: the run actor of [`RestoreDeps`].
pub type RestoreSupervisor = RunActor<RestoreDeps>;

/// The run in progress: what its future owns.
type Flow = RunContext<RestoreDeps>;

impl RunFlow for RestoreDeps {
    fn run(run: Flow) -> impl std::future::Future<Output = RunFinished> + 'static {
        run.run_flow()
    }
}

/// What a run continues from the task's unfinished run.
#[derive(Default)]
struct Inherited {
    /// The unfinished run.
    prev: Option<RestoreRun>,
    /// With `continue`: its rows of restored batches.
    completed: Vec<RestoreRunProgress>,
    /// With `continue`: its rows of batches neither restored nor failed.
    interrupted: Vec<RestoreRunProgress>,
}

impl Flow {
    /// The run's key.
    fn key(&self) -> RunKey {
        self.request.key()
    }

    /// Runs the whole run and records how it ended.
    async fn run_flow(self) -> RunFinished {
        let store = self.deps.store.clone();
        let req = &self.request;
        let start = run_record::start_row(req, &self.deps.settings.owner);
        let mut result = match run_record::begin(&*store, &req.cluster.name, &start).await {
            Ok(()) => self.stages().await,
            Err(e) => Err(e.into()),
        };
        if self.cancel.is_cancelled() && result.is_err() {
            result = Err(RestoreError::Stopped);
        }
        let _ = self.deps.progress.send(FlushProgress).await;
        let end = match result {
            Ok(()) => RunEnd::Done,
            Err(RestoreError::Stopped) => RunEnd::Stopped,
            Err(e) => RunEnd::Failed(e.to_string()),
        };
        let stop_status = &self.stop_status;
        run_record::end(&*store, &req.cluster.name, start, end, stop_status).await
    }

    /// Runs `work` unless the run is stopped first.
    async fn stoppable<T>(&self, work: impl Future<Output = RestoreResult<T>>) -> RestoreResult<T> {
        tokio::select! {
            r = work => r,
            () = self.cancel.cancelled() => Err(RestoreError::Stopped),
        }
    }

    /// What the run continues from the task's latest run, when that one is not done.
    async fn inherited(&self, props: &RestoreProperties) -> RestoreResult<Inherited> {
        let store = &self.deps.store;
        let key = self.key();
        let prev = store
            .list_restore_runs(key.cluster_id, key.task_id, 2)
            .await?
            .into_iter()
            .find(|r| r.id != key.run_id);
        let Some(prev) = prev.filter(|r| r.stage != RestoreStage::Done) else {
            return Ok(Inherited::default());
        };
        let mut inherited = Inherited::default();
        if props.continue_ {
            for row in store.list_restore_progress(prev.key()).await? {
                if row.restore_completed_at.is_some() {
                    inherited.completed.push(row);
                } else if row.error.is_none() {
                    inherited.interrupted.push(row);
                }
            }
        }
        tracing::info!(run = %key, prev = %prev.id, continue_ = props.continue_, restored_batches = inherited.completed.len(), interrupted_batches = inherited.interrupted.len(), "continuing the task's unfinished restore");
        inherited.prev = Some(prev);
        Ok(inherited)
    }

    /// Plans the run, stores its record, then restores the schema or the tables.
    async fn stages(&self) -> RestoreResult<()> {
        let props: RestoreProperties = serde_json::from_value(self.request.task.properties.clone())
            .map_err(|e| RestoreError::Properties(e.to_string()))?;
        let inherited = self.inherited(&props).await?;
        let init = self
            .stoppable(async { Ok(Init::connect(&self.request.cluster).await?) })
            .await?;
        let plan = self
            .stoppable(async { Ok(init.plan(&props, inherited.prev.as_ref()).await?) })
            .await?;
        let key = self.key();
        let mut run = RestoreRun {
            cluster_id: key.cluster_id,
            task_id: key.task_id,
            id: key.run_id,
            prev_id: inherited.prev.as_ref().map(|p| p.id),
            snapshot_tag: plan.tag.clone(),
            stage: RestoreStage::Init,
            repair_task_id: None,
            units: plan.units.clone(),
            views: plan.views.clone(),
            start_time: Utc::now(),
        };
        if props.continue_
            && let Some(prev) = &inherited.prev
        {
            run.stage = prev.stage;
            run.repair_task_id = prev.repair_task_id.clone();
        }
        self.deps.store.put_restore_run(&run).await?;
        if !inherited.completed.is_empty() {
            let rows: Vec<RestoreRunProgress> = inherited
                .completed
                .iter()
                .map(|r| RestoreRunProgress {
                    run_id: key.run_id,
                    ..r.clone()
                })
                .collect();
            self.deps.store.put_restore_progress(&rows).await?;
        }
        if props.restore_schema {
            tracing::info!(run = %key, "restoring the schema");
            self.stoppable(async { Ok(schema::restore_schema(&init, &plan, &props).await?) })
                .await?;
        } else {
            self.tables(&init, &plan, &props, &mut run, inherited)
                .await?;
        }
        run.stage = RestoreStage::Done;
        self.deps.store.put_restore_run(&run).await?;
        Ok(())
    }

    /// The stages of a tables restore, from the persisted one on.
    async fn tables(
        &self,
        init: &Init,
        plan: &RestorePlan,
        props: &RestoreProperties,
        run: &mut RestoreRun,
        inherited: Inherited,
    ) -> RestoreResult<()> {
        let mut session: Option<Session> = None;
        let mut inherited = Some(inherited);
        for stage in RestoreStage::RUN.iter().copied() {
            if stage < run.stage {
                continue;
            }
            if self.cancel.is_cancelled() {
                return Err(RestoreError::Stopped);
            }
            run.stage = stage;
            self.deps.store.put_restore_run(run).await?;
            tracing::info!(run = %self.key(), ?stage, "stage");
            if session.is_none() && stage != RestoreStage::Data && stage != RestoreStage::Repair {
                session = Some(self.stoppable(async { Ok(init.cql().await?) }).await?);
            }
            let cql = session.as_ref();
            match (stage, cql) {
                (RestoreStage::DropViews, Some(s)) => {
                    self.stoppable(async { Ok(views::drop_views(s, &run.views).await?) })
                        .await?;
                }
                (RestoreStage::DisableTgc, Some(s)) => {
                    self.stoppable(async {
                        Ok(tgc::set_tombstone_gc(s, &run.units, false).await?)
                    })
                    .await?;
                }
                (RestoreStage::Data, _) => {
                    let inherited = inherited.take().unwrap_or_default();
                    self.data(init, plan, props, inherited).await?;
                }
                (RestoreStage::Repair, _) => self.repair(init, plan, run).await?,
                (RestoreStage::EnableTgc, Some(s)) => {
                    self.stoppable(async { Ok(tgc::set_tombstone_gc(s, &run.units, true).await?) })
                        .await?;
                }
                (RestoreStage::RecreateViews, Some(s)) => self.recreate_views(s, init, run).await?,
                _ => {}
            }
            let _ = self.deps.progress.send(FlushProgress).await;
        }
        Ok(())
    }

    /// DATA: the pool of batches over the plan, less what the continued run restored.
    async fn data(
        &self,
        init: &Init,
        plan: &RestorePlan,
        props: &RestoreProperties,
        inherited: Inherited,
    ) -> RestoreResult<()> {
        let restored = inherited
            .completed
            .iter()
            .flat_map(|r| {
                r.sstable_id
                    .iter()
                    .map(|id| (r.remote_sstable_dir.clone(), id.clone()))
            })
            .collect();
        let batch_size = u64::try_from(props.batch_size).unwrap_or(0);
        let pool = BatchPool::new(&plan.dirs, &plan.hosts, batch_size, &restored);
        let mut tables: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for u in &plan.units {
            for t in &u.tables {
                tables.insert((u.keyspace_name.clone(), t.table_name.clone()), (t.size, 0));
            }
        }
        for r in &inherited.completed {
            if let Some(t) = tables.get_mut(&(r.keyspace_name.clone(), r.table_name.clone())) {
                t.1 += r.restored;
            }
        }
        let rate_limit = DcLimits::parse(&props.rate_limit)
            .map_err(|e| RestoreError::Properties(e.to_string()))?;
        let ctx = Arc::new(DataContext {
            key: self.key(),
            cluster_name: self.request.cluster.name.clone(),
            tag: plan.tag.clone(),
            table_dirs: plan.table_dirs.clone(),
            transfers: props.transfers,
            rate_limit,
            pool: Mutex::new(pool),
            tables: Mutex::new(tables),
            errors: Mutex::new(Vec::new()),
            store: self.deps.store.clone(),
            progress: self.deps.progress.clone(),
            settings: self.deps.settings.clone(),
            cancel: self.cancel.clone(),
        });
        DataStage {
            ctx,
            hosts: &plan.hosts,
            client: &init.client,
            interrupted: inherited.interrupted,
            parallel: u64::try_from(props.parallel).unwrap_or(0),
            allow_compaction: props.allow_compaction,
        }
        .run()
        .await
    }

    /// REPAIR: the persisted repairs awaited, or new ones started, persisted and awaited.
    async fn repair(
        &self,
        init: &Init,
        plan: &RestorePlan,
        run: &mut RestoreRun,
    ) -> RestoreResult<()> {
        let persisted = run
            .repair_task_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<RepairTasks>().map_err(RestoreError::Repair))
            .transpose()?;
        let mut tasks = match persisted {
            Some(t) => t,
            None => {
                let t = self
                    .stoppable(async {
                        Ok(repair::start(&init.client, &plan.hosts, &run.units).await?)
                    })
                    .await?;
                run.repair_task_id = Some(t.to_string());
                self.deps.store.put_restore_run(run).await?;
                t
            }
        };
        let before = tasks.clone();
        let result = repair::wait(&init.client, &mut tasks, &run.units, &self.cancel).await;
        if tasks != before {
            run.repair_task_id = Some(tasks.to_string());
            self.deps.store.put_restore_run(run).await?;
        }
        result
    }

    /// RECREATE_VIEWS: the views created again and awaited; each build status change is
    /// persisted in the run record (and published).
    async fn recreate_views(
        &self,
        session: &Session,
        init: &Init,
        run: &mut RestoreRun,
    ) -> RestoreResult<()> {
        let (tx, mut rx) = tokio::sync::watch::channel::<Option<Vec<RestoreView>>>(None);
        let mut views = run.views.clone();
        let work = async move {
            let mut on_change = |v: &[RestoreView]| {
                let _ = tx.send(Some(v.to_vec()));
            };
            views::recreate_views(session, init, &mut views, &mut on_change).await
        };
        let cluster = self.request.cluster.name.clone();
        let store = self.deps.store.clone();
        let persist = async {
            while rx.changed().await.is_ok() {
                let Some(v) = rx.borrow_and_update().clone() else {
                    continue;
                };
                for view in &v {
                    metrics::restore_view_build_status(
                        &cluster,
                        &view.keyspace_name,
                        &view.view_name,
                        &view.build_status,
                    );
                }
                run.views = v;
                if let Err(e) = store.put_restore_run(run).await {
                    tracing::warn!(error = %e, "could not store the views' build status");
                }
            }
        };
        let (result, ()) = self
            .stoppable(async { Ok(tokio::join!(work, persist)) })
            .await?;
        Ok(result?)
    }
}
