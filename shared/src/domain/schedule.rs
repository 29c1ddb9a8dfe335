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
    // repeats), then placed in the zone: a repeated time at its first occurrence, a skipped
    // one shifted forward by the gap. That placing keeps the order of local times, except
    // that a skipped time lands among the real times of the gap's length after the gap.
    let wanted = |at: jiff::Timestamp| at > after || (inclusive && at == after);
    let mut civil = after.to_zoned(tz.clone()).datetime();
    let mut include = inclusive;
    // Less than the shift after a transition (at or before `after`), the search starts from
    // the local time the clocks left: after a gap, its skipped times are still to come
    // (shifted); in a repeat's second occurrence, the repeated times have all run already.
    let tick = jiff::SignedDuration::from_nanos(1);
    if let Some(tr) = after
        .checked_add(tick)
        .ok()
        .and_then(|t| tz.preceding(t).next())
    {
        let at = tr.timestamp();
        let old = tz.to_offset(at.checked_sub(tick).ok()?);
        let shift = (tr.offset().seconds() - old.seconds()).abs();
        if after
            < at.checked_add(jiff::SignedDuration::from_secs(shift.into()))
                .ok()?
        {
            civil = at.to_zoned(TimeZone::fixed(old)).datetime();
            include = true;
        }
    }
    // Local matches in order, keeping the earliest wanted instant, until the local times
    // reach that instant's own: later ones land no earlier. Mostly one round; a match every
    // minute near a gap takes up to twice the gap's minutes.
    let mut best: Option<jiff::Timestamp> = None;
    for _ in 0..3000 {
        let Some(local) = civil
            .to_zoned(TimeZone::UTC)
            .ok()
            .and_then(|probe| cron.find_next_occurrence(&probe, include).ok())
            .map(|z| z.datetime())
        else {
            break;
        };
        let at = tz.to_ambiguous_zoned(local).compatible().ok()?.timestamp();
        if wanted(at) && best.is_none_or(|b| at < b) {
            best = Some(at);
        }
        if best.is_some_and(|b| b.to_zoned(tz.clone()).datetime() <= local) {
            break;
        }
        civil = local;
        include = false;
    }
    best
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

