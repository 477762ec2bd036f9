//! Rows and values: the SQL of both layouts, reading and writing one value (in chunks
//! where it is too long for one row), and finding the rows the store cannot read.

use memory_fs_storage::{Result, SafePath, StorageError};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, MAIN_DB, params};

use crate::Layout;
use crate::error::{BACKEND, db};

/// The native tables: one row per key; a value longer than the chunk size has its
/// length (an `INTEGER`) in `files.data` and its bytes in `file_chunks`, a rowid table
/// (incremental blob I/O needs rowids). The triggers drop a chunked value's chunks when
/// its row is overwritten or deleted, in the same statement.
pub(crate) const NATIVE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_chunks (
    path TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (path, seq)
);
CREATE TRIGGER IF NOT EXISTS file_chunks_replaced AFTER UPDATE OF data ON files
    WHEN typeof(old.data) = 'integer'
    BEGIN DELETE FROM file_chunks WHERE path = old.path; END;
CREATE TRIGGER IF NOT EXISTS file_chunks_deleted AFTER DELETE ON files
    WHEN typeof(old.data) = 'integer'
    BEGIN DELETE FROM file_chunks WHERE path = old.path; END";

/// The Python package's table, exactly as its `Sqlite__Table` creates it.
pub(crate) const PY_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS memory_fs_files (
    id INTEGER PRIMARY KEY, path TEXT, data BLOB, created_at INTEGER, updated_at INTEGER);
    CREATE INDEX IF NOT EXISTS idx__memory_fs_files__path ON memory_fs_files(path)";

const UPSERT: &str = "INSERT INTO files (path, data) VALUES (?1, ?2)
    ON CONFLICT (path) DO UPDATE SET data = excluded.data";

/// The keys equal to `?1` or below it: a range on the primary key from `p` to `p0`
/// (`'0'` is the byte after `'/'`), keeping `p` itself and what starts with `p/`.
pub(crate) const LIST_PREFIX: &str = "SELECT path FROM files
    WHERE path >= ?1 AND path < ?3 AND (path = ?1 OR path >= ?2) ORDER BY path";

/// The statements of one layout.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) select: &'static str,
    pub(crate) exists: &'static str,
    pub(crate) delete: &'static str,
    pub(crate) list_all: &'static str,
    pub(crate) list_prefix: &'static str,
    pub(crate) clear: &'static str,
}

pub(crate) const NATIVE: Sql = Sql {
    select: "SELECT data FROM files WHERE path = ?1",
    exists: "SELECT 1 FROM files WHERE path = ?1",
    delete: "DELETE FROM files WHERE path = ?1",
    list_all: "SELECT path FROM files ORDER BY path",
    list_prefix: LIST_PREFIX,
    clear: "DELETE FROM files; DELETE FROM file_chunks",
};

// The Python table does not make `path` unique; the first row of a path is its value,
// as Python's `select_row_where` reads it, and deleting a path deletes every row of it.
pub(crate) const PYTHON: Sql = Sql {
    select: "SELECT data FROM memory_fs_files WHERE path = ?1 ORDER BY id LIMIT 1",
    exists: "SELECT 1 FROM memory_fs_files WHERE path = ?1",
    delete: "DELETE FROM memory_fs_files WHERE path = ?1",
    list_all: "SELECT DISTINCT path FROM memory_fs_files WHERE path IS NOT NULL ORDER BY path",
    list_prefix: "SELECT DISTINCT path FROM memory_fs_files
        WHERE path >= ?1 AND path < ?3 AND (path = ?1 OR path >= ?2) ORDER BY path",
    clear: "DELETE FROM memory_fs_files",
};
const PY_UPDATE: &str = "UPDATE memory_fs_files SET data = ?2, updated_at = ?3 WHERE path = ?1";
const PY_INSERT: &str = "INSERT INTO memory_fs_files (path, data, created_at, updated_at)
    VALUES (?1, ?2, ?3, ?3)";

/// Room left beside a value in one row (its key, the row header, the other columns),
/// so a value of at most `limit - ROW_ROOM` bytes always fits SQLite's length limit.
pub(crate) const ROW_ROOM: usize = 4096;

impl Layout {
    pub(crate) fn sql(self) -> &'static Sql {
        match self {
            Layout::Native => &NATIVE,
            Layout::Python => &PYTHON,
        }
    }
}

