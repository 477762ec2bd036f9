//! Mounts a `memory-fs-posix` tree through FUSE, kernel-checked and cached or with the core deciding every permission.
#![doc = include_str!("../README.md")]

mod adapter;
mod counts;
mod signals;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memory_fs_posix::{ChangeObserver, InodeChange, MemoryFileSystem};

pub use counts::RequestCounts;
pub use signals::{Stop, mount_until_interrupted};

/// The POSIX core this crate mounts, re-exported so callers need only this crate.
pub use memory_fs_posix as posix;

/// Who checks permissions on the mount, and so what the kernel may cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PermissionChecks {
    /// The kernel checks mode bits against the core's attributes
    /// (`default_permissions`), and caches entries and attributes (for
    /// [`CACHE_TTL`]) and file pages across opens; whatever changes the tree other
    /// than through the mount is passed on to the kernel as invalidation
    /// notifications, so every answer stays the core's. The fast mode, and the
    /// default. The core still checks every request too.
    #[default]
    Kernel,
    /// No `default_permissions` and zero timeouts: the kernel asks the core at every
    /// path step and for every status, so the core alone decides every permission —
    /// how pjdfstest tests the core. The kernel opens FIFOs, sockets and devices
    /// without asking the filesystem, so their mode bits go unchecked in this mode.
    Core,
}

/// How long the kernel may keep entries and attributes in
/// [`PermissionChecks::Kernel`] mode (changes from outside the mount are
/// invalidated at once; this bounds nothing but the kernel's memory of them).
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// How to mount a tree.
///
/// ```
/// use memory_fs_fuse::{MountOptions, PermissionChecks};
/// let options = MountOptions { read_only: true, ..MountOptions::default() };
/// assert!(options.allow_other);
/// assert_eq!(options.permissions, PermissionChecks::Kernel);
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
    /// Threads serving kernel requests, each reading its own clone of the FUSE
    /// device. Default: the number of CPUs, at least 2.
    pub threads: usize,
    /// Who checks permissions (and so what the kernel caches). Default:
    /// [`PermissionChecks::Kernel`].
    pub permissions: PermissionChecks,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            allow_other: true,
            read_only: false,
            fs_name: "memory-fs".to_owned(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            permissions: PermissionChecks::default(),
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
    /// Passes changes made outside the mount on to the kernel, while mounted.
    _observer: ChangeObserver,
    counts: Arc<counts::Counts>,
}

impl Mount {
    /// Where the tree is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The requests the kernel has sent so far, by kind.
    pub fn requests(&self) -> RequestCounts {
        self.counts.snapshot()
    }

    /// Whether the mount has ended on its own: unmounted from outside (`umount`), or
    /// the kernel ended the connection.
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
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
        let unmount_error = |source| MountError::Unmount {
            mountpoint: self.mountpoint.clone(),
            source,
        };
        if session.guard.is_finished() {
            // Unmounted from outside: there is nothing left to unmount, only the
            // request threads' end to collect.
            return session.join().map_err(unmount_error);
        }
        match session.umount_and_join() {
            Ok(()) => Ok(()),
            // Unmounted from outside since the check above: it is gone, as asked.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
            Err(e) => {
                if e.raw_os_error() == Some(libc::EBUSY) {
                    detach(&self.mountpoint);
                }
                Err(unmount_error(e))
            }
        }
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
    if options.permissions == PermissionChecks::Kernel {
        config
            .mount_options
            .push(fuser::MountOption::DefaultPermissions);
    }
    config.acl = if options.allow_other {
        fuser::SessionACL::All
    } else {
        fuser::SessionACL::Owner
    };
    config.n_threads = Some(options.threads.max(1));
    // Each request thread reads its own clone of the device, so they never queue on
    // one another's reads.
    config.clone_fd = true;
    // The kernel learns of changes made outside the mount through notifications,
    // which exist only once the session does; until then it has cached nothing.
    let notifier: Arc<OnceLock<fuser::Notifier>> = Arc::default();
    let sink = Arc::clone(&notifier);
    let (observer, served) = fs.observe_changes(move |changes: &[InodeChange]| {
        if let Some(notifier) = sink.get() {
            adapter::invalidate(notifier, changes);
        }
    });
    let counts = Arc::new(counts::Counts::default());
    let adapter = adapter::Adapter::new(served, options.permissions, Arc::clone(&counts));
    let session =
        fuser::spawn_mount(adapter, &mountpoint, &config).map_err(|source| MountError::Mount {
            mountpoint: mountpoint.clone(),
            source,
        })?;
    let _ = notifier.set(session.notifier());
    Ok(Mount {
        session: Some(session),
        mountpoint,
        _observer: observer,
        counts,
    })
}
