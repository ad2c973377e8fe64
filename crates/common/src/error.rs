//! weir's error: a SQLSTATE, a message that names the object at fault, and optionally a
//! detail, a hint and a cursor position into the statement text.
//!
//! Errors raised inside DataFusion arrive as [`DataFusionError`]; [`WeirError::from`]
//! classifies them by who is at fault (syntax, unknown name, bad data, unsupported) so the
//! client sees the SQLSTATE PostgreSQL would send. A `WeirError` raised by weir's own code
//! inside a DataFusion callback travels through `DataFusionError::External` unchanged.

use datafusion_common::arrow::error::ArrowError;
use datafusion_common::{DataFusionError, SchemaError};

use crate::SqlState;

pub type Result<T, E = WeirError> = std::result::Result<T, E>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeirError {
    pub state: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<Position>,
}

/// Where in the statement text an error was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// 1-based character offset, as the wire protocol reports it.
    Char(usize),
    /// 1-based line and column, as the SQL parser reports it.
    LineColumn(usize, usize),
}

impl Position {
    /// The 1-based character offset of this position in `sql`.
    pub fn char_offset(self, sql: &str) -> usize {
        match self {
            Position::Char(offset) => offset,
            Position::LineColumn(line, column) => {
                let before: usize = sql
                    .split_inclusive('\n')
                    .take(line.saturating_sub(1))
                    .map(|l| l.chars().count())
                    .sum();
                before + column
            }
        }
    }
}

impl WeirError {
    pub fn new(state: SqlState, message: impl Into<String>) -> Self {
        WeirError {
            state,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_position(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    pub fn not_supported(what: impl std::fmt::Display) -> Self {
        Self::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("{what} is not supported"),
        )
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            SqlState::INTERNAL_ERROR,
            format!("internal error: {message}"),
        )
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(SqlState::SYNTAX_ERROR, message)
    }

    pub fn undefined_table(name: &str) -> Self {
        Self::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    }

    /// Wraps this error so it can cross a DataFusion API boundary and come back intact.
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

impl std::fmt::Display for WeirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for WeirError {}

impl From<DataFusionError> for WeirError {
    fn from(error: DataFusionError) -> Self {
        classify(&error)
    }
}

impl From<ArrowError> for WeirError {
    fn from(error: ArrowError) -> Self {
        classify_arrow(&error)
    }
}

fn classify(error: &DataFusionError) -> WeirError {
    match error {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            classify(inner)
        }
        DataFusionError::Shared(inner) => classify(inner),
        DataFusionError::Collection(errors) => errors
            .first()
            .map(classify)
            .unwrap_or_else(|| WeirError::internal("empty error collection")),
        DataFusionError::External(inner) => {
            if let Some(weir) = inner.downcast_ref::<WeirError>() {
                weir.clone()
            } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                classify(df)
            } else if let Some(arrow) = inner.downcast_ref::<ArrowError>() {
                classify_arrow(arrow)
            } else {
                WeirError::new(SqlState::INTERNAL_ERROR, inner.to_string())
            }
        }
        DataFusionError::ArrowError(arrow, _) => classify_arrow(arrow),
        DataFusionError::SQL(parser, _) => syntax_error(&parser.to_string()),
        DataFusionError::SchemaError(schema, _) => classify_schema(schema),
        DataFusionError::NotImplemented(message) => {
            WeirError::new(SqlState::FEATURE_NOT_SUPPORTED, message.clone())
        }
        DataFusionError::Plan(message) => classify_message(message, SqlState::SYNTAX_ERROR),
        DataFusionError::Execution(message) => classify_message(message, SqlState::DATA_EXCEPTION),
        DataFusionError::ResourcesExhausted(message) if is_memory_refused(message) => {
            WeirError::new(SqlState::OUT_OF_MEMORY, "out of memory").with_detail(message.clone())
        }
        DataFusionError::ResourcesExhausted(message) => {
            WeirError::new(SqlState::PROGRAM_LIMIT_EXCEEDED, message.clone())
        }
        DataFusionError::IoError(io) => WeirError::new(SqlState::IO_ERROR, io.to_string()),
        DataFusionError::Configuration(message) => {
            WeirError::new(SqlState::INVALID_PARAMETER_VALUE, message.clone())
        }
        // DataFusion reports some errors of the statement's own making as internal ones
        // (a function called with arguments none of its signatures takes).
        DataFusionError::Internal(message) => classify_message(message, SqlState::INTERNAL_ERROR),
        other => WeirError::new(SqlState::INTERNAL_ERROR, other.message().into_owned()),
    }
}

fn classify_arrow(error: &ArrowError) -> WeirError {
    match error {
        ArrowError::DivideByZero => WeirError::new(SqlState::DIVISION_BY_ZERO, "division by zero"),
        ArrowError::CastError(message) | ArrowError::ParseError(message) => {
            classify_message(message, SqlState::INVALID_TEXT_REPRESENTATION)
        }
        ArrowError::ExternalError(inner) => {
            if let Some(weir) = inner.downcast_ref::<WeirError>() {
                weir.clone()
            } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                classify(df)
            } else {
                WeirError::new(SqlState::DATA_EXCEPTION, inner.to_string())
            }
        }
        ArrowError::ArithmeticOverflow(message) => {
            WeirError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, message.clone())
        }
        other => classify_message(&other.to_string(), SqlState::DATA_EXCEPTION),
    }
}

