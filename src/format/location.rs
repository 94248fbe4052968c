//! Backup locations: the `[dc:]provider:bucket` strings that name where a backup is stored.
//!
//! A [`Location`] is validated by hand against the upstream rule
//! `^(([a-zA-Z0-9\-\_\.]+):)?([a-z0-9]+):([a-z0-9\-\.]+)$`, with the provider restricted to the
//! four known [`Provider`]s. Its JSON form is the string itself.
//!
//! This module also owns two things the other `spec` modules share: the DC name rule
//! (`[a-zA-Z0-9_.-]+`, reported as [`DcNameError`]) used by the `[dc:]N` limits of
//! [`crate::format::dclimit`], and the crate-internal `serde_as_string!` macro that gives a type with
//! `Display` and `FromStr` its text form in JSON.

use std::fmt;
use std::str::FromStr;

/// What [`Location`] parsing found wrong, always quoting the whole input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// The input was empty.
    #[error("location is empty (expected [dc:]provider:bucket, e.g. s3:my-bucket)")]
    Empty,
    /// The input had no `:`, so either the provider or the bucket is missing.
    #[error(
        "location {input:?}: missing provider or bucket (expected [dc:]provider:bucket, e.g. s3:{input})"
    )]
    MissingProviderOrBucket {
        /// The whole input.
        input: String,
    },
    /// The bucket after the provider was empty.
    #[error(
        "location {input:?}: missing bucket after the provider (expected [dc:]provider:bucket)"
    )]
    MissingBucket {
        /// The whole input.
        input: String,
    },
    /// The provider is not one of the known providers.
    #[error(
        "location {input:?}: unknown provider {provider:?} (expected s3, gcs, azure or localstorage)"
    )]
    UnknownProvider {
        /// The whole input.
        input: String,
        /// The provider text as given.
        provider: String,
    },
    /// The bucket contains a character outside `[a-z0-9.-]`.
    #[error(
        "location {input:?}: bucket {bucket:?} contains invalid character {ch:?} (expected lowercase letters, digits, '-' and '.')"
    )]
    BadBucket {
        /// The whole input.
        input: String,
        /// The bucket text as given.
        bucket: String,
        /// The first offending character.
        ch: char,
    },
    /// The DC prefix is empty or contains a character outside `[a-zA-Z0-9_.-]`.
    #[error("location {input:?}: {problem}")]
    BadDc {
        /// The whole input.
        input: String,
        /// What is wrong with the DC name.
        problem: DcNameError,
    },
    /// The bucket breaks its provider's naming rules (length, first and last character, `..`,
    /// an IP address, reserved prefixes and suffixes).
    #[error(
        "location {input:?}: bucket {bucket:?} is not a valid {provider} bucket name: {reason}"
    )]
    BucketName {
        /// The whole input.
        input: String,
        /// The bucket text as given.
        bucket: String,
        /// The provider whose rules it breaks.
        provider: Provider,
        /// The rule broken.
        reason: &'static str,
    },
    /// The input has more than three `:`-separated parts.
    #[error(
        "location {input:?}: too many ':'-separated parts ({parts}, expected at most 3: dc:provider:bucket)"
    )]
    TooManyParts {
        /// The whole input.
        input: String,
        /// How many parts were found.
        parts: usize,
    },
}

/// What is wrong with a DC name used as a prefix in a location or a `[dc:]N` limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcNameError {
    /// The DC name before the `:` was empty.
    #[error("empty DC name before ':' (expected letters, digits, '-', '_' or '.')")]
    Empty,
    /// The DC name contains a character outside `[a-zA-Z0-9_.-]`.
    #[error(
        "DC name {dc:?} contains invalid character {ch:?} (expected letters, digits, '-', '_' or '.')"
    )]
    BadChar {
        /// The DC name as given.
        dc: String,
        /// The first offending character.
        ch: char,
    },
}

