//! `cargo xtask posix [--on-tmpfs | --mode kernel|core]`: the pjdfstest POSIX suite
//! against the core mounted through FUSE, in both of the mount's permission modes.
//!
//! Installs pjdfstest 0.2.2 into the cache directory if it is missing, creates its
//! dummy user `tests` if missing, writes its configuration, and for each mode mounts
//! an empty tree with the release build of `memory-fs-mount`, runs the suite in the
//! mount as root, and unmounts: first with the kernel checking permissions and
//! caching (`default_permissions`, the default mode), then with the core deciding
//! every permission (`--core-permissions`). The `EROFS` cases remount the filesystem
//! read-only, which the kernel refuses while files of earlier cases are still open,
//! so they run separately on a fresh mount of their own. Prints pass/fail/skip counts
//! per mode and fails if any case fails in either. `--mode` runs one mode only;
//! `--on-tmpfs` runs the same two passes on fresh tmpfs mounts instead: the baseline
//! the counts are compared with.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{self, Result};

const PJDFSTEST_VERSION: &str = "0.2.2";

/// Passes tmpfs gets as root with pjdfstest's default feature set (the target to meet).
const TMPFS_BASELINE_PASSES: usize = 375;

/// Where the mount point and the secondary filesystem are made: short enough that the
/// socket cases' paths fit in `sun_path` wherever the repository is cloned.
const SHORT_BASE: &str = "/tmp/memory-fs-pjdfstest";

/// pjdfstest's `_PC_PATH_MAX` (4096) minus the NUL.
const PATH_MAX: usize = 4095;
/// Half of `_PC_NAME_MAX` (255): the component length pjdfstest builds long paths from.
const PATH_COMPONENT: usize = 127;
/// The two nested temporary directories pjdfstest puts under `-p` (`/.tmpXXXXXX` each).
const PJDFSTEST_TEMP_DIRS: usize = 2 * "/.tmpXXXXXX".len();

/// Counts from pjdfstest's summary line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    failed: usize,
    skipped: usize,
    passed: usize,
}

/// Whether this process can mount FUSE: root and an openable `/dev/fuse`.
pub(crate) fn fuse_usable() -> Result {
    let status = fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Err(format!(
            "mounting needs root (this process runs as uid {euid})"
        ));
    }
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .map(drop)
        .map_err(|e| format!("cannot open /dev/fuse: {e}"))
}

/// The mount's two permission modes, by their `memory-fs-mount` flags.
const MODES: [Mode; 2] = [Mode::Kernel, Mode::Core];

/// A permission mode of the mount.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `default_permissions` and kernel caching (the default).
    Kernel,
    /// `--core-permissions`: the core decides every permission.
    Core,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Kernel => "kernel",
            Mode::Core => "core",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Mode::Kernel => &[],
            Mode::Core => &["--core-permissions"],
        }
    }
}

const USAGE: &str = "usage: cargo xtask posix [--on-tmpfs | --mode kernel|core]";

