//! `memory-fs`: the command line of Memory-FS.
#![doc = include_str!("../README.md")]

mod commands;
mod error;
mod output;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{CliError, Code};

/// What `--help` prints after the commands.
const AFTER_HELP: &str = "\
Store URLs:
  sqlite://memory-fs.db      an SQLite file (the default, in the working directory)
  sqlite::memory:            an SQLite database in memory (gone at exit)
  memory://                  the in-memory POSIX core (gone at exit)
  file:///abs/dir, file:dir  a directory on disk
  s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1
                             any S3-compatible server; credentials from
                             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
  Layers, on any URL:        ?encrypt=env:VAR (the key in hex or base64; or file:PATH)
                             &compress=zstd (or zstd:LEVEL)  &audit=LABEL (audit log)
                             e.g. sqlite://app.db?encrypt=env:MEMORY_FS_KEY&compress=zstd

Exit codes:
  0  success
  1  not found (no such id, version, folder or input file)
  2  usage: bad arguments, bad store URL, or input that does not fit the type
  3  integrity: a hash mismatch, a corrupt config or metadata, or `verify` found problems
  4  failure of the store or of the local filesystem
  130 interrupted";

/// Logical files (content, config, metadata) in memory, on disk, in SQLite or on S3.
#[derive(Debug, Parser)]
#[command(name = "memory-fs", version, about, after_help = AFTER_HELP)]
struct Cli {
    /// The store to use.
    #[arg(
        long,
        global = true,
        env = "MEMORY_FS_STORE",
        default_value = "sqlite://memory-fs.db",
        value_name = "URL"
    )]
    store: String,

    /// Print JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Save a file (or standard input) as a logical file.
    Save(SaveArgs),
    /// Write a logical file's content to standard output or a file.
    Load(LoadArgs),
    /// List the logical files (or, with --raw, the physical keys).
    Ls(LsArgs),
    /// Show a logical file's config and metadata.
    Info(IdArg),
    /// List the stored versions of a logical file.
    Versions(IdArg),
    /// Delete a logical file (content, config and metadata in every folder).
    Rm(IdArg),
    /// Copy every logical file of one store into another (for example sqlite:// to s3://).
    Cp(CpArgs),
    /// Check every file and key: hashes, configs, orphans, files the index does not know.
    Verify(VerifyArgs),
    /// Show what changed between two versions (a unified diff for text; sizes and
    /// hashes for binary).
    Diff(DiffArgs),
    /// Save an old version of a logical file again as its newest version.
    Restore(RestoreArgs),
    /// Remove old versions as retention says: each file's own policy (set with
    /// `save --keep-last/--keep-within`), else the --keep-last/--keep-within given here.
    Prune(PruneArgs),
    /// Rebuild the index from the configs (after another program, such as the Python
    /// package, wrote files).
    Reindex,
    /// Re-encrypt every value under a new key (the store URL names the current one).
    Rekey(RekeyArgs),
    /// Show the audit log of a store opened with ?audit=LABEL (verified as it is read).
    Log(LogArgs),
    /// Print each save, edit and delete of logical files as it is committed, by this
    /// or any other process, until interrupted (or --count changes).
    Watch(WatchArgs),
    /// Mount a fresh POSIX core through FUSE until interrupted (needs root and /dev/fuse).
    Mount(MountArgs),
    /// Save a few example files into the store and show them: a first tour.
    Demo,
}

/// How `save` places a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Handler {
    /// `latest/`: overwritten by each save.
    Latest,
    /// `YYYY/MM/DD/HH/`: one folder per hour (UTC).
    Temporal,
    /// `v1/`, `v2/`…: a new folder per save.
    Versioned,
    /// The folder given with --folder.
    Custom,
}

#[derive(Debug, Args)]
struct SaveArgs {
    /// The file to save; `-` or nothing reads standard input.
    input: Option<PathBuf>,
    /// The file id (default: the input's name without its extension).
    #[arg(long)]
    id: Option<String>,
    /// The file type (default: from the input's extension).
    #[arg(long = "type", value_name = "TYPE")]
    file_type: Option<String>,
    /// Where to place the file; repeat for several folders.
    #[arg(
        long = "path-handler",
        value_enum,
        default_value = "latest",
        value_name = "HANDLER"
    )]
    handlers: Vec<Handler>,
    /// The folder of `--path-handler custom`.
    #[arg(long, value_name = "DIR")]
    folder: Option<String>,
    /// A tag to add to the metadata; repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// The file's own retention, kept with it (this save and later ones prune what it
    /// does not keep).
    #[command(flatten)]
    retention: RetentionArgs,
}

/// A retention policy on the command line; a version either option keeps is kept.
#[derive(Debug, Default, Args)]
struct RetentionArgs {
    /// Keep the newest N versions.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    keep_last: Option<u32>,
    /// Keep the versions saved less than DURATION ago (`30d`, `12h`, `1week 2days`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_within: Option<std::time::Duration>,
}

impl RetentionArgs {
    /// The policy, if either option was given.
    fn policy(&self) -> Option<memory_fs::Retention> {
        if self.keep_last.is_none() && self.keep_within.is_none() {
            return None;
        }
        Some(memory_fs::Retention {
            keep_last: self.keep_last.and_then(std::num::NonZeroU32::new),
            keep_within: self.keep_within,
        })
    }
}

