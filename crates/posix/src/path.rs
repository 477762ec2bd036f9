//! Path resolution, the one place every operation turns a path into inodes.
//!
//! It follows Linux's `link_path_walk`: search permission is checked on each
//! directory before each component is looked up (the last one included), `.` and `..`
//! are handled without lookup, symlinks in the middle of a path are always followed,
//! at most [`MAX_SYMLINKS`] symlinks are followed per call (then `ELOOP`), relative
//! link targets start from the link's directory, and a trailing slash makes the last
//! component follow symlinks and be a directory.

use std::borrow::Cow;

use crate::Credentials;
use crate::dcache::Trail;
use crate::error::Errno::{self, *};
use crate::state::{Ino, Inode, Kind, MAY_EXEC, ROOT, State};

/// Most symlinks followed while resolving one path (Linux's `MAXSYMLINKS`).
pub(crate) const MAX_SYMLINKS: u32 = 40;
/// Longest path accepted, in bytes, including the terminating NUL (`PATH_MAX`).
pub(crate) const PATH_MAX: usize = 4096;
/// Longest name of one entry, in bytes (`NAME_MAX`).
pub(crate) const NAME_MAX: usize = 255;

/// The last component of a path, after the walk to its directory.
#[derive(Debug, Clone)]
pub(crate) enum Last<'p> {
    /// The path was only slashes.
    Root,
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// A name, and whether slashes followed it.
    Name(Cow<'p, str>, bool),
}

/// Resolves paths in `st` as `cred`, relative ones from `cwd`.
pub(crate) struct Resolver<'a> {
    pub(crate) st: &'a State,
    pub(crate) cred: &'a Credentials,
    pub(crate) cwd: Ino,
    pub(crate) links: u32,
    /// What the walk so far depended on, for the path cache.
    trail: Trail,
}

