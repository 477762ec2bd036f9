//! The subcommands.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Instant;

use base64::Engine as _;
use memory_fs::{
    File, FileConfig, FileError, FileId, FileType, MemoryFs, PathHandler, SafePath, Serialization,
    Target, TargetCreate,
};
use serde_json::{Value, json};

use crate::error::{CliError, Code};
use crate::{
    Cli, Command, CpArgs, Handler, LoadArgs, LsArgs, MountArgs, SaveArgs, VerifyArgs, output,
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
        Command::Mount(args) => mount(cli, args),
        Command::Demo => demo(cli),
    }
}

// ----- save ------------------------------------------------------------------------------

fn save(cli: &Cli, args: &SaveArgs) -> Result {
    let from_stdin = args.input.as_deref().is_none_or(|p| p == Path::new("-"));
    let (bytes, name) = if from_stdin {
        if std::io::stdin().is_terminal() {
            return Err(CliError::usage("no input: give a FILE, or pipe data into standard input")
                .hint("memory-fs save notes.md   or   echo hello | memory-fs save --id greeting --type text"));
        }
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::io("read", "standard input", &e))?;
        (bytes, None)
    } else {
        let path = args.input.as_deref().unwrap_or(Path::new("-"));
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| CliError::io("read", &shown, &e))?;
        (bytes, Some(path))
    };

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

    let fs = cli.open()?;
    let file = fs.file_at(id.as_str(), file_type.clone(), handlers)?;
    let keys = save_content(&file, &bytes)?;
    if !args.tags.is_empty() {
        file.add_tags(args.tags.iter().cloned())
            .map_err(memory_fs::Error::from)?;
    }
    if cli.json {
        output::json(&json!({
            "id": id.as_str(),
            "type": file_type.name,
            "size": bytes.len(),
            "folders": file.config().file_paths,
            "keys": keys.iter().map(SafePath::as_str).collect::<Vec<_>>(),
        }))
    } else {
        output::line(&format!(
            "saved {} ({}, {}) in {}",
            id.as_str(),
            file_type.name,
            output::size(bytes.len() as u64),
            folders_text(&file.config().file_paths)
        ))
    }
}

/// Saves `bytes` the way the file's type expects them.
fn save_content(file: &File, bytes: &[u8]) -> Result<Vec<SafePath>> {
    let file_type = &file.config().file_type;
    let saved = match file_type.serialization {
        Serialization::Json | Serialization::TypeSafe => {
            let value: Value = serde_json::from_slice(bytes).map_err(|e| {
                CliError::usage(format!(
                    "the input is not JSON ({e}), so it cannot be saved as {}",
                    file_type.name
                ))
                .hint("pass --type text or --type binary to keep it as it is")
            })?;
            file.save_json(&value)
        }
        Serialization::String => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                CliError::usage(format!(
                    "the input is not UTF-8 text ({e}), so it cannot be saved as {}",
                    file_type.name
                ))
                .hint("pass --type binary to keep any bytes")
            })?;
            file.save_text(text)
        }
        _ => file.save_bytes(bytes),
    };
    Ok(saved.map_err(memory_fs::Error::from)?)
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

// ----- finding files -------------------------------------------------------------------

/// One logical file: every placement of an id, grouped.
struct Logical {
    id: String,
    placements: Vec<Target>,
}

impl Logical {
    /// The placement saved last (by metadata timestamp), and its metadata.
    fn newest(&self) -> Result<(&Target, Option<memory_fs::FileMetadata>)> {
        let mut best: Option<(&Target, Option<memory_fs::FileMetadata>)> = None;
        for t in &self.placements {
            let meta = t.file().metadata().map_err(memory_fs::Error::from)?;
            let newer = match (&best, &meta) {
                (None, _) => true,
                (Some((_, Some(b))), Some(m)) => m.timestamp >= b.timestamp,
                (Some((_, None)), Some(_)) => true,
                (Some(_), None) => false,
            };
            if newer {
                best = Some((t, meta));
            }
        }
        best.ok_or_else(|| CliError::not_found(format!("no file with id {:?}", self.id)))
    }

    /// Every folder of every placement, sorted.
    fn folders(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .placements
            .iter()
            .flat_map(|t| &t.config().file_paths)
            .collect();
        set.into_iter().cloned().collect()
    }

