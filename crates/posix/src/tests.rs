//! Unit tests of the public operations: one checker per kind, many one-line cases.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::*;

const RW: OpenFlags = OpenFlags::READ.union(OpenFlags::WRITE);
const RWC: OpenFlags = RW.union(OpenFlags::CREATE);

fn alice() -> Credentials {
    Credentials {
        uid: 1000,
        gid: 1000,
        groups: vec![],
    }
}

fn bob() -> Credentials {
    Credentials {
        uid: 2000,
        gid: 2000,
        groups: vec![],
    }
}

/// A tree with `/d` (dir), `/d/f` ("hello"), `/l` → `d/f`, `/loop` → `loop`.
fn fixture() -> MemoryFileSystem {
    let fs = MemoryFileSystem::new();
    fs.mkdir("/d", 0o755).unwrap();
    let fd = fs.open("/d/f", RWC, 0o644).unwrap();
    fs.write(fd, b"hello").unwrap();
    fs.close(fd).unwrap();
    fs.symlink("d/f", "/l").unwrap();
    fs.symlink("loop", "/loop").unwrap();
    fs
}

#[track_caller]
fn errno<T: std::fmt::Debug>(r: Result<T>, want: Errno) {
    match r {
        Ok(v) => panic!("expected {want}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.errno(), want, "{e}"),
    }
}

fn read_all(fs: &MemoryFileSystem, path: &str) -> Vec<u8> {
    let mut f = fs.open_file(path, OpenFlags::READ, 0).unwrap();
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MemoryFileSystem>();
    assert_send_sync::<File>();
    assert_send_sync::<PosixError>();
    assert_send_sync::<Stat>();
    fn assert_send<T: Send>() {}
    assert_send::<Watcher>();
}

#[test]
fn errno_numbers_are_linux() {
    for (e, n) in [
        (Errno::EPERM, 1),
        (Errno::ENOENT, 2),
        (Errno::EBADF, 9),
        (Errno::EACCES, 13),
        (Errno::EEXIST, 17),
        (Errno::ENOTDIR, 20),
        (Errno::EISDIR, 21),
        (Errno::EINVAL, 22),
        (Errno::EFBIG, 27),
        (Errno::ENOSPC, 28),
        (Errno::EROFS, 30),
        (Errno::ENAMETOOLONG, 36),
        (Errno::ENOTEMPTY, 39),
        (Errno::ELOOP, 40),
    ] {
        assert_eq!(e.raw(), n);
        assert_eq!(Errno::from_raw(n), Some(e));
    }
    let io: std::io::Error = PosixError::new(Errno::ENOENT, "stat", Some("/x")).into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn error_messages() {
    let fs = fixture();
    let messages: Vec<String> = [
        fs.stat("/missing").map(|_| ()),
        fs.mkdir("/d", 0o755),
        fs.rmdir("/d"),
        fs.unlink("/d"),
        fs.open("/loop", OpenFlags::READ, 0).map(|_| ()),
        fs.close(Fd(42)),
        fs.rename("/d", "/d/x"),
    ]
    .into_iter()
    .map(|r| r.unwrap_err().to_string())
    .collect();
    insta::assert_snapshot!(messages.join("\n"), @r"
    ENOENT: No such file or directory: stat /missing
    EEXIST: File exists: mkdir /d
    ENOTEMPTY: Directory not empty: rmdir /d
    EISDIR: Is a directory: unlink /d
    ELOOP: Too many levels of symbolic links: open /loop
    EBADF: Bad file descriptor: close fd 42
    EINVAL: Invalid argument: rename /d -> /d/x
    ");
}

#[test]
fn open_cases() {
    let fs = fixture();
    errno(fs.open("", OpenFlags::READ, 0), Errno::ENOENT);
    errno(fs.open("/nope", OpenFlags::READ, 0), Errno::ENOENT);
    errno(fs.open("/d/f", RWC | OpenFlags::EXCL, 0o644), Errno::EEXIST);
    errno(fs.open("/d", OpenFlags::WRITE, 0), Errno::EISDIR);
    errno(
        fs.open("/d", OpenFlags::READ | OpenFlags::CREATE, 0o644),
        Errno::EISDIR,
    );
    errno(fs.open("/new/", RWC, 0o644), Errno::EISDIR);
    errno(
        fs.open("/d/f", OpenFlags::READ | OpenFlags::DIRECTORY, 0),
        Errno::ENOTDIR,
    );
    errno(fs.open("/d/f/x", OpenFlags::READ, 0), Errno::ENOTDIR);
    errno(
        fs.open("/l", OpenFlags::READ | OpenFlags::NOFOLLOW, 0),
        Errno::ELOOP,
    );
    errno(
        fs.open("/x", OpenFlags::CREATE | OpenFlags::DIRECTORY, 0),
        Errno::EINVAL,
    );
    errno(fs.open("/loop", OpenFlags::READ, 0), Errno::ELOOP);
    errno(fs.open("/..", RWC | OpenFlags::EXCL, 0o644), Errno::EEXIST);
    errno(
        fs.open(&format!("/{}", "n".repeat(256)), RWC, 0o644),
        Errno::ENAMETOOLONG,
    );
    errno(
        fs.open(&"/a".repeat(2048), OpenFlags::READ, 0),
        Errno::ENAMETOOLONG,
    );
    // Following a symlink and creating through a dangling one.
    let fd = fs.open("/l", OpenFlags::READ, 0).unwrap();
    fs.close(fd).unwrap();
    fs.symlink("d/created", "/dangling").unwrap();
    let fd = fs.open("/dangling", RWC, 0o600).unwrap();
    fs.close(fd).unwrap();
    assert!(fs.stat("/d/created").unwrap().is_file());
    // RDONLY|TRUNC truncates.
    let fd = fs.open("/d/f", OpenFlags::TRUNC, 0).unwrap();
    fs.close(fd).unwrap();
    assert_eq!(fs.stat("/d/f").unwrap().size, 0);
}

#[test]
fn read_write_seek_cases() {
    let fs = fixture();
    let fd = fs.open("/d/f", RW, 0).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(fs.read(fd, &mut buf).unwrap(), 5);
    assert_eq!(fs.read(fd, &mut buf).unwrap(), 0, "at end of file");
    assert_eq!(fs.lseek(fd, 0, Whence::Cur).unwrap(), 5);
    assert_eq!(fs.lseek(fd, 10, Whence::Set).unwrap(), 10);
    assert_eq!(fs.read(fd, &mut buf).unwrap(), 0);
    assert_eq!(
        fs.lseek(fd, 0, Whence::Cur).unwrap(),
        10,
        "a read past EOF leaves the offset"
    );
    assert_eq!(fs.write(fd, b"!").unwrap(), 1);
    assert_eq!(read_all(&fs, "/d/f"), b"hello\0\0\0\0\0!");
    errno(fs.lseek(fd, -1, Whence::Set), Errno::EINVAL);
    assert_eq!(fs.lseek(fd, -1, Whence::End).unwrap(), 10);
    assert_eq!(fs.pwrite(fd, b"J", 0).unwrap(), 1);
    assert_eq!(fs.pread(fd, &mut buf[..5], 0).unwrap(), 5);
    assert_eq!(&buf[..5], b"Jello");
    errno(fs.pread(fd, &mut buf, -1), Errno::EINVAL);
    errno(fs.pread(Fd(77), &mut buf, -1), Errno::EINVAL);
    errno(fs.pread(Fd(77), &mut buf, 0), Errno::EBADF);
    fs.ftruncate(fd, 2).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, 2);
    fs.close(fd).unwrap();
    errno(fs.close(fd), Errno::EBADF);
    errno(fs.read(fd, &mut buf), Errno::EBADF);

    let ro = fs.open("/d/f", OpenFlags::READ, 0).unwrap();
    errno(fs.write(ro, b"x"), Errno::EBADF);
    errno(fs.ftruncate(ro, 0), Errno::EINVAL);
    let wo = fs.open("/d/f", OpenFlags::WRITE, 0).unwrap();
    errno(fs.read(wo, &mut buf), Errno::EBADF);
    let dir = fs.open("/d", OpenFlags::READ, 0).unwrap();
    errno(fs.read(dir, &mut buf), Errno::EISDIR);
    errno(fs.lseek(dir, 0, Whence::End), Errno::EINVAL);
}

#[test]
fn append_ignores_offsets() {
    let fs = fixture();
    let fd = fs
        .open("/d/f", OpenFlags::WRITE | OpenFlags::APPEND, 0)
        .unwrap();
    fs.lseek(fd, 0, Whence::Set).unwrap();
    fs.write(fd, b"1").unwrap();
    fs.pwrite(fd, b"2", 0).unwrap();
    assert_eq!(
        fs.lseek(fd, 0, Whence::Cur).unwrap(),
        6,
        "pwrite does not move the offset"
    );
    assert_eq!(read_all(&fs, "/d/f"), b"hello12");
}

#[test]
fn directories_and_nlink() {
    let fs = MemoryFileSystem::new();
    fs.mkdir("/a", 0o755).unwrap();
    fs.mkdir("/a/b/", 0o755).unwrap();
    fs.mkdir("/a/c", 0o755).unwrap();
    assert_eq!(fs.stat("/a").unwrap().nlink, 4);
    assert_eq!(fs.stat("/").unwrap().nlink, 3);
    assert_eq!(fs.readdir("/a").unwrap(), ["b", "c"]);
    errno(fs.mkdir("/a", 0o755), Errno::EEXIST);
    errno(fs.mkdir("/a/.", 0o755), Errno::EEXIST);
    errno(fs.mkdir("/", 0o755), Errno::EEXIST);
    errno(fs.mkdir("/x/y", 0o755), Errno::ENOENT);
    errno(fs.rmdir("/a"), Errno::ENOTEMPTY);
    errno(fs.rmdir("/a/.."), Errno::ENOTEMPTY);
    errno(fs.rmdir("/a/."), Errno::EINVAL);
    errno(fs.rmdir("/"), Errno::EBUSY);
    errno(fs.readdir("/nope"), Errno::ENOENT);
    fs.rmdir("/a/b").unwrap();
    assert_eq!(fs.stat("/a").unwrap().nlink, 3);
    let fd = fs.open("/a/f", RWC, 0o644).unwrap();
    fs.close(fd).unwrap();
    errno(fs.rmdir("/a/f"), Errno::ENOTDIR);
    errno(fs.readdir("/a/f"), Errno::ENOTDIR);
    assert_eq!(fs.stat("/a").unwrap().mode & 0o777, 0o755);
    assert_eq!(
        fs.stat("/a").unwrap().size,
        80,
        "tmpfs counts 20 bytes per entry plus two"
    );
}

#[test]
fn unlink_cases() {
    let fs = fixture();
    errno(fs.unlink("/d"), Errno::EISDIR);
    errno(fs.unlink("/d/f/"), Errno::ENOTDIR);
    errno(fs.unlink("/d/missing"), Errno::ENOENT);
    errno(fs.unlink("/d/."), Errno::EISDIR);
    fs.unlink("/l").unwrap();
    assert!(
        fs.stat("/d/f").is_ok(),
        "unlinking a symlink keeps its target"
    );
}

#[test]
fn unlinked_file_lives_while_open() {
    let fs = fixture();
    let before = fs.usage();
    let fd = fs.open("/d/f", RW, 0).unwrap();
    fs.unlink("/d/f").unwrap();
    errno(fs.stat("/d/f"), Errno::ENOENT);
    assert_eq!(fs.fstat(fd).unwrap().nlink, 0);
    fs.lseek(fd, 0, Whence::End).unwrap();
    fs.write(fd, b" world").unwrap();
    let mut buf = [0u8; 11];
    assert_eq!(fs.pread(fd, &mut buf, 0).unwrap(), 11);
    assert_eq!(&buf, b"hello world");
    fs.close(fd).unwrap();
    assert_eq!(fs.usage().inodes, before.inodes - 1);
    assert_eq!(fs.usage().bytes, 0, "the bytes go at the last close");
}

#[test]
fn hard_links() {
    let fs = fixture();
    fs.link("/d/f", "/g").unwrap();
    assert_eq!(fs.stat("/g").unwrap().nlink, 2);
    assert_eq!(fs.stat("/g").unwrap().ino, fs.stat("/d/f").unwrap().ino);
    errno(fs.link("/d", "/d2"), Errno::EPERM);
    errno(fs.link("/d/f", "/g"), Errno::EEXIST);
    errno(fs.link("/nope", "/h"), Errno::ENOENT);
    errno(fs.link("/d/f", "/h/"), Errno::ENOENT);
    fs.link("/l", "/l2").unwrap();
    assert!(
        fs.lstat("/l2").unwrap().is_symlink(),
        "link does not follow a symlink"
    );
    fs.unlink("/d/f").unwrap();
    assert_eq!(fs.stat("/g").unwrap().nlink, 1);
    assert_eq!(read_all(&fs, "/g"), b"hello");
    // Protected hardlinks: bob may not link alice's private file.
    let fs = MemoryFileSystem::new();
    fs.chmod("/", 0o777).unwrap();
    let a = fs.with_credentials(alice());
    let fd = a.open("/secret", RWC, 0o600).unwrap();
    a.close(fd).unwrap();
    errno(
        fs.with_credentials(bob()).link("/secret", "/mine"),
        Errno::EPERM,
    );
}

#[test]
fn symlink_cases() {
    let fs = fixture();
    errno(fs.symlink("", "/e"), Errno::ENOENT);
    errno(fs.symlink("t", "/x/"), Errno::ENOENT);
    errno(fs.symlink("t", "/d"), Errno::EEXIST);
    errno(fs.symlink(&"t".repeat(4096), "/long"), Errno::ENAMETOOLONG);
    assert_eq!(fs.readlink("/l").unwrap(), "d/f");
    errno(fs.readlink("/d"), Errno::EINVAL);
    assert_eq!(fs.lstat("/l").unwrap().size, 3);
    errno(fs.stat("/loop"), Errno::ELOOP);
    // A chain of 40 links resolves; 41 do not.
    fs.symlink("d/f", "/s0").unwrap();
    for i in 1..=40 {
        fs.symlink(&format!("s{}", i - 1), &format!("/s{i}"))
            .unwrap();
    }
    assert!(fs.stat("/s39").is_ok());
    errno(fs.stat("/s40"), Errno::ELOOP);
    // Relative targets start from the link's directory; absolute from the root.
    fs.symlink("../d", "/d/up").unwrap();
    assert!(fs.stat("/d/up/f").unwrap().is_file());
    fs.symlink("/d/f", "/d/abs").unwrap();
    assert!(fs.stat("/d/abs").unwrap().is_file());
    errno(fs.stat("/l/"), Errno::ENOTDIR);
    assert_eq!(fs.realpath("/d/up/./f").unwrap(), "/d/f");
    assert_eq!(fs.realpath("/").unwrap(), "/");
    errno(fs.realpath("/d/missing"), Errno::ENOENT);
}

#[test]
fn rename_cases() {
    let fs = fixture();
    fs.mkdir("/e", 0o755).unwrap();
    fs.mkdir("/e/sub", 0o755).unwrap();
    errno(fs.rename("/d", "/d/x"), Errno::EINVAL);
    errno(fs.rename("/e/sub", "/e"), Errno::ENOTEMPTY);
    errno(fs.rename("/d/.", "/z"), Errno::EBUSY);
    errno(fs.rename("/d/f", "/z/"), Errno::ENOTDIR);
    errno(fs.rename("/d/f", "/e"), Errno::EISDIR);
    errno(fs.rename("/e", "/d/f"), Errno::ENOTDIR);
    errno(fs.rename("/missing", "/z"), Errno::ENOENT);
    fs.mkdir("/empty", 0o755).unwrap();
    fs.rename("/e", "/empty").unwrap();
    assert!(fs.stat("/empty/sub").unwrap().is_dir());
    errno(fs.rename("/d", "/empty"), Errno::ENOTEMPTY);
    fs.rename("/d/f", "/d/f").unwrap();
    fs.link("/d/f", "/same").unwrap();
    fs.rename("/d/f", "/same").unwrap();
    assert!(
        fs.stat("/d/f").is_ok(),
        "renaming onto another link of the same file does nothing"
    );
    fs.rename("/empty/sub", "/d/sub").unwrap();
    assert_eq!(fs.stat("/d").unwrap().nlink, 3);
    assert_eq!(fs.stat("/empty").unwrap().nlink, 2);
    assert_eq!(fs.realpath("/d/sub/..").unwrap(), "/d");
}

#[test]
fn permissions() {
    let fs = MemoryFileSystem::new();
    fs.mkdir("/home", 0o755).unwrap();
    fs.mkdir("/home/alice", 0o700).unwrap();
    fs.chown("/home/alice", 1000, 1000).unwrap();
    let a = fs.with_credentials(alice());
    let b = fs.with_credentials(bob());
    let fd = a.open("/home/alice/notes", RWC, 0o644).unwrap();
    a.close(fd).unwrap();
    errno(b.stat("/home/alice/notes"), Errno::EACCES);
    errno(b.readdir("/home/alice"), Errno::EACCES);
    errno(b.mkdir("/home/bob", 0o755), Errno::EACCES);
    errno(b.chmod("/home/alice", 0o777), Errno::EPERM);
    errno(a.chown("/home/alice/notes", 2000, None), Errno::EPERM);
    errno(a.chown("/home/alice/notes", None, 2000), Errno::EPERM);
    a.chown("/home/alice/notes", None, 1000).unwrap();
    a.chmod("/home/alice", 0o711).unwrap();
    errno(b.readdir("/home/alice"), Errno::EACCES);
    errno(
        b.open("/home/alice/notes", OpenFlags::WRITE, 0),
        Errno::EACCES,
    );
    assert!(b.open("/home/alice/notes", OpenFlags::READ, 0).is_ok());
    errno(b.access("/home/alice/notes", AccessMode::W), Errno::EACCES);
    a.access("/home/alice/notes", AccessMode::R | AccessMode::W)
        .unwrap();
    errno(a.access("/home/alice/notes", AccessMode::X), Errno::EACCES);
    errno(fs.access("/home/alice/notes", AccessMode::X), Errno::EACCES);
    fs.access("/home/alice/notes", AccessMode::R | AccessMode::W)
        .unwrap();
    // umask applies on create.
    let fd = a.open("/home/alice/open", RWC, 0o777).unwrap();
    a.close(fd).unwrap();
    assert_eq!(a.stat("/home/alice/open").unwrap().permissions(), 0o755);
}

#[test]
fn sticky_and_setgid_directories() {
    let fs = MemoryFileSystem::new();
    fs.set_umask(0);
    fs.mkdir("/tmp", 0o1777).unwrap();
    let a = fs.with_credentials(alice());
    let b = fs.with_credentials(bob());
    let fd = a.open("/tmp/a", RWC, 0o666).unwrap();
    a.close(fd).unwrap();
    errno(b.unlink("/tmp/a"), Errno::EPERM);
    errno(b.rename("/tmp/a", "/tmp/b"), Errno::EPERM);
    fs.unlink("/tmp/a").unwrap();

    fs.mkdir("/shared", 0o2777).unwrap();
    assert_eq!(
        fs.stat("/shared").unwrap().mode & S_ISGID,
        0,
        "mkdir drops setgid from the mode, as Linux does"
    );
    fs.chmod("/shared", 0o2777).unwrap();
    fs.chown("/shared", None, 500).unwrap();
    a.mkdir("/shared/sub", 0o755).unwrap();
    let sub = fs.stat("/shared/sub").unwrap();
    assert_eq!(sub.gid, 500, "entries inherit the setgid directory's group");
    assert_ne!(sub.mode & S_ISGID, 0, "subdirectories inherit setgid");
}

#[test]
fn setuid_cleared_on_write_and_chown() {
    let fs = MemoryFileSystem::new();
    fs.chmod("/", 0o777).unwrap();
    let a = fs.with_credentials(alice());
    let fd = a.open("/prog", RWC, 0o755).unwrap();
    a.fchmod(fd, 0o6755).unwrap();
    assert_eq!(a.fstat(fd).unwrap().permissions(), 0o6755);
    a.write(fd, b"x").unwrap();
    assert_eq!(a.fstat(fd).unwrap().permissions(), 0o755);
    a.close(fd).unwrap();
    fs.chmod("/prog", 0o4755).unwrap();
    fs.chown("/prog", 1000, None).unwrap();
    assert_eq!(fs.stat("/prog").unwrap().permissions(), 0o755);
}

#[test]
fn truncate_and_sparse_files() {
    let fs = fixture();
    errno(fs.truncate("/d", 0), Errno::EISDIR);
    errno(fs.truncate("/d/f", u64::MAX), Errno::EINVAL);
    fs.truncate("/l", 2).unwrap();
    assert_eq!(read_all(&fs, "/d/f"), b"he");
    fs.truncate("/d/f", 1_000_000_000_000_000).unwrap();
    assert_eq!(fs.stat("/d/f").unwrap().size, 1_000_000_000_000_000);
    assert!(fs.usage().bytes < 1 << 20, "a hole allocates nothing");
    let fd = fs.open("/d/f", RW, 0).unwrap();
    let mut tail = [9u8; 4];
    assert_eq!(fs.pread(fd, &mut tail, 999_999_999_999_998).unwrap(), 2);
    assert_eq!(&tail[..2], &[0, 0]);
    fs.pwrite(fd, b"end", 999_999_999_999_997).unwrap();
    assert!(fs.usage().bytes <= 256 * 1024);
    fs.close(fd).unwrap();
    let limited = MemoryFileSystem::builder().max_file_size(10).build();
    let fd = limited.open("/f", RWC, 0o644).unwrap();
    assert_eq!(
        limited.write(fd, &[1; 12]).unwrap(),
        10,
        "a write stops at the size limit"
    );
    errno(limited.write(fd, b"x"), Errno::EFBIG);
    errno(limited.ftruncate(fd, 11), Errno::EFBIG);
}

#[test]
fn read_only_tree() {
    let fs = fixture();
    fs.set_read_only(true);
    errno(fs.mkdir("/x", 0o755), Errno::EROFS);
    errno(fs.mkdir("/d", 0o755), Errno::EEXIST);
    errno(fs.open("/d/f", OpenFlags::WRITE, 0), Errno::EROFS);
    errno(fs.open("/new", RWC, 0o644), Errno::EROFS);
    errno(fs.unlink("/d/f"), Errno::EROFS);
    errno(fs.chmod("/d/f", 0o600), Errno::EROFS);
    errno(fs.access("/d/f", AccessMode::W), Errno::EROFS);
    assert_eq!(read_all(&fs, "/d/f"), b"hello");
    let ro = MemoryFileSystem::builder().read_only(true).build();
    errno(ro.mkdir("/x", 0o755), Errno::EROFS);
}

#[test]
fn times_follow_the_injected_clock() {
    let clock = Arc::new(ManualClock::new(Timespec::new(1000, 0)));
    let fs = MemoryFileSystem::builder().clock(clock.clone()).build();
    let fd = fs.open("/f", RWC, 0o644).unwrap();
    assert_eq!(fs.stat("/f").unwrap().mtime, Timespec::new(1000, 0));
    clock.set(Timespec::new(2000, 5));
    fs.write(fd, b"x").unwrap();
    let st = fs.fstat(fd).unwrap();
    assert_eq!(
        (st.mtime, st.ctime),
        (Timespec::new(2000, 5), Timespec::new(2000, 5))
    );
    assert_eq!(fs.stat("/").unwrap().mtime, Timespec::new(1000, 0));
    clock.set(Timespec::new(3000, 0));
    fs.utimens("/f", SetTime::At(Timespec::new(10, 1)), SetTime::Omit)
        .unwrap();
    let st = fs.stat("/f").unwrap();
    assert_eq!(
        (st.atime, st.mtime, st.ctime),
        (
            Timespec::new(10, 1),
            Timespec::new(2000, 5),
            Timespec::new(3000, 0)
        )
    );
    let a = fs.with_credentials(alice());
    errno(
        a.utimens("/f", SetTime::At(Timespec::new(1, 0)), SetTime::Now),
        Errno::EPERM,
    );
    errno(a.utimens("/f", SetTime::Now, SetTime::Now), Errno::EACCES);
    fs.close(fd).unwrap();
}

#[test]
fn capacity_counts_allocated_bytes() {
    let fs = MemoryFileSystem::builder().capacity(10).build();
    let fd = fs.open("/f", RWC, 0o644).unwrap();
    fs.write(fd, b"12345").unwrap();
    errno(fs.write(fd, b"123456"), Errno::ENOSPC);
    fs.write(fd, b"12345").unwrap();
    fs.ftruncate(fd, 2).unwrap();
    assert_eq!(fs.usage().bytes, 2);
    fs.pwrite(fd, b"1", 2).unwrap();
    assert_eq!(fs.usage().bytes, 3);
}

#[test]
fn file_streams_large_content_linearly() {
    let fs = MemoryFileSystem::new();
    let mut f = fs.open_file("/big", RWC, 0o644).unwrap();
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let chunks = 4096; // 256 MiB
    for _ in 0..chunks {
        f.write_all(&chunk).unwrap();
    }
    assert_eq!(f.metadata().unwrap().size, chunks * 64 * 1024);
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..chunks {
        f.read_exact(&mut buf).unwrap();
        assert!(buf == chunk, "chunk {i} differs");
    }
    assert_eq!(f.read(&mut buf).unwrap(), 0);
    f.set_len(3).unwrap();
    let fd = f.fd();
    drop(f);
    errno(fs.fstat(fd), Errno::EBADF);
    assert_eq!(read_all(&fs, "/big"), [0, 1, 2]);
}

#[test]
fn watchers_see_events_in_order_and_unsubscribe_on_drop() {
    let fs = MemoryFileSystem::new();
    fs.mkdir("/w", 0o755).unwrap();
    let watcher = fs.watch("/w", true).unwrap();
    let shallow = fs.watch("/w", false).unwrap();
    assert_eq!(fs.watcher_count(), 2);
    fs.mkdir("/w/sub", 0o755).unwrap();
    let fd = fs.open("/w/sub/f", RWC, 0o644).unwrap();
    fs.write(fd, b"x").unwrap();
    fs.close(fd).unwrap();
    fs.chmod("/w/sub/f", 0o600).unwrap();
    fs.rename("/w/sub/f", "/w/g").unwrap();
    fs.unlink("/w/g").unwrap();
    fs.mkdir("/elsewhere", 0o755).unwrap();
    let events: Vec<(EventKind, String)> = std::iter::from_fn(|| watcher.try_recv())
        .map(|e| (e.kind, e.path))
        .collect();
    use EventKind::*;
    assert_eq!(
        events,
        [
            (Created, "/w/sub".into()),
            (Created, "/w/sub/f".into()),
            (Modified, "/w/sub/f".into()),
            (MetadataChanged, "/w/sub/f".into()),
            (RenamedFrom, "/w/sub/f".into()),
            (RenamedTo, "/w/g".into()),
            (Removed, "/w/g".into()),
        ]
    );
    let shallow_events: Vec<EventKind> = std::iter::from_fn(|| shallow.try_recv())
        .map(|e| e.kind)
        .collect();
    assert_eq!(shallow_events, [Created, RenamedTo, Removed]);
    assert_eq!(watcher.recv_timeout(Duration::from_millis(1)), None);
    drop(watcher);
    drop(shallow);
    assert_eq!(fs.watcher_count(), 0);
    errno(fs.watch("/missing", false), Errno::ENOENT);
}

#[test]
fn temp_files_are_unique_and_private() {
    let fs = MemoryFileSystem::new();
    fs.mkdir("/tmp", 0o1777).unwrap();
    let mut names = std::collections::HashSet::new();
    for _ in 0..200 {
        let (fd, path) = fs.mkstemp("/tmp/t.").unwrap();
        assert_eq!(fs.fstat(fd).unwrap().permissions(), 0o600);
        fs.write(fd, b"x").unwrap();
        fs.close(fd).unwrap();
        assert!(names.insert(path));
    }
    let dir = fs.mkdtemp("/tmp/d.").unwrap();
    assert_eq!(fs.stat(&dir).unwrap().permissions(), 0o700);
    assert!(fs.stat(&dir).unwrap().is_dir());
    errno(fs.mkstemp("/missing/x"), Errno::ENOENT);
}

#[test]
fn handles_share_one_tree_across_threads() {
    let fs = MemoryFileSystem::new();
    std::thread::scope(|s| {
        for t in 0..8 {
            let fs = fs.clone();
            s.spawn(move || {
                fs.mkdir(&format!("/t{t}"), 0o755).unwrap();
                for i in 0..200 {
                    let fd = fs.open(&format!("/t{t}/{i}"), RWC, 0o644).unwrap();
                    fs.write(fd, &[t as u8; 10]).unwrap();
                    fs.close(fd).unwrap();
                }
            });
        }
    });
    for t in 0..8 {
        assert_eq!(fs.readdir(&format!("/t{t}")).unwrap().len(), 200);
    }
    assert_eq!(fs.usage().bytes, 8 * 200 * 10);
}

#[test]
fn inode_lookups_hold_references_until_forget() {
    let fs = fixture();
    let ino = fs.inodes();
    let d = ino.lookup(ROOT_INO, "d").unwrap();
    let f = ino.lookup(d.ino, "f").unwrap();
    assert_eq!(f.size, 5);
    assert_eq!(ino.lookup(ROOT_INO, "l").unwrap().file_type(), S_IFLNK);
    assert_eq!(ino.lookup(d.ino, "..").unwrap().ino, ROOT_INO);
    assert_eq!(ino.lookup(d.ino, ".").unwrap().ino, d.ino);
    ino.unlink(d.ino, "f").unwrap();
    // Referenced: still there (nlink 0), and its number is not handed out again.
    assert_eq!(ino.getattr(f.ino).unwrap().nlink, 0);
    let other = ino.mkdir(ROOT_INO, "e", 0o755).unwrap();
    assert_ne!(other.ino, f.ino);
    ino.forget(f.ino, 1);
    errno(ino.getattr(f.ino), Errno::EIO);
    errno(ino.lookup(d.ino, "f"), Errno::ENOENT);
    errno(ino.lookup(d.ino, "a/b"), Errno::EINVAL);
    errno(ino.lookup(d.ino, &"n".repeat(256)), Errno::ENAMETOOLONG);
    errno(ino.lookup(f.ino, "x"), Errno::EIO);
}

#[test]
fn inode_operations_check_like_path_operations() {
    let fs = fixture();
    fs.mkdir("/private", 0o700).unwrap();
    fs.mkdir("/sticky", 0o755).unwrap();
    fs.chmod("/sticky", 0o1777).unwrap();
    let a = fs.with_credentials(alice());
    let root = fs.inodes();
    let private = root.lookup(ROOT_INO, "private").unwrap().ino;
    let sticky = root.lookup(ROOT_INO, "sticky").unwrap().ino;
    let d = root.lookup(ROOT_INO, "d").unwrap().ino;
    // Search permission on the parent, then write permission.
    errno(a.inodes().lookup(private, "x"), Errno::EACCES);
    errno(a.inodes().mkdir(private, "x", 0o755), Errno::EACCES);
    errno(
        a.inodes().create(d, "x", 0o644, OpenFlags::WRITE),
        Errno::EACCES,
    );
    errno(a.mkdir("/d/x", 0o755), Errno::EACCES);
    // Sticky directories: only the owner removes.
    fs.inodes()
        .mknod(sticky, "roots", S_IFREG | 0o666, 0)
        .unwrap();
    errno(a.inodes().unlink(sticky, "roots"), Errno::EPERM);
    errno(a.unlink("/sticky/roots"), Errno::EPERM);
    // Existing names, non-empty and moving into itself, as rename(2) answers.
    errno(root.mkdir(ROOT_INO, "d", 0o755), Errno::EEXIST);
    errno(root.mkdir(ROOT_INO, "..", 0o755), Errno::EEXIST);
    errno(root.rmdir(ROOT_INO, "d"), Errno::ENOTEMPTY);
    errno(root.rmdir(d, "."), Errno::EINVAL);
    errno(root.unlink(ROOT_INO, "d"), Errno::EISDIR);
    let inner = root.mkdir(d, "inner", 0o755).unwrap().ino;
    errno(
        root.rename(ROOT_INO, "d", inner, "x", RenameFlags::empty()),
        Errno::EINVAL,
    );
    errno(
        root.rename(ROOT_INO, "l", d, "f", RenameFlags::NOREPLACE),
        Errno::EEXIST,
    );
    root.rename(ROOT_INO, "l", d, "l2", RenameFlags::NOREPLACE)
        .unwrap();
    assert_eq!(fs.readlink("/d/l2").unwrap(), "d/f");
    // Hard links: protected for others, EPERM on directories.
    let f = root.lookup(d, "f").unwrap().ino;
    fs.chmod("/d/f", 0o600).unwrap();
    fs.chmod("/sticky", 0o777).unwrap();
    errno(a.inodes().link(f, sticky, "mine"), Errno::EPERM);
    errno(root.link(d, ROOT_INO, "dirlink"), Errno::EPERM);
    assert_eq!(root.link(f, ROOT_INO, "f2").unwrap().nlink, 2);
    // Metadata: owner-only chmod, write-or-owner touch.
    errno(a.inodes().chmod(f, 0o777), Errno::EPERM);
    errno(
        a.inodes().utimens(f, SetTime::Now, SetTime::Now),
        Errno::EACCES,
    );
    errno(a.inodes().truncate(f, 0), Errno::EACCES);
    assert_eq!(root.truncate(f, 2).unwrap().size, 2);
    assert_eq!(root.chown(f, Some(1000), None).unwrap().uid, 1000);
    a.inodes().utimens(f, SetTime::Now, SetTime::Now).unwrap();
    errno(a.inodes().access(private, AccessMode::R), Errno::EACCES);
    a.inodes().access(f, AccessMode::R | AccessMode::W).unwrap();
    assert_eq!(
        root.readlink(root.lookup(d, "l2").unwrap().ino).unwrap(),
        "d/f"
    );
    errno(root.readlink(f), Errno::EINVAL);
}

#[test]
fn inode_create_open_and_read_dir() {
    let fs = fixture();
    let root = fs.inodes();
    let d = root.lookup(ROOT_INO, "d").unwrap().ino;
    let (stat, fd) = root.create(d, "new", 0o640, RW).unwrap();
    assert_eq!(stat.permissions(), 0o640);
    fs.write(fd, b"abc").unwrap();
    fs.close(fd).unwrap();
    // Existing: opened again, or EEXIST with EXCL.
    let (again, fd) = root.create(d, "new", 0o600, OpenFlags::READ).unwrap();
    assert_eq!((again.ino, again.size), (stat.ino, 3));
    fs.close(fd).unwrap();
    errno(
        root.create(d, "new", 0o600, OpenFlags::WRITE | OpenFlags::EXCL),
        Errno::EEXIST,
    );
    let fd = root
        .open(stat.ino, OpenFlags::WRITE | OpenFlags::TRUNC)
        .unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, 0);
    fs.close(fd).unwrap();
    errno(root.open(d, OpenFlags::WRITE), Errno::EISDIR);
    errno(root.open(stat.ino, OpenFlags::DIRECTORY), Errno::ENOTDIR);
    let a = fs.with_credentials(alice());
    errno(a.inodes().open(stat.ino, OpenFlags::READ), Errno::EACCES);

    let dir = root
        .open(d, OpenFlags::READ | OpenFlags::DIRECTORY)
        .unwrap();
    let entries = root.read_dir(dir).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [".", "..", "f", "new"]);
    assert_eq!((entries[0].ino, entries[1].ino), (d, ROOT_INO));
    assert_eq!(entries[2].file_type, S_IFREG);
    fs.close(dir).unwrap();
    let fd = root.open(stat.ino, OpenFlags::READ).unwrap();
    errno(root.read_dir(fd), Errno::ENOTDIR);
    fs.close(fd).unwrap();
}

