//! `WatchChannel`: the changes of a [`Watch`] on a channel, for blocking code that
//! would rather receive than wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use memory_fs_target::{Change, Watch};

use crate::Result;

/// How long the watching thread waits between checks that the channel is still held.
const CHECK: Duration = Duration::from_millis(250);

/// The changes a [`Watch`] reports, one by one, from a thread of its own
/// ([`MemoryFs::watch_channel`](crate::MemoryFs::watch_channel)). Dropping it stops
/// the thread within a quarter of a second.
#[derive(Debug)]
pub struct WatchChannel {
    rx: Receiver<Result<Change>>,
    stop: Arc<AtomicBool>,
}

impl WatchChannel {
    pub(crate) fn spawn(mut watch: Watch) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                match watch.wait(CHECK) {
                    Ok(changes) => {
                        for change in changes {
                            if tx.send(Ok(change)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                        return;
                    }
                }
            }
        });
        Self { rx, stop }
    }

    /// The next change, waiting for it; `None` once the watch ended on an error
    /// already received.
    pub fn recv(&self) -> Option<Result<Change>> {
        self.rx.recv().ok()
    }

    /// The next change, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Result<Change>> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next change if one is waiting.
    pub fn try_recv(&self) -> Option<Result<Change>> {
        self.rx.try_recv().ok()
    }
}

impl Iterator for WatchChannel {
    type Item = Result<Change>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

impl Drop for WatchChannel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}
