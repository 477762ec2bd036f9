//! Clocks: where the core's timestamps come from, injectable for tests; and Linux's
//! multigrain timestamps, which decide when a change needs a fine-grained time.
//!
//! Since Linux 6.13, tmpfs stamps a change with the coarse clock (the time of the last
//! timer tick, which costs a memory read instead of a clock read) unless someone has
//! looked at the inode's times since its last change and the coarse time would not
//! move them: only then is a fine-grained time taken. A change is therefore always
//! visible to whoever looked before it, and times never run backwards, because a
//! coarse time is never earlier than the latest fine one handed out (the floor).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::Timespec;
use crate::state::Inode;

/// A source of the current time for timestamps.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timespec;

    /// A cheaper reading at most a timer tick behind [`now`](Self::now), if the clock
    /// has one (Linux's `CLOCK_REALTIME_COARSE`). Without one (the default), every
    /// timestamp is fine-grained.
    fn coarse_now(&self) -> Option<Timespec> {
        None
    }
}

/// The system's real-time clock (with Linux's coarse clock for unobserved changes).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timespec {
        Timespec::from(SystemTime::now())
    }

    #[cfg(target_os = "linux")]
    fn coarse_now(&self) -> Option<Timespec> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out pointer; the call only writes it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
        (rc == 0).then(|| Timespec::new(ts.tv_sec, u32::try_from(ts.tv_nsec).unwrap_or(0)))
    }
}

/// A tree's timestamp source: its clock and the floor (the latest fine-grained time
/// handed out, in nanoseconds since the epoch).
#[derive(Debug)]
pub(crate) struct Stamps {
    clock: Arc<dyn Clock>,
    floor: AtomicU64,
}

impl Stamps {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            floor: AtomicU64::new(0),
        }
    }

    /// The time of a change about to be made: coarse (never below the floor) when the
    /// clock has a coarse reading, else fine.
    pub(crate) fn now(&self) -> Now<'_> {
        let coarse = self.clock.coarse_now().map(|c| {
            let floor = from_nanos(self.floor.load(Ordering::Relaxed));
            c.max(floor)
        });
        Now {
            coarse: coarse.unwrap_or_else(|| self.clock.now()),
            fine_needed: coarse.is_some(),
            stamps: self,
        }
    }

    /// A fine-grained reading that raises the floor, so no later coarse time is below it.
    fn fine_for_change(&self) -> Timespec {
        let t = self.clock.now();
        if let Some(ns) = to_nanos(t) {
            self.floor.fetch_max(ns, Ordering::Relaxed);
        }
        t
    }
}

fn to_nanos(t: Timespec) -> Option<u64> {
    u64::try_from(t.sec)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::from(t.nsec))
}

fn from_nanos(ns: u64) -> Timespec {
    Timespec::new(
        i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX),
        (ns % 1_000_000_000) as u32,
    )
}

/// The time of one operation's changes (`current_time` in Linux), and how to stamp an
/// inode with it (`inode_set_ctime_current`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now<'a> {
    coarse: Timespec,
    /// Whether `coarse` is a coarse reading, so an observed inode may need better.
    fine_needed: bool,
    stamps: &'a Stamps,
}

impl Now<'_> {
    /// The time itself, for a new inode or a time nobody has looked at yet.
    pub(crate) fn time(&self) -> Timespec {
        self.coarse
    }

    /// The time to give `inode`'s change: the coarse time, unless its times were
    /// looked at since they last changed and the coarse time would not move them.
    pub(crate) fn for_change(&self, inode: &Inode) -> Timespec {
        if self.fine_needed && inode.times_queried() && self.coarse <= inode.ctime() {
            self.stamps.fine_for_change()
        } else {
            self.coarse
        }
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
