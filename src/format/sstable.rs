//! SSTable file names, as Scylla writes them into a table's data directory.
//!
//! Two generation forms exist: the integer one (`mc-12-big-Data.db`) and, since Scylla 6.0 /
//! 2024.1, the time-UUID one written in base36 (`me-3ggs_0xmx_3261s2qpoyoxpg4min-big-Data.db`).
//! Very old SSTables carry the keyspace and table in the name (`ks-tbl-ka-7-Data.db`). In a backup
//! location an older version of a file is kept as `<name>.sm_<tag>` (see [`versioned_name`]).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::tag::SnapshotTag;

/// Every component Scylla writes for a compressed SSTable of the `me` format, in TOC order.
pub const COMPONENTS: [&str; 9] = [
    "Data.db",
    "Index.db",
    "Summary.db",
    "Filter.db",
    "Statistics.db",
    "CompressionInfo.db",
    "Scylla.db",
    "Digest.crc32",
    "TOC.txt",
];

/// The component holding the rows; the one the digest covers.
pub const DATA_COMPONENT: &str = "Data.db";
/// The component holding the CRC-32 of `Data.db` as decimal text.
pub const DIGEST_COMPONENT: &str = "Digest.crc32";
/// The component listing the SSTable's other components, one per line.
pub const TOC_COMPONENT: &str = "TOC.txt";

/// Why a file name is not an SSTable component name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SSTableNameError {
    /// The name does not have the `<version>-<generation>-<format>-<component>` shape.
    #[error(
        "SSTable file name {0:?}: expected <version>-<generation>-<format>-<component>, e.g. me-1-big-Data.db"
    )]
    Shape(String),
    /// The version part is not two lowercase letters.
    #[error(
        "SSTable file name {name:?}: version {version:?} is not two lowercase letters (la, mc, md, me, ...)"
    )]
    Version {
        /// The whole file name.
        name: String,
        /// The offending version part.
        version: String,
    },
    /// The generation is neither a decimal integer nor a base36 time-UUID.
    #[error("SSTable file name {name:?}: generation {generation:?}: {reason}")]
    Generation {
        /// The whole file name.
        name: String,
        /// The offending generation part.
        generation: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An SSTable generation: the identifier shared by all components of one SSTable.
///
/// Generations order as Scylla orders them: integers numerically, time-UUIDs by their time (then
/// their low bits), and every integer before every UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Generation {
    /// Integer generation (`mc-12-big-Data.db`); restarts after a node is replaced.
    Integer(u64),
    /// Time-UUID generation, written in base36 (`me-3ggs_0xmx_3261s2qpoyoxpg4min-big-Data.db`).
    Uuid(Uuid),
}

/// Base36 alphabet used by Scylla (and Cassandra 4) for UUID generations.
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// 100-nanosecond intervals per second: the time-UUID clock resolution.
const TICKS_PER_SECOND: u64 = 10_000_000;
/// Offset between the Gregorian epoch of time-UUIDs (1582-10-15) and the Unix epoch, in ticks.
const GREGORIAN_TO_UNIX_TICKS: u64 = 122_192_928_000_000_000;

impl Generation {
    /// A time-UUID generation for the given Unix time (in 100 ns ticks) and node/clock bits.
    pub fn uuid_at(unix_ticks: u64, lsb: u64) -> Self {
        time_uuid(unix_ticks + GREGORIAN_TO_UNIX_TICKS, lsb)
    }

    /// The creation time of a UUID generation, in 100 ns ticks since 1582-10-15.
    pub fn uuid_ticks(&self) -> Option<u64> {
        match self {
            Generation::Integer(_) => None,
            Generation::Uuid(u) => {
                let msb = u.as_u64_pair().0;
                Some(((msb & 0x0fff) << 48) | (((msb >> 16) & 0xffff) << 32) | (msb >> 32))
            }
        }
    }

    /// Whether this generation is an integer (and so may clash after a node replacement).
    pub fn is_integer(&self) -> bool {
        matches!(self, Generation::Integer(_))
    }

