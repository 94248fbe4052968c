//! The properties of a validate task: upstream's keys (`location`, `delete_orphaned_files`,
//! `parallel`, spec §11) and Cairn's (`content`, `sample`, `orphan_grace`), and their validation.

use serde::{Deserialize, Serialize};

use crate::manager::backup::properties::{PropertiesError, PropertyProblem};
use crate::manager::store::TaskType;

/// How much of each SSTable's content a run checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentCheck {
    /// Presence, sizes and orphans only (upstream's check, plus sizes).
    #[default]
    None,
    /// Also each `Data.db`'s CRC-32 against its `Digest.crc32`, and `TOC.txt` against the
    /// components present.
    Digest,
    /// Also each object's MD5 against the one the store keeps, where it keeps one.
    Full,
}

impl ContentCheck {
    /// The flag's text (`none`, `digest`, `full`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContentCheck::None => "none",
            ContentCheck::Digest => "digest",
            ContentCheck::Full => "full",
        }
    }
}

/// The default grace period: files written within it are never deleted as orphans.
pub const DEFAULT_ORPHAN_GRACE: &str = "24h";

/// The properties of a validate task, with upstream's JSON keys where upstream has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidateProperties {
    /// Locations `[dc:]provider:bucket`; empty means those of the cluster's enabled backup tasks.
    pub location: Vec<String>,
    /// Delete orphaned files (within the safety rules of [`super::orphans`]).
    pub delete_orphaned_files: bool,
    /// Hosts validating at once per location; 0 means all (upstream accepts and ignores it).
    pub parallel: i64,
    /// How much content to check.
    pub content: ContentCheck,
    /// Percent of SSTables whose content a run checks (1-100), rotating between runs.
    pub sample: u8,
    /// Files written within this duration (`24h`, `90m`) are never deleted as orphans.
    pub orphan_grace: String,
}

impl Default for ValidateProperties {
    fn default() -> Self {
        ValidateProperties {
            location: Vec::new(),
            delete_orphaned_files: false,
            parallel: 0,
            content: ContentCheck::None,
            sample: 100,
            orphan_grace: DEFAULT_ORPHAN_GRACE.to_string(),
        }
    }
}

impl ValidateProperties {
    /// Parses a task's properties JSON (absent keys take their defaults).
    pub fn from_json(json: &str) -> Result<Self, PropertiesError> {
        serde_json::from_str(json)
            .map_err(|e| PropertiesError::document(TaskType::ValidateBackup, &e))
    }

    /// The grace period as a duration (valid properties only; 24 h otherwise).
    pub fn grace(&self) -> std::time::Duration {
        crate::units::parse_duration(&self.orphan_grace)
            .unwrap_or(std::time::Duration::from_secs(24 * 3600))
    }

    /// Every problem with the values, by field; locations are checked for syntax here and for
    /// reachability when the task is created.
    pub fn validate(&self) -> Result<(), PropertiesError> {
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, l) in self.location.iter().enumerate() {
            if let Err(e) = l.parse::<crate::format::location::Location>() {
                problems.push(PropertyProblem {
                    field: format!("location[{i}]"),
                    reason: e.to_string(),
                });
            } else if !seen.insert(l.as_str()) {
                problems.push(PropertyProblem {
                    field: format!("location[{i}]"),
                    reason: format!("{l} is given twice"),
                });
            }
        }
        if self.parallel < 0 {
            problems.push(PropertyProblem {
                field: "parallel".into(),
                reason: format!("{} is negative", self.parallel),
            });
        }
        if !(1..=100).contains(&self.sample) {
            problems.push(PropertyProblem {
                field: "sample".into(),
                reason: format!("{} is not a percentage from 1 to 100", self.sample),
            });
        }
        if crate::units::parse_duration(&self.orphan_grace).is_none() {
            problems.push(PropertyProblem {
                field: "orphan_grace".into(),
                reason: format!(
                    "{:?} is not a duration such as 24h, 90m or 0",
                    self.orphan_grace
                ),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PropertiesError::new(TaskType::ValidateBackup, problems))
        }
    }
}
