//! The client side of the manager's REST API, shared by `cairn cluster`, `cairn tasks`,
//! `cairn start|stop`, `cairn suspend|resume`, `cairn info`: JSON calls, errors as one line, and printing results.
//!
//! The manager is found at `--url`, else `CAIRN_URL`, else [`DEFAULT_URL`] (the manager's default
//! `http` address in `config/manager.yaml`). A failed command prints one line to stderr and exits
//! with a status telling what kind of failure it was (see [`ClientError::exit_code`]):
//!
//! | exit | meaning |
//! |---|---|
//! | 1 | the manager refused the request (a bad value; the message names the field), or with `--offline` a value or the storage configuration is wrong |
//! | 2 | the command line itself is wrong (clap's usage errors) |
//! | 3 | the manager could not be reached, or its answer could not be read; with `--offline`, the location could not be read (the store's answer is quoted) |
//! | 4 | no such cluster or task |
//! | 5 | a conflict with the current state (a name taken, a task already running or not running) |
//! | 6 | the manager failed (a 5xx answer) |
//! | 7 | the work was done but not all is well: `progress --watch`, the run ended other than DONE; `backup list`/`files` (online or `--offline`), listed, but some manifests could not be read (everything else printed, each skipped manifest named on stderr and in `-o json`'s `skipped`) |
//! | 8 | the manager refused the API token (401): set `--api-token`/`CAIRN_API_TOKEN` or `--api-token-file`/`CAIRN_API_TOKEN_FILE` to its `auth_token` |
//!
//! The API token is sent as `Authorization: Bearer <token>`. (`--auth-token`/`CAIRN_AUTH_TOKEN`
//! are the agents' token of `cairn cluster add`, as in sctool.)

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::output::{Format, table};
use crate::manager::config::Secret;

/// The manager's URL when neither `--url` nor `CAIRN_URL` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:5080";
/// How long connecting to the manager may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole call may take (adding a cluster asks every node's agent).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a client command failed; every message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered at the manager's address.
    #[error("cannot reach the cairn manager at {url} (is it running? set --url or CAIRN_URL)")]
    Unreachable {
        /// The manager's URL.
        url: String,
    },
    /// The https manager's certificate is not trusted.
    #[error(
        "the cairn manager at {url} presented a certificate this client does not trust ({reason}); give --ca-cert FILE with its certificate, or --insecure for a self-signed one"
    )]
    Untrusted {
        /// The manager's URL.
        url: String,
        /// What TLS said.
        reason: String,
    },
    /// The manager did not answer in time.
    #[error("the cairn manager at {url} did not answer within {seconds} s")]
    Timeout {
        /// The manager's URL.
        url: String,
        /// The time allowed.
        seconds: u64,
    },
    /// The call failed below HTTP for another reason.
    #[error("calling the cairn manager at {url} failed: {reason}")]
    Transport {
        /// The manager's URL.
        url: String,
        /// What failed, causes joined on one line.
        reason: String,
    },
    /// `--url` is not an http(s) URL.
    #[error("--url/CAIRN_URL {url:?} is not a URL such as {DEFAULT_URL}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The manager refused the request; its message names the field at fault.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The manager's message.
        message: String,
    },
    /// The manager refused the API token (401).
    #[error(
        "the cairn manager at {url} refused the request: {reason}; set --api-token or CAIRN_API_TOKEN (or --api-token-file or CAIRN_API_TOKEN_FILE) to the manager's auth_token"
    )]
    Unauthorized {
        /// The manager's URL.
        url: String,
        /// Whether a token was sent at all, in words.
        reason: String,
    },
    /// The manager answered something this client cannot read.
    #[error(
        "the manager's answer to {request} could not be read ({reason}); are the manager and this cairn the same version?"
    )]
    BadAnswer {
        /// The method and path of the request.
        request: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A cluster or task the command names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The arguments do not make a request (e.g. an update without anything to change).
    #[error("{0}")]
    Usage(String),
    /// A value given, or the storage configuration, is wrong (`--offline`; names what).
    #[error("{0}")]
    Invalid(String),
    /// A location read directly (`--offline`) could not be read; the store's answer is quoted.
    #[error("{0}")]
    Storage(String),
    /// A listing was printed, but some manifests could not be read (each was named on stderr).
    #[error("{0}")]
    Partial(String),
}

