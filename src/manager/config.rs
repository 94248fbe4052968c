//! The manager's YAML configuration (`config/manager.yaml`), with upstream key names where the
//! concept is the same (spec 4.5), and validation that names the key and the reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::config_file::{ConfigError, MIN_TOKEN_LEN, Secret};
use crate::config_file::{invalid, read_yaml};

use super::lease::{MAX_TTL, MIN_TTL};
use super::store::StoreConfig;
use crate::units::parse_duration;

/// The whole manager configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagerConfig {
    /// Plain HTTP listen address of the REST API (upstream `http`); empty disables it.
    #[serde(default = "default_http")]
    pub http: String,
    /// HTTPS listen address of the REST API (upstream `https`); empty disables it.
    #[serde(default)]
    pub https: String,
    /// PEM certificate for `https`; a self-signed one is made when absent.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// The bearer token every REST API call must carry (`Authorization: Bearer ...`).
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// A file holding the token instead (its first line), so the secret need not sit here.
    #[serde(default)]
    pub auth_token_file: Option<PathBuf>,
    /// Serve the REST API without a token on a non-loopback address (lab use only; loud).
    #[serde(default)]
    pub insecure_no_auth: bool,
    /// Prometheus metrics listen address (upstream `prometheus`); empty disables it.
    #[serde(default = "default_prometheus")]
    pub prometheus: String,
    /// Where the manager keeps its state.
    #[serde(default = "default_store")]
    pub store: StoreConfig,
    /// Backup settings (upstream `backup:` section).
    #[serde(default)]
    pub backup: BackupSettings,
    /// Restore settings (`restore:` section).
    #[serde(default)]
    pub restore: RestoreSettings,
    /// The file keeping this manager's identity (a UUID made on first start, named in the
    /// storage lease); default `manager.id` beside the SQLite file, `/var/lib/cairn/manager.id`
    /// with a ScyllaDB store.
    #[serde(default)]
    pub id_file: Option<PathBuf>,
}

fn default_http() -> String {
    "127.0.0.1:5080".to_string()
}
fn default_prometheus() -> String {
    "127.0.0.1:5091".to_string()
}
fn default_store() -> StoreConfig {
    StoreConfig::Sqlite {
        path: PathBuf::from("/var/lib/cairn/cairn.db"),
    }
}

/// Backup settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// A node with less free disk than this (percent) is not snapshotted.
    #[serde(default = "default_free_min")]
    pub disk_space_free_min_percent: u8,
    /// How long one long poll of an agent job waits, in seconds.
    #[serde(default = "default_poll")]
    pub long_polling_timeout_seconds: u64,
    /// Oldest interrupted run that the next run resumes (e.g. `24h`); `0` is no limit.
    #[serde(default = "default_age_max")]
    pub age_max: String,
    /// How long a location's lease lives without renewal (e.g. `5m`); renewed every third of it.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl: String,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            disk_space_free_min_percent: default_free_min(),
            long_polling_timeout_seconds: default_poll(),
            age_max: default_age_max(),
            lease_ttl: default_lease_ttl(),
        }
    }
}

/// Restore settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreSettings {
    /// Download a host's next batch while its current one is loaded (default); `false` runs
    /// upstream's sequential flow (download, then load&stream, per batch), e.g. for a node whose
    /// disk cannot hold two batches, or to compare.
    #[serde(default = "default_pipeline")]
    pub pipeline: bool,
}

impl Default for RestoreSettings {
    fn default() -> Self {
        RestoreSettings {
            pipeline: default_pipeline(),
        }
    }
}

fn default_pipeline() -> bool {
    true
}

fn default_free_min() -> u8 {
    10
}
fn default_poll() -> u64 {
    10
}
fn default_age_max() -> String {
    "24h".to_string()
}
fn default_lease_ttl() -> String {
    "5m".to_string()
}

/// Checked settings, in the types the manager uses.
#[derive(Debug, Clone)]
pub struct Checked {
    /// HTTP address, if enabled.
    pub http: Option<SocketAddr>,
    /// HTTPS address, if enabled.
    pub https: Option<SocketAddr>,
    /// Prometheus address, if enabled.
    pub prometheus: Option<SocketAddr>,
    /// Oldest resumable run; `None` is no limit.
    pub age_max: Option<Duration>,
    /// Long-poll wait.
    pub long_poll: Duration,
    /// A location lease's time to live.
    pub lease_ttl: Duration,
    /// The file keeping the manager's identity.
    pub id_file: PathBuf,
    /// The token the REST API requires; `None` serves it without authentication.
    pub auth_token: Option<Secret>,
    /// Whether the API is served without a token on a non-loopback address (said loudly).
    pub insecure_no_auth: bool,
}

