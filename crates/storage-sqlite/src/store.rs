//! `SqliteStorage`: the `Storage` trait on one SQLite table.

use std::sync::{Mutex, MutexGuard, PoisonError};

use memory_fs_storage::{Capabilities, Result, SafePath, Storage, StorageError};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::error::{BACKEND, db};
use crate::{Layout, SqliteConfig};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
) WITHOUT ROWID";

const UPSERT: &str = "INSERT INTO files (path, data) VALUES (?1, ?2)
    ON CONFLICT (path) DO UPDATE SET data = excluded.data";

/// The keys equal to `?1` or below it: a range on the primary key from `p` to `p0`
/// (`'0'` is the byte after `'/'`), keeping `p` itself and what starts with `p/`.
pub(crate) const LIST_PREFIX: &str = "SELECT path FROM files
    WHERE path >= ?1 AND path < ?3 AND (path = ?1 OR path >= ?2) ORDER BY path";

/// The Python package's table, exactly as its `Sqlite__Table` creates it.
const PY_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS memory_fs_files (
    id INTEGER PRIMARY KEY, path TEXT, data BLOB, created_at INTEGER, updated_at INTEGER);
    CREATE INDEX IF NOT EXISTS idx__memory_fs_files__path ON memory_fs_files(path)";

/// The statements of one layout.
#[derive(Debug)]
struct Sql {
    select: &'static str,
    exists: &'static str,
    delete: &'static str,
    list_all: &'static str,
    list_prefix: &'static str,
    clear: &'static str,
}

const NATIVE: Sql = Sql {
    select: "SELECT data FROM files WHERE path = ?1",
    exists: "SELECT 1 FROM files WHERE path = ?1",
    delete: "DELETE FROM files WHERE path = ?1",
    list_all: "SELECT path FROM files ORDER BY path",
    list_prefix: LIST_PREFIX,
    clear: "DELETE FROM files",
};

// The Python table does not make `path` unique; the first row of a path is its value,
// as Python's `select_row_where` reads it, and deleting a path deletes every row of it.
const PYTHON: Sql = Sql {
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

/// Milliseconds since the epoch, as the Python package stamps rows.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether table `name` exists.
fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([name])
}

