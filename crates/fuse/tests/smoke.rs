//! The mount end to end: `std::fs` through a FUSE mount of the core, checked against
//! the core itself. Needs root and `/dev/fuse`; without them each test prints a loud
//! SKIP line and returns.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use memory_fs_fuse::{Mount, MountOptions, fuse_usable, spawn_mount};
use memory_fs_posix::MemoryFileSystem;

/// Mounts `fs` in a fresh temporary directory, or says loudly why it cannot.
fn mount(fs: &MemoryFileSystem, options: &MountOptions) -> Option<(Mount, tempfile::TempDir)> {
    if let Err(why) = fuse_usable() {
        eprintln!("\n!!! SKIP: FUSE is not usable here ({why}); the mount was not tested\n");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mount = spawn_mount(fs.clone(), dir.path(), options).expect("mount");
    Some((mount, dir))
}

fn is_mounted(path: &Path) -> bool {
    let wanted = path.to_string_lossy().into_owned();
    fs::read_to_string("/proc/mounts")
        .expect("/proc/mounts")
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(wanted.as_str()))
}

#[test]
fn std_fs_through_the_mount() {
    let fs = MemoryFileSystem::new();
    let Some((mount, _dir)) = mount(&fs, &MountOptions::default()) else {
        return;
    };
    let root = mount.mountpoint().to_path_buf();
    assert!(is_mounted(&root));

    // Write and read back, in both directions between the mount and the core.
    fs::write(root.join("hello.txt"), b"hello, world").expect("write");
    assert_eq!(
        fs.read_file("/hello.txt").expect("core read"),
        b"hello, world"
    );
    assert_eq!(
        fs::read(root.join("hello.txt")).expect("read"),
        b"hello, world"
    );
    fs.mkdir("/from-core", 0o750).expect("core mkdir");
    let meta = fs::metadata(root.join("from-core")).expect("stat");
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o750);

    // Directories, rename, symlink, hard link, readdir.
    fs::create_dir(root.join("docs")).expect("mkdir");
    fs::rename(root.join("hello.txt"), root.join("docs/greeting.txt")).expect("rename");
    assert!(!root.join("hello.txt").exists());
    std::os::unix::fs::symlink("docs/greeting.txt", root.join("link")).expect("symlink");
    assert_eq!(
        fs::read_link(root.join("link")).expect("readlink"),
        Path::new("docs/greeting.txt")
    );
    assert_eq!(
        fs::read(root.join("link")).expect("read via link"),
        b"hello, world"
    );
    fs::hard_link(root.join("docs/greeting.txt"), root.join("hard")).expect("link");
    assert_eq!(fs::metadata(root.join("hard")).expect("stat").nlink(), 2);
    let mut names: Vec<String> = fs::read_dir(&root)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert_eq!(names, ["docs", "from-core", "hard", "link"]);
    assert_eq!(fs.readdir("/").expect("core readdir"), names);

    // chmod, seen by the core.
    fs::set_permissions(root.join("hard"), fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(
        fs.stat("/docs/greeting.txt").expect("stat").permissions(),
        0o600
    );

    // Seek, overwrite, truncate, and a file that stays readable after unlink while open.
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(root.join("hard"))
        .expect("open");
    f.seek(SeekFrom::Start(7)).expect("seek");
    f.write_all(b"FUSE!").expect("overwrite");
    fs::remove_file(root.join("hard")).expect("unlink");
    fs::remove_file(root.join("docs/greeting.txt")).expect("unlink");
    f.seek(SeekFrom::Start(0)).expect("seek");
    let mut text = String::new();
    f.read_to_string(&mut text).expect("read unlinked");
    assert_eq!(text, "hello, FUSE!");
    f.set_len(5).expect("ftruncate");
    assert_eq!(f.metadata().expect("fstat").len(), 5);
    drop(f);

    // Errors come back with the core's errno.
    let err = fs::remove_dir(root.join("missing")).expect_err("rmdir missing");
    assert_eq!(err.raw_os_error(), Some(libc_enoent()));
    fs::write(root.join("docs/x"), b"x").expect("write");
    let err = fs::remove_dir(root.join("docs")).expect_err("rmdir non-empty");
    assert_eq!(err.kind(), std::io::ErrorKind::DirectoryNotEmpty);

    mount.unmount().expect("unmount");
    assert!(!is_mounted(&root));
    // The tree outlives the mount.
    assert_eq!(fs.read_file("/docs/x").expect("core read"), b"x");
}

fn libc_enoent() -> i32 {
    memory_fs_posix::Errno::ENOENT.raw()
}

#[test]
fn read_only_mount_refuses_changes() {
    let fs = MemoryFileSystem::new();
    fs.mkdir("/kept", 0o755).expect("mkdir");
    let options = MountOptions {
        read_only: true,
        ..MountOptions::default()
    };
    let Some((mount, _dir)) = mount(&fs, &options) else {
        return;
    };
    let root = mount.mountpoint();
    assert!(root.join("kept").is_dir());
    let err = fs::write(root.join("new"), b"x").expect_err("write on a read-only mount");
    assert_eq!(
        err.raw_os_error(),
        Some(memory_fs_posix::Errno::EROFS.raw())
    );
    drop(mount);
    assert!(fs.stat("/new").is_err());
}

#[test]
fn the_binary_unmounts_on_sigterm() {
    if let Err(why) = fuse_usable() {
        eprintln!("\n!!! SKIP: FUSE is not usable here ({why}); the binary was not tested\n");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mountpoint = dir.path().canonicalize().expect("canonical");
    let mut child = Command::new(env!("CARGO_BIN_EXE_memory-fs-mount"))
        .arg(&mountpoint)
        .spawn()
        .expect("start memory-fs-mount");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_mounted(&mountpoint) {
        assert!(Instant::now() < deadline, "the mount did not appear");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "memory-fs-mount exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::write(mountpoint.join("f"), b"data").expect("write through the binary's mount");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "memory-fs-mount ended with {status}");
    assert!(!is_mounted(&mountpoint));
}

#[test]
fn the_binary_exits_cleanly_after_an_outside_umount() {
    if let Err(why) = fuse_usable() {
        eprintln!("\n!!! SKIP: FUSE is not usable here ({why}); the binary was not tested\n");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mountpoint = dir.path().canonicalize().expect("canonical");
    let mut child = Command::new(env!("CARGO_BIN_EXE_memory-fs-mount"))
        .arg(&mountpoint)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start memory-fs-mount");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_mounted(&mountpoint) {
        assert!(Instant::now() < deadline, "the mount did not appear");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::write(mountpoint.join("f"), b"data").expect("write through the binary's mount");
    let status = Command::new("umount")
        .arg(&mountpoint)
        .status()
        .expect("umount");
    assert!(status.success());
    // It notices by itself, and ends without trying to unmount again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("memory-fs-mount is still running 20 s after the umount");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("stderr");
    }
    assert!(
        status.success(),
        "memory-fs-mount ended with {status}: {stderr}"
    );
    assert!(!stderr.contains("cannot unmount"), "{stderr}");
    assert!(stderr.contains("unmounted from outside"), "{stderr}");
    assert!(!is_mounted(&mountpoint));
}
