//! Temporary files and directories with unique names (`mkstemp`, `mkdtemp`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Errno, Fd, MemoryFileSystem, OpenFlags, PosixError, Result};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ATTEMPTS: usize = 1000;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Six random characters from `[A-Za-z0-9]` (not for cryptography: names only need
/// to differ, and creation is exclusive anyway).
fn suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    (0..6)
        .map(|_| {
            // splitmix64 step
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            char::from(ALPHABET[(z % ALPHABET.len() as u64) as usize])
        })
        .collect()
}

impl MemoryFileSystem {
    /// Creates and opens (read-write) a new file named `prefix` plus six random
    /// characters, with mode 0600 (less the umask) and `EXCL` semantics.
    ///
    /// # Errors
    /// The errors of [`open`](Self::open) for the directory part; `EEXIST` if no free
    /// name was found after many attempts.
    ///
    /// ```
    /// use memory_fs_posix::MemoryFileSystem;
    /// let fs = MemoryFileSystem::new();
    /// fs.mkdir("/tmp", 0o1777)?;
    /// let (fd, path) = fs.mkstemp("/tmp/upload-")?;
    /// assert!(path.starts_with("/tmp/upload-") && path.len() == "/tmp/upload-".len() + 6);
    /// assert_eq!(fs.fstat(fd)?.permissions(), 0o600);
    /// # Ok::<(), memory_fs_posix::PosixError>(())
    /// ```
    pub fn mkstemp(&self, prefix: &str) -> Result<(Fd, String)> {
        let flags = OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCL;
        for _ in 0..ATTEMPTS {
            let path = format!("{prefix}{}", suffix());
            match self.open(&path, flags, 0o600) {
                Ok(fd) => return Ok((fd, path)),
                Err(e) if e.errno() == Errno::EEXIST => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PosixError::new(Errno::EEXIST, "mkstemp", Some(prefix)))
    }

    /// Creates a new directory named `prefix` plus six random characters, with mode
    /// 0700 (less the umask), and returns its path.
    ///
    /// # Errors
    /// As [`mkstemp`](Self::mkstemp), with the errors of [`mkdir`](Self::mkdir).
    pub fn mkdtemp(&self, prefix: &str) -> Result<String> {
        for _ in 0..ATTEMPTS {
            let path = format!("{prefix}{}", suffix());
            match self.mkdir(&path, 0o700) {
                Ok(()) => return Ok(path),
                Err(e) if e.errno() == Errno::EEXIST => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PosixError::new(Errno::EEXIST, "mkdtemp", Some(prefix)))
    }
}
