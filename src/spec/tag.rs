//! Placeholder for snapshot tags; replaced by the full implementation on merge.

use std::fmt;
use std::str::FromStr;

/// A snapshot tag `sm_YYYYMMDDhhmmssUTC`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotTag(String);

/// Why a snapshot tag was refused.
#[derive(Debug, thiserror::Error)]
#[error("snapshot tag {0:?}: expected sm_YYYYMMDDhhmmssUTC")]
pub struct TagError(String);

impl SnapshotTag {
    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SnapshotTag {
    type Err = TagError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 20
            && s.starts_with("sm_")
            && s.ends_with("UTC")
            && s[3..17].bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(TagError(s.to_string()))
        }
    }
}

impl fmt::Display for SnapshotTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
