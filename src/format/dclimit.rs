//! `[dc:]N` limits: the per-DC lists behind `rate_limit`, `rate_limit_total`,
//! `snapshot_parallel` and `upload_parallel`.
//!
//! One [`DcLimit`] is `dc1:100` (a DC's own limit) or `100` (the default for every DC without its
//! own entry), following the upstream rule `^(([a-zA-Z0-9\-\_\.]+):)?([0-9]+)$`. A [`DcLimits`]
//! list holds at most one default and at most one entry per DC. Both serialise as text: one
//! string per limit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::format::location::{DcNameError, check_dc_name, serde_as_string};

/// What [`DcLimit`] or [`DcLimits`] parsing or checking found wrong, naming the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcLimitError {
    /// The text, or the number after the DC, is empty.
    #[error("limit {input:?}: missing number (expected [dc:]N, e.g. dc1:100 or 100)")]
    MissingNumber {
        /// The whole input.
        input: String,
    },
    /// The number is negative.
    #[error("limit {input:?}: negative number {number:?} (expected a whole number, 0 or more)")]
    Negative {
        /// The whole input.
        input: String,
        /// The number text as given.
        number: String,
    },
    /// The number is not made of decimal digits only.
    #[error(
        "limit {input:?}: {number:?} is not a whole number (expected [dc:]N with N made of digits 0-9)"
    )]
    NotANumber {
        /// The whole input.
        input: String,
        /// The number text as given.
        number: String,
    },
    /// The number does not fit in 64 bits.
    #[error("limit {input:?}: {number} is too large (expected at most {max})", max = u64::MAX)]
    TooLarge {
        /// The whole input.
        input: String,
        /// The number text as given.
        number: String,
    },
    /// The DC prefix is empty or has a character outside `[a-zA-Z0-9_.-]`.
    #[error("limit {input:?}: {problem}")]
    BadDc {
        /// The whole input.
        input: String,
        /// What is wrong with the DC name.
        problem: DcNameError,
    },
    /// Two entries of one list have no DC.
    #[error(
        "limits [{list}]: two default entries {first:?} and {second:?} (expected at most one entry without a DC)"
    )]
    DuplicateDefault {
        /// The whole list, comma-separated.
        list: String,
        /// The first default entry.
        first: String,
        /// The second default entry.
        second: String,
    },
    /// Two entries of one list name the same DC.
    #[error("limits [{list}]: DC {dc:?} has two entries (expected at most one entry per DC)")]
    DuplicateDc {
        /// The whole list, comma-separated.
        list: String,
        /// The DC named twice.
        dc: String,
    },
    /// An entry names a DC that the cluster does not have.
    #[error("limits [{list}]: unknown DC {dc:?} (the cluster has DCs: {known})")]
    UnknownDc {
        /// The whole list, comma-separated.
        list: String,
        /// The unknown DC.
        dc: String,
        /// The cluster's DCs, comma-separated.
        known: String,
    },
}

/// One `[dc:]N` limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DcLimit {
    /// The DC this limit applies to; `None` for the default of DCs without their own entry.
    pub dc: Option<String>,
    /// The limit; its unit depends on the property (MiB/s, hosts), and 0 usually means no limit.
    pub limit: u64,
}

impl fmt::Display for DcLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dc {
            Some(dc) => write!(f, "{dc}:{}", self.limit),
            None => write!(f, "{}", self.limit),
        }
    }
}

impl FromStr for DcLimit {
    type Err = DcLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        // The number never contains ':', so the DC is everything before the last one; a ':' in
        // the DC is then reported as a bad DC character.
        let (dc, number) = match s.rsplit_once(':') {
            Some((dc, number)) => (Some(dc), number),
            None => (None, s),
        };
        if let Some(dc) = dc {
            check_dc_name(dc).map_err(|problem| DcLimitError::BadDc {
                input: input(),
                problem,
            })?;
        }
        if number.is_empty() {
            return Err(DcLimitError::MissingNumber { input: input() });
        }
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if number.strip_prefix('-').is_some_and(digits) {
            return Err(DcLimitError::Negative {
                input: input(),
                number: number.to_owned(),
            });
        }
        if !digits(number) {
            return Err(DcLimitError::NotANumber {
                input: input(),
                number: number.to_owned(),
            });
        }
        let limit = number.parse::<u64>().map_err(|_| DcLimitError::TooLarge {
            input: input(),
            number: number.to_owned(),
        })?;
        Ok(DcLimit {
            dc: dc.map(str::to_owned),
            limit,
        })
    }
}

serde_as_string!(DcLimit, "a limit [dc:]N, e.g. \"dc1:100\" or \"100\"");