#[test]
fn special_nodes_and_removed_directories() {
    let fs = MemoryFileSystem::new();
    fs.mknod("/fifo", S_IFIFO | 0o644, 0).unwrap();
    fs.mknod("/plain", 0o600, 0).unwrap();
    assert!(fs.stat("/plain").unwrap().is_file());
    let st = fs.stat("/fifo").unwrap();
    assert_eq!(
        (st.file_type(), st.permissions(), st.size),
        (S_IFIFO, 0o644, 0)
    );
    errno(fs.open("/fifo", OpenFlags::READ, 0), Errno::ENXIO);
    errno(fs.mknod("/fifo", S_IFIFO | 0o644, 0), Errno::EEXIST);
    errno(fs.mknod("/dir", S_IFDIR | 0o755, 0), Errno::EPERM);
    errno(fs.mknod("/bad", 0o170_000 | 0o644, 0), Errno::EINVAL);
    let root = fs.inodes();
    let dev = root
        .mknod(ROOT_INO, "null", S_IFCHR | 0o666, 0x0103)
        .unwrap();
    assert_eq!((dev.file_type(), dev.rdev), (S_IFCHR, 0x0103));
    let a = fs.with_credentials(alice());
    fs.chmod("/", 0o777).unwrap();
    errno(
        a.inodes().mknod(ROOT_INO, "blk", S_IFBLK | 0o600, 1),
        Errno::EPERM,
    );
    a.inodes()
        .mknod(ROOT_INO, "sock", S_IFSOCK | 0o600, 0)
        .unwrap();
    // A removed directory that is still referenced takes no new entries.
    let gone = root.mkdir(ROOT_INO, "gone", 0o755).unwrap().ino;
    root.rmdir(ROOT_INO, "gone").unwrap();
    assert_eq!(root.getattr(gone).unwrap().nlink, 0);
    errno(root.mkdir(gone, "x", 0o755), Errno::ENOENT);
    errno(root.create(gone, "x", 0o644, RW), Errno::ENOENT);
    errno(root.lookup(gone, "x"), Errno::ENOENT);
    root.forget(gone, 1);
    errno(root.getattr(gone), Errno::EIO);
}

