//! `jsonb` values: text checked and rewritten into PostgreSQL's canonical form.
//!
//! weir keeps a `jsonb` value as UTF-8 text in an Arrow `Utf8` column whose field carries
//! the `arrow.json` extension name. Every value is stored canonically, as PostgreSQL
//! prints jsonb:
//!
//! * object keys ordered by length, then bytewise; of duplicate keys the last one wins;
//! * `", "` between elements and `": "` after keys, no other white space;
//! * strings with escapes decoded and written again as PostgreSQL does (`\"`, `\\`,
//!   `\b \f \n \r \t`, other control characters as `\u00XX`);
//! * numbers in plain decimal notation (`1e2` is `100`, `1.50` stays `1.50`).

use std::sync::Arc;

use datafusion_common::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion_common::arrow::datatypes::Field;

use crate::{Result, SqlState, WeirError};

/// The Arrow extension name of `jsonb` columns.
pub const JSON_EXTENSION_NAME: &str = "arrow.json";

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 1000;

/// Whether `field` holds `jsonb` values.
pub fn is_json(field: &Field) -> bool {
    field.extension_type_name() == Some(JSON_EXTENSION_NAME)
}

/// A `jsonb` column in canonical form; 22P02 if a value is not a JSON document.
pub fn canonical_json_column(column: &ArrayRef) -> Result<ArrayRef> {
    let Some(strings) = column.as_string_opt::<i32>() else {
        return Ok(column.clone());
    };
    let canonical = strings
        .iter()
        .map(|value| value.map(canonical_json).transpose())
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(canonical))
}

/// The canonical text of the JSON document `text`, or 22P02 if it is not one.
pub fn canonical_json(text: &str) -> Result<String> {
    Ok(Json::parse(text)?.to_string())
}

/// A parsed JSON document, numbers kept as their decimal text.
#[derive(Clone, Debug, PartialEq)]
pub struct Json(Value);

/// What `->` and `->>` select: an object member or an array element (negative indexes
/// count from the end).
pub enum Selector<'a> {
    Key(&'a str),
    Index(i64),
}

impl Json {
    /// Parses `text`; 22P02 if it is not a JSON document.
    pub fn parse(text: &str) -> Result<Json> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        parser.skip_space();
        let value = parser.value(0)?;
        parser.skip_space();
        if parser.at != parser.bytes.len() {
            return Err(parser.error("unexpected text after the JSON value"));
        }
        Ok(Json(value))
    }

    /// The member or element `selector` names, if there is one (`->`).
    pub fn select(&self, selector: Selector) -> Option<Json> {
        match (&self.0, selector) {
            (Value::Object(members), Selector::Key(key)) => members
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| Json(value.clone())),
            (Value::Array(items), Selector::Index(index)) => {
                let position = if index < 0 {
                    items.len() as i64 + index
                } else {
                    index
                };
                usize::try_from(position)
                    .ok()
                    .and_then(|position| items.get(position))
                    .map(|value| Json(value.clone()))
            }
            _ => None,
        }
    }

    /// The value as `->>` shows it: strings without quotes, JSON null as SQL NULL, the
    /// rest as canonical JSON text.
    pub fn as_text(&self) -> Option<String> {
        match &self.0 {
            Value::Null => None,
            Value::String(string) => Some(string.clone()),
            _ => Some(self.to_string()),
        }
    }

    /// Whether `key` is a key of this object, or a string element of this array (`?`).
    pub fn has_key(&self, key: &str) -> bool {
        match &self.0 {
            Value::Object(members) => members.iter().any(|(name, _)| name == key),
            Value::Array(items) => items
                .iter()
                .any(|item| matches!(item, Value::String(string) if string == key)),
            Value::String(string) => string == key,
            _ => false,
        }
    }

    /// PostgreSQL's jsonb containment (`@>`): objects contain objects whose every member
    /// they contain; arrays contain arrays whose every element matches one of theirs, in
    /// any order; a top-level array also contains a scalar that is one of its elements;
    /// scalars contain equal scalars.
    pub fn contains(&self, other: &Json) -> bool {
        contains(&self.0, &other.0, true)
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        self.0.write(&mut out);
        f.write_str(&out)
    }
}

