//! Backup locations as object stores: one `object_store` client per `provider:bucket`, built from
//! the agent's configuration on first use, and storage errors that say whether a retry may help.
//! This is the agent's way to open a location; the manager reads locations in
//! `crate::manager::location` (which reuses this opening for `--offline`).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::signer::Signer;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::format::location::{Location, Provider};

use super::config::AgentConfig;
use super::confined::{ConfinedRoot, Kind, RelPath};
use super::local_store::ConfinedLocal;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The location text is not `provider:bucket`.
    #[error("location {location:?}: {reason}")]
    BadLocation {
        /// The text given.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The agent has no configuration for this location.
    #[error("location {location}: {reason}")]
    NotConfigured {
        /// The location.
        location: String,
        /// What is missing, naming the configuration key.
        reason: String,
    },
    /// A path inside the location is not acceptable.
    #[error("path {path:?}: {reason}")]
    BadPath {
        /// The path given.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The object store refused or failed.
    #[error("{op} {location}/{path}: {source}")]
    Store {
        /// The operation.
        op: &'static str,
        /// The location.
        location: String,
        /// The path inside it.
        path: String,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },
}

impl StorageError {
    /// Whether trying again later may succeed (transport failures, server errors, timeouts),
    /// as opposed to a request that will fail the same way (missing, forbidden, misconfigured).
    pub fn retryable(&self) -> bool {
        match self {
            StorageError::Store { source, .. } => !matches!(
                **source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::UnknownConfigurationKey { .. }
            ),
            _ => false,
        }
    }

    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Store { source, .. } if matches!(**source, object_store::Error::NotFound { .. }))
    }
}

/// A backup location the agent can reach.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `provider:bucket`.
    pub location: Location,
    /// The client.
    pub store: Arc<dyn ObjectStore>,
    /// For `localstorage` locations, the bucket's directory.
    pub local_dir: Option<std::path::PathBuf>,
    /// For S3 locations, presigns requests so that files can be streamed from disk in one PUT.
    pub signer: Option<Arc<dyn Signer>>,
}

impl Remote {
    /// Wraps a store error with the operation and path.
    pub fn err(
        &self,
        op: &'static str,
        path: &ObjPath,
    ) -> impl FnOnce(object_store::Error) -> StorageError + use<> {
        let (location, path) = (self.location.to_string(), path.to_string());
        move |source| StorageError::Store {
            op,
            location,
            path,
            source: Box::new(source),
        }
    }
}

impl Remote {
    /// Removes what interrupted uploads left in a `localstorage` directory: staging files named
    /// `<name>#<digits>` (invisible to listings, but taking disk space). Other stores keep no such
    /// files (an unfinished S3 multipart upload is not an object). Returns how many were removed.
    pub fn clean_staging(&self, dir: &ObjPath) -> usize {
        let Some(root) = &self.local_dir else {
            return 0;
        };
        // Never through a link: the directory is opened component by component.
        let Ok(root) = ConfinedRoot::open(root) else {
            return 0;
        };
        let Ok(rel) = RelPath::parse("remote_dir", dir.as_ref()) else {
            return 0;
        };
        let Ok(dir) = root.dir(&rel, false) else {
            return 0;
        };
        let Ok(entries) = dir.entries() else {
            return 0;
        };
        entries
            .into_iter()
            .filter(|e| {
                e.kind == Kind::File
                    && e.name.rsplit_once('#').is_some_and(|(_, n)| {
                        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                    })
            })
            .filter(|e| dir.remove_file(&e.name).is_ok())
            .count()
    }
}

/// Checks a path inside a location and makes it an object path: relative, no `.` or `..`, no
/// empty segments.
pub fn object_path(path: &str) -> Result<ObjPath, StorageError> {
    let bad = |reason| StorageError::BadPath {
        path: path.to_string(),
        reason,
    };
    if path.starts_with('/') {
        return Err(bad("must be relative to the location's root"));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(ObjPath::default());
    }
    for segment in trimmed.split('/') {
        match segment {
            "" => return Err(bad("has an empty segment (//)")),
            "." | ".." => return Err(bad("may not contain . or .. segments")),
            s if s.contains('\\') || s.chars().any(char::is_control) => {
                return Err(bad("has a backslash or control character"));
            }
            _ => {}
        }
    }
    ObjPath::parse(trimmed).map_err(|_| bad("is not a valid object path"))
}

