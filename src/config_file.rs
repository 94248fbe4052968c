//! Reading a daemon's YAML configuration file: the errors every daemon's configuration shares
//! (the file could not be read, is not valid YAML for its type, or a key has a value that cannot
//! work), each naming the file or the key and the reason.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML for this configuration.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the key or position.
        message: String,
    },
    /// A key has a value that cannot work.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key, dotted (`s3.endpoint`).
        key: String,
        /// What is wrong and what is expected.
        reason: String,
    },
}

/// The error for a key whose value cannot work.
pub fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Reads and parses a YAML configuration file (validation is the caller's).
pub fn read_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.to_string(),
    })
}
