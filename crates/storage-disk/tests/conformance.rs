//! The whole conformance suite against the disk provider (fsync off, to keep the
//! 10,000-key case quick; the crash test runs with fsync on).

use memory_fs_storage::testkit::Guarded;
use memory_fs_storage_disk::{DiskConfig, DiskStorage};

fn fresh() -> Guarded<DiskStorage, tempfile::TempDir> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = DiskConfig {
        fsync: false,
        ..DiskConfig::new(dir.path())
    };
    Guarded::new(DiskStorage::with_config(config).expect("open store"), dir)
}

memory_fs_storage::conformance_tests!(make = fresh);
