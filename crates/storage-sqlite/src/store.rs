//! `SqliteStorage`: the `Storage` trait on one SQLite table.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use memory_fs_storage::{
    Batch, Capabilities, Expect, Result, SafePath, Storage, StorageError, ValueReader, Version,
    Write,
};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};

use crate::error::{BACKEND, db};
use crate::reader::ChunkReader;
use crate::rows::{self, LIST_PREFIX, Values, key_of};
use crate::{Layout, SqliteConfig};

/// A key–value store in one SQLite table.
///
/// Versions ([`Storage::file_get`]) are [`Version::of_bytes`] of the value, in both
/// layouts. Conditional writes and batches run in one `IMMEDIATE` transaction, so they
/// are atomic against every other connection to the file, in this process or another.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    values: Values,
    read_only: bool,
}

impl SqliteStorage {
    /// A store in the database file at `path` (created if missing).
    ///
    /// # Errors
    /// A backend error if the database cannot be opened or set up.
    pub fn open(path: impl Into<std::path::PathBuf>) -> Result<Self> {
        Self::with_config(SqliteConfig::file(path))
    }

    /// A store in a private in-memory database.
    ///
    /// # Errors
    /// A backend error if SQLite cannot be set up.
    pub fn in_memory() -> Result<Self> {
        Self::with_config(SqliteConfig::in_memory())
    }

    /// A store with the given options.
    ///
    /// A file this process cannot write is opened read-only (as is any file with
    /// [`SqliteConfig::read_only`]): reads work, writes fail with
    /// [`ErrorKind::Unsupported`](memory_fs_storage::ErrorKind::Unsupported) saying so,
    /// and [`read_only`](Self::read_only) tells.
    ///
    /// # Errors
    /// A backend error if the database cannot be opened or set up;
    /// [`ErrorKind::Unsupported`](memory_fs_storage::ErrorKind::Unsupported) for a
    /// read-only file without a memory-fs table, or a chunk size out of range.
    pub fn with_config(config: SqliteConfig) -> Result<Self> {
        let opened = crate::open::open(&config)?;
        Ok(Self {
            conn: Mutex::new(opened.conn),
            path: config.path,
            values: opened.values,
            read_only: opened.read_only,
        })
    }

    /// The table layout in use.
    pub fn layout(&self) -> Layout {
        self.values.layout
    }

    /// Whether the store was opened read-only (the file is not writable, or
    /// [`SqliteConfig::read_only`] asked for it).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Every row the store cannot read, which listings leave out and reads refuse:
    /// a key that is not text or not a valid key, a value that is not a BLOB, a chunked
    /// value with chunks missing, chunks that belong to no value. One
    /// [`StorageError::InvalidData`] per row, naming it (its key, or the cell's text
    /// or SQL literal, such as `x'2f65'` for a BLOB) and saying what is wrong, so a
    /// check of the whole store can report them.
    ///
    /// Reads every row: meant for verification, not for every call.
    ///
    /// # Errors
    /// A backend error if SQLite fails.
    pub fn unreadable_rows(&self) -> Result<Vec<StorageError>> {
        rows::unreadable_rows(&self.conn(), self.values.layout)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: every
        // statement is atomic, and transactions roll back when dropped.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuses a write to a store opened read-only.
    fn writable(&self) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        let file = self
            .path
            .as_ref()
            .map_or_else(String::new, |p| format!(" to {}", p.display()));
        Err(StorageError::Unsupported {
            backend: BACKEND,
            operation: format!("writes{file}: the store was opened read-only"),
        })
    }

