//! Streaming values: the reader type handed out by [`Storage::file_reader`] and the
//! chunk size providers stream in.
//!
//! [`Storage::file_reader`]: crate::Storage::file_reader

use std::io::{self, Read};

/// A reader of one stored value, as [`Storage::file_reader`](crate::Storage::file_reader)
/// hands it out.
pub type ValueReader<'a> = Box<dyn Read + Send + 'a>;

/// The size of the pieces a provider reads and writes a streamed value in: large
/// enough that per-call costs vanish beside the bytes, small enough that a streamed
/// save holds a bounded amount of memory.
pub const CHUNK: usize = 1 << 20;

/// Fills `buf` from `reader` as far as the reader goes, and returns how many bytes it
/// holds (fewer than `buf.len()` only at the end of the reader). Interrupted reads
/// are retried.
///
/// ```
/// let mut buf = [0; 4];
/// assert_eq!(memory_fs_storage::read_full(&mut &b"abcdef"[..], &mut buf)?, 4);
/// assert_eq!(memory_fs_storage::read_full(&mut &b"ab"[..], &mut buf)?, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// The reader's first error other than [`io::ErrorKind::Interrupted`].
pub fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
