//! Table options (`WITH bloom_filter_fp_chance = ... AND tombstone_gc = {...}`): Scylla's
//! defaults, how `DESCRIBE` renders them, and their typed form for `system_schema.tables`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One option's value as CQL wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionValue {
    /// A string literal.
    Text(String),
    /// A number, as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// A map literal with text keys and values.
    Map(BTreeMap<String, String>),
}

impl OptionValue {
    /// The value as CQL writes it.
    pub fn cql(&self) -> String {
        match self {
            OptionValue::Text(s) => quote(s),
            OptionValue::Number(n) => n.clone(),
            OptionValue::Bool(b) => b.to_string(),
            OptionValue::Map(m) => map_cql(m),
        }
    }

    /// The value as text (a map has none).
    pub fn as_text(&self) -> Option<String> {
        match self {
            OptionValue::Text(s) | OptionValue::Number(s) => Some(s.clone()),
            OptionValue::Bool(b) => Some(b.to_string()),
            OptionValue::Map(_) => None,
        }
    }
}

/// A CQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A `map<text, text>` as CQL writes it, keys in order (for compaction: `class` first).
pub fn map_cql(m: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(class) = m.get("class") {
        parts.push(format!("'class': {}", quote(class)));
    }
    parts.extend(
        m.iter()
            .filter(|(k, _)| *k != "class")
            .map(|(k, v)| format!("{}: {}", quote(k), quote(v))),
    );
    format!("{{{}}}", parts.join(", "))
}

/// The options `DESCRIBE` always prints, in its order, with Scylla's defaults.
const RENDERED: &[&str] = &[
    "bloom_filter_fp_chance",
    "caching",
    "comment",
    "compaction",
    "compression",
    "crc_check_chance",
    "default_time_to_live",
    "gc_grace_seconds",
    "max_index_interval",
    "memtable_flush_period_in_ms",
    "min_index_interval",
    "speculative_retry",
];

/// Options kept as schema extensions (`system_schema.tables.extensions`), printed after the others.
pub const EXTENSIONS: &[&str] = &["tombstone_gc", "cdc"];

/// Scylla's default of an option, when it has one.
fn default_of(name: &str) -> Option<OptionValue> {
    let map = |pairs: &[(&str, &str)]| {
        OptionValue::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    let num = |n: &str| OptionValue::Number(n.to_string());
    Some(match name {
        "bloom_filter_fp_chance" => num("0.01"),
        "caching" => map(&[("keys", "ALL"), ("rows_per_partition", "ALL")]),
        "comment" => OptionValue::Text(String::new()),
        "compaction" => map(&[("class", "SizeTieredCompactionStrategy")]),
        "compression" => map(&[(
            "sstable_compression",
            "org.apache.cassandra.io.compress.LZ4Compressor",
        )]),
        "crc_check_chance" => num("1"),
        "default_time_to_live" => num("0"),
        "gc_grace_seconds" => num("864000"),
        "max_index_interval" => num("2048"),
        "memtable_flush_period_in_ms" => num("0"),
        "min_index_interval" => num("128"),
        "speculative_retry" => OptionValue::Text("99.0PERCENTILE".into()),
        "tombstone_gc" => map(&[
            ("mode", "timeout"),
            ("propagation_delay_in_seconds", "3600"),
        ]),
        _ => return None,
    })
}

/// Why an option was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// Not an option Scylla knows.
    #[error("Unknown property '{0}'")]
    Unknown(String),
    /// The option's own check refused the value, in Scylla's words.
    #[error("{0}")]
    Invalid(String),
    /// The value has the wrong shape or range.
    #[error("Invalid value for property '{name}': {reason}")]
    BadValue {
        /// The option.
        name: String,
        /// What was wrong.
        reason: String,
    },
}

/// Every option a table accepts besides those with defaults.
const OTHER_KNOWN: &[&str] = &[
    "cdc",
    "paxos_grace_seconds",
    "synchronous_updates",
    "tablets",
    "read_repair_chance",
    "dclocal_read_repair_chance",
];

/// A table's options, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options(pub BTreeMap<String, OptionValue>);

impl Default for Options {
    fn default() -> Self {
        Options(
            RENDERED
                .iter()
                .chain(["tombstone_gc"].iter())
                .filter_map(|n| default_of(n).map(|v| (n.to_string(), v)))
                .collect(),
        )
    }
}

