//! The logical operation a storage call belongs to: a name the layer above a storage
//! (the file layer's commits) gives to the several key writes of one save, edit or
//! delete, so that the audit layer records them as parts of one operation.
//!
//! ```
//! use memory_fs_storage::layers::operation::{self, Operation};
//! let op = Operation::new("c0ffee-1", [("report", "save")]);
//! let seen = op.scope(|| operation::current().map(|o| o.id.clone()));
//! assert_eq!(seen.as_deref(), Some("c0ffee-1"));
//! assert!(operation::current().is_none(), "the scope ended");
//! ```
//!
//! The operation is set for the calling thread for the length of [`Operation::scope`]:
//! storage calls made on that thread inside it belong to it, calls on other threads do
//! not. A scope inside another replaces the outer operation until it ends.

use std::cell::RefCell;
use std::sync::Arc;

/// One logical operation: an id unique to it and what it does to each file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "audit", derive(serde::Serialize, serde::Deserialize))]
pub struct Operation {
    /// Unique to the operation (the file layer's commit id); every storage call of the
    /// operation carries it, retries and clean-ups included.
    pub id: String,
    /// Each file the operation changes, with what it does to it.
    pub files: Vec<OperationFile>,
}

/// What one logical operation does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "audit", derive(serde::Serialize, serde::Deserialize))]
pub struct OperationFile {
    /// The logical file's id.
    pub id: String,
    /// What is done to it: `create`, `save`, `edit`, `delete`, `recover`, … (named by
    /// the layer that sets the operation).
    pub action: String,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Operation>>> = const { RefCell::new(None) };
}

impl Operation {
    /// The operation `id` doing `action` to each `(file id, action)` of `files`.
    pub fn new<I, A>(id: impl Into<String>, files: impl IntoIterator<Item = (I, A)>) -> Self
    where
        I: Into<String>,
        A: Into<String>,
    {
        Self {
            id: id.into(),
            files: files
                .into_iter()
                .map(|(id, action)| OperationFile {
                    id: id.into(),
                    action: action.into(),
                })
                .collect(),
        }
    }

    /// Runs `f` with this operation set for the calling thread (see the module docs),
    /// and gives back the operation set before, even if `f` panics.
    pub fn scope<T>(self, f: impl FnOnce() -> T) -> T {
        struct Restore(Option<Arc<Operation>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = CURRENT.with(|c| c.borrow_mut().replace(Arc::new(self)));
        let _restore = Restore(previous);
        f()
    }
}

/// The operation set for the calling thread, if any.
pub fn current() -> Option<Arc<Operation>> {
    CURRENT.with(|c| c.borrow().clone())
}
