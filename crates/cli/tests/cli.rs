//! The real `memory-fs` binary, run as a user would: every subcommand on the default
//! store and on memory, disk and SQLite stores, `cp` between every pair of backends
//! (S3 on the in-process server), and bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use memory_fs_storage_s3::testing::TestServer;
use serde_json::{Value, json};

/// A scratch working directory and the environment the binary runs in.
struct Env {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

/// What a run gave.
struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.text(), self.stderr))
    }
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            vars: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_memory-fs"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("MEMORY_FS_STORE")
            .env_remove("RUST_BACKTRACE");
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    fn run_with(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn memory-fs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("write stdin");
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        assert!(
            !stderr.contains("panicked"),
            "memory-fs {args:?} panicked: {stderr}"
        );
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None)
    }

    /// Runs and requires exit code 0.
    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code,
            0,
            "memory-fs {args:?}: {}\n{}",
            run.stderr,
            run.text()
        );
        run
    }

    /// Runs and requires exit code `code` and one `error:` line on stderr.
    fn fails(&self, args: &[&str], code: i32) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code,
            code,
            "memory-fs {args:?}: {}\n{}",
            run.stderr,
            run.text()
        );
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        run
    }
}

/// The full round of subcommands on one persistent store (`store` is `None` for the default).
fn every_subcommand(env: &Env, store: Option<&str>) {
    let with = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = store
            .map(|s| vec!["--store".to_owned(), s.to_owned()])
            .unwrap_or_default();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        all
    };
    let run = |args: &[&str]| {
        let a = with(args);
        env.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let fails = |args: &[&str], code: i32| {
        let a = with(args);
        env.fails(&a.iter().map(String::as_str).collect::<Vec<_>>(), code)
    };

    std::fs::write(env.path("notes.md"), "# Notes\n\nfirst\n").expect("write");
    std::fs::write(
        env.path("settings.json"),
        r#"{"theme": "dark", "n": [1, 2]}"#,
    )
    .expect("write");
    let blob: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(env.path("blob.bin"), &blob).expect("write");

    let saved = run(&[
        "save",
        "notes.md",
        "--path-handler",
        "latest",
        "--path-handler",
        "versioned",
        "--tag",
        "docs",
        "--json",
    ])
    .json();
    assert_eq!(saved["id"], "notes");
    assert_eq!(saved["type"], "markdown");
    assert_eq!(saved["folders"], json!(["latest", "v1"]));
    std::fs::write(env.path("notes.md"), "# Notes\n\nsecond\n").expect("write");
    let out = run(&[
        "save",
        "notes.md",
        "--path-handler",
        "latest",
        "--path-handler",
        "versioned",
    ])
    .text();
    assert!(out.starts_with("saved notes (markdown, "), "{out}");
    assert!(out.contains("latest/, v2/"), "{out}");
    run(&["save", "settings.json"]);
    run(&[
        "save",
        "blob.bin",
        "--id",
        "blob",
        "--path-handler",
        "custom",
        "--folder",
        "data/raw",
    ]);
    let a = with(&[
        "save",
        "--id",
        "greeting",
        "--type",
        "text",
        "--path-handler",
        "temporal",
    ]);
    let piped = env.run_with(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        Some(b"hello from stdin\n"),
    );
    assert_eq!(piped.code, 0, "{}", piped.stderr);

    // ls, both forms.
    let listed = run(&["ls", "--json"]).json();
    let ids: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|f| f["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["blob", "greeting", "notes", "settings"]);
    let notes = &listed[2];
    assert_eq!(notes["versions"], 2);
    assert_eq!(notes["folders"], json!(["latest", "v1", "v2"]));
    assert_eq!(notes["size"], 16);
    let table = run(&["ls"]).text();
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("blob ") && l.contains("data/raw")),
        "{table}"
    );
    let raw = run(&["ls", "--raw", "--json"]).json();
    let raw_keys: Vec<&str> = raw
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k["key"].as_str().expect("key"))
        .collect();
    assert!(raw_keys.contains(&"data/raw/blob.bin"), "{raw_keys:?}");
    assert_eq!(
        raw_keys.len(),
        3 * 6,
        "3 keys per folder: latest, v1, v2, settings' latest, data/raw, greeting's hour"
    );
    let under = run(&["ls", "data", "--raw", "--json"]).json();
    assert_eq!(under.as_array().expect("array").len(), 3);

    // load: stdout, --out, --version, --folder, --json.
    assert_eq!(run(&["load", "notes"]).stdout, b"# Notes\n\nsecond\n");
    assert_eq!(
        run(&["load", "notes", "--version", "1"]).stdout,
        b"# Notes\n\nfirst\n"
    );
    assert_eq!(
        run(&["load", "notes", "--folder", "v2"]).stdout,
        b"# Notes\n\nsecond\n"
    );
    assert_eq!(run(&["load", "blob"]).stdout, blob);
    assert_eq!(run(&["load", "greeting"]).stdout, b"hello from stdin\n");
    run(&["load", "blob", "--out", "copy.bin"]);
    assert_eq!(std::fs::read(env.path("copy.bin")).expect("read"), blob);
    let loaded = run(&["load", "settings", "--json"]).json();
    assert_eq!(loaded["content"], json!({"theme": "dark", "n": [1, 2]}));
    assert_eq!(loaded["encoding"], "json");
    let loaded = run(&["load", "blob", "--json"]).json();
    assert_eq!(loaded["encoding"], "base64");
    fails(&["load", "notes", "--version", "9"], 1);
    fails(&["load", "notes", "--folder", "nowhere"], 1);
    fails(&["load", "settings", "--version", "1"], 1);

    // info and versions.
    let info = run(&["info", "notes", "--json"]).json();
    assert_eq!(info["versions"], json!([1, 2]));
    assert_eq!(
        info["tags"],
        json!(["docs"]),
        "a save keeps the tags of the metadata it replaces"
    );
    assert_eq!(info["keys"].as_array().expect("keys").len(), 9);
    let text = run(&["info", "settings"]).text();
    assert!(text.contains("content hash"), "{text}");
    let versions = run(&["versions", "notes", "--json"]).json();
    assert_eq!(versions.as_array().expect("array").len(), 2);
    assert_eq!(versions[0]["size"], 15);
    assert!(run(&["versions", "notes"]).text().contains("v2"));
    fails(&["versions", "settings"], 1);

    // verify, then rm.
    let verified = run(&["verify", "--json"]).json();
    assert_eq!(verified["checked"], 4, "four logical files");
    assert_eq!(verified["problems"], json!([]));
    let removed = run(&["rm", "notes", "--json"]).json();
    assert_eq!(removed["deleted"].as_array().expect("deleted").len(), 9);
    fails(&["rm", "notes"], 1);
    fails(&["info", "notes"], 1);
    assert!(run(&["rm", "blob"]).text().contains("removed blob: 3 keys"));
}