/// A list of `[dc:]N` limits with at most one default and at most one entry per DC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct DcLimits(Vec<DcLimit>);

impl DcLimits {
    /// Parses and checks a list of `[dc:]N` texts.
    pub fn parse(items: &[String]) -> Result<DcLimits, DcLimitError> {
        let limits = items
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<DcLimit>, _>>()?;
        DcLimits::new(limits)
    }

    /// Checks a list of limits: at most one default, at most one entry per DC.
    pub fn new(limits: Vec<DcLimit>) -> Result<DcLimits, DcLimitError> {
        for (i, l) in limits.iter().enumerate() {
            let Some(earlier) = limits[..i].iter().find(|e| e.dc == l.dc) else {
                continue;
            };
            let list = join(&limits);
            return Err(match &l.dc {
                Some(dc) => DcLimitError::DuplicateDc {
                    list,
                    dc: dc.clone(),
                },
                None => DcLimitError::DuplicateDefault {
                    list,
                    first: earlier.to_string(),
                    second: l.to_string(),
                },
            });
        }
        Ok(DcLimits(limits))
    }

    /// The limit for `dc`: its own entry if it has one, else the default, else `None`.
    pub fn for_dc(&self, dc: &str) -> Option<u64> {
        self.0
            .iter()
            .find(|l| l.dc.as_deref() == Some(dc))
            .or_else(|| self.0.iter().find(|l| l.dc.is_none()))
            .map(|l| l.limit)
    }

    /// The default limit (the entry without a DC), if any.
    pub fn default_limit(&self) -> Option<u64> {
        self.0.iter().find(|l| l.dc.is_none()).map(|l| l.limit)
    }

    /// The DCs that have their own entry, in list order.
    pub fn dcs(&self) -> Vec<&str> {
        self.0.iter().filter_map(|l| l.dc.as_deref()).collect()
    }

    /// Fails naming the first DC with its own entry that is not in `known`.
    pub fn check_known_dcs(&self, known: &[String]) -> Result<(), DcLimitError> {
        match self
            .dcs()
            .into_iter()
            .find(|dc| !known.iter().any(|k| k == dc))
        {
            None => Ok(()),
            Some(dc) => Err(DcLimitError::UnknownDc {
                list: join(&self.0),
                dc: dc.to_owned(),
                known: known.join(", "),
            }),
        }
    }

    /// The entries, in list order.
    pub fn as_slice(&self) -> &[DcLimit] {
        &self.0
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Comma-separated text of a list of limits, for error messages.
fn join(limits: &[DcLimit]) -> String {
    limits
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for DcLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join(&self.0))
    }
}

impl TryFrom<Vec<String>> for DcLimits {
    type Error = DcLimitError;

    fn try_from(items: Vec<String>) -> Result<Self, Self::Error> {
        DcLimits::parse(&items)
    }
}

