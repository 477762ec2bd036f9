//! The whole conformance suite on the async side of the memory provider: its calls run
//! inline in the futures (`Inline`), driven by `BlockOn`.

use memory_fs_storage::{BlockOn, Inline};
use memory_fs_storage_memory::MemoryStorage;

memory_fs_storage::conformance_tests!(
    make = || BlockOn::new(Inline(MemoryStorage::new())).expect("runtime")
);
