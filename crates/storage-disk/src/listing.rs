//! Reading directories for listings: every entry through one reused buffer (Linux's
//! `getdents64` with no allocation per entry), and the order that lets a listing come
//! out sorted by bytes while sorting each directory on its own.

use std::cmp::Ordering;
use std::ffi::CStr;

use memory_fs_storage::SafePath;
use rustix::fd::AsFd;
use rustix::fs::FileType;
use rustix::io::Errno;

/// How many bytes of directory entries one read asks for at first.
#[cfg(target_os = "linux")]
const BUF_BYTES: usize = 32 * 1024;

/// The largest buffer a read grows to for one entry that does not fit.
#[cfg(target_os = "linux")]
const BUF_MAX: usize = 1 << 20;

/// The buffer directory reads go through, kept for a whole listing.
#[derive(Default)]
pub(crate) struct DirBuf {
    #[cfg(target_os = "linux")]
    bytes: Vec<u8>,
}

/// Calls `each` with the name and type of every entry of the opened, readable
/// directory `fd` except `.` and `..`, stopping at the first error `each` returns.
/// A directory removed while it is read ends the listing of it (nothing is left in it).
pub(crate) fn read_entries<E: From<Errno>>(
    fd: impl AsFd,
    buf: &mut DirBuf,
    mut each: impl FnMut(&CStr, FileType) -> Result<(), E>,
) -> Result<(), E> {
    #[cfg(target_os = "linux")]
    {
        if buf.bytes.capacity() < BUF_BYTES {
            buf.bytes = Vec::with_capacity(BUF_BYTES);
        }
        loop {
            let capacity = buf.bytes.capacity();
            let mut dir = rustix::fs::RawDir::new(fd.as_fd(), buf.bytes.spare_capacity_mut());
            let mut grow = false;
            while let Some(entry) = dir.next() {
                match entry {
                    Ok(entry) => {
                        let name = entry.file_name();
                        if name != c"." && name != c".." {
                            each(name, entry.file_type())?;
                        }
                    }
                    Err(Errno::NOENT) => return Ok(()),
                    // The next entry does not fit the buffer (a read fails only when
                    // refilling it): the directory's position has not moved past the
                    // entry, so a larger buffer goes on from there.
                    Err(Errno::INVAL) if capacity < BUF_MAX => {
                        grow = true;
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if !grow {
                return Ok(());
            }
            buf.bytes = Vec::with_capacity(capacity * 2);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = buf;
        let fd = rustix::io::dup(fd.as_fd())?;
        let mut dir = rustix::fs::Dir::new(fd)?;
        while let Some(entry) = dir.read() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let name = entry.file_name();
            if name != c"." && name != c".." {
                each(name, entry.file_type())?;
            }
        }
        Ok(())
    }
}

/// One entry of a directory being listed: a key found there, or a directory below it
/// (its name with a `/` appended).
pub(crate) enum Listed {
    /// A key, and the length of the directory part before its name (with the `/`).
    Key(SafePath, usize),
    /// A subdirectory: its name followed by `/`.
    Dir(String),
}

impl Listed {
    /// What orders the entry among its siblings: a key's name, a directory's name with
    /// `/` after it. Every key below directory `d` starts with `d/`, and no name holds
    /// a `/`, so siblings in this order, each directory's keys listed in its place,
    /// are all keys in byte order.
    fn order_key(&self) -> &[u8] {
        match self {
            Listed::Key(key, base) => &key.as_str().as_bytes()[*base..],
            Listed::Dir(name) => name.as_bytes(),
        }
    }

    /// Sorts the entries of one directory into listing order. Each is compared first
    /// by its first eight bytes as one number (which settles most comparisons of
    /// names in one directory without a call to `memcmp`), then by the rest.
    pub(crate) fn sort(entries: &mut Vec<Listed>) {
        let mut keyed: Vec<(u64, Listed)> = entries
            .drain(..)
            .map(|entry| (head(entry.order_key()), entry))
            .collect();
        keyed.sort_unstable_by(|(ha, a), (hb, b)| -> Ordering {
            ha.cmp(hb).then_with(|| a.order_key().cmp(b.order_key()))
        });
        entries.extend(keyed.into_iter().map(|(_, entry)| entry));
    }
}

/// The first eight bytes of `bytes` as a big-endian number, zero-padded: ordered as
/// the bytes are, up to the eighth (a shorter name is padded with zeros, which sorts it
/// before a longer one it begins, as byte order does, or ties, and the rest decides).
fn head(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(buf)
}
