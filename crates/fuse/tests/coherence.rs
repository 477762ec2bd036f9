//! The mount answers as the core does, in both permission modes: what the kernel
//! caches (entries, attributes, file pages) is dropped as soon as the core changes it
//! through its own API; permissions on special files and `chown(-1, -1)` answer as on
//! tmpfs. Needs root and `/dev/fuse`; without them each test prints a loud SKIP line.

use std::ffi::CString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use memory_fs_fuse::{Mount, MountOptions, PermissionChecks, fuse_usable, spawn_mount};
use memory_fs_posix::{MemoryFileSystem, OpenFlags, S_IFIFO};

const MODES: [PermissionChecks; 2] = [PermissionChecks::Kernel, PermissionChecks::Core];

/// Mounts `fs` in a fresh temporary directory, or says loudly why it cannot.
fn mount(fs: &MemoryFileSystem, checks: PermissionChecks) -> Option<(Mount, tempfile::TempDir)> {
    if let Err(why) = fuse_usable() {
        eprintln!("\n!!! SKIP: FUSE is not usable here ({why}); the mount was not tested\n");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let options = MountOptions {
        permissions: checks,
        ..MountOptions::default()
    };
    let mount = spawn_mount(fs.clone(), dir.path(), &options).expect("mount");
    Some((mount, dir))
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).expect("read through the mount")
}

#[test]
fn changes_through_the_core_reach_the_kernel_at_once() {
    for checks in MODES {
        let fs = MemoryFileSystem::new();
        fs.mkdir("/d", 0o755).expect("mkdir");
        let fd = fs
            .open("/d/f", OpenFlags::WRITE | OpenFlags::CREATE, 0o644)
            .expect("create");
        fs.write(fd, b"version one").expect("write");
        fs.close(fd).expect("close");
        let Some((mount, _dir)) = mount(&fs, checks) else {
            return;
        };
        let root = mount.mountpoint();
        let f = root.join("d/f");
        // The kernel now holds the entry, the attributes and the pages.
        assert_eq!(read(&f), b"version one");
        let mut open = fs::File::open(&f).expect("open");
        assert_eq!(fs::metadata(&f).expect("stat").mode() & 0o777, 0o644);

        // Content: a write through the core is what the next read sees, even on a
        // descriptor that was open (and cached) before.
        let fd = fs.open("/d/f", OpenFlags::WRITE, 0).expect("open");
        fs.pwrite(fd, b"TWO", 8).expect("pwrite");
        fs.close(fd).expect("close");
        let mut text = Vec::new();
        open.seek(SeekFrom::Start(0)).expect("seek");
        open.read_to_end(&mut text).expect("read open file");
        assert_eq!(text, b"version TWO", "{checks:?}");
        assert_eq!(read(&f), b"version TWO", "{checks:?}");
        // Size and attributes.
        fs.truncate("/d/f", 7).expect("truncate");
        assert_eq!(read(&f), b"version", "{checks:?}");
        fs.chmod("/d/f", 0o600).expect("chmod");
        assert_eq!(
            fs::metadata(&f).expect("stat").mode() & 0o777,
            0o600,
            "{checks:?}"
        );
        fs.chown("/d/f", 1000, 1000).expect("chown");
        assert_eq!(fs::metadata(&f).expect("stat").uid(), 1000, "{checks:?}");
        // Entries: renamed, removed, replaced.
        fs.rename("/d/f", "/d/g").expect("rename");
        assert!(!f.exists(), "{checks:?}");
        assert_eq!(read(&root.join("d/g")), b"version");
        fs.symlink("g", "/d/f").expect("symlink");
        assert_eq!(read(&f), b"version", "{checks:?}");
        fs.unlink("/d/f").expect("unlink");
        fs.unlink("/d/g").expect("unlink");
        assert!(!root.join("d/g").exists(), "{checks:?}");
        assert_eq!(
            fs::read_dir(root.join("d")).expect("readdir").count(),
            0,
            "{checks:?}"
        );
        assert_eq!(fs::metadata(root.join("d")).expect("stat").nlink(), 2);
        fs.rmdir("/d").expect("rmdir");
        assert!(!root.join("d").exists(), "{checks:?}");
        drop(open);
        mount.unmount().expect("unmount");
    }
}

/// Runs `f` on a fresh thread whose filesystem identity is `uid`/`gid` (Linux keeps
/// it per thread; the kernel sends it with every FUSE request and checks with it).
fn as_user<T: Send>(uid: u32, gid: u32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: plain system calls changing only this thread's fs identity; the
            // thread ends with the closure, so nothing else runs with it.
            unsafe {
                libc::syscall(libc::SYS_setfsgid, gid);
                libc::syscall(libc::SYS_setfsuid, uid);
            }
            f()
        })
        .join()
        .expect("the thread runs")
    })
}

/// `open(path, O_RDWR | O_NONBLOCK)`: `Ok(())` or the errno.
fn open_rdwr(path: &Path) -> Result<(), i32> {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path");
    // SAFETY: a valid C string; the descriptor is closed at once.
    unsafe {
        let fd = libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK);
        if fd < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        libc::close(fd);
    }
    Ok(())
}

