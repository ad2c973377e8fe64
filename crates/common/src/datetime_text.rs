//! PostgreSQL's text input for `date`, `time`, `timestamp` and `timestamptz`.
//!
//! Accepted, as PostgreSQL accepts them with its default `DateStyle` (`ISO, MDY`):
//! * dates `2024-05-01`, `2024-5-1`, `20240501`, `2024/05/01`, `05/01/2024` (month
//!   first), `May 1, 2024`, `1 May 2024`, `Wed May 1 2024`, each optionally followed by
//!   `BC` or `AD`;
//! * times `10:00`, `10:00:05`, `10:00:05.123456` (fractions rounded to microseconds, ties
//!   to even, as PostgreSQL rounds them), with `AM`/`PM`; `24:00:00` is the end of the day;
//! * a date and a time separated by spaces or `T`;
//! * a zone after the time: `Z`, `UTC`, `GMT`, `+02`, `+02:30`, `+0230`, `-05:30:15`, or a
//!   time zone name such as `Europe/Paris` (a local time that a daylight-saving change
//!   skips takes the offset before the change, one it repeats the offset after it, as in
//!   PostgreSQL);
//! * `epoch`.
//!
//! A `timestamp` ignores a zone in its input, as PostgreSQL's does; a `timestamptz`
//! without one is in UTC (weir's session time zone is UTC). `infinity`, `-infinity` and
//! the clock-reading words `now`, `today`, `tomorrow`, `yesterday` are refused with
//! 0A000: weir's timestamps cannot hold infinity, and a value that reads the clock does
//! not belong in a cast a view may re-evaluate. Malformed input is 22007, a field out of
//! its range 22008, as in PostgreSQL.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Timelike,
};

use crate::{Result, SqlState, WeirError};

/// The type being read, for messages and for which parts are required.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatetimeType {
    Date,
    Time,
    Timestamp,
    Timestamptz,
}

impl DatetimeType {
    fn name(self) -> &'static str {
        match self {
            DatetimeType::Date => "date",
            DatetimeType::Time => "time without time zone",
            DatetimeType::Timestamp => "timestamp without time zone",
            DatetimeType::Timestamptz => "timestamp with time zone",
        }
    }
}

/// A zone written in the input.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Zone {
    Offset(FixedOffset),
    Named(chrono_tz::Tz),
}

/// What the text says, before it is made a value of its type.
#[derive(Debug, Default)]
struct Fields {
    date: Option<NaiveDate>,
    /// Time of day, and whether it was `24:00:00` (the next day's midnight).
    time: Option<(NaiveTime, bool)>,
    zone: Option<Zone>,
}

/// Reads `text` as a `timestamp` (`Timestamp`, the zone ignored) or `timestamptz` (the
/// instant, as a UTC date and time).
pub fn parse_timestamp(text: &str, kind: DatetimeType) -> Result<NaiveDateTime> {
    let fields = parse_fields(text, kind)?;
    let Some(date) = fields.date else {
        return Err(invalid(kind, text));
    };
    let (time, end_of_day) = fields.time.unwrap_or((NaiveTime::MIN, false));
    let mut local = date.and_time(time);
    if end_of_day {
        local += Duration::days(1);
    }
    if kind != DatetimeType::Timestamptz {
        return Ok(local);
    }
    Ok(match fields.zone {
        None => local,
        Some(Zone::Offset(offset)) => local - Duration::seconds(offset.local_minus_utc().into()),
        Some(Zone::Named(zone)) => in_zone(local, zone).naive_utc(),
    })
}

/// Reads `text` as a `date`; a time in it must be midnight-free of meaning (it is
/// ignored, as PostgreSQL ignores it).
pub fn parse_date(text: &str) -> Result<NaiveDate> {
    parse_fields(text, DatetimeType::Date)?
        .date
        .ok_or_else(|| invalid(DatetimeType::Date, text))
}

/// Reads `text` as a `time` of day; a date or zone in it is ignored.
pub fn parse_time(text: &str) -> Result<NaiveTime> {
    match parse_fields(text, DatetimeType::Time)?.time {
        Some((_, true)) => Err(WeirError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "time 24:00:00 is not supported: weir's times of day end at 23:59:59.999999",
        )),
        Some((time, false)) => Ok(time),
        None => Err(invalid(DatetimeType::Time, text)),
    }
}