    /// Runs `body` in one `IMMEDIATE` transaction: the write lock is taken first (the
    /// busy timeout waits for it), so the reads inside see what the writes replace.
    fn immediate<T>(&self, body: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.writable()?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db(None, e))?;
        let out = body(&tx)?;
        tx.commit().map_err(|e| db(None, e))?;
        Ok(out)
    }

    /// A reader of the chunked value at `key` on a connection of its own, in a read
    /// transaction that keeps the snapshot the value was found in (WAL readers never
    /// wait for writers, nor writers for them). `None` when the key holds nothing.
    fn chunk_reader(
        &self,
        file: &std::path::Path,
        key: &SafePath,
    ) -> Result<Option<ValueReader<'_>>> {
        let err = |e| db(Some(key.as_str()), e);
        let conn = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(crate::open::BUSY_TIMEOUT).map_err(err)?;
        // Read through the page cache, not a memory map, so a long value read does not
        // keep its pages resident.
        conn.execute_batch("PRAGMA mmap_size = 0; BEGIN")
            .map_err(err)?;
        Ok(match rows::stored(&conn, key)? {
            None => None,
            Some(rows::Stored::Inline(bytes)) => Some(Box::new(std::io::Cursor::new(bytes))),
            Some(rows::Stored::Chunked(chunks)) => {
                Some(Box::new(ChunkReader::new(conn, key.clone(), chunks)))
            }
        })
    }

    /// The query plan of the prefix listing, for checking it uses the index.
    ///
    /// # Errors
    /// A backend error if SQLite fails.
    pub fn explain_prefix_listing(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {LIST_PREFIX}"))
            .map_err(|e| db(None, e))?;
        let rows = stmt
            .query_map(params!["a", "a/", "a0"], |r| r.get::<_, String>(3))
            .map_err(|e| db(None, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| db(None, e))
    }
}

/// The version of the value at `key`, read inside the caller's transaction.
fn version(conn: &Connection, layout: Layout, key: &SafePath) -> Result<Option<Version>> {
    Ok(rows::read(conn, layout, key)?.map(|bytes| Version::of_bytes(&bytes)))
}

