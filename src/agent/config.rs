//! The agent's YAML configuration (`config/agent.yaml`), with upstream key names where the
//! concept is the same, and validation that names the key and the reason.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::config_file::ConfigError;
use crate::config_file::{MIN_TOKEN_LEN, Secret, invalid, read_yaml};

use crate::units::ByteSize;

/// How the sample configuration's placeholder token begins; a token that does is refused.
const PLACEHOLDER_PREFIX: &str = "change-me";

/// The whole agent configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Token every request but `/ping` and `/version` must carry as `Authorization: Bearer`
    /// (at least 16 characters).
    #[serde(default)]
    pub auth_token: Secret,
    /// A file holding the token instead (its first line), so the secret can live apart from
    /// the configuration.
    #[serde(default)]
    pub auth_token_file: Option<PathBuf>,
    /// Serve every request without authentication (a lab only; loud in logs, metrics and
    /// `/agent/node_info`). Refused together with a token.
    #[serde(default)]
    pub insecure_no_auth: bool,
    /// HTTPS listen address, `host:port`.
    #[serde(default = "default_https")]
    pub https: String,
    /// PEM certificate; with `tls_key_file`. Both empty: a self-signed one is made (and kept in
    /// `state_directory` when set).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Where the agent keeps what must outlive a restart: the self-signed certificate it makes
    /// when no `tls_cert_file` is given, so the fingerprint the manager pinned stays valid.
    /// Unset: a new certificate at every start.
    #[serde(default)]
    pub state_directory: Option<PathBuf>,
    /// Prometheus metrics listen address, `host:port`; empty disables it.
    #[serde(default)]
    pub prometheus: String,
    /// Where the node's Scylla REST API is.
    #[serde(default)]
    pub scylla: ScyllaConfig,
    /// The node's data directory; asked from Scylla's config API when absent.
    #[serde(default)]
    pub data_directory: Option<PathBuf>,
    /// Transfer defaults.
    #[serde(default)]
    pub transfer: TransferConfig,
    /// Amazon S3 (and S3-compatible) locations.
    #[serde(default)]
    pub s3: S3Config,
    /// Google Cloud Storage locations.
    #[serde(default)]
    pub gcs: GcsConfig,
    /// Azure Blob Storage locations.
    #[serde(default)]
    pub azure: AzureConfig,
    /// `localstorage:<bucket>` locations: the directory of each bucket name.
    #[serde(default)]
    pub localstorage: BTreeMap<String, PathBuf>,
}

fn default_https() -> String {
    "0.0.0.0:10001".to_string()
}

/// Where Scylla's REST API listens (upstream `scylla:` section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScyllaConfig {
    /// Address of the Scylla REST API.
    #[serde(default = "default_scylla_address")]
    pub api_address: String,
    /// Port of the Scylla REST API.
    #[serde(default = "default_scylla_port")]
    pub api_port: u16,
    /// Address of Scylla's Prometheus endpoint, proxied at `/metrics`; the API address when absent.
    #[serde(default)]
    pub prometheus_address: Option<String>,
    /// Port of Scylla's Prometheus endpoint.
    #[serde(default = "default_scylla_prometheus_port")]
    pub prometheus_port: u16,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        ScyllaConfig {
            api_address: default_scylla_address(),
            api_port: default_scylla_port(),
            prometheus_address: None,
            prometheus_port: default_scylla_prometheus_port(),
        }
    }
}

fn default_scylla_address() -> String {
    "127.0.0.1".to_string()
}
fn default_scylla_port() -> u16 {
    10000
}
fn default_scylla_prometheus_port() -> u16 {
    9180
}