/// `local` in `zone`: a skipped local time takes the offset before the change, a repeated
/// one the offset after it.
fn in_zone(local: NaiveDateTime, zone: chrono_tz::Tz) -> DateTime<chrono_tz::Tz> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(instant) => instant,
        LocalResult::Ambiguous(_, later) => later,
        LocalResult::None => {
            let before = zone
                .offset_from_utc_datetime(&(local - Duration::hours(12)))
                .fix();
            let utc = local - Duration::seconds(before.local_minus_utc().into());
            zone.from_utc_datetime(&utc)
        }
    }
}

fn invalid(kind: DatetimeType, text: &str) -> WeirError {
    WeirError::new(
        SqlState::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type {}: \"{text}\"", kind.name()),
    )
}

fn out_of_range(text: &str) -> WeirError {
    WeirError::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{text}\""),
    )
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The month a word names (`may`, `sept`, `September`), 1-based.
fn month_of(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let position = MONTHS.iter().position(|month| word.starts_with(month))?;
    (full[position].starts_with(word) || word == "sept").then_some(position as u32 + 1)
}

fn is_day_name(word: &str) -> bool {
    let full = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    word.len() >= 3
        && DAYS
            .iter()
            .zip(full)
            .any(|(day, full)| word.starts_with(day) && full.starts_with(word))
}

/// Splits `text` into its fields: runs separated by white space or commas, a `T` between a
/// date and a time, and a zone written straight after a time (`10:00+02`, `10:00Z`).
fn split(text: &str) -> Vec<String> {
    let mut fields = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == ',') {
        if word.is_empty() {
            continue;
        }
        let word = word.to_ascii_lowercase();
        // `2024-05-01T10:00`: a digit, `t`, a digit.
        let bytes = word.as_bytes();
        let t = (1..bytes.len().saturating_sub(1)).find(|&i| {
            bytes[i] == b't' && bytes[i - 1].is_ascii_digit() && bytes[i + 1].is_ascii_digit()
        });
        let (date, rest) = match t {
            Some(i) => (Some(word[..i].to_owned()), word[i + 1..].to_owned()),
            None => (None, word),
        };
        fields.extend(date);
        // A zone glued to a time: the first sign, or `z`, after a colon.
        match rest.find(':') {
            Some(colon) => match rest[colon..].find(['+', '-', 'z']) {
                Some(at) => {
                    fields.push(rest[..colon + at].to_owned());
                    fields.push(rest[colon + at..].to_owned());
                }
                None => fields.push(rest),
            },
            None => fields.push(rest),
        }
    }
    fields
}