#[test]
fn every_subcommand_on_the_default_store() {
    let env = Env::new();
    every_subcommand(&env, None);
    assert!(
        env.path("memory-fs.db").is_file(),
        "the default store is memory-fs.db in the working directory"
    );
}

#[test]
fn the_store_comes_from_the_environment_too() {
    let mut env = Env::new();
    env.vars
        .push(("MEMORY_FS_STORE".into(), "sqlite://from-env.db".into()));
    env.ok(&["demo"]);
    assert!(env.path("from-env.db").is_file());
    assert!(!env.path("memory-fs.db").exists());
}

#[test]
fn every_subcommand_on_disk_and_sqlite() {
    let env = Env::new();
    every_subcommand(&env, Some("file:store-dir"));
    assert!(
        env.path("store-dir/latest/settings.json").is_file(),
        "keys are files on disk"
    );
    let env = Env::new();
    let db = env.path("other.db");
    every_subcommand(&env, Some(&format!("sqlite://{}", db.display())));
}

#[test]
fn every_subcommand_on_a_memory_store() {
    // A memory store lives as long as one command: each subcommand sees a fresh store.
    let env = Env::new();
    std::fs::write(env.path("a.txt"), "x").expect("write");
    let demo = env.ok(&["--store", "memory://", "demo"]).text();
    assert!(
        demo.contains("readme") && demo.contains("settings") && demo.contains("pixel"),
        "{demo}"
    );
    assert!(
        env.ok(&["--store", "memory://", "save", "a.txt"])
            .text()
            .starts_with("saved a (text")
    );
    assert_eq!(
        env.ok(&["--store", "memory://", "ls", "--json"]).json(),
        json!([])
    );
    assert_eq!(
        env.ok(&["--store", "memory://", "ls", "--raw", "--json"])
            .json(),
        json!([])
    );
    assert!(
        env.ok(&["--store", "memory://", "ls"])
            .text()
            .starts_with("no files in memory://")
    );
    env.fails(&["--store", "memory://", "load", "a"], 1);
    env.fails(&["--store", "memory://", "info", "a"], 1);
    env.fails(&["--store", "memory://", "versions", "a"], 1);
    env.fails(&["--store", "memory://", "rm", "a"], 1);
    assert_eq!(
        env.ok(&["--store", "memory://", "verify", "--json"]).json()["checked"],
        0
    );
    let copied = env
        .ok(&[
            "--store",
            "memory://",
            "cp",
            "--to",
            "sqlite://m.db",
            "--json",
        ])
        .json();
    assert_eq!(copied["files"], 0);
}

