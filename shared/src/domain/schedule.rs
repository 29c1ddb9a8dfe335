//! Schedules (API.md §9): the frequencies, the timing rules a schedule is checked against, and
//! the next run in the schedule's time zone. Pure: the clock is an argument.
//!
//! Every frequency but `once` and `interval` is a 5-field cron pattern (hourly = `0 * * * *`,
//! daily = `0 0 * * *`, weekly = `0 0 * * 1`, monthly = `0 0 1 * *`), matched by `croner`
//! (Vixie cron's day rule: with both day fields restricted, either matches) against local
//! wall-clock times, which are then placed on the time line by `jiff` with the IANA database
//! compiled in: a local time the clocks skip is shifted forward by the gap, a local time they
//! repeat takes its first occurrence.

use jiff::tz::TimeZone;

use super::validate::{DefaultValue as D, Kind as K, Spec, RECORD_IDS, TIMESTAMPS};
use super::Timestamp;
use crate::string_enum;

string_enum!(
    /// How often a schedule runs (§9).
    Frequency {
        Once = "once",
        Hourly = "hourly",
        Daily = "daily",
        Weekly = "weekly",
        Monthly = "monthly",
        Cron = "cron",
        Interval = "interval",
    }
);

/// The 422 message of a frequency that is not one.
pub fn frequency_message(given: &str) -> String {
    format!(
        "Value error, Invalid frequency '{given}'. Must be one of: once, hourly, daily, weekly, monthly, cron, interval"
    )
}

/// Shortest interval between runs of an `interval` schedule.
pub const MIN_INTERVAL_SECS: i64 = 60;

/// What a schedule may run: any job type but webhook_delivery.
pub const TASK_TYPES: &[&str] = &[
    "analysis",
    "export",
    "batch_analysis",
    "batch_export",
    "batch_import",
    "scheduled_analysis",
    "repository_sync",
    "research",
];

const FREQUENCY: K = K::Choice {
    values: <Frequency as super::validate::EnumValues>::VALUES,
    msg: frequency_message,
};
const NAME: K = K::Str { min: 1, max: 255 };
const DESCRIPTION: K = K::Str { min: 0, max: 512 };
const CRON: K = K::Str { min: 0, max: 100 };
const INTERVAL: K = K::Int {
    min: Some(MIN_INTERVAL_SECS),
    max: None,
};
const TIMEZONE: K = K::Str { min: 0, max: 50 };

/// ScheduleCreate fields but project_id (the PATCH body), in response order.
pub const FIELDS: &[Spec] = &[
    Spec::req("name", NAME),
    Spec::opt("description", DESCRIPTION),
    Spec::req("task_type", K::Enum(TASK_TYPES)),
    Spec::or("task_parameters", K::Obj, D::EmptyObject),
    Spec::req("frequency", FREQUENCY),
    Spec::opt("cron_expression", CRON),
    Spec::opt("interval_seconds", INTERVAL),
    Spec::or("timezone", TIMEZONE, D::Str("UTC")),
    Spec::opt("start_time", K::Ts),
    Spec::opt("end_time", K::Ts),
    Spec::or("enabled", K::Bool, D::Bool(true)),
    Spec::or("tags", K::Obj, D::EmptyObject),
];

/// A Schedule as responses carry it (§19).
pub const OUT: &[&[Spec]] = &[
    RECORD_IDS,
    &[
        Spec::req("name", NAME),
        Spec::opt("description", DESCRIPTION),
        Spec::req("task_type", K::Enum(TASK_TYPES)),
        Spec::req("task_parameters", K::Obj),
        Spec::req(
            "frequency",
            K::Enum(<Frequency as super::validate::EnumValues>::VALUES),
        ),
        Spec::opt("cron_expression", CRON),
        Spec::opt("interval_seconds", INTERVAL),
        Spec::req("timezone", TIMEZONE),
        Spec::opt("start_time", K::Ts),
        Spec::opt("end_time", K::Ts),
        Spec::req("enabled", K::Bool),
        Spec::opt("last_run_at", K::Ts),
        Spec::opt("next_run_at", K::Ts),
        Spec::req(
            "run_count",
            K::Int {
                min: Some(0),
                max: None,
            },
        ),
        Spec::req(
            "success_count",
            K::Int {
                min: Some(0),
                max: None,
            },
        ),
        Spec::req(
            "failure_count",
            K::Int {
                min: Some(0),
                max: None,
            },
        ),
        Spec::opt("success_rate", K::Num { min: 0.0 }),
        Spec::req("is_active", K::Bool),
        Spec::opt("last_error", K::Str { min: 0, max: 1000 }),
        Spec::opt("last_success_at", K::Ts),
        Spec::opt("last_failure_at", K::Ts),
        Spec::opt("created_by", K::Id),
        Spec::req("tags", K::Obj),
    ],
    TIMESTAMPS,
];

