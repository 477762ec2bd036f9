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

/// The part `offset..offset + len` of a value of `total` bytes, clipped to it: what a
/// range read of that value returns (empty past its end).
///
/// ```
/// use memory_fs_storage::clip_range;
/// assert_eq!(clip_range(10, 2, 3), 2..5);
/// assert_eq!(clip_range(10, 8, 100), 8..10);
/// assert_eq!(clip_range(10, 20, 1), 10..10);
/// assert_eq!(clip_range(10, 3, u64::MAX), 3..10);
/// ```
pub fn clip_range(total: usize, offset: u64, len: u64) -> std::ops::Range<usize> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
    let end = start
        .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
        .min(total);
    start..end
}

/// A blocking reader over chunks pulled one at a time from `next` (a channel, a
/// stream driven to its next item): each chunk is handed out as the caller's buffers
/// ask, and the end of the chunks is the end of the reader.
///
/// ```
/// use std::io::Read as _;
/// let mut chunks = vec![Ok(b"lo".to_vec()), Ok(b"hel".to_vec())];
/// let mut reader = memory_fs_storage::ChunkReader::new(move || chunks.pop());
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ChunkReader<F, C> {
    next: F,
    current: Option<C>,
    at: usize,
}

impl<F, C> ChunkReader<F, C>
where
    F: FnMut() -> Option<io::Result<C>>,
    C: AsRef<[u8]>,
{
    /// A reader of the chunks `next` gives (`None`: no more).
    pub fn new(next: F) -> Self {
        Self {
            next,
            current: None,
            at: 0,
        }
    }
}

impl<F, C> Read for ChunkReader<F, C>
where
    F: FnMut() -> Option<io::Result<C>>,
    C: AsRef<[u8]>,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(chunk) = &self.current {
                let rest = &chunk.as_ref()[self.at..];
                if !rest.is_empty() {
                    let n = buf.len().min(rest.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.at += n;
                    return Ok(n);
                }
            }
            match (self.next)() {
                Some(chunk) => {
                    self.current = Some(chunk?);
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
    }
}
