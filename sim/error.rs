//! Errors a user can cause. Each one names the file, where known the line and column, the field
//! and the reason, so that it can be fixed without reading the source. The CLI maps every
//! [`Error`] to exit code 2 ("bad input"); anything else is an internal failure (exit code 1).

use std::path::PathBuf;

/// A problem with the user's input: a file, a flag or a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read at all.
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output file or directory could not be written.
    #[error("{path}: cannot write")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid RON, or does not match the schema (unknown, missing or mistyped field).
    #[error("{path}:{line}:{column}: {field}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        reason: String,
    },
    /// The file parsed but a value is impossible (zero size, inconsistent dimensions, ...).
    #[error("{path}: field `{field}`: {reason}")]
    Invalid {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// As [`Error::Invalid`], with the line and column of the offending field in the file.
    #[error("{path}:{line}:{column}: field `{field}`: {reason}")]
    InvalidAt {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        reason: String,
    },
    /// A binary data file (model checkpoint, tokenizer) is truncated, corrupt or unsupported.
    #[error("{path}: {reason}")]
    Data { path: PathBuf, reason: String },
    /// The machine model rejected the compiled program or ran out of its budget; the message names
    /// the cycle, unit and instruction.
    /// (Not a `source`: the message already holds it, so error chains print it once.)
    #[error("simulation: {0}")]
    Simulation(crate::engine::EngineError),
    /// A command-line value is unusable.
    #[error("{flag}: {reason}")]
    Usage { flag: String, reason: String },
    /// The input is valid but would take more host memory than this machine has: refused before
    /// allocating, rather than aborting part-way.
    #[error("{what} needs {:.1} GB of memory; this machine has {:.1} GB available", *.needs as f64 / 1e9, *.available as f64 / 1e9)]
    Memory {
        what: String,
        needs: u64,
        available: u64,
    },
}

/// A semantic check that failed, before the file it came from is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct Invalid {
    /// Dotted path of the offending field, e.g. `chip.mem.slices`.
    pub field: String,
    /// Why the value cannot be right.
    pub reason: String,
}

impl Invalid {
    /// A failed check on `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Attach the file the value came from.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        Error::Invalid {
            path: path.into(),
            field: self.field,
            reason: self.reason,
        }
    }
}

/// Shorthand for results whose error is a user input problem.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::engine::EngineError> for Error {
    fn from(e: crate::engine::EngineError) -> Self {
        Error::Simulation(e)
    }
}