impl ClientError {
    /// The process exit status of this failure (never 0).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) => 2,
            ClientError::Unreachable { .. }
            | ClientError::Untrusted { .. }
            | ClientError::Storage(_)
            | ClientError::Timeout { .. }
            | ClientError::Transport { .. }
            | ClientError::BadUrl { .. }
            | ClientError::BadAnswer { .. } => 3,
            ClientError::NotFound(_) | ClientError::Api { status: 404, .. } => 4,
            ClientError::Api { status: 409, .. } => 5,
            ClientError::Api { status, .. } if *status >= 500 => 6,
            ClientError::Partial(_) => 7,
            ClientError::Unauthorized { .. } => 8,
            ClientError::Api { .. } | ClientError::Invalid(_) => 1,
        }
    }
}

/// Ends a client command: on error, prints its one line to stderr and exits with its
/// [`ClientError::exit_code`].
pub fn finish(result: Result<(), ClientError>) -> anyhow::Result<()> {
    if let Err(e) = result {
        // A partial listing did its work; what it missed is a warning.
        let kind = match e {
            ClientError::Partial(_) => "warning",
            _ => "error",
        };
        eprintln!("{kind}: {e}");
        std::process::exit(e.exit_code().into());
    }
    Ok(())
}

/// An error and its causes joined on one line.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

/// Why TLS refused the manager's certificate, when that is why `e` failed: rustls's verdict,
/// found in the error's causes (an I/O error carries it inside).
fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use tokio_rustls::rustls::{CertificateError, Error as TlsError};
    let mut cause = Some(e);
    while let Some(c) = cause {
        // An I/O error may hold another inside, which its `source` skips.
        let mut inner = Some(c);
        let mut tls = None;
        while let Some(i) = inner {
            if let Some(t) = i.downcast_ref::<TlsError>() {
                tls = Some(t);
                break;
            }
            inner = i
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|x| x as _);
        }
        if let Some(TlsError::InvalidCertificate(why)) = tls {
            return Some(match why {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "it is not valid for the host in --url".to_string()
                }
                other => format!("{other:?}"),
            });
        }
        cause = c.source();
    }
    None
}

/// `text` as one URL path segment (every byte outside the unreserved set percent-encoded).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How to reach the manager: its URL and, for `https`, which certificate to trust. Global flags
/// of every client command.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The manager's REST API (scheme, host and port), for the client commands.
    #[arg(long, global = true, env = "CAIRN_URL", default_value = DEFAULT_URL, value_name = "URL")]
    pub url: String,
    /// For an https --url: trust this PEM certificate (the manager's own, or its CA's) on top of
    /// the system's roots.
    #[arg(long, global = true, env = "CAIRN_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// For an https --url: accept any certificate, e.g. the self-signed one a manager without
    /// tls_cert_file makes at start (the connection is encrypted but not authenticated).
    #[arg(long, global = true, env = "CAIRN_INSECURE")]
    pub insecure: bool,
    /// The manager's API token (its `auth_token`), sent as `Authorization: Bearer`.
    #[arg(
        long,
        global = true,
        env = "CAIRN_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<Secret>,
    /// A file whose first line is the manager's API token.
    #[arg(long, global = true, env = "CAIRN_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
}

impl Connection {
    /// The manager at `url`, trusting the system's roots only.
    pub fn to(url: &str) -> Connection {
        Connection {
            url: url.to_string(),
            ca_cert: None,
            insecure: false,
            api_token: None,
            api_token_file: None,
        }
    }