#[test]
fn fallocate_statfs_and_inode_events() {
    let fs = MemoryFileSystem::builder().capacity(1 << 20).build();
    let fd = fs.open("/f", RWC, 0o644).unwrap();
    fs.write(fd, b"abc").unwrap();
    fs.fallocate(fd, 10, 90).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, 100);
    fs.fallocate(fd, 0, 10).unwrap();
    assert_eq!(fs.fstat(fd).unwrap().size, 100);
    errno(fs.fallocate(fd, 0, 0), Errno::EINVAL);
    let ro = fs.open("/f", OpenFlags::READ, 0).unwrap();
    errno(fs.fallocate(ro, 0, 1), Errno::EBADF);
    let s = fs.inodes().statfs();
    assert_eq!((s.block_size, s.blocks, s.name_max), (4096, 256, 255));
    assert_eq!(s.blocks_free, 255);
    let unlimited = MemoryFileSystem::new().inodes().statfs();
    assert_eq!(unlimited.blocks, UNLIMITED_FREE / 4096);

    let watcher = fs.watch("/", true).unwrap();
    let root = fs.inodes();
    let d = root.mkdir(ROOT_INO, "d", 0o755).unwrap().ino;
    root.mknod(d, "x", S_IFREG | 0o644, 0).unwrap();
    root.rename(d, "x", ROOT_INO, "y", RenameFlags::empty())
        .unwrap();
    root.unlink(ROOT_INO, "y").unwrap();
    let events: Vec<(EventKind, String)> = std::iter::from_fn(|| watcher.try_recv())
        .map(|e| (e.kind, e.path))
        .collect();
    let want = [
        (EventKind::Created, "/d"),
        (EventKind::Created, "/d/x"),
        (EventKind::RenamedFrom, "/d/x"),
        (EventKind::RenamedTo, "/y"),
        (EventKind::Removed, "/y"),
    ];
    assert_eq!(events, want.map(|(k, p)| (k, p.to_owned())).to_vec());
}

