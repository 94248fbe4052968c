//! The lines every run's progress starts with (run, status, start and end times, duration) and
//! the value helpers they use; shared by the backup, restore and validate progress views.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::client::{duration, time};

/// The header lines every run's view starts with: run, status, start and end times, duration.
pub(crate) fn run_header(details: &Value) -> Vec<(&'static str, String)> {
    let run = &details["run"];
    let start = timestamp(&run["start_time"]);
    let end = timestamp(&run["end_time"]);
    vec![
        ("Run", text(&run["id"])),
        ("Status", text(&details["status_text"])),
        ("Start time", start.map_or("-".into(), time)),
        ("End time", end.map_or("-".into(), time)),
        (
            "Duration",
            start.map_or("-".into(), |s| {
                let secs = (end.unwrap_or_else(Utc::now) - s).num_seconds().max(0);
                duration(secs as u64)
            }),
        ),
    ]
}

/// Header lines as `Label:       value`, values aligned.
pub(crate) fn header_text(header: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (label, value) in header {
        out.push_str(&format!("{:<14}{value}\n", format!("{label}:")));
    }
    out
}

/// A string value, or the JSON text of anything else (empty for null).
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// An RFC 3339 time value.
pub(crate) fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| s.parse().ok())
}
