//! View building: a view created while the cluster runs reports `STARTED` on every node for
//! [`BUILD_TIME`] before `SUCCESS`, so a restore that must wait for views really waits; views
//! of the initial dataset are built already.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long building a new view takes.
pub const BUILD_TIME: Duration = Duration::from_secs(1);

/// When each view created while running was created.
#[derive(Debug, Default)]
pub struct ViewBuilds {
    /// (keyspace, view) → creation time.
    created: Mutex<HashMap<(String, String), Instant>>,
}

impl ViewBuilds {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
        self.created.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `keyspace.view` was just created.
    pub fn created(&self, keyspace: &str, view: &str) {
        self.lock()
            .insert((keyspace.to_string(), view.to_string()), Instant::now());
    }

    /// The build status of `keyspace.view` on every node: `STARTED` or `SUCCESS`.
    pub fn status(&self, keyspace: &str, view: &str) -> &'static str {
        match self.lock().get(&(keyspace.to_string(), view.to_string())) {
            Some(at) if at.elapsed() < BUILD_TIME => "STARTED",
            _ => "SUCCESS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_view_is_started_then_built() {
        let v = ViewBuilds::default();
        assert_eq!(v.status("ks", "mv"), "SUCCESS", "dataset views are built");
        v.created("ks", "mv");
        assert_eq!(v.status("ks", "mv"), "STARTED");
    }
}
