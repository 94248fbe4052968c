//! MANIFEST: the node manifest of the indexed snapshot, written as `.tmp` (unless it is there
//! already), and Scylla's per-table manifests moved into the location.

use actix::prelude::*;
use bytes::Bytes;

use super::{
    Inner, NodeActor, NodeError, NodeResult, SCYLLA_MANIFEST, SHARD_SERIES, TableDir, stage,
};
use crate::format::manifest::{FilesMeta, Manifest, ManifestContent, ReplicationType};
use crate::format::paths::{remote_meta_node_dir, scylla_manifest_name, temp_file};
use crate::manager::agent_client::files::Root;
use crate::manager::agent_client::scylla::{KeyspaceKind, ReplicationKind};
use crate::manager::backup::stage::BackupStage;
use crate::manager::location::verify::list_dir;

/// MANIFEST: writes the node manifest as `.tmp` (unless it is there already) and moves Scylla's
/// per-table manifests into the location.
#[derive(Message, Debug, Clone)]
#[rtype(result = "NodeResult<()>")]
pub struct WriteManifest {
    /// The schema file's path in the location, empty when no schema is backed up.
    pub schema: String,
}

impl Handler<WriteManifest> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, msg: WriteManifest, _: &mut Self::Context) -> Self::Result {
        stage(&self.inner, BackupStage::Manifest, |i| async move {
            i.write_manifest(&msg.schema).await
        })
    }
}

impl Inner {
    async fn write_manifest(&self, schema: &str) -> NodeResult<()> {
        let guard = self.indexed().await?;
        let dirs = guard.as_deref().unwrap_or_default();
        let (client, run, host) = (self.client(), &self.setup.run, &self.setup.host);
        let final_path = self.manifest_path();
        let tmp_path = temp_file(&final_path);
        let meta_dir = remote_meta_node_dir(run.key.cluster_id, &host.dc, &host.host_id);
        let present: Vec<String> = list_dir(client, Root::Backup(&host.location), &meta_dir, false)
            .await?
            .into_iter()
            .map(|e| format!("{meta_dir}/{}", e.path))
            .collect();
        let scylla_name = scylla_manifest_name(&run.tag, &host.host_id);
        if !present.iter().any(|p| *p == tmp_path || *p == final_path) {
            let manifest = self.manifest(dirs, schema, &scylla_name).await?;
            let mut gz = Vec::new();
            manifest
                .write_gzip(&mut gz)
                .map_err(|e| NodeError::Manifest {
                    host: self.host().to_string(),
                    reason: e.to_string(),
                })?;
            client
                .write_file(&host.location, &tmp_path, Bytes::from(gz))
                .await?;
        }
        for t in dirs.iter().filter(|t| t.scylla_manifest) {
            self.check_stop()?;
            let local = format!("{}/{SCYLLA_MANIFEST}", t.dir);
            let body = match client.read_file(Root::Data, &local).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let remote = format!("{}/{scylla_name}", self.remote_dir(t));
            client.write_file(&host.location, &remote, body).await?;
            client.delete_files(Root::Data, &[local]).await?;
        }
        Ok(())
    }

    /// The node manifest of the indexed snapshot.
    async fn manifest(
        &self,
        dirs: &[TableDir],
        schema: &str,
        scylla_name: &str,
    ) -> NodeResult<Manifest> {
        let (client, run, host) = (self.client(), &self.setup.run, &self.setup.host);
        let info = client.node_info().await?;
        let tokens = client.tokens(&host.address).await?;
        let rack = client.rack(Some(&host.address)).await?;
        let shard_count = match client
            .raw(reqwest::Method::GET, "/metrics?name=database_total_writes")
            .await
        {
            Ok(body) => String::from_utf8_lossy(&body)
                .lines()
                .filter(|l| l.starts_with(SHARD_SERIES))
                .count() as u32,
            Err(e) => {
                tracing::warn!(host = %host.address, error = %e, "shard count unknown");
                0
            }
        };
        let tablets = client
            .keyspaces(KeyspaceKind::All, ReplicationKind::Tablets)
            .await
            .unwrap_or_default();
        let index: Vec<FilesMeta> = dirs
            .iter()
            .map(|t| FilesMeta {
                keyspace: t.keyspace.clone(),
                table: t.table.clone(),
                replication_type: Some(if tablets.contains(&t.keyspace) {
                    ReplicationType::Tablets
                } else {
                    ReplicationType::Vnodes
                }),
                version: t.version.clone(),
                files: t.files.iter().map(|f| f.0.clone()).collect(),
                size: t.files.iter().map(|f| f.1 as i64).sum(),
                scylla_manifests: if t.scylla_manifest {
                    vec![scylla_name.to_string()]
                } else {
                    Vec::new()
                },
                path: None,
            })
            .collect();
        Ok(Manifest {
            content: ManifestContent {
                scylla_version: info.scylla_version,
                cluster_name: run.cluster_name.clone(),
                ip: host.address.clone(),
                size: index.iter().map(|f| f.size).sum(),
                tokens,
                schema: schema.to_string(),
                rack,
                shard_count,
                cpu_count: info.cpu_count as u32,
                storage_size: info.storage_size,
                dc: host.dc.clone(),
                cluster_id: run.key.cluster_id,
                node_id: host.host_id.clone(),
                task_id: run.key.task_id,
                snapshot_tag: Some(run.tag.clone()),
                ..ManifestContent::default()
            },
            index,
        })
    }
}