/// A location's store client and, for S3, its request presigner.
type Built = (Arc<dyn ObjectStore>, Option<Arc<dyn Signer>>);

/// The object stores of every location used so far.
#[derive(Debug)]
pub struct Stores {
    /// The configuration the clients are built from.
    config: AgentConfig,
    /// How each request retries transient failures.
    retry: RetryConfig,
    /// How long one request may take.
    timeout: Duration,
    /// Whether an S3 region the configuration leaves out may come from `AWS_REGION` /
    /// `AWS_DEFAULT_REGION` (for commands run by a person); the daemon uses `us-east-1`.
    region_from_env: bool,
    /// Clients by `provider:bucket`.
    cache: DashMap<String, Remote>,
}

impl Stores {
    /// Stores built on demand from this configuration, retrying as a daemon does (patiently).
    pub fn new(config: AgentConfig) -> Self {
        Stores {
            config,
            retry: retry_config(),
            timeout: REQUEST_TIMEOUT,
            region_from_env: false,
            cache: DashMap::new(),
        }
    }

    /// Stores for a command someone waits on: a few quick retries and short requests (it reads
    /// only listings and manifests), so that a wrong endpoint is reported within seconds rather
    /// than minutes; the S3 region may come from the environment, as other S3 tools take it.
    pub fn interactive(config: AgentConfig) -> Self {
        Stores {
            timeout: Duration::from_secs(30),
            region_from_env: true,
            retry: RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
            },
            ..Stores::new(config)
        }
    }

    /// Stores for a command that transfers files someone waits on: requests as patient as the
    /// daemon's, the S3 region possibly from the environment (as [`Stores::interactive`]).
    pub fn for_transfers(config: AgentConfig) -> Self {
        Stores {
            region_from_env: true,
            ..Stores::new(config)
        }
    }

    /// The store of a `provider:bucket` location (a `dc:` prefix is ignored).
    pub fn get(&self, location: &str) -> Result<Remote, StorageError> {
        let parsed: Location =
            location
                .parse()
                .map_err(
                    |e: crate::format::location::LocationError| StorageError::BadLocation {
                        location: location.into(),
                        reason: e.to_string(),
                    },
                )?;
        let parsed = parsed.without_dc();
        let key = parsed.to_string();
        if let Some(r) = self.cache.get(&key) {
            return Ok(r.clone());
        }
        let (store, signer) = self.build(&parsed)?;
        let local_dir = match parsed.provider {
            Provider::LocalStorage => self.config.localstorage.get(&parsed.bucket).cloned(),
            _ => None,
        };
        let remote = Remote {
            location: parsed,
            store,
            local_dir,
            signer,
        };
        self.cache.insert(key, remote.clone());
        Ok(remote)
    }

    fn build(&self, location: &Location) -> Result<Built, StorageError> {
        let not_configured = |reason: String| StorageError::NotConfigured {
            location: location.to_string(),
            reason,
        };
        let built = |e: object_store::Error| not_configured(e.to_string());
        let bucket = &location.bucket;
        let store: Arc<dyn ObjectStore> = match location.provider {
            Provider::S3 => {
                let c = &self.config.s3;
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_virtual_hosted_style_request(!c.path_style)
                    .with_retry(self.retry.clone())
                    .with_client_options(self.client_options());
                // The configuration wins over the environment (AWS_ENDPOINT, AWS_ENDPOINT_URL_S3,
                // and for commands AWS_REGION / AWS_DEFAULT_REGION); without either, AWS in
                // us-east-1.
                match &c.region {
                    Some(region) => b = b.with_region(region),
                    None if !self.region_from_env => b = b.with_region("us-east-1"),
                    None => {}
                }
                if let Some(endpoint) = &c.endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
                }
                // object_store prefers the S3-specific endpoint when both are set.
                let endpoint = b
                    .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
                    .or_else(|| b.get_config_value(&AmazonS3ConfigKey::Endpoint));
                b = b.with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")));
                b = b.with_unsigned_payload(!c.sign_payload);
                if let (Some(k), Some(s)) = (&c.access_key_id, &c.secret_access_key) {
                    b = b.with_access_key_id(k).with_secret_access_key(&s.0);
                }
                if let Some(t) = &c.session_token {
                    b = b.with_token(&t.0);
                }
                if let Some(kms) = &c.sse_kms_key_id {
                    b = b.with_sse_kms_encryption(kms);
                }
                let s3 = Arc::new(b.build().map_err(built)?);
                // Presigned streaming PUTs cannot carry the encryption headers: those go through
                // the store client, buffered.
                let signer = c
                    .sse_kms_key_id
                    .is_none()
                    .then(|| s3.clone() as Arc<dyn Signer>);
                return Ok((s3, signer));
            }
            Provider::Gcs => {
                let c = &self.config.gcs;
                let mut b = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(self.retry.clone())
                    .with_client_options(self.client_options().with_allow_http(true));
                if let Some(file) = &c.service_account_file {
                    b = b.with_service_account_path(file.display().to_string());
                }
                if let Some(endpoint) = &c.endpoint {
                    b = b.with_base_url(endpoint);
                }
                if let Some(token) = &c.access_token {
                    b = b.with_bearer_token(&token.0);
                }
                if c.anonymous {
                    b = b.with_skip_signature(true);
                }
                Arc::new(b.build().map_err(built)?)
            }
            Provider::Azure => {
                let c = &self.config.azure;
                let mut b = MicrosoftAzureBuilder::from_env()
                    .with_container_name(bucket)
                    .with_retry(self.retry.clone())
                    .with_client_options(self.client_options());
                // The configuration wins over AZURE_STORAGE_ACCOUNT_NAME / _KEY / _ENDPOINT.
                if let Some(account) = &c.account {
                    b = b.with_account(account);
                }
                if b.get_config_value(&AzureConfigKey::AccountName).is_none() {
                    return Err(not_configured(
                        "azure.account is not set (nor AZURE_STORAGE_ACCOUNT_NAME)".into(),
                    ));
                }
                if let Some(key) = &c.key {
                    b = b.with_access_key(&key.0);
                }
                if let Some(endpoint) = &c.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                let endpoint = b.get_config_value(&AzureConfigKey::Endpoint);
                b = b.with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")));
                Arc::new(b.build().map_err(built)?)
            }
            Provider::LocalStorage => {
                let dir = self.config.localstorage.get(bucket).ok_or_else(|| {
                    not_configured(format!(
                        "no directory is configured for bucket {bucket:?} under localstorage"
                    ))
                })?;
                std::fs::create_dir_all(dir)
                    .map_err(|e| not_configured(format!("{}: {e}", dir.display())))?;
                let local = LocalFileSystem::new_with_prefix(dir)
                    .map_err(built)?
                    .with_automatic_cleanup(true);
                Arc::new(
                    ConfinedLocal::new(local, dir)
                        .map_err(|e| not_configured(format!("{}: {e}", dir.display())))?,
                )
            }
        };
        Ok((store, None))
    }
}

/// Retries of transient failures inside each request: up to 10 tries within 2 minutes.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(120),
    }
}

/// A daemon's request timeout: generous, for large parts on slow links.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

impl Stores {
    /// HTTP client settings: this store's request timeout, quick connects.
    fn client_options(&self) -> ClientOptions {
        ClientOptions::new()
            .with_timeout(self.timeout)
            .with_connect_timeout(Duration::from_secs(10))
            .with_pool_max_idle_per_host(64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_refuse_escapes() {
        assert_eq!(
            object_path("backup/sst/x").unwrap().as_ref(),
            "backup/sst/x"
        );
        assert_eq!(object_path("backup/").unwrap().as_ref(), "backup");
        for bad in ["/etc/passwd", "a/../b", "a//b", "./a", "a/.."] {
            assert!(object_path(bad).is_err(), "{bad} accepted");
        }
    }
}
