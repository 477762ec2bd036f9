//! Mounts a `memory-fs-posix` tree through FUSE, with the core deciding permissions.
#![doc = include_str!("../README.md")]

mod adapter;
mod signals;

use std::io;
use std::path::{Path, PathBuf};

use memory_fs_posix::MemoryFileSystem;

pub use signals::mount_until_interrupted;

/// The POSIX core this crate mounts, re-exported so callers need only this crate.
pub use memory_fs_posix as posix;

/// How to mount a tree.
///
/// ```
/// use memory_fs_fuse::MountOptions;
/// let options = MountOptions { read_only: true, ..MountOptions::default() };
/// assert!(options.allow_other);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Let every user reach the mount (`allow_other`), not only the one who mounted
    /// it. Each request still runs as its caller and the core checks permissions.
    /// Default: `true`.
    pub allow_other: bool,
    /// Mount read-only: the kernel refuses every change with `EROFS`. Default: `false`.
    pub read_only: bool,
    /// The source name shown by `mount` and `/proc/mounts`. Default: `"memory-fs"`.
    pub fs_name: String,
    /// Threads serving kernel requests. Default: 2.
    pub threads: usize,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            allow_other: true,
            read_only: false,
            fs_name: "memory-fs".to_owned(),
            threads: 2,
        }
    }
}

/// Why mounting or unmounting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MountError {
    /// FUSE cannot be used here (see [`fuse_usable`]).
    #[error("FUSE is not usable: {0}")]
    NotUsable(String),
    /// The kernel refused the mount.
    #[error("cannot mount at {}: {source}", mountpoint.display())]
    Mount {
        /// Where the mount was attempted.
        mountpoint: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The kernel refused to unmount (the mount is then detached lazily).
    #[error("cannot unmount {}: {source}", mountpoint.display())]
    Unmount {
        /// The mount point.
        mountpoint: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Waiting for a signal failed.
    #[error("cannot wait for a signal: {0}")]
    Signal(#[source] io::Error),
}

/// Whether this process can mount FUSE filesystems: `Err` says why not.
///
/// The pure-Rust mount needs root (it calls `mount(2)` itself) and a `/dev/fuse` it can
/// open.
///
/// # Errors
/// A sentence for the person at the terminal: not root, or no usable `/dev/fuse`.
pub fn fuse_usable() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(format!(
            "mounting needs root (this process runs as uid {euid})"
        ));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .map(drop)
        .map_err(|e| format!("cannot open /dev/fuse: {e}"))
}

/// A mounted tree; dropping it unmounts (lazily, if the mount is busy).
#[derive(Debug)]
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
}

impl Mount {
    /// Where the tree is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Unmounts and waits for the request threads to finish.
    ///
    /// # Errors
    /// [`MountError::Unmount`] if the kernel refuses (usually `EBUSY`: a file is still
    /// open or a process works in the mount); the mount is then detached lazily and
    /// goes away once it is no longer used.
    pub fn unmount(mut self) -> Result<(), MountError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), MountError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        session.umount_and_join().map_err(|source| {
            detach(&self.mountpoint);
            MountError::Unmount {
                mountpoint: self.mountpoint.clone(),
                source,
            }
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // A destructor cannot report; `finish` has already detached a busy mount.
        let _ = self.finish();
    }
}

/// Lazily detaches the mount at `mountpoint` (`umount2(MNT_DETACH)`).
fn detach(mountpoint: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    unsafe {
        libc::umount2(path.as_ptr(), libc::MNT_DETACH);
    }
}

/// Mounts `fs` at `mountpoint` (an existing directory) and serves it from background
/// threads until the returned [`Mount`] is unmounted or dropped.
///
/// # Errors
/// [`MountError::NotUsable`] when [`fuse_usable`] fails, [`MountError::Mount`] when
/// the kernel refuses.
pub fn spawn_mount(
    fs: MemoryFileSystem,
    mountpoint: &Path,
    options: &MountOptions,
) -> Result<Mount, MountError> {
    fuse_usable().map_err(MountError::NotUsable)?;
    let mountpoint = mountpoint
        .canonicalize()
        .map_err(|source| MountError::Mount {
            mountpoint: mountpoint.to_path_buf(),
            source,
        })?;
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName(options.fs_name.clone()),
        fuser::MountOption::Subtype("memory-fs".to_owned()),
    ];
    if options.read_only {
        config.mount_options.push(fuser::MountOption::RO);
    }
    config.acl = if options.allow_other {
        fuser::SessionACL::All
    } else {
        fuser::SessionACL::Owner
    };
    config.n_threads = Some(options.threads.max(1));
    let session =
        fuser::spawn_mount(adapter::Adapter::new(fs), &mountpoint, &config).map_err(|source| {
            MountError::Mount {
                mountpoint: mountpoint.clone(),
                source,
            }
        })?;
    Ok(Mount {
        session: Some(session),
        mountpoint,
    })
}
