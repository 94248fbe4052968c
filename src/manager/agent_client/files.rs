//! Files on an agent, in the node's data directory or a backup location: streamed listings,
//! reads (with the object's version), plain and conditional writes, deletes, moves and copies,
//! and the data directory's disk usage.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde_json::Value;

use super::error::AgentError;
use super::{AgentClient, Call, LIST_TIMEOUT, LONG_CALL_TIMEOUT, quote};
use crate::agent::wire::{
    DATA_LOCATION, DeleteRequest, Deleted, DiskUsage, Entry, FileQuery, ListRequest, MoveRequest,
    ObjectVersion, Place, VERSION_HEADER, WriteMode, WriteQuery, Written,
};
use crate::format::location::Location;

/// Where a file call works: the node's data directory or a backup location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root<'a> {
    /// The node's data directory.
    Data,
    /// A backup location (its DC prefix is ignored).
    Backup(&'a Location),
}

impl Root<'_> {
    /// The `location` value the agent expects.
    fn as_param(self) -> String {
        match self {
            Root::Data => DATA_LOCATION.to_string(),
            Root::Backup(l) => l.without_dc().to_string(),
        }
    }
}

/// When a conditional write may happen.
#[derive(Debug, Clone, Copy)]
pub enum WriteCondition<'a> {
    /// Only if no object is at the path.
    Create,
    /// Only if the object is still at this version.
    Update(&'a ObjectVersion),
}

