//! The manager's settings for backup runs ([`RunSettings`]), from its configuration; every run
//! and each of its node actors holds them.

use std::time::Duration;

use crate::manager::config::{BackupSettings, Checked, RestoreSettings};
use crate::manager::lease::hostname;

/// Run settings from the manager's configuration.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Minimum free disk (percent) to snapshot a host.
    pub disk_free_min_percent: u8,
    /// One long poll of an agent job.
    pub long_poll: Duration,
    /// Oldest interrupted run that is resumed (`None`: any).
    pub age_max: Option<Duration>,
    /// Fresh node actors a failing host gets within one stage before it fails.
    pub host_restarts: u32,
    /// The pause before a host's first restart (doubled for each next one).
    pub host_restart_backoff: Duration,
    /// The manager instance running the run (`scheduler_task_run.owner`).
    pub owner: String,
    /// Whether a restoring host downloads its next batch while the current one is loaded
    /// (Cairn's default); off, it downloads then loads each batch in turn, as upstream does.
    pub restore_pipeline: bool,
}

impl RunSettings {
    /// The settings of a checked configuration.
    pub fn from_config(
        backup: &BackupSettings,
        restore: &RestoreSettings,
        checked: &Checked,
    ) -> Self {
        RunSettings {
            disk_free_min_percent: backup.disk_space_free_min_percent,
            restore_pipeline: restore.pipeline,
            long_poll: checked.long_poll,
            age_max: checked.age_max,
            ..RunSettings::default()
        }
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            disk_free_min_percent: 10,
            long_poll: Duration::from_secs(10),
            age_max: Some(Duration::from_secs(24 * 3600)),
            host_restarts: 2,
            host_restart_backoff: Duration::from_secs(2),
            owner: hostname(),
            restore_pipeline: true,
        }
    }
}
