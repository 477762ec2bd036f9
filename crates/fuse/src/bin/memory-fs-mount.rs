//! `memory-fs-mount <dir> [--read-only] [--core-permissions]`: mounts an empty
//! in-memory tree at `<dir>` until SIGINT or SIGTERM (then unmounts cleanly) or until
//! it is unmounted from outside.

use std::path::PathBuf;
use std::process::ExitCode;

use memory_fs_fuse::{MountOptions, PermissionChecks, fuse_usable, mount_until_interrupted};
use memory_fs_posix::MemoryFileSystem;

const USAGE: &str = "usage: memory-fs-mount <dir> [--read-only] [--core-permissions]\n\
  --read-only         refuse every change (EROFS)\n\
  --core-permissions  let the core decide every permission: no default_permissions,\n\
                      no kernel caching (slower; what pjdfstest tests the core with)";

fn main() -> ExitCode {
    let mut dir: Option<PathBuf> = None;
    let mut options = MountOptions::default();
    for arg in std::env::args_os().skip(1) {
        match arg.to_str() {
            Some("--read-only") => options.read_only = true,
            Some("--core-permissions") => options.permissions = PermissionChecks::Core,
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Some(flag) if flag.starts_with('-') => {
                eprintln!("unknown option `{flag}`\n{USAGE}");
                return ExitCode::from(2);
            }
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("only one directory, please\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if let Err(why) = fuse_usable() {
        eprintln!("memory-fs-mount: {why}");
        return ExitCode::FAILURE;
    }
    // The root directory is world-writable and sticky, like /tmp, so every user of an
    // `allow_other` mount can work in it.
    let fs = MemoryFileSystem::new();
    if let Err(e) = fs.chmod("/", 0o1777) {
        eprintln!("memory-fs-mount: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "memory-fs-mount: mounting at {} (Ctrl-C to unmount)",
        dir.display()
    );
    match mount_until_interrupted(fs, &dir, &options) {
        Ok(stop) => {
            eprintln!("memory-fs-mount: {stop}, unmounted {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("memory-fs-mount: {e}");
            ExitCode::FAILURE
        }
    }
}