fn parse_fields(text: &str, kind: DatetimeType) -> Result<Fields> {
    let trimmed = text.trim();
    match trimmed.to_ascii_lowercase().as_str() {
        "epoch" => {
            return Ok(Fields {
                date: NaiveDate::from_ymd_opt(1970, 1, 1),
                time: Some((NaiveTime::MIN, false)),
                zone: None,
            });
        }
        "infinity" | "+infinity" | "-infinity" => {
            return Err(WeirError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!(
                    "{} '{trimmed}' is not supported: weir's dates and times are finite",
                    kind.name()
                ),
            ));
        }
        "now" | "today" | "tomorrow" | "yesterday" => {
            return Err(WeirError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!(
                    "{} '{trimmed}' is not supported: it reads the clock; use now() or \
                     current_date",
                    kind.name()
                ),
            ));
        }
        _ => {}
    }
    let mut fields = Fields::default();
    let (mut month_name, mut numbers) = (None, Vec::new());
    let (mut era_bc, mut meridiem) = (None, None);
    for field in split(trimmed) {
        let starts_with_digit = field.starts_with(|c: char| c.is_ascii_digit());
        if field.contains(':') && starts_with_digit {
            if fields.time.is_some() {
                return Err(invalid(kind, text));
            }
            fields.time = Some(clock(&field, kind, text)?);
        } else if starts_with_digit && field.contains(['-', '/', '.']) {
            if fields.date.is_some() {
                return Err(invalid(kind, text));
            }
            fields.date = Some(numeric_date(&field, kind, text)?);
        } else if starts_with_digit && field.len() == 8 && fields.date.is_none() {
            let number = |range: std::ops::Range<usize>| field[range].parse::<i64>().ok();
            fields.date = Some(
                ymd(number(0..4), number(4..6), number(6..8), text)?
                    .ok_or_else(|| invalid(kind, text))?,
            );
        } else if starts_with_digit {
            numbers.push(field.parse::<i64>().map_err(|_| invalid(kind, text))?);
        } else if field.starts_with(['+', '-']) && (fields.time.is_some() || fields.date.is_some())
        {
            if fields.zone.is_some() {
                return Err(invalid(kind, text));
            }
            fields.zone = Some(offset(&field).ok_or_else(|| invalid(kind, text))?);
        } else {
            match field.as_str() {
                "bc" | "ad" if era_bc.is_none() => era_bc = Some(field == "bc"),
                "am" | "pm" if meridiem.is_none() => meridiem = Some(field == "pm"),
                "z" | "zulu" | "utc" | "gmt" | "ut" if fields.zone.is_none() => {
                    fields.zone = Some(Zone::Offset(FixedOffset::east_opt(0).expect("zero")));
                }
                "at" | "on" => {}
                word if month_of(word).is_some() && month_name.is_none() => {
                    month_name = month_of(word);
                }
                word if is_day_name(word) => {}
                _ if fields.zone.is_none() => {
                    let zone = zone_named(&field).ok_or_else(|| invalid(kind, text))?;
                    fields.zone = Some(Zone::Named(zone));
                }
                _ => return Err(invalid(kind, text)),
            }
        }
    }
    if let Some(month) = month_name {
        // `May 1, 2024`, `1 May 2024`: the number of three or more digits, or over 31, is
        // the year.
        if fields.date.is_some() || numbers.len() != 2 {
            return Err(invalid(kind, text));
        }
        let year_first = numbers[0] > 31;
        let (year, day) = match year_first {
            true => (numbers[0], numbers[1]),
            false => (numbers[1], numbers[0]),
        };
        fields.date = Some(
            ymd(Some(year), Some(month.into()), Some(day), text)?
                .ok_or_else(|| invalid(kind, text))?,
        );
        numbers.clear();
    }
    if !numbers.is_empty() {
        return Err(invalid(kind, text));
    }
    if let Some(pm) = meridiem {
        let Some((time, false)) = fields.time else {
            return Err(invalid(kind, text));
        };
        let hour = match (time.hour(), pm) {
            (13.., _) => return Err(out_of_range(text)),
            (12, false) => 0,
            (12, true) => 12,
            (hour, true) => hour + 12,
            (hour, false) => hour,
        };
        fields.time = Some((time.with_hour(hour).expect("an hour of the day"), false));
    }
    if let Some(bc) = era_bc {
        let date = fields.date.ok_or_else(|| invalid(kind, text))?;
        if bc {
            // 1 BC is year 0, 2 BC year -1.
            let year = 1 - date.year();
            fields.date = Some(date.with_year(year).ok_or_else(|| out_of_range(text))?);
        }
    }
    Ok(fields)
}

/// A date written with `-`, `/` or `.` between its numbers: year first when the first
/// number has three or more digits, else month, day, year (`DateStyle` MDY).
fn numeric_date(field: &str, kind: DatetimeType, text: &str) -> Result<NaiveDate> {
    let parts: Vec<&str> = field.split(['-', '/', '.']).collect();
    if parts.len() != 3 || parts.iter().any(|part| part.is_empty()) {
        return Err(invalid(kind, text));
    }
    let number = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse::<i64>().ok())
            .flatten()
    };
    let (year, month, day) = match parts[0].len() >= 3 {
        true => (number(parts[0]), number(parts[1]), number(parts[2])),
        false => (number(parts[2]), number(parts[0]), number(parts[1])),
    };
    if year.is_none() || month.is_none() || day.is_none() {
        return Err(invalid(kind, text));
    }
    ymd(year, month, day, text)?.ok_or_else(|| out_of_range(text))
}