impl ManagerConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<(Self, Checked), ConfigError> {
        let config: ManagerConfig = read_yaml(path)?;
        let checked = config.validate()?;
        Ok((config, checked))
    }

    /// Checks every value, returning the first problem with its key.
    pub fn validate(&self) -> Result<Checked, ConfigError> {
        let addr = |key: &str, v: &str| -> Result<Option<SocketAddr>, ConfigError> {
            if v.is_empty() {
                return Ok(None);
            }
            v.parse().map(Some).map_err(|_| {
                invalid(
                    key,
                    format!("{v:?} is not an address:port such as 127.0.0.1:5080"),
                )
            })
        };
        let (http, https, prometheus) = (
            addr("http", &self.http)?,
            addr("https", &self.https)?,
            addr("prometheus", &self.prometheus)?,
        );
        if http.is_none() && https.is_none() {
            return Err(invalid(
                "http",
                "http and https are both empty: the REST API would not listen anywhere",
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(invalid(
                "tls_key_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        match &self.store {
            StoreConfig::Sqlite { path } => {
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                if !dir.is_dir() {
                    return Err(invalid(
                        "store.path",
                        format!("the directory {} does not exist", dir.display()),
                    ));
                }
            }
            StoreConfig::Scylla(s) => s.validate().map_err(|e| invalid("store", e.to_string()))?,
        }
        let auth_token = self.auth_token()?;
        let exposed: Vec<SocketAddr> = [http, https]
            .into_iter()
            .flatten()
            .filter(|a| !a.ip().is_loopback())
            .collect();
        if self.insecure_no_auth && auth_token.is_some() {
            return Err(invalid(
                "insecure_no_auth",
                "is true but an auth token is set too: remove one of them",
            ));
        }
        if let Some(addr) = exposed.first()
            && auth_token.is_none()
            && !self.insecure_no_auth
        {
            return Err(invalid(
                "auth_token",
                format!(
                    "the REST API would listen on {addr}, beyond loopback, without authentication: set auth_token or auth_token_file (or insecure_no_auth: true to accept that anyone who reaches it controls the manager)"
                ),
            ));
        }
        if self.backup.disk_space_free_min_percent > 99 {
            return Err(invalid(
                "backup.disk_space_free_min_percent",
                "must be 0 to 99",
            ));
        }
        if !(1..=300).contains(&self.backup.long_polling_timeout_seconds) {
            return Err(invalid(
                "backup.long_polling_timeout_seconds",
                "must be 1 to 300",
            ));
        }
        let age_max = parse_duration(&self.backup.age_max).ok_or_else(|| {
            invalid(
                "backup.age_max",
                format!(
                    "{:?} is not a duration such as 24h or 0",
                    self.backup.age_max
                ),
            )
        })?;
        let lease_ttl = parse_duration(&self.backup.lease_ttl)
            .filter(|d| (MIN_TTL..=MAX_TTL).contains(d))
            .ok_or_else(|| {
                invalid(
                    "backup.lease_ttl",
                    format!(
                        "{:?} is not a duration from 3s to 24h such as 5m",
                        self.backup.lease_ttl
                    ),
                )
            })?;
        let id_file = match (&self.id_file, &self.store) {
            (Some(f), _) => f.clone(),
            (None, StoreConfig::Sqlite { path }) => path.with_file_name("manager.id"),
            (None, StoreConfig::Scylla(_)) => PathBuf::from("/var/lib/cairn/manager.id"),
        };
        // Ten years: every later time computed from it stays in the calendar.
        if age_max > crate::manager::schedule::MAX_INTERVAL {
            return Err(invalid(
                "backup.age_max",
                format!(
                    "{:?} is longer than ten years (give 0 for no limit)",
                    self.backup.age_max
                ),
            ));
        }
        Ok(Checked {
            lease_ttl,
            id_file,
            http,
            https,
            prometheus,
            age_max: (!age_max.is_zero()).then_some(age_max),
            long_poll: Duration::from_secs(self.backup.long_polling_timeout_seconds),
            auth_token,
            insecure_no_auth: self.insecure_no_auth && !exposed.is_empty(),
        })
    }

    /// The API token from `auth_token` or the first line of `auth_token_file`, checked.
    fn auth_token(&self) -> Result<Option<Secret>, ConfigError> {
        let (key, token) = match (&self.auth_token, &self.auth_token_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "auth_token_file",
                    "auth_token and auth_token_file are both set: keep one",
                ));
            }
            (None, None) => return Ok(None),
            (Some(t), None) => ("auth_token", t.0.clone()),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    invalid(
                        "auth_token_file",
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?;
                warn_if_readable_by_others(file);
                (
                    "auth_token_file",
                    text.lines().next().unwrap_or_default().trim().to_string(),
                )
            }
        };
        if token.chars().count() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
            return Err(invalid(
                key,
                format!(
                    "the token must be at least {MIN_TOKEN_LEN} characters without spaces (e.g. the output of `openssl rand -hex 24`)"
                ),
            ));
        }
        Ok(Some(Secret(token)))
    }
}

