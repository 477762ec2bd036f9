//! The kernel side: the `posix-oracle` process and the client that talks to it.
//!
//! The oracle starts as root, makes a fresh directory on tmpfs (`/dev/shm`), chroots
//! into it and switches to uid/gid 1000 (keeping uid 0 only as its saved uid, so it can
//! walk and reset the tree as root between sequences). It then reads one sequence per
//! line (JSON) on stdin and answers one [`Run`] per line on stdout. It never forks: the
//! test harness re-executes it as a separate program.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::ops::{Entry, Op, Outcome, Run, Val, payload};
use crate::{UID, UMASK};

const BAD_FD: i32 = 9999;

/// A running oracle process.
#[derive(Debug)]
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    base: String,
}

impl Oracle {
    /// Starts the oracle binary at `exe`. `Err` says why the kernel side cannot run
    /// here (not root, no chroot…), for a loud skip.
    ///
    /// # Errors
    /// A message naming what is missing.
    pub fn spawn(exe: &str) -> Result<Self, String> {
        let mut child = Command::new(exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {exe}: {e}"))?;
        let stdin = child.stdin.take().ok_or("oracle has no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("oracle has no stdout")?);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("oracle did not answer: {e}"))?;
        match line.trim().strip_prefix("ready ") {
            Some(base) => Ok(Self {
                child,
                stdin,
                stdout,
                base: base.to_owned(),
            }),
            None => {
                let _ = child.wait();
                Err(line.trim().trim_start_matches("unavailable: ").to_owned())
            }
        }
    }

    /// Runs one sequence in the oracle's fresh tree.
    ///
    /// # Errors
    /// When the oracle process fails or answers nonsense.
    pub fn run(&mut self, ops: &[Op]) -> Result<Run, String> {
        let mut line = serde_json::to_string(ops).map_err(|e| e.to_string())?;
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .map_err(|e| format!("oracle stdin: {e}"))?;
        self.stdin
            .flush()
            .map_err(|e| format!("oracle stdin: {e}"))?;
        let mut answer = String::new();
        self.stdout
            .read_line(&mut answer)
            .map_err(|e| format!("oracle stdout: {e}"))?;
        serde_json::from_str(&answer).map_err(|e| format!("oracle answered {answer:?}: {e}"))
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn cstr(path: &str) -> CString {
    // Generated paths never contain NUL; an empty CString stands in if one did.
    CString::new(path).unwrap_or_default()
}

fn check(rc: libc::c_int) -> Outcome {
    if rc < 0 {
        Outcome::Err(errno())
    } else {
        Outcome::Ok(Val::Unit)
    }
}

fn stat_val(st: &libc::stat) -> Val {
    Val::Stat {
        mode: st.st_mode,
        nlink: st.st_nlink,
        uid: st.st_uid,
        gid: st.st_gid,
        size: u64::try_from(st.st_size).unwrap_or(0),
    }
}

fn do_stat(path: &str, follow: bool) -> Result<libc::stat, i32> {
    let p = cstr(path);
    // SAFETY: `st` is plain old data filled by the call; `p` is a valid C string.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let rc = if follow {
            libc::stat(p.as_ptr(), &mut st)
        } else {
            libc::lstat(p.as_ptr(), &mut st)
        };
        if rc < 0 { Err(errno()) } else { Ok(st) }
    }
}

fn open_flags(bits: u32) -> libc::c_int {
    use memory_fs_posix::OpenFlags as F;
    let f = F::from_bits_truncate(bits);
    let mut o = if f.contains(F::READ | F::WRITE) {
        libc::O_RDWR
    } else if f.contains(F::WRITE) {
        libc::O_WRONLY
    } else {
        libc::O_RDONLY
    };
    for (flag, bit) in [
        (F::APPEND, libc::O_APPEND),
        (F::CREATE, libc::O_CREAT),
        (F::EXCL, libc::O_EXCL),
        (F::TRUNC, libc::O_TRUNC),
        (F::DIRECTORY, libc::O_DIRECTORY),
        (F::NOFOLLOW, libc::O_NOFOLLOW),
    ] {
        if f.contains(flag) {
            o |= bit;
        }
    }
    o | libc::O_CLOEXEC
}

/// Executes `ops` with real system calls in the current directory tree.
///
/// # Safety contract
/// Called only inside the oracle process, after it chrooted and switched users.
pub fn execute(ops: &[Op]) -> Vec<Outcome> {
    let mut fds: HashMap<u32, i32> = HashMap::new();
    let fd = |fds: &HashMap<u32, i32>, id: &u32| fds.get(id).copied().unwrap_or(BAD_FD);
    let outcomes = ops
        .iter()
        .map(|op| {
            // SAFETY: every call gets valid C strings and buffers of the stated length.
            unsafe {
                match op {
                    Op::Mkdir { path, mode } => check(libc::mkdir(cstr(path).as_ptr(), *mode)),
                    Op::Open {
                        id,
                        path,
                        flags,
                        mode,
                    } => {
                        let rc = libc::open(cstr(path).as_ptr(), open_flags(*flags), *mode);
                        if rc >= 0 {
                            fds.insert(*id, rc);
                        }
                        check(rc)
                    }
                    Op::Close { id } => {
                        let rc = libc::close(fd(&fds, id));
                        fds.remove(id);
                        check(rc)
                    }
                    Op::Write { id, len, byte } => {
                        let data = payload(*len, *byte);
                        let n = libc::write(fd(&fds, id), data.as_ptr().cast(), data.len());
                        if n < 0 {
                            Outcome::Err(errno())
                        } else {
                            Outcome::Ok(Val::Num(n as u64))
                        }
                    }
                    Op::Pwrite {
                        id,
                        len,
                        byte,
                        offset,
                    } => {
                        let data = payload(*len, *byte);
                        let n =
                            libc::pwrite(fd(&fds, id), data.as_ptr().cast(), data.len(), *offset);
                        if n < 0 {
                            Outcome::Err(errno())
                        } else {
                            Outcome::Ok(Val::Num(n as u64))
                        }
                    }
                    Op::Read { id, len } => {
                        let mut buf = vec![0u8; *len];
                        let n = libc::read(fd(&fds, id), buf.as_mut_ptr().cast(), buf.len());
                        if n < 0 {
                            Outcome::Err(errno())
                        } else {
                            buf.truncate(n as usize);
                            Outcome::Ok(Val::Bytes(buf))
                        }
                    }
                    Op::Pread { id, len, offset } => {
                        let mut buf = vec![0u8; *len];
                        let n =
                            libc::pread(fd(&fds, id), buf.as_mut_ptr().cast(), buf.len(), *offset);
                        if n < 0 {
                            Outcome::Err(errno())
                        } else {
                            buf.truncate(n as usize);
                            Outcome::Ok(Val::Bytes(buf))
                        }
                    }
                    Op::Lseek { id, offset, whence } => {
                        let w = match whence {
                            0 => libc::SEEK_SET,
                            1 => libc::SEEK_CUR,
                            _ => libc::SEEK_END,
                        };
                        let n = libc::lseek(fd(&fds, id), *offset, w);
                        if n < 0 {
                            Outcome::Err(errno())
                        } else {
                            Outcome::Ok(Val::Num(n as u64))
                        }
                    }
                    Op::Ftruncate { id, len } => check(libc::ftruncate(fd(&fds, id), *len as i64)),
                    Op::Fstat { id } => {
                        let mut st: libc::stat = std::mem::zeroed();
                        if libc::fstat(fd(&fds, id), &mut st) < 0 {
                            Outcome::Err(errno())
                        } else {
                            Outcome::Ok(stat_val(&st))
                        }
                    }
                    Op::Unlink { path } => check(libc::unlink(cstr(path).as_ptr())),
                    Op::Rmdir { path } => check(libc::rmdir(cstr(path).as_ptr())),
                    Op::Rename { from, to } => {
                        check(libc::rename(cstr(from).as_ptr(), cstr(to).as_ptr()))
                    }
                    Op::Link { from, to } => {
                        check(libc::link(cstr(from).as_ptr(), cstr(to).as_ptr()))
                    }
                    Op::Symlink { target, path } => {
                        check(libc::symlink(cstr(target).as_ptr(), cstr(path).as_ptr()))
                    }
                    Op::Readlink { path } => {
                        let mut buf = vec![0u8; 4096];
                        let n =
                            libc::readlink(cstr(path).as_ptr(), buf.as_mut_ptr().cast(), buf.len());
                        if n < 0 {
                            Outcome::Err(errno())
                        } else {
                            buf.truncate(n as usize);
                            Outcome::Ok(Val::Str(String::from_utf8_lossy(&buf).into_owned()))
                        }
                    }
                    Op::Chmod { path, mode } => check(libc::chmod(cstr(path).as_ptr(), *mode)),
                    Op::Stat { path } => match do_stat(path, true) {
                        Ok(st) => Outcome::Ok(stat_val(&st)),
                        Err(e) => Outcome::Err(e),
                    },
                    Op::Lstat { path } => match do_stat(path, false) {
                        Ok(st) => Outcome::Ok(stat_val(&st)),
                        Err(e) => Outcome::Err(e),
                    },
                    Op::Readdir { path } => readdir(path),
                    Op::Truncate { path, len } => {
                        check(libc::truncate(cstr(path).as_ptr(), *len as i64))
                    }
                    Op::Access { path, mode } => {
                        check(libc::access(cstr(path).as_ptr(), *mode as i32))
                    }
                    Op::Chdir { path } => check(libc::chdir(cstr(path).as_ptr())),
                    Op::Fchdir { id } => check(libc::fchdir(fd(&fds, id))),
                    Op::Getcwd => getcwd(),
                }
            }
        })
        .collect();
    for raw in fds.values() {
        // SAFETY: closing descriptors this function opened.
        unsafe { libc::close(*raw) };
    }
    outcomes
}

fn getcwd() -> Outcome {
    let mut buf = vec![0u8; 4096];
    // SAFETY: the buffer is valid for `buf.len()` bytes and getcwd NUL-terminates it.
    let ptr = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if ptr.is_null() {
        return Outcome::Err(errno());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(len);
    Outcome::Ok(Val::Str(String::from_utf8_lossy(&buf).into_owned()))
}

fn readdir(path: &str) -> Outcome {
    let p = cstr(path);
    // SAFETY: opendir/readdir/closedir on a valid C string; entries are read before
    // the next readdir call.
    unsafe {
        let dir = libc::opendir(p.as_ptr());
        if dir.is_null() {
            return Outcome::Err(errno());
        }
        let mut names = Vec::new();
        loop {
            let ent = libc::readdir(dir);
            if ent.is_null() {
                break;
            }
            let name = std::ffi::CStr::from_ptr((*ent).d_name.as_ptr())
                .to_string_lossy()
                .into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        libc::closedir(dir);
        names.sort();
        Outcome::Ok(Val::Names(names))
    }
}

/// Lists the tree below `/` (run as root).
pub fn tree() -> Vec<Entry> {
    let mut out = Vec::new();
    walk("", &mut out);
    out.sort();
    out
}

fn walk(dir: &str, out: &mut Vec<Entry>) {
    let at = if dir.is_empty() { "/" } else { dir };
    let Outcome::Ok(Val::Names(names)) = readdir(at) else {
        return;
    };
    for name in names {
        let path = format!("{dir}/{name}");
        let Ok(st) = do_stat(&path, false) else {
            continue;
        };
        let kind = st.st_mode & libc::S_IFMT;
        let data = if kind == libc::S_IFLNK {
            std::fs::read_link(&path)
                .map(|p| p.into_os_string().into_encoded_bytes())
                .unwrap_or_default()
        } else if kind == libc::S_IFREG {
            std::fs::read(&path).unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push(Entry {
            path: path.clone(),
            mode: st.st_mode,
            nlink: st.st_nlink,
            size: u64::try_from(st.st_size).unwrap_or(0),
            owner: (st.st_uid, st.st_gid),
            data,
        });
        if kind == libc::S_IFDIR {
            walk(&path, out);
        }
    }
}

/// Empties `/` as root, gives it back to the test user with mode 0755 and makes it
/// the working directory again.
pub fn reset() -> std::io::Result<()> {
    std::env::set_current_dir("/")?;
    for entry in std::fs::read_dir("/")? {
        let path = entry?.path();
        if std::fs::symlink_metadata(&path)?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    let root = cstr("/");
    // SAFETY: plain system calls on a valid C string.
    unsafe {
        if libc::chown(root.as_ptr(), UID, UID) < 0 || libc::chmod(root.as_ptr(), 0o755) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The oracle's setup: a fresh tmpfs directory, chroot, and the switch to the test
/// user (real and effective uid 1000, saved uid 0). Returns the directory's path
/// outside the chroot.
///
/// # Errors
/// What failed, for the skip message.
pub fn enter_sandbox() -> Result<String, String> {
    // SAFETY: plain system calls; no threads exist yet in the oracle.
    unsafe {
        if libc::geteuid() != 0 {
            return Err("the kernel side needs root (to chroot and switch users)".into());
        }
        let shm = std::path::Path::new("/dev/shm");
        let parent = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let base = parent.join(format!("memory-fs-oracle-{}", std::process::id()));
        std::fs::create_dir(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
        let base_s = base.to_string_lossy().into_owned();
        let b = cstr(&base_s);
        if libc::chown(b.as_ptr(), UID, UID) < 0 || libc::chmod(b.as_ptr(), 0o755) < 0 {
            return Err(format!(
                "cannot prepare {base_s}: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::chroot(b.as_ptr()) < 0 || libc::chdir(cstr("/").as_ptr()) < 0 {
            return Err(format!(
                "chroot into {base_s} failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setgroups(0, std::ptr::null()) < 0
            || libc::setresgid(UID, UID, UID) < 0
            || libc::setresuid(UID, UID, 0) < 0
        {
            return Err(format!(
                "cannot switch to uid {UID}: {}",
                std::io::Error::last_os_error()
            ));
        }
        libc::umask(UMASK);
        Ok(base_s)
    }
}

/// Runs `f` with effective uid 0 (the saved uid), then switches back to the test user.
pub fn as_root<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: switching the effective uid between the real and saved ones.
    unsafe {
        libc::seteuid(0);
    }
    let r = f();
    // SAFETY: as above.
    unsafe {
        libc::seteuid(UID);
    }
    r
}