/// How values are written: the layout, and the longest value kept in one row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values {
    pub(crate) layout: Layout,
    /// Native: values longer than this are chunked into pieces this long.
    pub(crate) chunk_size: usize,
    /// The longest value SQLite's length limit lets one row hold.
    pub(crate) row_max: usize,
}

/// Milliseconds since the epoch, as the Python package stamps rows.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A stored row the store cannot read as a value, named by its key (or what stands
/// in the key's place).
fn unreadable(name: impl Into<String>, reason: impl Into<String>) -> StorageError {
    StorageError::InvalidData {
        path: name.into(),
        reason: reason.into(),
    }
}

/// The SQL type of a value, as `typeof()` names it.
fn type_name(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an INTEGER",
        ValueRef::Real(_) => "a REAL",
        ValueRef::Text(_) => "TEXT",
        ValueRef::Blob(_) => "a BLOB",
    }
}

/// How a key cell that is not a valid key is shown: its text, or its SQL literal.
fn shown(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("x'{}'", hex(b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key in a `path` cell, if it holds one.
pub(crate) fn key_of(value: ValueRef<'_>) -> Option<SafePath> {
    match value {
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| SafePath::new(s).ok()),
        _ => None,
    }
}

/// The value at `key`, or `None`.
///
/// # Errors
/// [`StorageError::InvalidData`] naming the key when its row holds no readable value
/// (`data` of another SQL type, chunks missing or out of order).
pub(crate) fn read(conn: &Connection, layout: Layout, key: &SafePath) -> Result<Option<Vec<u8>>> {
    let err = |e| db(Some(key.as_str()), e);
    let mut stmt = conn.prepare_cached(layout.sql().select).map_err(err)?;
    let mut rows = stmt.query([key.as_str()]).map_err(err)?;
    let Some(row) = rows.next().map_err(err)? else {
        return Ok(None);
    };
    match row.get_ref(0).map_err(err)? {
        ValueRef::Blob(bytes) => Ok(Some(bytes.to_vec())),
        // `rows` is still open here, so the implicit read transaction it began goes on:
        // the chunks are read from the same snapshot as the row, even while another
        // process replaces the value.
        ValueRef::Integer(len) if layout == Layout::Native => read_chunks(conn, key, len).map(Some),
        other => Err(unreadable(
            key.as_str(),
            format!(
                "its row holds {} where a BLOB belongs; the store cannot read it",
                type_name(other)
            ),
        )),
    }
}

/// How the value at a key is stored.
pub(crate) enum Stored {
    /// In its row.
    Inline(Vec<u8>),
    /// In chunk rows: their rowids and lengths, in order.
    Chunked(Vec<(i64, usize)>),
}

/// How the value at `key` is stored (native layout), or `None`; the caller runs this
/// inside a transaction when it goes on to read the chunks.
///
/// # Errors
/// As [`read`].
pub(crate) fn stored(conn: &Connection, key: &SafePath) -> Result<Option<Stored>> {
    let err = |e| db(Some(key.as_str()), e);
    let mut stmt = conn.prepare_cached(NATIVE.select).map_err(err)?;
    let mut rows = stmt.query([key.as_str()]).map_err(err)?;
    let Some(row) = rows.next().map_err(err)? else {
        return Ok(None);
    };
    match row.get_ref(0).map_err(err)? {
        ValueRef::Blob(bytes) => Ok(Some(Stored::Inline(bytes.to_vec()))),
        ValueRef::Integer(len) => chunk_list(conn, key, len).map(|c| Some(Stored::Chunked(c))),
        other => Err(unreadable(
            key.as_str(),
            format!(
                "its row holds {} where a BLOB belongs; the store cannot read it",
                type_name(other)
            ),
        )),
    }
}

/// The length of the value at `key` from its row alone, or `None`.
///
/// # Errors
/// As [`read`].
pub(crate) fn size(conn: &Connection, layout: Layout, key: &SafePath) -> Result<Option<u64>> {
    let err = |e| db(Some(key.as_str()), e);
    let sql = match layout {
        Layout::Native => {
            "SELECT typeof(data), CASE typeof(data) WHEN 'integer' THEN data
             ELSE length(data) END FROM files WHERE path = ?1"
        }
        Layout::Python => {
            "SELECT typeof(data), length(data) FROM memory_fs_files
             WHERE path = ?1 ORDER BY id LIMIT 1"
        }
    };
    let found: Option<(String, Option<i64>)> = conn
        .prepare_cached(sql)
        .and_then(|mut s| {
            let mut rows = s.query([key.as_str()])?;
            rows.next()?.map(|r| Ok((r.get(0)?, r.get(1)?))).transpose()
        })
        .map_err(err)?;
    match found {
        None => Ok(None),
        Some((kind, Some(len)))
            if kind == "blob" || (kind == "integer" && layout == Layout::Native) =>
        {
            Ok(Some(u64::try_from(len).map_err(|_| {
                unreadable(
                    key.as_str(),
                    format!("its row records a length of {len} bytes"),
                )
            })?))
        }
        Some((kind, _)) => Err(unreadable(
            key.as_str(),
            format!(
                "its row holds a value of SQL type {kind} where a BLOB belongs; the store cannot read it"
            ),
        )),
    }
}

/// The rowids and lengths of a chunked value's chunks, checked to hold `len` bytes.
fn chunk_list(conn: &Connection, key: &SafePath, len: i64) -> Result<Vec<(i64, usize)>> {
    let err = |e| db(Some(key.as_str()), e);
    let broken = |why: String| {
        unreadable(
            key.as_str(),
            format!("its chunked value of {len} bytes is damaged: {why}"),
        )
    };
    let len = usize::try_from(len).map_err(|_| broken("the length is negative".into()))?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT rowid, seq, length(data), typeof(data) = 'blob' FROM file_chunks
             WHERE path = ?1 ORDER BY seq",
        )
        .map_err(err)?;
    let chunks: Vec<(i64, i64, i64, bool)> = stmt
        .query_map([key.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(err)?
        .collect::<rusqlite::Result<_>>()
        .map_err(err)?;
    let mut total = 0usize;
    for (i, &(_, seq, n, blob)) in chunks.iter().enumerate() {
        if i64::try_from(i).ok() != Some(seq) {
            return Err(broken(format!("chunk {i} is missing")));
        }
        if !blob {
            return Err(broken(format!("chunk {i} is not a BLOB")));
        }
        total = total.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if total != len {
        return Err(broken(format!("its chunks hold {total} bytes")));
    }
    Ok(chunks
        .into_iter()
        .map(|(rowid, _, n, _)| (rowid, usize::try_from(n).unwrap_or(0)))
        .collect())
}

/// Reads `buf.len()` bytes at `offset` of the chunk row `rowid` with incremental blob
/// I/O.
pub(crate) fn read_chunk_at(
    conn: &Connection,
    key: &SafePath,
    rowid: i64,
    offset: usize,
    buf: &mut [u8],
) -> Result<()> {
    let blob = conn
        .blob_open(MAIN_DB, c"file_chunks", c"data", rowid, true)
        .map_err(|e| db(Some(key.as_str()), e))?;
    blob.read_at_exact(buf, offset)
        .map_err(|e| StorageError::backend(BACKEND, Some(key.as_str()), e))
}

/// The bytes `offset..offset + len` (clipped to the value) of the value at `key`,
/// reading only the chunks that hold them; `None` when there is no value. The caller
/// runs this inside a transaction, so the row and its chunks are one snapshot.
///
/// # Errors
/// As [`read`].
pub(crate) fn range(
    conn: &Connection,
    key: &SafePath,
    offset: u64,
    len: u64,
) -> Result<Option<Vec<u8>>> {
    let clip = |total: usize| {
        let range = memory_fs_storage::clip_range(total, offset, len);
        (range.start, range.end)
    };
    match stored(conn, key)? {
        None => Ok(None),
        Some(Stored::Inline(bytes)) => {
            let (start, end) = clip(bytes.len());
            Ok(Some(bytes[start..end].to_vec()))
        }
        Some(Stored::Chunked(chunks)) => {
            let (start, end) = clip(chunks.iter().map(|&(_, n)| n).sum());
            let mut out = vec![0; end - start];
            let mut at = 0usize;
            for (rowid, n) in chunks {
                let (lo, hi) = (at.max(start), (at + n).min(end));
                if lo < hi {
                    read_chunk_at(conn, key, rowid, lo - at, &mut out[lo - start..hi - start])?;
                }
                at += n;
                if at >= end {
                    break;
                }
            }
            Ok(Some(out))
        }
    }
}

/// A chunked value of `len` bytes, read chunk by chunk with incremental blob I/O.
fn read_chunks(conn: &Connection, key: &SafePath, len: i64) -> Result<Vec<u8>> {
    let chunks = chunk_list(conn, key, len)?;
    let len = chunks.iter().map(|&(_, n)| n).sum::<usize>();
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|e| {
        StorageError::backend(
            BACKEND,
            Some(key.as_str()),
            format!("cannot hold a value of {len} bytes in memory: {e}"),
        )
    })?;
    for &(rowid, n) in &chunks {
        let start = out.len();
        out.resize(start + n, 0);
        read_chunk_at(conn, key, rowid, 0, &mut out[start..])?;
    }
    Ok(out)
}

/// Streams the value read from `reader` to `key` (native layout) and returns its
/// length. A value that fits one row (at most the chunk size) is written as
/// [`put`] writes it; a longer one becomes chunk rows of the chunk size, each
/// written as it fills (a `zeroblob` row filled by incremental blob I/O, so SQLite
/// makes no copy of it), with no more than one chunk in memory. The caller runs this
/// inside a transaction and rolls it back on an error, so the old value stays.
///
/// # Errors
/// [`StorageError::Input`] when `reader` fails; otherwise as [`put`].
pub(crate) fn put_from(
    conn: &Connection,
    values: Values,
    key: &SafePath,
    reader: &mut dyn std::io::Read,
) -> Result<u64> {
    let err = |e| db(Some(key.as_str()), e);
    let input = |e| StorageError::input(key, e);
    let mut buf = vec![0; values.chunk_size];
    let n = memory_fs_storage::read_full(reader, &mut buf).map_err(input)?;
    let mut probe = [0u8; 1];
    let more = if n == buf.len() {
        memory_fs_storage::read_full(reader, &mut probe).map_err(input)?
    } else {
        0
    };
    if more == 0 {
        put(conn, values, key, &buf[..n])?;
        return Ok(n as u64);
    }
    // An empty BLOB marks the row while the chunks are written: replacing a chunked
    // value drops its chunks (the trigger), and setting the length at the end from a
    // BLOB fires nothing.
    conn.prepare_cached(UPSERT)
        .and_then(|mut s| s.execute(params![key.as_str(), &[] as &[u8]]))
        .map_err(err)?;
    conn.prepare_cached("DELETE FROM file_chunks WHERE path = ?1")
        .and_then(|mut s| s.execute([key.as_str()]))
        .map_err(err)?;
    let mut insert = conn
        .prepare_cached("INSERT INTO file_chunks (path, seq, data) VALUES (?1, ?2, zeroblob(?3))")
        .map_err(err)?;
    let mut write_chunk = |seq: i64, data: &[u8]| -> Result<()> {
        insert
            .execute(params![key.as_str(), seq, data.len() as i64])
            .map_err(err)?;
        let rowid = conn.last_insert_rowid();
        let mut blob = conn
            .blob_open(MAIN_DB, c"file_chunks", c"data", rowid, false)
            .map_err(err)?;
        blob.write_all_at(data, 0)
            .map_err(|e| StorageError::backend(BACKEND, Some(key.as_str()), e))
    };
    write_chunk(0, &buf)?;
    let mut total = buf.len() as u64;
    // The probed byte starts the next chunk.
    buf[0] = probe[0];
    let mut filled = 1;
    for seq in 1i64.. {
        let n = filled + memory_fs_storage::read_full(reader, &mut buf[filled..]).map_err(input)?;
        filled = 0;
        if n > 0 {
            write_chunk(seq, &buf[..n])?;
            total += n as u64;
        }
        if n < buf.len() {
            break;
        }
    }
    let len = i64::try_from(total)
        .map_err(|_| unreadable(key.as_str(), "the value is too long to record its length"))?;
    conn.prepare_cached("UPDATE files SET data = ?2 WHERE path = ?1")
        .and_then(|mut s| s.execute(params![key.as_str(), len]))
        .map_err(err)?;
    Ok(total)
}

/// Writes `data` at `key`. A chunked write takes several statements: the caller runs
/// it inside a transaction (see [`Values::needs_transaction`]).
pub(crate) fn put(conn: &Connection, values: Values, key: &SafePath, data: &[u8]) -> Result<()> {
    let err = |e| db(Some(key.as_str()), e);
    match values.layout {
        Layout::Python => {
            values.check_python(key, data)?;
            let now = now_ms();
            let updated = conn
                .prepare_cached(PY_UPDATE)
                .and_then(|mut s| s.execute(params![key.as_str(), data, now]))
                .map_err(err)?;
            if updated == 0 {
                conn.prepare_cached(PY_INSERT)
                    .and_then(|mut s| s.execute(params![key.as_str(), data, now]))
                    .map_err(err)?;
            }
        }
        Layout::Native if data.len() <= values.chunk_size => {
            conn.prepare_cached(UPSERT)
                .and_then(|mut s| s.execute(params![key.as_str(), data]))
                .map_err(err)?;
        }
        Layout::Native => {
            let len = i64::try_from(data.len()).map_err(|_| {
                unreadable(key.as_str(), "the value is too long to record its length")
            })?;
            // The length marks the row as chunked; the trigger has dropped the chunks
            // of a chunked value it replaces, and strays of a foreign writer go too.
            conn.prepare_cached(UPSERT)
                .and_then(|mut s| s.execute(params![key.as_str(), len]))
                .map_err(err)?;
            conn.prepare_cached("DELETE FROM file_chunks WHERE path = ?1")
                .and_then(|mut s| s.execute([key.as_str()]))
                .map_err(err)?;
            let mut insert = conn
                .prepare_cached("INSERT INTO file_chunks (path, seq, data) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for (seq, chunk) in (0i64..).zip(data.chunks(values.chunk_size)) {
                insert
                    .execute(params![key.as_str(), seq, chunk])
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Copies the value at `from` to `to`, replacing what `to` holds; `Ok(false)` if
/// `from` holds nothing. A chunked value is copied chunk by chunk inside SQLite,
/// never through memory whole; the caller runs this inside a transaction.
pub(crate) fn copy(
    conn: &Connection,
    values: Values,
    from: &SafePath,
    to: &SafePath,
) -> Result<bool> {
    if from == to {
        return exists(conn, values.layout, from);
    }
    let err = |e| db(Some(to.as_str()), e);
    match values.layout {
        Layout::Python => match read(conn, values.layout, from)? {
            Some(data) => put(conn, values, to, &data).map(|()| true),
            None => Ok(false),
        },
        Layout::Native => {
            // The trigger drops the chunks of a chunked value this replaces.
            let copied = conn
                .prepare_cached(
                    "INSERT INTO files (path, data) SELECT ?2, data FROM files WHERE path = ?1
                     ON CONFLICT (path) DO UPDATE SET data = excluded.data",
                )
                .and_then(|mut s| s.execute([from.as_str(), to.as_str()]))
                .map_err(err)?;
            if copied == 0 {
                return Ok(false);
            }
            conn.prepare_cached("DELETE FROM file_chunks WHERE path = ?1")
                .and_then(|mut s| s.execute([to.as_str()]))
                .map_err(err)?;
            conn.prepare_cached(
                "INSERT INTO file_chunks (path, seq, data)
                 SELECT ?2, seq, data FROM file_chunks WHERE path = ?1",
            )
            .and_then(|mut s| s.execute([from.as_str(), to.as_str()]))
            .map_err(err)?;
            Ok(true)
        }
    }
}

/// Creates `key` only if it holds no value; `Ok(false)` if it does. As [`put`], a
/// chunked value needs the caller's transaction.
pub(crate) fn create(
    conn: &Connection,
    values: Values,
    key: &SafePath,
    data: &[u8],
) -> Result<bool> {
    if exists(conn, values.layout, key)? {
        return Ok(false);
    }
    put(conn, values, key, data)?;
    Ok(true)
}

/// Whether `key` has a row.
pub(crate) fn exists(conn: &Connection, layout: Layout, key: &SafePath) -> Result<bool> {
    let err = |e| db(Some(key.as_str()), e);
    conn.prepare_cached(layout.sql().exists)
        .and_then(|mut s| s.exists([key.as_str()]))
        .map_err(err)
}

/// Deletes `key` (every row of it); whether there was one.
pub(crate) fn delete(conn: &Connection, layout: Layout, key: &SafePath) -> Result<bool> {
    let err = |e| db(Some(key.as_str()), e);
    let rows = conn
        .prepare_cached(layout.sql().delete)
        .and_then(|mut s| s.execute([key.as_str()]))
        .map_err(err)?;
    Ok(rows > 0)
}

impl Values {
    /// Whether writing `data` takes more than one statement.
    pub(crate) fn needs_transaction(&self, data: &[u8]) -> bool {
        self.layout == Layout::Native && data.len() > self.chunk_size
    }

    /// Refuses a value the Python layout cannot hold in one row.
    fn check_python(&self, key: &SafePath, data: &[u8]) -> Result<()> {
        if data.len() <= self.row_max {
            return Ok(());
        }
        Err(StorageError::Unsupported {
            backend: BACKEND,
            operation: format!(
                "a value of {} bytes at {key} in the Python package's table layout, which \
                 keeps each value in one BLOB: SQLite's length limit allows at most {} bytes \
                 there (the native layout stores longer values in chunks)",
                data.len(),
                self.row_max
            ),
        })
    }
}

/// Every row the store skips because it cannot read it: one
/// [`StorageError::InvalidData`] per row, naming the row and what is wrong with it.
pub(crate) fn unreadable_rows(conn: &Connection, layout: Layout) -> Result<Vec<StorageError>> {
    let err = |e| db(None, e);
    let mut found = Vec::new();
    match layout {
        Layout::Native => {
            let mut stmt = conn
                .prepare("SELECT path, data FROM files ORDER BY path")
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let path = row.get_ref(0).map_err(err)?;
                let Some(key) = key_of(path) else {
                    found.push(bad_key(path, "a row of table files"));
                    continue;
                };
                match row.get_ref(1).map_err(err)? {
                    ValueRef::Blob(_) => {}
                    ValueRef::Integer(len) => {
                        if let Err(e) = check_chunks(conn, &key, len) {
                            found.push(e);
                        }
                    }
                    other => found.push(unreadable(
                        key.as_str(),
                        format!(
                            "its row in table files holds {} where a BLOB belongs; \
                             the store cannot read it",
                            type_name(other)
                        ),
                    )),
                }
            }
            let mut strays = conn
                .prepare(
                    "SELECT DISTINCT c.path FROM file_chunks AS c
                     LEFT JOIN files AS f ON f.path = c.path AND typeof(f.data) = 'integer'
                     WHERE f.path IS NULL ORDER BY c.path",
                )
                .map_err(err)?;
            let mut rows = strays.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let path = row.get_ref(0).map_err(err)?;
                found.push(unreadable(
                    shown(path),
                    "rows of table file_chunks belong to no chunked value; they are ignored",
                ));
            }
        }
        Layout::Python => {
            let mut stmt = conn
                .prepare("SELECT id, path, data FROM memory_fs_files ORDER BY id")
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let id: i64 = row.get(0).map_err(err)?;
                let path = row.get_ref(1).map_err(err)?;
                let Some(key) = key_of(path) else {
                    found.push(bad_key(path, &format!("row id {id} of memory_fs_files")));
                    continue;
                };
                let data = row.get_ref(2).map_err(err)?;
                if !matches!(data, ValueRef::Blob(_)) {
                    found.push(unreadable(
                        key.as_str(),
                        format!(
                            "row id {id} of memory_fs_files holds {} where a BLOB belongs; \
                             the store cannot read it",
                            type_name(data)
                        ),
                    ));
                }
            }
        }
    }
    Ok(found)
}

/// A row whose key cell holds no valid key.
fn bad_key(path: ValueRef<'_>, row: &str) -> StorageError {
    let why = match path {
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Err(_) => "its path is not valid UTF-8".to_owned(),
            Ok(s) => match SafePath::new(s) {
                Err(e) => format!("its path is not a valid key ({})", e.reason()),
                Ok(_) => "its path is unreadable".to_owned(),
            },
        },
        other => format!("its path is {}, not TEXT", type_name(other)),
    };
    unreadable(
        shown(path),
        format!("{row}: {why}; it is left out of listings"),
    )
}

/// Whether a chunked value of `len` bytes at `key` has all its chunks.
fn check_chunks(conn: &Connection, key: &SafePath, len: i64) -> Result<()> {
    let err = |e| db(Some(key.as_str()), e);
    let (count, bytes, last, blobs): (i64, i64, i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(max(seq), -1),
                    coalesce(sum(typeof(data) = 'blob'), 0)
             FROM file_chunks WHERE path = ?1",
        )
        .and_then(|mut s| {
            s.query_row([key.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
        })
        .map_err(err)?;
    if count == last + 1 && blobs == count && bytes == len && len >= 0 {
        Ok(())
    } else {
        Err(unreadable(
            key.as_str(),
            format!("its chunked value of {len} bytes is damaged: {count} chunks of {bytes} bytes"),
        ))
    }
}