/// Warns when a secret file can be read by other users than its owner.
fn warn_if_readable_by_others(file: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(file)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %file.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the auth token file is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped, documented configuration parses with its defaults once its store directory
    /// exists.
    #[test]
    fn the_documented_configuration_parses() {
        let text = include_str!("../../config/manager.yaml");
        let mut config: ManagerConfig =
            serde_yaml_ng::from_str(text).expect("config/manager.yaml parses");
        let dir = tempfile::tempdir().unwrap();
        config.store = StoreConfig::Sqlite {
            path: dir.path().join("cairn.db"),
        };
        let checked = config.validate().expect("valid");
        assert_eq!(checked.http, Some("127.0.0.1:5080".parse().unwrap()));
        assert_eq!(checked.age_max, Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "auth_token: very-secret-token-0123\nstore:\n  type: sqlite\n  path: {}/c.db\n",
            dir.path().display()
        );
        let config: ManagerConfig = serde_yaml_ng::from_str(&yaml).unwrap();
        let checked = config.validate().unwrap();
        for text in [format!("{config:?}"), format!("{checked:?}")] {
            assert!(!text.contains("very-secret"), "{text}");
        }
        let cluster = crate::manager::store::Cluster {
            id: uuid::Uuid::nil(),
            name: "c".into(),
            hosts: vec![],
            agent_port: 1,
            auth_token: "agent-secret-token".into(),
            cql_username: Some("u".into()),
            cql_password: Some("cql-secret".into()),
            created_at: chrono::Utc::now(),
            agent_pins: Default::default(),
        };
        let text = format!("{cluster:?}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn beyond_loopback_a_token_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let store = format!(
            "store:\n  type: sqlite\n  path: {}/c.db\n",
            dir.path().display()
        );
        let parse = |extra: &str| -> ManagerConfig {
            serde_yaml_ng::from_str(&format!("{store}{extra}")).unwrap()
        };
        let err = parse("http: 0.0.0.0:5080\n").validate().unwrap_err();
        assert!(err.to_string().contains("auth_token"), "{err}");
        let err = parse("http: 127.0.0.1:5080\nhttps: 10.0.0.1:5443\n")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("10.0.0.1:5443"), "{err}");
        let ok = parse("http: 0.0.0.0:5080\nauth_token: 0123456789abcdef\n")
            .validate()
            .unwrap();
        assert!(ok.auth_token.is_some() && !ok.insecure_no_auth);
        let open = parse("http: 0.0.0.0:5080\ninsecure_no_auth: true\n")
            .validate()
            .unwrap();
        assert!(open.auth_token.is_none() && open.insecure_no_auth);
        assert!(parse("http: 127.0.0.1:5080\n").validate().is_ok());
    }

    #[test]
    fn bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = format!(
            "store:\n  type: sqlite\n  path: {}/c.db\n",
            dir.path().display()
        );
        for (yaml, needle) in [
            ("http: nowhere\n".to_string(), "http:"),
            (format!("{store}http: ''\nhttps: ''\n"), "both empty"),
            (
                "store:\n  type: sqlite\n  path: /no/such/dir/c.db\n".to_string(),
                "store.path",
            ),
            (
                format!("{store}backup:\n  age_max: forever\n"),
                "backup.age_max",
            ),
            (
                format!("{store}backup:\n  age_max: 99999999999d\n"),
                "backup.age_max",
            ),
            (
                format!("{store}backup:\n  long_polling_timeout_seconds: 0\n"),
                "long_polling_timeout_seconds",
            ),
            (format!("{store}tls_cert_file: /x.pem\n"), "tls_key_file"),
            (
                format!("{store}backup:\n  lease_ttl: 1s\n"),
                "backup.lease_ttl",
            ),
        ] {
            let config: ManagerConfig = serde_yaml_ng::from_str(&yaml).unwrap();
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{yaml}=> {err}");
        }
        assert!(
            serde_yaml_ng::from_str::<ManagerConfig>("htp: x\n")
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
    }
}