    fn parse(name: &str, s: &str) -> Result<Self, SSTableNameError> {
        let err = |reason| SSTableNameError::Generation {
            name: name.to_string(),
            generation: s.to_string(),
            reason,
        };
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(Generation::Integer)
                .map_err(|_| err("integer out of range"));
        }
        let b = s.as_bytes();
        if b.len() != 28 || b[4] != b'_' || b[9] != b'_' {
            return Err(err(
                "expected an integer or a base36 time-UUID like 3ggs_0xmx_3261s2qpoyoxpg4min",
            ));
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(u128::from(c - b'0')),
            b'a'..=b'z' => Some(u128::from(c - b'a' + 10)),
            _ => None,
        };
        let decode = |part: &[u8]| -> Option<u128> {
            part.iter()
                .try_fold(0u128, |acc, &c| Some(acc * 36 + digit(c)?))
        };
        let bad = || err("base36 time-UUID has a character outside 0-9a-z");
        let days = decode(&b[0..4]).ok_or_else(bad)?;
        let seconds = decode(&b[5..9]).ok_or_else(bad)?;
        let decimicros = decode(&b[10..15]).ok_or_else(bad)?;
        let lsb = decode(&b[15..28]).ok_or_else(bad)?;
        if seconds >= 86_400 || decimicros >= u128::from(TICKS_PER_SECOND) {
            return Err(err("base36 time-UUID has an out-of-range time of day"));
        }
        let ticks = (days * 86_400 + seconds) * u128::from(TICKS_PER_SECOND) + decimicros;
        if ticks >= 1 << 60 || lsb > u128::from(u64::MAX) {
            return Err(err("base36 time-UUID does not fit in 128 bits"));
        }
        Ok(time_uuid(ticks as u64, lsb as u64))
    }
}

/// A version-1 UUID generation from its 60-bit Gregorian timestamp and its low 64 bits.
fn time_uuid(ticks: u64, lsb: u64) -> Generation {
    let msb = ((ticks & 0xffff_ffff) << 32)
        | (((ticks >> 32) & 0xffff) << 16)
        | 0x1000
        | ((ticks >> 48) & 0x0fff);
    Generation::Uuid(Uuid::from_u64_pair(msb, lsb))
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generation::Integer(n) => write!(f, "{n}"),
            Generation::Uuid(u) => {
                let (ticks, lsb) = (self.uuid_ticks().unwrap_or_default(), u.as_u64_pair().1);
                let (secs, decimicros) = (ticks / TICKS_PER_SECOND, ticks % TICKS_PER_SECOND);
                let (days, seconds) = (secs / 86_400, secs % 86_400);
                let mut out = String::with_capacity(28);
                push_base36(&mut out, days, 4);
                out.push('_');
                push_base36(&mut out, seconds, 4);
                out.push('_');
                push_base36(&mut out, decimicros, 5);
                push_base36(&mut out, lsb, 13);
                f.write_str(&out)
            }
        }
    }
}

impl Ord for Generation {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Generation::Integer(a), Generation::Integer(b)) => a.cmp(b),
            (Generation::Integer(_), Generation::Uuid(_)) => std::cmp::Ordering::Less,
            (Generation::Uuid(_), Generation::Integer(_)) => std::cmp::Ordering::Greater,
            (Generation::Uuid(a), Generation::Uuid(b)) => {
                (self.uuid_ticks(), a.as_u64_pair().1).cmp(&(other.uuid_ticks(), b.as_u64_pair().1))
            }
        }
    }
}

impl PartialOrd for Generation {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Appends `n` in base36, zero-padded to `width` digits.
fn push_base36(out: &mut String, mut n: u64, width: usize) {
    let mut digits = Vec::with_capacity(width.max(13));
    while n > 0 {
        digits.push(BASE36[(n % 36) as usize]);
        n /= 36;
    }
    digits.resize(digits.len().max(width), b'0');
    out.extend(digits.iter().rev().map(|&c| c as char));
}

/// One SSTable component file name, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SSTableName {
    /// For the legacy `ka` form only: the keyspace and table written into the name.
    pub legacy_prefix: Option<(String, String)>,
    /// Format version: `la`, `mc`, `md`, `me`, `ms`, ... (two lowercase letters).
    pub version: String,
    /// The generation shared by the SSTable's components.
    pub generation: Generation,
    /// The on-disk format family, `big` for all current Scylla SSTables (absent in `ka` names).
    pub format: Option<String>,
    /// The component, e.g. `Data.db`, `TOC.txt`, `Digest.crc32`.
    pub component: String,
}

impl SSTableName {
    /// A current-form name (`<version>-<generation>-big-<component>`).
    pub fn new(version: &str, generation: Generation, component: &str) -> Self {
        SSTableName {
            legacy_prefix: None,
            version: version.to_string(),
            generation,
            format: Some("big".to_string()),
            component: component.to_string(),
        }
    }

    /// The name of another component of the same SSTable.
    pub fn with_component(&self, component: &str) -> Self {
        SSTableName {
            component: component.to_string(),
            ..self.clone()
        }
    }