#[test]
fn whole_file_reads_of_huge_sparse_files_fail_cleanly() {
    let fs = MemoryFileSystem::new();
    let fd = fs.open("/huge", RWC, 0o644).unwrap();
    fs.write(fd, b"head").unwrap();
    fs.close(fd).unwrap();
    // A terabyte of holes costs nothing to make, and must not abort when read whole.
    fs.truncate("/huge", 1 << 40).unwrap();
    let err = fs.read_file("/huge").unwrap_err();
    assert_eq!(err.errno(), Errno::EFBIG);
    assert_eq!(err.path(), Some("/huge"));
    assert!(err.to_string().contains("1099511627776 bytes"), "{err}");
    // Past the limit the allocator is asked, and its refusal is an error too.
    let unlimited = MemoryFileSystem::builder()
        .read_file_limit(u64::MAX)
        .build();
    let fd = unlimited.open("/huge", RWC, 0o644).unwrap();
    unlimited.ftruncate(fd, i64::MAX as u64).unwrap();
    unlimited.close(fd).unwrap();
    let err = unlimited.read_file("/huge").unwrap_err();
    assert_eq!(err.errno(), Errno::ENOMEM);
    assert!(err.to_string().contains(&i64::MAX.to_string()), "{err}");
    // The limit is inclusive and the bytes come back with their holes.
    let small = MemoryFileSystem::builder().read_file_limit(10).build();
    let fd = small.open("/f", RWC, 0o644).unwrap();
    small.pwrite(fd, b"xy", 4).unwrap();
    small.ftruncate(fd, 10).unwrap();
    assert_eq!(small.read_file("/f").unwrap(), b"\0\0\0\0xy\0\0\0\0");
    small.ftruncate(fd, 11).unwrap();
    errno(small.read_file("/f"), Errno::EFBIG);
    // The file is untouched by the refusals.
    assert_eq!(fs.stat("/huge").unwrap().size, 1 << 40);
    let mut head = [0u8; 4];
    let fd = fs.open("/huge", OpenFlags::READ, 0).unwrap();
    assert_eq!(fs.read(fd, &mut head).unwrap(), 4);
    assert_eq!(&head, b"head");
}

