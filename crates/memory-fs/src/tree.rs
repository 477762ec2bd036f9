//! Copying a store's keys into a POSIX tree (feature `memory`): what a mount of a
//! store shows.

use memory_fs_posix::{Errno, MemoryFileSystem, OpenFlags, PosixError};

use crate::{Error, MemoryFs, Result};

impl MemoryFs {
    /// Writes every key of the store (the library's own keys left out) into `tree` as
    /// a file at `/<key>`, making directories as needed, and returns how many keys it
    /// wrote. A store holding both `a` and `a/b` cannot be one tree: the second is
    /// refused with an error naming it.
    ///
    /// ```
    /// use memory_fs::prelude::*;
    /// use memory_fs::posix::MemoryFileSystem;
    ///
    /// let fs = MemoryFs::in_memory();
    /// fs.save().text(FileSpec::new(FileId::new("a")?, FileType::text()).folders(["docs"]), "hi")?;
    /// let tree = MemoryFileSystem::new();
    /// assert_eq!(fs.copy_into_tree(&tree)?, 3);
    /// assert!(tree.stat("/docs/a.txt").is_ok());
    /// # Ok::<(), memory_fs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Tree`] when the tree refuses a file; storage errors.
    pub fn copy_into_tree(&self, tree: &MemoryFileSystem) -> Result<usize> {
        let mut copied = 0;
        for key in self.keys(None, false)? {
            let Some(bytes) = self.storage().file_bytes(&key)? else {
                continue;
            };
            let refused = |e: PosixError| Error::Tree {
                key: key.to_string(),
                source: e,
            };
            let segments: Vec<&str> = key.segments().collect();
            let mut dir = String::new();
            for segment in &segments[..segments.len() - 1] {
                dir.push('/');
                dir.push_str(segment);
                match tree.mkdir(&dir, 0o755) {
                    Ok(()) => {}
                    Err(e) if e.errno() == Errno::EEXIST => {}
                    Err(e) => return Err(refused(e)),
                }
            }
            let fd = tree
                .open(
                    &format!("/{key}"),
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNC,
                    0o644,
                )
                .map_err(refused)?;
            let written = write_all(tree, fd, &bytes);
            let closed = tree.close(fd);
            written.and(closed).map_err(refused)?;
            copied += 1;
        }
        Ok(copied)
    }
}

fn write_all(
    tree: &MemoryFileSystem,
    fd: memory_fs_posix::Fd,
    mut rest: &[u8],
) -> std::result::Result<(), PosixError> {
    while !rest.is_empty() {
        let n = tree.write(fd, rest)?;
        if n == 0 {
            // The core writes everything or fails; a zero write would loop forever.
            return Err(PosixError::new(Errno::EIO, "write", None));
        }
        rest = &rest[n..];
    }
    Ok(())
}