impl Options {
    /// Sets an option, checking its name and the shape of its value.
    pub fn set(&mut self, name: &str, value: OptionValue) -> Result<(), OptionError> {
        let known = default_of(name).is_some() || OTHER_KNOWN.contains(&name);
        if !known {
            return Err(OptionError::Unknown(name.to_string()));
        }
        let bad = |reason: &str| OptionError::BadValue {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let value = match (default_of(name), value) {
            (Some(OptionValue::Map(_)), OptionValue::Map(mut m)) => {
                if name == "compaction" {
                    let class = m.get("class").ok_or_else(|| bad("missing 'class'"))?;
                    let short = class.rsplit('.').next().unwrap_or(class).to_string();
                    m.insert("class".into(), short);
                }
                if name == "tombstone_gc" {
                    m = tombstone_gc(&m)?;
                }
                OptionValue::Map(m)
            }
            (Some(OptionValue::Map(_)), _) => return Err(bad("expected a map")),
            (Some(OptionValue::Number(_)), v @ OptionValue::Number(_)) => v,
            (Some(OptionValue::Number(_)), _) => return Err(bad("expected a number")),
            (Some(OptionValue::Text(_)), v @ OptionValue::Text(_)) => v,
            (Some(OptionValue::Text(_)), _) => return Err(bad("expected a string")),
            (_, v) => v,
        };
        self.0.insert(name.to_string(), value);
        Ok(())
    }

    /// An option's value.
    pub fn get(&self, name: &str) -> Option<&OptionValue> {
        self.0.get(name)
    }

    /// A map option (empty when unset or not a map).
    pub fn map(&self, name: &str) -> BTreeMap<String, String> {
        match self.0.get(name) {
            Some(OptionValue::Map(m)) => m.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// A numeric option as a double (its default when unset).
    pub fn double(&self, name: &str) -> f64 {
        self.0
            .get(name)
            .or(default_of(name).as_ref())
            .and_then(OptionValue::as_text)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0)
    }

    /// A numeric option as an int.
    pub fn int(&self, name: &str) -> i32 {
        self.double(name) as i32
    }

    /// A text option.
    pub fn text(&self, name: &str) -> String {
        self.0
            .get(name)
            .and_then(OptionValue::as_text)
            .unwrap_or_default()
    }

    /// `name = value` pairs in `DESCRIBE`'s order: the always-printed ones, the extensions, then
    /// any other option given at creation.
    pub fn rendered(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |n: &str| {
            if let Some(v) = self.0.get(n).cloned().or_else(|| default_of(n)) {
                out.push((n.to_string(), v.cql()));
            }
        };
        for n in RENDERED.iter().chain(EXTENSIONS) {
            push(n);
        }
        for n in self.0.keys() {
            if !RENDERED.contains(&n.as_str()) && !EXTENSIONS.contains(&n.as_str()) {
                push(n);
            }
        }
        out
    }

    /// `system_schema.tables.extensions`: each extension's options serialized as Scylla
    /// serializes a `map<text, text>` (little-endian counts and lengths).
    pub fn extensions(&self) -> Vec<(String, Vec<u8>)> {
        EXTENSIONS
            .iter()
            .filter_map(|n| match self.0.get(*n) {
                Some(OptionValue::Map(m)) => Some((n.to_string(), serialize_map(m))),
                _ => None,
            })
            .collect()
    }
}

/// A `tombstone_gc` map as Scylla keeps it: both `mode` and `propagation_delay_in_seconds`,
/// defaults filled in, with Scylla's errors for anything else.
fn tombstone_gc(m: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, OptionError> {
    let invalid = |message: String| OptionError::Invalid(message);
    let mut mode = "timeout".to_string();
    let mut delay = "3600".to_string();
    for (k, v) in m {
        match k.as_str() {
            "mode" if ["timeout", "repair", "disabled", "immediate"].contains(&v.as_str()) => {
                mode = v.clone()
            }
            "mode" => {
                return Err(invalid(format!(
                    "Invalid value for tombstone_gc option mode: {v}"
                )));
            }
            "propagation_delay_in_seconds" if v.parse::<u32>().is_ok() => {
                delay = v.parse::<u32>().map(|n| n.to_string()).unwrap_or_default()
            }
            "propagation_delay_in_seconds" => {
                return Err(invalid(format!(
                    "Invalid value for tombstone_gc option propagation_delay_in_seconds: {v}"
                )));
            }
            other => return Err(invalid(format!("Invalid tombstone_gc option: {other}"))),
        }
    }
    Ok([
        ("mode".to_string(), mode),
        ("propagation_delay_in_seconds".to_string(), delay),
    ]
    .into())
}

/// Scylla's IDL serialization of a `std::map<sstring, sstring>`.
pub fn serialize_map(m: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(m.len() as u32).to_le_bytes());
    for (k, v) in m {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_in_describe_order_and_values_are_checked() {
        let o = Options::default();
        let r = o.rendered();
        assert_eq!(r[0], ("bloom_filter_fp_chance".into(), "0.01".into()));
        assert_eq!(
            r.last().cloned(),
            Some((
                "tombstone_gc".into(),
                "{'mode': 'timeout', 'propagation_delay_in_seconds': '3600'}".into()
            ))
        );
        let mut o = o;
        assert!(o.set("nope", OptionValue::Bool(true)).is_err());
        assert!(
            o.set("gc_grace_seconds", OptionValue::Text("x".into()))
                .is_err()
        );
        let map = |pairs: &[(&str, &str)]| {
            OptionValue::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let err = o.set("tombstone_gc", map(&[("mode", "sometimes")]));
        assert_eq!(
            err.unwrap_err().to_string(),
            "Invalid value for tombstone_gc option mode: sometimes"
        );
        assert!(o.set("tombstone_gc", map(&[("nope", "1")])).is_err());
        o.set("tombstone_gc", map(&[("mode", "repair")])).unwrap();
        assert_eq!(
            o.get("tombstone_gc"),
            Some(&map(&[
                ("mode", "repair"),
                ("propagation_delay_in_seconds", "3600")
            ]))
        );
        assert_eq!(
            serialize_map(&[("a".to_string(), "bc".to_string())].into()),
            vec![1, 0, 0, 0, 1, 0, 0, 0, b'a', 2, 0, 0, 0, b'b', b'c']
        );
    }
}
