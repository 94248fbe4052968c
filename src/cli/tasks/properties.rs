//! A task's properties as `cairn tasks --show-properties` and `cairn info` print them: keys as
//! sctool's flags name them (`retention_days` as `retention-days`), lists comma-joined, and the
//! properties left at their default (absent, `false`, empty) left out.

use serde_json::Value;

/// The properties set to something, by key: `(key, value)` as people read them.
pub fn properties(p: &Value) -> Vec<(String, String)> {
    let Some(map) = p.as_object() else {
        return Vec::new();
    };
    let mut out: Vec<_> = map
        .iter()
        .filter_map(|(k, v)| value_text(v).map(|t| (k.replace('_', "-"), t)))
        .collect();
    out.sort();
    out
}

/// The PROPERTIES cell: `keyspace=store location=s3:b retention=3`.
pub fn properties_cell(p: &Value) -> String {
    let items: Vec<_> = properties(p)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    items.join(" ")
}

/// A property's value as text; none for a value left at its default (null, `false`, empty).
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) if o.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    i => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Object(o) => Some(
            o.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}:{s}"),
                    v => format!("{k}:{v}"),
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        v => Some(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_properties_print_compactly_and_defaults_are_left_out() {
        let p = json!({
            "location": ["s3:b", "dc2:gcs:c"],
            "retention": 3,
            "retention_days": 0,
            "keyspace": ["ks1"],
            "skip_schema": false,
            "purge_only": true,
            "dc": [],
            "dc_mapping": {"dc1": "eu"},
            "snapshot_tag": null,
        });
        assert_eq!(
            properties_cell(&p),
            "dc-mapping=dc1:eu keyspace=ks1 location=s3:b,dc2:gcs:c purge-only=true retention=3 retention-days=0"
        );
        assert_eq!(properties_cell(&Value::Null), "");
    }
}
