//! Edm.DateTimeOffset on the wire: UTC, `Z`, exactly 7 fractional digits.
//!
//! Every stored timestamp uses this one 28-character form, so comparing two of them as strings
//! (in SQL or in memory) orders them in time.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

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
    let mut wire = String::with_capacity(28);
    push_utc(&mut wire, utc, 7).then_some(wire)
}

/// Appends `utc` as `YYYY-MM-DDTHH:MM:SS.fZ` with `digits` (1 to 9) fractional digits, digit by
/// digit: this runs for every write and every log line, where a general formatter costs more
/// than the rest of the line. `false`, and nothing appended, for a year outside 1 to 9999.
pub fn push_utc(out: &mut String, utc: OffsetDateTime, digits: u32) -> bool {
    let Ok(year) = u32::try_from(utc.year()) else { return false };
    if !(1..=9999).contains(&year) {
        return false;
    }
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, u32::from(u8::from(utc.month())), 2);
    out.push('-');
    push_digits(out, u32::from(utc.day()), 2);
    out.push('T');
    push_digits(out, u32::from(utc.hour()), 2);
    out.push(':');
    push_digits(out, u32::from(utc.minute()), 2);
    out.push(':');
    push_digits(out, u32::from(utc.second()), 2);
    out.push('.');
    let digits = digits.clamp(1, 9);
    push_digits(out, utc.nanosecond() / 10u32.pow(9 - digits), digits);
    out.push('Z');
    true
}

/// `value`'s last `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
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
    fn push_utc_writes_what_the_general_formatter_writes() {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
        for unix_nanos in [0i128, 1, 951_782_400_123_456_789, 1_790_000_000_999_999_999, 253_402_300_799_999_999_999] {
            let t = OffsetDateTime::from_unix_timestamp_nanos(unix_nanos).unwrap();
            assert_eq!(format_utc(t).unwrap(), t.format(format).unwrap(), "{unix_nanos}");
        }
        let mut micros = String::new();
        assert!(push_utc(&mut micros, OffsetDateTime::from_unix_timestamp_nanos(1_500).unwrap(), 6));
        assert_eq!(micros, "1970-01-01T00:00:00.000001Z");
        let before_year_one = OffsetDateTime::from_unix_timestamp(-62_135_596_801).unwrap();
        assert_eq!(format_utc(before_year_one), None);
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
