//! `mount_until_interrupted`: mount, wait for SIGINT or SIGTERM, unmount.

use std::io;
use std::path::Path;
use std::time::Duration;

use memory_fs_posix::MemoryFileSystem;

use crate::{MountError, MountOptions, spawn_mount};

/// The set {SIGINT, SIGTERM}, blocked in the calling thread (and so in every thread
/// it starts afterwards, the request threads included) so that `sigwait` receives them.
fn block_stop_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: an all-zero sigset_t is a valid value to hand to sigemptyset, which
    // initialises it; the other calls get pointers to that initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// How often the wait looks whether the mount has ended on its own.
const POLL: Duration = Duration::from_millis(100);

/// Waits up to `timeout` for one of the signals in `set` (which must be blocked).
fn wait_for(set: &libc::sigset_t, timeout: Duration) -> io::Result<Option<i32>> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `set` is an initialised signal set and `ts` a valid timespec; no
    // siginfo is asked for.
    let rc = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    if rc >= 0 {
        return Ok(Some(rc));
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => Ok(None),
        e => Err(e),
    }
}

/// Why [`mount_until_interrupted`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stop {
    /// This signal arrived (SIGINT or SIGTERM), and the tree was unmounted.
    Signal(i32),
    /// The mount was unmounted from outside (`umount`).
    Unmounted,
}

impl Stop {
    /// The signal that stopped the mount, if one did.
    pub fn signal(self) -> Option<i32> {
        match self {
            Self::Signal(signal) => Some(signal),
            Self::Unmounted => None,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Signal(signal) => write!(f, "signal {signal}"),
            Self::Unmounted => f.write_str("unmounted from outside"),
        }
    }
}

/// Mounts `fs` at `mountpoint` and serves it until the process receives SIGINT or
/// SIGTERM (then unmounts) or the mount is unmounted from outside; says which.
///
/// Call it before starting other threads: the two signals are blocked in the calling
/// thread so that it alone receives them, and threads started earlier would still
/// take them with their default action.
///
/// # Errors
/// The errors of [`spawn_mount`] and [`crate::Mount::unmount`], and
/// [`MountError::Signal`].
pub fn mount_until_interrupted(
    fs: MemoryFileSystem,
    mountpoint: &Path,
    options: &MountOptions,
) -> Result<Stop, MountError> {
    let set = block_stop_signals().map_err(MountError::Signal)?;
    let mount = spawn_mount(fs, mountpoint, options)?;
    let stop = loop {
        if let Some(signal) = wait_for(&set, POLL).map_err(MountError::Signal)? {
            break Stop::Signal(signal);
        }
        if mount.is_finished() {
            break Stop::Unmounted;
        }
    };
    mount.unmount()?;
    Ok(stop)
}