#[test]
fn relative_paths_start_at_the_working_directory() {
    let fs = fixture();
    assert_eq!(fs.getcwd().unwrap(), "/");
    fs.chdir("/d").unwrap();
    assert_eq!(fs.getcwd().unwrap(), "/d");
    assert_eq!(fs.read_file("f").unwrap(), b"hello");
    fs.mkdir("sub", 0o755).unwrap();
    fs.chdir("sub/").unwrap();
    assert_eq!(fs.getcwd().unwrap(), "/d/sub");
    fs.symlink("../f", "up").unwrap();
    assert_eq!(fs.read_file("up").unwrap(), b"hello");
    assert_eq!(fs.realpath("up").unwrap(), "/d/f");
    assert_eq!(fs.realpath(".").unwrap(), "/d/sub");
    fs.rename("../f", "moved").unwrap();
    assert_eq!(fs.readdir(".").unwrap(), ["moved", "up"]);
    assert_eq!(fs.stat("..").unwrap().ino, fs.stat("/d").unwrap().ino);
    // Absolute paths ignore it; `..` stops at the root.
    assert!(fs.stat("/l").is_err());
    fs.chdir("../../..").unwrap();
    assert_eq!(fs.getcwd().unwrap(), "/");
    // A symlink to a directory is followed, and the physical path is kept.
    fs.symlink("d/sub", "/to-sub").unwrap();
    fs.chdir("to-sub").unwrap();
    assert_eq!(fs.getcwd().unwrap(), "/d/sub");
    // Clones share the working directory; another user's handle starts in it.
    let clone = fs.clone();
    clone.chdir("/").unwrap();
    assert_eq!(fs.getcwd().unwrap(), "/");
    fs.chdir("/d").unwrap();
    let a = fs.with_credentials(alice());
    assert_eq!(a.getcwd().unwrap(), "/d");
    a.chdir("/").unwrap();
    assert_eq!(fs.getcwd().unwrap(), "/d");
}