    /// The API token from `--api-token` or the first line of `--api-token-file`, if any.
    pub fn token(&self) -> Result<Option<Secret>, ClientError> {
        // Empty values (e.g. `CAIRN_API_TOKEN=`) count as not given.
        let token = self.api_token.clone().filter(|t| !t.0.is_empty());
        let file = self
            .api_token_file
            .as_ref()
            .filter(|f| !f.as_os_str().is_empty());
        let file = match (token, file) {
            (Some(_), Some(_)) => {
                return Err(ClientError::Usage(
                    "--api-token/CAIRN_API_TOKEN and --api-token-file/CAIRN_API_TOKEN_FILE are both set: give one".into(),
                ));
            }
            (Some(t), None) => return Ok(Some(t)),
            (None, None) => return Ok(None),
            (None, Some(file)) => file,
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            ClientError::Invalid(format!(
                "--api-token-file/CAIRN_API_TOKEN_FILE {}: {e}",
                file.display()
            ))
        })?;
        let token = text.lines().next().unwrap_or_default().trim().to_string();
        if token.is_empty() {
            return Err(ClientError::Invalid(format!(
                "--api-token-file/CAIRN_API_TOKEN_FILE {}: the first line is empty; it must hold the token",
                file.display()
            )));
        }
        Ok(Some(Secret(token)))
    }
}

/// A client of the manager's REST API.
#[derive(Debug, Clone)]
pub struct ManagerClient {
    /// The manager's base URL, without a trailing slash.
    url: String,
    /// The HTTP client.
    http: reqwest::Client,
    /// Whether `http` sends an API token.
    http_has_token: bool,
}

impl ManagerClient {
    /// A client of the manager at `conn.url` (`http://host:port` or `https://host:port`).
    pub fn new(conn: &Connection) -> Result<Self, ClientError> {
        let url = conn.url.trim().trim_end_matches('/').to_string();
        let bad = |reason: &str| ClientError::BadUrl {
            url: url.clone(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        if rest.is_empty() || rest.contains('/') {
            return Err(bad("give the scheme, host and port only"));
        }
        let mut builder = reqwest::Client::builder()
            // The manager is reached directly, never through a proxy.
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .danger_accept_invalid_certs(conn.insecure);
        if let Some(file) = &conn.ca_cert {
            let unusable = |reason: String| {
                ClientError::Invalid(format!("--ca-cert {}: {reason}", file.display()))
            };
            let pem = std::fs::read(file).map_err(|e| unusable(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| unusable(one_line(&e)))?;
            if certs.is_empty() {
                return Err(unusable("no PEM certificate in it".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let token = conn.token()?;
        let http_has_token = token.is_some();
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.0))
                .map_err(|_| {
                    ClientError::Invalid(
                        "the API token holds characters a header cannot carry".into(),
                    )
                })?;
            value.set_sensitive(true);
            builder = builder.default_headers(
                [(reqwest::header::AUTHORIZATION, value)]
                    .into_iter()
                    .collect(),
            );
        }
        let http = builder.build().map_err(|e| bad(&one_line(&e)))?;
        Ok(ManagerClient {
            url,
            http,
            http_has_token,
        })
    }

    /// The manager's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `method path` (path from `/api/v1`) with an optional JSON body; answers the JSON
    /// body of a 2xx answer (`Null` when empty), or the manager's error as [`ClientError::Api`].
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let request = format!("{method} {path}");
        let mut builder = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            builder = builder.json(b);
        }
        let transport = |e: reqwest::Error| {
            let text = one_line(&e);
            if let Some(reason) = certificate_refused(&e) {
                ClientError::Untrusted {
                    url: self.url.clone(),
                    reason,
                }
            } else if e.is_connect() {
                ClientError::Unreachable {
                    url: self.url.clone(),
                }
            } else if e.is_timeout() {
                ClientError::Timeout {
                    url: self.url.clone(),
                    seconds: CALL_TIMEOUT.as_secs(),
                }
            } else {
                ClientError::Transport {
                    url: self.url.clone(),
                    reason: text,
                }
            }
        };
        let resp = builder.send().await.map_err(transport)?;
        let status = resp.status();
        let text = resp.text().await.map_err(transport)?;
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => v,
                Err(e) if status.is_success() => {
                    return Err(ClientError::BadAnswer {
                        request,
                        reason: format!("not JSON: {e}"),
                    });
                }
                Err(_) => Value::String(text.clone()),
            }
        };
        if status.is_success() {
            return Ok(value);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized {
                url: self.url.clone(),
                reason: if self.http_has_token {
                    "the API token given is wrong".into()
                } else {
                    "it requires an API token and none was given".into()
                },
            });
        }
        let message = match value.get("message").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                let detail = match value.as_str() {
                    Some(t) => format!(": {}", t.lines().next().unwrap_or_default()),
                    None => String::new(),
                };
                format!("the manager answered {status} to {request}{detail}")
            }
        };
        Err(ClientError::Api {
            status: status.as_u16(),
            message: message.replace('\n', " "),
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(reqwest::Method::GET, path, None).await
    }
}

