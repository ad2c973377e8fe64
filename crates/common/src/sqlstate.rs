//! The PostgreSQL error codes weir reports, by name.
//!
//! The codes are PostgreSQL's (Appendix A of its manual) so that drivers and tools that
//! branch on SQLSTATE behave against weir as they do against PostgreSQL.

/// A five-character PostgreSQL error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SqlState(&'static str);

/// Declares each code as a constant of [`SqlState`], and the list of them all.
macro_rules! sql_states {
    ($($name:ident = $code:literal,)*) => {
        impl SqlState {
            $(pub const $name: SqlState = SqlState($code);)*

            /// Every code weir reports.
            const ALL: &[SqlState] = &[$(SqlState::$name),*];
        }
    };
}

sql_states! {
    SUCCESSFUL_COMPLETION = "00000",
    WARNING = "01000",
    FEATURE_NOT_SUPPORTED = "0A000",
    INVALID_CATALOG_NAME = "3D000",
    INVALID_SCHEMA_NAME = "3F000",
    DATA_EXCEPTION = "22000",
    STRING_DATA_RIGHT_TRUNCATION = "22001",
    NUMERIC_VALUE_OUT_OF_RANGE = "22003",
    INVALID_DATETIME_FORMAT = "22007",
    DATETIME_FIELD_OVERFLOW = "22008",
    DIVISION_BY_ZERO = "22012",
    INVALID_PARAMETER_VALUE = "22023",
    CHARACTER_NOT_IN_REPERTOIRE = "22021",
    INVALID_TEXT_REPRESENTATION = "22P02",
    INVALID_BINARY_REPRESENTATION = "22P03",
    BAD_COPY_FILE_FORMAT = "22P04",
    NOT_NULL_VIOLATION = "23502",
    UNIQUE_VIOLATION = "23505",
    ACTIVE_SQL_TRANSACTION = "25001",
    NO_ACTIVE_SQL_TRANSACTION = "25P01",
    IN_FAILED_SQL_TRANSACTION = "25P02",
    INVALID_PASSWORD = "28P01",
    DEPENDENT_OBJECTS_STILL_EXIST = "2BP01",
    INSUFFICIENT_PRIVILEGE = "42501",
    SYNTAX_ERROR = "42601",
    UNDEFINED_COLUMN = "42703",
    UNDEFINED_FUNCTION = "42883",
    UNDEFINED_TABLE = "42P01",
    UNDEFINED_OBJECT = "42704",
    DUPLICATE_TABLE = "42P07",
    DUPLICATE_OBJECT = "42710",
    DATATYPE_MISMATCH = "42804",
    WRONG_OBJECT_TYPE = "42809",
    INVALID_COLUMN_REFERENCE = "42P10",
    INVALID_TABLE_DEFINITION = "42P16",
    AMBIGUOUS_COLUMN = "42702",
    GROUPING_ERROR = "42803",
    PROGRAM_LIMIT_EXCEEDED = "54000",
    STATEMENT_TOO_COMPLEX = "54001",
    QUERY_CANCELED = "57014",
    CANT_CHANGE_RUNTIME_PARAM = "55P02",
    DISK_FULL = "53100",
    OUT_OF_MEMORY = "53200",
    IO_ERROR = "58030",
    PROTOCOL_VIOLATION = "08P01",
    CONNECTION_FAILURE = "08006",
    INTERNAL_ERROR = "XX000",
}

impl SqlState {
    /// The code `code` names, if weir reports it.
    pub fn from_code(code: &str) -> Option<SqlState> {
        SqlState::ALL.iter().copied().find(|state| state.0 == code)
    }

    /// The five-character code, e.g. `"42P01"`.
    pub fn code(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