/// Defaults of transfer jobs and limits of the data path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    /// Files transferred in parallel per job when the job does not say (upstream `rclone.transfers`).
    #[serde(default = "default_transfers")]
    pub transfers: usize,
    /// Bandwidth budget of the whole agent at start, MiB/s; 0 is unlimited.
    #[serde(default)]
    pub rate_limit: f64,
    /// Memory for upload part buffers in flight, over all jobs (e.g. `32MiB`).
    #[serde(default = "default_buffer_memory")]
    pub buffer_memory: ByteSize,
    /// Files larger than this are uploaded in parts (e.g. `16MiB`; at least 5 MiB).
    #[serde(default = "default_multipart_threshold")]
    pub multipart_threshold: ByteSize,
    /// Smallest part of a multipart upload (e.g. `8MiB`; at least 5 MiB). Larger files get larger
    /// parts so that no file needs more than 10,000.
    #[serde(default = "default_part_size")]
    pub part_size: ByteSize,
    /// S3 only: files up to this size are streamed from disk in one PUT, without buffering
    /// (at most 5 GiB, S3's limit for one PUT); larger ones go in parts.
    #[serde(default = "default_s3_single_put_max")]
    pub s3_single_put_max: ByteSize,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            transfers: default_transfers(),
            rate_limit: 0.0,
            buffer_memory: default_buffer_memory(),
            multipart_threshold: default_multipart_threshold(),
            part_size: default_part_size(),
            s3_single_put_max: default_s3_single_put_max(),
        }
    }
}

fn default_transfers() -> usize {
    2
}
fn default_buffer_memory() -> ByteSize {
    ByteSize(32 << 20)
}
fn default_multipart_threshold() -> ByteSize {
    ByteSize(16 << 20)
}
fn default_part_size() -> ByteSize {
    ByteSize(8 << 20)
}
fn default_s3_single_put_max() -> ByteSize {
    ByteSize(256 << 20)
}

/// S3 settings (upstream `s3:` section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible service; AWS when empty.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region; `us-east-1` when empty.
    #[serde(default)]
    pub region: Option<String>,
    /// Access key; from the standard environment or the instance role when empty.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret key matching `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Address buckets as `endpoint/bucket` (path style) rather than `bucket.endpoint`.
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// Sign request bodies (SigV4 payload hash). Off by default, as rclone does: bodies are
    /// checked against the MD5 ETag the store returns instead, which costs both sides far less.
    #[serde(default)]
    pub sign_payload: bool,
    /// Server-side encryption with this KMS key ID.
    #[serde(default)]
    pub sse_kms_key_id: Option<String>,
}

fn default_true() -> bool {
    true
}

/// The defaults of a configuration without an `s3:` section: the same as each key's.
impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            path_style: default_true(),
            sign_payload: false,
            sse_kms_key_id: None,
        }
    }
}

/// GCS settings (upstream `gcs:` section).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsConfig {
    /// Service account JSON key file; application default credentials when empty.
    #[serde(default)]
    pub service_account_file: Option<PathBuf>,
    /// Endpoint URL override (for private endpoints and tests).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Send no credentials (public buckets).
    #[serde(default)]
    pub anonymous: bool,
    /// A ready OAuth2 access token to send instead of service-account credentials (short-lived;
    /// for setups that mint tokens themselves, and for tests).
    #[serde(default)]
    pub access_token: Option<Secret>,
}

/// Azure settings (upstream `azure:` section).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// Storage account name.
    #[serde(default)]
    pub account: Option<String>,
    /// Storage account key.
    #[serde(default)]
    pub key: Option<Secret>,
    /// Endpoint URL override, e.g. an emulator's `http://127.0.0.1:10000/devstoreaccount1`.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// Settings checked and parsed into the types the agent uses.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Default files in parallel per job.
    pub transfers: usize,
    /// Starting bandwidth, bytes/s; 0 unlimited.
    pub rate_limit: u64,
    /// Bytes of part buffers in flight.
    pub buffer_memory: u64,
    /// Multipart threshold, bytes.
    pub multipart_threshold: u64,
    /// Smallest part, bytes.
    pub part_size: u64,
    /// Largest file streamed to S3 in one PUT, bytes.
    pub s3_single_put_max: u64,
}

/// S3's smallest allowed part (all but the last).
pub const MIN_PART: u64 = 5 << 20;

