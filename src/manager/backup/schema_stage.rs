//! The schema stages of a run: AWAIT_SCHEMA dumps the CQL schema (through [`super::schema`])
//! when the cluster has CQL credentials and the task backs the schema up; SCHEMA writes it once
//! per distinct location of the run's hosts.

use std::collections::HashSet;

use bytes::Bytes;

use super::plan::{Plan, Scope};
use super::run::RunError;
use super::schema;

impl Scope<'_> {
    /// AWAIT_SCHEMA: the CQL schema when the cluster has CQL credentials and the task backs up
    /// the schema; none otherwise.
    pub async fn dump_schema(&self, plan: &Plan) -> Result<Option<Bytes>, RunError> {
        let cluster = &self.request.cluster;
        let (Some(user), Some(password)) = (&cluster.cql_username, &cluster.cql_password) else {
            if !plan.target.skip_schema {
                tracing::info!(cluster = %cluster.name, "no CQL credentials: the schema is not backed up");
            }
            return Ok(None);
        };
        if plan.target.skip_schema {
            return Ok(None);
        }
        let mut last = None;
        for h in &plan.hosts {
            match schema::dump(&h.address, user, password).await {
                Ok(blob) => return Ok(Some(Bytes::from(blob))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map(RunError::Schema).unwrap_or(RunError::Stopped))
    }

    /// SCHEMA: writes the schema file once per distinct location.
    pub async fn upload_schema(
        &self,
        plan: &Plan,
        path: &str,
        blob: &Bytes,
    ) -> Result<(), RunError> {
        let mut done = HashSet::new();
        for h in &plan.hosts {
            if done.insert(h.location.without_dc()) {
                plan.client
                    .for_host(&h.address)
                    .write_file(&h.location, path, blob.clone())
                    .await?;
            }
        }
        Ok(())
    }
}
