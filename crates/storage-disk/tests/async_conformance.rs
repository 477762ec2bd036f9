//! The whole conformance suite on the async side of the disk provider: its calls run on
//! tokio's blocking pool (`Pooled`), driven by `BlockOn` (fsync off, as in
//! `conformance.rs`, to keep the 10,000-key case quick).

use memory_fs_storage::testkit::Guarded;
use memory_fs_storage::{BlockOn, Pooled};
use memory_fs_storage_disk::{DiskConfig, DiskStorage};

fn fresh() -> Guarded<BlockOn<Pooled<DiskStorage>>, tempfile::TempDir> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = DiskConfig {
        fsync: false,
        ..DiskConfig::new(dir.path())
    };
    let store = DiskStorage::with_config(config).expect("open store");
    Guarded::new(BlockOn::new(Pooled::new(store)).expect("runtime"), dir)
}

memory_fs_storage::conformance_tests!(make = fresh);
