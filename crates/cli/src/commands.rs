//! The subcommands: each parses its arguments into a library call and prints the
//! result. No file logic lives here.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Instant;

use base64::Engine as _;
use memory_fs::{
    Content, File, FileId, FileSpec, FileType, PathHandler, Query, SafePath, Serialization,
};
use serde_json::{Value, json};

use crate::error::{CliError, Code};
use crate::transfer;
use crate::{
    Cli, Command, CpArgs, DiffArgs, Handler, LoadArgs, LogArgs, LsArgs, MountArgs, PruneArgs,
    RekeyArgs, RestoreArgs, SaveArgs, VerifyArgs, WatchArgs, output,
};

type Result<T = (), E = CliError> = std::result::Result<T, E>;

/// Runs the chosen subcommand.
pub(crate) fn run(cli: &Cli) -> Result {
    match &cli.command {
        Command::Save(args) => save(cli, args),
        Command::Load(args) => load(cli, args),
        Command::Ls(args) => ls(cli, args),
        Command::Info(args) => info(cli, &args.id),
        Command::Versions(args) => versions(cli, &args.id),
        Command::Rm(args) => rm(cli, &args.id),
        Command::Cp(args) => cp(cli, args),
        Command::Verify(args) => verify(cli, args),
        Command::Diff(args) => diff(cli, args),
        Command::Restore(args) => restore(cli, args),
        Command::Prune(args) => prune(cli, args),
        Command::Reindex => reindex(cli),
        Command::Rekey(args) => rekey(cli, args),
        Command::Log(args) => log(cli, args),
        Command::Watch(args) => watch(cli, args),
        Command::Mount(args) => mount(cli, args),
        Command::Demo => demo(cli),
    }
}

// ----- save ------------------------------------------------------------------------------

/// Whether standard input is closed or `/dev/null`: no input at all, as opposed to an
/// empty pipe. (A program started with standard input closed finds `/dev/null` there:
/// the Rust runtime opens it in place of a closed descriptor.)
fn stdin_is_nothing() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return true;
    };
    let (Ok(here), Ok(null)) = (
        std::fs::File::from(fd).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    here.file_type().is_char_device() && here.rdev() == null.rdev()
}

/// Refuses a terminal and a closed descriptor as standard input (either would
/// otherwise read as an empty file).
fn check_stdin() -> Result {
    if stdin_is_nothing() {
        return Err(CliError::usage(
            "standard input is closed (or /dev/null): there is nothing to save",
        )
        .hint("give a FILE, or pipe data in; an empty pipe (printf '' | memory-fs save …) saves an empty file"));
    }
    if std::io::stdin().is_terminal() {
        return Err(CliError::usage("no input: give a FILE, or pipe data into standard input")
            .hint("memory-fs save notes.md   or   echo hello | memory-fs save --id greeting --type text"));
    }
    Ok(())
}

/// Where `save` reads: a file (with its size) or standard input.
enum Source {
    File(std::fs::File, u64),
    Stdin,
}

impl Source {
    fn open(input: Option<&Path>) -> Result<(Self, Option<&Path>)> {
        match input {
            None => Ok((Self::Stdin, None)),
            Some(p) if p == Path::new("-") => Ok((Self::Stdin, None)),
            Some(path) => {
                let shown = path.display().to_string();
                let file =
                    std::fs::File::open(path).map_err(|e| CliError::io("read", &shown, &e))?;
                let size = file
                    .metadata()
                    .map_err(|e| CliError::io("read", &shown, &e))?
                    .len();
                Ok((Self::File(file, size), Some(path)))
            }
        }
    }

    fn shown(&self, name: Option<&Path>) -> String {
        name.map_or_else(|| "standard input".to_owned(), |p| p.display().to_string())
    }

    fn size(&self) -> Option<u64> {
        match self {
            Self::File(_, size) => Some(*size),
            Self::Stdin => None,
        }
    }

    fn reader(&mut self) -> Box<dyn Read + '_> {
        match self {
            Self::File(file, _) => Box::new(file),
            Self::Stdin => Box::new(std::io::stdin().lock()),
        }
    }
}

