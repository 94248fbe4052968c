//! Reading requests: a JSON body or value parsed into a request type, every refusal a 400 naming
//! the field at fault; boolean query parameters.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// A request body parsed as `T`. An empty body is `{}`. A body that is not JSON, an unknown or
/// missing key, or a value of the wrong type is a 400 naming the field (see [`parse_value`]).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_field("body", format!("not a JSON document: {e}")))?
    };
    if !value.is_object() {
        return Err(ApiError::bad_field(
            "body",
            format!(
                "must be a JSON object ({{\"key\": value, ...}}), not {}",
                json_kind(&value)
            ),
        ));
    }
    parse_value(value, "")
}

/// What kind of JSON value `v` is, for messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value parsed as `T`, whose fields must all have defaults; an error names the field
/// (prefixed with `prefix`, e.g. `properties.`): the unknown or missing key serde names, or else
/// the first key whose value alone does not parse.
pub fn parse_value<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, ApiError> {
    let err = match serde_json::from_value::<T>(value.clone()) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let text = err.to_string();
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|lead| text.strip_prefix(lead)?.split('`').next());
    let field = match (named, &value) {
        (Some(name), _) => name.to_string(),
        (None, Value::Object(map)) => map
            .iter()
            .find(|(k, v)| {
                let alone = Value::Object([((*k).clone(), (*v).clone())].into_iter().collect());
                serde_json::from_value::<T>(alone).is_err()
            })
            .map(|(k, _)| k.clone())
            .unwrap_or_default(),
        (None, _) => String::new(),
    };
    let field = match (prefix, field.as_str()) {
        ("", "") => "body".to_string(),
        (p, "") => p.trim_end_matches('.').to_string(),
        (p, f) => format!("{p}{f}"),
    };
    Err(ApiError::bad_field(field, text))
}

/// A bool query parameter: `true`/`false` (or `1`/`0`), `default` when absent.
pub fn query_bool(
    query: &HashMap<String, String>,
    key: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match query.get(key).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => Err(ApiError::bad_field(
            key,
            format!("{v:?} is not true or false"),
        )),
    }
}