/// The date, None if a part is missing; out of range if there is no such day.
fn ymd(
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    text: &str,
) -> Result<Option<NaiveDate>> {
    let (Some(year), Some(month), Some(day)) = (year, month, day) else {
        return Ok(None);
    };
    let year = i32::try_from(year).map_err(|_| out_of_range(text))?;
    let (month, day) = (
        u32::try_from(month).map_err(|_| out_of_range(text))?,
        u32::try_from(day).map_err(|_| out_of_range(text))?,
    );
    NaiveDate::from_ymd_opt(year, month, day)
        .map(Some)
        .ok_or_else(|| out_of_range(text))
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fraction`; the flag says `24:00:00`.
fn clock(field: &str, kind: DatetimeType, text: &str) -> Result<(NaiveTime, bool)> {
    let syntax = || invalid(kind, text);
    let mut parts = field.splitn(3, ':');
    let number = |part: Option<&str>| digits::<u32>(part.ok_or_else(syntax)?).ok_or_else(syntax);
    let (hour, minute) = (number(parts.next())?, number(parts.next())?);
    let (second, fraction) = match parts.next() {
        None => (0, ""),
        Some(rest) => match rest.split_once('.') {
            Some((second, fraction)) => (digits(second).ok_or_else(syntax)?, fraction),
            None => (digits(rest).ok_or_else(syntax)?, ""),
        },
    };
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let micros = round_to_micros(fraction);
    if hour == 24 && minute == 0 && second == 0 && micros == 0 {
        return Ok((NaiveTime::MIN, true));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(out_of_range(text));
    }
    // A leap second, and a fraction that rounds up to a whole second, carry over.
    let base = NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(|| out_of_range(text))?;
    let total = Duration::seconds(second.into()) + Duration::microseconds(micros);
    let (time, wrapped) = base.overflowing_add_signed(total);
    Ok(match wrapped {
        0 => (time, false),
        _ => (NaiveTime::MIN, true),
    })
}

fn digits<T: std::str::FromStr>(part: &str) -> Option<T> {
    (!part.is_empty() && part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
        .then(|| part.parse().ok())
        .flatten()
}

/// Decimal `fraction` digits of a second, in microseconds, rounded half to even.
fn round_to_micros(fraction: &str) -> i64 {
    let mut padded = fraction.to_owned();
    while padded.len() < 7 {
        padded.push('0');
    }
    let micros: i64 = padded[..6].parse().unwrap_or(0);
    let next = padded.as_bytes()[6] - b'0';
    let beyond = padded[7..].bytes().any(|b| b != b'0');
    let up = next > 5 || (next == 5 && (beyond || micros % 2 == 1));
    micros + i64::from(up)
}

/// The time zone `name` (lower case) names: `europe/paris` is `Europe/Paris`. The table
/// of lower-case names is built once.
fn zone_named(name: &str) -> Option<chrono_tz::Tz> {
    static ZONES: std::sync::OnceLock<std::collections::HashMap<String, chrono_tz::Tz>> =
        std::sync::OnceLock::new();
    let zones = ZONES.get_or_init(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|zone| (zone.name().to_ascii_lowercase(), *zone))
            .collect()
    });
    zones.get(name).copied()
}

/// `+02`, `-0530`, `+05:30`, `-05:30:15`.
fn offset(field: &str) -> Option<Zone> {
    let sign = if field.starts_with('-') { -1 } else { 1 };
    let body = &field[1..];
    let parts: Vec<&str> = match body.contains(':') {
        true => body.split(':').collect(),
        false if body.len() <= 2 => vec![body],
        false if body.len() == 4 => vec![&body[..2], &body[2..]],
        false if body.len() == 6 => vec![&body[..2], &body[2..4], &body[4..]],
        false => return None,
    };
    if parts.len() > 3 {
        return None;
    }
    let mut seconds = 0i32;
    for (part, unit) in parts.iter().zip([3600, 60, 1]) {
        let value: i32 = digits(part)?;
        if unit != 3600 && value > 59 {
            return None;
        }
        seconds += value * unit;
    }
    if seconds > 15 * 3600 + 59 * 60 + 59 {
        return None;
    }
    FixedOffset::east_opt(sign * seconds).map(Zone::Offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(text: &str) -> String {
        parse_timestamp(text, DatetimeType::Timestamp)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S%.f")
            .to_string()
    }

    fn instant(text: &str) -> String {
        parse_timestamp(text, DatetimeType::Timestamptz)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S%.f")
            .to_string()
    }

    fn code(result: Result<impl std::fmt::Debug>) -> &'static str {
        result.unwrap_err().state.code()
    }

    // Each expected value is what PostgreSQL 15 answers for the same input.
    #[test]
    fn timestamps_in_postgresql_forms() {
        assert_eq!(timestamp("2024-05-01 10:00"), "2024-05-01 10:00:00");
        assert_eq!(timestamp("2024-05-01T10:00:05"), "2024-05-01 10:00:05");
        assert_eq!(timestamp("20240501 10:00"), "2024-05-01 10:00:00");
        assert_eq!(timestamp("2024-5-1 1:2"), "2024-05-01 01:02:00");
        assert_eq!(timestamp("05/01/2024 10:00 PM"), "2024-05-01 22:00:00");
        assert_eq!(timestamp("May 1, 2024 12:30 am"), "2024-05-01 00:30:00");
        assert_eq!(timestamp("Wed 1 May 2024"), "2024-05-01 00:00:00");
        assert_eq!(timestamp("2024-05-01 24:00"), "2024-05-02 00:00:00");
        assert_eq!(timestamp("2024-05-01 10:00 +02:30"), "2024-05-01 10:00:00");
        assert_eq!(
            timestamp("2024-05-01 10:00:00.1234565"),
            "2024-05-01 10:00:00.123456"
        );
        assert_eq!(
            timestamp("2024-05-01 10:00:00.1234575"),
            "2024-05-01 10:00:00.123458"
        );
        assert_eq!(
            timestamp("2024-05-01 23:59:59.9999999"),
            "2024-05-02 00:00:00"
        );
        assert_eq!(timestamp("epoch"), "1970-01-01 00:00:00");
        assert_eq!(timestamp(" 2000-01-01 BC "), "-1999-01-01 00:00:00");
    }

    #[test]
    fn zones_move_the_instant() {
        assert_eq!(instant("2024-05-01 10:00+0230"), "2024-05-01 07:30:00");
        assert_eq!(instant("2024-05-01T10:00:00Z"), "2024-05-01 10:00:00");
        assert_eq!(instant("2024-05-01 10:00:00-05"), "2024-05-01 15:00:00");
        assert_eq!(instant("2024-05-01 10:00 UTC"), "2024-05-01 10:00:00");
        assert_eq!(
            instant("2024-01-01 00:00 Europe/Paris"),
            "2023-12-31 23:00:00"
        );
        // New York falls back at 2:00 on 2018-11-04 (1:30 happens twice) and springs
        // forward at 2:00 on 2018-03-11 (2:30 never happens).
        assert_eq!(
            instant("2018-11-04 01:30 America/New_York"),
            "2018-11-04 06:30:00"
        );
        assert_eq!(
            instant("2018-03-11 02:30 America/New_York"),
            "2018-03-11 07:30:00"
        );
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(parse_date("2024-02-29").unwrap().to_string(), "2024-02-29");
        assert_eq!(
            parse_date("2024-02-29 13:00").unwrap().to_string(),
            "2024-02-29"
        );
        assert_eq!(parse_time("10:00 PM").unwrap().to_string(), "22:00:00");
        assert_eq!(
            parse_time("10:00:01.5+02").unwrap().to_string(),
            "10:00:01.500"
        );
    }

    #[test]
    fn bad_input_is_named_with_its_sqlstate() {
        assert_eq!(code(parse_date("2023-02-29")), "22008");
        assert_eq!(code(parse_date("2024-13-01")), "22008");
        assert_eq!(
            code(parse_timestamp("2024-05-01 25:00", DatetimeType::Timestamp)),
            "22008"
        );
        assert_eq!(
            code(parse_timestamp("garbage", DatetimeType::Timestamp)),
            "22007"
        );
        assert_eq!(
            code(parse_timestamp(
                "2024-05-01 10:00 Mars/Olympus",
                DatetimeType::Timestamptz
            )),
            "22007"
        );
        assert_eq!(
            code(parse_timestamp("10:00", DatetimeType::Timestamp)),
            "22007"
        );
        assert_eq!(
            code(parse_timestamp("infinity", DatetimeType::Timestamp)),
            "0A000"
        );
        assert_eq!(
            code(parse_timestamp("now", DatetimeType::Timestamp)),
            "0A000"
        );
        let message = parse_date("2024-13-01").unwrap_err().message;
        assert!(message.contains("\"2024-13-01\""), "{message}");
    }
}
