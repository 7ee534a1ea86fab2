//! Edm.DateTimeOffset literals, normalised to the stored form `YYYY-MM-DDTHH:MM:SS.fffffffZ`.

/// Parses an OData DateTimeOffset (`2016-12-31T20:58:05.5931807Z`, any offset, seconds and
/// fraction optional, at most 7 fractional digits) and returns it in UTC as the 28-character
/// canonical form, whose string order is time order. Years must stay within 0001..=9999.
pub fn canonical_datetime(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let bad = || format!("'{s}' is not a valid DateTimeOffset");
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let expect = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(expect(4, b'-') && expect(7, b'-') && expect(10, b'T') && expect(13, b':')) {
        return Err(bad());
    }
    let (year, month, day, hour, minute) = match (num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2)) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi)) => (y, mo, d, h, mi),
        _ => return Err(bad()),
    };
    let mut i = 16;
    let mut second = 0;
    let mut frac: i64 = 0;
    if expect(i, b':') {
        second = num(i + 1, 2).ok_or_else(bad)?;
        i += 3;
        if expect(i, b'.') {
            i += 1;
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits > 7 {
                return Err(format!("'{s}' has more than 7 fractional digits"));
            }
            frac = num(i, digits).filter(|_| digits > 0).ok_or_else(bad)? * 10i64.pow(7 - digits as u32);
            i += digits;
        }
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && expect(i + 3, b':') => {
            let (oh, om) = match (num(i + 1, 2), num(i + 4, 2)) {
                (Some(h), Some(m)) if h <= 23 && m <= 59 => (h, m),
                _ => return Err(bad()),
            };
            let total = oh * 60 + om;
            if sign == b'-' { -total } else { total }
        }
        _ => return Err(bad()),
    };
    let days_in_month = days_in_month(year, month).ok_or_else(bad)?;
    if year < 1 || day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{frac:07}Z", rem / 3600, rem % 3600 / 60, rem % 60))
}

/// The number of days of `month` (1..=12) in `year`.
fn days_in_month(year: i64, month: i64) -> Option<i64> {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => Some(29),
        2 => Some(28),
        _ => None,
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::canonical_datetime as c;

    #[test]
    fn normalises_to_utc_with_seven_digits() {
        assert_eq!(c("2016-12-31T20:58:05.5931807Z").as_deref(), Ok("2016-12-31T20:58:05.5931807Z"));
        assert_eq!(c("2016-12-31T20:58Z").as_deref(), Ok("2016-12-31T20:58:00.0000000Z"));
        assert_eq!(c("2016-12-31T23:30:00.5+01:00").as_deref(), Ok("2016-12-31T22:30:00.5000000Z"));
        assert_eq!(c("2016-12-31T23:30:00-01:30").as_deref(), Ok("2017-01-01T01:00:00.0000000Z"));
        assert_eq!(c("2024-02-29T00:00:00Z").as_deref(), Ok("2024-02-29T00:00:00.0000000Z"));
        assert_eq!(c("0001-01-01T00:00:00-01:00").as_deref(), Ok("0001-01-01T01:00:00.0000000Z"));
    }

    #[test]
    fn rejects_bad_values() {
        for s in [
            "2023-02-29T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2016-12-31T24:00:00Z",
            "2016-12-31T20:58:05.12345678Z",
            "2016-12-31T20:58:05.Z",
            "2016-12-31T20:58:05",
            "2016-12-31",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:00:00-01:00",
            "2016-12-31T20:58:05+1:00",
            "２016-12-31T20:58:05Z",
        ] {
            assert!(c(s).is_err(), "{s}");
        }
    }
}
