//! PostgreSQL's COPY formats: reading rows of text or CSV into columns of strings.
//!
//! * **text**: one row per line, fields separated by a delimiter (tab by default), `\N`
//!   for NULL, and backslash escapes (`\t`, `\n`, `\\`, octal `\123`, hex `\x41`…).
//! * **csv**: fields separated by a delimiter (`,`), quoted with `"` when they contain a
//!   delimiter, quote or line break; an unquoted empty field is NULL, a quoted one is an
//!   empty string. A header line may be skipped.
//!
//! Both end at the end of the data or at a line holding only `\.`.

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};
use weir_common::{Result, SqlState, WeirError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    Text {
        delimiter: char,
        null: String,
    },
    Csv {
        delimiter: char,
        quote: char,
        escape: char,
        null: String,
        header: bool,
    },
}

impl CopyFormat {
    /// The format a COPY statement's options describe.
    pub fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyFormat> {
        let mut csv = false;
        let mut delimiter = None;
        let mut null = None;
        let mut header = false;
        let mut quote = '"';
        let mut escape = None;
        for option in options {
            match option {
                CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                    "csv" => csv = true,
                    "text" => csv = false,
                    other => return Err(WeirError::not_supported(format!("COPY format {other}"))),
                },
                CopyOption::Delimiter(c) => delimiter = Some(*c),
                CopyOption::Null(text) => null = Some(text.clone()),
                CopyOption::Header(on) => header = *on,
                CopyOption::Quote(c) => quote = *c,
                CopyOption::Escape(c) => escape = Some(*c),
                CopyOption::Encoding(name) if is_utf8(name) => {}
                CopyOption::Freeze(_) => {}
                other => return Err(WeirError::not_supported(format!("COPY option {other}"))),
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                CopyLegacyOption::Null(text) => null = Some(text.clone()),
                CopyLegacyOption::Csv(csv_options) => {
                    csv = true;
                    for csv_option in csv_options {
                        match csv_option {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(c) => quote = *c,
                            CopyLegacyCsvOption::Escape(c) => escape = Some(*c),
                            other => {
                                return Err(WeirError::not_supported(format!(
                                    "COPY option {other}"
                                )));
                            }
                        }
                    }
                }
                other => return Err(WeirError::not_supported(format!("COPY option {other}"))),
            }
        }
        Ok(if csv {
            CopyFormat::Csv {
                delimiter: delimiter.unwrap_or(','),
                quote,
                escape: escape.unwrap_or(quote),
                null: null.unwrap_or_default(),
                header,
            }
        } else {
            if header {
                return Err(WeirError::not_supported("COPY HEADER in text format"));
            }
            CopyFormat::Text {
                delimiter: delimiter.unwrap_or('\t'),
                null: null.unwrap_or_else(|| "\\N".to_owned()),
            }
        })
    }

    /// Splits `data` into rows of fields (`None` for NULL).
    pub fn parse(&self, data: &[u8]) -> Result<Vec<Vec<Option<String>>>> {
        let text = std::str::from_utf8(data).map_err(|e| {
            WeirError::new(
                SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                format!("invalid byte sequence for encoding \"UTF8\" in COPY data: {e}"),
            )
        })?;
        if data.contains(&0) {
            // PostgreSQL's text values cannot hold NUL.
            return Err(WeirError::new(
                SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            ));
        }
        match self {
            CopyFormat::Text { delimiter, null } => parse_text(text, *delimiter, null),
            CopyFormat::Csv {
                delimiter,
                quote,
                escape,
                null,
                header,
            } => parse_csv(text, *delimiter, *quote, *escape, null, *header),
        }
    }
}

fn is_utf8(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().replace('-', "").as_str(),
        "UTF8" | "UNICODE"
    )
}

fn bad_format(line: usize, message: impl std::fmt::Display) -> WeirError {
    WeirError::new(SqlState::BAD_COPY_FILE_FORMAT, format!("{message}"))
        .with_detail(format!("COPY data, line {line}"))
}