#[test]
fn chdir_follows_linux_rules() {
    let fs = fixture();
    errno(fs.chdir("/d/f"), Errno::ENOTDIR);
    errno(fs.chdir("/l"), Errno::ENOTDIR);
    errno(fs.chdir("/missing"), Errno::ENOENT);
    errno(fs.chdir(""), Errno::ENOENT);
    errno(fs.chdir("/loop"), Errno::ELOOP);
    fs.mkdir("/private", 0o700).unwrap();
    fs.mkdir("/private/in", 0o755).unwrap();
    fs.mkdir("/noexec", 0o644).unwrap();
    let a = fs.with_credentials(alice());
    errno(a.chdir("/private"), Errno::EACCES);
    errno(a.chdir("/private/in"), Errno::EACCES);
    errno(a.chdir("/noexec"), Errno::EACCES);
    fs.chdir("/noexec").unwrap(); // root may search anything
    // fchdir: the descriptor must be a directory the caller may search.
    let dir = a.open("/d", OpenFlags::READ, 0).unwrap();
    a.fchdir(dir).unwrap();
    assert_eq!(a.getcwd().unwrap(), "/d");
    let file = a.open("/d/f", OpenFlags::READ, 0).unwrap();
    errno(a.fchdir(file), Errno::ENOTDIR);
    errno(a.fchdir(Fd(777)), Errno::EBADF);
    let noexec = fs.open("/noexec", OpenFlags::READ, 0).unwrap();
    errno(a.fchdir(noexec), Errno::EACCES);
    // A failed chdir leaves the working directory where it was.
    assert_eq!(a.getcwd().unwrap(), "/d");
}