/// Daylight saving time: both transitions of 2026 (and a few of 2027) in zones with a 1-hour
/// shift at 01:00/02:00 local (New York, London, Sydney), a 30-minute shift (Lord Howe), a
/// shift at local midnight (Santiago) and none (Kolkata, +05:30). Expected values were derived
/// by hand from the zones' rules and checked against Python's zoneinfo.
///
/// Transitions (UTC instant: local change):
/// - America/New_York 2026-03-08T07:00Z: 02:00 EST -> 03:00 EDT (02:00-03:00 skipped);
///   2026-11-01T06:00Z: 02:00 EDT -> 01:00 EST (01:00-02:00 twice: 05:00-06:00Z, 06:00-07:00Z).
/// - Europe/London 2026-03-29T01:00Z: 01:00 GMT -> 02:00 BST (01:00-02:00 skipped);
///   2026-10-25T01:00Z: 02:00 BST -> 01:00 GMT (01:00-02:00 twice: 00:00-01:00Z, 01:00-02:00Z).
/// - Australia/Lord_Howe 2026-04-04T15:00Z: 02:00 +11 -> 01:30 +10:30 (01:30-02:00 twice:
///   14:30-15:00Z, 15:00-15:30Z); 2026-10-03T15:30Z: 02:00 +10:30 -> 02:30 +11 (02:00-02:30
///   skipped).
/// - America/Santiago 2026-04-05T03:00Z: Sun 00:00 -03 -> Sat 23:00 -04 (Apr 4 23:00-24:00
///   twice: 02:00-03:00Z, 03:00-04:00Z); 2026-09-06T04:00Z: Sun 00:00 -04 -> 01:00 -03
///   (Sep 6 00:00-01:00 skipped).
/// - Australia/Sydney 2026-04-04T16:00Z: 03:00 +11 -> 02:00 +10 (Apr 5 02:00-03:00 twice:
///   15:00-16:00Z, 16:00-17:00Z); 2026-10-03T16:00Z: 02:00 +10 -> 03:00 +11 (Oct 4
///   02:00-03:00 skipped).
#[cfg(test)]
mod dst {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    /// `what`: hourly, daily, weekly, monthly, or a cron expression.
    fn timing(zone: &'static str, what: &'static str) -> Timing<'static> {
        let (frequency, cron_expression) = match what {
            "hourly" => (Frequency::Hourly, None),
            "daily" => (Frequency::Daily, None),
            "weekly" => (Frequency::Weekly, None),
            "monthly" => (Frequency::Monthly, None),
            cron => (Frequency::Cron, Some(cron)),
        };
        Timing {
            frequency,
            cron_expression,
            interval_seconds: None,
            timezone: zone,
            start_time: None,
            end_time: None,
            created_at: ts("2026-01-01T00:00:00Z"),
        }
    }

    fn next(t: &Timing<'_>, now: &str) -> String {
        next_run(t, ts(now))
            .unwrap()
            .unwrap_or_else(|| panic!("{} {:?}: no run after {now}", t.timezone, t.frequency))
            .to_rfc3339()
    }

    /// The runs from `now` on, each run fed back as the next `now`: none lost, none repeated.
    fn walk(zone: &'static str, what: &'static str, now: &str, runs: &[&str]) {
        let t = timing(zone, what);
        let mut now = now.to_string();
        for (i, &run) in runs.iter().enumerate() {
            let got = next(&t, &now);
            assert_eq!(got, run, "{zone} {what:?} run {i} after {now}");
            now = got;
        }
    }

    /// The first run at or after `start` (and after `now`).
    fn from_start(zone: &'static str, what: &'static str, start: &str, now: &str, run: &str) {
        let mut t = timing(zone, what);
        t.start_time = Some(ts(start));
        assert_eq!(next(&t, now), run, "{zone} {what:?} from {start}");
    }

    #[test]
    fn new_york_spring_forward() {
        const NY: &str = "America/New_York";
        walk(
            NY,
            "hourly",
            "2026-03-08T05:30:00Z", // 00:30 EST
            &[
                "2026-03-08T06:00:00.000Z", // 01:00 EST
                "2026-03-08T07:00:00.000Z", // 02:00 skipped -> 03:00 EDT (the 03:00 run too)
                "2026-03-08T08:00:00.000Z", // 04:00 EDT
                "2026-03-08T09:00:00.000Z", // 05:00 EDT
            ],
        );
        walk(
            NY,
            "daily",
            "2026-03-07T05:00:00Z", // Mar 7 00:00 EST
            &[
                "2026-03-08T05:00:00.000Z", // Mar 8 00:00 EST
                "2026-03-09T04:00:00.000Z", // Mar 9 00:00 EDT
            ],
        );
        walk(
            NY,
            "30 2 * * *",
            "2026-03-07T07:30:00Z", // Mar 7 02:30 EST
            &[
                "2026-03-08T07:30:00.000Z", // Mar 8 02:30 skipped -> 03:30 EDT
                "2026-03-09T06:30:00.000Z", // Mar 9 02:30 EDT
            ],
        );
        // In the hour after the gap, the shifted 02:30 is still ahead.
        walk(
            NY,
            "30 2 * * *",
            "2026-03-08T07:10:00Z", // 03:10 EDT
            &[
                "2026-03-08T07:30:00.000Z", // 02:30 skipped -> 03:30 EDT
                "2026-03-09T06:30:00.000Z", // Mar 9 02:30 EDT
            ],
        );
        walk(
            NY,
            "0 2 * * *",
            "2026-03-08T06:59:00Z", // 01:59 EST
            &[
                "2026-03-08T07:00:00.000Z", // 02:00 skipped -> 03:00 EDT
                "2026-03-09T06:00:00.000Z", // Mar 9 02:00 EDT
            ],
        );
        walk(
            NY,
            "30 1 * * *",
            "2026-03-07T06:30:00Z", // Mar 7 01:30 EST
            &[
                "2026-03-08T06:30:00.000Z", // Mar 8 01:30 EST (before the gap)
                "2026-03-09T05:30:00.000Z", // Mar 9 01:30 EDT
            ],
        );
        walk(
            NY,
            "*/15 * * * *",
            "2026-03-08T06:30:00Z", // 01:30 EST
            &[
                "2026-03-08T06:45:00.000Z", // 01:45 EST
                "2026-03-08T07:00:00.000Z", // 02:00 skipped -> 03:00 EDT
                "2026-03-08T07:15:00.000Z", // 03:15 EDT (and 02:15 shifted)
                "2026-03-08T07:30:00.000Z", // 03:30 EDT (and 02:30 shifted)
            ],
        );
        walk(
            NY,
            "weekly",
            "2026-03-02T05:00:00Z", // Mon Mar 2 00:00 EST
            &[
                "2026-03-09T04:00:00.000Z", // Mon Mar 9 00:00 EDT
                "2026-03-16T04:00:00.000Z", // Mon Mar 16 00:00 EDT
            ],
        );
        walk(
            NY,
            "monthly",
            "2026-02-01T05:00:00Z", // Feb 1 00:00 EST
            &[
                "2026-03-01T05:00:00.000Z", // Mar 1 00:00 EST
                "2026-04-01T04:00:00.000Z", // Apr 1 00:00 EDT
            ],
        );
        // Only on March 8th at 02:30: skipped in 2026, standard time in 2027 (DST from Mar 14).
        walk(
            NY,
            "30 2 8 3 *",
            "2026-01-01T00:00:00Z",
            &[
                "2026-03-08T07:30:00.000Z", // 2026-03-08 02:30 skipped -> 03:30 EDT
                "2027-03-08T07:30:00.000Z", // 2027-03-08 02:30 EST
            ],
        );
        walk(
            NY,
            "hourly",
            "2027-03-14T05:30:00Z", // 2027-03-14 00:30 EST
            &[
                "2027-03-14T06:00:00.000Z", // 01:00 EST
                "2027-03-14T07:00:00.000Z", // 02:00 skipped -> 03:00 EDT
                "2027-03-14T08:00:00.000Z", // 04:00 EDT
            ],
        );
    }

    #[test]
    fn new_york_fall_back() {
        const NY: &str = "America/New_York";
        walk(
            NY,
            "hourly",
            "2026-11-01T04:30:00Z", // 00:30 EDT
            &[
                "2026-11-01T05:00:00.000Z", // 01:00 EDT (first)
                "2026-11-01T07:00:00.000Z", // 02:00 EST (01:00 EST, 06:00Z, not run again)
                "2026-11-01T08:00:00.000Z", // 03:00 EST
            ],
        );
        for now in [
            "2026-11-01T05:00:00Z", // 01:00 EDT
            "2026-11-01T06:00:00Z", // 01:00 EST (repeat)
            "2026-11-01T06:30:00Z", // 01:30 EST (repeat)
        ] {
            walk(NY, "hourly", now, &["2026-11-01T07:00:00.000Z"]); // 02:00 EST
        }
        walk(
            NY,
            "daily",
            "2026-10-31T04:00:00Z", // Oct 31 00:00 EDT
            &[
                "2026-11-01T04:00:00.000Z", // Nov 1 00:00 EDT
                "2026-11-02T05:00:00.000Z", // Nov 2 00:00 EST
            ],
        );
        walk(
            NY,
            "30 1 * * *",
            "2026-10-31T05:30:00Z", // Oct 31 01:30 EDT
            &[
                "2026-11-01T05:30:00.000Z", // Nov 1 01:30 EDT (first)
                "2026-11-02T06:30:00.000Z", // Nov 2 01:30 EST
            ],
        );
        for now in [
            "2026-11-01T05:45:00Z", // 01:45 EDT
            "2026-11-01T06:00:00Z", // 01:00 EST (repeat)
            "2026-11-01T06:30:00Z", // 01:30 EST (repeat): not run a second time
        ] {
            walk(NY, "30 1 * * *", now, &["2026-11-02T06:30:00.000Z"]); // Nov 2 01:30 EST
        }
        walk(
            NY,
            "30 2 * * *",
            "2026-10-31T06:30:00Z", // Oct 31 02:30 EDT
            &[
                "2026-11-01T07:30:00.000Z", // Nov 1 02:30 EST
                "2026-11-02T07:30:00.000Z", // Nov 2 02:30 EST
            ],
        );
        walk(
            NY,
            "*/15 * * * *",
            "2026-11-01T04:50:00Z", // 00:50 EDT
            &[
                "2026-11-01T05:00:00.000Z", // 01:00 EDT
                "2026-11-01T05:15:00.000Z", // 01:15 EDT
                "2026-11-01T05:30:00.000Z", // 01:30 EDT
                "2026-11-01T05:45:00.000Z", // 01:45 EDT
                "2026-11-01T07:00:00.000Z", // 02:00 EST (01:00-01:45 EST not repeated)
                "2026-11-01T07:15:00.000Z", // 02:15 EST
            ],
        );
        walk(
            NY,
            "*/15 * * * *",
            "2026-11-01T06:05:00Z",        // 01:05 EST (repeat)
            &["2026-11-01T07:00:00.000Z"], // 02:00 EST
        );
        // Every minute of the repeated hour already ran in its first occurrence.
        for now in [
            "2026-11-01T05:59:00Z", // 01:59 EDT
            "2026-11-01T06:00:00Z", // 01:00 EST
            "2026-11-01T06:01:00Z", // 01:01 EST
            "2026-11-01T06:59:00Z", // 01:59 EST
        ] {
            walk(NY, "* * * * *", now, &["2026-11-01T07:00:00.000Z"]); // 02:00 EST
        }
        walk(
            NY,
            "*/5 * * * *",
            "2026-11-01T05:50:00Z", // 01:50 EDT
            &[
                "2026-11-01T05:55:00.000Z", // 01:55 EDT
                "2026-11-01T07:00:00.000Z", // 02:00 EST
                "2026-11-01T07:05:00.000Z", // 02:05 EST
            ],
        );
        walk(
            NY,
            "weekly",
            "2026-10-26T04:00:00Z", // Mon Oct 26 00:00 EDT
            &[
                "2026-11-02T05:00:00.000Z", // Mon Nov 2 00:00 EST
                "2026-11-09T05:00:00.000Z", // Mon Nov 9 00:00 EST
            ],
        );
        walk(
            NY,
            "monthly",
            "2026-10-01T04:00:00Z", // Oct 1 00:00 EDT
            &[
                "2026-11-01T04:00:00.000Z", // Nov 1 00:00 EDT (before the fold)
                "2026-12-01T05:00:00.000Z", // Dec 1 00:00 EST
            ],
        );
        walk(
            NY,
            "hourly",
            "2027-11-07T04:30:00Z", // 2027-11-07 00:30 EDT
            &[
                "2027-11-07T05:00:00.000Z", // 01:00 EDT
                "2027-11-07T07:00:00.000Z", // 02:00 EST
            ],
        );
    }

    #[test]
    fn london_spring_forward() {
        const LONDON: &str = "Europe/London";
        walk(
            LONDON,
            "hourly",
            "2026-03-28T23:30:00Z", // Mar 28 23:30 GMT
            &[
                "2026-03-29T00:00:00.000Z", // 00:00 GMT
                "2026-03-29T01:00:00.000Z", // 01:00 skipped -> 02:00 BST
                "2026-03-29T02:00:00.000Z", // 03:00 BST
            ],
        );
        walk(
            LONDON,
            "30 1 * * *",
            "2026-03-28T01:30:00Z", // Mar 28 01:30 GMT
            &[
                "2026-03-29T01:30:00.000Z", // Mar 29 01:30 skipped -> 02:30 BST
                "2026-03-30T00:30:00.000Z", // Mar 30 01:30 BST
            ],
        );
        walk(
            LONDON,
            "30 1 * * *",
            "2026-03-29T01:05:00Z",        // 02:05 BST
            &["2026-03-29T01:30:00.000Z"], // 01:30 skipped -> 02:30 BST
        );
        walk(
            LONDON,
            "30 2 * * *",
            "2026-03-28T02:30:00Z", // Mar 28 02:30 GMT
            &[
                "2026-03-29T01:30:00.000Z", // Mar 29 02:30 BST (exists)
                "2026-03-30T01:30:00.000Z", // Mar 30 02:30 BST
            ],
        );
        walk(
            LONDON,
            "daily",
            "2026-03-28T00:00:00Z", // Mar 28 00:00 GMT
            &[
                "2026-03-29T00:00:00.000Z", // Mar 29 00:00 GMT
                "2026-03-29T23:00:00.000Z", // Mar 30 00:00 BST
            ],
        );
        walk(
            LONDON,
            "weekly",
            "2026-03-23T00:00:00Z",        // Mon Mar 23 00:00 GMT
            &["2026-03-29T23:00:00.000Z"], // Mon Mar 30 00:00 BST
        );
        walk(
            LONDON,
            "monthly",
            "2026-03-01T00:00:00Z", // Mar 1 00:00 GMT
            &[
                "2026-03-31T23:00:00.000Z", // Apr 1 00:00 BST
                "2026-04-30T23:00:00.000Z", // May 1 00:00 BST
            ],
        );
        walk(
            LONDON,
            "*/15 * * * *",
            "2026-03-29T00:30:00Z", // 00:30 GMT
            &[
                "2026-03-29T00:45:00.000Z", // 00:45 GMT
                "2026-03-29T01:00:00.000Z", // 01:00 skipped -> 02:00 BST
                "2026-03-29T01:15:00.000Z", // 02:15 BST
                "2026-03-29T01:30:00.000Z", // 02:30 BST
            ],
        );
        walk(
            LONDON,
            "hourly",
            "2027-03-28T00:30:00Z", // 2027-03-28 00:30 GMT
            &[
                "2027-03-28T01:00:00.000Z", // 01:00 skipped -> 02:00 BST
                "2027-03-28T02:00:00.000Z", // 03:00 BST
            ],
        );
    }

    #[test]
    fn london_fall_back() {
        const LONDON: &str = "Europe/London";
        walk(
            LONDON,
            "hourly",
            "2026-10-24T22:30:00Z", // Oct 24 23:30 BST
            &[
                "2026-10-24T23:00:00.000Z", // Oct 25 00:00 BST
                "2026-10-25T00:00:00.000Z", // 01:00 BST (first)
                "2026-10-25T02:00:00.000Z", // 02:00 GMT (01:00 GMT, 01:00Z, not run again)
                "2026-10-25T03:00:00.000Z", // 03:00 GMT
            ],
        );
        walk(
            LONDON,
            "30 1 * * *",
            "2026-10-24T00:30:00Z", // Oct 24 01:30 BST
            &[
                "2026-10-25T00:30:00.000Z", // Oct 25 01:30 BST (first)
                "2026-10-26T01:30:00.000Z", // Oct 26 01:30 GMT
            ],
        );
        walk(
            LONDON,
            "30 1 * * *",
            "2026-10-25T01:30:00Z",        // 01:30 GMT (repeat)
            &["2026-10-26T01:30:00.000Z"], // Oct 26 01:30 GMT
        );
        walk(
            LONDON,
            "30 2 * * *",
            "2026-10-24T01:30:00Z", // Oct 24 02:30 BST
            &[
                "2026-10-25T02:30:00.000Z", // Oct 25 02:30 GMT
                "2026-10-26T02:30:00.000Z", // Oct 26 02:30 GMT
            ],
        );
        walk(
            LONDON,
            "daily",
            "2026-10-24T23:00:00Z", // Oct 25 00:00 BST
            &[
                "2026-10-26T00:00:00.000Z", // Oct 26 00:00 GMT
                "2026-10-27T00:00:00.000Z", // Oct 27 00:00 GMT
            ],
        );
        walk(
            LONDON,
            "weekly",
            "2026-10-18T23:00:00Z",        // Mon Oct 19 00:00 BST
            &["2026-10-26T00:00:00.000Z"], // Mon Oct 26 00:00 GMT
        );
        walk(
            LONDON,
            "monthly",
            "2026-09-30T23:00:00Z",        // Oct 1 00:00 BST
            &["2026-11-01T00:00:00.000Z"], // Nov 1 00:00 GMT
        );
        walk(
            LONDON,
            "*/15 * * * *",
            "2026-10-25T00:30:00Z", // 01:30 BST
            &[
                "2026-10-25T00:45:00.000Z", // 01:45 BST
                "2026-10-25T02:00:00.000Z", // 02:00 GMT (01:00-01:45 GMT not repeated)
                "2026-10-25T02:15:00.000Z", // 02:15 GMT
            ],
        );
    }

    /// No DST: local hh:00 is always UTC hh:30 (the day before for local 00:00-05:29).
    #[test]
    fn kolkata_has_no_transitions() {
        const KOLKATA: &str = "Asia/Kolkata";
        walk(
            KOLKATA,
            "hourly",
            "2026-03-08T06:45:00Z", // 12:15 IST, on New York's spring-forward day
            &[
                "2026-03-08T07:30:00.000Z", // 13:00 IST
                "2026-03-08T08:30:00.000Z", // 14:00 IST
                "2026-03-08T09:30:00.000Z", // 15:00 IST
            ],
        );
        walk(
            KOLKATA,
            "hourly",
            "2026-11-01T05:00:00Z", // 10:30 IST, during New York's repeated hour
            &[
                "2026-11-01T05:30:00.000Z", // 11:00 IST
                "2026-11-01T06:30:00.000Z", // 12:00 IST
                "2026-11-01T07:30:00.000Z", // 13:00 IST
            ],
        );
        walk(
            KOLKATA,
            "daily",
            "2026-03-08T00:00:00Z", // Mar 8 05:30 IST
            &[
                "2026-03-08T18:30:00.000Z", // Mar 9 00:00 IST
                "2026-03-09T18:30:00.000Z", // Mar 10 00:00 IST
            ],
        );
        walk(
            KOLKATA,
            "30 2 * * *",
            "2026-03-28T00:00:00Z", // Mar 28 05:30 IST
            &[
                "2026-03-28T21:00:00.000Z", // Mar 29 02:30 IST
                "2026-03-29T21:00:00.000Z", // Mar 30 02:30 IST
            ],
        );
        walk(
            KOLKATA,
            "30 1 * * *",
            "2026-10-24T12:00:00Z", // Oct 24 17:30 IST
            &[
                "2026-10-24T20:00:00.000Z", // Oct 25 01:30 IST
                "2026-10-25T20:00:00.000Z", // Oct 26 01:30 IST
            ],
        );
        walk(
            KOLKATA,
            "weekly",
            "2026-03-01T00:00:00Z", // Sun Mar 1 05:30 IST
            &[
                "2026-03-01T18:30:00.000Z", // Mon Mar 2 00:00 IST
                "2026-03-08T18:30:00.000Z", // Mon Mar 9 00:00 IST
            ],
        );
        walk(
            KOLKATA,
            "monthly",
            "2026-10-15T00:00:00Z", // Oct 15 05:30 IST
            &[
                "2026-10-31T18:30:00.000Z", // Nov 1 00:00 IST
                "2026-11-30T18:30:00.000Z", // Dec 1 00:00 IST
            ],
        );
        walk(
            KOLKATA,
            "*/15 * * * *",
            "2026-11-01T05:50:00Z", // 11:20 IST
            &[
                "2026-11-01T06:00:00.000Z", // 11:30 IST
                "2026-11-01T06:15:00.000Z", // 11:45 IST
                "2026-11-01T06:30:00.000Z", // 12:00 IST
            ],
        );
    }

    /// 30-minute shift: DST ends with 01:30-02:00 twice, starts with 02:00-02:30 skipped.
    #[test]
    fn lord_howe_fall_back() {
        const LH: &str = "Australia/Lord_Howe";
        walk(
            LH,
            "hourly",
            "2026-04-04T13:30:00Z", // Apr 5 00:30 +11
            &[
                "2026-04-04T14:00:00.000Z", // 01:00 +11
                "2026-04-04T15:30:00.000Z", // 02:00 +10:30
                "2026-04-04T16:30:00.000Z", // 03:00 +10:30
            ],
        );
        walk(
            LH,
            "30 1 * * *",
            "2026-04-03T14:30:00Z", // Apr 4 01:30 +11
            &[
                "2026-04-04T14:30:00.000Z", // Apr 5 01:30 +11 (first)
                "2026-04-05T15:00:00.000Z", // Apr 6 01:30 +10:30
            ],
        );
        walk(
            LH,
            "30 1 * * *",
            "2026-04-04T15:00:00Z",        // Apr 5 01:30 +10:30 (repeat)
            &["2026-04-05T15:00:00.000Z"], // Apr 6 01:30 +10:30
        );
        walk(
            LH,
            "30 2 * * *",
            "2026-04-03T15:30:00Z", // Apr 4 02:30 +11
            &[
                "2026-04-04T16:00:00.000Z", // Apr 5 02:30 +10:30
                "2026-04-05T16:00:00.000Z", // Apr 6 02:30 +10:30
            ],
        );
        walk(
            LH,
            "*/15 * * * *",
            "2026-04-04T14:20:00Z", // 01:20 +11
            &[
                "2026-04-04T14:30:00.000Z", // 01:30 +11
                "2026-04-04T14:45:00.000Z", // 01:45 +11
                "2026-04-04T15:30:00.000Z", // 02:00 +10:30 (01:30, 01:45 +10:30 not repeated)
                "2026-04-04T15:45:00.000Z", // 02:15 +10:30
            ],
        );
        walk(
            LH,
            "*/15 * * * *",
            "2026-04-04T15:10:00Z",        // 01:40 +10:30 (repeat)
            &["2026-04-04T15:30:00.000Z"], // 02:00 +10:30
        );
        walk(
            LH,
            "daily",
            "2026-04-03T13:00:00Z", // Apr 4 00:00 +11
            &[
                "2026-04-04T13:00:00.000Z", // Apr 5 00:00 +11
                "2026-04-05T13:30:00.000Z", // Apr 6 00:00 +10:30
            ],
        );
        walk(
            LH,
            "weekly",
            "2026-03-29T13:00:00Z",        // Mon Mar 30 00:00 +11
            &["2026-04-05T13:30:00.000Z"], // Mon Apr 6 00:00 +10:30
        );
        walk(
            LH,
            "monthly",
            "2026-03-31T13:00:00Z",        // Apr 1 00:00 +11
            &["2026-04-30T13:30:00.000Z"], // May 1 00:00 +10:30
        );
    }

    #[test]
    fn lord_howe_spring_forward() {
        const LH: &str = "Australia/Lord_Howe";
        walk(
            LH,
            "hourly",
            "2026-10-03T14:00:00Z", // Oct 4 00:30 +10:30
            &[
                "2026-10-03T14:30:00.000Z", // 01:00 +10:30
                "2026-10-03T15:30:00.000Z", // 02:00 skipped -> 02:30 +11
                "2026-10-03T16:00:00.000Z", // 03:00 +11
                "2026-10-03T17:00:00.000Z", // 04:00 +11
            ],
        );
        walk(
            LH,
            "15 2 * * *",
            "2026-10-02T15:45:00Z", // Oct 3 02:15 +10:30
            &[
                "2026-10-03T15:45:00.000Z", // Oct 4 02:15 skipped -> 02:45 +11
                "2026-10-04T15:15:00.000Z", // Oct 5 02:15 +11
            ],
        );
        walk(
            LH,
            "15 2 * * *",
            "2026-10-03T15:35:00Z",        // 02:35 +11
            &["2026-10-03T15:45:00.000Z"], // 02:15 skipped -> 02:45 +11
        );
        walk(
            LH,
            "30 2 * * *",
            "2026-10-02T16:00:00Z", // Oct 3 02:30 +10:30
            &[
                "2026-10-03T15:30:00.000Z", // Oct 4 02:30 +11 (the first minute after the gap)
                "2026-10-04T15:30:00.000Z", // Oct 5 02:30 +11
            ],
        );
        // Skipped 02:00 and 02:20 land at 02:30 and 02:50, around the real 02:40.
        walk(
            LH,
            "*/20 * * * *",
            "2026-10-03T15:00:00Z", // 01:30 +10:30
            &[
                "2026-10-03T15:10:00.000Z", // 01:40 +10:30
                "2026-10-03T15:30:00.000Z", // 02:00 skipped -> 02:30 +11
                "2026-10-03T15:40:00.000Z", // 02:40 +11
                "2026-10-03T15:50:00.000Z", // 02:20 skipped -> 02:50 +11
                "2026-10-03T16:00:00.000Z", // 03:00 +11
                "2026-10-03T16:20:00.000Z", // 03:20 +11
            ],
        );
        walk(
            LH,
            "*/15 * * * *",
            "2026-10-03T15:10:00Z", // 01:40 +10:30
            &[
                "2026-10-03T15:15:00.000Z", // 01:45 +10:30
                "2026-10-03T15:30:00.000Z", // 02:00 skipped -> 02:30 +11 (and the real 02:30)
                "2026-10-03T15:45:00.000Z", // 02:45 +11 (and 02:15 shifted)
                "2026-10-03T16:00:00.000Z", // 03:00 +11
            ],
        );
        walk(
            LH,
            "daily",
            "2026-10-02T13:30:00Z", // Oct 3 00:00 +10:30
            &[
                "2026-10-03T13:30:00.000Z", // Oct 4 00:00 +10:30
                "2026-10-04T13:00:00.000Z", // Oct 5 00:00 +11
            ],
        );
        walk(
            LH,
            "weekly",
            "2026-09-27T13:30:00Z",        // Mon Sep 28 00:00 +10:30
            &["2026-10-04T13:00:00.000Z"], // Mon Oct 5 00:00 +11
        );
        walk(
            LH,
            "monthly",
            "2026-09-30T13:30:00Z",        // Oct 1 00:00 +10:30
            &["2026-10-31T13:00:00.000Z"], // Nov 1 00:00 +11
        );
    }

    /// Chile changes at local midnight: Apr 4 23:00-24:00 twice, Sep 6 00:00-01:00 skipped.
    #[test]
    fn santiago_fall_back() {
        const SCL: &str = "America/Santiago";
        walk(
            SCL,
            "hourly",
            "2026-04-05T01:30:00Z", // Apr 4 22:30 -03
            &[
                "2026-04-05T02:00:00.000Z", // Apr 4 23:00 -03 (first)
                "2026-04-05T04:00:00.000Z", // Apr 5 00:00 -04 (23:00 -04 not run again)
                "2026-04-05T05:00:00.000Z", // Apr 5 01:00 -04
            ],
        );
        walk(
            SCL,
            "daily",
            "2026-04-04T03:00:00Z", // Apr 4 00:00 -03
            &[
                "2026-04-05T04:00:00.000Z", // Apr 5 00:00 -04
                "2026-04-06T04:00:00.000Z", // Apr 6 00:00 -04
            ],
        );
        walk(
            SCL,
            "30 23 * * *",
            "2026-04-03T02:30:00Z", // Apr 2 23:30 -03
            &[
                "2026-04-04T02:30:00.000Z", // Apr 3 23:30 -03
                "2026-04-05T02:30:00.000Z", // Apr 4 23:30 -03 (first)
                "2026-04-06T03:30:00.000Z", // Apr 5 23:30 -04
            ],
        );
        walk(
            SCL,
            "30 23 * * *",
            "2026-04-05T03:10:00Z",        // Apr 4 23:10 -04 (repeat)
            &["2026-04-06T03:30:00.000Z"], // Apr 5 23:30 -04
        );
        walk(
            SCL,
            "*/15 * * * *",
            "2026-04-05T02:30:00Z", // Apr 4 23:30 -03
            &[
                "2026-04-05T02:45:00.000Z", // 23:45 -03
                "2026-04-05T04:00:00.000Z", // Apr 5 00:00 -04 (23:00-23:45 -04 not repeated)
                "2026-04-05T04:15:00.000Z", // 00:15 -04
            ],
        );
        walk(
            SCL,
            "weekly",
            "2026-03-30T03:00:00Z",        // Mon Mar 30 00:00 -03
            &["2026-04-06T04:00:00.000Z"], // Mon Apr 6 00:00 -04
        );
        walk(
            SCL,
            "monthly",
            "2026-04-01T03:00:00Z",        // Apr 1 00:00 -03
            &["2026-05-01T04:00:00.000Z"], // May 1 00:00 -04
        );
    }

    #[test]
    fn santiago_spring_forward_at_midnight() {
        const SCL: &str = "America/Santiago";
        walk(
            SCL,
            "daily",
            "2026-09-05T04:00:00Z", // Sep 5 00:00 -04
            &[
                "2026-09-06T04:00:00.000Z", // Sep 6 00:00 skipped -> 01:00 -03
                "2026-09-07T03:00:00.000Z", // Sep 7 00:00 -03
            ],
        );
        walk(
            SCL,
            "hourly",
            "2026-09-06T02:30:00Z", // Sep 5 22:30 -04
            &[
                "2026-09-06T03:00:00.000Z", // Sep 5 23:00 -04
                "2026-09-06T04:00:00.000Z", // Sep 6 00:00 skipped -> 01:00 -03
                "2026-09-06T05:00:00.000Z", // 02:00 -03
            ],
        );
        walk(
            SCL,
            "30 0 * * *",
            "2026-09-05T04:30:00Z", // Sep 5 00:30 -04
            &[
                "2026-09-06T04:30:00.000Z", // Sep 6 00:30 skipped -> 01:30 -03
                "2026-09-07T03:30:00.000Z", // Sep 7 00:30 -03
            ],
        );
        walk(
            SCL,
            "30 0 * * *",
            "2026-09-06T04:10:00Z",        // Sep 6 01:10 -03
            &["2026-09-06T04:30:00.000Z"], // 00:30 skipped -> 01:30 -03
        );
        walk(
            SCL,
            "0 0 * * 0",
            "2026-08-30T04:00:00Z", // Sun Aug 30 00:00 -04
            &[
                "2026-09-06T04:00:00.000Z", // Sun Sep 6 00:00 skipped -> 01:00 -03
                "2026-09-13T03:00:00.000Z", // Sun Sep 13 00:00 -03
            ],
        );
        walk(
            SCL,
            "weekly",
            "2026-08-31T04:00:00Z",        // Mon Aug 31 00:00 -04
            &["2026-09-07T03:00:00.000Z"], // Mon Sep 7 00:00 -03
        );
        walk(
            SCL,
            "0 0 6 * *",
            "2026-08-06T04:00:00Z", // Aug 6 00:00 -04
            &[
                "2026-09-06T04:00:00.000Z", // Sep 6 00:00 skipped -> 01:00 -03
                "2026-10-06T03:00:00.000Z", // Oct 6 00:00 -03
            ],
        );
        walk(
            SCL,
            "monthly",
            "2026-09-01T04:00:00Z",        // Sep 1 00:00 -04
            &["2026-10-01T03:00:00.000Z"], // Oct 1 00:00 -03
        );
        walk(
            SCL,
            "*/15 * * * *",
            "2026-09-06T03:30:00Z", // Sep 5 23:30 -04
            &[
                "2026-09-06T03:45:00.000Z", // 23:45 -04
                "2026-09-06T04:00:00.000Z", // Sep 6 00:00 skipped -> 01:00 -03
                "2026-09-06T04:15:00.000Z", // 01:15 -03
            ],
        );
        walk(
            SCL,
            "daily",
            "2027-09-04T04:00:00Z", // 2027-09-04 00:00 -04
            &[
                "2027-09-05T04:00:00.000Z", // Sep 5 00:00 skipped -> 01:00 -03
                "2027-09-06T03:00:00.000Z", // Sep 6 00:00 -03
            ],
        );
    }

    #[test]
    fn sydney_both_transitions() {
        const SYD: &str = "Australia/Sydney";
        walk(
            SYD,
            "30 2 * * *",
            "2026-10-02T16:30:00Z", // Oct 3 02:30 AEST
            &[
                "2026-10-03T16:30:00.000Z", // Oct 4 02:30 skipped -> 03:30 AEDT
                "2026-10-04T15:30:00.000Z", // Oct 5 02:30 AEDT
            ],
        );
        walk(
            SYD,
            "hourly",
            "2026-10-03T14:30:00Z", // Oct 4 00:30 AEST
            &[
                "2026-10-03T15:00:00.000Z", // 01:00 AEST
                "2026-10-03T16:00:00.000Z", // 02:00 skipped -> 03:00 AEDT
                "2026-10-03T17:00:00.000Z", // 04:00 AEDT
            ],
        );
        walk(
            SYD,
            "30 2 * * *",
            "2026-04-03T15:30:00Z", // Apr 4 02:30 AEDT
            &[
                "2026-04-04T15:30:00.000Z", // Apr 5 02:30 AEDT (first)
                "2026-04-05T16:30:00.000Z", // Apr 6 02:30 AEST
            ],
        );
        walk(
            SYD,
            "hourly",
            "2026-04-04T14:30:00Z", // Apr 5 01:30 AEDT
            &[
                "2026-04-04T15:00:00.000Z", // 02:00 AEDT (first)
                "2026-04-04T17:00:00.000Z", // 03:00 AEST (02:00 AEST not run again)
                "2026-04-04T18:00:00.000Z", // 04:00 AEST
            ],
        );
        walk(
            SYD,
            "daily",
            "2026-04-03T13:00:00Z", // Apr 4 00:00 AEDT
            &[
                "2026-04-04T13:00:00.000Z", // Apr 5 00:00 AEDT
                "2026-04-05T14:00:00.000Z", // Apr 6 00:00 AEST
            ],
        );
    }

    /// start_time is inclusive, also when it is a shifted or a repeated local time.
    #[test]
    fn start_time_at_a_transition() {
        from_start(
            "America/New_York",
            "30 2 * * *",
            "2026-03-08T07:30:00Z", // 03:30 EDT, where the skipped 02:30 lands
            "2026-03-01T00:00:00Z",
            "2026-03-08T07:30:00.000Z",
        );
        from_start(
            "America/New_York",
            "30 1 * * *",
            "2026-11-01T05:30:00Z", // 01:30 EDT (first)
            "2026-10-01T00:00:00Z",
            "2026-11-01T05:30:00.000Z",
        );
        from_start(
            "America/New_York",
            "30 1 * * *",
            "2026-11-01T06:30:00Z", // 01:30 EST (repeat): not a run
            "2026-10-01T00:00:00Z",
            "2026-11-02T06:30:00.000Z", // Nov 2 01:30 EST
        );
        from_start(
            "Europe/London",
            "hourly",
            "2026-10-25T01:00:00Z", // 01:00 GMT (repeat)
            "2026-10-01T00:00:00Z",
            "2026-10-25T02:00:00.000Z", // 02:00 GMT
        );
        from_start(
            "America/Santiago",
            "daily",
            "2026-09-06T04:00:00Z", // Sep 6 01:00 -03, where the skipped 00:00 lands
            "2026-09-01T00:00:00Z",
            "2026-09-06T04:00:00.000Z",
        );
        from_start(
            "Australia/Lord_Howe",
            "*/20 * * * *",
            "2026-10-03T15:45:00Z", // 02:45 +11
            "2026-10-01T00:00:00Z",
            "2026-10-03T15:50:00.000Z", // 02:20 skipped -> 02:50 +11
        );
    }

    /// An interval counts in elapsed time: DST changes nothing.
    #[test]
    fn interval_ignores_transitions() {
        let mut t = timing("America/New_York", "hourly");
        t.frequency = Frequency::Interval;
        t.interval_seconds = Some(3600);
        t.created_at = ts("2026-11-01T04:00:00Z"); // 00:00 EDT
        let mut now = "2026-11-01T04:00:00Z".to_string();
        for run in [
            "2026-11-01T05:00:00.000Z", // 01:00 EDT
            "2026-11-01T06:00:00.000Z", // 01:00 EST
            "2026-11-01T07:00:00.000Z", // 02:00 EST
        ] {
            now = next(&t, &now);
            assert_eq!(now, run);
        }
        t.created_at = ts("2026-03-08T06:30:00Z"); // 01:30 EST
        assert_eq!(next(&t, "2026-03-08T06:30:00Z"), "2026-03-08T07:30:00.000Z");
        // 03:30 EDT
    }
}
