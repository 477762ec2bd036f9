//! `CliError`: one line for the user, a hint, and the exit code that goes with it.

use std::fmt;
use std::process::ExitCode;

use memory_fs::{Error, ErrorKind, FileError};

/// The exit codes, as documented in `memory-fs --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// The file, key or version asked for does not exist.
    NotFound = 1,
    /// Bad arguments, a bad store URL, or input that does not fit the file type.
    Usage = 2,
    /// Stored data failed its integrity check (hash mismatch, corrupt config or metadata).
    Integrity = 3,
    /// The store or the local filesystem failed.
    Failure = 4,
    /// Standard output was closed by its reader (`memory-fs ls | head`): stop quietly.
    BrokenPipe = 141,
}

/// An error the command line reports.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl CliError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    pub(crate) fn io(action: &str, path: &str, e: &std::io::Error) -> Self {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            Code::NotFound
        } else {
            Code::Failure
        };
        Self::new(code, format!("cannot {action} {path}: {e}"))
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code as u8)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        let code = match e.kind() {
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::InvalidInput | ErrorKind::Unsupported | ErrorKind::AlreadyExists => {
                Code::Usage
            }
            ErrorKind::Integrity => Code::Integrity,
            _ => Code::Failure,
        };
        let hint = match &e {
            Error::UnknownScheme { .. } | Error::InvalidUrl { .. } => Some(
                "store URLs: memory://, file:///abs/dir, file:rel/dir, sqlite://file.db, sqlite::memory:, s3://bucket/prefix?endpoint=URL",
            ),
            Error::Layer {
                layer: "encrypt", ..
            } => Some(
                "keys come from env:VAR (64 hex digits or base64 of 32 bytes) or file:PATH, as in --store 'sqlite://app.db?encrypt=env:MEMORY_FS_KEY'",
            ),
            Error::Layer { .. } => Some(
                "layers in the store URL: ?encrypt=env:VAR, &compress=zstd (or zstd:LEVEL), &audit=LABEL",
            ),
            Error::Open { .. } => Some(
                "check the path or endpoint, and for s3:// the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables",
            ),
            Error::NotFound { .. } => Some(
                "`memory-fs ls` lists the ids in this store; `memory-fs reindex` adds files another program wrote",
            ),
            Error::File(FileError::Encoding { .. } | FileError::Serialization { .. }) => Some(
                "the input does not fit the file type; pass another --type (binary takes any bytes)",
            ),
            Error::File(FileError::CorruptConfig { .. } | FileError::CorruptMetadata { .. }) => {
                Some(
                    "`memory-fs verify` names every damaged key; `memory-fs ls --raw` shows the keys",
                )
            }
            Error::File(FileError::CorruptRecord { .. }) => {
                Some("`memory-fs reindex` rebuilds the records from the configs")
            }
            Error::File(FileError::HashMismatch { .. }) => {
                Some("`memory-fs verify` checks every file of the store")
            }
            _ if e.kind() == ErrorKind::Busy => {
                Some("another writer is changing the file: try again")
            }
            _ => None,
        };
        let err = Self::new(code, message);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<FileError> for CliError {
    fn from(e: FileError) -> Self {
        Error::from(e).into()
    }
}