fn save(cli: &Cli, args: &SaveArgs) -> Result {
    let (mut source, name) = Source::open(args.input.as_deref())?;
    if matches!(source, Source::Stdin) {
        check_stdin()?;
    }

    let id = match (&args.id, name) {
        (Some(id), _) => id.clone(),
        (None, Some(path)) => path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                CliError::usage(format!("cannot make an id from {}", path.display()))
                    .hint("pass --id")
            })?,
        (None, None) => {
            return Err(CliError::usage("standard input has no name: pass --id"));
        }
    };
    let id = FileId::new(&id).map_err(|e| {
        CliError::from(memory_fs::Error::from(e))
            .hint("ids use letters, digits, `-` and `_` (1 to 128 characters); pass --id")
    })?;
    let file_type = match (&args.file_type, name) {
        (Some(t), _) => type_named(t)?,
        (None, Some(path)) => path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(FileType::from_extension)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "cannot tell the type of {} from its extension",
                    path.display()
                ))
                .hint(format!("pass --type ({})", FileType::BUILT_IN.join(", ")))
            })?,
        (None, None) => {
            return Err(CliError::usage("cannot tell the type of standard input")
                .hint(format!("pass --type ({})", FileType::BUILT_IN.join(", "))));
        }
    };
    let mut handlers = Vec::new();
    for h in &args.handlers {
        handlers.push(match h {
            Handler::Latest => PathHandler::latest(),
            Handler::Temporal => PathHandler::temporal(),
            Handler::Versioned => PathHandler::versioned(),
            Handler::Custom => PathHandler::custom(
                args.folder
                    .clone()
                    .ok_or_else(|| CliError::usage("--path-handler custom needs --folder DIR"))?,
            ),
        });
    }
    if args.folder.is_some() && !args.handlers.contains(&Handler::Custom) {
        return Err(CliError::usage(
            "--folder is only for --path-handler custom",
        ));
    }
    let mut spec = FileSpec::new(id.clone(), file_type.clone()).handlers(handlers);
    if let Some(policy) = args.retention.policy() {
        spec = spec.with_retention(policy);
    }
    let fs = cli.open()?;
    let shown = source.shown(name);
    let mut progress = transfer::Progress::new(source.size(), "saving");
    let streamed = matches!(
        file_type.serialization,
        Serialization::Binary | Serialization::Base64
    );
    // Bytes and base64 values stream from the input; text and JSON are read and
    // parsed whole first (a value that does not parse saves nothing).
    let whole = if streamed {
        None
    } else {
        let mut bytes = Vec::new();
        transfer::Reading {
            inner: source.reader(),
            progress: &mut progress,
        }
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io("read", &shown, &e))?;
        let value = parse_input(&file_type, &bytes)?;
        Some((bytes, value))
    };
    // Content and tags in one commit.
    let saved = fs.transaction(|tx| {
        match &whole {
            None => {
                let mut input = transfer::Reading {
                    inner: source.reader(),
                    progress: &mut progress,
                };
                tx.save_from(&spec, &mut input)?;
            }
            Some((bytes, value)) => {
                let content = match value {
                    Some(Input::Json(v)) => Content::Json(v),
                    Some(Input::Text(t)) => Content::Text(t),
                    None => Content::Bytes(bytes),
                };
                tx.save(&spec, content)?;
            }
        }
        if !args.tags.is_empty() {
            tx.add_tags(&id, args.tags.iter().cloned());
        }
        Ok(())
    });
    let bytes_len = progress.finish();
    if let Err(e) = saved {
        return Err(match input_failure(&e) {
            Some(cause) => CliError::io("read", &shown, cause).hint("nothing was saved"),
            None => e.into(),
        });
    }
    let file = fs.file(id.as_str())?;
    let folders = &file.config().file_paths;
    if cli.json {
        output::json(&json!({
            "id": id.as_str(),
            "type": file_type.name,
            "size": bytes_len,
            "folders": folders,
            "keys": file.info().keys.iter().map(SafePath::as_str).collect::<Vec<_>>(),
        }))
    } else {
        output::line(&format!(
            "saved {} ({}, {}) in {}",
            id.as_str(),
            file_type.name,
            output::size(bytes_len),
            folders_text(folders)
        ))
    }
}

/// The reader's own error when `e` says the input failed while streaming.
fn input_failure(e: &memory_fs::Error) -> Option<&std::io::Error> {
    match e {
        memory_fs::Error::File(memory_fs::FileError::Storage(memory_fs::StorageError::Input {
            source,
            ..
        })) => Some(source),
        _ => None,
    }
}

/// The input as the value a file type holds.
enum Input {
    Json(Value),
    Text(String),
}

/// Checks that `bytes` fit `file_type` and turns them into its value (`None`: bytes as
/// they are).
fn parse_input(file_type: &FileType, bytes: &[u8]) -> Result<Option<Input>> {
    Ok(match file_type.serialization {
        Serialization::Json | Serialization::TypeSafe => {
            Some(Input::Json(serde_json::from_slice(bytes).map_err(|e| {
                CliError::usage(format!(
                    "the input is not JSON ({e}), so it cannot be saved as {}",
                    file_type.name
                ))
                .hint("pass --type text or --type binary to keep it as it is")
            })?))
        }
        Serialization::String => Some(Input::Text(
            std::str::from_utf8(bytes)
                .map_err(|e| {
                    CliError::usage(format!(
                        "the input is not UTF-8 text ({e}), so it cannot be saved as {}",
                        file_type.name
                    ))
                    .hint("pass --type binary to keep any bytes")
                })?
                .to_owned(),
        )),
        _ => None,
    })
}

fn type_named(name: &str) -> Result<FileType> {
    FileType::by_name(name).ok_or_else(|| {
        CliError::usage(format!("unknown type {name:?}"))
            .hint(format!("types: {}", FileType::BUILT_IN.join(", ")))
    })
}

