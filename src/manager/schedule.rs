//! When tasks run: cron lines (standard 5 fields), intervals, a start date, weekly time windows,
//! and the exponential backoff between retries of a failed run. Pure: the scheduler asks these
//! rules for the next activation and whether a moment is inside a window.
//!
//! Windows follow upstream `--window`: a list of `[weekday-]HH:MM[:SS]` points taken in pairs,
//! each pair opening and closing a weekly window (`*-22:00`, `*-06:00`: every night from 22:00 to
//! 06:00; `Sat-00:00`, `Sun-23:59`: weekends). Times are UTC or a fixed offset (`+02:00`); named
//! time zones are not supported yet.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, Offset, TimeDelta, TimeZone, Timelike, Utc};

use super::store::Schedule;

/// Longest pause between retries of a failed run (upstream: 3 h); also the longest `retry_wait`.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(3 * 3600);
/// Longest interval between activations (ten years).
pub const MAX_INTERVAL: Duration = Duration::from_secs(10 * 366 * 86_400);
/// Furthest a start date may lie ahead of now (ten years).
pub const MAX_START_AHEAD: Duration = MAX_INTERVAL;
/// Most retries of a failed run.
pub const MAX_NUM_RETRIES: u32 = 1000;
/// How far ahead a cron line must fire at least once (five years: covers every leap day).
const CRON_HORIZON_DAYS: i64 = 5 * 366;
/// Seconds in a week, the period of windows.
const WEEK: i64 = 7 * 24 * 3600;

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron line does not parse or is not 5 fields.
    #[error("cron {line:?}: {reason}")]
    Cron {
        /// The line given.
        line: String,
        /// What is wrong.
        reason: String,
    },
    /// A window point does not parse.
    #[error("window {point:?}: expected [weekday-]HH:MM[:SS] with weekday Mon..Sun or *")]
    WindowPoint {
        /// The point given.
        point: String,
    },
    /// A window list has an odd number of points.
    #[error("window: {0} points given; points come in start/end pairs")]
    WindowPairs(usize),
    /// The time zone is not UTC or a fixed offset.
    #[error("timezone {0:?}: only UTC and fixed offsets such as +02:00 are supported")]
    Timezone(String),
    /// A cron line and an interval were both given.
    #[error("cron and interval: give at most one")]
    TwoTriggers,
    /// A cron line was given but is empty.
    #[error("empty (give a 5-field cron line such as \"0 2 * * *\", or no cron)")]
    EmptyCron,
    /// A cron line that parses but never matches (e.g. February 31st).
    #[error("cron {0:?}: never fires (no matching time in the next five years)")]
    CronNeverFires(String),
    /// The interval is longer than [`MAX_INTERVAL`].
    #[error("{0} s is longer than the longest interval allowed, {max} s (ten years)", max = MAX_INTERVAL.as_secs())]
    Interval(u64),
    /// The first wait before a retry is longer than [`MAX_RETRY_WAIT`].
    #[error("{0} s is longer than the longest pause between retries, {max} s (3h)", max = MAX_RETRY_WAIT.as_secs())]
    RetryWait(u64),
    /// More retries than [`MAX_NUM_RETRIES`].
    #[error("{0} is more than {MAX_NUM_RETRIES}")]
    NumRetries(u32),
    /// The start date is before 1970 or further ahead than [`MAX_START_AHEAD`].
    #[error("{0} is out of range (from 1970 to ten years from now)")]
    StartDate(String),
    /// A window pair opens and closes at the same moment.
    #[error("window {start:?}, {end:?}: opens and closes at the same time (an empty window)")]
    WindowEmpty {
        /// The opening point.
        start: String,
        /// The closing point.
        end: String,
    },
    /// A window pair on one weekday closes before it opens.
    #[error(
        "window {start:?}, {end:?}: closes before it opens on the same day (name the next day for the end)"
    )]
    WindowInverted {
        /// The opening point.
        start: String,
        /// The closing point.
        end: String,
    },
    /// A time could not be computed (out of the calendar's range).
    #[error("the next activation is out of the calendar's range")]
    Overflow(&'static str),
}