    /// The placement with a versioned folder, and its versions.
    fn versioned(&self) -> Result<Option<(&Target, Vec<u32>)>> {
        for t in &self.placements {
            let v = t.file().versions().map_err(memory_fs::Error::from)?;
            if !v.is_empty() {
                return Ok(Some((t, v)));
            }
        }
        Ok(None)
    }
}

fn group(targets: Vec<Target>) -> Vec<Logical> {
    let mut out: Vec<Logical> = Vec::new();
    for t in targets {
        let id = t.config().file_id.as_str().to_owned();
        match out.last_mut() {
            Some(last) if last.id == id => last.placements.push(t),
            _ => out.push(Logical {
                id,
                placements: vec![t],
            }),
        }
    }
    out
}

fn find(fs: &MemoryFs, id: &str) -> Result<Logical> {
    Ok(Logical {
        id: id.to_owned(),
        placements: fs.find(id)?,
    })
}

// ----- load ------------------------------------------------------------------------------

fn load(cli: &Cli, args: &LoadArgs) -> Result {
    let fs = cli.open()?;
    let logical = find(&fs, &args.id)?;
    let file = if let Some(n) = args.version {
        let Some((placement, versions)) = logical.versioned()? else {
            return Err(CliError::not_found(format!("{} has no versions", args.id))
                .hint("only files saved with --path-handler versioned have versions"));
        };
        if !versions.contains(&n) {
            return Err(
                CliError::not_found(format!("{} has no version {n}", args.id))
                    .hint(format!("versions: {}", join(&versions))),
            );
        }
        placement.file().version(n)
    } else if let Some(folder) = &args.folder {
        let folder = folder.trim_matches('/');
        let Some(placement) = logical
            .placements
            .iter()
            .find(|t| t.config().file_paths.iter().any(|f| f == folder))
        else {
            return Err(CliError::not_found(format!(
                "{} has no copy in folder {folder:?}",
                args.id
            ))
            .hint(format!("folders: {}", logical.folders().join(", "))));
        };
        fs.file_for(&FileConfig {
            file_paths: vec![folder.to_owned()],
            ..placement.config().clone()
        })
    } else {
        logical.newest()?.0.file().clone()
    };
    let bytes = file
        .load_bytes()
        .map_err(memory_fs::Error::from)?
        .ok_or_else(|| CliError::not_found(format!("the content of {} is missing", args.id)))?;

    if let Some(out) = &args.out {
        let shown = out.display().to_string();
        std::fs::write(out, &bytes).map_err(|e| CliError::io("write", &shown, &e))?;
        if cli.json {
            return output::json(&json!({"id": args.id, "size": bytes.len(), "out": shown}));
        }
        return output::line(&format!(
            "wrote {} to {shown}",
            output::size(bytes.len() as u64)
        ));
    }
    if cli.json {
        let config = file.config();
        let (encoding, content) = match config.file_type.serialization {
            Serialization::Json | Serialization::TypeSafe => (
                "json",
                file.load_json()
                    .map_err(memory_fs::Error::from)?
                    .unwrap_or(Value::Null),
            ),
            Serialization::String => (
                "text",
                Value::from(
                    file.load_text()
                        .map_err(memory_fs::Error::from)?
                        .unwrap_or_default(),
                ),
            ),
            _ => (
                "base64",
                Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            ),
        };
        return output::json(&json!({
            "id": args.id,
            "type": config.file_type.name,
            "folders": config.file_paths,
            "size": bytes.len(),
            "encoding": encoding,
            "content": content,
        }));
    }
    output::bytes(&bytes)
}

fn join(versions: &[u32]) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ----- ls, info, versions ------------------------------------------------------------------

