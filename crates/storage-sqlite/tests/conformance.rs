//! The whole conformance suite against the SQLite provider, in memory and on a file, in
//! both table layouts (native and the Python package's), and with small chunks.

mod in_memory {
    use memory_fs_storage_sqlite::SqliteStorage;

    memory_fs_storage::conformance_tests!(make = || SqliteStorage::in_memory().expect("open"));
}

mod on_file {
    use memory_fs_storage::testkit::Guarded;
    use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};

    fn fresh() -> Guarded<SqliteStorage, tempfile::TempDir> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SqliteConfig::file(dir.path().join("store.db")).synchronous_normal();
        Guarded::new(SqliteStorage::with_config(config).expect("open"), dir)
    }

    memory_fs_storage::conformance_tests!(make = fresh);
}

mod python_layout_in_memory {
    use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};

    memory_fs_storage::conformance_tests!(
        make = || SqliteStorage::with_config(SqliteConfig::in_memory().layout(Layout::Python))
            .expect("open")
    );
}

mod python_layout_on_file {
    use memory_fs_storage::testkit::Guarded;
    use memory_fs_storage_sqlite::{Layout, SqliteConfig, SqliteStorage};

    fn fresh() -> Guarded<SqliteStorage, tempfile::TempDir> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SqliteConfig::file(dir.path().join("store.db"))
            .synchronous_normal()
            .layout(Layout::Python);
        Guarded::new(SqliteStorage::with_config(config).expect("open"), dir)
    }

    memory_fs_storage::conformance_tests!(make = fresh);
}

mod chunked_on_file {
    use memory_fs_storage::testkit::Guarded;
    use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};

    /// Small chunks, so the suite's larger values (100 KB copies, the 64 MiB value)
    /// take the chunked path.
    fn fresh() -> Guarded<SqliteStorage, tempfile::TempDir> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SqliteConfig::file(dir.path().join("store.db"))
            .synchronous_normal()
            .chunk_size(64 * 1024);
        Guarded::new(SqliteStorage::with_config(config).expect("open"), dir)
    }

    memory_fs_storage::conformance_tests!(make = fresh);
}

mod chunked_in_memory {
    use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};

    // Small chunks in an in-memory database, where streamed reads cannot have a
    // connection of their own.
    memory_fs_storage::conformance_tests!(
        make = || SqliteStorage::with_config(SqliteConfig::in_memory().chunk_size(64 * 1024))
            .expect("open")
    );
}