impl ScheduleError {
    /// The schedule field at fault, as the API names it (`schedule.cron`, ...).
    pub fn field(&self) -> &'static str {
        match self {
            ScheduleError::Cron { .. }
            | ScheduleError::EmptyCron
            | ScheduleError::CronNeverFires(_) => "schedule.cron",
            ScheduleError::WindowPoint { .. }
            | ScheduleError::WindowPairs(_)
            | ScheduleError::WindowEmpty { .. }
            | ScheduleError::WindowInverted { .. } => "schedule.window",
            ScheduleError::Timezone(_) => "schedule.timezone",
            ScheduleError::TwoTriggers | ScheduleError::Interval(_) => "schedule.interval",
            ScheduleError::RetryWait(_) => "schedule.retry_wait",
            ScheduleError::NumRetries(_) => "schedule.num_retries",
            ScheduleError::StartDate(_) => "schedule.start_date",
            ScheduleError::Overflow(field) => field,
        }
    }
}

/// Checks every field of a schedule against the bounds above and the rules of [`Trigger`],
/// [`Windows`] and [`parse_zone`]; the same check guards the API and the stored tasks the
/// scheduler loads.
pub fn check(s: &Schedule, now: DateTime<Utc>) -> Result<(), ScheduleError> {
    if s.cron.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(ScheduleError::EmptyCron);
    }
    Trigger::new(s.cron.as_deref(), s.interval_seconds)?;
    Windows::parse(&s.window)?;
    parse_zone(s.timezone.as_deref())?;
    if s.retry_wait_seconds > MAX_RETRY_WAIT.as_secs() {
        return Err(ScheduleError::RetryWait(s.retry_wait_seconds));
    }
    if s.num_retries > MAX_NUM_RETRIES {
        return Err(ScheduleError::NumRetries(s.num_retries));
    }
    if let Some(d) = s.start_date {
        check_start_date(d, now)?;
    }
    Ok(())
}

/// Checks that a start date lies between 1970 and [`MAX_START_AHEAD`] from `now`.
pub fn check_start_date(d: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ScheduleError> {
    let latest = TimeDelta::from_std(MAX_START_AHEAD)
        .ok()
        .and_then(|ahead| now.checked_add_signed(ahead));
    if d < DateTime::UNIX_EPOCH || latest.is_none_or(|l| d > l) {
        return Err(ScheduleError::StartDate(d.to_rfc3339()));
    }
    Ok(())
}

/// What makes a task run again.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Runs once (at the start date, or when started by hand).
    Once,
    /// Runs every `Duration` after the start date.
    Interval(Duration),
    /// Runs at each time the cron line matches.
    Cron(Box<croner::Cron>),
}

/// The fields of a cron line: name and allowed range.
const CRON_FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];

/// The first number of a 5-field cron line outside its field's range, named for people
/// (`minute 61 is not in 0-59`); `None` when every number is in range (names such as `MON` and
/// steps such as `*/15` are left to the parser).
fn out_of_range(line: &str) -> Option<String> {
    for (field, (name, low, high)) in line.split_whitespace().zip(CRON_FIELDS) {
        for part in field.split(',') {
            let values = part.split_once('/').map_or(part, |(values, _)| values);
            for value in values.split('-') {
                if let Ok(n) = value.parse::<u32>()
                    && !(low..=high).contains(&n)
                {
                    return Some(format!("{name} {n} is not in {low}-{high}"));
                }
            }
        }
    }
    None
}

impl Trigger {
    /// The trigger of a schedule: a cron line, an interval in seconds (0: none), or neither.
    pub fn new(cron: Option<&str>, interval_seconds: u64) -> Result<Self, ScheduleError> {
        match (cron.filter(|c| !c.trim().is_empty()), interval_seconds) {
            (Some(_), n) if n > 0 => Err(ScheduleError::TwoTriggers),
            (Some(line), _) => {
                let fields = line.split_whitespace().count();
                let is_macro = line.trim_start().starts_with('@');
                if fields != 5 && !is_macro {
                    let reason = format!(
                        "{fields} fields given; expected 5 (minute hour day-of-month month day-of-week)"
                    );
                    return Err(ScheduleError::Cron {
                        line: line.to_string(),
                        reason,
                    });
                }
                if let Some(reason) = (!is_macro).then(|| out_of_range(line)).flatten() {
                    return Err(ScheduleError::Cron {
                        line: line.to_string(),
                        reason,
                    });
                }
                let cron = croner::Cron::from_str(line).map_err(|e| ScheduleError::Cron {
                    line: line.to_string(),
                    reason: e.to_string(),
                })?;
                if !fires_within(&cron, Utc::now(), CRON_HORIZON_DAYS) {
                    return Err(ScheduleError::CronNeverFires(line.to_string()));
                }
                Ok(Trigger::Cron(Box::new(cron)))
            }
            (None, 0) => Ok(Trigger::Once),
            (None, n) if n > MAX_INTERVAL.as_secs() => Err(ScheduleError::Interval(n)),
            (None, n) => Ok(Trigger::Interval(Duration::from_secs(n))),
        }
    }