fn folders_text(folders: &[String]) -> String {
    if folders.is_empty() {
        "the store root".to_owned()
    } else {
        folders
            .iter()
            .map(|f| format!("{f}/"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn join(versions: &[u32]) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ----- load ------------------------------------------------------------------------------

fn load(cli: &Cli, args: &LoadArgs) -> Result {
    let fs = cli.open()?;
    let file = fs.file(&args.id)?;
    let source = if let Some(n) = args.version {
        let versions = file.versions();
        if versions.is_empty() {
            return Err(CliError::not_found(format!("{} has no versions", args.id))
                .hint("only files saved with --path-handler versioned have versions"));
        }
        let Some(version) = file.version(n)? else {
            return Err(
                CliError::not_found(format!("{} has no version {n}", args.id))
                    .hint(format!("versions: {}", join(&versions))),
            );
        };
        Loaded::Version(version)
    } else if let Some(folder) = &args.folder {
        let Some(copy) = file.in_folder(folder) else {
            return Err(CliError::not_found(format!(
                "{} has no copy in folder {:?}",
                args.id,
                folder.trim_matches('/')
            ))
            .hint(format!("folders: {}", file.info().folders.join(", "))));
        };
        Loaded::Folder(copy)
    } else {
        Loaded::File(Box::new(file))
    };
    let missing = || CliError::not_found(format!("the content of {} is missing", args.id));

    if let Some(out) = &args.out {
        let shown = out.display().to_string();
        let size = source.stream_into(out, &shown)?.ok_or_else(missing)?;
        if cli.json {
            return output::json(&json!({"id": args.id, "size": size, "out": shown}));
        }
        return output::line(&format!("wrote {} to {shown}", output::size(size)));
    }
    if !cli.json {
        let stdout = std::io::stdout().lock();
        return match source.stream(stdout, None) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(missing()),
            Err(memory_fs::Error::File(memory_fs::FileError::Output { source, .. })) => {
                Err(output::stdout_error(source))
            }
            Err(e) => Err(e.into()),
        };
    }
    let config = source.config().clone();
    let bytes = source.bytes()?.ok_or_else(missing)?;
    {
        let ty = &config.file_type;
        let (encoding, content) = match ty.serialization {
            Serialization::Json | Serialization::TypeSafe => (
                "json",
                serde_json::from_slice(&bytes).map_err(|e| {
                    CliError::new(
                        Code::Integrity,
                        format!("the content of {} is not JSON: {e}", args.id),
                    )
                })?,
            ),
            Serialization::String if ty.encoding.is_none_or(|e| e.name() == "utf-8") => (
                "text",
                Value::from(String::from_utf8_lossy(&bytes).into_owned()),
            ),
            _ => (
                "base64",
                Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            ),
        };
        output::json(&json!({
            "id": args.id,
            "type": ty.name,
            "folders": config.file_paths,
            "size": bytes.len(),
            "encoding": encoding,
            "content": content,
        }))
    }
}

/// What `load` reads: the file's last save, one of its versions, or its copy in one
/// folder.
enum Loaded {
    File(Box<File>),
    Version(memory_fs::FileVersion),
    Folder(memory_fs::Placed),
}

impl Loaded {
    fn config(&self) -> &memory_fs::FileConfig {
        match self {
            Self::File(f) => f.config(),
            Self::Version(v) => v.config(),
            Self::Folder(p) => p.config(),
        }
    }

    fn size(&self) -> Option<u64> {
        match self {
            Self::File(f) => f.metadata().map(|m| m.content_size),
            Self::Version(v) => v.metadata().map(|m| m.content_size),
            Self::Folder(_) => None,
        }
    }

    fn bytes(&self) -> memory_fs::Result<Option<Vec<u8>>> {
        Ok(match self {
            Self::File(f) => f.load_bytes()?,
            Self::Version(v) => v.load_bytes()?,
            Self::Folder(p) => p.load_bytes()?,
        })
    }

    /// Streams the content into `out`, counted on a progress bar when large.
    fn stream(
        &self,
        out: impl std::io::Write,
        total: Option<u64>,
    ) -> memory_fs::Result<Option<u64>> {
        let mut progress = transfer::Progress::new(total.or(self.size()), "loading");
        let mut out = transfer::Writing {
            inner: out,
            progress: &mut progress,
        };
        let written = match self {
            Self::File(f) => f.load_to(&mut out),
            Self::Version(v) => v.load_to(&mut out),
            Self::Folder(p) => p.load_to(&mut out),
        };
        progress.finish();
        Ok(written?)
    }

    /// Streams the content into a temporary file beside `path`, which replaces `path`
    /// only once every byte has passed its check: a failed load leaves `path` as it was.
    fn stream_into(&self, path: &Path, shown: &str) -> Result<Option<u64>> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map_or_else(Default::default, |n| n.to_string_lossy());
        let partial = dir.join(format!(".{name}.memory-fs-{}.partial", std::process::id()));
        let file = std::fs::File::create(&partial).map_err(|e| CliError::io("write", shown, &e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let written = self.stream(&mut out, None).and_then(|n| {
            std::io::Write::flush(&mut out).map_err(|e| {
                memory_fs::Error::from(memory_fs::FileError::Output {
                    path: shown.to_owned(),
                    source: e,
                })
            })?;
            Ok(n)
        });
        drop(out);
        let done = match written {
            Ok(Some(n)) => std::fs::rename(&partial, path)
                .map(|()| Some(n))
                .map_err(|e| CliError::io("write", shown, &e)),
            Ok(None) => Ok(None),
            Err(memory_fs::Error::File(memory_fs::FileError::Output { source, .. })) => {
                Err(CliError::io("write", shown, &source))
            }
            Err(e) => Err(e.into()),
        };
        if !matches!(done, Ok(Some(_))) {
            let _ = std::fs::remove_file(&partial);
        }
        done
    }
}

// ----- watch -----------------------------------------------------------------------------

fn watch(cli: &Cli, args: &WatchArgs) -> Result {
    let fs = cli.open()?;
    let mut watch = fs
        .watch(args.id.as_deref())?
        .with_interval(std::time::Duration::from_millis(args.interval_ms));
    // On standard error, so the changes alone go to standard output; once it shows,
    // every later commit is reported.
    eprintln!(
        "watching {} for changes{}",
        args.id.as_deref().unwrap_or("every file"),
        if watch.is_signalled() {
            ""
        } else {
            " (polling)"
        }
    );
    let mut seen = 0;
    while args.count.is_none_or(|n| seen < n) {
        for change in watch.wait(std::time::Duration::from_secs(3600))? {
            if cli.json {
                let line = json!({
                    "id": change.id.as_str(),
                    "change": change.kind.as_str(),
                    "version": change.version,
                    "revision": change.revision,
                });
                output::line(&line.to_string())?;
            } else {
                let version = change.version.map(|v| format!(" v{v}")).unwrap_or_default();
                output::line(&format!("{} {}{version}", change.kind.as_str(), change.id))?;
            }
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                break;
            }
        }
    }
    Ok(())
}

// ----- rekey, log --------------------------------------------------------------------------

fn rekey(cli: &Cli, args: &RekeyArgs) -> Result {
    let url = memory_fs::StoreUrl::parse(&cli.store)?;
    let report = url.rekey(&args.to)?;
    if cli.json {
        return output::json(&json!({
            "rewritten": report.rewritten,
            "current": report.current,
        }));
    }
    output::line(&format!(
        "re-encrypted {} values ({} were already under the new key); open the store with encrypt={} from now on",
        report.rewritten, report.current, args.to
    ))
}

fn log(cli: &Cli, args: &LogArgs) -> Result {
    let query = memory_fs::LogQuery {
        id: args.id.clone(),
        since: args
            .since
            .as_deref()
            .map(|s| parse_date("--since", s))
            .transpose()?,
    };
    let entries = cli.open()?.audit_log(&query)?;
    let id = args.id.as_deref();
    let contents = |e| entry_contents(e, id);
    if cli.json {
        let out: Vec<Value> = entries
            .iter()
            .map(|e| {
                let first = e.first();
                json!({
                    "seq": first.seq,
                    "time": first.time,
                    "caller": first.caller,
                    "action": e.action(id),
                    "operation": e.operation.as_ref().map(|op| op.id.clone()),
                    "files": e.files,
                    "contents": contents(e).iter().map(|c| json!({
                        "id": c.id,
                        "sha256": c.sha256,
                        "size": c.size,
                    })).collect::<Vec<_>>(),
                    "records": e.records,
                })
            })
            .collect();
        return output::json(&Value::from(out));
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let first = e.first();
            let seq = match e.records.last() {
                Some(last) if last.seq != first.seq => format!("{}-{}", first.seq, last.seq),
                _ => first.seq.to_string(),
            };
            let keys: usize = e.records.iter().map(|r| r.changes.len()).sum();
            let contents = contents(e);
            vec![
                seq,
                output::time(i64::try_from(first.time).unwrap_or(i64::MAX)),
                first.caller.clone(),
                e.action(id),
                e.files.join(", "),
                contents
                    .iter()
                    .map(|c| c.sha256[..c.sha256.len().min(16)].to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                contents
                    .iter()
                    .map(|c| c.size.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                keys.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "SEQ", "TIME", "CALLER", "ACTION", "FILES", "SHA256", "SIZE", "KEYS",
        ],
        &rows,
    )
}

/// The contents an entry of the log wrote (to file `id` alone when given).
fn entry_contents<'e>(
    e: &'e memory_fs::LogEntry,
    id: Option<&str>,
) -> Vec<&'e memory_fs::LoggedContent> {
    e.contents
        .iter()
        .filter(|c| id.is_none_or(|id| c.id == id))
        .collect()
}

// ----- ls, info, versions ------------------------------------------------------------------

/// A date on the command line: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
fn parse_date(flag: &str, text: &str) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_millis());
    }
    Err(CliError::usage(format!("{flag} {text:?} is not a date"))
        .hint("dates are YYYY-MM-DD (UTC) or RFC 3339, like 2026-11-24T18:00:00Z"))
}