impl AgentConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config: AgentConfig = read_yaml(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value, returning the first problem with its key.
    pub fn validate(&self) -> Result<Limits, ConfigError> {
        self.https.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "https",
                format!(
                    "{:?} is not an address:port such as 0.0.0.0:10001",
                    self.https
                ),
            )
        })?;
        if !self.prometheus.is_empty() {
            self.prometheus.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "prometheus",
                    format!(
                        "{:?} is not an address:port such as 0.0.0.0:5090",
                        self.prometheus
                    ),
                )
            })?;
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err(invalid(
                    "tls_key_file",
                    "missing: tls_cert_file needs its key",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls_cert_file",
                    "missing: tls_key_file needs its certificate",
                ));
            }
            _ => {}
        }
        for (key, file) in [
            ("tls_cert_file", &self.tls_cert_file),
            ("tls_key_file", &self.tls_key_file),
        ] {
            if let Some(f) = file.as_ref().filter(|f| !f.is_file()) {
                return Err(invalid(
                    key,
                    format!("{} is not a readable file", f.display()),
                ));
            }
        }
        if self.scylla.api_address.is_empty() {
            return Err(invalid("scylla.api_address", "must not be empty"));
        }
        if let Some(dir) = self.data_directory.as_ref().filter(|d| !d.is_dir()) {
            return Err(invalid(
                "data_directory",
                format!("{} is not a directory", dir.display()),
            ));
        }
        if self.transfer.transfers == 0 {
            return Err(invalid("transfer.transfers", "must be at least 1"));
        }
        if !(self.transfer.rate_limit >= 0.0 && self.transfer.rate_limit.is_finite()) {
            return Err(invalid(
                "transfer.rate_limit",
                "must be 0 (unlimited) or a positive number of MiB/s",
            ));
        }
        let size = |key: &str, v: ByteSize, min: u64| -> Result<u64, ConfigError> {
            if v.0 < min {
                return Err(invalid(
                    key,
                    format!(
                        "{} bytes ({v}) is below the minimum of {}",
                        v.0,
                        ByteSize(min)
                    ),
                ));
            }
            Ok(v.0)
        };
        let part_size = size("transfer.part_size", self.transfer.part_size, MIN_PART)?;
        let multipart_threshold = size(
            "transfer.multipart_threshold",
            self.transfer.multipart_threshold,
            MIN_PART,
        )?;
        let buffer_memory = size(
            "transfer.buffer_memory",
            self.transfer.buffer_memory,
            part_size,
        )?;
        let s3_single_put_max = size(
            "transfer.s3_single_put_max",
            self.transfer.s3_single_put_max,
            0,
        )?;
        if s3_single_put_max > 5 << 30 {
            return Err(invalid(
                "transfer.s3_single_put_max",
                "S3 takes at most 5 GiB in one PUT",
            ));
        }
        for (key, url) in [
            ("s3.endpoint", &self.s3.endpoint),
            ("gcs.endpoint", &self.gcs.endpoint),
            ("azure.endpoint", &self.azure.endpoint),
        ] {
            if let Some(u) = url
                .as_ref()
                .filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
            {
                return Err(invalid(
                    key,
                    format!("{u:?} must start with http:// or https://"),
                ));
            }
        }
        if self.s3.access_key_id.is_some() != self.s3.secret_access_key.is_some() {
            return Err(invalid(
                "s3.secret_access_key",
                "access_key_id and secret_access_key go together",
            ));
        }
        for (bucket, dir) in &self.localstorage {
            let key = format!("localstorage.{bucket}");
            let ok = !bucket.is_empty()
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !ok {
                return Err(invalid(
                    &key,
                    "bucket names hold only lowercase letters, digits, '-' and '.'",
                ));
            }
            if !dir.is_absolute() {
                return Err(invalid(
                    &key,
                    format!("{} must be an absolute path", dir.display()),
                ));
            }
        }
        self.token()?;
        Ok(Limits {
            transfers: self.transfer.transfers,
            rate_limit: (self.transfer.rate_limit * (1u64 << 20) as f64) as u64,
            buffer_memory,
            multipart_threshold,
            part_size,
            s3_single_put_max,
        })
    }
}

