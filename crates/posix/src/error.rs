//! `Errno` and `PosixError`: every failure of the core, with Linux's error numbers.

use std::fmt;

macro_rules! errnos {
    ($($name:ident = $num:literal, $text:literal;)*) => {
        /// A POSIX error number, with the value Linux uses for it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(clippy::upper_case_acronyms)]
        #[non_exhaustive]
        pub enum Errno {
            $(#[doc = $text] $name,)*
        }

        impl Errno {
            /// The Linux number of this error (`ENOENT` is 2).
            ///
            /// ```
            /// use memory_fs_posix::Errno;
            /// assert_eq!(Errno::ENOENT.raw(), 2);
            /// ```
            pub const fn raw(self) -> i32 {
                match self { $(Self::$name => $num,)* }
            }

            /// The error with Linux number `raw`, if the core knows it.
            ///
            /// ```
            /// use memory_fs_posix::Errno;
            /// assert_eq!(Errno::from_raw(13), Some(Errno::EACCES));
            /// assert_eq!(Errno::from_raw(-1), None);
            /// ```
            pub const fn from_raw(raw: i32) -> Option<Self> {
                match raw { $($num => Some(Self::$name),)* _ => None }
            }

            /// The symbolic name, such as `"ENOENT"`.
            pub const fn name(self) -> &'static str {
                match self { $(Self::$name => stringify!($name),)* }
            }

            /// The usual description, such as `"No such file or directory"`.
            pub const fn description(self) -> &'static str {
                match self { $(Self::$name => $text,)* }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    EMFILE = 24, "Too many open files";
    ETXTBSY = 26, "Text file busy";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    EOVERFLOW = 75, "Value too large for defined data type";
    EOPNOTSUPP = 95, "Operation not supported";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed operation: the errno, the path it concerned (if any) and a message.
///
/// ```
/// use memory_fs_posix::{Errno, MemoryFileSystem};
///
/// let fs = MemoryFileSystem::new();
/// let err = fs.stat("/missing").unwrap_err();
/// assert_eq!(err.errno(), Errno::ENOENT);
/// assert_eq!(err.path(), Some("/missing"));
/// assert_eq!(err.to_string(), "ENOENT: No such file or directory: stat /missing");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {}: {message}", errno.description())]
pub struct PosixError {
    errno: Errno,
    path: Option<String>,
    message: String,
}

impl PosixError {
    /// An error for operation `op` on `path`.
    pub fn new(errno: Errno, op: &str, path: Option<&str>) -> Self {
        let message = match path {
            Some(p) => format!("{op} {p}"),
            None => op.to_owned(),
        };
        Self {
            errno,
            path: path.map(str::to_owned),
            message,
        }
    }

    /// An error whose message says more than the operation and path (a size, a limit).
    pub(crate) fn detailed(errno: Errno, path: &str, message: String) -> Self {
        Self {
            errno,
            path: Some(path.to_owned()),
            message,
        }
    }

    /// The error number.
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The path the operation concerned, if it had one.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The operation and its argument, in words.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<PosixError> for std::io::Error {
    fn from(err: PosixError) -> Self {
        let kind = std::io::Error::from_raw_os_error(err.errno.raw()).kind();
        std::io::Error::new(kind, err)
    }
}

/// The result of every core operation.
pub type Result<T> = std::result::Result<T, PosixError>;