fn query_of(args: &LsArgs) -> Result<Query> {
    let mut q = Query::new();
    if let Some(prefix) = &args.prefix {
        q = q.under(prefix.clone());
    }
    for t in &args.tags {
        q = q.tag(t.clone());
    }
    if let Some(t) = &args.file_type {
        q = q.file_type(t.clone());
    }
    if let Some(f) = &args.folder {
        q = q.folder(f.clone());
    }
    if let Some(s) = &args.since {
        q = q.since(parse_date("--since", s)?);
    }
    if let Some(u) = &args.until {
        q = q.until(parse_date("--until", u)?);
    }
    for w in &args.wheres {
        let Some((key, value)) = w.split_once('=') else {
            return Err(CliError::usage(format!("--where {w:?} is not KEY=VALUE"))
                .hint("for example --where owner=ann or --where pages=3"));
        };
        // A value that reads as JSON (3, true, "x") is that value; else it is text.
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
        q = q.data(key, value);
    }
    Ok(q)
}

fn ls(cli: &Cli, args: &LsArgs) -> Result {
    let fs = cli.open()?;
    if args.raw {
        let rows: Vec<(String, u64)> = fs
            .key_sizes(args.prefix.as_deref(), args.all)?
            .into_iter()
            .map(|(key, size)| (key.as_str().to_owned(), size))
            .collect();
        if cli.json {
            return output::json(&Value::from(
                rows.iter()
                    .map(|(k, s)| json!({"key": k, "size": s}))
                    .collect::<Vec<_>>(),
            ));
        }
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|(k, s)| vec![s.to_string(), k])
            .collect();
        return output::table(&["BYTES", "KEY"], &rows);
    }
    let listing = fs.query(&query_of(args)?)?;
    for (key, e) in &listing.unreadable {
        eprintln!("warning: {key} skipped: {e}");
    }
    let summary = |f: &File| {
        let info = f.info();
        let meta = info.metadata;
        json!({
            "id": info.id.as_str(),
            "type": info.config.file_type.name,
            "size": meta.as_ref().map(|m| m.content_size),
            "timestamp": meta.as_ref().map(|m| m.timestamp),
            "versions": info.versions.len(),
            "folders": info.folders,
            "tags": meta.as_ref().map(|m| m.tags.clone()).unwrap_or_default(),
        })
    };
    if cli.json {
        return output::json(&Value::from(
            listing.files.iter().map(summary).collect::<Vec<_>>(),
        ));
    }
    if listing.files.is_empty() {
        return output::line(&format!("no files in {}", cli.store));
    }
    let rows: Vec<Vec<String>> = listing
        .files
        .iter()
        .map(|f| {
            let info = f.info();
            let meta = info.metadata.as_ref();
            vec![
                info.id.to_string(),
                info.config.file_type.name.clone(),
                meta.map_or("-".into(), |m| output::size(m.content_size)),
                if info.versions.is_empty() {
                    "-".into()
                } else {
                    info.versions.len().to_string()
                },
                meta.map_or("-".into(), |m| output::time(m.timestamp)),
                info.folders.join(" "),
            ]
        })
        .collect();
    output::table(
        &["ID", "TYPE", "SIZE", "VERSIONS", "SAVED", "FOLDERS"],
        &rows,
    )
}

