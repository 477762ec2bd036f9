//! `File`: a descriptor wrapped in `std::io::{Read, Write, Seek}`, closed on drop.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::{Fd, MemoryFileSystem, OpenFlags, Result, Stat, Whence};

/// An open file of a [`MemoryFileSystem`], usable wherever `std::io` traits are.
///
/// Reads and writes go straight to the core (no copy beyond the caller's buffer), so
/// streaming a large file in chunks takes time linear in its size. Wrap it in a
/// [`std::io::BufReader`] for line-oriented reading.
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
/// use memory_fs_posix::{MemoryFileSystem, OpenFlags};
///
/// let fs = MemoryFileSystem::new();
/// let mut file = fs.open_file("/log", OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE, 0o644)?;
/// file.write_all(b"line 1\nline 2\n")?;
/// file.seek(SeekFrom::Start(0))?;
/// let mut text = String::new();
/// file.read_to_string(&mut text)?;
/// assert_eq!(text, "line 1\nline 2\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct File {
    fs: MemoryFileSystem,
    fd: Fd,
}

impl MemoryFileSystem {
    /// Opens `path` as a [`File`] (see [`open`](Self::open) for flags and errors).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_file(&self, path: &str, flags: OpenFlags, mode: u32) -> Result<File> {
        let fd = self.open(path, flags, mode)?;
        Ok(File {
            fs: self.clone(),
            fd,
        })
    }
}

impl File {
    /// The descriptor behind this file (closed when the `File` is dropped).
    pub fn fd(&self) -> Fd {
        self.fd
    }

    /// Status of the file.
    ///
    /// # Errors
    /// As [`MemoryFileSystem::fstat`].
    pub fn metadata(&self) -> Result<Stat> {
        self.fs.fstat(self.fd)
    }

    /// Truncates or extends the file (extension is a hole that reads as zeros).
    ///
    /// # Errors
    /// As [`MemoryFileSystem::ftruncate`].
    pub fn set_len(&self, len: u64) -> Result<()> {
        self.fs.ftruncate(self.fd, len)
    }

    /// Does nothing: the data is already in the tree. Present for parity with `std::fs::File`.
    ///
    /// # Errors
    /// Never.
    pub fn sync_all(&self) -> Result<()> {
        Ok(())
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fs.read(self.fd, buf)?)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.fs.write(self.fd, buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (offset, whence) = match pos {
            SeekFrom::Start(n) => (
                i64::try_from(n)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?,
                Whence::Set,
            ),
            SeekFrom::Current(n) => (n, Whence::Cur),
            SeekFrom::End(n) => (n, Whence::End),
        };
        Ok(self.fs.lseek(self.fd, offset, whence)?)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // The descriptor is ours alone, so closing it can only fail if the tree is
        // corrupt; nothing useful can be done about that in a destructor.
        let _ = self.fs.close(self.fd);
    }
}
