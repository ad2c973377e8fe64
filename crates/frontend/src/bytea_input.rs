//! Text to `bytea` as PostgreSQL reads it.
//!
//! DataFusion casts text to binary by taking its UTF-8 bytes; PostgreSQL decodes the text:
//! `\x` followed by hex digit pairs (the hex format, which PostgreSQL also prints), or
//! else the escape format, where `\\` is a backslash and `\nnn` an octal byte.
//! [`crate::text_input`] replaces every text-to-binary cast in a plan by `bytea_in`, which
//! decodes so.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, BinaryArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use weir_common::{SqlState, WeirError};

/// `bytea_in(text)`: the bytes `text` stands for.
pub(crate) fn bytea_in() -> ScalarUDF {
    create_udf(
        "bytea_in",
        vec![DataType::Utf8],
        DataType::Binary,
        Volatility::Immutable,
        Arc::new(|arguments: &[ColumnarValue]| {
            let all_scalar = matches!(arguments[0], ColumnarValue::Scalar(_));
            let texts = ColumnarValue::values_to_arrays(arguments)?;
            let decoded: BinaryArray = texts[0]
                .as_string::<i32>()
                .iter()
                .map(|text| text.map(decode).transpose())
                .collect::<weir_common::Result<_>>()
                .map_err(WeirError::into_datafusion)?;
            let decoded: ArrayRef = Arc::new(decoded);
            Ok(match all_scalar {
                true => ColumnarValue::Scalar(ScalarValue::try_from_array(&decoded, 0)?),
                false => ColumnarValue::Array(decoded),
            })
        }),
    )
}

/// PostgreSQL's bytea input: hex format after `\x`, else the escape format.
fn decode(text: &str) -> weir_common::Result<Vec<u8>> {
    let invalid = || {
        WeirError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type bytea",
        )
    };
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return Err(WeirError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "invalid hexadecimal data: odd number of digits",
            ));
        }
        return digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| {
                        WeirError::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            "invalid hexadecimal digit",
                        )
                    })
            })
            .collect();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            out.push(bytes[at]);
            at += 1;
        } else if bytes.get(at + 1) == Some(&b'\\') {
            out.push(b'\\');
            at += 2;
        } else {
            let octal = bytes.get(at + 1..at + 4).ok_or_else(invalid)?;
            let valid = octal[0] <= b'3' && octal.iter().all(|d| (b'0'..=b'7').contains(d));
            if !valid {
                return Err(invalid());
            }
            out.push(octal.iter().fold(0u8, |value, d| (value << 3) | (d - b'0')));
            at += 4;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_escape_formats_decode() {
        assert_eq!(decode("\\x00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(decode("\\xDE AD").unwrap(), vec![0xde, 0xad]);
        assert_eq!(decode("ab\\\\c\\001").unwrap(), b"ab\\c\x01".to_vec());
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
        for bad in ["\\x0", "\\xzz", "a\\9", "\\"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