fn info(cli: &Cli, id: &str) -> Result {
    let fs = cli.open()?;
    let file = fs.file(id)?;
    let retention = file.retention().copied();
    let info = file.info();
    let config = &info.config;
    let meta = info.metadata.as_ref();
    let keys: Vec<&str> = info.keys.iter().map(SafePath::as_str).collect();
    if cli.json {
        return output::json(&json!({
            "id": id,
            "type": config.file_type.name,
            "content_type": config.file_type.content_type,
            "folders": info.folders,
            "versions": info.versions,
            "size": meta.map(|m| m.content_size),
            "content_hash": meta.map(|m| m.content_hash.clone()),
            "chain_hash": meta.and_then(|m| m.chain_hash.clone()),
            "timestamp": meta.map(|m| m.timestamp),
            "tags": meta.map(|m| m.tags.clone()).unwrap_or_default(),
            "data": meta.map_or(Value::Null, |m| Value::Object(m.data.clone())),
            "retention": retention.map(|r| json!({
                "keep_last": r.keep_last.map(std::num::NonZeroU32::get),
                "keep_within_s": r.keep_within.map(|d| d.as_secs()),
            })),
            "keys": keys,
        }));
    }
    let mut rows = vec![
        ("id", id.to_owned()),
        (
            "type",
            format!(
                "{} ({})",
                config.file_type.name, config.file_type.content_type
            ),
        ),
        ("folders", info.folders.join(" ")),
    ];
    if !info.versions.is_empty() {
        rows.push(("versions", join(&info.versions)));
    }
    if let Some(r) = retention {
        let mut keeps = Vec::new();
        if let Some(n) = r.keep_last {
            keeps.push(format!("the last {n}"));
        }
        if let Some(d) = r.keep_within {
            keeps.push(format!(
                "those newer than {}",
                humantime::format_duration(d)
            ));
        }
        rows.push(("retention", format!("keeps {}", keeps.join(" and "))));
    }
    if let Some(m) = meta {
        rows.push((
            "size",
            format!(
                "{} ({} bytes)",
                output::size(m.content_size),
                m.content_size
            ),
        ));
        rows.push(("saved", output::time(m.timestamp)));
        rows.push(("content hash", m.content_hash.clone()));
        if let Some(chain) = &m.chain_hash {
            rows.push(("chain hash", chain.clone()));
        }
        if !m.tags.is_empty() {
            rows.push(("tags", m.tags.join(", ")));
        }
        if !m.data.is_empty() {
            rows.push(("data", Value::Object(m.data.clone()).to_string()));
        }
    }
    rows.push(("keys", keys.join(" ")));
    for (name, value) in rows {
        output::line(&format!("{name:<13} {value}"))?;
    }
    Ok(())
}

