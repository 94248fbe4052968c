//! The demo's client of the manager's and the emulator's HTTP APIs.

use std::time::Duration;

use serde_json::Value;

use super::DemoError;
use super::process::{Tokens, bearer};

/// A client of the manager's and the emulator's HTTP APIs.
pub(super) struct Api {
    /// The HTTP client.
    pub(super) http: reqwest::Client,
}

impl Api {
    /// A client sending the manager's API token.
    pub(super) fn new(tokens: &Tokens) -> Result<Api, DemoError> {
        Ok(Api {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .default_headers(bearer(&tokens.api)?)
                .build()
                .map_err(|source| DemoError::Http {
                    what: "building the HTTP client".into(),
                    source,
                })?,
        })
    }

    /// Sends a request and returns its JSON answer (Null when empty).
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, DemoError> {
        let what = format!("{method} {url}");
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|source| DemoError::Http {
            what: what.clone(),
            source,
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|source| DemoError::Http {
            what: what.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(DemoError::Api {
                what,
                status: status.as_u16(),
                body: text.trim().to_string(),
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