/// A duration as `humantime` writes them: `30d`, `12h 30m`, `1week`.
fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => {
            Err("a duration of zero keeps nothing but the newest version: use --keep-last 1".into())
        }
        Err(e) => Err(format!(
            "{s:?} is not a duration ({e}): write for example 30d, 12h or 1week"
        )),
    }
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Only this file (default: every versioned file).
    #[arg(long)]
    id: Option<String>,
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// The retention of files without their own.
    #[command(flatten)]
    retention: RetentionArgs,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// The file id.
    id: String,
    /// Write the content here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Load this stored version (see `versions`).
    #[arg(long)]
    version: Option<u32>,
    /// Load the copy in this folder.
    #[arg(long, value_name = "DIR", conflicts_with = "version")]
    folder: Option<String>,
}

#[derive(Debug, Default, Args)]
struct LsArgs {
    /// Only files with a folder under this prefix (with --raw: keys under it).
    prefix: Option<String>,
    /// List physical keys and their sizes instead of logical files.
    #[arg(long)]
    raw: bool,
    /// With --raw, also the keys the library keeps for itself (under .memory-fs/).
    #[arg(long, requires = "raw")]
    all: bool,
    /// Only files tagged TAG; repeat for several (all must match).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Only files of this type.
    #[arg(long = "type", value_name = "TYPE")]
    file_type: Option<String>,
    /// Only files kept in this folder.
    #[arg(long, value_name = "DIR")]
    folder: Option<String>,
    /// Only files saved at or after DATE (YYYY-MM-DD, UTC, or RFC 3339).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only files saved before DATE.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Only files whose user data has KEY equal to VALUE (JSON, or text); repeat for several.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    wheres: Vec<String>,
}

#[derive(Debug, Args)]
struct IdArg {
    /// The file id.
    id: String,
}

#[derive(Debug, Args)]
struct CpArgs {
    /// The destination store.
    #[arg(long, value_name = "URL")]
    to: String,
    /// The source store (default: --store).
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// Copy only the files (with --raw: the keys) under this prefix.
    #[arg(long)]
    prefix: Option<String>,
    /// Copy physical keys one by one instead of logical files (for stores that are
    /// not logical files).
    #[arg(long)]
    raw: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Only the files and keys under this key prefix.
    prefix: Option<String>,
    /// First re-hash file ID, making its stored content authoritative (after another
    /// program rewrote it without its metadata, as the Python package's update() does).
    #[arg(long, value_name = "ID", conflicts_with = "chain")]
    repair: Option<String>,
    /// Walk the version chain of every versioned file instead: report a missing,
    /// reordered or altered version by id and version.
    #[arg(long, conflicts_with = "prefix")]
    chain: bool,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The file id.
    id: String,
    /// The older version, vN or N (default: the one before the last).
    #[arg(value_parser = parse_version, value_name = "A")]
    from: Option<u32>,
    /// The newer version, vN or N (default: the last save).
    #[arg(value_parser = parse_version, value_name = "B")]
    to: Option<u32>,
}

#[derive(Debug, Args)]
struct WatchArgs {
    /// Only this file.
    #[arg(long)]
    id: Option<String>,
    /// Stop after this many changes.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// How often to look when the store gives no signal of its own (S3), in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    interval_ms: u64,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// The file id.
    id: String,
    /// The version to save again: vN or N (see `versions`).
    #[arg(value_parser = parse_version, value_name = "vN")]
    version: u32,
}

/// A version number as `v3` or `3`.
fn parse_version(s: &str) -> std::result::Result<u32, String> {
    let digits = s.strip_prefix('v').unwrap_or(s);
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{s:?} is not a version: write vN or N, with N from 1 (see `memory-fs versions ID`)"
        )),
    }
}

#[derive(Debug, Args)]
struct RekeyArgs {
    /// The new key: env:VAR or file:PATH (the key itself never goes on the command line).
    #[arg(long, value_name = "KEY_SOURCE")]
    to: String,
}

#[derive(Debug, Args)]
struct LogArgs {
    /// Only the operations that touched this logical file.
    #[arg(long)]
    id: Option<String>,
    /// Only operations with a record committed at or after DATE (YYYY-MM-DD, UTC, or
    /// RFC 3339).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
}

#[derive(Debug, Args)]
struct MountArgs {
    /// The directory to mount on (it must exist).
    dir: PathBuf,
    /// First copy every key of this store into the core, as files under the same paths.
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// Mount read-only.
    #[arg(long)]
    read_only: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.code == Code::BrokenPipe => e.exit_code(),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = &e.hint {
                eprintln!("hint: {hint}");
            }
            e.exit_code()
        }
    }
}

/// Help and version as clap prints them; a usage error as one `error:` line and a
/// hint, like every other error.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        // Nothing useful can be done if standard output is gone.
        let _ = e.print();
        let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            Code::Usage as u8
        } else {
            0
        };
        return ExitCode::from(code);
    }
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let usage = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(str::to_owned);
    eprintln!("error: {first}");
    match usage {
        Some(usage) => eprintln!("hint: usage: {usage} (--help shows every option)"),
        None => eprintln!("hint: memory-fs --help shows the commands"),
    }
    ExitCode::from(Code::Usage as u8)
}

impl Cli {
    fn open(&self) -> Result<memory_fs::MemoryFs, CliError> {
        open_url(&self.store)
    }
}

/// Opens a store, with the store named in the error.
fn open_url(url: &str) -> Result<memory_fs::MemoryFs, CliError> {
    Ok(memory_fs::MemoryFs::open(url)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
