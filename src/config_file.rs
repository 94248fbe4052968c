//! Reading a daemon's YAML configuration file: the errors every daemon's configuration shares
//! (the file could not be read, is not valid YAML for its type, or a key has a value that cannot
//! work), each naming the file or the key and the reason.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Fewest characters an API token may have (the agents' `auth_token`, the manager's).
pub const MIN_TOKEN_LEN: usize = 16;

/// A secret read from a configuration (a token, a key, a password): never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

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

/// Reads and parses a YAML configuration file (validation is the caller's). A key whose value
/// is null (`azure: ~`, `azure: null`, or `azure:` with every key below commented out) reads as
/// if it were absent, so a section takes its defaults. Errors name the key path and what it
/// expects, in the operator's words rather than serde's.
pub fn read_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    parse_yaml(&text).map_err(|message| ConfigError::Parse {
        path: path.into(),
        message,
    })
}

/// Parses a configuration's text; the error is one line naming the key.
pub fn parse_yaml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    if value.is_null() {
        // An empty file (or one of comments only) is an empty configuration.
        value = serde_yaml_ng::Value::Mapping(Default::default());
    }
    if !drop_nulls(&mut value) {
        // Parsed from the text itself, the error keeps its line and column.
        return serde_yaml_ng::from_str(text).map_err(|e| plain_words(&e.to_string()));
    }
    // Parsed again from the text without the null keys: the key path stays right, the line
    // numbers would not, so they are left out.
    let cleaned = serde_yaml_ng::to_string(&value).map_err(|e| e.to_string())?;
    serde_yaml_ng::from_str(&cleaned).map_err(|e| {
        let message = e.to_string();
        let without_position = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        plain_words(&without_position)
    })
}

/// Removes every mapping entry whose value is null, at any depth; returns whether any was.
fn drop_nulls(value: &mut serde_yaml_ng::Value) -> bool {
    match value {
        serde_yaml_ng::Value::Mapping(m) => {
            let before = m.len();
            m.retain(|_, v| !v.is_null());
            let mut dropped = m.len() != before;
            for (_, v) in m.iter_mut() {
                dropped |= drop_nulls(v);
            }
            dropped
        }
        serde_yaml_ng::Value::Sequence(items) => {
            let mut dropped = false;
            for v in items.iter_mut() {
                dropped |= drop_nulls(v);
            }
            dropped
        }
        serde_yaml_ng::Value::Tagged(t) => drop_nulls(&mut t.value),
        _ => false,
    }
}

/// Rewrites a serde message (`s3.path_style: invalid type: integer `3`, expected a boolean at
/// line 2 column 15`) in the operator's words (`s3.path_style: expected true or false, got 3
/// (line 2 column 15)`).
pub fn plain_words(message: &str) -> String {
    let (body, position) = match message.rfind(" at line ") {
        Some(i) => (&message[..i], Some(&message[i + 4..])),
        None => (message, None),
    };
    // A key path prefix, if any: `a.b: rest` where `a.b` has no spaces.
    let (key, rest) = match body.split_once(": ") {
        Some((k, r)) if !k.is_empty() && !k.contains(' ') => (Some(k.to_string()), r),
        _ => (None, body),
    };
    let join = |key: Option<&str>, sub: Option<&str>| -> Option<String> {
        match (key, sub) {
            (Some(k), Some(s)) => Some(format!("{k}.{s}")),
            (None, Some(s)) => Some(s.to_string()),
            (k, None) => k.map(str::to_string),
        }
    };
    let ticks = |s: &str| -> String { s.replace('`', "") };
    let type_or_value = rest
        .strip_prefix("invalid type: ")
        .or_else(|| rest.strip_prefix("invalid value: "));
    let (key, text) = if let Some(r) = type_or_value {
        match r.split_once(", expected ") {
            Some((got, expected)) => (
                key,
                format!(
                    "expected {}, got {}",
                    expected_words(expected),
                    got_words(got)
                ),
            ),
            None => (key, r.to_string()),
        }
    } else if let Some(r) = rest.strip_prefix("unknown field `") {
        let (field, known) = r.split_once('`').unwrap_or((r, ""));
        let known = known
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .trim_start_matches(", there are no fields");
        let text = if known.is_empty() {
            "unknown key (this section takes none)".to_string()
        } else {
            format!("unknown key; the keys here are {}", ticks(known))
        };
        (join(key.as_deref(), Some(field)), text)
    } else if let Some(r) = rest.strip_prefix("missing field `") {
        let field = r.trim_end_matches('`');
        (
            join(key.as_deref(), Some(field)),
            "missing (required)".to_string(),
        )
    } else if let Some(r) = rest.strip_prefix("unknown variant `") {
        let (variant, known) = r.split_once('`').unwrap_or((r, ""));
        let known = known
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ");
        (
            key,
            format!(
                "unknown value {variant:?}; expected one of {}",
                ticks(known)
            ),
        )
    } else {
        (key, rest.to_string())
    };
    let mut out = match key {
        Some(k) => format!("{k}: {text}"),
        None => text,
    };
    if let Some(p) = position {
        out.push_str(&format!(" ({p})"));
    }
    out
}

