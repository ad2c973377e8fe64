//! PostgreSQL's text input for `interval`, as it reads it with its default
//! `IntervalStyle = postgres`:
//!
//! * quantities with units, each with its own sign: `1 day`, `-2 hours +3 minutes`,
//!   `1.5 weeks`, `3 mons`, `1 year 2 mons`, `@ 1 minute ago` (`ago` negates all);
//!   units may be abbreviated (`d`, `h`, `min`, `s`, `ms`, `us`, `mon`, `y`, …), plural
//!   or not, and may follow the number without a space (`10min`);
//! * a time `[+-]hh:mm[:ss[.ffffff]]`, and a bare number before it as days
//!   (`1 02:03:04`, the SQL standard's form); a bare number alone is seconds;
//! * years and months as `Y-M` (`1-2` is 1 year 2 months);
//! * ISO 8601: `P1Y2M3DT4H5M6.5S`, `PT36H`, `P2W`.
//!
//! A fraction of a unit spills into the smaller ones as PostgreSQL's does: a fraction of
//! a year becomes whole months (rounded), of a month 30-day days and then time, of a week
//! or a day time (a day being 24 hours). Time is kept in microseconds, rounded half to
//! even. Malformed input is 22007, a field beyond its range 22008.

use crate::{Result, SqlState, WeirError};

/// An interval as PostgreSQL holds it: months, days and microseconds, each signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

const MICROS_PER_SECOND: f64 = 1e6;
const MICROS_PER_DAY: f64 = 86_400e6;

/// What a unit adds, per one of it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    /// Months per unit (year, decade, …).
    Months(i64),
    /// Days per unit (week, day).
    Days(i64),
    /// Microseconds per unit (hour … microsecond).
    Micros(f64),
}

fn unit(word: &str) -> Option<Unit> {
    Some(match word {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => Unit::Micros(1.0),
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => Unit::Micros(1e3),
        "second" | "seconds" | "s" | "sec" | "secs" => Unit::Micros(1e6),
        "minute" | "minutes" | "m" | "min" | "mins" => Unit::Micros(60e6),
        "hour" | "hours" | "h" | "hr" | "hrs" => Unit::Micros(3_600e6),
        "day" | "days" | "d" => Unit::Days(1),
        "week" | "weeks" | "w" => Unit::Days(7),
        "month" | "months" | "mon" | "mons" => Unit::Months(1),
        "year" | "years" | "y" | "yr" | "yrs" => Unit::Months(12),
        "decade" | "decades" | "dec" | "decs" => Unit::Months(120),
        "century" | "centuries" | "c" | "cent" => Unit::Months(1_200),
        "millennium" | "millennia" | "mil" | "mils" => Unit::Months(12_000),
        _ => return None,
    })
}

/// The sum being built, wide enough to find out-of-range fields at the end.
#[derive(Default)]
struct Sum {
    months: i64,
    days: i64,
    micros: f64,
}

impl Sum {
    /// Adds `value` of `unit`, spilling its fraction into the smaller units.
    fn add(&mut self, value: f64, unit: Unit) {
        match unit {
            Unit::Months(months) if months >= 12 => {
                // A fraction of a year is whole months, rounded.
                let whole = value.trunc();
                self.months += whole as i64 * months;
                self.months += ((value - whole) * months as f64).round_ties_even() as i64;
            }
            Unit::Months(months) => {
                let whole = value.trunc();
                self.months += whole as i64 * months;
                self.add_days((value - whole) * 30.0 * months as f64);
            }
            Unit::Days(days) => self.add_days(value * days as f64),
            Unit::Micros(micros) => self.micros += value * micros,
        }
    }

    fn add_days(&mut self, days: f64) {
        let whole = days.trunc();
        self.days += whole as i64;
        self.micros += (days - whole) * MICROS_PER_DAY;
    }

    fn negate(&mut self) {
        self.months = -self.months;
        self.days = -self.days;
        self.micros = -self.micros;
    }

    fn finish(self, text: &str) -> Result<Interval> {
        let out_of_range = || {
            WeirError::new(
                SqlState::DATETIME_FIELD_OVERFLOW,
                format!("interval field value out of range: \"{text}\""),
            )
        };
        let micros = self.micros.round_ties_even();
        if !micros.is_finite() || micros.abs() >= 9.2e18 {
            return Err(out_of_range());
        }
        Ok(Interval {
            months: i32::try_from(self.months).map_err(|_| out_of_range())?,
            days: i32::try_from(self.days).map_err(|_| out_of_range())?,
            micros: micros as i64,
        })
    }
}