/// Runs the suite (see the module documentation).
pub(crate) fn run(args: &[String]) -> Result {
    let (on_tmpfs, modes): (bool, &[Mode]) = match args {
        [] => (false, &MODES),
        [flag] if flag == "--on-tmpfs" => (true, &[]),
        [flag, mode] if flag == "--mode" => match mode.as_str() {
            "kernel" => (false, &MODES[..1]),
            "core" => (false, &MODES[1..]),
            _ => return Err(USAGE.to_owned()),
        },
        _ => return Err(USAGE.to_owned()),
    };
    fuse_usable()?;
    let work = util::cache_dir().join("pjdfstest");
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let pjdfstest = install(&work)?;
    let (nobody_group, tests_group) = dummy_users()?;
    let config = |allow_remount: bool| {
        format!(
            "# Written by `cargo xtask posix`.\n\
             [features]\n\
             posix_fallocate = {{}}\n\
             utime_now = {{}}\n\
             utimensat = {{}}\n\
             rename_ctime = {{}}\n\n\
             [settings]\n\
             naptime = 0.01\n\
             allow_remount = {allow_remount}\n\n\
             [dummy_auth]\n\
             entries = [[\"nobody\", \"{nobody_group}\"], [\"tests\", \"{tests_group}\"]]\n"
        )
    };
    let main_config = work.join("pjdfstest.toml");
    let erofs_config = work.join("pjdfstest-erofs.toml");
    write(&main_config, &config(false))?;
    write(&erofs_config, &config(true))?;
    // The mount point and the secondary filesystem live at a short fixed path, not in
    // the cache dir (whose length depends on where the repository is cloned): the
    // socket cases `bind()` to paths inside the mount, and a socket path must fit in
    // `sun_path` (108 bytes), so a deep mount point makes them fail with ENAMETOOLONG.
    let base = Path::new(SHORT_BASE);
    let secondary = base.join("secondary-fs");
    fs::create_dir_all(&secondary)
        .map_err(|e| format!("cannot create {}: {e}", secondary.display()))?;

    let targets: Vec<Target> = if on_tmpfs {
        vec![Target::Tmpfs]
    } else {
        let binary = build_mount_binary()?;
        modes
            .iter()
            .map(|&mode| Target::Core(binary.clone(), mode))
            .collect()
    };
    let mut failures = Vec::new();
    for target in &targets {
        if let Err(why) = run_target(
            target,
            &pjdfstest,
            &work,
            base,
            &secondary,
            &main_config,
            &erofs_config,
        ) {
            failures.push(why);
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Both passes of the suite on one target, with its summary.
fn run_target(
    target: &Target,
    pjdfstest: &Path,
    work: &Path,
    base: &Path,
    secondary: &Path,
    main_config: &Path,
    erofs_config: &Path,
) -> Result {
    let what = target.describe();
    let started = Instant::now();

    let mountpoint = mountpoint(base, "mnt")?;
    let log = work.join(format!("{}-main.log", target.tag()));
    let main = with_mount(target, &mountpoint, || {
        run_suite(
            pjdfstest,
            main_config,
            &mountpoint,
            Some(secondary),
            &[],
            &log,
        )
    })?;
    let erofs_log = work.join(format!("{}-erofs.log", target.tag()));
    let erofs = with_mount(target, &mountpoint, || {
        run_suite(
            pjdfstest,
            erofs_config,
            &mountpoint,
            None,
            &["erofs"],
            &erofs_log,
        )
    })?;

    let total = Counts {
        failed: main.failed + erofs.failed,
        // The main pass skips the EROFS cases that the second pass runs.
        skipped: main.skipped.saturating_sub(erofs.passed + erofs.failed),
        passed: main.passed + erofs.passed,
    };
    eprintln!(
        "\n==> pjdfstest {PJDFSTEST_VERSION} on {what} ({:.1?})",
        started.elapsed()
    );
    eprintln!(
        "  main pass:   {} passed, {} failed, {} skipped   (log: {})",
        main.passed,
        main.failed,
        main.skipped,
        log.display()
    );
    eprintln!(
        "  EROFS pass:  {} passed, {} failed, {} skipped   (log: {})",
        erofs.passed,
        erofs.failed,
        erofs.skipped,
        erofs_log.display()
    );
    println!(
        "pjdfstest on {what}: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    if total.failed > 0 {
        return Err(format!(
            "{} pjdfstest case(s) failed on {what}",
            total.failed
        ));
    }
    if matches!(target, Target::Core(..)) && total.passed < TMPFS_BASELINE_PASSES {
        return Err(format!(
            "only {} pjdfstest cases passed on {what}; tmpfs passes {TMPFS_BASELINE_PASSES}",
            total.passed
        ));
    }
    Ok(())
}

/// What the suite runs against.
enum Target {
    /// The core, mounted by this `memory-fs-mount` binary in this mode.
    Core(PathBuf, Mode),
    /// A fresh tmpfs (the baseline).
    Tmpfs,
}

impl Target {
    fn describe(&self) -> &'static str {
        match self {
            Target::Core(_, Mode::Kernel) => {
                "the memory-fs core through FUSE (kernel-checked permissions, caching)"
            }
            Target::Core(_, Mode::Core) => {
                "the memory-fs core through FUSE (core-checked permissions, no caching)"
            }
            Target::Tmpfs => "tmpfs",
        }
    }

    fn tag(&self) -> String {
        match self {
            Target::Core(_, mode) => format!("core-{}", mode.name()),
            Target::Tmpfs => "tmpfs".to_owned(),
        }
    }
}

/// The pjdfstest binary in the cache, installed with `cargo install` if missing.
fn install(work: &Path) -> Result<PathBuf> {
    let bin = work.join("bin").join("pjdfstest");
    let installed = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(PJDFSTEST_VERSION));
    if installed {
        return Ok(bin);
    }
    ensure_libacl()?;
    util::run(
        util::cargo()
            .args([
                "install",
                "pjdfstest",
                "--version",
                PJDFSTEST_VERSION,
                "--locked",
                "--root",
            ])
            .arg(work),
    )?;
    Ok(bin)
}

/// pjdfstest links `libacl` (through `exacl`); installs Debian's `libacl1-dev` if the
/// linker would not find it.
fn ensure_libacl() -> Result {
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ];
    if dirs.iter().any(|d| Path::new(d).join("libacl.so").exists()) {
        return Ok(());
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        return Err("pjdfstest needs libacl's development files (libacl.so); install them".into());
    }
    let install = || {
        util::run(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "libacl1-dev"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    install().or_else(|_| {
        util::run(Command::new("apt-get").args(["update", "-q"]))?;
        install()
    })
}

/// Makes sure pjdfstest's dummy users exist; returns the groups of `nobody` and
/// `tests` (`nobody`'s is `nogroup` on Debian).
fn dummy_users() -> Result<(String, String)> {
    if !getent("passwd", "tests") {
        util::run(Command::new("useradd").args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "pjdfstest dummy user",
            "tests",
        ]))?;
    }
    if !getent("passwd", "nobody") {
        return Err("pjdfstest needs the user `nobody`, which this system lacks".into());
    }
    Ok((group_of("nobody")?, group_of("tests")?))
}