    /// The first activation strictly after `after`, given the schedule's start date and zone;
    /// `Ok(None)` when the task will not run again, an error when the time cannot be computed.
    pub fn next(
        &self,
        after: DateTime<Utc>,
        start: Option<DateTime<Utc>>,
        zone: FixedOffset,
    ) -> Result<Option<DateTime<Utc>>, ScheduleError> {
        match self {
            Trigger::Once => Ok(start.filter(|s| *s > after)),
            Trigger::Interval(every) => {
                let overflow = ScheduleError::Overflow("schedule.interval");
                let start = start.unwrap_or(after);
                if start > after {
                    return Ok(Some(start));
                }
                let every = i64::try_from(every.as_secs())
                    .map_err(|_| overflow.clone())?
                    .max(1);
                let elapsed = after.signed_duration_since(start).num_seconds();
                (elapsed / every)
                    .checked_add(1)
                    .and_then(|steps| steps.checked_mul(every))
                    .and_then(TimeDelta::try_seconds)
                    .and_then(|d| start.checked_add_signed(d))
                    .map(Some)
                    .ok_or(overflow)
            }
            Trigger::Cron(cron) => {
                let from = match start.filter(|s| *s > after) {
                    Some(s) => s
                        .checked_sub_signed(TimeDelta::seconds(1))
                        .ok_or(ScheduleError::Overflow("schedule.start_date"))?,
                    None => after,
                };
                Ok(cron
                    .find_next_occurrence(&from.with_timezone(&zone), false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)))
            }
        }
    }
}

/// Whether a task that never ran runs at once (at `now`): an interval task whose start date is
/// unset, or now, or passed less than one interval ago. `--start-date now` is resolved moments
/// before the scheduler sees the task, and a first activation missed while the manager was down
/// is run when it is back; the runs after follow the start date's grid. Other triggers follow
/// [`Trigger::next`].
pub fn first_run_now(trigger: &Trigger, start: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let Trigger::Interval(every) = trigger else {
        return false;
    };
    match start {
        None => true,
        Some(start) if start > now => false,
        Some(start) => TimeDelta::from_std(*every)
            .ok()
            .is_some_and(|every| now.signed_duration_since(start) < every),
    }
}

/// Whether `cron` matches at least once in the `days` after `from`.
fn fires_within(cron: &croner::Cron, from: DateTime<Utc>, days: i64) -> bool {
    let horizon = from.checked_add_signed(TimeDelta::days(days));
    cron.find_next_occurrence(&from, false)
        .is_ok_and(|t| horizon.is_some_and(|h| t <= h))
}

/// Parses a schedule's time zone: empty or `UTC`, or a fixed offset such as `+02:00`.
pub fn parse_zone(tz: Option<&str>) -> Result<FixedOffset, ScheduleError> {
    match tz.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(utc_offset()),
        Some(t) if t.eq_ignore_ascii_case("utc") || t == "Z" => Ok(utc_offset()),
        Some(t) => t
            .parse::<FixedOffset>()
            .map_err(|_| ScheduleError::Timezone(t.to_string())),
    }
}

/// The zero offset.
fn utc_offset() -> FixedOffset {
    Utc.fix()
}

/// The pause before retry number `attempt` (1-based) of a failed run: `retry_wait` doubled each
/// time, at most [`MAX_RETRY_WAIT`].
pub fn retry_backoff(retry_wait: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    retry_wait.saturating_mul(factor).min(MAX_RETRY_WAIT)
}

/// A point of the week: weekday (`None`: every day) and seconds since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WeekPoint {
    /// Day of the week counted from Monday (0), or `None` for every day.
    weekday: Option<u32>,
    /// Seconds since midnight.
    seconds: u32,
}

