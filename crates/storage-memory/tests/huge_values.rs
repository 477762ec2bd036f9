//! A value far larger than memory (a sparse file in the tree) is refused with a clear
//! error naming its size, never an allocation abort, and nothing is lost.

use memory_fs_storage::{ErrorKind, SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;

#[test]
fn a_terabyte_sparse_value_is_an_error_not_an_abort() {
    let store = MemoryStorage::new();
    let key = SafePath::new("big/value").expect("key");
    store.file_save(&key, b"small at first").expect("save");
    // Truncating the file under the store allocates nothing…
    store
        .fs()
        .truncate("/big/value", 1 << 40)
        .expect("truncate to 1 TiB");
    // …and reading it whole must fail cleanly, saying how large it is.
    let err = store.file_bytes(&key).expect_err("a 1 TiB read");
    assert_eq!(err.kind(), ErrorKind::Backend);
    let message = format!(
        "{err}: {}",
        std::error::Error::source(&err).map_or(String::new(), |s| s.to_string())
    );
    assert!(message.contains("1099511627776"), "{message}");
    // The key is still there, and the store still works.
    assert!(store.file_exists(&key).expect("exists"));
    store.file_save(&key, b"back to small").expect("save again");
    assert_eq!(
        store.file_bytes(&key).expect("load").as_deref(),
        Some(&b"back to small"[..])
    );
}
