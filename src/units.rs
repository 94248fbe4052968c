//! Byte sizes, rates, durations and times as operators write and read them.
//!
//! Sizes: a whole number of bytes, or a whole number with a unit. `KiB`, `MiB`, `GiB`, `TiB`
//! (and the short `K`, `M`, `G`, `T`) are binary multiples (`64MiB` = 64·2²⁰); `KB`, `MB`, `GB`,
//! `TB` are decimal, as SI and the storage vendors mean them (`32MB` = 32·10⁶). Units are read
//! in any case; anything else is refused.

use std::fmt;

/// Parses a byte size such as `4096`, `512KiB`, `64MiB`, `10GiB`, `1TiB` or `32MB` (see the
/// module's documentation for the units); `None` for anything else or a size over `u64`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A byte size read from a configuration file: a whole number of bytes or a text such as
/// `64MiB` (see [`parse_size`]). Anything else is refused with the key and what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_bytes(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 64MiB")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("expected a size such as 64MiB, got {v}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).ok_or_else(|| {
                    E::custom(format!(
                        "expected a size such as 64MiB (binary) or 64MB (decimal), got {v:?}"
                    ))
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Formats a byte count with a binary unit and one decimal: `1.5 GiB`, `512 B`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Parses a duration such as `24h`, `10m`, `90s`, `1h30m` or `0` (units `d`, `h`, `m`, `s`).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
        any = true;
    }
    (any && number.is_empty()).then_some(std::time::Duration::from_secs(total))
}

/// Parses a time as sctool's flags take it: RFC 3339 (`2026-01-31T12:00:00Z`), `now`,
/// `now+DURATION` or `now-DURATION` (durations as [`parse_duration`], e.g. `now-7d`,
/// `now+12h30m`), relative to `now`; the error names what was expected.
pub fn parse_time(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    let expected = "expected RFC 3339 such as 2026-01-31T12:00:00Z, now, now-7d or now+1h30m";
    if let Some(rest) = text.strip_prefix("now") {
        let (sign, duration) = match rest.chars().next() {
            None => (1, "0"),
            Some('+') => (1, &rest[1..]),
            Some('-') => (-1, &rest[1..]),
            Some(_) => return Err(format!("{text:?}: {expected}")),
        };
        let offset = parse_duration(duration)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .ok_or_else(|| format!("{text:?}: {duration:?} is not a duration ({expected})"))?;
        let moved = if sign > 0 {
            now.checked_add_signed(offset)
        } else {
            now.checked_sub_signed(offset)
        };
        return moved.ok_or_else(|| format!("{text:?} is out of range"));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{text:?}: {e} ({expected})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_format() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("10G"), Some(10 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("huge"), None);
        assert_eq!(parse_size("99999999999TiB"), None);
        assert_eq!(parse_size("32MiB"), Some(32 << 20));
        assert_eq!(parse_size("32MB"), Some(32_000_000), "MB is decimal");
        assert_eq!(parse_size("32mb"), Some(32_000_000));
        assert_eq!(parse_size("1GB"), Some(1_000_000_000));
        assert_eq!(parse_size("1 KiB"), Some(1024));
        for bad in ["", "MiB", "32 MiBs", "-1MiB", "1.5MiB", "32XB", "0x20"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn config_sizes_take_numbers_or_texts_and_name_what_they_expect() {
        #[derive(serde::Deserialize)]
        struct C {
            size: ByteSize,
        }
        let read = |y: &str| crate::config_file::parse_yaml::<C>(y).map(|c| c.size.0);
        assert_eq!(read("size: 64MiB"), Ok(64 << 20));
        assert_eq!(read("size: 64MB"), Ok(64_000_000));
        assert_eq!(read("size: 4096"), Ok(4096));
        for (bad, got) in [
            ("size: 64QB", "got \"64QB\""),
            ("size: -5", "got -5"),
            ("size: true", "got true"),
            ("size: [1]", "got a list"),
        ] {
            let e = read(bad).unwrap_err();
            assert!(
                e.starts_with("size: expected a size such as 64MiB") && e.contains(got),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn durations_parse() {
        use std::time::Duration;
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "h", "10", "10x", "5m3"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_relative_to_now() {
        let now: chrono::DateTime<chrono::Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
        let at = |t: &str| parse_time(t, now).map(|d| d.to_rfc3339());
        assert_eq!(at("now").unwrap(), "2026-03-10T12:00:00+00:00");
        assert_eq!(at("now-7d").unwrap(), "2026-03-03T12:00:00+00:00");
        assert_eq!(at("now+12h30m").unwrap(), "2026-03-11T00:30:00+00:00");
        assert_eq!(
            at(" 2026-01-31T12:00:00+01:00 ").unwrap(),
            "2026-01-31T11:00:00+00:00"
        );
        for bad in [
            "now-",
            "now*2h",
            "now-3w",
            "yesterday",
            "now-99999999999999d",
        ] {
            assert!(at(bad).unwrap_err().contains(bad), "{bad}");
        }
    }
}