/// `value` read as `T`; a mismatch is a [`ClientError::BadAnswer`] for `request`.
pub fn parse<T: DeserializeOwned>(value: &Value, request: &str) -> Result<T, ClientError> {
    serde_json::from_value(value.clone()).map_err(|e| ClientError::BadAnswer {
        request: request.to_string(),
        reason: e.to_string(),
    })
}

/// What a command prints: with `-o json` the document (as the manager answered it), else the
/// rows as a table under `header`.
pub fn render(format: Format, document: &Value, header: &[&str], rows: &[Vec<String>]) -> String {
    match format {
        Format::Json => format!("{document:#}\n"),
        Format::Table => table(header, rows),
    }
}

/// Prints [`render`] to stdout (a closed pipe, as with `| head`, is not an error).
pub fn print(format: Format, document: &Value, header: &[&str], rows: &[Vec<String>]) {
    print_text(&render(format, document, header, rows));
}

/// Prints `text` to stdout as is, ignoring a closed pipe.
pub fn print_text(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// A time as the tables show it: `2026-01-02 03:04:05 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Seconds as `1d2h`, `12h`, `1h30m`, `90s` → `1m30s`; `0s` for zero.
pub fn duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let parts = [
        (seconds / 86_400, "d"),
        (seconds % 86_400 / 3600, "h"),
        (seconds % 3600 / 60, "m"),
        (seconds % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_tell_the_kind_of_failure() {
        let api = |status| ClientError::Api {
            status,
            message: "m".into(),
        };
        assert_eq!(api(400).exit_code(), 1);
        assert_eq!(api(404).exit_code(), 4);
        assert_eq!(api(409).exit_code(), 5);
        assert_eq!(api(503).exit_code(), 6);
        let down = ClientError::Unreachable {
            url: DEFAULT_URL.into(),
        };
        assert_eq!(down.exit_code(), 3);
        assert_eq!(
            down.to_string(),
            "cannot reach the cairn manager at http://127.0.0.1:5080 (is it running? set --url or CAIRN_URL)"
        );
        assert_eq!(ClientError::NotFound("x".into()).exit_code(), 4);
    }

    #[test]
    fn urls_are_checked_and_segments_encoded() {
        assert_eq!(
            ManagerClient::new(&Connection::to("http://h:1/"))
                .unwrap()
                .url(),
            "http://h:1"
        );
        for bad in ["h:1", "ftp://h", "http://h:1/api", "http://"] {
            let e = ManagerClient::new(&Connection::to(bad)).unwrap_err();
            assert!(matches!(e, ClientError::BadUrl { .. }), "{bad}: {e}");
        }
        assert_eq!(segment("prod east/1?"), "prod%20east%2F1%3F");
        assert_eq!(segment("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn durations_and_documents_print_as_people_read_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(12 * 3600), "12h");
        assert_eq!(duration(86_400 + 5400), "1d1h30m");
        let doc = serde_json::json!([{"a": 1}]);
        let json = render(Format::Json, &doc, &["A"], &[]);
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), doc);
        assert_eq!(
            render(Format::Table, &doc, &["A"], &[vec!["1".into()]]),
            "A\n1\n"
        );
    }
}