/// success_count / run_count × 100 with 2 decimals; None without runs.
pub fn success_rate(successes: i64, runs: i64) -> Option<f64> {
    (runs > 0).then(|| (successes as f64 * 10_000.0 / runs as f64).round() / 100.0)
}

/// A schedule's timing, as stored (or as it would be after a change).
#[derive(Debug, Clone)]
pub struct Timing<'a> {
    pub frequency: Frequency,
    pub cron_expression: Option<&'a str>,
    pub interval_seconds: Option<i64>,
    /// IANA name (`UTC`, `Europe/London`, ...).
    pub timezone: &'a str,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    /// The schedule's creation time: the anchor of an interval without a start_time.
    pub created_at: Timestamp,
}

/// A timing that cannot be run (400 with `code()` and `message()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimingError {
    CronRequired,
    InvalidCron(String),
    IntervalRequired,
    InvalidTimezone(String),
}

impl TimingError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::CronRequired => "cron_required",
            Self::InvalidCron(_) => "invalid_cron",
            Self::IntervalRequired => "interval_required",
            Self::InvalidTimezone(_) => "invalid_timezone",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::CronRequired => "Cron expression required for cron frequency".into(),
            Self::InvalidCron(x) => format!("Invalid cron expression: {x}"),
            Self::IntervalRequired => "interval_seconds required for interval frequency".into(),
            Self::InvalidTimezone(tz) => format!("Invalid timezone: {tz}"),
        }
    }
}

/// What a timing runs on.
enum Rule {
    Once,
    Cron(Box<croner::Cron>),
    Interval(i64),
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week) of the
/// documented syntax only: `*`, numbers, lists, ranges, steps, JAN–DEC in the month field and
/// SUN–SAT in the day-of-week field (0 and 7 = Sunday). Six fields, `?`, `L`, `W`, `#`,
/// nicknames (`@daily`) and patterns that never match (`0 0 30 2 *`) are invalid.
pub fn parse_cron(expression: &str) -> Option<croner::Cron> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return None;
    }
    for (i, field) in fields.iter().enumerate() {
        if !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '/' | '-'))
        {
            return None;
        }
        for atom in field.split([',', '/', '-']) {
            if atom.is_empty() {
                return None;
            }
            if atom.chars().any(|c| c.is_ascii_alphabetic()) {
                let names = match i {
                    3 => MONTHS,
                    4 => DAYS,
                    _ => return None,
                };
                if !names.contains(&atom.to_ascii_uppercase().as_str()) {
                    return None;
                }
            } else if atom != "*" && !atom.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
        }
    }
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build();
    let cron = parser.parse(&fields.join(" ")).ok()?;
    // A pattern that never matches (February 30th) is refused here rather than leaving a
    // schedule that never runs. Every valid day-month pair occurs within 8 years (Feb 29).
    let probe = jiff::civil::date(2001, 1, 1)
        .at(0, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .ok()?;
    let found = cron.find_next_occurrence(&probe, true).ok()?;
    (found.year() <= 2009).then_some(cron)
}

/// The timezone of a timing, from the bundled IANA database.
pub fn time_zone(name: &str) -> Option<TimeZone> {
    if name.is_empty() || name.len() > 50 {
        return None;
    }
    TimeZone::get(name).ok()
}

fn rule(t: &Timing<'_>) -> Result<(Rule, TimeZone), TimingError> {
    let fixed = |pattern: &str| parse_cron(pattern).map(|c| Rule::Cron(Box::new(c)));
    let rule = match t.frequency {
        Frequency::Once => Some(Rule::Once),
        Frequency::Hourly => fixed("0 * * * *"),
        Frequency::Daily => fixed("0 0 * * *"),
        Frequency::Weekly => fixed("0 0 * * 1"),
        Frequency::Monthly => fixed("0 0 1 * *"),
        Frequency::Cron => match t.cron_expression.map(str::trim) {
            None | Some("") => return Err(TimingError::CronRequired),
            Some(x) => Some(
                parse_cron(x)
                    .map(|c| Rule::Cron(Box::new(c)))
                    .ok_or_else(|| TimingError::InvalidCron(x.to_string()))?,
            ),
        },
        Frequency::Interval => match t.interval_seconds {
            Some(secs) if secs >= 1 => Some(Rule::Interval(secs)),
            _ => return Err(TimingError::IntervalRequired),
        },
    };
    let rule = rule.ok_or_else(|| TimingError::InvalidCron(String::new()))?;
    let tz = time_zone(t.timezone)
        .ok_or_else(|| TimingError::InvalidTimezone(t.timezone.to_string()))?;
    Ok((rule, tz))
}

/// Whether the timing can run (the 400 rules of §9); `next_run` checks the same.
pub fn check(t: &Timing<'_>) -> Result<(), TimingError> {
    rule(t).map(|_| ())
}

