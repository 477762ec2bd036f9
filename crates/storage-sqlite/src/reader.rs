//! Reading a chunked value piece by piece on a connection of its own, which holds one
//! read transaction (a WAL snapshot) for the reader's life: the reader yields the
//! value as it was when opened, whatever replaces it meanwhile, and blocks no other
//! call of the store.

use std::io::{self, Read};

use memory_fs_storage::{CHUNK, SafePath};
use rusqlite::Connection;

use crate::rows;

/// A reader of one chunked value.
pub(crate) struct ChunkReader {
    /// The reader's own connection, inside a read transaction begun before the value
    /// was looked up.
    conn: Connection,
    key: SafePath,
    /// Rowids and lengths of the chunks, in order.
    chunks: Vec<(i64, usize)>,
    /// The chunk being read and how far into it.
    chunk: usize,
    at: usize,
    /// Bytes read ahead from the current chunk (at most [`CHUNK`]), and where the
    /// next unread one is.
    buf: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    /// A reader of `chunks` at `key`, on `conn` (inside its read transaction).
    pub(crate) fn new(conn: Connection, key: SafePath, chunks: Vec<(i64, usize)>) -> Self {
        Self {
            conn,
            key,
            chunks,
            chunk: 0,
            at: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Reads the next piece of the value into `buf`; false at the end.
    fn fill(&mut self) -> memory_fs_storage::Result<bool> {
        while let Some(&(rowid, len)) = self.chunks.get(self.chunk) {
            if self.at < len {
                let n = (len - self.at).min(CHUNK);
                self.buf.resize(n, 0);
                rows::read_chunk_at(&self.conn, &self.key, rowid, self.at, &mut self.buf)?;
                self.at += n;
                self.pos = 0;
                return Ok(true);
            }
            self.chunk += 1;
            self.at = 0;
        }
        Ok(false)
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() && !self.fill().map_err(io::Error::from)? {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The connection is held only by this reader, one thread at a time.
impl std::fmt::Debug for ChunkReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkReader")
            .field("key", &self.key)
            .field("chunks", &self.chunks.len())
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}