/// A key–value store in one SQLite table.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    persistent: bool,
    layout: Layout,
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
    /// # Errors
    /// A backend error if the database cannot be opened or set up.
    pub fn with_config(config: SqliteConfig) -> Result<Self> {
        let shown = config.path.as_ref().map(|p| p.display().to_string());
        let err = |e| db(shown.as_deref(), e);
        let conn = match &config.path {
            Some(path) => Connection::open(path).map_err(err)?,
            None => Connection::open_in_memory().map_err(err)?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        let python_table = has_table(&conn, "memory_fs_files").map_err(err)?;
        let layout = match config.layout {
            Some(layout) => layout,
            None if python_table && !has_table(&conn, "files").map_err(err)? => Layout::Python,
            None => Layout::Native,
        };
        // A database the Python package already wrote keeps its journal mode; one this
        // provider creates (or its own layout) uses WAL.
        let keep_journal = layout == Layout::Python && python_table;
        if config.path.is_some() && !keep_journal {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StorageError::Unsupported {
                    backend: BACKEND,
                    operation: format!("WAL journal (the database stays in {mode} mode)"),
                });
            }
        }
        let sync = if config.synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        };
        let schema = match layout {
            Layout::Native => SCHEMA,
            Layout::Python => PY_SCHEMA,
        };
        conn.execute_batch(&format!("PRAGMA synchronous = {sync}; {schema};"))
            .map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            persistent: config.path.is_some(),
            layout,
        })
    }

    /// The table layout in use.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn sql(&self) -> &'static Sql {
        match self.layout {
            Layout::Native => &NATIVE,
            Layout::Python => &PYTHON,
        }
    }

    /// Saves one key inside the caller's transaction (Python layout: update, else insert).
    fn py_save(conn: &Connection, path: &SafePath, data: &[u8], now: i64) -> rusqlite::Result<()> {
        let updated = conn
            .prepare_cached(PY_UPDATE)?
            .execute(params![path.as_str(), data, now])?;
        if updated == 0 {
            conn.prepare_cached(PY_INSERT)?
                .execute(params![path.as_str(), data, now])?;
        }
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: every
        // statement is atomic, and transactions roll back when dropped.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
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

fn to_keys(paths: Vec<String>) -> Vec<SafePath> {
    // Rows come only from saves of valid keys; anything else in the table (written by
    // another program) is not a key of this store and is left out.
    paths
        .into_iter()
        .filter_map(|p| SafePath::new(p).ok())
        .collect()
}

impl Storage for SqliteStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(BACKEND)
            .with_atomic_write(true)
            .with_atomic_batch(true)
            .with_atomic_create(true)
            .with_nested_keys(true)
            .with_persistent(self.persistent)
    }

    fn file_save(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        let err = |e| db(Some(path.as_str()), e);
        let mut conn = self.conn();
        if self.layout == Layout::Python {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            Self::py_save(&tx, path, data, now_ms()).map_err(err)?;
            return tx.commit().map_err(err);
        }
        let mut stmt = conn.prepare_cached(UPSERT).map_err(err)?;
        stmt.execute(params![path.as_str(), data]).map_err(err)?;
        Ok(())
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        let err = |e| db(Some(path.as_str()), e);
        let exists = || StorageError::AlreadyExists {
            path: path.to_string(),
        };
        let mut conn = self.conn();
        if self.layout == Layout::Python {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            if tx
                .prepare_cached(PYTHON.exists)
                .and_then(|mut s| s.exists([path.as_str()]))
                .map_err(err)?
            {
                return Err(exists());
            }
            let now = now_ms();
            tx.prepare_cached(PY_INSERT)
                .and_then(|mut s| s.execute(params![path.as_str(), data, now]))
                .map_err(err)?;
            return tx.commit().map_err(err);
        }
        let mut stmt = conn
            .prepare_cached("INSERT INTO files (path, data) VALUES (?1, ?2)")
            .map_err(err)?;
        match stmt.execute(params![path.as_str(), data]) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == ErrorCode::ConstraintViolation =>
            {
                Err(exists())
            }
            Err(e) => Err(err(e)),
        }
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(self.sql().select)
            .map_err(|e| db(Some(path.as_str()), e))?;
        stmt.query_row([path.as_str()], |r| r.get::<_, Vec<u8>>(0))
            .optional()
            .map_err(|e| db(Some(path.as_str()), e))
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(self.sql().exists)
            .map_err(|e| db(Some(path.as_str()), e))?;
        stmt.exists([path.as_str()])
            .map_err(|e| db(Some(path.as_str()), e))
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(self.sql().delete)
            .map_err(|e| db(Some(path.as_str()), e))?;
        Ok(stmt
            .execute([path.as_str()])
            .map_err(|e| db(Some(path.as_str()), e))?
            > 0)
    }

    fn files_paths(&self, prefix: Option<&SafePath>) -> Result<Vec<SafePath>> {
        let conn = self.conn();
        let err = |e| db(prefix.map(SafePath::as_str), e);
        let paths = match prefix {
            None => {
                let mut stmt = conn.prepare_cached(self.sql().list_all).map_err(err)?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)?
            }
            Some(p) => {
                let mut stmt = conn.prepare_cached(self.sql().list_prefix).map_err(err)?;
                let rows = stmt
                    .query_map(params![p.as_str(), format!("{p}/"), format!("{p}0")], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)?
            }
        };
        Ok(to_keys(paths))
    }

    fn clear(&self) -> Result<()> {
        self.conn()
            .execute(self.sql().clear, [])
            .map_err(|e| db(None, e))?;
        Ok(())
    }

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db(None, e))?;
        if self.layout == Layout::Python {
            let now = now_ms();
            for (path, data) in items {
                Self::py_save(&tx, path, data, now).map_err(|e| db(Some(path.as_str()), e))?;
            }
        } else {
            let mut stmt = tx.prepare_cached(UPSERT).map_err(|e| db(None, e))?;
            for (path, data) in items {
                stmt.execute(params![path.as_str(), data])
                    .map_err(|e| db(Some(path.as_str()), e))?;
            }
        }
        tx.commit().map_err(|e| db(None, e))
    }

    fn files_delete(&self, paths: &[SafePath]) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| db(None, e))?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(self.sql().delete)
                .map_err(|e| db(None, e))?;
            for path in paths {
                // A Python table may hold a path twice; it is still one key.
                let rows = stmt
                    .execute([path.as_str()])
                    .map_err(|e| db(Some(path.as_str()), e))?;
                n += usize::from(rows > 0);
            }
        }
        tx.commit().map_err(|e| db(None, e))?;
        Ok(n)
    }
}