fn ls(cli: &Cli, args: &LsArgs) -> Result {
    let fs = cli.open()?;
    if args.raw {
        let keys = fs.keys(args.prefix.as_deref())?;
        let mut rows = Vec::with_capacity(keys.len());
        for key in &keys {
            let size = fs
                .storage()
                .file_bytes(key)
                .map_err(memory_fs::Error::from)?
                .map_or(0, |b| b.len() as u64);
            rows.push((key.as_str().to_owned(), size));
        }
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
    let files = group(fs.list(args.prefix.as_deref())?);
    let mut entries = Vec::with_capacity(files.len());
    for f in &files {
        let (newest, meta) = f.newest()?;
        let versions = f.versioned()?.map_or(0, |(_, v)| v.len());
        entries.push((f, newest.config().file_type.name.clone(), meta, versions));
    }
    if cli.json {
        return output::json(&Value::from(
            entries
                .iter()
                .map(|(f, t, meta, versions)| {
                    json!({
                        "id": f.id,
                        "type": t,
                        "size": meta.as_ref().map(|m| m.content_size),
                        "timestamp": meta.as_ref().map(|m| m.timestamp),
                        "versions": versions,
                        "folders": f.folders(),
                    })
                })
                .collect::<Vec<_>>(),
        ));
    }
    if entries.is_empty() {
        return output::line(&format!("no files in {}", cli.store));
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|(f, t, meta, versions)| {
            vec![
                f.id.clone(),
                t.clone(),
                meta.as_ref()
                    .map_or("-".into(), |m| output::size(m.content_size)),
                if *versions == 0 {
                    "-".into()
                } else {
                    versions.to_string()
                },
                meta.as_ref()
                    .map_or("-".into(), |m| output::time(m.timestamp)),
                f.folders().join(" "),
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
    let logical = find(&fs, id)?;
    let (newest, meta) = logical.newest()?;
    let config = newest.config();
    let versions = logical.versioned()?.map(|(_, v)| v).unwrap_or_default();
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for t in &logical.placements {
        for k in t.file().paths().map_err(memory_fs::Error::from)? {
            if fs
                .storage()
                .file_exists(&k)
                .map_err(memory_fs::Error::from)?
            {
                keys.insert(k.as_str().to_owned());
            }
        }
    }
    if cli.json {
        return output::json(&json!({
            "id": id,
            "type": config.file_type.name,
            "content_type": config.file_type.content_type,
            "folders": logical.folders(),
            "versions": versions,
            "size": meta.as_ref().map(|m| m.content_size),
            "content_hash": meta.as_ref().map(|m| m.content_hash.clone()),
            "chain_hash": meta.as_ref().and_then(|m| m.chain_hash.clone()),
            "timestamp": meta.as_ref().map(|m| m.timestamp),
            "tags": meta.as_ref().map(|m| m.tags.clone()).unwrap_or_default(),
            "data": meta.as_ref().map(|m| Value::Object(m.data.clone())).unwrap_or(Value::Null),
            "keys": keys,
        }));
    }
    let mut rows = vec![
        vec!["id".to_owned(), id.to_owned()],
        vec![
            "type".into(),
            format!(
                "{} ({})",
                config.file_type.name, config.file_type.content_type
            ),
        ],
        vec!["folders".into(), logical.folders().join(" ")],
    ];
    if !versions.is_empty() {
        rows.push(vec!["versions".into(), join(&versions)]);
    }
    if let Some(m) = &meta {
        rows.push(vec![
            "size".into(),
            format!(
                "{} ({} bytes)",
                output::size(m.content_size),
                m.content_size
            ),
        ]);
        rows.push(vec!["saved".into(), output::time(m.timestamp)]);
        rows.push(vec!["content hash".into(), m.content_hash.clone()]);
        if let Some(chain) = &m.chain_hash {
            rows.push(vec!["chain hash".into(), chain.clone()]);
        }
        if !m.tags.is_empty() {
            rows.push(vec!["tags".into(), m.tags.join(", ")]);
        }
        if !m.data.is_empty() {
            rows.push(vec![
                "data".into(),
                Value::Object(m.data.clone()).to_string(),
            ]);
        }
    }
    rows.push(vec![
        "keys".into(),
        keys.into_iter().collect::<Vec<_>>().join(" "),
    ]);
    for row in rows {
        output::line(&format!("{:<13} {}", row[0], row[1]))?;
    }
    Ok(())
}

fn versions(cli: &Cli, id: &str) -> Result {
    let fs = cli.open()?;
    let logical = find(&fs, id)?;
    let Some((placement, versions)) = logical.versioned()? else {
        return Err(CliError::not_found(format!("{id} has no versions"))
            .hint("only files saved with --path-handler versioned have versions"));
    };
    let mut rows = Vec::with_capacity(versions.len());
    for n in versions {
        let meta = placement
            .file()
            .version(n)
            .metadata()
            .map_err(memory_fs::Error::from)?;
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

// ----- rm ----------------------------------------------------------------------------------

fn rm(cli: &Cli, id: &str) -> Result {
    let fs = cli.open()?;
    let report = fs.delete().id(id)?;
    let keys: Vec<&str> = report.deleted.iter().map(SafePath::as_str).collect();
    if cli.json {
        return output::json(&json!({"id": id, "deleted": keys}));
    }
    output::line(&format!("removed {id}: {} keys", keys.len()))
}

// ----- cp ----------------------------------------------------------------------------------

fn cp(cli: &Cli, args: &CpArgs) -> Result {
    let from_url = args.from.as_deref().unwrap_or(&cli.store);
    let source = crate::open_url(from_url)?;
    let destination = crate::open_url(&args.to)?;
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} keys {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = source.copy_to(
        &destination,
        args.prefix.as_deref(),
        |done, total, bytes| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(output::size(bytes));
        },
    );
    bar.finish_and_clear();
    let report = report?;
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        return output::json(&json!({
            "from": from_url,
            "to": args.to,
            "keys": report.keys,
            "bytes": report.bytes,
            "seconds": seconds,
        }));
    }
    output::line(&format!(
        "copied {} keys ({}) from {from_url} to {} in {seconds:.2} s",
        report.keys,
        output::size(report.bytes),
        args.to
    ))
}

// ----- verify ------------------------------------------------------------------------------

fn verify(cli: &Cli, args: &VerifyArgs) -> Result {
    let fs = cli.open()?;
    let factory = TargetCreate::new(fs.storage().clone());
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut checked: BTreeSet<String> = BTreeSet::new();
    for key in fs.keys(args.prefix.as_deref())? {
        if !key.as_str().ends_with(".config") {
            continue;
        }
        let target = match factory.from_config_path(&key) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                problems.push((key.as_str().to_owned(), e.to_string()));
                continue;
            }
        };
        // Each folder's copy is checked against that folder's metadata.
        let folders = if target.config().file_paths.is_empty() {
            vec![String::new()]
        } else {
            target.config().file_paths.clone()
        };
        for folder in folders {
            let file = fs.file_for(&FileConfig {
                file_paths: if folder.is_empty() {
                    Vec::new()
                } else {
                    vec![folder]
                },
                ..target.config().clone()
            });
            let content = file.content_paths().map_err(memory_fs::Error::from)?;
            let Some(content_key) = content.first() else {
                continue;
            };
            if !checked.insert(content_key.as_str().to_owned()) {
                continue;
            }
            match file.metadata() {
                Ok(Some(_)) => {}
                Ok(None) => {
                    problems.push((content_key.as_str().to_owned(), "no metadata".into()));
                    continue;
                }
                Err(e) => {
                    problems.push((content_key.as_str().to_owned(), e.to_string()));
                    continue;
                }
            }
            match file.bytes() {
                Ok(Some(_)) => {}
                Ok(None) => {
                    problems.push((content_key.as_str().to_owned(), "content missing".into()))
                }
                Err(FileError::HashMismatch {
                    expected, actual, ..
                }) => problems.push((
                    content_key.as_str().to_owned(),
                    format!("hash {actual} where the metadata says {expected}"),
                )),
                Err(e) => problems.push((content_key.as_str().to_owned(), e.to_string())),
            }
        }
    }
    if cli.json {
        output::json(&json!({
            "checked": checked.len(),
            "problems": problems.iter().map(|(k, p)| json!({"key": k, "problem": p})).collect::<Vec<_>>(),
        }))?;
    } else {
        for (key, problem) in &problems {
            output::line(&format!("BAD  {key}: {problem}"))?;
        }
        output::line(&format!(
            "checked {} contents: {} problems",
            checked.len(),
            problems.len()
        ))?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(
            Code::Integrity,
            format!("{} problems found", problems.len()),
        ))
    }
}

// ----- mount -------------------------------------------------------------------------------

fn mount(cli: &Cli, args: &MountArgs) -> Result {
    use memory_fs_fuse::posix::{MemoryFileSystem, OpenFlags};

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
    let core = MemoryFileSystem::new();
    let posix = |e: memory_fs_fuse::posix::PosixError| {
        CliError::new(Code::Failure, format!("cannot fill the mounted tree: {e}"))
    };
    // Like /tmp: every user of the `allow_other` mount can work in the root.
    core.chmod("/", 0o1777).map_err(posix)?;
    let mut copied = 0usize;
    if let Some(url) = &args.from {
        let source = crate::open_url(url)?;
        for key in source.keys(None)? {
            let Some(bytes) = source
                .storage()
                .file_bytes(&key)
                .map_err(memory_fs::Error::from)?
            else {
                continue;
            };
            let mut dir = String::new();
            let segments: Vec<&str> = key.segments().collect();
            for segment in &segments[..segments.len() - 1] {
                dir.push('/');
                dir.push_str(segment);
                match core.mkdir(&dir, 0o755) {
                    Ok(()) => {}
                    Err(e) if e.errno() == memory_fs_fuse::posix::Errno::EEXIST => {}
                    Err(e) => return Err(posix(e)),
                }
            }
            let path = format!("/{key}");
            let placed = core
                .open(
                    &path,
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNC,
                    0o644,
                )
                .and_then(|fd| {
                    let mut rest: &[u8] = &bytes;
                    let mut written = Ok(());
                    while !rest.is_empty() {
                        match core.write(fd, rest) {
                            // The core writes everything or fails; a zero write would loop.
                            Ok(0) => break,
                            Ok(n) => rest = &rest[n..],
                            Err(e) => {
                                written = Err(e);
                                break;
                            }
                        }
                    }
                    let closed = core.close(fd);
                    written.and(closed).map(|()| rest.is_empty())
                });
            let whole = placed.map_err(|e| {
                CliError::new(
                    Code::Failure,
                    format!("key {key} cannot be a file in the mounted tree: {e}"),
                )
                .hint("a store holding both `a` and `a/b` cannot be shown as one directory tree")
            })?;
            if !whole {
                return Err(CliError::new(
                    Code::Failure,
                    format!("key {key}: the core accepted only part of its bytes"),
                ));
            }
            copied += 1;
        }
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
    let signal =
        memory_fs_fuse::mount_until_interrupted(core, &args.dir, &options).map_err(|e| {
            CliError::new(Code::Failure, e.to_string()).hint("is something already mounted there?")
        })?;
    if cli.json {
        return output::json(
            &json!({"dir": args.dir.display().to_string(), "keys": copied, "signal": signal}),
        );
    }
    output::line(&format!(
        "unmounted {} (signal {signal})",
        args.dir.display()
    ))
}

// ----- demo --------------------------------------------------------------------------------

const DEMO_README: &str = "# Memory-FS\n\nOne typed file API over memory, disk, SQLite and S3.\n";

fn demo(cli: &Cli) -> Result {
    let fs = cli.open()?;
    let readme = std::fs::read_to_string("README.md").unwrap_or_else(|_| DEMO_README.to_owned());
    let file = fs.file_at(
        "readme",
        FileType::markdown(),
        [PathHandler::latest(), PathHandler::versioned()],
    )?;
    save_content(&file, readme.as_bytes())?;
    file.add_tags(["docs", "demo"])
        .map_err(memory_fs::Error::from)?;
    let settings = fs.file_at("settings", FileType::json(), [PathHandler::latest()])?;
    save_content(
        &settings,
        br#"{"theme": "dark", "language": "en", "retries": 3}"#,
    )?;
    let pixel = fs.file_at("pixel", FileType::png(), [PathHandler::custom("images")])?;
    save_content(&pixel, &demo_png())?;
    if !cli.json {
        output::line(&format!(
            "saved readme, settings and pixel in {}\n",
            cli.store
        ))?;
    }
    ls(
        cli,
        &LsArgs {
            prefix: None,
            raw: false,
        },
    )?;
    if !cli.json {
        output::line("")?;
        output::line(
            "next: memory-fs info readme | memory-fs versions readme | memory-fs load settings",
        )?;
        output::line(
            "      memory-fs ls --raw | memory-fs verify | memory-fs cp --to file:backup",
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