/// What serde says a key expects, as an operator would say it.
fn expected_words(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "a boolean" => "true or false".into(),
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a string" | "string" => "a text value".into(),
        "a sequence" => "a list".into(),
        "a map" => "a section of key: value lines".into(),
        _ if e.starts_with("struct ") || e.starts_with("internally tagged enum") => {
            "a section of key: value lines".into()
        }
        _ if e.starts_with("enum ") => "one of the documented values".into(),
        _ => e.replace('`', ""),
    }
}

/// What serde says was found, as an operator would say it.
fn got_words(got: &str) -> String {
    let g = got.trim();
    if g == "unit value" {
        return "nothing (null)".into();
    }
    if g == "map" {
        return "a section".into();
    }
    if g == "sequence" {
        return "a list".into();
    }
    for prefix in [
        "integer ",
        "floating point ",
        "boolean ",
        "string ",
        "char ",
    ] {
        if let Some(v) = g.strip_prefix(prefix) {
            return v.trim_matches('`').to_string();
        }
    }
    g.replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Section {
        #[serde(default = "seven")]
        n: u16,
        #[serde(default)]
        on: bool,
    }
    impl Default for Section {
        fn default() -> Self {
            Section { n: 7, on: false }
        }
    }
    fn seven() -> u16 {
        7
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Top {
        #[serde(default)]
        section: Section,
        #[serde(default)]
        name: Option<String>,
    }

    #[test]
    fn a_null_section_reads_as_an_empty_one() {
        let defaults = Top {
            section: Section::default(),
            name: None,
        };
        for text in [
            "",
            "# nothing\n",
            "section: ~\n",
            "section: null\n",
            "section:\n  # n: 3\n",
            "section: {}\n",
            "section:\n  n: ~\nname: ~\n",
        ] {
            assert_eq!(parse_yaml::<Top>(text).unwrap(), defaults, "{text:?}");
        }
    }

    #[test]
    fn the_managers_sections_may_be_null_too() {
        use crate::manager::config::ManagerConfig;
        let bare: ManagerConfig = parse_yaml("{}").unwrap();
        for text in ["store: ~\n", "store:\n  # type: sqlite\n", "backup: null\n"] {
            let c: ManagerConfig = parse_yaml(text).unwrap();
            assert_eq!(
                format!("{:?}", c.store),
                format!("{:?}", bare.store),
                "{text}"
            );
        }
        let e = parse_yaml::<ManagerConfig>("store: 5\n").unwrap_err();
        assert_eq!(
            e,
            "store: expected a section of key: value lines, got 5 (line 1 column 8)"
        );
    }

    #[test]
    fn errors_name_the_key_in_plain_words() {
        for (text, want) in [
            (
                "section:\n  on: 3\n",
                "section.on: expected true or false, got 3 (line 2 column 7)",
            ),
            (
                "section:\n  n: seventy\n",
                "section.n: expected a whole number from 0 to 65535, got \"seventy\" (line 2 column 6)",
            ),
            (
                "section: 5\n",
                "section: expected a section of key: value lines, got 5 (line 1 column 10)",
            ),
            (
                "section:\n  bogus: 1\n",
                "section.bogus: unknown key; the keys here are n or on (line 2 column 3)",
            ),
            (
                "nme: x\n",
                "nme: unknown key; the keys here are section or name",
            ),
            (
                "name: ~\nsection: 5\n",
                "section: expected a section of key: value lines, got 5",
            ),
        ] {
            let e = parse_yaml::<Top>(text).unwrap_err();
            assert_eq!(e, want, "{text:?}");
            assert!(!e.contains("invalid type"), "{e}");
        }
    }
}