fn to_jiff(t: Timestamp) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(i64::try_from(t.0.unix_timestamp_nanos() / 1_000_000).ok()?)
        .ok()
}

fn from_jiff(t: jiff::Timestamp) -> Option<Timestamp> {
    let dt = ::time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.as_millisecond()) * 1_000_000,
    )
    .ok()?;
    (Timestamp::MIN_YEAR..=Timestamp::MAX_YEAR)
        .contains(&dt.year())
        .then_some(Timestamp(dt))
}

/// The first instant matching `cron` in `tz` after `after` (or at it, when `inclusive`).
fn next_cron(
    cron: &croner::Cron,
    tz: &TimeZone,
    after: jiff::Timestamp,
    inclusive: bool,
) -> Option<jiff::Timestamp> {
    // Local wall-clock times are matched as if they were UTC (a time line without gaps or
    // repeats), then placed in the zone.
    let mut civil = after.to_zoned(tz.clone()).datetime();
    let mut include = inclusive;
    // A repeated hour can map a match back before `after` (its first occurrence): then the
    // search goes on from that local time. Two rounds suffice; a few more cost nothing.
    for _ in 0..6 {
        let probe = civil.to_zoned(TimeZone::UTC).ok()?;
        let local = cron.find_next_occurrence(&probe, include).ok()?.datetime();
        let at = tz.to_ambiguous_zoned(local).compatible().ok()?.timestamp();
        if at > after || (inclusive && at == after) {
            return Some(at);
        }
        civil = local;
        include = false;
    }
    None
}

/// The next run of a timing (§9 "Next run"): the first occurrence after `now` and not before
/// start_time (`once`: start_time, else `now`); None when that is at or past end_time, or
/// beyond year 9999.
pub fn next_run(t: &Timing<'_>, now: Timestamp) -> Result<Option<Timestamp>, TimingError> {
    let (rule, tz) = rule(t)?;
    let Some(now_j) = to_jiff(now) else {
        return Ok(None);
    };
    let start = t.start_time.and_then(to_jiff);
    let candidate = match rule {
        Rule::Once => Some(start.unwrap_or(now_j)),
        Rule::Cron(cron) => match start {
            Some(s) if s > now_j => next_cron(&cron, &tz, s, true),
            _ => next_cron(&cron, &tz, now_j, false),
        },
        Rule::Interval(secs) => {
            let anchor = start.or_else(|| to_jiff(t.created_at)).unwrap_or(now_j);
            if anchor > now_j {
                Some(anchor)
            } else {
                let step = i128::from(secs) * 1000;
                let passed = i128::from(now_j.as_millisecond() - anchor.as_millisecond());
                let k = passed / step + 1;
                i64::try_from(i128::from(anchor.as_millisecond()) + k * step)
                    .ok()
                    .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            }
        }
    };
    let candidate = candidate.and_then(from_jiff);
    Ok(match (candidate, t.end_time) {
        (Some(c), Some(end)) if c >= end => None,
        (c, _) => c,
    })
}

/// The timing of a schedule record (stored, or merged with a change); None without a valid
/// frequency.
pub fn timing_of(r: &serde_json::Map<String, serde_json::Value>) -> Option<Timing<'_>> {
    let text = |k: &str| r.get(k).and_then(serde_json::Value::as_str);
    let time = |k: &str| text(k).and_then(Timestamp::parse);
    Some(Timing {
        frequency: text("frequency").and_then(<Frequency as super::validate::EnumValues>::parse)?,
        cron_expression: text("cron_expression"),
        interval_seconds: r
            .get("interval_seconds")
            .and_then(serde_json::Value::as_i64),
        timezone: text("timezone").unwrap_or("UTC"),
        start_time: time("start_time"),
        end_time: time("end_time"),
        created_at: time("created_at").unwrap_or_else(Timestamp::now),
    })
}