    /// Whether this is the `Data.db` component.
    pub fn is_data(&self) -> bool {
        self.component == DATA_COMPONENT
    }
}

impl FromStr for SSTableName {
    type Err = SSTableNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = name.split('-').collect();
        let is_version = |v: &str| v.len() == 2 && v.bytes().all(|b| b.is_ascii_lowercase());
        let shape = || SSTableNameError::Shape(name.to_string());
        let (legacy_prefix, version, generation, format, component) = match parts.as_slice() {
            [v, g, fmt, c] => (None, *v, *g, Some(*fmt), *c),
            [ks, t, v, g, c] if is_version(v) => {
                (Some((ks.to_string(), t.to_string())), *v, *g, None, *c)
            }
            _ => return Err(shape()),
        };
        if !is_version(version) {
            return Err(SSTableNameError::Version {
                name: name.to_string(),
                version: version.to_string(),
            });
        }
        let ident_ok =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let format_ok =
            format.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_lowercase()));
        let prefix_ok = legacy_prefix
            .as_ref()
            .is_none_or(|(k, t)| ident_ok(k) && ident_ok(t));
        let component_ok = !component.is_empty() && !component.contains('/');
        if !format_ok || !prefix_ok || !component_ok {
            return Err(shape());
        }
        Ok(SSTableName {
            legacy_prefix,
            version: version.to_string(),
            generation: Generation::parse(name, generation)?,
            format: format.map(str::to_string),
            component: component.to_string(),
        })
    }
}

impl fmt::Display for SSTableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((ks, table)) = &self.legacy_prefix {
            write!(f, "{ks}-{table}-")?;
        }
        write!(f, "{}-{}-", self.version, self.generation)?;
        if let Some(format) = &self.format {
            write!(f, "{format}-")?;
        }
        f.write_str(&self.component)
    }
}

/// Length of the `.sm_YYYYMMDDhhmmssUTC` suffix of a versioned file.
const VERSION_SUFFIX_LEN: usize = 21;

/// The name under which an older version of `name` is kept in a location: `<name>.sm_<tag>`.
///
/// The tag is that of the snapshot which introduced the newer version (upstream semantics).
pub fn versioned_name(name: &str, tag: &SnapshotTag) -> String {
    format!("{name}.{tag}")
}

/// Splits a versioned file name `<name>.sm_<tag>` into the name and the tag; `None` when the name
/// carries no version suffix.
pub fn split_versioned(file: &str) -> Option<(&str, SnapshotTag)> {
    let cut = file.len().checked_sub(VERSION_SUFFIX_LEN)?;
    let (name, suffix) = (file.get(..cut)?, file.get(cut..)?);
    let tag = suffix.strip_prefix('.')?.parse().ok()?;
    (!name.is_empty()).then_some((name, tag))
}

