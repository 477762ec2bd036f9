//! `KeyWatch`: a provider's signal that keys may have changed, for watches that would
//! otherwise poll.

use std::time::Duration;

/// A signal, from a provider that can tell, that keys under a prefix may have changed
/// ([`Storage::watch_keys`](crate::Storage::watch_keys)): the memory tree's watchers,
/// inotify on disk, SQLite's data version. A signal means "look again", never what
/// changed: the caller reads the keys to find out, so a missed or spurious signal
/// costs a look, never a wrong answer.
pub struct KeyWatch {
    wait: Box<dyn FnMut(Duration) -> bool + Send>,
}

impl std::fmt::Debug for KeyWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWatch").finish_non_exhaustive()
    }
}

impl KeyWatch {
    /// A signal that `wait(timeout)` waits for at most `timeout`, answering whether
    /// something may have changed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use memory_fs_storage::KeyWatch;
    ///
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let mut watch = KeyWatch::new(move |timeout| rx.recv_timeout(timeout).is_ok());
    /// tx.send(()).unwrap();
    /// assert!(watch.wait(Duration::from_millis(10)));
    /// assert!(!watch.wait(Duration::from_millis(10)));
    /// ```
    pub fn new(wait: impl FnMut(Duration) -> bool + Send + 'static) -> Self {
        Self {
            wait: Box::new(wait),
        }
    }

    /// Waits at most `timeout` for a signal; whether one came.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        (self.wait)(timeout)
    }
}