impl FromStr for WeekPoint {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ScheduleError::WindowPoint {
            point: s.to_string(),
        };
        let (day, time) = match s.split_once('-') {
            Some((d, t)) => (Some(d), t),
            None => (None, s),
        };
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let weekday = match day.map(str::to_ascii_lowercase).as_deref() {
            None | Some("*") => None,
            Some(d) => Some(
                DAYS.iter()
                    .position(|x| d.starts_with(x) && d.len() <= 9)
                    .ok_or_else(bad)? as u32,
            ),
        };
        let parts: Vec<u32> = time
            .split(':')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let (h, m, sec) = match parts.as_slice() {
            [h, m] => (*h, *m, 0),
            [h, m, s] => (*h, *m, *s),
            _ => return Err(bad()),
        };
        if h > 23 || m > 59 || sec > 59 {
            return Err(bad());
        }
        Ok(WeekPoint {
            weekday,
            seconds: h * 3600 + m * 60 + sec,
        })
    }
}

/// Weekly windows in which a task may run; empty means always.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    /// Open intervals as (start, end) seconds since Monday 00:00, end may wrap past the week.
    spans: Vec<(i64, i64)>,
}

impl Windows {
    /// Parses start/end pairs of `[weekday-]HH:MM[:SS]` points.
    pub fn parse(points: &[String]) -> Result<Self, ScheduleError> {
        if points.len() % 2 == 1 {
            return Err(ScheduleError::WindowPairs(points.len()));
        }
        let parsed: Vec<WeekPoint> = points.iter().map(|p| p.parse()).collect::<Result<_, _>>()?;
        let mut spans = Vec::new();
        for (pair, text) in parsed.chunks_exact(2).zip(points.chunks_exact(2)) {
            let (a, b) = (pair[0], pair[1]);
            let texts = || (text[0].clone(), text[1].clone());
            if a == b {
                let (start, end) = texts();
                return Err(ScheduleError::WindowEmpty { start, end });
            }
            if a.weekday.is_some() && a.weekday == b.weekday && b.seconds < a.seconds {
                let (start, end) = texts();
                return Err(ScheduleError::WindowInverted { start, end });
            }
            // A pair without weekdays repeats every day.
            let days: Vec<u32> = match (a.weekday, b.weekday) {
                (None, None) => (0..7).collect(),
                (Some(d), _) | (None, Some(d)) => vec![d],
            };
            for d in days {
                let start = d as i64 * 86_400 + a.seconds as i64;
                let end_day = b.weekday.map(|w| w as i64).unwrap_or(d as i64);
                let mut end = end_day * 86_400 + b.seconds as i64;
                while end <= start {
                    end += if b.weekday.is_some() { WEEK } else { 86_400 };
                }
                spans.push((start, end));
            }
        }
        Ok(Windows { spans })
    }

    /// Seconds since Monday 00:00 of `t` in `zone`.
    fn week_seconds(t: DateTime<Utc>, zone: FixedOffset) -> i64 {
        let local = t.with_timezone(&zone);
        local.weekday().num_days_from_monday() as i64 * 86_400
            + local.num_seconds_from_midnight() as i64
    }

    /// Whether `t` is inside a window (always, when there are none).
    pub fn contains(&self, t: DateTime<Utc>, zone: FixedOffset) -> bool {
        if self.spans.is_empty() {
            return true;
        }
        let now = Self::week_seconds(t, zone);
        self.spans
            .iter()
            .any(|(s, e)| (now >= *s && now < *e) || (now + WEEK >= *s && now + WEEK < *e))
    }