/// Whether a schedule may run at `now`: enabled, and `now` in [start_time, end_time).
pub fn in_window(start: Option<Timestamp>, end: Option<Timestamp>, now: Timestamp) -> bool {
    start.is_none_or(|s| s <= now) && end.is_none_or(|e| now < e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn timing(
        frequency: Frequency,
        cron: Option<&'static str>,
        tz: &'static str,
    ) -> Timing<'static> {
        Timing {
            frequency,
            cron_expression: cron,
            interval_seconds: None,
            timezone: tz,
            start_time: None,
            end_time: None,
            created_at: ts("2026-01-01T00:00:00Z"),
        }
    }

    fn next(t: &Timing<'_>, now: &str) -> String {
        next_run(t, ts(now)).unwrap().unwrap().to_rfc3339()
    }

    #[test]
    fn cron_syntax() {
        for ok in [
            "* * * * *",
            "*/15 9-17 * * MON-FRI",
            "0 0 1,15 * *",
            "5 4 * JAN,jul sun",
            "0 12 * * 7",
            "0 0 29 2 *",
            "0-59/5 * * * 0-6",
        ] {
            assert!(parse_cron(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "* * * *",
            "0 * * * * *",
            "@daily",
            "0 0 L * *",
            "0 0 ? * *",
            "0 0 * * 1#2",
            "0 0 15W * *",
            "60 * * * *",
            "* 24 * * *",
            "0 0 30 2 *",
            "0 0 * FOO *",
            "0 0 * * MON,",
            "0 MON * * *",
            "+0 0 * * *",
        ] {
            assert!(parse_cron(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // 13th of the month or any Friday.
        let t = timing(Frequency::Cron, Some("0 0 13 * FRI"), "UTC");
        // 2026-03-01 is a Sunday: next Friday is the 6th, then the 13th (also a Friday), then the 20th.
        assert_eq!(next(&t, "2026-03-01T12:00:00Z"), "2026-03-06T00:00:00.000Z");
        assert_eq!(next(&t, "2026-03-06T00:00:00Z"), "2026-03-13T00:00:00.000Z");
        assert_eq!(next(&t, "2026-04-10T00:00:00Z"), "2026-04-13T00:00:00.000Z");
        // Only one restricted: that one alone.
        let t = timing(Frequency::Cron, Some("0 0 13 * *"), "UTC");
        assert_eq!(next(&t, "2026-03-01T12:00:00Z"), "2026-03-13T00:00:00.000Z");
    }

    #[test]
    fn errors_name_the_rule() {
        let t = timing(Frequency::Cron, None, "UTC");
        assert_eq!(check(&t), Err(TimingError::CronRequired));
        let t = timing(Frequency::Cron, Some("not cron"), "UTC");
        assert_eq!(
            check(&t).unwrap_err().message(),
            "Invalid cron expression: not cron"
        );
        let t = timing(Frequency::Interval, None, "UTC");
        assert_eq!(check(&t).unwrap_err().code(), "interval_required");
        let t = timing(Frequency::Daily, None, "Mars/Olympus");
        assert_eq!(
            check(&t).unwrap_err().message(),
            "Invalid timezone: Mars/Olympus"
        );
        assert!(check(&timing(Frequency::Daily, None, "America/New_York")).is_ok());
    }

    #[test]
    fn interval_counts_from_its_anchor() {
        let mut t = timing(Frequency::Interval, None, "UTC");
        t.interval_seconds = Some(3600);
        t.created_at = ts("2026-01-01T00:10:00Z");
        assert_eq!(next(&t, "2026-01-01T00:10:00Z"), "2026-01-01T01:10:00.000Z");
        assert_eq!(next(&t, "2026-01-01T05:30:00Z"), "2026-01-01T06:10:00.000Z");
        t.start_time = Some(ts("2026-02-01T00:00:00Z"));
        assert_eq!(next(&t, "2026-01-01T05:30:00Z"), "2026-02-01T00:00:00.000Z");
    }

    #[test]
    fn once_and_the_window() {
        let mut t = timing(Frequency::Once, None, "UTC");
        assert_eq!(next(&t, "2026-05-05T10:00:00Z"), "2026-05-05T10:00:00.000Z");
        t.start_time = Some(ts("2026-06-01T00:00:00Z"));
        assert_eq!(next(&t, "2026-05-05T10:00:00Z"), "2026-06-01T00:00:00.000Z");
        t.end_time = Some(ts("2026-06-01T00:00:00Z"));
        assert_eq!(next_run(&t, ts("2026-05-05T10:00:00Z")).unwrap(), None);
        let mut d = timing(Frequency::Daily, None, "UTC");
        d.start_time = Some(ts("2026-03-10T00:00:00Z"));
        assert_eq!(next(&d, "2026-03-01T10:00:00Z"), "2026-03-10T00:00:00.000Z");
        d.end_time = Some(ts("2026-03-10T00:00:00Z"));
        assert_eq!(next_run(&d, ts("2026-03-01T10:00:00Z")).unwrap(), None);
    }

    #[test]
    fn far_times_give_no_run_instead_of_a_panic() {
        let mut t = timing(Frequency::Interval, None, "Pacific/Kiritimati");
        t.interval_seconds = Some(i64::MAX / 2);
        assert_eq!(next_run(&t, ts("9999-12-31T23:59:00Z")).unwrap(), None);
        let d = timing(Frequency::Monthly, None, "Pacific/Kiritimati");
        assert_eq!(next_run(&d, ts("9999-12-31T23:59:00Z")).unwrap(), None);
        let c = timing(Frequency::Cron, Some("0 0 29 2 *"), "America/New_York");
        assert_eq!(next_run(&c, ts("9999-03-01T00:00:00Z")).unwrap(), None);
    }
}