fn versions(cli: &Cli, id: &str) -> Result {
    let fs = cli.open()?;
    let file = fs.file(id)?;
    let versions = file.versions();
    if versions.is_empty() {
        return Err(CliError::not_found(format!("{id} has no versions"))
            .hint("only files saved with --path-handler versioned have versions"));
    }
    let mut rows = Vec::with_capacity(versions.len());
    for n in versions {
        let meta = file.version(n)?.and_then(|v| v.metadata().cloned());
        rows.push((n, meta));
    }
    if cli.json {
        return output::json(&Value::from(
            rows.iter()
                .map(|(n, m)| {
                    json!({
                        "version": n,
                        "size": m.as_ref().map(|m| m.content_size),
                        "timestamp": m.as_ref().map(|m| m.timestamp),
                        "content_hash": m.as_ref().map(|m| m.content_hash.clone()),
                        "chain_hash": m.as_ref().and_then(|m| m.chain_hash.clone()),
                    })
                })
                .collect::<Vec<_>>(),
        ));
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(n, m)| match m {
            Some(m) => vec![
                format!("v{n}"),
                output::size(m.content_size),
                output::time(m.timestamp),
                m.content_hash.clone(),
            ],
            None => vec![
                format!("v{n}"),
                "-".into(),
                "-".into(),
                "(no metadata)".into(),
            ],
        })
        .collect();
    output::table(&["VERSION", "SIZE", "SAVED", "HASH"], &rows)
}

// ----- rm, cp --------------------------------------------------------------------------------

fn rm(cli: &Cli, id: &str) -> Result {
    let fs = cli.open()?;
    let report = fs.delete().id(id)?;
    let keys: Vec<&str> = report.deleted.iter().map(SafePath::as_str).collect();
    if cli.json {
        return output::json(&json!({"id": id, "deleted": keys}));
    }
    output::line(&format!("removed {id}: {} keys", keys.len()))
}

fn cp(cli: &Cli, args: &CpArgs) -> Result {
    let from_url = args.from.as_deref().unwrap_or(&cli.store);
    let source = crate::open_url(from_url)?;
    let destination = crate::open_url(&args.to)?;
    let started = Instant::now();
    let unit = if args.raw { "keys" } else { "files" };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} {{msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |done: usize, total: usize, bytes: u64| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(output::size(bytes));
    };
    let copied = if args.raw {
        source.copy_keys_to(&destination, args.prefix.as_deref(), progress)
    } else {
        let mut query = Query::new();
        if let Some(prefix) = &args.prefix {
            query = query.under(prefix.clone());
        }
        source
            .copy_to(&destination, &query, progress)
            .map(|r| (r.files, r.bytes))
    };
    bar.finish_and_clear();
    let (count, bytes) = copied?;
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        return output::json(&json!({
            "from": from_url,
            "to": args.to,
            unit: count,
            "bytes": bytes,
            "seconds": seconds,
        }));
    }
    output::line(&format!(
        "copied {count} {unit} ({}) from {from_url} to {} in {seconds:.2} s",
        output::size(bytes),
        args.to
    ))
}

// ----- verify, reindex ------------------------------------------------------------------------

fn verify(cli: &Cli, args: &VerifyArgs) -> Result {
    if args.chain {
        return verify_chains(cli);
    }
    let fs = cli.open()?;
    let mut repaired: Vec<String> = Vec::new();
    if let Some(id) = &args.repair {
        repaired = fs
            .file(id)?
            .repair()?
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    let report = fs.verify(args.prefix.as_deref())?;
    if cli.json {
        output::json(&json!({
            "checked": report.files,
            "keys": report.keys,
            "repaired": repaired,
            "problems": report.problems.iter().map(|p| json!({"key": p.key, "problem": p.problem})).collect::<Vec<_>>(),
        }))?;
    } else {
        for key in &repaired {
            output::line(&format!("FIXED {key}: re-hashed"))?;
        }
        for p in &report.problems {
            output::line(&format!("BAD  {}: {}", p.key, p.problem))?;
        }
        output::line(&format!(
            "checked {} files ({} keys): {} problems",
            report.files,
            report.keys,
            report.problems.len()
        ))?;
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(
            Code::Integrity,
            format!("{} problems found", report.problems.len()),
        )
        .hint("`memory-fs reindex` adds files another program wrote; `memory-fs verify --repair ID` re-hashes a file whose content is right"))
    }
}

