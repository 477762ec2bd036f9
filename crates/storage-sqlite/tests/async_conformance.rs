//! The whole conformance suite on the async side of the SQLite provider, in memory and
//! on a file with small chunks: its calls run on tokio's blocking pool (`Pooled`),
//! driven by `BlockOn`.

mod in_memory {
    use memory_fs_storage::{BlockOn, Pooled};
    use memory_fs_storage_sqlite::SqliteStorage;

    memory_fs_storage::conformance_tests!(
        make = || BlockOn::new(Pooled::new(SqliteStorage::in_memory().expect("open")))
            .expect("runtime")
    );
}

mod chunked_on_file {
    use memory_fs_storage::testkit::Guarded;
    use memory_fs_storage::{BlockOn, Pooled};
    use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};

    fn fresh() -> Guarded<BlockOn<Pooled<SqliteStorage>>, tempfile::TempDir> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SqliteConfig::file(dir.path().join("store.db"))
            .synchronous_normal()
            .chunk_size(64 * 1024);
        let store = SqliteStorage::with_config(config).expect("open");
        Guarded::new(BlockOn::new(Pooled::new(store)).expect("runtime"), dir)
    }

    memory_fs_storage::conformance_tests!(make = fresh);
}