impl From<DcLimits> for Vec<String> {
    fn from(limits: DcLimits) -> Self {
        limits.0.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_and_formats() {
        let l: DcLimit = "dc1:100".parse().unwrap();
        assert_eq!(
            l,
            DcLimit {
                dc: Some("dc1".into()),
                limit: 100
            }
        );
        assert_eq!(l.to_string(), "dc1:100");
        let l: DcLimit = "0".parse().unwrap();
        assert_eq!(l, DcLimit { dc: None, limit: 0 });
        assert_eq!(l.to_string(), "0");
        let l: DcLimit = "us-east_1.a:18446744073709551615".parse().unwrap();
        assert_eq!(l.limit, u64::MAX);
    }

    #[test]
    fn rejects_bad_text_with_clear_errors() {
        let err = |s: &str| s.parse::<DcLimit>().unwrap_err();
        assert_eq!(err(""), DcLimitError::MissingNumber { input: "".into() });
        assert!(matches!(err("dc1:"), DcLimitError::MissingNumber { .. }));
        let e = err("dc1:-5");
        assert!(matches!(e, DcLimitError::Negative { .. }), "{e}");
        assert!(e.to_string().contains(r#""dc1:-5""#), "{e}");
        let e = err("abc");
        assert!(
            matches!(&e, DcLimitError::NotANumber { number, .. } if number == "abc"),
            "{e}"
        );
        assert!(matches!(err("+5"), DcLimitError::NotANumber { .. }));
        assert!(matches!(err("1.5"), DcLimitError::NotANumber { .. }));
        assert!(matches!(err("-"), DcLimitError::NotANumber { .. }));
        assert!(matches!(
            err("18446744073709551616"),
            DcLimitError::TooLarge { .. }
        ));
        assert!(matches!(
            err(":5"),
            DcLimitError::BadDc {
                problem: DcNameError::Empty,
                ..
            }
        ));
        let e = err("a:b:5");
        assert!(
            matches!(
                &e,
                DcLimitError::BadDc {
                    problem: DcNameError::BadChar { ch: ':', .. },
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn list_rules() {
        let l = DcLimits::parse(&strings(&["dc1:2", "5", "dc2:0"])).unwrap();
        assert_eq!(l.for_dc("dc1"), Some(2));
        assert_eq!(l.for_dc("dc2"), Some(0));
        assert_eq!(l.for_dc("dc3"), Some(5));
        assert_eq!(l.default_limit(), Some(5));
        assert_eq!(l.dcs(), vec!["dc1", "dc2"]);
        assert_eq!(l.to_string(), "dc1:2, 5, dc2:0");

        let no_default = DcLimits::parse(&strings(&["dc1:2"])).unwrap();
        assert_eq!(no_default.for_dc("dc3"), None);
        assert!(DcLimits::parse(&[]).unwrap().is_empty());

        let e = DcLimits::parse(&strings(&["5", "dc1:1", "7"])).unwrap_err();
        assert!(matches!(e, DcLimitError::DuplicateDefault { .. }), "{e}");
        assert!(e.to_string().contains(r#""5" and "7""#), "{e}");
        let e = DcLimits::parse(&strings(&["dc1:5", "dc1:7"])).unwrap_err();
        assert!(
            matches!(&e, DcLimitError::DuplicateDc { dc, .. } if dc == "dc1"),
            "{e}"
        );

        assert!(l.check_known_dcs(&strings(&["dc1", "dc2", "dc3"])).is_ok());
        let e = l.check_known_dcs(&strings(&["dc1"])).unwrap_err();
        assert!(
            matches!(&e, DcLimitError::UnknownDc { dc, .. } if dc == "dc2"),
            "{e}"
        );
        assert!(e.to_string().contains("the cluster has DCs: dc1"), "{e}");
    }

    #[test]
    fn serde_is_a_list_of_strings() {
        let l = DcLimits::parse(&strings(&["dc1:2", "5"])).unwrap();
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"["dc1:2","5"]"#);
        assert_eq!(serde_json::from_str::<DcLimits>(&json).unwrap(), l);
        let e = serde_json::from_str::<DcLimits>(r#"["1","2"]"#).unwrap_err();
        assert!(e.to_string().contains("two default entries"), "{e}");
        let e = serde_json::from_str::<DcLimits>(r#"["x:y"]"#).unwrap_err();
        assert!(e.to_string().contains("not a whole number"), "{e}");
        let one: DcLimit = serde_json::from_str(r#""dc1:3""#).unwrap();
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""dc1:3""#);
    }

    fn arb_limit() -> impl Strategy<Value = DcLimit> {
        (proptest::option::of("[a-zA-Z0-9_.-]{1,10}"), any::<u64>())
            .prop_map(|(dc, limit)| DcLimit { dc, limit })
    }

    proptest! {
        #[test]
        fn limit_round_trip(l in arb_limit()) {
            prop_assert_eq!(l.to_string().parse::<DcLimit>().unwrap(), l.clone());
            let json = serde_json::to_string(&l).unwrap();
            prop_assert_eq!(serde_json::from_str::<DcLimit>(&json).unwrap(), l);
        }

        #[test]
        fn list_round_trip(
            dcs in proptest::collection::btree_map("[a-z0-9]{1,6}", any::<u64>(), 0..5),
            default in proptest::option::of(any::<u64>()),
        ) {
            let mut limits: Vec<DcLimit> = dcs
                .iter()
                .map(|(dc, limit)| DcLimit { dc: Some(dc.clone()), limit: *limit })
                .collect();
            limits.extend(default.map(|limit| DcLimit { dc: None, limit }));
            let list = DcLimits::new(limits).unwrap();
            let text: Vec<String> = list.clone().into();
            prop_assert_eq!(&DcLimits::parse(&text).unwrap(), &list);
            let json = serde_json::to_string(&list).unwrap();
            prop_assert_eq!(&serde_json::from_str::<DcLimits>(&json).unwrap(), &list);
            for (dc, limit) in &dcs {
                prop_assert_eq!(list.for_dc(dc), Some(*limit));
            }
            prop_assert_eq!(list.for_dc("not-a-listed-dc!"), default);
        }

        #[test]
        fn never_panics(s in "\\PC{0,25}") {
            let _ = s.parse::<DcLimit>();
        }
    }
}
