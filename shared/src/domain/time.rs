//! Timestamps: RFC 3339 UTC with milliseconds and `Z` out; RFC 3339 with or without offset in
//! (no offset = UTC).

use ::time::format_description::well_known::Rfc3339;
use ::time::macros::format_description;
use ::time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub OffsetDateTime);

const OUT: &[::time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const NAIVE: &[::time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");

impl Timestamp {
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        // Keep millisecond precision so what is stored equals what is returned.
        Self(
            now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap_or(now),
        )
    }

    pub fn from_unix(secs: i64) -> Self {
        Self(OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    /// The earliest and latest instants we accept (years 0001..9999 in UTC), so every stored
    /// timestamp formats as four-digit RFC 3339 and arithmetic near the ends cannot overflow.
    pub const MIN_YEAR: i32 = 1;
    pub const MAX_YEAR: i32 = 9999;

    pub fn unix(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// `self + secs`, saturating at the ends of the representable range (never panics).
    pub fn plus_secs(&self, secs: i64) -> Self {
        Self(
            self.0
                .checked_add(::time::Duration::seconds(secs))
                .unwrap_or(if secs < 0 {
                    OffsetDateTime::new_utc(::time::Date::MIN, ::time::Time::MIDNIGHT)
                } else {
                    OffsetDateTime::new_utc(::time::Date::MAX, ::time::Time::MIDNIGHT)
                }),
        )
    }

    pub fn to_rfc3339(&self) -> String {
        self.0
            .to_offset(UtcOffset::UTC)
            .format(OUT)
            .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
    }

    /// Parses RFC 3339 with an offset, or a naive date-time taken as UTC.
    /// An instant whose UTC form falls outside years 0001..9999 (`9999-12-31T23:59:59-01:00`)
    /// is not a valid timestamp: the conversion is checked instead of overflowing.
    pub fn parse(s: &str) -> Option<Self> {
        let utc = match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(t) => t.checked_to_offset(UtcOffset::UTC)?,
            Err(_) => PrimitiveDateTime::parse(s, NAIVE).ok()?.assume_utc(),
        };
        (Self::MIN_YEAR..=Self::MAX_YEAR)
            .contains(&utc.year())
            .then_some(Self(utc))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_millis() {
        let t = Timestamp::parse("2026-11-26T11:37:02.225+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-26T10:37:02.225Z");
    }

    #[test]
    fn naive_input_is_utc() {
        let t = Timestamp::parse("2026-11-26T10:37:02").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-26T10:37:02.000Z");
        assert!(Timestamp::parse("yesterday").is_none());
    }

    #[test]
    fn far_instants_are_refused_not_panics() {
        assert!(Timestamp::parse("9999-12-31T23:59:59-01:00").is_none());
        assert!(Timestamp::parse("0001-01-01T00:00:00+01:00").is_none());
        assert!(Timestamp::parse("9999-12-31T22:59:59-01:00").is_some());
        let t = Timestamp::parse("9999-12-31T23:00:00Z").unwrap();
        assert_eq!(t.plus_secs(i64::MAX).0.year(), 9999);
        assert!(t.plus_secs(i64::MIN).0.year() < 0);
    }

    #[test]
    fn now_round_trips_through_text() {
        let n = Timestamp::now();
        assert_eq!(Timestamp::parse(&n.to_rfc3339()), Some(n));
    }
}