fn classify_schema(error: &SchemaError) -> WeirError {
    match error {
        SchemaError::FieldNotFound { field, .. } => WeirError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{}\" does not exist", field.name),
        ),
        SchemaError::AmbiguousReference { field } => WeirError::new(
            SqlState::AMBIGUOUS_COLUMN,
            format!("column reference \"{}\" is ambiguous", field.name),
        ),
        other => WeirError::new(SqlState::SYNTAX_ERROR, other.to_string()),
    }
}

/// Whether a memory pool refused an operator's request: DataFusion's own pools say
/// "Failed to allocate", weir's statement pools "Failed on request of size" (PostgreSQL's
/// words). Other exhausted resources (the spill files' disk quota) are not memory.
fn is_memory_refused(message: &str) -> bool {
    message.contains("Failed on request of size") || message.contains("Failed to allocate")
}

/// DataFusion reports many distinct conditions as plain strings inside `Plan` or
/// `Execution`; pick the SQLSTATE from the wording, falling back to `default`.
fn classify_message(message: &str, default: SqlState) -> WeirError {
    let lower = message.to_ascii_lowercase();
    let state = if lower.contains("divide by zero") || lower.contains("division by zero") {
        return WeirError::new(SqlState::DIVISION_BY_ZERO, "division by zero");
    } else if lower.starts_with("table '") && lower.contains("not found") {
        let name = message.split('\'').nth(1).unwrap_or(message);
        return WeirError::undefined_table(name.rsplit('.').next().unwrap_or(name));
    } else if lower.contains("exceeds the representable i64 range") {
        // A date or time beyond weir's timestamps (nanoseconds, 1677 to 2262).
        return WeirError::new(
            SqlState::DATETIME_FIELD_OVERFLOW,
            format!("timestamp out of range: {}", message.trim()),
        );
    } else if lower.contains("invalid function")
        || lower.contains("failed to coerce arguments")
        || lower.contains("function not found")
        || lower.contains("failed to match any signature")
        || lower.contains("no function matches")
    {
        SqlState::UNDEFINED_FUNCTION
    } else if lower.contains("cannot cast")
        || lower.contains("cannot parse")
        || lower.contains("invalid digit")
        || lower.contains("error parsing")
        || lower.contains("invalid input syntax")
    {
        SqlState::INVALID_TEXT_REPRESENTATION
    } else if lower.contains("overflow") {
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE
    } else if lower.contains("cannot infer common")
        || lower.contains("cannot coerce")
        || lower.contains("type coercion")
        || lower.contains("does not support")
        || lower.contains("non-boolean predicate")
    {
        SqlState::DATATYPE_MISMATCH
    } else if lower.contains("not implemented")
        || lower.contains("unsupported")
        || lower.contains("cannot get result type for temporal operation")
    {
        SqlState::FEATURE_NOT_SUPPORTED
    } else {
        default
    };
    WeirError::new(state, message.trim().to_owned())
}

/// A sqlparser error looks like `... at Line: 1, Column: 8`; psql draws the position
/// PostgreSQL reports as a cursor under the statement.
fn syntax_error(message: &str) -> WeirError {
    let message = message
        .trim_start_matches("sql parser error: ")
        .trim_start_matches("SQL error: ");
    let location = parse_line_column(message);
    let message = match message.rfind(" at Line: ") {
        Some(end) => &message[..end],
        None => message,
    };
    let mut error = match message
        .strip_prefix("Expected: ")
        .and_then(|rest| rest.rsplit_once(", found: "))
    {
        Some((expected, "EOF")) => WeirError::syntax("syntax error at end of input")
            .with_detail(format!("Expected {expected}.")),
        Some((expected, found)) => {
            WeirError::syntax(format!("syntax error at or near \"{found}\""))
                .with_detail(format!("Expected {expected}."))
        }
        None => WeirError::syntax(format!("syntax error: {message}")),
    };
    if let Some((line, column)) = location {
        error.position = Some(Position::LineColumn(line, column));
    }
    error
}

fn parse_line_column(message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.rfind("Line: ")? + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_position_becomes_character_offset() {
        let error = syntax_error("Expected: an expression, found: FROM at Line: 2, Column: 8");
        let sql = "SELECT 1,\nSELECT FROM";
        assert_eq!(error.state, SqlState::SYNTAX_ERROR);
        assert_eq!(error.message, "syntax error at or near \"FROM\"");
        assert_eq!(error.detail.as_deref(), Some("Expected an expression."));
        assert_eq!(error.position.unwrap().char_offset(sql), 10 + 8);
    }

    #[test]
    fn weir_errors_survive_a_trip_through_datafusion() {
        let original = WeirError::new(SqlState::UNIQUE_VIOLATION, "duplicate key");
        let back = WeirError::from(original.clone().into_datafusion());
        assert_eq!(back, original);
    }

    #[test]
    fn a_call_no_signature_takes_is_an_undefined_function_not_an_internal_error() {
        let message = "Function 'md5' failed to match any signature, errors: ...";
        let error = WeirError::from(DataFusionError::Internal(message.to_owned()));
        assert_eq!(error.state, SqlState::UNDEFINED_FUNCTION);
        let other = WeirError::from(DataFusionError::Internal("a bug".to_owned()));
        assert_eq!(other.state, SqlState::INTERNAL_ERROR);
    }

    #[test]
    fn division_by_zero_is_classified() {
        let error = WeirError::from(DataFusionError::ArrowError(
            Box::new(ArrowError::DivideByZero),
            None,
        ));
        assert_eq!(error.state, SqlState::DIVISION_BY_ZERO);
    }
}
