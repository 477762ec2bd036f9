//! File content: dense bytes for ordinary files, fixed-size chunks for sparse ones.
//!
//! Most files are written front to back, so they are one `Vec<u8>` whose logical
//! length may run past the stored bytes (a trailing hole reads as zeros). A write that
//! would leave a large gap switches the file to chunks in a `BTreeMap`, where holes
//! cost nothing: truncating to 10^15 bytes, or writing one byte near there, allocates
//! at most one chunk.

use std::collections::BTreeMap;

/// Size of one chunk of a sparse file.
const CHUNK: u64 = 64 * 1024;
/// A write leaving a gap larger than this after the stored bytes makes the file sparse.
const DENSE_GAP: u64 = 1024 * 1024;

/// The bytes of a regular file.
#[derive(Debug, Default)]
pub(crate) struct Content {
    /// Logical length.
    len: u64,
    repr: Repr,
}

#[derive(Debug)]
enum Repr {
    /// `bytes` are the first `bytes.len()` bytes; the rest up to `len` are zeros.
    Dense(Vec<u8>),
    /// Chunk index → `CHUNK` bytes; absent chunks are zeros.
    Sparse(BTreeMap<u64, Box<[u8]>>),
}

impl Default for Repr {
    fn default() -> Self {
        Self::Dense(Vec::new())
    }
}

impl Content {
    /// Logical length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Bytes of memory holding content (holes excluded).
    pub(crate) fn allocated(&self) -> u64 {
        match &self.repr {
            Repr::Dense(v) => v.len() as u64,
            Repr::Sparse(map) => map.len() as u64 * CHUNK,
        }
    }

    /// How many more bytes of content memory a write of `len` bytes at `offset` needs.
    pub(crate) fn growth_for_write(&self, offset: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        let end = offset.saturating_add(len);
        match &self.repr {
            Repr::Dense(v) if !self.goes_sparse(offset) => end.saturating_sub(v.len() as u64),
            Repr::Dense(_) => {
                // Switching to chunks: every chunk touched by old bytes or this write.
                let old = self.allocated().div_ceil(CHUNK);
                let new_chunks = chunks_in(offset, end).filter(|c| *c >= old).count() as u64;
                (old * CHUNK).saturating_sub(self.allocated()) + new_chunks * CHUNK
            }
            Repr::Sparse(map) => {
                chunks_in(offset, end)
                    .filter(|c| !map.contains_key(c))
                    .count() as u64
                    * CHUNK
            }
        }
    }

    fn goes_sparse(&self, offset: u64) -> bool {
        match &self.repr {
            Repr::Dense(v) => offset > v.len() as u64 + DENSE_GAP,
            Repr::Sparse(_) => true,
        }
    }

