//! Clocks: where the core's timestamps come from, injectable for tests.

use std::sync::Mutex;
use std::time::SystemTime;

use crate::Timespec;

/// A source of the current time for timestamps.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timespec;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timespec {
        Timespec::from(SystemTime::now())
    }
}

/// A clock that says what it is told, for deterministic tests.
///
/// ```
/// use memory_fs_posix::{Clock, ManualClock, Timespec};
/// let clock = ManualClock::new(Timespec::new(100, 0));
/// clock.set(Timespec::new(200, 5));
/// assert_eq!(clock.now(), Timespec::new(200, 5));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(Mutex<Timespec>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timespec) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: Timespec) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = t;
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        let mut t = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.sec = t.sec.saturating_add(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timespec {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