fn contains(left: &Value, right: &Value, top_level: bool) -> bool {
    match (left, right) {
        (Value::Object(left), Value::Object(right)) => right.iter().all(|(key, value)| {
            left.iter()
                .any(|(name, mine)| name == key && contains(mine, value, false))
        }),
        (Value::Array(left), Value::Array(right)) => right
            .iter()
            .all(|wanted| left.iter().any(|mine| contains(mine, wanted, false))),
        (Value::Array(left), scalar) if top_level && !matches!(scalar, Value::Object(_)) => {
            left.iter().any(|mine| contains(mine, scalar, false))
        }
        (Value::Number(left), Value::Number(right)) => {
            left.parse::<f64>().ok() == right.parse::<f64>().ok()
        }
        (Value::Array(_) | Value::Object(_), _) => false,
        (left, right) => left == right,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Value::Number(number) => out.push_str(number),
            Value::String(string) => write_string(string, out),
            Value::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (index, (key, value)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    write_string(key, out);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(string: &str, out: &mut String) {
    out.push('"');
    for c in string.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, detail: &str) -> WeirError {
        WeirError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type json",
        )
        .with_detail(format!("{detail} (at byte {})", self.at))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect_word(&mut self, word: &str, value: Value) -> Result<Value> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("unknown token"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(WeirError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!("JSON nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_word("true", Value::Bool(true)),
            Some(b'f') => self.expect_word("false", Value::Bool(false)),
            Some(b'n') => self.expect_word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("the input ends early")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        self.at += 1;
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string as object key"));
            }
            let key = self.string()?;
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.error("expected \":\""));
            }
            self.at += 1;
            self.skip_space();
            let value = self.value(depth + 1)?;
            members.retain(|(existing, _)| *existing != key);
            members.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    members.sort_by(|(a, _), (b, _)| {
                        a.len()
                            .cmp(&b.len())
                            .then_with(|| a.as_bytes().cmp(b.as_bytes()))
                    });
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error("expected \",\" or \"}\"")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected \",\" or \"]\"")),
            }
        }
    }

    fn string(&mut self) -> Result<String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    // The input was UTF-8 and escapes decode to whole characters.
                    return String::from_utf8(out)
                        .map_err(|_| self.error("invalid UTF-8 in a string"));
                }
                Some(b'\\') => {
                    self.at += 1;
                    let decoded = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    self.at += 1;
                    let mut buffer = [0; 4];
                    out.extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
                }
                Some(byte) if byte < b' ' => {
                    return Err(self.error("control character in a string"));
                }
                Some(byte) => {
                    out.push(byte);
                    self.at += 1;
                }
            }
        }
    }

    /// Decodes `\uXXXX` (the cursor on the `u`), joining surrogate pairs; leaves the
    /// cursor on the escape's last digit.
    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.at + 1..].starts_with(b"\\u") {
                return Err(self.error("unpaired Unicode surrogate"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("unpaired Unicode surrogate"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        match char::from_u32(code) {
            Some('\0') | None => Err(self.error("unsupported Unicode escape")),
            Some(c) => Ok(c),
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .bytes
            .get(self.at + 1..self.at + 5)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u32::from_str_radix(digits, 16).ok())
            .ok_or_else(|| self.error("invalid Unicode escape"))?;
        self.at += 4;
        Ok(digits)
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.at;
        let digits = |parser: &mut Parser| {
            let from = parser.at;
            while matches!(parser.peek(), Some(b'0'..=b'9')) {
                parser.at += 1;
            }
            parser.at > from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let integer_start = self.at;
        if !digits(self) || (self.bytes[integer_start] == b'0' && self.at - integer_start > 1) {
            return Err(self.error("invalid number"));
        }
        let mut fraction = None;
        if self.peek() == Some(b'.') {
            self.at += 1;
            let from = self.at;
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
            fraction = Some(&self.bytes[from..self.at]);
        }
        let integer = &self.bytes[integer_start..self.at - fraction.map_or(0, |f| f.len() + 1)];
        let mut exponent = 0i64;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let from = self.at;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
            let text = std::str::from_utf8(&self.bytes[from..self.at]).unwrap_or("0");
            exponent = text
                .parse()
                .map_err(|_| self.error("exponent out of range"))?;
            if exponent.abs() > 1000 {
                return Err(self.error("exponent out of range"));
            }
        }
        let negative = self.bytes[start] == b'-';
        Ok(Value::Number(plain_decimal(
            negative,
            integer,
            fraction.unwrap_or(&[]),
            exponent,
        )))
    }
}

/// `[-]integer.fraction × 10^exponent` in plain notation, keeping the fraction's
/// written digits (scale) when there is no exponent, as PostgreSQL's numeric does.
fn plain_decimal(negative: bool, integer: &[u8], fraction: &[u8], exponent: i64) -> String {
    let digits: Vec<u8> = integer.iter().chain(fraction).copied().collect();
    // The position of the decimal point within `digits`.
    let point = integer.len() as i64 + exponent;
    let scale = (fraction.len() as i64 - exponent).max(0) as usize;
    let mut integer_part: String = if point <= 0 {
        "0".into()
    } else {
        let take = (point as usize).min(digits.len());
        let mut text: String = digits[..take].iter().map(|&d| d as char).collect();
        text.extend(std::iter::repeat_n('0', point as usize - take));
        text.trim_start_matches('0').to_owned()
    };
    if integer_part.is_empty() {
        integer_part.push('0');
    }
    let mut fraction_part = String::new();
    for index in 0..scale {
        let position = point + index as i64;
        let digit = if position < 0 || position as usize >= digits.len() {
            '0'
        } else {
            digits[position as usize] as char
        };
        fraction_part.push(digit);
    }
    let is_zero = digits.iter().all(|&d| d == b'0');
    let sign = if negative && !is_zero { "-" } else { "" };
    if fraction_part.is_empty() {
        format!("{sign}{integer_part}")
    } else {
        format!("{sign}{integer_part}.{fraction_part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        canonical_json(text).unwrap()
    }

    #[test]
    fn objects_are_ordered_and_spaced_as_postgres_prints_them() {
        assert_eq!(
            canonical(r#"{"bb":1,"a":[1,2,{"z":null}],"c":true}"#),
            r#"{"a": [1, 2, {"z": null}], "c": true, "bb": 1}"#
        );
        assert_eq!(canonical(r#" { "a" : 1 , "a" : 2 } "#), r#"{"a": 2}"#);
        assert_eq!(canonical("[]"), "[]");
        assert_eq!(canonical("{}"), "{}");
    }

    #[test]
    fn strings_are_decoded_and_escaped_again() {
        assert_eq!(canonical(r#""a\/b\u00e9\n\"""#), "\"a/bé\\n\\\"\"");
        assert_eq!(canonical(r#""\ud83d\ude00""#), "\"😀\"");
        assert_eq!(canonical("\"\\u0001\""), "\"\\u0001\"");
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(canonical("1.50"), "1.50");
        assert_eq!(canonical("1e2"), "100");
        assert_eq!(canonical("1.5E-2"), "0.015");
        assert_eq!(canonical("-0"), "0");
        assert_eq!(canonical("123.456e1"), "1234.56");
        assert_eq!(canonical("0.001"), "0.001");
    }

    #[test]
    fn invalid_documents_are_22p02() {
        for bad in [
            "", "{", "[1,]", "{\"a\"}", "01", "1.", "tru", "\"a", "{} x", "\"\\x\"", "'a'",
        ] {
            let error = canonical_json(bad).unwrap_err();
            assert_eq!(error.state, SqlState::INVALID_TEXT_REPRESENTATION, "{bad}");
        }
    }

    #[test]
    fn members_elements_and_containment() {
        let doc = Json::parse(r#"{"a": [1, "x", {"b": 2.50}], "s": "t", "n": null}"#).unwrap();
        let a = doc.select(Selector::Key("a")).unwrap();
        assert_eq!(a.to_string(), r#"[1, "x", {"b": 2.50}]"#);
        assert_eq!(
            a.select(Selector::Index(-1)).unwrap().to_string(),
            r#"{"b": 2.50}"#
        );
        assert!(a.select(Selector::Index(3)).is_none());
        assert!(doc.select(Selector::Index(0)).is_none());
        assert_eq!(
            doc.select(Selector::Key("s")).unwrap().as_text().unwrap(),
            "t"
        );
        assert_eq!(doc.select(Selector::Key("n")).unwrap().as_text(), None);
        assert!(doc.has_key("n") && !doc.has_key("b") && a.has_key("x"));
        let check = |left: &str, right: &str| {
            Json::parse(left)
                .unwrap()
                .contains(&Json::parse(right).unwrap())
        };
        assert!(check(r#"{"a": 1, "b": [1, 2, 3]}"#, r#"{"b": [3, 1]}"#));
        assert!(!check(r#"{"a": 1}"#, r#"{"a": 2}"#));
        assert!(check(r#"[1, 2, [3]]"#, r#"[[3]]"#));
        assert!(check(r#"["a", "b"]"#, r#""a""#));
        assert!(!check(r#"[[1]]"#, "1"));
        assert!(check(r#"{"a": {"b": 1, "c": 2}}"#, r#"{"a": {"c": 2.0}}"#));
        assert!(!check(r#"{"a": 1}"#, r#"[1]"#));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(5000) + &"]".repeat(5000);
        assert!(canonical_json(&deep).is_err());
    }
}