    /// Copies bytes at `offset` into `buf`; returns how many (0 at or past the end).
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = usize::try_from((self.len - offset).min(buf.len() as u64)).unwrap_or(buf.len());
        let out = &mut buf[..n];
        match &self.repr {
            Repr::Dense(v) => {
                let stored = v.len() as u64;
                let have = if offset < stored {
                    let k = usize::try_from((stored - offset).min(n as u64)).unwrap_or(n);
                    let start = usize::try_from(offset).unwrap_or(usize::MAX);
                    out[..k].copy_from_slice(&v[start..start + k]);
                    k
                } else {
                    0
                };
                out[have..].fill(0);
            }
            Repr::Sparse(map) => {
                let mut done = 0usize;
                while done < n {
                    let pos = offset + done as u64;
                    let (chunk, within) = (pos / CHUNK, (pos % CHUNK) as usize);
                    let take = (CHUNK as usize - within).min(n - done);
                    let dst = &mut out[done..done + take];
                    match map.get(&chunk) {
                        Some(bytes) => dst.copy_from_slice(&bytes[within..within + take]),
                        None => dst.fill(0),
                    }
                    done += take;
                }
            }
        }
        n
    }

    /// Appends the whole content to `out` (holes as zeros), writing each byte once.
    ///
    /// The caller reserves `len()` bytes first, fallibly, so this never allocates.
    pub(crate) fn append_to(&self, out: &mut Vec<u8>) {
        let Ok(len) = usize::try_from(self.len) else {
            return;
        };
        let end = out.len() + len;
        match &self.repr {
            Repr::Dense(v) => out.extend_from_slice(&v[..v.len().min(len)]),
            Repr::Sparse(map) => {
                let start = out.len();
                for (&chunk, bytes) in map {
                    let Ok(at) = usize::try_from(chunk * CHUNK) else {
                        break;
                    };
                    if at >= len {
                        break;
                    }
                    out.resize(start + at, 0);
                    out.extend_from_slice(&bytes[..bytes.len().min(len - at)]);
                }
            }
        }
        out.resize(end, 0);
    }

    /// Writes `data` at `offset`, growing the file as needed.
    pub(crate) fn write_at(&mut self, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.goes_sparse(offset) {
            self.make_sparse();
        }
        let end = offset + data.len() as u64;
        match &mut self.repr {
            Repr::Dense(v) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let end_us = start + data.len();
                if v.len() < end_us {
                    if v.len() < start {
                        v.resize(start, 0);
                    }
                    let before = v.len();
                    let overlap = before - start;
                    v[start..].copy_from_slice(&data[..overlap]);
                    v.reserve(data.len() - overlap);
                    populate_ahead(v, before, end_us);
                    v.extend_from_slice(&data[overlap..]);
                } else {
                    v[start..end_us].copy_from_slice(data);
                }
            }
            Repr::Sparse(map) => {
                let mut done = 0usize;
                while done < data.len() {
                    let pos = offset + done as u64;
                    let (chunk, within) = (pos / CHUNK, (pos % CHUNK) as usize);
                    let take = (CHUNK as usize - within).min(data.len() - done);
                    let bytes = map
                        .entry(chunk)
                        .or_insert_with(|| vec![0; CHUNK as usize].into_boxed_slice());
                    bytes[within..within + take].copy_from_slice(&data[done..done + take]);
                    done += take;
                }
            }
        }
        self.len = self.len.max(end);
    }

    /// Sets the logical length; growing adds a hole, shrinking frees what lies past it.
    pub(crate) fn set_len(&mut self, len: u64) {
        match &mut self.repr {
            Repr::Dense(v) => {
                if (v.len() as u64) > len {
                    v.truncate(usize::try_from(len).unwrap_or(usize::MAX));
                    if v.capacity() > 2 * v.len() + 4096 {
                        v.shrink_to_fit();
                    }
                }
            }
            Repr::Sparse(map) => {
                let keep = len.div_ceil(CHUNK);
                map.split_off(&keep);
                let within = (len % CHUNK) as usize;
                if within != 0
                    && let Some(last) = map.get_mut(&(len / CHUNK))
                {
                    last[within..].fill(0);
                }
            }
        }
        self.len = len;
    }

    fn make_sparse(&mut self) {
        if let Repr::Dense(v) = &mut self.repr {
            let mut map = BTreeMap::new();
            for (i, piece) in v.chunks(CHUNK as usize).enumerate() {
                let mut chunk = vec![0; CHUNK as usize].into_boxed_slice();
                chunk[..piece.len()].copy_from_slice(piece);
                map.insert(i as u64, chunk);
            }
            self.repr = Repr::Sparse(map);
        }
    }
}

/// How far ahead of a growing file's end its memory is made resident at once.
const POPULATE_STEP: usize = 2 << 20;