fn verify_chains(cli: &Cli) -> Result {
    let fs = cli.open()?;
    let report = fs.verify_chains()?;
    if cli.json {
        output::json(&json!({
            "files": report.files,
            "versions": report.versions,
            "problems": report.problems.iter().map(|p| json!({
                "id": p.id.as_str(),
                "version": p.version,
                "fault": p.fault.to_string(),
                "detail": p.detail,
            })).collect::<Vec<_>>(),
            "unreadable": report.unreadable.iter().map(|(id, why)| json!({"id": id.as_str(), "problem": why})).collect::<Vec<_>>(),
        }))?;
    } else {
        for p in &report.problems {
            output::line(&format!("BAD  {p}"))?;
        }
        for (id, why) in &report.unreadable {
            output::line(&format!("BAD  {}: {why}", id.as_str()))?;
        }
        output::line(&format!(
            "checked {} versioned files ({} versions): {} problems",
            report.files,
            report.versions,
            report.problems.len() + report.unreadable.len()
        ))?;
    }
    let bad = report.problems.len() + report.unreadable.len();
    if bad == 0 {
        Ok(())
    } else {
        Err(CliError::new(Code::Integrity, format!("{bad} problems found in version chains"))
            .hint("`memory-fs versions ID` lists a file's versions; `memory-fs load ID --version N` reads one"))
    }
}

fn diff(cli: &Cli, args: &DiffArgs) -> Result {
    let fs = cli.open()?;
    let file = fs.file(&args.id)?;
    let versions = file.versions();
    let from = match args.from {
        Some(n) => n,
        None => match versions.len() {
            0 | 1 => {
                return Err(CliError::not_found(format!(
                    "{} has fewer than two versions",
                    args.id
                ))
                .hint("only files saved with --path-handler versioned have versions"));
            }
            n => versions[n - 2],
        },
    };
    let side = |s: &memory_fs::DiffSide| json!({"version": s.version, "key": s.key, "size": s.size, "hash": s.hash});
    match file.diff(from, args.to)? {
        memory_fs::Diff::Text { from, to, unified } => {
            if cli.json {
                output::json(
                    &json!({"kind": "text", "from": side(&from), "to": side(&to), "unified": unified}),
                )
            } else {
                output::bytes(unified.as_bytes())
            }
        }
        memory_fs::Diff::Json { patch, unified, .. } => {
            if cli.json {
                output::json(&patch)
            } else {
                output::bytes(unified.as_bytes())
            }
        }
        memory_fs::Diff::Binary { from, to } => {
            if cli.json {
                output::json(&json!({"kind": "binary", "from": side(&from), "to": side(&to)}))
            } else {
                output::line(&format!(
                    "--- {} {} bytes {}",
                    from.key, from.size, from.hash
                ))?;
                output::line(&format!("+++ {} {} bytes {}", to.key, to.size, to.hash))
            }
        }
    }
}

fn restore(cli: &Cli, args: &RestoreArgs) -> Result {
    let fs = cli.open()?;
    let file = fs.restore(&args.id, args.version)?;
    let now = file.versions().last().copied().unwrap_or(0);
    if cli.json {
        output::json(&json!({"id": args.id, "restored": args.version, "version": now}))
    } else {
        output::line(&format!("restored {} v{} as v{now}", args.id, args.version))
    }
}

fn prune(cli: &Cli, args: &PruneArgs) -> Result {
    let mut fs = cli.open()?;
    if let Some(policy) = args.retention.policy() {
        fs = fs.with_retention(policy);
    }
    let report = fs.prune(args.id.as_deref(), args.dry_run)?;
    if cli.json {
        return output::json(&json!({
            "dry_run": report.dry_run,
            "files": report.files,
            "versions_removed": report.versions_removed(),
            "pruned": report.pruned.iter().map(|p| json!({
                "id": p.id.as_str(),
                "keep_last": p.policy.and_then(|r| r.keep_last).map(std::num::NonZeroU32::get),
                "keep_within_s": p.policy.and_then(|r| r.keep_within).map(|d| d.as_secs()),
                "removed": p.removed,
                "kept": p.kept,
                "keys": p.keys.iter().map(SafePath::as_str).collect::<Vec<_>>(),
                "stopped": p.stopped,
            })).collect::<Vec<_>>(),
            "unreadable": report.unreadable.iter().map(|(id, why)| json!({"id": id.as_str(), "problem": why})).collect::<Vec<_>>(),
        }));
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for p in &report.pruned {
        if !p.removed.is_empty() {
            output::line(&format!(
                "{}: {verb} {}, keeping {}",
                p.id.as_str(),
                version_list(&p.removed),
                version_list(&p.kept)
            ))?;
        }
        if let Some(why) = &p.stopped {
            output::line(&format!("NOTE {}: {why}", p.id.as_str()))?;
        }
    }
    for (id, why) in &report.unreadable {
        output::line(&format!("BAD  {}: {why}", id.as_str()))?;
    }
    let with_policy = report.pruned.len();
    output::line(&format!(
        "{verb} {} versions of {} files ({} versioned, {with_policy} with a retention policy)",
        report.versions_removed(),
        report
            .pruned
            .iter()
            .filter(|p| !p.removed.is_empty())
            .count(),
        report.files,
    ))?;
    if with_policy == 0 && report.files > 0 {
        output::line(
            "hint: no file has a retention policy: pass --keep-last N or --keep-within DURATION",
        )?;
    }
    Ok(())
}

/// Version numbers as `v1-v3, v5` (`none` for none).
fn version_list(numbers: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        while i + 1 < numbers.len() && numbers[i + 1] == numbers[i] + 1 {
            i += 1;
        }
        out.push(if numbers[i] == start {
            format!("v{start}")
        } else {
            format!("v{start}-v{}", numbers[i])
        });
        i += 1;
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out.join(", ")
    }
}