impl AgentConfig {
    /// The token requests must carry, from `auth_token` or `auth_token_file`; `None` only with
    /// `insecure_no_auth: true`. A missing, short, placeholder or unprintable token is refused.
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        let (key, token) = match (&self.auth_token_file, self.auth_token.0.is_empty()) {
            (Some(_), false) => {
                return Err(invalid(
                    "auth_token_file",
                    "auth_token is set too; give the token in one place",
                ));
            }
            (Some(file), true) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    invalid(
                        "auth_token_file",
                        format!("{} cannot be read: {e}", file.display()),
                    )
                })?;
                let first = text.lines().next().unwrap_or_default().trim().to_string();
                ("auth_token_file", first)
            }
            (None, _) => ("auth_token", self.auth_token.0.clone()),
        };
        if self.insecure_no_auth {
            if !token.is_empty() {
                return Err(invalid(
                    "insecure_no_auth",
                    format!("true while {key} is set; remove one of them"),
                ));
            }
            return Ok(None);
        }
        if token.is_empty() {
            return Err(invalid(
                "auth_token",
                format!(
                    "missing; set a random token of at least {MIN_TOKEN_LEN} characters (or \
                     auth_token_file; insecure_no_auth: true serves without any, for a lab only)"
                ),
            ));
        }
        if token.to_ascii_lowercase().starts_with(PLACEHOLDER_PREFIX) {
            return Err(invalid(
                key,
                "still the sample configuration's placeholder; set a random token (e.g. \
                 `openssl rand -hex 24`)",
            ));
        }
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(invalid(
                key,
                format!(
                    "{} characters, fewer than the {MIN_TOKEN_LEN} required",
                    token.chars().count()
                ),
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                key,
                "holds a space, a control or a non-ASCII character; it must fit an HTTP header",
            ));
        }
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config: AgentConfig = serde_yaml_ng::from_str(
            "auth_token: tok-SECRET-0123456789\ns3:\n  access_key_id: AKIA\n  secret_access_key: s3-SECRET\n  session_token: sess-SECRET\ngcs:\n  access_token: gcs-SECRET\nazure:\n  account: acct\n  key: az-SECRET\n",
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
        assert!(
            printed.contains("acct"),
            "non-secrets are still shown: {printed}"
        );
    }

    #[test]
    fn a_missing_section_has_the_defaults_of_an_empty_one() {
        let bare: AgentConfig = serde_yaml_ng::from_str("{}").unwrap();
        let empty: AgentConfig = serde_yaml_ng::from_str("s3: {}").unwrap();
        assert!(bare.s3.path_style, "path style unless configured otherwise");
        assert_eq!(bare.s3.path_style, empty.s3.path_style);
        assert_eq!(bare.s3.sign_payload, empty.s3.sign_payload);
    }

    fn config(yaml: &str) -> AgentConfig {
        crate::config_file::parse_yaml(yaml).unwrap()
    }

    #[test]
    fn every_section_may_be_null_or_left_with_comments_only() {
        let sections = ["scylla", "transfer", "s3", "gcs", "azure", "localstorage"];
        for section in sections {
            for form in [
                format!("{section}: ~"),
                format!("{section}: null"),
                format!("{section}:\n  # key: value"),
            ] {
                let c = config(&format!("auth_token: 0123456789abcdef\n{form}\n"));
                assert!(c.validate().is_ok(), "{form}");
                assert!(
                    c.s3.path_style && c.transfer.transfers == 2,
                    "{form}: defaults"
                );
            }
        }
    }

    #[test]
    fn a_token_is_required_unless_insecure_no_auth_says_otherwise() {
        let refused = |yaml: &str| config(yaml).token().unwrap_err().to_string();
        assert!(refused("{}").starts_with("auth_token: missing"));
        assert!(refused("auth_token: short").contains("fewer than the 16"));
        assert!(refused("auth_token: change-me").contains("placeholder"));
        assert!(refused("auth_token: CHANGE-ME-to-a-random-token").contains("placeholder"));
        assert!(refused("auth_token: \"0123456789 abcdef\"").contains("space"));
        assert!(
            refused("auth_token: 0123456789abcdef\ninsecure_no_auth: true")
                .starts_with("insecure_no_auth:")
        );
        assert_eq!(
            config("auth_token: 0123456789abcdef").token().unwrap(),
            Some("0123456789abcdef".into())
        );
        assert_eq!(config("insecure_no_auth: true").token().unwrap(), None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "fedcba9876543210fedcba\n").unwrap();
        let from_file = format!("auth_token_file: {}", file.display());
        assert_eq!(
            config(&from_file).token().unwrap(),
            Some("fedcba9876543210fedcba".into())
        );
        assert!(
            refused(&format!("{from_file}\nauth_token: 0123456789abcdef"))
                .starts_with("auth_token_file:")
        );
        assert!(refused("auth_token_file: /no/such/file").contains("cannot be read"));
    }
}