/// Checks a DC name against the upstream `[a-zA-Z0-9\-\_\.]+` rule.
pub(crate) fn check_dc_name(dc: &str) -> Result<(), DcNameError> {
    if dc.is_empty() {
        return Err(DcNameError::Empty);
    }
    match dc
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(ch) => Err(DcNameError::BadChar {
            dc: dc.to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

/// Implements `Serialize` and `Deserialize` for a type through its `Display` and `FromStr`, so
/// that its JSON form is its text form.
macro_rules! serde_as_string {
    ($ty:ty, $expecting:literal) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl ::serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use serde_as_string;

/// A storage provider, which is also the name of the rclone remote configured in the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// Amazon S3 or an S3-compatible store.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
    /// A directory on the node itself, e.g. an NFS mount configured in the agent.
    LocalStorage,
}

impl Provider {
    /// Every provider, in declaration order.
    pub const ALL: [Provider; 4] = [
        Provider::S3,
        Provider::Gcs,
        Provider::Azure,
        Provider::LocalStorage,
    ];

    /// The provider's name as written in locations: `s3`, `gcs`, `azure` or `localstorage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::S3 => "s3",
            Provider::Gcs => "gcs",
            Provider::Azure => "azure",
            Provider::LocalStorage => "localstorage",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text that was not a known provider name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?} (expected s3, gcs, azure or localstorage)")]
pub struct UnknownProvider(
    /// The text as given.
    pub String,
);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

serde_as_string!(Provider, "a provider name: s3, gcs, azure or localstorage");

/// A backup location `[dc:]provider:bucket`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The DC this location serves; `None` makes it the default for DCs without their own.
    pub dc: Option<String>,
    /// The storage provider, also the rclone remote name.
    pub provider: Provider,
    /// The bucket (or local directory name): lowercase letters, digits, `-` and `.`.
    pub bucket: String,
}

impl Location {
    /// The rclone path of `p` inside this location: `"<provider>:<bucket>/<p>"`.
    pub fn remote_path(&self, p: &str) -> String {
        format!("{}:{}/{}", self.provider, self.bucket, p)
    }

    /// The same location without its DC prefix.
    pub fn without_dc(&self) -> Location {
        Location {
            dc: None,
            ..self.clone()
        }
    }
}

/// The first naming rule of `provider` that `bucket` (already limited to `[a-z0-9.-]`) breaks:
/// S3's, GCS's and Azure's published bucket/container rules; a local storage name must not be
/// only dots.
fn bucket_rule(provider: Provider, bucket: &str) -> Option<&'static str> {
    let len = bucket.len();
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ends = alnum(bucket.chars().next()) && alnum(bucket.chars().last());
    let ipv4 = bucket.split('.').count() == 4
        && bucket
            .split('.')
            .all(|p| !p.is_empty() && p.parse::<u8>().is_ok());
    match provider {
        Provider::LocalStorage => {
            if len > 255 {
                Some("longer than 255 characters")
            } else if bucket.chars().all(|c| c == '.') {
                Some("only dots")
            } else {
                None
            }
        }
        Provider::S3 | Provider::Gcs => {
            let max = if provider == Provider::Gcs && bucket.contains('.') {
                222
            } else {
                63
            };
            if len < 3 || len > max {
                Some(if max == 63 {
                    "must be 3 to 63 characters long"
                } else {
                    "must be 3 to 222 characters long"
                })
            } else if !ends {
                Some("must begin and end with a letter or a digit")
            } else if bucket.contains("..") {
                Some("must not contain two periods in a row")
            } else if bucket.contains(".-") || bucket.contains("-.") {
                Some("must not contain a period next to a hyphen")
            } else if ipv4 {
                Some("must not look like an IP address")
            } else if provider == Provider::Gcs && bucket.split('.').any(|p| p.len() > 63) {
                Some("each dot-separated part must be at most 63 characters long")
            } else if provider == Provider::Gcs
                && (bucket.starts_with("goog") || bucket.contains("google"))
            {
                Some("must not begin with \"goog\" or contain \"google\"")
            } else if provider == Provider::S3
                && (bucket.starts_with("xn--") || bucket.starts_with("sthree-"))
            {
                Some("must not begin with \"xn--\" or \"sthree-\"")
            } else if provider == Provider::S3
                && ["-s3alias", "--ol-s3", ".mrap", "--x-s3"]
                    .iter()
                    .any(|s| bucket.ends_with(s))
            {
                Some("must not end with a reserved suffix (-s3alias, --ol-s3, .mrap, --x-s3)")
            } else {
                None
            }
        }
        Provider::Azure => {
            if !(3..=63).contains(&len) {
                Some("must be 3 to 63 characters long")
            } else if bucket.contains('.') {
                Some("must not contain periods (letters, digits and hyphens only)")
            } else if !ends {
                Some("must begin and end with a letter or a digit")
            } else if bucket.contains("--") {
                Some("must not contain two hyphens in a row")
            } else {
                None
            }
        }
    }
}

impl Location {
    /// Checks the bucket against its provider's naming rules (see [`LocationError::BucketName`]).
    /// Parsing checks only the characters, so that names already stored stay readable; every
    /// new task's and dry run's location is checked with this too.
    pub fn check_bucket_name(&self) -> Result<(), LocationError> {
        match bucket_rule(self.provider, &self.bucket) {
            None => Ok(()),
            Some(reason) => Err(LocationError::BucketName {
                input: self.to_string(),
                bucket: self.bucket.clone(),
                provider: self.provider,
                reason,
            }),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dc) = &self.dc {
            write!(f, "{dc}:")?;
        }
        write!(f, "{}:{}", self.provider, self.bucket)
    }
}

impl FromStr for Location {
    type Err = LocationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(LocationError::Empty);
        }
        let input = || s.to_owned();
        let parts: Vec<&str> = s.split(':').collect();
        let (dc, provider, bucket) = match parts[..] {
            [_] => return Err(LocationError::MissingProviderOrBucket { input: input() }),
            [provider, bucket] => (None, provider, bucket),
            [dc, provider, bucket] => (Some(dc), provider, bucket),
            _ => {
                return Err(LocationError::TooManyParts {
                    input: input(),
                    parts: parts.len(),
                });
            }
        };
        if let Some(dc) = dc {
            check_dc_name(dc).map_err(|problem| LocationError::BadDc {
                input: input(),
                problem,
            })?;
        }
        let provider = provider
            .parse::<Provider>()
            .map_err(|UnknownProvider(provider)| LocationError::UnknownProvider {
                input: input(),
                provider,
            })?;
        if bucket.is_empty() {
            return Err(LocationError::MissingBucket { input: input() });
        }
        if let Some(ch) = bucket
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')))
        {
            return Err(LocationError::BadBucket {
                input: input(),
                bucket: bucket.to_owned(),
                ch,
            });
        }
        Ok(Location {
            dc: dc.map(str::to_owned),
            provider,
            bucket: bucket.to_owned(),
        })
    }
}