    /// The first moment at or after `t` inside a window; `None` past the calendar's end.
    pub fn next_open(&self, t: DateTime<Utc>, zone: FixedOffset) -> Option<DateTime<Utc>> {
        if self.contains(t, zone) {
            return Some(t);
        }
        let now = Self::week_seconds(t, zone);
        let wait = self
            .spans
            .iter()
            .map(|(s, _)| (s - now).rem_euclid(WEEK))
            .min()
            .unwrap_or(0);
        let base = zone
            .from_utc_datetime(&t.naive_utc())
            .with_nanosecond(0)
            .unwrap_or_else(|| t.with_timezone(&zone));
        base.checked_add_signed(TimeDelta::seconds(wait))
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn cron_interval_and_once_give_the_next_run() {
        let utc = parse_zone(None).unwrap();
        let nightly = Trigger::new(Some("30 2 * * *"), 0).unwrap();
        assert_eq!(
            nightly.next(at("2026-11-24T10:00:00Z"), None, utc).unwrap(),
            Some(at("2026-11-25T02:30:00Z"))
        );
        assert_eq!(
            nightly
                .next(
                    at("2026-11-24T01:00:00Z"),
                    Some(at("2026-12-01T00:00:00Z")),
                    utc
                )
                .unwrap(),
            Some(at("2026-12-01T02:30:00Z")),
            "not before the start date"
        );
        let plus2 = parse_zone(Some("+02:00")).unwrap();
        assert_eq!(
            nightly
                .next(at("2026-11-24T10:00:00Z"), None, plus2)
                .unwrap(),
            Some(at("2026-11-25T00:30:00Z")),
            "02:30 at +02:00"
        );
        let hourly = Trigger::new(None, 3600).unwrap();
        let start = at("2026-11-24T00:15:00Z");
        assert_eq!(
            hourly
                .next(at("2026-11-24T03:20:00Z"), Some(start), utc)
                .unwrap(),
            Some(at("2026-11-24T04:15:00Z"))
        );
        assert_eq!(
            hourly
                .next(at("2026-11-23T00:00:00Z"), Some(start), utc)
                .unwrap(),
            Some(start)
        );
        let once = Trigger::new(None, 0).unwrap();
        assert_eq!(
            once.next(at("2026-11-24T00:00:00Z"), Some(start), utc)
                .unwrap(),
            Some(start)
        );
        assert_eq!(
            once.next(at("2026-11-25T00:00:00Z"), Some(start), utc)
                .unwrap(),
            None,
            "a one-off in the past does not run again"
        );
    }

    #[test]
    fn a_new_interval_task_starting_now_or_just_now_runs_at_once() {
        let daily = Trigger::new(None, 86_400).unwrap();
        let now = at("2026-11-24T10:00:00Z");
        assert!(first_run_now(&daily, None, now), "no start date");
        assert!(first_run_now(&daily, Some(now), now), "--start-date now");
        assert!(
            first_run_now(&daily, Some(at("2026-11-24T09:59:59Z")), now),
            "now, resolved a moment before the scheduler saw it"
        );
        assert!(
            first_run_now(&daily, Some(at("2026-11-23T10:00:01Z")), now),
            "a first activation missed less than an interval ago"
        );
        assert!(
            !first_run_now(&daily, Some(at("2026-11-23T10:00:00Z")), now),
            "a whole interval ago: the grid's next point"
        );
        assert!(
            !first_run_now(&daily, Some(at("2026-11-24T10:00:01Z")), now),
            "a start date ahead"
        );
        let nightly = Trigger::new(Some("30 2 * * *"), 0).unwrap();
        assert!(
            !first_run_now(&nightly, Some(now), now),
            "cron follows its line"
        );
        assert!(!first_run_now(&Trigger::Once, Some(now), now));
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        for (cron, interval, needle) in [
            (Some("* * * *"), 0, "expected 5"),
            (Some("0 0 0 0 * *"), 0, "expected 5"),
            (
                Some("99 * * * *"),
                0,
                "cron \"99 * * * *\": minute 99 is not in 0-59",
            ),
            (Some("0 25 * * *"), 0, "hour 25 is not in 0-23"),
            (Some("0 0 1-32 * *"), 0, "day of month 32 is not in 1-31"),
            (Some("*/15 0 * 0 *"), 0, "month 0 is not in 1-12"),
            (Some("0 0 * * 8"), 0, "day of week 8 is not in 0-7"),
            (Some("0 0 * * *"), 60, "at most one"),
        ] {
            let err = Trigger::new(cron, interval).unwrap_err().to_string();
            assert!(err.contains(needle), "{cron:?}: {err}");
        }
        assert!(
            parse_zone(Some("Europe/Warsaw"))
                .unwrap_err()
                .to_string()
                .contains("fixed offsets")
        );
        assert!(
            Windows::parse(&["*-22:00".into()])
                .unwrap_err()
                .to_string()
                .contains("pairs")
        );
        assert!(Windows::parse(&["Funday-22:00".into(), "*-23:00".into()]).is_err());
        assert!(Windows::parse(&["*-24:00".into(), "*-23:00".into()]).is_err());
    }

    #[test]
    fn windows_open_and_close_as_upstream_points_say() {
        let utc = parse_zone(None).unwrap();
        let nightly = Windows::parse(&["*-22:00".into(), "*-06:00".into()]).unwrap();
        assert!(nightly.contains(at("2026-11-24T23:00:00Z"), utc));
        assert!(nightly.contains(at("2026-11-24T05:59:00Z"), utc));
        assert!(!nightly.contains(at("2026-11-24T12:00:00Z"), utc));
        assert_eq!(
            nightly.next_open(at("2026-11-24T12:00:00Z"), utc).unwrap(),
            at("2026-11-24T22:00:00Z")
        );
        // 2026-11-24 is a Tuesday; the weekend window opens Saturday.
        let weekend = Windows::parse(&["Sat-00:00".into(), "Sun-23:59".into()]).unwrap();
        assert!(!weekend.contains(at("2026-11-24T12:00:00Z"), utc));
        assert_eq!(
            weekend.next_open(at("2026-11-24T12:00:00Z"), utc).unwrap(),
            at("2026-11-28T00:00:00Z")
        );
        assert!(weekend.contains(at("2026-11-29T10:00:00Z"), utc));
        assert!(
            Windows::default().contains(at("2026-11-24T12:00:00Z"), utc),
            "no windows: always"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_three_hours() {
        let ten = Duration::from_secs(600);
        assert_eq!(retry_backoff(ten, 1), ten);
        assert_eq!(retry_backoff(ten, 2), ten * 2);
        assert_eq!(retry_backoff(ten, 3), ten * 4);
        assert_eq!(retry_backoff(ten, 10), MAX_RETRY_WAIT);
        assert_eq!(retry_backoff(ten, 200), MAX_RETRY_WAIT);
    }

    #[test]
    fn out_of_range_schedules_are_refused_and_times_never_overflow() {
        let utc = parse_zone(None).unwrap();
        let now = at("2026-11-24T10:00:00Z");
        for secs in [
            99_999_999_999 * 86_400,
            u64::MAX,
            MAX_INTERVAL.as_secs() + 1,
        ] {
            let e = Trigger::new(None, secs).unwrap_err();
            assert_eq!(e.field(), "schedule.interval", "{e}");
        }
        assert!(Trigger::new(None, MAX_INTERVAL.as_secs()).is_ok());
        // The arithmetic itself is checked: the largest interval from the calendar's first day,
        // and a cron line from its last day, answer without a panic.
        let longest = Trigger::Interval(Duration::from_secs(u64::MAX));
        assert!(
            longest
                .next(now, Some(DateTime::<Utc>::MIN_UTC), utc)
                .is_err()
        );
        let nightly = Trigger::new(Some("0 2 * * *"), 0).unwrap();
        let _ = nightly.next(now, Some(DateTime::<Utc>::MIN_UTC), utc);
        let _ = nightly.next(DateTime::<Utc>::MAX_UTC, None, utc);
        let windows = Windows::parse(&["*-22:00".into(), "*-23:00".into()]).unwrap();
        assert_eq!(windows.next_open(DateTime::<Utc>::MAX_UTC, utc), None);

        for (cron, needle) in [("0 0 31 2 *", "never fires"), ("0 0 30 2 *", "never fires")] {
            let e = Trigger::new(Some(cron), 0).unwrap_err();
            assert!(e.to_string().contains(needle), "{cron}: {e}");
            assert_eq!(e.field(), "schedule.cron");
        }
        assert!(
            Trigger::new(Some("0 0 29 2 *"), 0).is_ok(),
            "leap days come"
        );

        for (points, needle) in [
            (["*-22:00", "*-22:00"], "same time"),
            (["Mon-10:00", "Mon-10:00"], "same time"),
            (["Mon-10:00", "Mon-09:00"], "closes before it opens"),
        ] {
            let points: Vec<String> = points.iter().map(|p| p.to_string()).collect();
            let e = Windows::parse(&points).unwrap_err();
            assert!(e.to_string().contains(needle), "{points:?}: {e}");
            assert_eq!(e.field(), "schedule.window");
        }

        let ok = Schedule::default();
        assert_eq!(check(&ok, now), Ok(()));
        let far = now + TimeDelta::days(100_000_000 / 1000);
        for (schedule, field) in [
            (
                Schedule {
                    cron: Some(" ".into()),
                    ..ok.clone()
                },
                "schedule.cron",
            ),
            (
                Schedule {
                    retry_wait_seconds: u64::MAX,
                    ..ok.clone()
                },
                "schedule.retry_wait",
            ),
            (
                Schedule {
                    num_retries: u32::MAX,
                    ..ok.clone()
                },
                "schedule.num_retries",
            ),
            (
                Schedule {
                    start_date: Some(far),
                    ..ok.clone()
                },
                "schedule.start_date",
            ),
            (
                Schedule {
                    start_date: Some(DateTime::<Utc>::MIN_UTC),
                    ..ok.clone()
                },
                "schedule.start_date",
            ),
        ] {
            let e = check(&schedule, now).unwrap_err();
            assert_eq!(e.field(), field, "{schedule:?}: {e}");
        }
    }
}