fn getent(db: &str, key: &str) -> bool {
    Command::new("getent")
        .args([db, key])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn group_of(user: &str) -> Result<String> {
    let out = Command::new("id")
        .args(["-gn", user])
        .output()
        .map_err(|e| format!("cannot run `id`: {e}"))?;
    let group = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !group.is_empty() {
        Ok(group)
    } else {
        Err(format!("cannot find the group of `{user}`"))
    }
}

fn write(path: &Path, text: &str) -> Result {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Builds `memory-fs-mount` in release mode and returns its path.
fn build_mount_binary() -> Result<PathBuf> {
    util::run(util::cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "memory-fs-fuse",
        "--bin",
        "memory-fs-mount",
    ]))?;
    let meta = util::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(util::workspace_root())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout)
        .map_err(|e| format!("cannot read cargo metadata: {e}"))?;
    let target = meta["target_directory"]
        .as_str()
        .ok_or("cargo metadata has no target_directory")?;
    Ok(Path::new(target).join("release").join("memory-fs-mount"))
}

/// A mount point under `work`, with a length that pjdfstest's long-path builder can
/// handle: it fills `PATH_MAX` with components of 127 bytes and underflows when the
/// room left is an exact multiple of 127 (so a few path lengths always fail,
/// whatever the filesystem).
fn mountpoint(work: &Path, name: &str) -> Result<PathBuf> {
    let mut path = work.join(name);
    let len = |p: &Path| p.as_os_str().len() + PJDFSTEST_TEMP_DIRS;
    if PATH_MAX
        .checked_sub(len(&path))
        .is_some_and(|room| room % PATH_COMPONENT == 0)
    {
        path = work.join(format!("{name}_"));
    }
    if PATH_MAX.saturating_sub(len(&path)) < 2 * PATH_COMPONENT {
        return Err(format!(
            "the cache path {} is too long for pjdfstest",
            work.display()
        ));
    }
    fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(path)
}

fn is_mounted(path: &Path) -> bool {
    let wanted = path.to_string_lossy();
    fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(wanted.as_ref()))
    })
}

