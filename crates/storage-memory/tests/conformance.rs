//! The whole conformance suite against the memory provider.

use memory_fs_storage_memory::MemoryStorage;

memory_fs_storage::conformance_tests!(make = MemoryStorage::new);