/// The object holding `name` as snapshot `restored` saw it, among the file names `listing` of its
/// remote directory (upstream's versioned-file rule): the version `<name>.sm_<T>` with the
/// smallest tag `T` later than `restored` (a later snapshot replaced the file, keeping the
/// restored one under its own tag), else `name` itself. `None` when neither is listed.
pub fn version_for_tag<'a>(
    name: &str,
    restored: &SnapshotTag,
    listing: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut plain = false;
    let mut best: Option<SnapshotTag> = None;
    for file in listing {
        if file == name {
            plain = true;
        } else if let Some((base, tag)) = split_versioned(file)
            && base == name
            && tag > *restored
            && best.as_ref().is_none_or(|b| tag < *b)
        {
            best = Some(tag);
        }
    }
    match best {
        Some(tag) => Some(versioned_name(name, &tag)),
        None => plain.then(|| name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_version_of_the_restored_tag_is_the_oldest_later_one() {
        let t = |s: &str| s.parse::<SnapshotTag>().expect("tag");
        let name = "mc-2-big-Data.db";
        let listing = [
            name,
            "mc-2-big-Data.db.sm_20240101000000UTC",
            "mc-2-big-Data.db.sm_20240301000000UTC",
            "mc-2-big-Data.db.sm_20240201000000UTC",
            "mc-3-big-Data.db.sm_20240115000000UTC",
        ];
        let pick = |tag: &str| version_for_tag(name, &t(tag), listing);
        assert_eq!(
            pick("sm_20240110000000UTC").as_deref(),
            Some("mc-2-big-Data.db.sm_20240201000000UTC")
        );
        assert_eq!(
            pick("sm_20231201000000UTC").as_deref(),
            Some("mc-2-big-Data.db.sm_20240101000000UTC")
        );
        assert_eq!(pick("sm_20240301000000UTC").as_deref(), Some(name));
        assert_eq!(
            version_for_tag("mc-9-big-Data.db", &t("sm_20240101000000UTC"), listing),
            None
        );
    }

    #[test]
    fn parses_scylla_reference_uuid_generation() {
        // The encoding and its expected bits are Scylla's own test vector.
        let n: SSTableName = "me-3fw2_0tj4_46w3k2cpidnirvjy7k-big-Data.db"
            .parse()
            .unwrap();
        let Generation::Uuid(u) = n.generation else {
            panic!("expected a UUID generation")
        };
        assert_eq!(u.as_u64_pair(), (0x6636ac00da8411ec, 0x9abaf56e1443def0));
        assert_eq!(u.get_version_num(), 1);
        assert_eq!(n.to_string(), "me-3fw2_0tj4_46w3k2cpidnirvjy7k-big-Data.db");
        assert!(n.is_data());
    }

    #[test]
    fn parses_integer_and_legacy_forms() {
        let n: SSTableName = "mc-12-big-TOC.txt".parse().unwrap();
        assert_eq!(n.version, "mc");
        assert_eq!(n.generation, Generation::Integer(12));
        assert_eq!(n.format.as_deref(), Some("big"));
        assert_eq!(n.component, "TOC.txt");
        assert_eq!(n.with_component("Data.db").to_string(), "mc-12-big-Data.db");

        let k: SSTableName = "ks1-users-ka-7-Digest.sha1".parse().unwrap();
        assert_eq!(k.legacy_prefix, Some(("ks1".into(), "users".into())));
        assert_eq!(k.version, "ka");
        assert_eq!(k.generation, Generation::Integer(7));
        assert_eq!(k.format, None);
        assert_eq!(k.to_string(), "ks1-users-ka-7-Digest.sha1");
    }

    #[test]
    fn rejects_non_sstable_names_with_the_reason() {
        for (name, needle) in [
            ("manifest.json", "expected <version>"),
            ("schema.cql", "expected <version>"),
            ("ME-1-big-Data.db", "version \"ME\""),
            ("me-x1-big-Data.db", "expected an integer or a base36"),
            (
                "me-3fw2_0tj4_46w3k2cpidnirvjy7K-big-Data.db",
                "outside 0-9a-z",
            ),
            ("me-99999999999999999999999-big-Data.db", "out of range"),
            ("me-1-big-", "expected <version>"),
        ] {
            let err = name.parse::<SSTableName>().unwrap_err().to_string();
            assert!(err.contains(needle), "{name}: {err}");
            assert!(
                err.contains(name),
                "{name}: error does not name the file: {err}"
            );
        }
    }

    #[test]
    fn versioned_names_split_back() {
        let tag: SnapshotTag = "sm_20240102030405UTC".parse().unwrap();
        let v = versioned_name("mc-2-big-Data.db", &tag);
        assert_eq!(v, "mc-2-big-Data.db.sm_20240102030405UTC");
        assert_eq!(split_versioned(&v), Some(("mc-2-big-Data.db", tag)));
        assert_eq!(split_versioned("mc-2-big-Data.db"), None);
        assert_eq!(split_versioned(".sm_20240102030405UTC"), None);
        assert_eq!(split_versioned("x.sm_2024010203040xUTC"), None);
    }

    fn generation() -> impl Strategy<Value = Generation> {
        prop_oneof![
            any::<u64>().prop_map(Generation::Integer),
            // Time-UUIDs from 1970 to far beyond any real clock.
            (0u64..(1 << 59), any::<u64>()).prop_map(|(t, lsb)| Generation::uuid_at(t, lsb)),
        ]
    }

    proptest! {
        #[test]
        fn name_round_trips(
            version in "[a-z]{2}",
            generation in generation(),
            component in "[A-Z][A-Za-z]{1,12}\\.(db|txt|crc32)",
        ) {
            let name = SSTableName::new(&version, generation, &component);
            let text = name.to_string();
            prop_assert_eq!(text.parse::<SSTableName>().unwrap(), name);
        }

        #[test]
        fn uuid_generations_order_by_time_as_values_and_as_text(a in 0u64..(1 << 59), b in 0u64..(1 << 59), lsb in any::<u64>()) {
            // Same-width base36 fields: text order equals time order for equal node bits.
            let (ga, gb) = (Generation::uuid_at(a, lsb), Generation::uuid_at(b, lsb));
            prop_assert_eq!(a.cmp(&b), ga.to_string().cmp(&gb.to_string()));
            prop_assert_eq!(a.cmp(&b), ga.cmp(&gb));
        }
    }
}
