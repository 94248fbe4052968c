//! Snapshot tags: `sm_YYYYMMDDhhmmssUTC`, the name of one backup run's snapshot.
//!
//! A [`SnapshotTag`] always holds a valid tag: the upstream pattern `^sm_([0-9]{14})UTC$` and a
//! real calendar date and time in UTC. All tags have the same length and a most-significant-first
//! layout, so comparing tags as strings compares them chronologically; retention, versioned
//! files and date filters rely on it. The JSON form is the string itself.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};

use crate::format::location::serde_as_string;

/// The fixed prefix of every snapshot tag.
const PREFIX: &str = "sm_";
/// The fixed suffix of every snapshot tag.
const SUFFIX: &str = "UTC";
/// The number of digits between prefix and suffix: `YYYYMMDDhhmmss`.
const DIGITS: usize = 14;

/// What [`SnapshotTag`] parsing found wrong, quoting the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The text does not have the `sm_` + 14 digits + `UTC` shape.
    #[error(
        "snapshot tag {0:?}: malformed (expected sm_YYYYMMDDhhmmssUTC, e.g. sm_20210809095541UTC)"
    )]
    Malformed(
        /// The text as given.
        String,
    ),
    /// The shape is right but the digits are not a real UTC date and time.
    #[error(
        "snapshot tag {0:?}: not a valid date and time (expected sm_YYYYMMDDhhmmssUTC with a real calendar date, hours 00-23, minutes and seconds 00-59)"
    )]
    BadTime(
        /// The text as given.
        String,
    ),
}

/// A snapshot tag `sm_YYYYMMDDhhmmssUTC`; ordering is chronological.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotTag(String);

impl SnapshotTag {
    /// The tag for time `t`, with sub-second precision dropped.
    ///
    /// Times outside the years 0000–9999, which a 14-digit tag cannot hold, are clamped to the
    /// first or last second of that range.
    pub fn from_time(t: DateTime<Utc>) -> SnapshotTag {
        let (y, mo, d, h, mi, s) = match t.year() {
            ..0 => (0, 1, 1, 0, 0, 0),
            10000.. => (9999, 12, 31, 23, 59, 59),
            y => (y, t.month(), t.day(), t.hour(), t.minute(), t.second()),
        };
        SnapshotTag(format!(
            "{PREFIX}{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}{SUFFIX}"
        ))
    }

    /// The tag for the current time.
    pub fn now() -> SnapshotTag {
        SnapshotTag::from_time(Utc::now())
    }

    /// The time this tag names, to the second.
    pub fn time(&self) -> DateTime<Utc> {
        // The tag was validated on construction, so the fallback is never taken.
        parse_digits(&self.0[PREFIX.len()..PREFIX.len() + DIGITS]).unwrap_or_default()
    }

    /// The tag text, e.g. `sm_20210809095541UTC`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads `YYYYMMDDhhmmss` as a UTC time; `None` when it is not a real date and time.
fn parse_digits(digits: &str) -> Option<DateTime<Utc>> {
    let num = |range: std::ops::Range<usize>| digits.get(range)?.parse::<u32>().ok();
    let year = i32::try_from(num(0..4)?).ok()?;
    let naive = NaiveDate::from_ymd_opt(year, num(4..6)?, num(6..8)?)?.and_hms_opt(
        num(8..10)?,
        num(10..12)?,
        num(12..14)?,
    )?;
    Some(Utc.from_utc_datetime(&naive))
}

impl FromStr for SnapshotTag {
    type Err = TagError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX))
            .filter(|d| d.len() == DIGITS && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| TagError::Malformed(s.to_owned()))?;
        parse_digits(digits).ok_or_else(|| TagError::BadTime(s.to_owned()))?;
        Ok(SnapshotTag(s.to_owned()))
    }
}

impl fmt::Display for SnapshotTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SnapshotTag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_as_string!(SnapshotTag, "a snapshot tag sm_YYYYMMDDhhmmssUTC");

