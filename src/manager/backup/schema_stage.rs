//! The schema stages of a run: AWAIT_SCHEMA dumps the CQL schema (through [`super::schema`])
//! unless the task skips the schema; SCHEMA writes it once per distinct location of the run's
//! hosts.

use std::collections::HashSet;

use bytes::Bytes;

use super::plan::{Plan, Scope};
use super::run::RunError;
use super::schema;

impl Scope<'_> {
    /// AWAIT_SCHEMA: the CQL schema, read from the first of the run's hosts whose CQL answers
    /// after a read barrier there; none when the task skips the schema. A cluster without
    /// credentials is refused (the run's start refuses it first, unless they were removed since).
    pub async fn dump_schema(&self, plan: &Plan) -> Result<Option<Bytes>, RunError> {
        let Some(credentials) =
            schema::credentials(&self.request.cluster, plan.target.skip_schema)?
        else {
            return Ok(None);
        };
        let hosts: Vec<String> = plan.hosts.iter().map(|h| h.address.clone()).collect();
        let blob = schema::dump(&plan.client, &hosts, &credentials).await?;
        Ok(Some(Bytes::from(blob)))
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
