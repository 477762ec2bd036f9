//! Runs a sequence on a fresh `MemoryFileSystem`, as uid/gid 1000 in a root
//! directory that uid owns — the same setup the kernel side has.

use std::collections::HashMap;

use memory_fs_posix::{
    AccessMode, Credentials, Fd, MemoryFileSystem, OpenFlags, PosixError, Stat, Whence,
};

use crate::ops::{Entry, Op, Outcome, Run, Val, payload};
use crate::{UID, UMASK};

/// A descriptor number no sequence ever opens, standing for a closed or failed handle.
const BAD_FD: u32 = 9999;

fn out<T>(r: Result<T, PosixError>, f: impl FnOnce(T) -> Val) -> Outcome {
    match r {
        Ok(v) => Outcome::Ok(f(v)),
        Err(e) => Outcome::Err(e.errno().raw()),
    }
}

fn stat_val(s: Stat) -> Val {
    Val::Stat {
        mode: s.mode,
        nlink: s.nlink,
        uid: s.uid,
        gid: s.gid,
        size: s.size,
    }
}

/// Runs `ops` on a new tree and returns every outcome and the final tree.
pub fn run(ops: &[Op]) -> Run {
    let root = MemoryFileSystem::builder().umask(UMASK).build();
    // The kernel side's root directory is owned by the test user; match it.
    if let Err(e) = root.chown("/", UID, UID) {
        return Run {
            outcomes: vec![Outcome::Err(e.errno().raw())],
            tree: Vec::new(),
        };
    }
    let fs = root.with_credentials(Credentials {
        uid: UID,
        gid: UID,
        groups: vec![],
    });
    let mut fds: HashMap<u32, Fd> = HashMap::new();
    let fd = |fds: &HashMap<u32, Fd>, id: &u32| fds.get(id).copied().unwrap_or(Fd(BAD_FD));
    let outcomes = ops
        .iter()
        .map(|op| match op {
            Op::Mkdir { path, mode } => out(fs.mkdir(path, *mode), |()| Val::Unit),
            Op::Open {
                id,
                path,
                flags,
                mode,
            } => {
                let r = fs.open(path, OpenFlags::from_bits_truncate(*flags), *mode);
                if let Ok(f) = &r {
                    fds.insert(*id, *f);
                }
                out(r, |_| Val::Unit)
            }
            Op::Close { id } => {
                let r = fs.close(fd(&fds, id));
                fds.remove(id);
                out(r, |()| Val::Unit)
            }
            Op::Write { id, len, byte } => {
                out(fs.write(fd(&fds, id), &payload(*len, *byte)), |n| {
                    Val::Num(n as u64)
                })
            }
            Op::Read { id, len } => {
                let mut buf = vec![0; *len];
                out(fs.read(fd(&fds, id), &mut buf), |n| {
                    buf.truncate(n);
                    Val::Bytes(buf)
                })
            }
            Op::Pread { id, len, offset } => {
                let mut buf = vec![0; *len];
                out(fs.pread(fd(&fds, id), &mut buf, *offset), |n| {
                    buf.truncate(n);
                    Val::Bytes(buf)
                })
            }
            Op::Pwrite {
                id,
                len,
                byte,
                offset,
            } => out(
                fs.pwrite(fd(&fds, id), &payload(*len, *byte), *offset),
                |n| Val::Num(n as u64),
            ),
            Op::Lseek { id, offset, whence } => {
                let w = match whence {
                    0 => Whence::Set,
                    1 => Whence::Cur,
                    _ => Whence::End,
                };
                out(fs.lseek(fd(&fds, id), *offset, w), Val::Num)
            }
            Op::Ftruncate { id, len } => out(fs.ftruncate(fd(&fds, id), *len), |()| Val::Unit),
            Op::Fstat { id } => out(fs.fstat(fd(&fds, id)), stat_val),
            Op::Unlink { path } => out(fs.unlink(path), |()| Val::Unit),
            Op::Rmdir { path } => out(fs.rmdir(path), |()| Val::Unit),
            Op::Rename { from, to } => out(fs.rename(from, to), |()| Val::Unit),
            Op::Link { from, to } => out(fs.link(from, to), |()| Val::Unit),
            Op::Symlink { target, path } => out(fs.symlink(target, path), |()| Val::Unit),
            Op::Readlink { path } => out(fs.readlink(path), Val::Str),
            Op::Chmod { path, mode } => out(fs.chmod(path, *mode), |()| Val::Unit),
            Op::Stat { path } => out(fs.stat(path), stat_val),
            Op::Lstat { path } => out(fs.lstat(path), stat_val),
            Op::Readdir { path } => out(fs.readdir(path), Val::Names),
            Op::Truncate { path, len } => out(fs.truncate(path, *len), |()| Val::Unit),
            Op::Access { path, mode } => out(
                fs.access(path, AccessMode::from_bits_truncate(*mode)),
                |()| Val::Unit,
            ),
            Op::Chdir { path } => out(fs.chdir(path), |()| Val::Unit),
            Op::Fchdir { id } => out(fs.fchdir(fd(&fds, id)), |()| Val::Unit),
            Op::Getcwd => out(fs.getcwd(), Val::Str),
        })
        .collect();
    let mut tree = Vec::new();
    walk(&root, "", &mut tree);
    tree.sort();
    Run { outcomes, tree }
}

/// Lists every entry below `dir` as root.
fn walk(fs: &MemoryFileSystem, dir: &str, tree: &mut Vec<Entry>) {
    let at = if dir.is_empty() { "/" } else { dir };
    let Ok(names) = fs.readdir(at) else { return };
    for name in names {
        let path = format!("{dir}/{name}");
        let Ok(st) = fs.lstat(&path) else { continue };
        let data = if st.is_symlink() {
            fs.readlink(&path)
                .map(String::into_bytes)
                .unwrap_or_default()
        } else if st.is_file() {
            read_all(fs, &path)
        } else {
            Vec::new()
        };
        tree.push(Entry {
            path: path.clone(),
            mode: st.mode,
            nlink: st.nlink,
            size: st.size,
            owner: (st.uid, st.gid),
            data,
        });
        if st.is_dir() {
            walk(fs, &path, tree);
        }
    }
}

fn read_all(fs: &MemoryFileSystem, path: &str) -> Vec<u8> {
    let Ok(fd) = fs.open(path, OpenFlags::READ, 0) else {
        return Vec::new();
    };
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = fs.read(fd, &mut buf) {
        data.extend_from_slice(&buf[..n]);
    }
    let _ = fs.close(fd);
    data
}
