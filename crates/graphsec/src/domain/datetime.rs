//! Edm.DateTimeOffset on the wire: UTC, `Z`, exactly 7 fractional digits.
//!
//! Every stored timestamp uses this one 28-character form, so comparing two of them as strings
//! (in SQL or in memory) orders them in time.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const WIRE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");

/// Parses a DateTimeOffset with any offset and returns it in wire form. The odata crate's parser
/// is used so stored values and `$filter` literals are normalised by one and the same rule.
pub fn normalize(input: &str) -> Result<String, String> {
    odata::canonical_datetime(input)
}

/// The current time in wire form.
pub fn now() -> String {
    format_utc(OffsetDateTime::now_utc()).unwrap_or_else(|| "1970-01-01T00:00:00.0000000Z".into())
}

/// The time `seconds` ago in wire form.
pub fn seconds_ago(seconds: u64) -> String {
    let ago = time::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
    OffsetDateTime::now_utc()
        .checked_sub(ago)
        .and_then(format_utc)
        .unwrap_or_else(|| "0001-01-01T00:00:00.0000000Z".into())
}

fn format_utc(value: OffsetDateTime) -> Option<String> {
    let utc = value.checked_to_offset(UtcOffset::UTC)?;
    if !(1..=9999).contains(&utc.year()) {
        return None;
    }
    utc.format(WIRE_FORMAT).ok()
}

/// Makes `next` strictly later than `previous` (both in wire form), so lastModifiedDateTime always
/// advances even when two writes land within the clock's resolution.
pub fn strictly_after(previous: Option<&str>, next: String) -> String {
    match previous {
        Some(prev) if next.as_str() <= prev => {
            let bumped = OffsetDateTime::parse(prev, &Rfc3339)
                .ok()
                .and_then(|t| t.checked_add(time::Duration::nanoseconds(100)))
                .and_then(format_utc);
            bumped.unwrap_or(next)
        }
        _ => next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_seven_digits_and_converts_offsets_to_utc() {
        assert_eq!(normalize("2016-12-31T20:58:05.5931807Z").unwrap(), "2016-12-31T20:58:05.5931807Z");
        assert_eq!(normalize("2017-01-01T01:58:05.5931807+05:00").unwrap(), "2016-12-31T20:58:05.5931807Z");
        assert_eq!(normalize("2020-02-29T00:00:00Z").unwrap(), "2020-02-29T00:00:00.0000000Z");
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for bad in [
            "",
            "yesterday",
            "2020-02-30T00:00:00Z",
            "2020-01-01",
            "2020-01-01T00:00:00",
            "2020-01-01 00:00:00Z",
            "2020-01-01T00:00:00.123456789Z",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn now_has_wire_shape() {
        let n = now();
        assert_eq!(n.len(), 28);
        assert!(n.ends_with('Z'));
        assert_eq!(normalize(&n).unwrap(), n);
    }

    #[test]
    fn strictly_after_bumps_equal_or_older_times() {
        let t = "2020-01-01T00:00:00.0000000Z";
        assert_eq!(strictly_after(Some(t), t.to_string()), "2020-01-01T00:00:00.0000001Z");
        assert_eq!(strictly_after(Some(t), "2019-01-01T00:00:00.0000000Z".into()), "2020-01-01T00:00:00.0000001Z");
        assert_eq!(strictly_after(Some(t), "2021-01-01T00:00:00.0000000Z".into()), "2021-01-01T00:00:00.0000000Z");
        assert_eq!(strictly_after(None, t.to_string()), t);
    }
}