/// Mounts `target` at `mountpoint`, runs `f`, and unmounts whatever `f` returned.
fn with_mount<T>(target: &Target, mountpoint: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if is_mounted(mountpoint) {
        // Left over by an interrupted run.
        util::run(Command::new("umount").arg("-l").arg(mountpoint))?;
    }
    match target {
        Target::Tmpfs => {
            util::run(
                Command::new("mount")
                    .args(["-t", "tmpfs", "pjdfstest-tmpfs"])
                    .arg(mountpoint),
            )?;
            let result = f();
            let unmounted = util::run(Command::new("umount").arg(mountpoint));
            let value = result?;
            unmounted?;
            Ok(value)
        }
        Target::Core(binary, mode) => {
            eprintln!(
                "$ {} {} {}",
                binary.display(),
                mountpoint.display(),
                mode.flags().join(" ")
            );
            let mut child = Command::new(binary)
                .arg(mountpoint)
                .args(mode.flags())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
            let result = wait_mounted(&mut child, mountpoint).and_then(|()| f());
            let stopped = stop(child, mountpoint);
            let value = result?;
            stopped?;
            Ok(value)
        }
    }
}

fn wait_mounted(child: &mut Child, mountpoint: &Path) -> Result {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_mounted(mountpoint) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("memory-fs-mount exited early with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not appear in 20 s", mountpoint.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Asks `memory-fs-mount` to unmount (SIGTERM) and checks it did so cleanly.
fn stop(mut child: Child, mountpoint: &Path) -> Result {
    util::run(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for memory-fs-mount: {e}"))?;
    if is_mounted(mountpoint) {
        util::run(Command::new("umount").arg("-l").arg(mountpoint))?;
        return Err(format!(
            "{} was still mounted after SIGTERM",
            mountpoint.display()
        ));
    }
    if status.success() {
        Ok(())
    } else {
        Err(format!("memory-fs-mount ended with {status}"))
    }
}

/// Runs pjdfstest in `mountpoint`, keeps its whole output in `log`, shows the cases
/// that did not pass and returns the counts.
fn run_suite(
    pjdfstest: &Path,
    config: &Path,
    mountpoint: &Path,
    secondary: Option<&Path>,
    patterns: &[&str],
    log: &Path,
) -> Result<Counts> {
    let mut cmd = Command::new(pjdfstest);
    cmd.arg("-c").arg(config).arg("-p").arg(mountpoint);
    if let Some(secondary) = secondary {
        cmd.arg("-s").arg(secondary);
    }
    cmd.args(patterns)
        .current_dir(mountpoint)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0");
    eprintln!("$ {}", util::describe(&cmd));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start pjdfstest: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    write(log, &text)?;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_end();
        if t.ends_with("FAILED") || t.ends_with("skipped") {
            eprintln!("  {t}");
            while let Some(detail) = lines.next_if(|l| l.starts_with('\t')) {
                eprintln!("  {detail}");
            }
        }
    }
    let summary = text
        .lines()
        .find(|l| l.starts_with("Summary:"))
        .ok_or_else(|| {
            format!(
                "pjdfstest printed no summary (exit {}); see {}",
                out.status,
                log.display()
            )
        })?;
    eprintln!("  {summary}");
    parse_summary(summary).ok_or_else(|| format!("cannot read pjdfstest's summary: {summary}"))
}

/// Reads `Summary: 0 failed, 23 skipped, 375 passed, 0 expected failures, 398 total`.
fn parse_summary(line: &str) -> Option<Counts> {
    let mut counts = Counts::default();
    for part in line.strip_prefix("Summary:")?.split(',') {
        let mut words = part.split_whitespace();
        let n: usize = words.next()?.parse().ok()?;
        match words.next()? {
            "failed" => counts.failed = n,
            "skipped" => counts.skipped = n,
            "passed" => counts.passed = n,
            _ => {}
        }
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary() {
        let c = parse_summary(
            "Summary: 1 failed, 23 skipped, 375 passed, 0 expected failures, 398 total",
        )
        .expect("parsed");
        assert_eq!((c.failed, c.skipped, c.passed), (1, 23, 375));
    }

    #[test]
    fn mountpoints_avoid_the_long_path_underflow() {
        let dir = tempfile_dir();
        for name in ["m", "mn", "mnt", "mount", "mnt12345"] {
            let p = mountpoint(&dir, name).expect("mountpoint");
            let room = PATH_MAX - p.as_os_str().len() - PJDFSTEST_TEMP_DIRS;
            assert_ne!(room % PATH_COMPONENT, 0, "{}", p.display());
        }
        let _ = fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-posix-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
