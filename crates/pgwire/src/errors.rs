//! weir's errors and notices as the protocol sends them.

use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::response::NoticeResponse;
use weir_common::{Position, SqlState, WeirError};

pub(crate) fn error_info(error: &WeirError) -> ErrorInfo {
    let mut info = ErrorInfo::new(
        "ERROR".to_owned(),
        error.state.code().to_owned(),
        error.message.clone(),
    );
    info.detail = error.detail.clone();
    info.hint = error.hint.clone();
    info.position = match error.position {
        Some(Position::Char(offset)) => Some(offset.to_string()),
        _ => None,
    };
    info
}

pub(crate) fn to_pgwire(error: WeirError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&error)))
}

pub(crate) fn fatal(state: SqlState, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_owned(),
        state.code().to_owned(),
        message,
    )))
}

/// A notice; a leading `WARNING: ` in the text makes it a warning.
pub(crate) fn notice(text: &str) -> NoticeResponse {
    let (severity, code, message) = match text.strip_prefix("WARNING: ") {
        Some(message) => ("WARNING", SqlState::WARNING, message),
        None => ("NOTICE", SqlState::SUCCESSFUL_COMPLETION, text),
    };
    ErrorInfo::new(
        severity.to_owned(),
        code.code().to_owned(),
        message.to_owned(),
    )
    .into()
}