/// Checks a path argument as `getname` does: empty → `ENOENT`, too long → `ENAMETOOLONG`.
pub(crate) fn check_path(path: &str) -> Result<(), Errno> {
    if path.is_empty() {
        Err(ENOENT)
    } else if path.len() >= PATH_MAX {
        Err(ENAMETOOLONG)
    } else {
        Ok(())
    }
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(st: &'a State, cred: &'a Credentials, cwd: Ino) -> Self {
        Self {
            st,
            cred,
            cwd,
            links: 0,
            trail: Trail {
                last_dir: cwd,
                last_dir_generation: 0,
                searchable_by_all: true,
            },
        }
    }

    /// [`walk_parent`](Self::walk_parent) from the working directory.
    pub(crate) fn walk<'p>(&mut self, path: &'p str) -> Result<(Ino, Last<'p>), Errno> {
        self.walk_parent(self.cwd, path)
    }

    fn may_exec(&mut self, dir: Ino) -> Result<(), Errno> {
        let inode = self.st.get(dir)?;
        self.may_search(inode)
    }

    /// Search permission on directory `inode`, noting whether everyone has it.
    fn may_search(&mut self, inode: &Inode) -> Result<(), Errno> {
        if inode.mode & 0o111 != 0o111 {
            self.trail.searchable_by_all = false;
        }
        if inode.permits(self.cred, MAY_EXEC) {
            Ok(())
        } else {
            Err(EACCES)
        }
    }

    /// Walks every component but the last, starting at `start` (or the root for an
    /// absolute path), and checks search permission on the directory holding the last.
    pub(crate) fn walk_parent<'p>(
        &mut self,
        start: Ino,
        path: &'p str,
    ) -> Result<(Ino, Last<'p>), Errno> {
        let st = self.st;
        let mut cur = if path.starts_with('/') { ROOT } else { start };
        let trimmed = path.trim_end_matches('/');
        let trailing = trimmed.len() != path.len();
        // The trimmed path ends in a component, not a slash, so every component but
        // the last is followed by one.
        let mut rest = trimmed.trim_start_matches('/');
        if rest.is_empty() {
            return Ok((cur, Last::Root));
        }
        let mut dir = st.get(cur)?;
        loop {
            self.may_search(dir)?;
            let Some((comp, tail)) = rest.split_once('/') else {
                let last = match rest {
                    "." => Last::Dot,
                    ".." => Last::DotDot,
                    name => Last::Name(Cow::Borrowed(name), trailing),
                };
                return Ok((cur, last));
            };
            let mut next = self.step(cur, comp)?;
            let mut inode = st.get(next)?;
            if inode.is_symlink() {
                next = self.follow_if_symlink(cur, next)?;
                inode = st.get(next)?;
            }
            if !inode.is_dir() {
                return Err(ENOTDIR);
            }
            (cur, dir) = (next, inode);
            rest = tail.trim_start_matches('/');
        }
    }

    /// Looks up one component in directory `dir` without following a symlink.
    fn step(&mut self, dir: Ino, comp: &str) -> Result<Ino, Errno> {
        match comp {
            "." => Ok(dir),
            ".." => self.st.parent_of(dir),
            name if name.len() > NAME_MAX => Err(ENAMETOOLONG),
            name => {
                let d = self.st.get(dir)?.dir().ok_or(ENOTDIR)?;
                self.trail.last_dir = dir;
                self.trail.last_dir_generation = d.generation();
                d.get(name).ok_or(ENOENT)
            }
        }
    }

    /// If `ino` (found in `dir`) is a symlink, follows it completely.
    fn follow_if_symlink(&mut self, dir: Ino, ino: Ino) -> Result<Ino, Errno> {
        if !self.st.get(ino)?.is_symlink() {
            return Ok(ino);
        }
        let (parent, last) = self.follow_once(dir, ino)?;
        self.lookup_last(parent, &last, true)
    }

    /// Resolves the last component in `parent`, following a final symlink when
    /// `follow` is set or a slash followed it; a trailing slash demands a directory.
    pub(crate) fn lookup_last(
        &mut self,
        parent: Ino,
        last: &Last<'_>,
        follow: bool,
    ) -> Result<Ino, Errno> {
        match last {
            Last::Root => Ok(ROOT),
            Last::Dot => Ok(parent),
            Last::DotDot => self.st.parent_of(parent),
            Last::Name(name, trailing) => {
                let ino = self.step(parent, name)?;
                let ino = if follow || *trailing {
                    self.follow_if_symlink(parent, ino)?
                } else {
                    ino
                };
                if *trailing && !self.st.get(ino)?.is_dir() {
                    return Err(ENOTDIR);
                }
                Ok(ino)
            }
        }
    }

    /// Resolves a whole path, answering from the path cache when it can (see
    /// `dcache.rs`) and filling it when it walked.
    pub(crate) fn resolve(&mut self, path: &str, follow: bool) -> Result<Ino, Errno> {
        check_path(path)?;
        if self.links != 0 {
            // The cache holds walks made with the whole symlink budget.
            let (parent, last) = self.walk(path)?;
            return self.lookup_last(parent, &last, follow);
        }
        let start = if path.starts_with('/') {
            ROOT
        } else {
            self.cwd
        };
        let st = self.st;
        let root = self.cred.uid == 0;
        if let Some(ino) = st
            .paths
            .get(start, follow, path, root, |dir| st.dir_generation(dir))
        {
            return Ok(ino);
        }
        self.trail = Trail {
            last_dir: start,
            last_dir_generation: st.dir_generation(start).unwrap_or(0),
            searchable_by_all: true,
        };
        let (parent, last) = self.walk(path)?;
        let ino = self.lookup_last(parent, &last, follow)?;
        st.paths.insert(start, follow, path, ino, self.trail);
        Ok(ino)
    }

    /// Follows the symlink `link` found in `dir` one step: its target's directory and
    /// last component, counting it against the symlink limit.
    pub(crate) fn follow_once(
        &mut self,
        dir: Ino,
        link: Ino,
    ) -> Result<(Ino, Last<'static>), Errno> {
        let st = self.st;
        let Kind::Symlink(target) = &st.get(link)?.kind else {
            return Err(EINVAL);
        };
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(ELOOP);
        }
        if target.is_empty() {
            return Err(ENOENT);
        }
        let (parent, last) = self.walk_parent(dir, target)?;
        Ok((
            parent,
            match last {
                Last::Name(n, t) => Last::Name(Cow::Owned(n.into_owned()), t),
                Last::Root => Last::Root,
                Last::Dot => Last::Dot,
                Last::DotDot => Last::DotDot,
            },
        ))
    }

    /// The canonical absolute path of `path`, resolving every symlink (`realpath(3)`).
    pub(crate) fn realpath(&mut self, path: &str) -> Result<String, Errno> {
        check_path(path)?;
        let mut stack: Vec<(Ino, String)> = Vec::new();
        if path.starts_with('/') {
            self.canon(path, &mut stack)?;
        } else {
            // As glibc's `realpath`: a relative path is appended to `getcwd` (which
            // fails in a removed directory) and resolved from the root.
            let cwd = self.st.dir_path(self.cwd)?;
            self.canon(&format!("{cwd}/{path}"), &mut stack)?;
        }
        if stack.is_empty() {
            return Ok("/".to_owned());
        }
        let mut out = String::new();
        for (_, name) in &stack {
            out.push('/');
            out.push_str(name);
        }
        Ok(out)
    }

    /// Applies `path` to the component stack (`(inode, name)` from the root down).
    fn canon(&mut self, path: &str, stack: &mut Vec<(Ino, String)>) -> Result<(), Errno> {
        if path.starts_with('/') {
            stack.clear();
        }
        let trailing = path.ends_with('/');
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let n = comps.len();
        for (i, comp) in comps.into_iter().enumerate() {
            let dir = stack.last().map_or(ROOT, |(ino, _)| *ino);
            self.may_exec(dir)?;
            match comp {
                "." => {}
                ".." => {
                    stack.pop();
                }
                name => {
                    let ino = self.step(dir, name)?;
                    if let Kind::Symlink(target) = &self.st.get(ino)?.kind {
                        self.links += 1;
                        if self.links > MAX_SYMLINKS {
                            return Err(ELOOP);
                        }
                        if target.is_empty() {
                            return Err(ENOENT);
                        }
                        let target = target.to_string();
                        self.canon(&target, stack)?;
                    } else {
                        stack.push((ino, name.to_owned()));
                    }
                }
            }
            let here = stack.last().map_or(ROOT, |(ino, _)| *ino);
            if (i + 1 < n || trailing) && !self.st.get(here)?.is_dir() {
                return Err(ENOTDIR);
            }
        }
        Ok(())
    }
}