fn invalid(text: &str) -> WeirError {
    WeirError::new(
        SqlState::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type interval: \"{text}\""),
    )
}

/// Reads `text` as an interval.
pub fn parse_interval(text: &str) -> Result<Interval> {
    let lower = text.trim().to_ascii_lowercase();
    if let Some(iso) = lower.strip_prefix('p') {
        return parse_iso(iso, text);
    }
    let body = lower.strip_prefix('@').unwrap_or(&lower);
    let tokens = tokenize(body).ok_or_else(|| invalid(text))?;
    if tokens.is_empty() {
        return Err(invalid(text));
    }
    let mut sum = Sum::default();
    let mut ago = false;
    let mut index = 0;
    while index < tokens.len() {
        match &tokens[index] {
            Token::Number(number) => {
                let value: f64 = number.parse().map_err(|_| invalid(text))?;
                match tokens.get(index + 1) {
                    Some(Token::Word(word)) => {
                        sum.add(value, unit(word).ok_or_else(|| invalid(text))?);
                        index += 2;
                    }
                    // `1 02:03:04`: days, then a time.
                    Some(Token::Time(_)) if !number.contains('.') => {
                        sum.add(value, Unit::Days(1));
                        index += 1;
                    }
                    // A bare number last is seconds.
                    None => {
                        sum.add(value, Unit::Micros(MICROS_PER_SECOND));
                        index += 1;
                    }
                    _ => return Err(invalid(text)),
                }
            }
            Token::Time(time) => {
                sum.micros += time_micros(time).ok_or_else(|| invalid(text))?;
                index += 1;
            }
            Token::YearMonth(negative, years, months) => {
                let months = years * 12 + months;
                sum.months += if *negative { -months } else { months };
                index += 1;
            }
            Token::Word(word) if word == "ago" && index + 1 == tokens.len() => {
                ago = true;
                index += 1;
            }
            Token::Word(_) => return Err(invalid(text)),
        }
    }
    if ago {
        sum.negate();
    }
    sum.finish(text)
}