impl Storage for SqliteStorage {
    /// SQLite's data version, read on a connection of its own every 20 ms: it
    /// changes when any other connection commits (this store's own included, from any
    /// process). An in-memory database has no other connection: `None`, poll.
    fn watch_keys(&self, _prefix: &SafePath) -> Result<Option<memory_fs_storage::KeyWatch>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db(None, e))?;
        let version =
            |c: &Connection| c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0));
        let mut last = version(&conn).map_err(|e| db(None, e))?;
        Ok(Some(memory_fs_storage::KeyWatch::new(move |timeout| {
            let deadline = std::time::Instant::now() + timeout;
            loop {
                match version(&conn) {
                    Ok(now) if now == last => {}
                    Ok(now) => {
                        last = now;
                        return true;
                    }
                    // A look will say what is wrong.
                    Err(_) => return true,
                }
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return false;
                }
                std::thread::sleep(left.min(std::time::Duration::from_millis(20)));
            }
        })))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_batch(true)
            .with_atomic_create(true)
            .with_conditional_write(true)
            .with_nested_keys(true)
            .with_persistent(self.path.is_some())
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        if self.values.layout == Layout::Native && !self.values.needs_transaction(data) {
            // One statement: its own transaction, the cheapest save there is.
            self.writable()?;
            return rows::put(&self.conn(), self.values, path, data);
        }
        self.immediate(|tx| rows::put(tx, self.values, path, data))
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        let created = self.immediate(|tx| rows::create(tx, self.values, path, data))?;
        if created {
            Ok(())
        } else {
            Err(StorageError::AlreadyExists {
                path: path.to_string(),
            })
        }
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        rows::read(&self.conn(), self.values.layout, path)
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        rows::exists(&self.conn(), self.values.layout, path)
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        self.writable()?;
        // One statement; the trigger drops a chunked value's chunks inside it.
        rows::delete(&self.conn(), self.values.layout, path)
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let conn = self.conn();
        let err = |e| db(prefix.map(SafePath::as_str), e);
        let sql = self.values.layout.sql();
        let mut out = Vec::new();
        // Rows whose path is not a valid key (another program's) are left out;
        // `unreadable_rows` names them.
        let mut collect = |mut rows: rusqlite::Rows<'_>| -> rusqlite::Result<()> {
            while let Some(row) = rows.next()? {
                if let Some(key) = key_of(row.get_ref(0)?) {
                    out.push(key);
                }
            }
            Ok(())
        };
        match prefix {
            None => {
                let mut stmt = conn.prepare_cached(sql.list_all).map_err(err)?;
                collect(stmt.query([]).map_err(err)?).map_err(err)?;
            }
            Some(p) => {
                let mut stmt = conn.prepare_cached(sql.list_prefix).map_err(err)?;
                let rows = stmt
                    .query(params![p.as_str(), format!("{p}/"), format!("{p}0")])
                    .map_err(err)?;
                collect(rows).map_err(err)?;
            }
        }
        Ok(out)
    }

    fn clear(&self) -> Result<()> {
        let clear = self.values.layout.sql().clear;
        self.immediate(|tx| tx.execute_batch(clear).map_err(|e| db(None, e)))
    }

    fn file_get(&self, path: &SafePath) -> Result<Option<(Vec<u8>, Version)>> {
        Ok(self.file_bytes(path)?.map(|bytes| {
            let version = Version::of_bytes(&bytes);
            (bytes, version)
        }))
    }

    fn file_save_if(&self, path: &SafePath, data: &[u8], expect: &Expect) -> Result<Version> {
        self.immediate(|tx| {
            expect.check(path, version(tx, self.values.layout, path)?.as_ref())?;
            rows::put(tx, self.values, path, data)
        })?;
        Ok(Version::of_bytes(data))
    }

    fn apply(&self, batch: &Batch<'_>) -> Result<()> {
        self.immediate(|tx| {
            for (path, expect) in batch.checks() {
                expect.check(path, version(tx, self.values.layout, path)?.as_ref())?;
            }
            for write in batch.writes() {
                match write {
                    Write::Put { path, data } => rows::put(tx, self.values, path, data)?,
                    Write::Delete { path } => {
                        rows::delete(tx, self.values.layout, path)?;
                    }
                    Write::Copy { from, to } => {
                        if !rows::copy(tx, self.values, from, to)? {
                            return Err(StorageError::NotFound {
                                path: from.to_string(),
                            });
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Native layout: writes chunk rows as the bytes arrive, inside one `IMMEDIATE`
    /// transaction that a failing reader rolls back (the old value stays). Other calls
    /// on this store wait for the save, as for any write; other connections read on.
    /// The Python layout keeps one BLOB per value, so its value is read whole first.
    fn file_save_from(&self, path: &SafePath, reader: &mut dyn std::io::Read) -> Result<u64> {
        if self.values.layout == Layout::Python {
            let mut data = Vec::new();
            reader
                .read_to_end(&mut data)
                .map_err(|e| StorageError::input(path, e))?;
            self.file_save(path, &data)?;
            return Ok(data.len() as u64);
        }
        self.immediate(|tx| rows::put_from(tx, self.values, path, reader))
    }

    /// A value in one row is read whole (it is at most a chunk). A chunked value in a
    /// database file is read a piece at a time on a connection of the reader's own
    /// (see `chunk_reader`); in an in-memory database, which
    /// holds every value in memory anyway and cannot be reached from a second
    /// connection, it is read whole, under one lock.
    fn file_reader(&self, path: &SafePath) -> Result<Option<ValueReader<'_>>> {
        if self.values.layout == Layout::Native
            && let Some(file) = &self.path
        {
            let chunked = {
                let conn = self.conn();
                match rows::stored(&conn, path)? {
                    None => return Ok(None),
                    Some(rows::Stored::Inline(bytes)) => {
                        return Ok(Some(Box::new(std::io::Cursor::new(bytes))));
                    }
                    Some(rows::Stored::Chunked(_)) => true,
                }
            };
            if chunked {
                return self.chunk_reader(file, path);
            }
        }
        Ok(self
            .file_bytes(path)?
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as ValueReader<'_>))
    }

    /// Native layout: reads only the chunks that hold the range, in one transaction.
    fn file_range(&self, path: &SafePath, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        if self.values.layout == Layout::Native {
            let conn = self.conn();
            let tx = conn
                .unchecked_transaction()
                .map_err(|e| db(Some(path.as_str()), e))?;
            let out = rows::range(&tx, path, offset, len)?;
            tx.commit().map_err(|e| db(Some(path.as_str()), e))?;
            return Ok(out);
        }
        Ok(self.file_bytes(path)?.map(|mut bytes| {
            let range = memory_fs_storage::clip_range(bytes.len(), offset, len);
            bytes.truncate(range.end);
            bytes.drain(..range.start);
            bytes
        }))
    }

    /// From the row: the recorded length of a chunked value, `length()` of a BLOB.
    fn file_size(&self, path: &SafePath) -> Result<Option<u64>> {
        rows::size(&self.conn(), self.values.layout, path)
    }

    fn file_copy(&self, from: &SafePath, to: &SafePath) -> Result<bool> {
        self.immediate(|tx| rows::copy(tx, self.values, from, to))
    }

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        self.immediate(|tx| {
            items
                .iter()
                .try_for_each(|(path, data)| rows::put(tx, self.values, path, data))
        })
    }

    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        self.immediate(|tx| {
            let mut n = 0;
            for path in paths {
                // A Python table may hold a path twice; it is still one key.
                n += usize::from(rows::delete(tx, self.values.layout, path)?);
            }
            Ok(n)
        })
    }
}