fn parse_text(text: &str, delimiter: char, null: &str) -> Result<Vec<Vec<Option<String>>>> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut rows = Vec::new();
    if text.is_empty() {
        return Ok(rows);
    }
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "\\." {
            break;
        }
        let row = line
            .split(delimiter)
            .map(|raw| {
                if raw == null {
                    Ok(None)
                } else {
                    unescape_text(raw)
                        .map(Some)
                        .map_err(|e| bad_format(index + 1, e))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        rows.push(row);
    }
    Ok(rows)
}

fn unescape_text(raw: &str) -> std::result::Result<String, String> {
    if !raw.contains('\\') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars.next().ok_or("end-of-copy marker corrupt")?;
        match escaped {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            'x' => {
                let mut value = 0u32;
                let mut digits = 0;
                while digits < 2
                    && let Some(d) = chars.peek().and_then(|d| d.to_digit(16))
                {
                    value = value * 16 + d;
                    chars.next();
                    digits += 1;
                }
                if digits == 0 {
                    out.push('x');
                } else {
                    out.push(char::from_u32(value).ok_or("invalid escape")?);
                }
            }
            '0'..='7' => {
                let mut value = escaped.to_digit(8).unwrap_or(0);
                let mut digits = 1;
                while digits < 3
                    && let Some(d) = chars.peek().and_then(|d| d.to_digit(8))
                {
                    value = value * 8 + d;
                    chars.next();
                    digits += 1;
                }
                out.push(char::from_u32(value).ok_or("invalid escape")?);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn parse_csv(
    text: &str,
    delimiter: char,
    quote: char,
    escape: char,
    null: &str,
    header: bool,
) -> Result<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    let mut row: Vec<Option<String>> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut line = 1;
    let mut at_line_start = true;
    let mut chars = text.chars().peekable();
    let finish_field = |field: &mut String, quoted: &mut bool, row: &mut Vec<Option<String>>| {
        let value = std::mem::take(field);
        row.push(if !*quoted && value == null {
            None
        } else {
            Some(value)
        });
        *quoted = false;
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == escape && escape != quote && chars.peek() == Some(&quote) {
                field.push(quote);
                chars.next();
            } else if c == quote {
                if escape == quote && chars.peek() == Some(&quote) {
                    field.push(quote);
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            continue;
        }
        if at_line_start && c == '\\' && chars.peek() == Some(&'.') {
            let rest: String = chars.clone().skip(1).take_while(|c| *c != '\n').collect();
            if rest.trim_end_matches('\r').is_empty() {
                break;
            }
        }
        at_line_start = false;
        if c == quote {
            in_quotes = true;
            quoted = true;
        } else if c == delimiter {
            finish_field(&mut field, &mut quoted, &mut row);
        } else if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            finish_field(&mut field, &mut quoted, &mut row);
            rows.push(std::mem::take(&mut row));
            line += 1;
            at_line_start = true;
        } else {
            field.push(c);
        }
    }
    if in_quotes {
        return Err(bad_format(line, "unterminated CSV quoted field"));
    }
    if !field.is_empty() || quoted || !row.is_empty() {
        finish_field(&mut field, &mut quoted, &mut row);
        rows.push(row);
    }
    if header && !rows.is_empty() {
        rows.remove(0);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> CopyFormat {
        CopyFormat::from_options(&[], &[]).unwrap()
    }

    fn csv(header: bool) -> CopyFormat {
        CopyFormat::Csv {
            delimiter: ',',
            quote: '"',
            escape: '"',
            null: String::new(),
            header,
        }
    }

    #[test]
    fn text_format_reads_nulls_and_escapes() {
        let rows = text()
            .parse(b"1\tann\n2\t\\N\n3\ta\\tb\\\\c\\101\n\\.\nignored\n")
            .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Some("1".into()), Some("ann".into())],
                vec![Some("2".into()), None],
                vec![Some("3".into()), Some("a\tb\\cA".into())],
            ]
        );
    }

    #[test]
    fn csv_format_reads_quotes_nulls_and_headers() {
        let rows = csv(true)
            .parse(b"id,name\n1,\"bo, jr\"\n2,\n3,\"\"\n4,\"say \"\"hi\"\"\nthere\"\r\n")
            .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Some("1".into()), Some("bo, jr".into())],
                vec![Some("2".into()), None],
                vec![Some("3".into()), Some(String::new())],
                vec![Some("4".into()), Some("say \"hi\"\nthere".into())],
            ]
        );
    }

    #[test]
    fn unterminated_quotes_are_an_error() {
        let error = csv(false).parse(b"1,\"open\n").unwrap_err();
        assert_eq!(error.state, SqlState::BAD_COPY_FILE_FORMAT);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let error = text().parse(&[0x31, 0xff, 0x0a]).unwrap_err();
        assert_eq!(error.state, SqlState::CHARACTER_NOT_IN_REPERTOIRE);
    }
}
