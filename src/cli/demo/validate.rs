//! The demo's validate: after the second backup, a `validate_backup` task checking the location
//! with content digests (every `Data.db` against its `Digest.crc32`) is created, started and
//! waited for through the manager, and its report's tables are printed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::api::Api;
use super::{DemoError, LOCATION, NAME, RECORD_GRACE, REFRESH, RUN_TIMEOUT};
use crate::cli::progress::is_final;
use crate::cli::validate::render::report_text;
use crate::manager::validate::report::ValidateReport;

/// Creates the validate task `validate_backup/demo` (disabled: it runs when started), runs it,
/// prints its report indented, and fails unless the run ended DONE with the backups whole.
pub(super) async fn validate(api: &Api, url: &str) -> Result<(), DemoError> {
    api.call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/cluster/{NAME}/tasks"),
        Some(
            json!({"type": "validate_backup", "name": NAME, "enabled": false,
                    "properties": {"location": [LOCATION], "content": "digest"}}),
        ),
    )
    .await?;
    println!(
        "\nvalidate_backup/{NAME}: every file of both backups present with its size, every Data.db against its Digest.crc32"
    );
    let started = Instant::now();
    let task = format!("{url}/api/v1/cluster/{NAME}/task/validate_backup/{NAME}");
    let run = api
        .call(reqwest::Method::PUT, &format!("{task}/start"), None)
        .await?;
    let run_id = run["run_id"].as_str().unwrap_or("latest").to_string();
    let details: Value = loop {
        match api
            .call(reqwest::Method::GET, &format!("{task}/{run_id}"), None)
            .await
        {
            Ok(doc) if is_final(&doc) => break doc,
            Ok(_) => {}
            // The run is recorded a moment after it is started.
            Err(DemoError::Api { status: 404, .. }) if started.elapsed() < RECORD_GRACE => {}
            Err(e) => return Err(e),
        }
        if started.elapsed() > RUN_TIMEOUT {
            return Err(DemoError::Run(format!(
                "validate still running after {} s",
                RUN_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(REFRESH.min(Duration::from_millis(500))).await;
    };
    let report: Option<ValidateReport> = serde_json::from_value(details["report"].clone()).ok();
    if let Some(r) = &report {
        for line in report_text(r).lines() {
            if line.is_empty() {
                println!();
            } else {
                println!("  {line}");
            }
        }
    }
    let status = details["run"]["status"].as_str().unwrap_or_default();
    if status != "DONE" || !report.as_ref().is_some_and(ValidateReport::healthy) {
        return Err(DemoError::Run(format!(
            "validate ended {status}: {}",
            details["run"]["cause"].as_str().unwrap_or_default()
        )));
    }
    println!(
        "validate_backup/{NAME} DONE in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
