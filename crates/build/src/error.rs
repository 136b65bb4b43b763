//! Parse errors, located as `FILE:LINE:COLUMN` like a compiler's, so an editor can jump to them.

/// A Dockerfile that cannot be parsed: where, and BuildKit's words for why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The Dockerfile's name as given to [`crate::parse`] (`Dockerfile` for the default).
    pub file: String,
    /// 1-based line where the faulty instruction (or directive, or heredoc) starts.
    pub line: usize,
    /// 1-based column (in characters) of the faulty token on that line.
    pub column: usize,
    /// Last line of the instruction, for a caller that shows the whole of it.
    pub end_line: usize,
    /// The message, as BuildKit words it (`unknown instruction: FORM`).
    pub message: String,
}

/// Where an instruction sits in the file; errors about it point here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based first line.
    pub start_line: usize,
    /// 1-based last line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// 1-based column of the instruction's keyword on its first line.
    pub column: usize,
}

impl Span {
    pub(crate) fn error(&self, file: &str, message: impl Into<String>) -> ParseError {
        self.error_at(file, self.column, message)
    }

    pub(crate) fn error_at(
        &self,
        file: &str,
        column: usize,
        message: impl Into<String>,
    ) -> ParseError {
        ParseError {
            file: file.to_owned(),
            line: self.start_line,
            column,
            end_line: self.end_line,
            message: message.into(),
        }
    }
}