#[test]
fn a_removed_working_directory_behaves_as_on_linux() {
    let fs = MemoryFileSystem::new();
    fs.mkdir("/p", 0o755).unwrap();
    fs.mkdir("/p/a", 0o755).unwrap();
    let before = fs.usage().inodes;
    fs.chdir("/p/a").unwrap();
    fs.rmdir("/p/a").unwrap();
    errno(fs.getcwd(), Errno::ENOENT);
    errno(fs.realpath("."), Errno::ENOENT);
    assert_eq!(fs.realpath("/p").unwrap(), "/p");
    assert_eq!(fs.stat(".").unwrap().nlink, 0);
    assert_eq!(fs.readdir(".").unwrap(), Vec::<String>::new());
    errno(fs.mkdir("x", 0o755), Errno::ENOENT);
    errno(fs.open("x", RWC, 0o644), Errno::ENOENT);
    errno(fs.symlink("t", "s"), Errno::ENOENT);
    errno(fs.rmdir("."), Errno::EINVAL);
    fs.chdir(".").unwrap();
    // `..` still leads to the parent it was removed from, even once that is gone too.
    fs.mkdir("../y", 0o755).unwrap();
    assert!(fs.stat("/p/y").unwrap().is_dir());
    fs.rmdir("/p/y").unwrap();
    fs.rmdir("/p").unwrap();
    assert_eq!(fs.stat("..").unwrap().nlink, 0);
    assert_eq!(fs.stat("../..").unwrap().ino, fs.stat("/").unwrap().ino);
    // Both directories live while the working directory holds them, no longer.
    assert_eq!(fs.usage().inodes, before);
    fs.chdir("../..").unwrap();
    assert_eq!(fs.getcwd().unwrap(), "/");
    assert_eq!(fs.usage().inodes, before - 2);
    // Dropping the last handle that works in a removed directory frees it as well.
    fs.mkdir("/q", 0o755).unwrap();
    let other = fs.with_credentials(Credentials::root());
    other.chdir("/q").unwrap();
    fs.rmdir("/q").unwrap();
    assert_eq!(fs.usage().inodes, before - 1);
    drop(other);
    assert_eq!(fs.usage().inodes, before - 2);
}

/// A small deterministic generator (xorshift), so the cache test needs no crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn path(&mut self) -> String {
        let mut p = self.pick(&["/", "/", "", "../", "a/../"]).to_owned();
        for i in 0..=self.below(3) {
            if i > 0 {
                p.push('/');
            }
            p.push_str(self.pick(&["a", "b", "c", "l", "."]));
        }
        p.push_str(self.pick(&["", "", "", "/"]));
        p
    }
}

/// Every answer of a tree with the path cache equals that of a tree without it, over
/// random sequences of namespace, permission and lookup calls by three users.
#[test]
fn the_path_cache_never_changes_an_answer() {
    let users = [Credentials::root(), alice(), bob()];
    for seed in 1..=1000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let cached = MemoryFileSystem::new();
        let plain = MemoryFileSystem::new();
        plain.lock().paths.disabled = true;
        for fs in [&cached, &plain] {
            fs.chmod("/", 0o777).unwrap();
        }
        let handles: Vec<[MemoryFileSystem; 2]> = users
            .iter()
            .map(|u| {
                [
                    cached.with_credentials(u.clone()),
                    plain.with_credentials(u.clone()),
                ]
            })
            .collect();
        let mut log = Vec::new();
        for step in 0..120 {
            let who = rng.below(3) as usize;
            let (p, q) = (rng.path(), rng.path());
            let mode = [0o755, 0o700, 0o711, 0o644, 0o777, 0o000][rng.below(6) as usize];
            let op = rng.below(14);
            let answers: Vec<String> = handles[who]
                .iter()
                .map(|fs| {
                    let r = match op {
                        0 | 1 => fs.mkdir(&p, mode).map(|()| String::new()),
                        2 => fs
                            .open(&p, RWC, 0o644)
                            .and_then(|fd| fs.close(fd))
                            .map(|()| String::new()),
                        3 => fs.unlink(&p).map(|()| String::new()),
                        4 => fs.rmdir(&p).map(|()| String::new()),
                        5 => fs.rename(&p, &q).map(|()| String::new()),
                        6 => fs.symlink(&q, &p).map(|()| String::new()),
                        7 => fs.chmod(&p, mode).map(|()| String::new()),
                        8 => fs.chdir(&p).map(|()| String::new()),
                        9 => fs.link(&p, &q).map(|()| String::new()),
                        10 => fs.lstat(&p).map(|s| format!("{} {:o}", s.nlink, s.mode)),
                        11 => fs.open(&p, OpenFlags::READ, 0).and_then(|fd| {
                            let s = fs.fstat(fd)?;
                            fs.close(fd)?;
                            Ok(format!("{:o} {}", s.mode, s.size))
                        }),
                        _ => fs
                            .stat(&p)
                            .map(|s| format!("{} {:o} {}", s.nlink, s.mode, s.uid)),
                    };
                    match r {
                        Ok(v) => format!("ok {v}"),
                        Err(e) => e.errno().to_string(),
                    }
                })
                .collect();
            log.push(format!("{step}: user {who} op {op} {p:?} {q:?} {mode:o}"));
            assert_eq!(
                answers[0],
                answers[1],
                "seed {seed}: the cached tree answered differently\n{}",
                log.join("\n")
            );
        }
        assert!(
            cached.lock().paths.len() > 0,
            "seed {seed} never used the cache"
        );
    }
}

/// Each change that can make a cached resolution wrong, right after the cache was
/// filled with it.
#[test]
fn path_cache_invalidation_cases() {
    let ino = |fs: &MemoryFileSystem, p: &str| fs.lstat(p).map(|s| s.ino);
    // A file removed or replaced in the directory the path ends in.
    let fs = fixture();
    assert!(fs.stat("/d/f").is_ok());
    fs.unlink("/d/f").unwrap();
    errno(fs.stat("/d/f"), Errno::ENOENT);
    // A symlink on the way removed, then replaced by a file.
    let fs = fixture();
    fs.symlink("d", "/via").unwrap();
    assert_eq!(fs.read_file("/via/f").unwrap(), b"hello");
    fs.unlink("/via").unwrap();
    errno(fs.stat("/via/f"), Errno::ENOENT);
    fs.symlink("d", "/via").unwrap();
    assert!(fs.stat("/via/f").is_ok());
    let fd = fs.open("/plain", RWC, 0o644).unwrap();
    fs.close(fd).unwrap();
    fs.rename("/plain", "/via").unwrap();
    errno(fs.stat("/via/f"), Errno::ENOTDIR);
    // A directory on the way renamed, and `..` of a moved directory.
    let fs = fixture();
    fs.mkdir("/d/sub", 0o755).unwrap();
    fs.mkdir("/e", 0o755).unwrap();
    assert_eq!(ino(&fs, "/d/sub/..").unwrap(), ino(&fs, "/d").unwrap());
    fs.rename("/d/sub", "/e/sub").unwrap();
    assert_eq!(ino(&fs, "/e/sub/..").unwrap(), ino(&fs, "/e").unwrap());
    fs.chdir("/e/sub").unwrap();
    assert_eq!(ino(&fs, "..").unwrap(), ino(&fs, "/e").unwrap());
    fs.rename("/e/sub", "/sub").unwrap();
    assert_eq!(ino(&fs, "..").unwrap(), ino(&fs, "/").unwrap());
    fs.chdir("/").unwrap();
    assert!(fs.stat("/d/f").is_ok());
    fs.rename("/d", "/moved").unwrap();
    errno(fs.stat("/d/f"), Errno::ENOENT);
    assert!(fs.stat("/moved/f").is_ok());
    // Search permission taken away on the way, for the user who filled the entry and
    // for another one.
    let fs = fixture();
    let a = fs.with_credentials(alice());
    assert!(a.stat("/d/f").is_ok());
    fs.chmod("/d", 0o700).unwrap();
    errno(a.stat("/d/f"), Errno::EACCES);
    assert!(fs.stat("/d/f").is_ok());
    errno(a.stat("/d/f"), Errno::EACCES);
    fs.chown("/d", 1000, 1000).unwrap();
    assert!(a.stat("/d/f").is_ok());
    fs.chown("/d", 0, 0).unwrap();
    errno(a.stat("/d/f"), Errno::EACCES);
    // A directory freed and its number given to a new one: a walk that started in the
    // old one must not serve the new one.
    let fs = MemoryFileSystem::new();
    fs.mkdir("/p", 0o755).unwrap();
    fs.mkdir("/p/a", 0o755).unwrap();
    fs.mknod("/p/f", 0o644, 0).unwrap();
    fs.chdir("/p/a").unwrap();
    fs.rmdir("/p/a").unwrap();
    assert!(fs.stat("../f").is_ok());
    let old = ino(&fs, ".").unwrap();
    fs.chdir("/").unwrap();
    fs.mkdir("/q", 0o755).unwrap();
    assert_eq!(ino(&fs, "/q").unwrap(), old, "the number is reused");
    fs.chdir("/q").unwrap();
    errno(fs.stat("../f"), Errno::ENOENT);
}