fn reindex(cli: &Cli) -> Result {
    let fs = cli.open()?;
    let report = fs.reindex()?;
    if cli.json {
        output::json(&json!({
            "found": report.found,
            "written": report.written.iter().map(FileId::as_str).collect::<Vec<_>>(),
            "removed": report.removed.iter().map(FileId::as_str).collect::<Vec<_>>(),
            "problems": report.problems.iter().map(|p| json!({"key": p.key, "problem": p.problem})).collect::<Vec<_>>(),
        }))?;
    } else {
        for p in &report.problems {
            output::line(&format!("BAD  {}: {}", p.key, p.problem))?;
        }
        output::line(&format!(
            "indexed {} files: {} records written, {} removed, {} problems",
            report.found,
            report.written.len(),
            report.removed.len(),
            report.problems.len()
        ))?;
    }
    Ok(())
}

// ----- mount -------------------------------------------------------------------------------

fn mount(cli: &Cli, args: &MountArgs) -> Result {
    use memory_fs::posix::MemoryFileSystem;

    memory_fs_fuse::fuse_usable().map_err(|why| {
        CliError::new(Code::Failure, format!("cannot mount: {why}"))
            .hint("FUSE mounts need root and a readable /dev/fuse")
    })?;
    if !args.dir.is_dir() {
        return Err(
            CliError::not_found(format!("{} is not a directory", args.dir.display()))
                .hint("create the mount point first"),
        );
    }
    let tree = MemoryFileSystem::new();
    // Like /tmp: every user of the `allow_other` mount can work in the root.
    tree.chmod("/", 0o1777)
        .map_err(|e| CliError::new(Code::Failure, format!("cannot prepare the tree: {e}")))?;
    let mut copied = 0usize;
    if let Some(url) = &args.from {
        copied = crate::open_url(url)?.copy_into_tree(&tree).map_err(|e| {
            CliError::from(e)
                .hint("a store holding both `a` and `a/b` cannot be shown as one directory tree")
        })?;
    }
    let options = memory_fs_fuse::MountOptions {
        read_only: args.read_only,
        ..memory_fs_fuse::MountOptions::default()
    };
    let from = args
        .from
        .as_deref()
        .map_or(String::new(), |u| format!(" with {copied} keys of {u}"));
    if !cli.json {
        eprintln!(
            "mounting a POSIX core{from} at {} (Ctrl-C to unmount)",
            args.dir.display()
        );
    }
    let stop = memory_fs_fuse::mount_until_interrupted(tree, &args.dir, &options).map_err(|e| {
        CliError::new(Code::Failure, e.to_string()).hint("is something already mounted there?")
    })?;
    if cli.json {
        return output::json(
            &json!({"dir": args.dir.display().to_string(), "keys": copied, "signal": stop.signal()}),
        );
    }
    output::line(&format!("unmounted {} ({stop})", args.dir.display()))
}

// ----- demo --------------------------------------------------------------------------------

const DEMO_README: &str = "# Memory-FS\n\nOne typed file API over memory, disk, SQLite and S3.\n";

fn demo(cli: &Cli) -> Result {
    let fs = cli.open()?;
    let readme = std::fs::read_to_string("README.md").unwrap_or_else(|_| DEMO_README.to_owned());
    let id = |s: &str| FileId::new(s).map_err(memory_fs::Error::from);
    let readme_spec = FileSpec::new(id("readme")?, FileType::markdown())
        .handlers([PathHandler::latest(), PathHandler::versioned()]);
    let settings =
        FileSpec::new(id("settings")?, FileType::json()).handlers([PathHandler::latest()]);
    let pixel =
        FileSpec::new(id("pixel")?, FileType::png()).handlers([PathHandler::custom("images")]);
    let png = demo_png();
    let settings_value = json!({"theme": "dark", "language": "en", "retries": 3});
    fs.transaction(|tx| {
        tx.save(&readme_spec, Content::Text(&readme))?
            .save(&settings, Content::Json(&settings_value))?
            .save(&pixel, Content::Bytes(&png))?;
        tx.add_tags(readme_spec.id(), ["docs", "demo"]);
        Ok(())
    })?;
    if !cli.json {
        output::line(&format!(
            "saved readme, settings and pixel in {}\n",
            cli.store
        ))?;
    }
    ls(cli, &LsArgs::default())?;
    if !cli.json {
        output::line("")?;
        output::line(
            "next: memory-fs info readme | memory-fs versions readme | memory-fs load settings",
        )?;
        output::line(
            "      memory-fs ls --tag docs | memory-fs verify | memory-fs cp --to file:backup",
        )?;
    }
    Ok(())
}

/// A 1×1 transparent PNG.
fn demo_png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .unwrap_or_default()
}
