//! MOVE_MANIFEST: the `.tmp` node manifest renamed to its final name once every file it lists is
//! in the location ([`verify_manifest`]), or back to `.tmp` to roll a failed commit back.

use actix::prelude::*;

use super::{Inner, NodeActor, NodeError, NodeResult, stage};
use crate::format::manifest::Manifest;
use crate::format::paths::temp_file;
use crate::manager::agent_client::files::Root;
use crate::manager::backup::stage::BackupStage;
use crate::manager::location::verify::{ManifestNode, VerifyError, file_exists, verify_manifest};

/// MOVE_MANIFEST: renames the `.tmp` manifest to its final name (or back, to roll back).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NodeResult<()>")]
pub struct CommitManifest {
    /// Final → tmp instead of tmp → final.
    pub rollback: bool,
}

impl Handler<CommitManifest> for NodeActor {
    type Result = ResponseFuture<NodeResult<()>>;
    fn handle(&mut self, msg: CommitManifest, _: &mut Self::Context) -> Self::Result {
        stage(
            &self.inner,
            BackupStage::MoveManifest,
            move |i| async move { i.commit_manifest(msg.rollback).await },
        )
    }
}

impl Inner {
    /// Renames the `.tmp` manifest to its final name (checked first), or back when `rollback`;
    /// a rename already done (a resumed run) counts as done.
    async fn commit_manifest(&self, rollback: bool) -> NodeResult<()> {
        let (client, host) = (self.client(), &self.setup.host);
        let final_path = self.manifest_path();
        let tmp_path = temp_file(&final_path);
        if !rollback {
            self.check_files(&tmp_path, &final_path).await?;
        }
        let (from, to) = if rollback {
            (&final_path, &tmp_path)
        } else {
            (&tmp_path, &final_path)
        };
        match client
            .move_file(Root::Backup(&host.location), from, to, false)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => {
                if rollback || file_exists(client, &host.location, to).await? {
                    Ok(())
                } else {
                    Err(NodeError::Manifest {
                        host: host.address.clone(),
                        reason: format!("neither {from} nor {to} is in {}", host.location),
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks, before the manifest becomes final, that every file it lists is in the location
    /// with the listed total size per table: a final manifest never refers to a missing file.
    async fn check_files(&self, tmp_path: &str, final_path: &str) -> NodeResult<()> {
        let (client, host) = (self.client(), &self.setup.host);
        let body = match client
            .read_file(Root::Backup(&host.location), tmp_path)
            .await
        {
            Ok(b) => b,
            // Committed already (a resumed run): it was checked then.
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let manifest_error = |reason: String| NodeError::Manifest {
            host: host.address.clone(),
            reason,
        };
        let manifest = Manifest::read_gzip(&body[..])
            .map_err(|e| manifest_error(format!("{tmp_path}: {e}")))?;
        let node = ManifestNode {
            cluster_id: self.setup.run.key.cluster_id,
            dc: &host.dc,
            node_id: &host.host_id,
        };
        let cancel = &self.setup.cancel;
        match verify_manifest(client, &host.location, node, &manifest, cancel).await {
            Ok(()) => Ok(()),
            Err(VerifyError::Agent(e)) => Err(e.into()),
            Err(VerifyError::Stopped) => Err(NodeError::Stopped {
                host: host.address.clone(),
            }),
            Err(e @ VerifyError::Schema { .. }) => Err(manifest_error(format!(
                "{e}; {final_path} is not committed"
            ))),
            Err(e @ VerifyError::Files { .. }) => Err(manifest_error(format!(
                "{e}; {final_path} is not committed (start a new run without resume)"
            ))),
        }
    }
}