serde_as_string!(Location, "a location string [dc:]provider:bucket");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn loc(s: &str) -> Result<Location, LocationError> {
        s.parse()
    }

    #[test]
    fn parses_without_dc() {
        let l = loc("s3:my-bucket.backups").unwrap();
        assert_eq!(l.dc, None);
        assert_eq!(l.provider, Provider::S3);
        assert_eq!(l.bucket, "my-bucket.backups");
        assert_eq!(l.to_string(), "s3:my-bucket.backups");
    }

    #[test]
    fn parses_with_dc() {
        let l = loc("dc_East-1.a:gcs:bkt9").unwrap();
        assert_eq!(l.dc.as_deref(), Some("dc_East-1.a"));
        assert_eq!(l.provider, Provider::Gcs);
        assert_eq!(l.bucket, "bkt9");
        assert_eq!(l.to_string(), "dc_East-1.a:gcs:bkt9");
        assert_eq!(l.without_dc().to_string(), "gcs:bkt9");
    }

    #[test]
    fn every_provider_parses() {
        for p in Provider::ALL {
            let l = loc(&format!("{p}:b")).unwrap();
            assert_eq!(l.provider, p);
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), p);
        }
        assert_eq!(
            loc("localstorage:x").unwrap().provider,
            Provider::LocalStorage
        );
        assert_eq!(loc("azure:x").unwrap().provider, Provider::Azure);
    }

    #[test]
    fn remote_path() {
        let l = loc("dc1:s3:bkt").unwrap();
        assert_eq!(l.remote_path("backup/meta"), "s3:bkt/backup/meta");
    }

    #[test]
    fn errors_are_distinct_and_clear() {
        assert_eq!(loc(""), Err(LocationError::Empty));
        assert!(matches!(
            loc("bucket"),
            Err(LocationError::MissingProviderOrBucket { .. })
        ));
        assert!(matches!(
            loc("s3:"),
            Err(LocationError::MissingBucket { .. })
        ));
        let e = loc("s4:bkt").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"location "s4:bkt": unknown provider "s4" (expected s3, gcs, azure or localstorage)"#
        );
        assert!(matches!(
            loc(":bkt"),
            Err(LocationError::UnknownProvider { provider, .. }) if provider.is_empty()
        ));
        let e = loc("s3:My_bucket").unwrap_err();
        assert!(matches!(e, LocationError::BadBucket { ch: 'M', .. }), "{e}");
        assert!(e.to_string().contains("invalid character 'M'"), "{e}");
        let e = loc("d c:s3:bkt").unwrap_err();
        assert!(
            matches!(
                &e,
                LocationError::BadDc {
                    problem: DcNameError::BadChar { ch: ' ', .. },
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("invalid character ' '"), "{e}");
        assert!(matches!(
            loc(":s3:bkt"),
            Err(LocationError::BadDc {
                problem: DcNameError::Empty,
                ..
            })
        ));
        let e = loc("a:b:s3:bkt").unwrap_err();
        assert!(
            matches!(e, LocationError::TooManyParts { parts: 4, .. }),
            "{e}"
        );
        assert!(matches!(
            loc("S3:bkt"),
            Err(LocationError::UnknownProvider { .. })
        ));
    }

    #[test]
    fn serde_is_the_string() {
        let l = loc("dc1:azure:bkt").unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), r#""dc1:azure:bkt""#);
        let back: Location = serde_json::from_str(r#""dc1:azure:bkt""#).unwrap();
        assert_eq!(back, l);
        let err = serde_json::from_str::<Location>(r#""s4:x""#).unwrap_err();
        assert!(err.to_string().contains("unknown provider"), "{err}");
        assert_eq!(
            serde_json::to_string(&Provider::LocalStorage).unwrap(),
            r#""localstorage""#
        );
        assert_eq!(
            serde_json::from_str::<Provider>(r#""gcs""#).unwrap(),
            Provider::Gcs
        );
    }

    fn arb_location() -> impl Strategy<Value = Location> {
        (
            proptest::option::of("[a-zA-Z0-9_.-]{1,12}"),
            proptest::sample::select(Provider::ALL.to_vec()),
            "[a-z0-9.-]{1,20}",
        )
            .prop_map(|(dc, provider, bucket)| Location {
                dc,
                provider,
                bucket,
            })
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(l in arb_location()) {
            let s = l.to_string();
            prop_assert_eq!(s.parse::<Location>().unwrap(), l.clone());
            let json = serde_json::to_string(&l).unwrap();
            prop_assert_eq!(serde_json::from_str::<Location>(&json).unwrap(), l);
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = s.parse::<Location>();
        }
    }

    #[test]
    fn bucket_names_follow_their_providers_rules() {
        for ok in [
            "s3:my-bucket.backups",
            "s3:abc",
            "gcs:bkt9",
            "gcs:a.b.c",
            "azure:my-container1",
            "localstorage:x",
            "localstorage:.hidden",
        ] {
            assert_eq!(loc(ok).unwrap().check_bucket_name(), Ok(()), "{ok}");
        }
        for (bad, needle) in [
            ("s3:..", "not a valid s3 bucket name"),
            ("s3:...", "begin and end"),
            ("s3:.", "3 to 63"),
            ("s3:ab", "3 to 63"),
            ("s3:-abc", "begin and end"),
            ("s3:abc-", "begin and end"),
            ("s3:a..b", "two periods"),
            ("s3:a.-b", "period next to a hyphen"),
            ("s3:192.168.1.10", "IP address"),
            ("s3:xn--abc", "xn--"),
            ("s3:bucket-s3alias", "reserved suffix"),
            ("gcs:goog-bucket", "goog"),
            ("gcs:my-google-bucket", "goog"),
            ("azure:my.container", "periods"),
            ("azure:my--container", "two hyphens"),
            ("azure:ab", "3 to 63"),
            ("localstorage:..", "only dots"),
        ] {
            let e = loc(bad).unwrap().check_bucket_name().unwrap_err();
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
        let long = format!("s3:{}", "a".repeat(64));
        assert!(loc(&long).unwrap().check_bucket_name().is_err());
    }
}