#[test]
fn cp_between_every_pair_of_backends() {
    let server = TestServer::start().expect("s3 server");
    let mut env = Env::new();
    env.vars
        .push(("AWS_ACCESS_KEY_ID".into(), server.access_key.clone()));
    env.vars
        .push(("AWS_SECRET_ACCESS_KEY".into(), server.secret_key.clone()));
    let s3 = |prefix: &str| {
        format!(
            "s3://{}/{prefix}?endpoint={}&region={}&nested_keys=false&conditional_create=false",
            server.bucket, server.endpoint, server.region
        )
    };
    let stores = |tag: &str| -> Vec<(&'static str, String)> {
        vec![
            ("disk", format!("file:{tag}-disk")),
            ("sqlite", format!("sqlite://{tag}.db")),
            ("s3", s3(tag)),
        ]
    };
    // Sources, filled through the binary.
    std::fs::write(env.path("doc.md"), "# Doc\n").expect("write");
    std::fs::write(env.path("conf.json"), r#"{"a": 1}"#).expect("write");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(env.path("big.bin"), &big).expect("write");
    let sources = stores("src");
    for (_, src) in &sources {
        env.ok(&[
            "--store",
            src,
            "save",
            "doc.md",
            "--path-handler",
            "latest",
            "--path-handler",
            "versioned",
        ]);
        env.ok(&["--store", src, "save", "conf.json"]);
        env.ok(&["--store", src, "save", "big.bin"]);
    }
    let expected_raw = env
        .ok(&["--store", &sources[0].1, "ls", "--raw", "--json"])
        .json();
    let expected_ls = env.ok(&["--store", &sources[0].1, "ls", "--json"]).json();
    assert_eq!(expected_raw.as_array().expect("keys").len(), 12);

    for (from_name, from) in &sources {
        let mut destinations = stores(&format!("to-{from_name}"));
        destinations.push(("memory", "memory://".into()));
        for (to_name, to) in &destinations {
            let report = env.ok(&["cp", "--from", from, "--to", to, "--json"]).json();
            assert_eq!(report["files"], 3, "{from_name} -> {to_name}");
            assert!(report["bytes"].as_u64().expect("bytes") > big.len() as u64);
            if *to_name == "memory" {
                continue;
            }
            let raw = env.ok(&["--store", to, "ls", "--raw", "--json"]).json();
            assert_eq!(
                raw, expected_raw,
                "{from_name} -> {to_name}: keys and sizes"
            );
            let mut ls = env.ok(&["--store", to, "ls", "--json"]).json();
            let mut want = expected_ls.clone();
            for v in [&mut ls, &mut want] {
                for f in v.as_array_mut().expect("array") {
                    f.as_object_mut().expect("object").remove("timestamp");
                }
            }
            assert_eq!(ls, want, "{from_name} -> {to_name}: logical files");
            assert_eq!(env.ok(&["--store", to, "load", "big"]).stdout, big);
            assert_eq!(
                env.ok(&["--store", to, "verify", "--json"]).json()["problems"],
                json!([])
            );
        }
    }
    // `--store` is the default source; the summary is one line.
    let summary = env
        .ok(&["--store", &sources[1].1, "cp", "--to", "file:summary"])
        .text();
    assert!(
        summary.starts_with("copied 3 files (") && summary.contains(" to file:summary in "),
        "{summary}"
    );
    // `--raw` copies keys one by one.
    let raw = env
        .ok(&[
            "--store",
            &sources[1].1,
            "cp",
            "--raw",
            "--to",
            "file:raw",
            "--json",
        ])
        .json();
    assert_eq!(raw["keys"], 12);
}

#[test]
fn bad_input_gets_one_clear_line_and_the_right_exit_code() {
    let env = Env::new();
    std::fs::write(env.path("data.json"), "{not json").expect("write");
    std::fs::write(env.path("latin1.txt"), b"caf\xe9").expect("write");
    std::fs::write(env.path("program.exe"), b"MZ").expect("write");

    let e = env.fails(&["--store", "ftp://host/x", "ls"], 2);
    assert!(
        e.stderr.contains("unknown store scheme \"ftp\"") && e.stderr.contains("\nhint: "),
        "{}",
        e.stderr
    );
    env.fails(&["--store", "sqlite://", "ls"], 2);
    env.fails(&["--store", "s3://b?secret_access_key=x", "ls"], 2);
    let e = env.fails(&["save", "missing.md"], 1);
    assert!(e.stderr.contains("cannot read missing.md"), "{}", e.stderr);
    let e = env.fails(&["save", "data.json"], 2);
    assert!(e.stderr.contains("not JSON"), "{}", e.stderr);
    env.ok(&["save", "data.json", "--type", "text"]);
    let e = env.fails(&["save", "latin1.txt"], 2);
    assert!(e.stderr.contains("not UTF-8"), "{}", e.stderr);
    env.ok(&["save", "latin1.txt", "--type", "binary"]);
    let e = env.fails(&["save", "program.exe"], 2);
    assert!(
        e.stderr.contains("cannot tell the type") && e.stderr.contains("hint: pass --type"),
        "{}",
        e.stderr
    );
    let e = env.fails(&["save", "data.json", "--type", "yaml"], 2);
    assert!(e.stderr.contains("unknown type \"yaml\""), "{}", e.stderr);
    let e = env.fails(
        &["save", "data.json", "--id", "bad id!", "--type", "text"],
        2,
    );
    assert!(e.stderr.contains("invalid file id"), "{}", e.stderr);
    env.fails(
        &[
            "save",
            "data.json",
            "--type",
            "text",
            "--path-handler",
            "custom",
        ],
        2,
    );
    env.fails(&["save", "--type", "text"], 2);
    env.fails(&["load", "nothing"], 1);
    // clap's own usage errors: one `error:` line and a hint, like every other error.
    for args in [
        &["save", "--path-handler", "sideways", "x"][..],
        &["frobnicate"],
        &["ls", "--since"],
        &["load"],
    ] {
        let run = env.fails(args, 2);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {}", run.stderr);
        assert!(lines[1].starts_with("hint: "), "{args:?}: {}", run.stderr);
    }
    assert_eq!(env.run(&[]).code, 2);
    env.fails(&["ls", "--since", "yesterday"], 2);
    env.fails(&["ls", "--where", "no-equals-sign"], 2);
    // A closed standard input (or /dev/null) is not an empty file; an empty pipe is.
    let empty_pipe = env.run_with(&["save", "--id", "empty", "--type", "text"], Some(b""));
    assert_eq!(empty_pipe.code, 0, "{}", empty_pipe.stderr);
    let null = env.fails(&["save", "--id", "null", "--type", "text"], 2);
    assert!(
        null.stderr.starts_with("error: standard input is closed"),
        "{}",
        null.stderr
    );
    let mut cmd = env.command(&["save", "--id", "closed", "--type", "text"]);
    // SAFETY: runs in the child between fork and exec, and only closes a descriptor.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        cmd.pre_exec(|| {
            if libc::close(0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: standard input is closed"),
        "{stderr}"
    );
    env.fails(&["load", "closed"], 1);
    let help = env.ok(&["--help"]).text();
    assert!(
        help.contains("Exit codes:") && help.contains("sqlite://memory-fs.db"),
        "{help}"
    );
}

#[test]
fn a_corrupt_store_is_reported_not_read() {
    let env = Env::new();
    std::fs::write(env.path("a.json"), r#"{"k": 1}"#).expect("write");
    std::fs::write(env.path("b.txt"), "bee").expect("write");
    env.ok(&["--store", "file:s", "save", "a.json"]);
    env.ok(&["--store", "file:s", "save", "b.txt"]);
    // Content changed behind the store's back: load refuses, verify names it.
    std::fs::write(env.path("s/latest/b.txt"), "wasp").expect("tamper");
    let e = env.fails(&["--store", "file:s", "load", "b"], 3);
    assert!(
        e.stderr.contains("was changed without its metadata")
            && e.stderr.contains("verify --repair b"),
        "{}",
        e.stderr
    );
    let v = env.run(&["--store", "file:s", "verify", "--json"]);
    assert_eq!(v.code, 3);
    let report = v.json();
    assert_eq!(report["problems"][0]["key"], "latest/b.txt");
    assert_eq!(env.run(&["--store", "file:s", "verify"]).code, 3);
    // A config that is not JSON harms no other file: listing and loading go on, and
    // verify names both problems.
    std::fs::write(env.path("s/latest/a.json.config"), "{garbage").expect("tamper");
    let listed = env.ok(&["--store", "file:s", "ls", "--json"]).json();
    assert_eq!(listed.as_array().expect("files").len(), 2);
    assert_eq!(
        env.ok(&["--store", "file:s", "load", "a"]).stdout,
        b"{\n  \"k\": 1\n}"
    );
    let report = env.run(&["--store", "file:s", "verify", "--json"]).json();
    assert_eq!(
        report["problems"].as_array().expect("problems").len(),
        2,
        "{report}"
    );
    // Repairing b makes its content authoritative.
    let repaired = env
        .run(&["--store", "file:s", "verify", "--repair", "b", "--json"])
        .json();
    assert_eq!(repaired["repaired"], json!(["latest/b.txt.metadata"]));
    assert_eq!(repaired["problems"].as_array().expect("problems").len(), 1);
    assert_eq!(env.ok(&["--store", "file:s", "load", "b"]).stdout, b"wasp");
    // A database file that is not a database.
    std::fs::write(env.path("junk.db"), vec![b'x'; 4096]).expect("write");
    let e = env.fails(&["--store", "sqlite://junk.db", "ls"], 4);
    assert!(e.stderr.contains("junk.db"), "{}", e.stderr);
}

/// Counts the regular files under `dir`.
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

#[test]
fn an_interrupted_cp_loses_nothing_at_the_destination() {
    use memory_fs::{FileId, FileSpec, FileType, MemoryFs, PathHandler};
    let env = Env::new();
    let spec = |i: usize| {
        FileSpec::new(
            FileId::new(format!("item-{i:04}")).expect("id"),
            FileType::text(),
        )
        .handlers([PathHandler::latest()])
    };
    // A source of many small logical files, and a destination already holding some
    // of the same files with other bytes, and a file of its own.
    let src_url = format!("sqlite://{}", env.path("src.db").display());
    let source = MemoryFs::open(&src_url).expect("src");
    source
        .transaction(|tx| {
            for i in 0..600 {
                let text = format!("new content of item {i}\n").repeat(40);
                tx.save(&spec(i), memory_fs::Content::Text(&text))?;
            }
            Ok(())
        })
        .expect("fill the source");
    let dest_dir = env.path("dest");
    let dest_url = format!("file://{}", dest_dir.display());
    let dest = MemoryFs::open(&dest_url).expect("dest");
    for i in (0..600).step_by(50) {
        dest.save()
            .text(spec(i), "old destination content\n")
            .expect("save");
    }
    let own = FileSpec::new(FileId::new("mine").expect("id"), FileType::json());
    dest.save()
        .json(&own, &json!({"keep": true}))
        .expect("save");
    let old: Vec<(String, Option<String>)> = dest
        .list()
        .expect("list")
        .files
        .iter()
        .map(|f| (f.id().to_string(), f.load_text().expect("load")))
        .collect();
    let new_text = |id: &str| {
        source
            .file(id)
            .ok()
            .and_then(|f| f.load_text().expect("load"))
    };

    let files_before = count_files(&dest_dir);
    let mut child = env
        .command(&["--store", &src_url, "cp", "--to", &dest_url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cp");
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_files(&dest_dir) < files_before + 600 && Instant::now() < deadline {
        if child.try_wait().expect("poll").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed_mid_way = child.try_wait().expect("poll").is_none();
    child.kill().ok();
    child.wait().expect("reap");
    eprintln!(
        "cp killed mid-way: {killed_mid_way} ({} files at the destination)",
        count_files(&dest_dir)
    );

    // Every file that was there reads whole: its old content or the source's.
    let dest = MemoryFs::open(&dest_url).expect("reopen");
    for (id, was) in &old {
        let now = dest
            .file(id)
            .expect("still there")
            .load_text()
            .expect("readable");
        assert!(now == *was || now == new_text(id), "{id} is torn: {now:?}");
    }
    // Every file copied so far reads as the source's.
    for file in dest.list().expect("list").files {
        let id = file.id().to_string();
        let now = file.load_text().expect("readable");
        let was = old.iter().find(|(i, _)| *i == id).map(|(_, t)| t.clone());
        assert!(
            now == new_text(&id) || Some(now.clone()) == was,
            "{id}: {now:?}"
        );
    }
    // Running cp again completes the copy.
    env.ok(&["--store", &src_url, "cp", "--to", &dest_url]);
    assert_eq!(
        env.ok(&["--store", &dest_url, "verify", "--json"]).json()["problems"],
        json!([])
    );
    let dest = MemoryFs::open(&dest_url).expect("reopen");
    assert_eq!(dest.list().expect("list").files.len(), 601);
    assert_eq!(
        dest.file("mine").expect("mine").load_json().expect("load"),
        Some(json!({"keep": true}))
    );
    for i in (0..600).step_by(50) {
        let id = format!("item-{i:04}");
        assert_eq!(
            dest.file(&id).expect("file").load_text().expect("load"),
            new_text(&id)
        );
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let env = Env::new();
    env.ok(&["demo"]);
    let mut child = env
        .command(&["ls", "--raw"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(141),
        "{:?} {stderr}",
        out.status
    );
}

#[test]
fn mount_shows_a_store_as_files_until_interrupted() {
    let env = Env::new();
    std::fs::create_dir(env.path("mnt")).expect("mkdir");
    std::fs::write(env.path("doc.md"), "# Mounted\n").expect("write");
    env.ok(&["--store", "sqlite://src.db", "save", "doc.md"]);
    if let Err(why) = memory_fs_fuse::fuse_usable() {
        eprintln!("SKIPPED: the mount half of this test needs FUSE: {why}");
        let e = env.fails(&["mount", "mnt", "--from", "sqlite://src.db"], 4);
        assert!(e.stderr.contains("cannot mount"), "{}", e.stderr);
        return;
    }
    env.fails(&["mount", "no-such-dir"], 1);
    let mut child = env
        .command(&["mount", "mnt", "--from", "sqlite://src.db"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mount");
    let file = env.path("mnt/latest/doc.md");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() && Instant::now() < deadline {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "mount exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let read = std::fs::read(&file);
    let config = std::fs::read(env.path("mnt/latest/doc.md.config"));
    std::fs::write(
        env.path("mnt/written-through-the-mount.txt"),
        b"kernel -> core",
    )
    .expect("write through the mount");
    let back = std::fs::read(env.path("mnt/written-through-the-mount.txt"));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(read.expect("read through the mount"), b"# Mounted\n");
    assert!(config.expect("config").starts_with(b"{"));
    assert_eq!(back.expect("read back"), b"kernel -> core");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("unmounted mnt"));
    assert!(!file.exists(), "unmounted: the directory is empty again");
}