/// A file growing from `before` to `after` bytes: when it crosses a 2 MiB boundary,
/// the next 2 MiB of its buffer are made resident in one call (Linux's
/// `MADV_POPULATE_WRITE`). Otherwise every fresh 4 KiB page costs a fault on first
/// write, which the profile of a streamed write through FUSE puts at nearly half of
/// the server's time. At most 2 MiB past the end is made resident early, and only
/// inside memory the buffer already holds.
#[cfg(target_os = "linux")]
fn populate_ahead(v: &Vec<u8>, before: usize, after: usize) {
    if before / POPULATE_STEP == after / POPULATE_STEP && before != 0 {
        return;
    }
    const PAGE: usize = 4096;
    let base = v.as_ptr() as usize;
    let from = (base + after).next_multiple_of(PAGE);
    let to = ((base + (after / POPULATE_STEP + 2) * POPULATE_STEP).min(base + v.capacity()))
        & !(PAGE - 1);
    if to > from {
        // SAFETY: the range lies inside the vector's allocation (below its capacity),
        // and MADV_POPULATE_WRITE only makes those pages resident; it never changes
        // what they hold. A kernel without it refuses, which changes nothing.
        unsafe {
            libc::madvise(
                from as *mut libc::c_void,
                to - from,
                libc::MADV_POPULATE_WRITE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn populate_ahead(_v: &Vec<u8>, _before: usize, _after: usize) {}

fn chunks_in(offset: u64, end: u64) -> impl Iterator<Item = u64> {
    let first = offset / CHUNK;
    let last = if end == 0 { 0 } else { (end - 1) / CHUNK + 1 };
    first..last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(c: &Content) -> Vec<u8> {
        let mut buf = vec![0xAA; usize::try_from(c.len()).expect("small")];
        let n = c.read_at(0, &mut buf);
        buf.truncate(n);
        buf
    }

    #[test]
    fn dense_write_read_and_holes() {
        let mut c = Content::default();
        c.write_at(0, b"hello");
        c.write_at(8, b"xy");
        assert_eq!(read_all(&c), b"hello\0\0\0xy");
        c.set_len(3);
        assert_eq!(read_all(&c), b"hel");
        c.set_len(6);
        assert_eq!(read_all(&c), b"hel\0\0\0");
        assert_eq!(c.allocated(), 3);
    }

    #[test]
    fn huge_sparse_file_allocates_little() {
        let mut c = Content::default();
        c.write_at(0, b"start");
        c.set_len(1_000_000_000_000_000);
        assert_eq!(c.allocated(), 5);
        let growth = c.growth_for_write(999_999_999_999_990, 3);
        assert!(growth <= 2 * CHUNK, "growth {growth}");
        c.write_at(999_999_999_999_990, b"end");
        assert!(c.allocated() <= 2 * CHUNK);
        let mut buf = [1u8; 20];
        assert_eq!(c.read_at(999_999_999_999_985, &mut buf), 15);
        assert_eq!(&buf[..15], b"\0\0\0\0\0end\0\0\0\0\0\0\0");
        let mut head = [0u8; 6];
        assert_eq!(c.read_at(0, &mut head), 6);
        assert_eq!(&head, b"start\0");
    }

    #[test]
    fn append_matches_read_at() {
        let mut c = Content::default();
        c.write_at(3, b"abc");
        c.set_len(10);
        let mut out = b"pre".to_vec();
        c.append_to(&mut out);
        assert_eq!(out, b"pre\0\0\0abc\0\0\0\0");
        c.write_at(5 * DENSE_GAP + 7, b"xyz");
        c.set_len(5 * DENSE_GAP + 20);
        let mut out = Vec::new();
        c.append_to(&mut out);
        assert_eq!(out, read_all(&c));
    }

    #[test]
    fn sparse_shrink_zeroes_the_tail() {
        let mut c = Content::default();
        c.write_at(10 * DENSE_GAP, &[7u8; 100]);
        c.set_len(10 * DENSE_GAP + 50);
        c.set_len(10 * DENSE_GAP + 100);
        let mut buf = [9u8; 100];
        assert_eq!(c.read_at(10 * DENSE_GAP, &mut buf), 100);
        assert_eq!(&buf[..50], &[7u8; 50]);
        assert_eq!(&buf[50..], &[0u8; 50]);
    }

    #[test]
    fn growth_matches_allocation() {
        let mut c = Content::default();
        for (off, len) in [
            (0u64, 10u64),
            (5, 10),
            (100, 1),
            (3 * DENSE_GAP, 70_000),
            (0, 200_000),
        ] {
            let before = c.allocated();
            let predicted = c.growth_for_write(off, len);
            c.write_at(off, &vec![1u8; usize::try_from(len).expect("small")]);
            assert_eq!(c.allocated() - before, predicted, "write {len} at {off}");
        }
    }
}