#[derive(Debug, PartialEq)]
enum Token {
    /// A signed decimal number.
    Number(String),
    Word(String),
    /// A signed `hh:mm[:ss[.f]]`.
    Time(String),
    /// `[-]Y-M`: whether negative, years, months.
    YearMonth(bool, i64, i64),
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() || c == ',' {
            at += 1;
        } else if c.is_ascii_alphabetic() {
            let start = at;
            while at < chars.len() && chars[at].is_ascii_alphabetic() {
                at += 1;
            }
            tokens.push(Token::Word(chars[start..at].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' || c == '+' || c == '-' {
            let start = at;
            at += 1;
            while at < chars.len() && (chars[at].is_ascii_digit() || ".:-".contains(chars[at])) {
                at += 1;
            }
            let token: String = chars[start..at].iter().collect();
            tokens.push(number_token(&token)?);
        } else {
            return None;
        }
    }
    Some(tokens)
}

fn number_token(token: &str) -> Option<Token> {
    let (negative, unsigned) = match token.as_bytes()[0] {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    if unsigned.contains(':') {
        return Some(Token::Time(token.to_owned()));
    }
    if let Some((years, months)) = unsigned.split_once('-') {
        let years = years.parse().ok()?;
        let months = months.parse().ok()?;
        return (months < 12).then_some(Token::YearMonth(negative, years, months));
    }
    let digits = unsigned.replace('.', "");
    let valid = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && unsigned.matches('.').count() <= 1;
    valid.then(|| Token::Number(token.to_owned()))
}

/// The microseconds of `[+-]hh:mm[:ss[.f]]`.
fn time_micros(time: &str) -> Option<f64> {
    let (negative, unsigned) = match time.as_bytes()[0] {
        b'-' => (true, &time[1..]),
        b'+' => (false, &time[1..]),
        _ => (false, time),
    };
    let parts: Vec<&str> = unsigned.split(':').collect();
    let field = |part: &str| -> Option<f64> {
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [hours, minutes] => (field(hours)?, field(minutes)?, 0.0),
        [hours, minutes, seconds] => (field(hours)?, field(minutes)?, field(seconds)?),
        _ => return None,
    };
    if hours.fract() != 0.0 || minutes.fract() != 0.0 || minutes >= 60.0 || seconds >= 60.0 {
        return None;
    }
    let micros = ((hours * 60.0 + minutes) * 60.0 + seconds) * MICROS_PER_SECOND;
    Some(if negative { -micros } else { micros })
}

/// ISO 8601's `P…`: designators `Y M W D` before `T`, `H M S` after it.
fn parse_iso(body: &str, text: &str) -> Result<Interval> {
    let mut sum = Sum::default();
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in body.chars() {
        match c {
            't' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | '-' | '+' => number.push(c),
            designator => {
                let value: f64 = number.parse().map_err(|_| invalid(text))?;
                number.clear();
                let unit = match (in_time, designator) {
                    (false, 'y') => Unit::Months(12),
                    (false, 'm') => Unit::Months(1),
                    (false, 'w') => Unit::Days(7),
                    (false, 'd') => Unit::Days(1),
                    (true, 'h') => Unit::Micros(3_600e6),
                    (true, 'm') => Unit::Micros(60e6),
                    (true, 's') => Unit::Micros(1e6),
                    _ => return Err(invalid(text)),
                };
                sum.add(value, unit);
                any = true;
            }
        }
    }
    if !number.is_empty() || !any {
        return Err(invalid(text));
    }
    sum.finish(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (i32, i32, i64) {
        let interval = parse_interval(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (interval.months, interval.days, interval.micros)
    }

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn reads_postgresql_output() {
        assert_eq!(read("1 day 02:03:04"), (0, 1, 2 * HOUR + 184_000_000));
        assert_eq!(read("-1 mons +3 days"), (-1, 3, 0));
        assert_eq!(
            read("1 year 2 mons 3 days 04:05:06.5"),
            (14, 3, 4 * HOUR + 306_500_000)
        );
        assert_eq!(read("-1 days +02:00:00"), (0, -1, 2 * HOUR));
        assert_eq!(read("-00:00:01"), (0, 0, -1_000_000));
        assert_eq!(read("00:00:01.25"), (0, 0, 1_250_000));
        assert_eq!(read("0"), (0, 0, 0));
        assert_eq!(read("25:00:00"), (0, 0, 25 * HOUR));
    }

    #[test]
    fn reads_units_words_and_fractions() {
        assert_eq!(
            read("1 day 2 hours 3 minutes 4 seconds"),
            (0, 1, 2 * HOUR + 184_000_000)
        );
        assert_eq!(read("1.5 days"), (0, 1, 12 * HOUR));
        assert_eq!(read("1.5 months"), (1, 15, 0));
        assert_eq!(read("1.5 years"), (18, 0, 0));
        assert_eq!(read("1.5 weeks"), (0, 10, 12 * HOUR));
        assert_eq!(read("10min"), (0, 0, 600_000_000));
        assert_eq!(read("@ 1 minute ago"), (0, 0, -60_000_000));
        assert_eq!(read("2 days ago"), (0, -2, 0));
        assert_eq!(read("1 millisecond"), (0, 0, 1_000));
        assert_eq!(read("30"), (0, 0, 30_000_000));
        assert_eq!(read("1 century"), (1200, 0, 0));
    }

    #[test]
    fn reads_sql_standard_and_iso_8601() {
        assert_eq!(read("1-2"), (14, 0, 0));
        assert_eq!(read("3 4:05:06"), (0, 3, 4 * HOUR + 306_000_000));
        assert_eq!(read("P1Y2M3DT4H5M6.5S"), (14, 3, 4 * HOUR + 306_500_000));
        assert_eq!(read("PT36H"), (0, 0, 36 * HOUR));
        assert_eq!(read("P2W"), (0, 14, 0));
    }

    #[test]
    fn refuses_what_postgresql_refuses() {
        for bad in [
            "",
            " x ",
            "1 fortnight",
            "abc",
            "1:60",
            "P",
            "P1",
            "1 day day",
            "1 2",
        ] {
            let error = parse_interval(bad).unwrap_err();
            assert_eq!(error.state, SqlState::INVALID_DATETIME_FORMAT, "{bad:?}");
        }
        let error = parse_interval("3000000000 days").unwrap_err();
        assert_eq!(error.state, SqlState::DATETIME_FIELD_OVERFLOW);
    }
}