/// A clock with a coarse reading that lags, as a timer tick does.
#[derive(Debug)]
struct TickClock {
    fine: std::sync::Mutex<Timespec>,
    coarse: std::sync::Mutex<Timespec>,
}

impl TickClock {
    fn set(&self, coarse: Timespec, fine: Timespec) {
        *self.coarse.lock().unwrap() = coarse;
        *self.fine.lock().unwrap() = fine;
    }
}

impl Clock for TickClock {
    fn now(&self) -> Timespec {
        *self.fine.lock().unwrap()
    }
    fn coarse_now(&self) -> Option<Timespec> {
        Some(*self.coarse.lock().unwrap())
    }
}

#[test]
fn changes_get_coarse_times_unless_someone_looked() {
    let clock = Arc::new(TickClock {
        fine: std::sync::Mutex::new(Timespec::new(100, 700)),
        coarse: std::sync::Mutex::new(Timespec::new(100, 0)),
    });
    let fs = MemoryFileSystem::builder().clock(clock.clone()).build();
    // Nobody has looked: both changes get the tick's time.
    fs.mkdir("/a", 0o755).unwrap();
    fs.mkdir("/b", 0o755).unwrap();
    let (a, b) = (fs.stat("/a").unwrap(), fs.stat("/b").unwrap());
    assert_eq!(
        (a.ctime, b.ctime),
        (Timespec::new(100, 0), Timespec::new(100, 0))
    );
    // /a was looked at, and the tick has not moved: its next change needs a fine time,
    // so whoever looked sees it changed.
    clock.set(Timespec::new(100, 0), Timespec::new(100, 900));
    fs.chmod("/a", 0o700).unwrap();
    assert_eq!(fs.stat("/a").unwrap().ctime, Timespec::new(100, 900));
    // A fine time raised the floor: later coarse times are never below it, even for
    // an inode nobody looked at (/b's parent, the root).
    fs.mknod("/c", 0o644, 0).unwrap();
    assert_eq!(fs.stat("/c").unwrap().ctime, Timespec::new(100, 900));
    assert_eq!(fs.stat("/").unwrap().mtime, Timespec::new(100, 900));
    // Once the tick has moved past, the coarse time is enough even after a look.
    clock.set(Timespec::new(101, 0), Timespec::new(101, 5));
    let fd = fs.open("/c", OpenFlags::WRITE, 0).unwrap();
    fs.write(fd, b"x").unwrap();
    let c = fs.fstat(fd).unwrap();
    assert_eq!(
        (c.mtime, c.ctime),
        (Timespec::new(101, 0), Timespec::new(101, 0))
    );
    // utimens(Now) sets atime and mtime to the ctime the change gets.
    clock.set(Timespec::new(101, 0), Timespec::new(101, 50));
    fs.futimens(fd, SetTime::Now, SetTime::Now).unwrap();
    let c = fs.fstat(fd).unwrap();
    assert_eq!(
        (c.atime, c.mtime, c.ctime),
        (
            Timespec::new(101, 50),
            Timespec::new(101, 50),
            Timespec::new(101, 50)
        )
    );
    fs.close(fd).unwrap();
}

#[test]
fn the_system_clock_has_a_coarse_reading_near_now() {
    let fine = SystemClock.now();
    if let Some(coarse) = SystemClock.coarse_now() {
        let gap = (fine.sec - coarse.sec).abs();
        assert!(gap <= 1, "coarse {coarse:?} vs fine {fine:?}");
    }
}

/// Every change made by another handle is reported at the inode level, once the call
/// has released the tree; changes through the observer's own handle are not.
#[test]
fn observers_hear_every_change_but_their_own() {
    use std::sync::Mutex;
    let fs = fixture();
    let seen: Arc<Mutex<Vec<InodeChange>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let probe = fs.clone();
    let (observer, own) = fs.observe_changes(move |changes: &[InodeChange]| {
        // The tree is unlocked while observers run.
        assert!(probe.stat("/").is_ok());
        sink.lock().unwrap().extend_from_slice(changes);
    });
    let take = || std::mem::take(&mut *seen.lock().unwrap());
    let ino = |p: &str| fs.lstat(p).unwrap().ino;
    let attrs = |ino: u64| InodeChange::Attributes { ino };
    let entry = |parent: u64, name: &str| InodeChange::Entry {
        parent,
        name: name.to_owned(),
    };
    let (root, d, f) = (ino("/"), ino("/d"), ino("/d/f"));

    let fd = fs.open("/d/f", RW, 0).unwrap();
    fs.pwrite(fd, b"xy", 3).unwrap();
    assert_eq!(
        take(),
        [InodeChange::Content {
            ino: f,
            offset: 3,
            len: 2
        }]
    );
    fs.ftruncate(fd, 1).unwrap();
    assert_eq!(
        take(),
        [InodeChange::Content {
            ino: f,
            offset: 1,
            len: 0
        }]
    );
    fs.fchmod(fd, 0o600).unwrap();
    assert_eq!(take(), [attrs(f)]);
    fs.close(fd).unwrap();
    assert_eq!(take(), []);
    fs.mkdir("/d/sub", 0o755).unwrap();
    assert_eq!(take(), [attrs(d)]);
    fs.link("/d/f", "/hard").unwrap();
    assert_eq!(take(), [attrs(root), attrs(f)]);
    fs.unlink("/hard").unwrap();
    assert_eq!(take(), [entry(root, "hard"), attrs(root), attrs(f)]);
    fs.rename("/d/f", "/g").unwrap();
    assert_eq!(
        take(),
        [
            entry(d, "f"),
            attrs(d),
            entry(root, "g"),
            attrs(root),
            attrs(f)
        ]
    );
    fs.truncate("/g", 10).unwrap();
    assert_eq!(
        take(),
        [InodeChange::Content {
            ino: f,
            offset: 1,
            len: 0
        }]
    );
    fs.utimens("/g", SetTime::Now, SetTime::Omit).unwrap();
    assert_eq!(take(), [attrs(f)]);
    let sub = ino("/d/sub");
    fs.inodes().rmdir(d, "sub").unwrap();
    assert_eq!(take(), [entry(d, "sub"), attrs(d), attrs(sub)]);
    // Reads, lookups and failures change nothing.
    assert!(fs.read_file("/g").is_ok());
    assert!(fs.unlink("/missing").is_err());
    assert!(fs.inodes().lookup(root, "g").is_ok());
    assert_eq!(take(), []);
    // The observer's own handle, and handles made from it, are not reported.
    own.mkdir("/quiet", 0o755).unwrap();
    own.with_credentials(Credentials::root())
        .chmod("/quiet", 0o700)
        .unwrap();
    own.clone().inodes().unlink(root, "g").unwrap();
    assert_eq!(take(), []);
    drop(observer);
    fs.rmdir("/quiet").unwrap();
    assert_eq!(take(), []);
}