/// Whether `s` is a valid snapshot tag (pattern and calendar).
pub fn is_snapshot_tag(s: &str) -> bool {
    s.parse::<SnapshotTag>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn from_time_drops_subseconds() {
        let t = Utc.with_ymd_and_hms(2021, 8, 9, 9, 55, 41).unwrap()
            + chrono::Duration::milliseconds(999);
        let tag = SnapshotTag::from_time(t);
        assert_eq!(tag.as_str(), "sm_20210809095541UTC");
        assert_eq!(
            tag.time(),
            Utc.with_ymd_and_hms(2021, 8, 9, 9, 55, 41).unwrap()
        );
    }

    #[test]
    fn from_time_clamps_out_of_range_years() {
        let late = Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            SnapshotTag::from_time(late).as_str(),
            "sm_99991231235959UTC"
        );
        let early = Utc.with_ymd_and_hms(-5, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            SnapshotTag::from_time(early).as_str(),
            "sm_00000101000000UTC"
        );
    }

    #[test]
    fn now_is_valid_and_close() {
        let before = Utc::now().timestamp();
        let tag = SnapshotTag::now();
        assert!(is_snapshot_tag(tag.as_str()));
        assert!((tag.time().timestamp() - before).abs() <= 2);
    }

    #[test]
    fn parse_validates_shape_and_calendar() {
        assert!(is_snapshot_tag("sm_20210602083539UTC"));
        assert!(is_snapshot_tag("sm_20240229235959UTC"));
        for bad in [
            "",
            "sm_2021060208353UTC",
            "sm_202106020835390UTC",
            "SM_20210602083539UTC",
            "sm_20210602083539utc",
            "sm_2021060208353aUTC",
            "sm_+2021060208353UTC",
            "xsm_20210602083539UTC",
        ] {
            assert_eq!(
                bad.parse::<SnapshotTag>(),
                Err(TagError::Malformed(bad.into())),
                "{bad}"
            );
        }
        for bad in [
            "sm_20211302083539UTC", // month 13
            "sm_20230229000000UTC", // not a leap year
            "sm_20210631000000UTC", // June 31st
            "sm_20210602243539UTC", // hour 24
            "sm_20210602086039UTC", // minute 60
            "sm_20210602083560UTC", // leap second
            "sm_20210600083539UTC", // day 0
        ] {
            assert_eq!(
                bad.parse::<SnapshotTag>(),
                Err(TagError::BadTime(bad.into())),
                "{bad}"
            );
        }
        let msg = "sm_x".parse::<SnapshotTag>().unwrap_err().to_string();
        assert!(
            msg.contains("\"sm_x\"") && msg.contains("sm_YYYYMMDDhhmmssUTC"),
            "{msg}"
        );
    }

    #[test]
    fn serde_is_the_string() {
        let tag: SnapshotTag = "sm_20210602083539UTC".parse().unwrap();
        let json = serde_json::to_string(&tag).unwrap();
        assert_eq!(json, r#""sm_20210602083539UTC""#);
        assert_eq!(serde_json::from_str::<SnapshotTag>(&json).unwrap(), tag);
        assert!(serde_json::from_str::<SnapshotTag>(r#""sm_1UTC""#).is_err());
    }

    fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
        // Years 0000 to 9999, with milliseconds.
        let min = Utc
            .with_ymd_and_hms(0, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let max = Utc
            .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp_millis();
        (min..=max).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap())
    }

    proptest! {
        #[test]
        fn round_trip(t in arb_time()) {
            let tag = SnapshotTag::from_time(t);
            let parsed: SnapshotTag = tag.as_str().parse().unwrap();
            prop_assert_eq!(&parsed, &tag);
            prop_assert_eq!(parsed.time().timestamp(), t.timestamp());
            prop_assert_eq!(SnapshotTag::from_time(parsed.time()), tag);
        }

        #[test]
        fn string_order_is_time_order(a in arb_time(), b in arb_time()) {
            let (ta, tb) = (SnapshotTag::from_time(a), SnapshotTag::from_time(b));
            prop_assert_eq!(ta.cmp(&tb), a.timestamp().cmp(&b.timestamp()));
            prop_assert_eq!(ta.as_str().cmp(tb.as_str()), ta.time().cmp(&tb.time()));
        }

        #[test]
        fn never_panics(s in "(sm_)?[0-9]{0,16}(UTC)?") {
            if let Ok(tag) = s.parse::<SnapshotTag>() {
                prop_assert_eq!(tag.as_str(), s.as_str());
                prop_assert_eq!(SnapshotTag::from_time(tag.time()), tag);
            }
        }
    }
}
