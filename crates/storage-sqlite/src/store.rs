//! `SqliteStorage`: the `Storage` trait on one SQLite table.

use std::sync::{Mutex, MutexGuard, PoisonError};

use memory_fs_storage::{Capabilities, Result, SafePath, Storage, StorageError};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::SqliteConfig;
use crate::error::{BACKEND, db};

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

/// A key–value store in one SQLite table.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    persistent: bool,
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
        if config.path.is_some() {
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
        conn.execute_batch(&format!("PRAGMA synchronous = {sync}; {SCHEMA};"))
            .map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            persistent: config.path.is_some(),
        })
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
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(UPSERT)
            .map_err(|e| db(Some(path.as_str()), e))?;
        stmt.execute(params![path.as_str(), data])
            .map_err(|e| db(Some(path.as_str()), e))?;
        Ok(())
    }

    fn file_create(&self, path: &SafePath, data: &[u8]) -> Result<()> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("INSERT INTO files (path, data) VALUES (?1, ?2)")
            .map_err(|e| db(Some(path.as_str()), e))?;
        match stmt.execute(params![path.as_str(), data]) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == ErrorCode::ConstraintViolation =>
            {
                Err(StorageError::AlreadyExists {
                    path: path.to_string(),
                })
            }
            Err(e) => Err(db(Some(path.as_str()), e)),
        }
    }

    fn file_bytes(&self, path: &SafePath) -> Result<Option<Vec<u8>>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT data FROM files WHERE path = ?1")
            .map_err(|e| db(Some(path.as_str()), e))?;
        stmt.query_row([path.as_str()], |r| r.get::<_, Vec<u8>>(0))
            .optional()
            .map_err(|e| db(Some(path.as_str()), e))
    }

    fn file_exists(&self, path: &SafePath) -> Result<bool> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT 1 FROM files WHERE path = ?1")
            .map_err(|e| db(Some(path.as_str()), e))?;
        stmt.exists([path.as_str()])
            .map_err(|e| db(Some(path.as_str()), e))
    }

    fn file_delete(&self, path: &SafePath) -> Result<bool> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("DELETE FROM files WHERE path = ?1")
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
                let mut stmt = conn
                    .prepare_cached("SELECT path FROM files ORDER BY path")
                    .map_err(err)?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)?
            }
            Some(p) => {
                let mut stmt = conn.prepare_cached(LIST_PREFIX).map_err(err)?;
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
            .execute("DELETE FROM files", [])
            .map_err(|e| db(None, e))?;
        Ok(())
    }

    fn files_save(&self, items: &[(SafePath, &[u8])]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| db(None, e))?;
        {
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
                .prepare_cached("DELETE FROM files WHERE path = ?1")
                .map_err(|e| db(None, e))?;
            for path in paths {
                n += stmt
                    .execute([path.as_str()])
                    .map_err(|e| db(Some(path.as_str()), e))?;
            }
        }
        tx.commit().map_err(|e| db(None, e))?;
        Ok(n)
    }
}
