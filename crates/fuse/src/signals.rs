//! `mount_until_interrupted`: mount, wait for SIGINT or SIGTERM, unmount.

use std::io;
use std::path::Path;

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

/// Waits for one of the signals in `set` (which must be blocked) and returns it.
fn wait_for(set: &libc::sigset_t) -> io::Result<i32> {
    let mut signal = 0;
    // SAFETY: `set` is an initialised signal set and `signal` a valid out pointer.
    let rc = unsafe { libc::sigwait(set, &mut signal) };
    if rc == 0 {
        Ok(signal)
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Mounts `fs` at `mountpoint`, serves it until the process receives SIGINT or
/// SIGTERM, then unmounts and returns the signal number.
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
) -> Result<i32, MountError> {
    let set = block_stop_signals().map_err(MountError::Signal)?;
    let mount = spawn_mount(fs, mountpoint, options)?;
    let signal = wait_for(&set).map_err(MountError::Signal)?;
    mount.unmount()?;
    Ok(signal)
}