#[test]
fn a_fifo_denied_by_its_mode_cannot_be_opened_as_on_tmpfs() {
    // The owner of a FIFO with mode 0077 may not open it; everyone else may.
    let fs = MemoryFileSystem::new();
    fs.mknod("/fifo", S_IFIFO | 0o077, 0).expect("mkfifo");
    fs.chmod("/fifo", 0o077).expect("chmod past the umask");
    fs.chown("/fifo", 1000, 1000).expect("chown");
    let Some((mount, _dir)) = mount(&fs, PermissionChecks::Kernel) else {
        return;
    };
    let shm = tempfile::tempdir_in("/dev/shm").expect("tmpfs dir");
    let reference = shm.path().join("fifo");
    let c = CString::new(reference.as_os_str().as_bytes()).expect("path");
    // SAFETY: valid C strings.
    unsafe {
        assert_eq!(libc::mkfifo(c.as_ptr(), 0o077), 0);
        assert_eq!(libc::chmod(c.as_ptr(), 0o077), 0);
        assert_eq!(libc::chown(c.as_ptr(), 1000, 1000), 0);
    }
    let fifo = mount.mountpoint().join("fifo");
    for (uid, gid) in [(1000, 1000), (2000, 2000)] {
        let on_tmpfs = as_user(uid, gid, || open_rdwr(&reference));
        let on_mount = as_user(uid, gid, || open_rdwr(&fifo));
        assert_eq!(on_mount, on_tmpfs, "uid {uid}");
    }
    assert_eq!(as_user(1000, 1000, || open_rdwr(&fifo)), Err(libc::EACCES));
    mount.unmount().expect("unmount");
}

/// ctime (seconds, nanoseconds) and mode of `path`.
fn ctime_and_mode(path: &Path) -> ((i64, i64), u32) {
    let m = fs::symlink_metadata(path).expect("stat");
    ((m.ctime(), m.ctime_nsec()), m.mode())
}

fn chown_keep_both(path: &Path) -> i32 {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path");
    // SAFETY: a valid C string; (uid_t)-1 and (gid_t)-1 keep owner and group.
    unsafe { libc::chown(c.as_ptr(), u32::MAX, u32::MAX) }
}

#[test]
fn chown_keeping_owner_and_group_still_changes_ctime_as_on_tmpfs() {
    let shm = tempfile::tempdir_in("/dev/shm").expect("tmpfs dir");
    for checks in MODES {
        let fs = MemoryFileSystem::new();
        let Some((mount, _dir)) = mount(&fs, checks) else {
            return;
        };
        for (dir, name) in [
            (shm.path(), format!("f-{checks:?}")),
            (mount.mountpoint(), "f".into()),
        ] {
            let path = dir.join(name);
            fs::write(&path, b"x").expect("create");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o4755)).expect("chmod");
            let (before, _) = ctime_and_mode(&path);
            assert_eq!(chown_keep_both(&path), 0);
            let (after, mode) = ctime_and_mode(&path);
            assert!(
                after > before,
                "{checks:?} {}: ctime {before:?} -> {after:?}",
                dir.display()
            );
            // What Linux does to set-user-id meanwhile, the mount does too.
            let reference = ctime_and_mode(&shm.path().join(format!("f-{checks:?}"))).1;
            assert_eq!(mode, reference, "{checks:?} {}", dir.display());
        }
        mount.unmount().expect("unmount");
    }
}

/// What the kernel asks for each call, counted: with kernel checks a status it has
/// seen costs nothing, with core checks every step asks the core again; a close never
/// costs a flush.
#[test]
fn requests_per_call() {
    for checks in MODES {
        let fs = MemoryFileSystem::new();
        fs.mkdir("/d", 0o755).expect("mkdir");
        let Some((mount, _dir)) = mount(&fs, checks) else {
            return;
        };
        let f = mount.mountpoint().join("d/f");
        // The first close learns that flush is not needed.
        fs::write(mount.mountpoint().join("d/warm"), b"x").expect("write");
        let before = mount.requests();
        fs::write(&f, vec![7u8; 1024]).expect("create, write, close");
        let created = mount.requests().since(&before);
        assert_eq!(
            (
                created.get("create"),
                created.get("write"),
                created.get("flush")
            ),
            (1, 1, 0),
            "{checks:?}: {created:?}"
        );
        assert_eq!(fs::metadata(&f).expect("stat").len(), 1024);
        let again = mount.requests();
        assert_eq!(fs::metadata(&f).expect("stat").len(), 1024);
        let second = mount.requests().since(&again);
        match checks {
            PermissionChecks::Kernel => assert_eq!(second.total(), 0, "{second:?}"),
            _ => assert!(
                second.get("lookup") >= 2 && second.get("getattr") >= 1,
                "{checks:?}: {second:?}"
            ),
        }
        mount.unmount().expect("unmount");
    }
}