impl AgentClient {
    /// Lists a directory (recursively if asked) as a stream of entries with paths relative to
    /// it; an error the agent meets while listing ends the stream with an error.
    pub async fn list_files(
        &self,
        root: Root<'_>,
        path: &str,
        recursive: bool,
    ) -> Result<impl Stream<Item = Result<Entry, AgentError>> + Send + 'static, AgentError> {
        let call = Call::new(Method::POST, "/agent/files/list")
            .json(&ListRequest {
                location: root.as_param(),
                path: path.to_string(),
                recursive,
            })
            .timeout(LIST_TIMEOUT)
            .idempotent();
        let resp = self.send(&call).await?;
        let (host, name) = (self.host.clone(), call.name());
        let failed = move |reason: String, transport: bool| AgentError::Listing {
            host: host.clone(),
            call: name.clone(),
            reason,
            retryable: transport,
        };
        let state = (resp.bytes_stream().boxed(), Vec::<u8>::new(), false);
        Ok(futures::stream::unfold(
            state,
            move |(mut body, mut buf, mut done)| {
                let failed = failed.clone();
                async move {
                    loop {
                        if let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buf.drain(..=nl).collect();
                            let line = &line[..line.len() - 1];
                            if line.iter().all(u8::is_ascii_whitespace) {
                                continue;
                            }
                            let item = parse_entry(line).map_err(|r| failed(r, false));
                            return Some((item, (body, buf, done)));
                        }
                        if done {
                            if buf.iter().all(u8::is_ascii_whitespace) {
                                return None;
                            }
                            buf.push(b'\n');
                            continue;
                        }
                        match body.next().await {
                            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                            Some(Err(e)) => {
                                return Some((Err(failed(e.to_string(), true)), (body, buf, true)));
                            }
                            None => done = true,
                        }
                    }
                }
            },
        ))
    }

    /// Reads a manifest, schema or checksum file.
    pub async fn read_file(&self, root: Root<'_>, path: &str) -> Result<Bytes, AgentError> {
        self.fetch(
            &Call::new(Method::GET, "/agent/files/read")
                .params(&FileQuery {
                    location: root.as_param(),
                    path: path.to_string(),
                })
                .timeout(LONG_CALL_TIMEOUT),
        )
        .await
    }

    /// Writes a small object to a backup location.
    pub async fn write_file(
        &self,
        location: &Location,
        path: &str,
        content: Bytes,
    ) -> Result<(), AgentError> {
        let mut call = Call::new(Method::PUT, "/agent/files/write")
            .params(&WriteQuery {
                location: Root::Backup(location).as_param(),
                path: path.to_string(),
                mode: WriteMode::Overwrite,
                e_tag: None,
                version: None,
            })
            .timeout(LONG_CALL_TIMEOUT)
            .idempotent();
        call.body = Some((content, "application/octet-stream"));
        self.void(call).await
    }

    /// Reads a small file of a backup location with its version (for a later
    /// [`write_file_if`](Self::write_file_if) with [`WriteCondition::Update`]).
    pub async fn read_file_versioned(
        &self,
        location: &Location,
        path: &str,
    ) -> Result<(Bytes, ObjectVersion), AgentError> {
        let call = Call::new(Method::GET, "/agent/files/read").params(&FileQuery {
            location: Root::Backup(location).as_param(),
            path: path.to_string(),
        });
        self.retrying(&call, || async {
            let resp = self.attempt(&call).await?;
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let version = ObjectVersion {
                e_tag: header("etag"),
                version: header(VERSION_HEADER),
            };
            let body = resp.bytes().await.map_err(|e| self.transport(&call, e))?;
            Ok((body, version))
        })
        .await
    }

    /// Writes a small object under `backup/meta/` only if `condition` holds: it is absent
    /// (`Create`, else 409) or still at the version read (`Update`, else 412); a store that
    /// cannot check answers 501. Not retried (a lost answer may hide a write that happened);
    /// returns the new version.
    pub async fn write_file_if(
        &self,
        location: &Location,
        path: &str,
        content: Bytes,
        condition: WriteCondition<'_>,
    ) -> Result<ObjectVersion, AgentError> {
        let (mode, version) = match condition {
            WriteCondition::Create => (WriteMode::Create, ObjectVersion::default()),
            WriteCondition::Update(v) => (WriteMode::Update, v.clone()),
        };
        let mut call = Call::new(Method::PUT, "/agent/files/write").params(&WriteQuery {
            location: Root::Backup(location).as_param(),
            path: path.to_string(),
            mode,
            e_tag: version.e_tag,
            version: version.version,
        });
        call.body = Some((content, "application/octet-stream"));
        let written: Written = self.json(call).await?;
        Ok(written.into())
    }

    /// Deletes paths (at most 10,000 per call); returns how many existed and were deleted.
    pub async fn delete_files(&self, root: Root<'_>, paths: &[String]) -> Result<u64, AgentError> {
        let d: Deleted = self
            .json(
                Call::new(Method::POST, "/agent/files/delete")
                    .json(&DeleteRequest {
                        location: root.as_param(),
                        paths: paths.to_vec(),
                    })
                    .timeout(LONG_CALL_TIMEOUT)
                    .idempotent(),
            )
            .await?;
        Ok(d.deleted)
    }

    /// Moves (or copies) one file within the data directory or within one location.
    pub async fn move_file(
        &self,
        root: Root<'_>,
        from: &str,
        to: &str,
        copy: bool,
    ) -> Result<(), AgentError> {
        let place = |path: &str| Place {
            location: root.as_param(),
            path: path.to_string(),
        };
        let mut call = Call::new(Method::POST, "/agent/files/move")
            .json(&MoveRequest {
                copy,
                from: place(from),
                to: place(to),
            })
            .timeout(LONG_CALL_TIMEOUT);
        call.idempotent = copy;
        self.void(call).await
    }

    /// Free and total bytes of the data directory's file system.
    pub async fn disk(&self) -> Result<DiskUsage, AgentError> {
        self.json(Call::new(Method::GET, "/agent/files/disk")).await
    }
}

/// One NDJSON line of a listing: an [`Entry`], or a line with an `error` field
/// ([`ListingError`](crate::agent::wire::ListingError)) that ends it.
fn parse_entry(line: &[u8]) -> Result<Entry, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("{e} in {:?}", quote(line)))?;
    if let Some(err) = v.get("error") {
        return Err(err.as_str().map(str::to_string).unwrap_or(err.to_string()));
    }
    serde_json::from_value(v).map_err(|e| format!("{e} in {:?}", quote(line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_lines_parse_and_errors_end_them() {
        let e = parse_entry(br#"{"path":"a/b","size":3,"dir":false}"#).unwrap();
        assert_eq!((e.path.as_str(), e.size, e.dir), ("a/b", 3, false));
        assert_eq!(
            parse_entry(br#"{"error":"permission denied"}"#).unwrap_err(),
            "permission denied"
        );
        assert!(parse_entry(b"not json").is_err());
    }
}
