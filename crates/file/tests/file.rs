//! The file layer end to end on the memory provider: formats (snapshots), every
//! operation, and the errors.

use std::sync::Arc;

use memory_fs_file::{
    Clock, Content, Create, Encoding, ExistsStrategy, File, FileConfig, FileError, FileId,
    FileSpec, FileType, FixedClock, PathHandler, Placed, Serialization, to_json,
};
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;
use serde::{Deserialize, Serialize};
use serde_json::json;

const NOW: i64 = 1_795_393_179_295; // 2026-11-23T00:59:39.295Z

fn store() -> Arc<MemoryStorage> {
    Arc::new(MemoryStorage::new())
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock(NOW))
}

fn spec(id: &str, ty: FileType, handlers: Vec<PathHandler>) -> FileSpec {
    FileSpec::new(FileId::new(id).expect("id"), ty).handlers(handlers)
}

fn save(s: &Arc<MemoryStorage>, spec: &FileSpec, content: Content<'_>) -> Result<File, FileError> {
    File::save_with_clock(s.clone(), clock(), spec, content)
}

fn open(s: &Arc<MemoryStorage>, id: &str) -> File {
    File::open(s.clone(), &FileId::new(id).expect("id"))
        .expect("open")
        .expect("the file exists")
}

fn text_of(storage: &MemoryStorage, key: &str) -> String {
    storage
        .file_str(&SafePath::new(key).expect("key"))
        .expect("load")
        .expect("exists")
}

fn keys(f: &File) -> Vec<String> {
    f.info().keys.iter().map(ToString::to_string).collect()
}

#[test]
fn json_file_bytes() {
    let s = store();
    let value =
        json!({"name": "Alice", "score": 9.75, "big": 1e20, "greeting": "olá 😀", "empty": []});
    let f = save(
        &s,
        &spec(
            "user-profile",
            FileType::json(),
            vec![PathHandler::latest()],
        ),
        Content::Json(&value),
    )
    .expect("save");
    assert_eq!(
        keys(&f),
        [
            "latest/user-profile.json",
            "latest/user-profile.json.config",
            "latest/user-profile.json.metadata"
        ]
    );
    insta::assert_snapshot!(text_of(&s, "latest/user-profile.json"), @r#"
    {
      "name": "Alice",
      "score": 9.75,
      "big": 1e+20,
      "greeting": "ol\u00e1 \ud83d\ude00",
      "empty": []
    }
    "#);
    insta::assert_snapshot!(text_of(&s, "latest/user-profile.json.config"), @r#"
    {
        "exists_strategy": "first",
        "file_id": "user-profile",
        "file_key": "",
        "file_paths": [
            "latest"
        ],
        "file_type": {
            "name": "json",
            "content_type": "application/json; charset=utf-8",
            "file_extension": "json",
            "encoding": "utf-8",
            "serialization": "json"
        }
    }
    "#);
    insta::assert_snapshot!(text_of(&s, "latest/user-profile.json.metadata"), @r#"
    {
        "content__hash": "3f5f28f09b",
        "chain_hash": "3e5d045fd89921f8fe6a0d2e0f8c19d92185f581c1e5864d2b3507b323619471",
        "previous_version_path": null,
        "content__size": 108,
        "tags": [],
        "timestamp": 1795393179295,
        "data": {}
    }
    "#);
}

#[test]
fn every_builtin_type() {
    let types = [
        FileType::json(),
        FileType::json_single(),
        FileType::text(),
        FileType::markdown(),
        FileType::html(),
        FileType::binary(),
        FileType::png(),
        FileType::jpeg(),
        FileType::data(),
    ];
    let listing: Vec<String> = types
        .iter()
        .map(|t| {
            format!(
                "{} {} .{} {:?} {:?} {:?}",
                t.name,
                t.content_type,
                t.file_extension,
                t.alt_extensions,
                t.encoding.map(Encoding::name),
                t.serialization
            )
        })
        .collect();
    insta::assert_snapshot!(listing.join("\n"), @r#"
    json application/json; charset=utf-8 .json [] Some("utf-8") Json
    json_single application/json; charset=utf-8 .json [] Some("utf-8") Json
    text text/plain; charset=utf-8 .txt [] Some("utf-8") String
    markdown text/markdown; charset=utf-8 .md ["markdown"] Some("utf-8") String
    html text/html; charset=utf-8 .html [] Some("utf-8") String
    binary application/octet-stream .bin [] None Binary
    png image/png .png [] None Binary
    jpeg image/jpeg .jpg ["jpeg"] None Binary
    json application/json; charset=utf-8 .json [] Some("utf-8") Json
    "#);
    let s = store();
    for (i, t) in types.into_iter().enumerate() {
        let sp = spec(&format!("t{i}"), t.clone(), vec![PathHandler::latest()]);
        let value = json!({"i": i});
        let bytes = [0, 255, i as u8];
        let f = match t.serialization {
            Serialization::Json => {
                let f = save(&s, &sp, Content::Json(&value)).expect("save");
                assert_eq!(f.load_json().expect("load"), Some(value));
                f
            }
            Serialization::String => {
                let f = save(&s, &sp, Content::Text("<p>é</p>")).expect("save");
                assert_eq!(f.load_text().expect("load").as_deref(), Some("<p>é</p>"));
                f
            }
            _ => {
                let f = save(&s, &sp, Content::Bytes(&bytes)).expect("save");
                assert_eq!(f.load_bytes().expect("load"), Some(bytes.to_vec()));
                f
            }
        };
        let expected_files = if t.content_only() { 1 } else { 3 };
        assert_eq!(keys(&f).len(), expected_files, "{}", t.name);
    }
}

#[test]
fn stored_bytes_of_every_type() {
    let s = store();
    let cases: [(FileType, &str); 8] = [
        (FileType::json_single(), "json"),
        (FileType::text(), "text"),
        (FileType::markdown(), "text"),
        (FileType::html(), "text"),
        (FileType::binary(), "bytes"),
        (FileType::png(), "bytes"),
        (FileType::jpeg(), "bytes"),
        (FileType::data(), "json"),
    ];
    let mut out = String::new();
    for (i, (ty, kind)) in cases.into_iter().enumerate() {
        let sp = spec(&format!("f{i}"), ty, vec![]);
        let value = json!({"i": i, "ok": true});
        let f = match kind {
            "json" => save(&s, &sp, Content::Json(&value)),
            "text" => save(&s, &sp, Content::Text("line é\n")),
            _ => save(&s, &sp, Content::Bytes(&[0x89, b'P', 0, 255])),
        }
        .expect("save");
        for key in f.info().keys {
            let bytes = s.file_bytes(&key).expect("load").expect("exists");
            out.push_str(&format!(
                "--- {key}\n{}\n",
                String::from_utf8_lossy(&bytes).replace('\u{0}', "\\0")
            ));
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn typed_values_round_trip() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Report {
        title: String,
        pages: u32,
        ratio: f64,
        tags: Vec<String>,
    }
    let s = store();
    let r = Report {
        title: "Q1".into(),
        pages: 3,
        ratio: 0.25,
        tags: vec!["a".into()],
    };
    let id = FileId::new("report").expect("id");
    let value = to_json(&id, &r).expect("json");
    let f = save(
        &s,
        &spec("report", FileType::data(), vec![PathHandler::latest()]),
        Content::Json(&value),
    )
    .expect("save");
    assert_eq!(f.load_typed::<Report>().expect("load"), Some(r));
    let wrong = f.load_typed::<Vec<u8>>().expect_err("not a list");
    assert!(matches!(wrong, FileError::Serialization { .. }), "{wrong}");
}

#[test]
fn base64_and_encodings() {
    let s = store();
    let b64 = FileType::custom(
        "base64",
        "application/octet-stream",
        "b64",
        Some(Encoding::Utf8),
        Serialization::Base64,
    );
    let f = save(
        &s,
        &spec("encoded", b64, vec![]),
        Content::Bytes(b"\x00\x01binary\xfe\xff"),
    )
    .expect("save");
    assert_eq!(text_of(&s, "encoded.b64"), "AAFiaW5hcnn+/w==");
    assert_eq!(
        f.load_bytes().expect("load").as_deref(),
        Some(&b"\x00\x01binary\xfe\xff"[..])
    );

    for enc in [
        Encoding::Utf8,
        Encoding::Utf16,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
        Encoding::Utf32,
        Encoding::Latin1,
        Encoding::Windows1252,
    ] {
        let ty = FileType::custom(
            "text",
            "text/plain",
            "txt",
            Some(enc),
            Serialization::String,
        );
        let saved = save(
            &s,
            &spec(&format!("enc-{}", enc.name()), ty, vec![]),
            Content::Text("café €?"),
        );
        if enc == Encoding::Latin1 {
            assert!(saved.is_err(), "latin-1 has no euro sign");
        } else {
            let f = saved.expect("save");
            assert_eq!(
                f.load_text().expect("load").as_deref(),
                Some("café €?"),
                "{}",
                enc.name()
            );
        }
    }
    let ascii = FileType::custom(
        "text",
        "text/plain",
        "txt",
        Some(Encoding::Ascii),
        Serialization::String,
    );
    let err =
        save(&s, &spec("ascii", ascii, vec![]), Content::Text("naïve")).expect_err("not ascii");
    insta::assert_snapshot!(err.to_string(), @"cannot encode as ascii: 'ï' (U+00EF) has no representation");
    let latin = FileType::custom(
        "text",
        "text/plain",
        "txt",
        Some(Encoding::Latin1),
        Serialization::String,
    );
    let err = save(&s, &spec("latin", latin, vec![]), Content::Text("€")).expect_err("not latin-1");
    insta::assert_snapshot!(err.to_string(), @"cannot encode as latin-1: '€' (U+20AC) has no representation");
    assert!(
        s.files_paths(Some(&SafePath::new("ascii.txt").expect("key")))
            .expect("list")
            .is_empty(),
        "a failed save writes nothing"
    );
}

#[test]
fn wrong_kind_of_value_is_refused() {
    let s = store();
    let err = save(&s, &spec("j", FileType::json(), vec![]), Content::Text("x"))
        .expect_err("json takes json");
    insta::assert_snapshot!(err.to_string(), @"cannot serialize j: a json file (Json serialization) does not take text");
    assert!(
        save(
            &s,
            &spec("p", FileType::png(), vec![]),
            Content::Json(&json!(1))
        )
        .is_err()
    );
    assert!(
        save(
            &s,
            &spec("t", FileType::text(), vec![]),
            Content::Bytes(b"x")
        )
        .is_err()
    );
    assert!(
        s.files_paths(None).expect("list").is_empty(),
        "nothing was written"
    );
}

#[test]
fn ids_are_validated_and_sanitized_on_request() {
    for bad in [
        "",
        "has space",
        "dot.ted",
        "slash/ed",
        "é",
        &"x".repeat(129),
    ] {
        assert!(
            matches!(FileId::new(bad), Err(FileError::InvalidFileId { .. })),
            "{bad:?}"
        );
    }
    insta::assert_snapshot!(FileId::new("my file").expect_err("bad").to_string(), @r#"invalid file id "my file": only letters, digits, '_' and '-' are allowed (FileId::sanitize maps any string to a valid id)"#);
    assert_eq!(FileId::sanitize("my file.v1!é").as_str(), "my_file_v1__");
    assert_eq!(FileId::sanitize("").as_str(), "_");
    assert_eq!(FileId::sanitize(&"x".repeat(200)).as_str().len(), 128);
    assert!(FileId::new("A-z_09").is_ok());
}

#[test]
fn handlers_make_the_python_paths() {
    let s = store();
    let id = "order-42";
    let sp = FileSpec::new(FileId::new(id).expect("id"), FileType::json())
        .handlers([
            PathHandler::latest(),
            PathHandler::temporal_with_areas(["audit", "eu"]),
            PathHandler::versioned(),
            PathHandler::custom("custom/dir"),
            PathHandler::hash_sharded(),
            PathHandler::key_based()
                .with_prefix("data")
                .with_suffix("current"),
        ])
        .key("users/team-a");
    let f = save(&s, &sp, Content::Json(&json!({}))).expect("save");
    assert_eq!(
        f.config().file_paths,
        [
            "latest",
            "2026/11/23/00/audit/eu",
            "v1",
            "custom/dir",
            "or/de",
            "data/users/team-a/current"
        ]
    );
}

#[test]
fn versions_chain_and_link_back() {
    let s = store();
    let sp = spec("doc", FileType::json(), vec![PathHandler::versioned()]);
    let v1 = save(&s, &sp, Content::Json(&json!({"v": 1}))).expect("save v1");
    assert_eq!(v1.config().file_paths, ["v1"]);
    let v2 = save(&s, &sp, Content::Json(&json!({"v": 2}))).expect("save v2");
    assert_eq!(
        v2.config().file_paths,
        ["v2"],
        "the next version is the record's next"
    );
    let m1 = v1.metadata().expect("m1").clone();
    let m2 = v2.metadata().expect("m2").clone();
    assert_eq!(m2.previous_version_path.as_deref(), Some("v1/doc.json"));
    let c2 = v2.bytes().expect("bytes").expect("exists");
    assert_eq!(
        m2.chain_hash,
        Some(memory_fs_file::chain_hash(m1.chain_hash.as_deref(), &c2))
    );
    let old = Placed::new(
        s.clone(),
        FileConfig::new(FileId::new("doc").expect("id"), FileType::json()).with_paths(["v1"]),
    );
    assert_eq!(old.load_json().expect("load"), Some(json!({"v": 1})));
    assert_eq!(open(&s, "doc").versions(), [1, 2]);
}

#[test]
fn version_n_reads_that_version_not_the_latest_copy() {
    let s = store();
    let sp = spec(
        "doc",
        FileType::json(),
        vec![PathHandler::latest(), PathHandler::versioned()],
    );
    for v in 1..=3 {
        let f = save(&s, &sp, Content::Json(&json!({ "v": v }))).expect("save");
        assert_eq!(
            f.config().file_paths,
            ["latest".to_owned(), format!("v{v}")]
        );
    }
    let newest = open(&s, "doc");
    assert_eq!(newest.load_json().expect("load"), Some(json!({"v": 3})));
    assert_eq!(newest.versions(), [1, 2, 3]);
    for v in 1..=3 {
        let old = newest.version(v).expect("read").expect("held");
        assert_eq!(old.config().file_paths, [format!("v{v}")]);
        assert_eq!(old.load_json().expect("load"), Some(json!({ "v": v })));
    }
    assert!(newest.version(4).expect("read").is_none());
    let resaved = newest
        .resave(Content::Json(&json!({"v": 4})))
        .expect("resave");
    assert_eq!(
        resaved.config().file_paths,
        ["latest", "v4"],
        "a resave takes the next version"
    );
}

#[test]
fn metadata_is_rewritten_and_user_data_kept() {
    let s = store();
    let sp = spec("counter", FileType::json(), vec![PathHandler::latest()]);
    let f = save(&s, &sp, Content::Json(&json!({"v": 1}))).expect("save");
    f.update_data(json!({"author": "dinis"}).as_object().expect("map").clone())
        .expect("data");
    open(&s, "counter")
        .add_tags(["reviewed", "q1", "reviewed"])
        .expect("tags");
    let f = save(&s, &sp, Content::Json(&json!({"v": 2, "extra": "longer"}))).expect("update");
    let m = f.metadata().expect("metadata").clone();
    let content = f.bytes().expect("bytes").expect("exists");
    assert_eq!(m.content_hash, memory_fs_file::content_hash(&content));
    assert_eq!(m.content_size, content.len() as u64);
    assert_eq!(m.tags, ["reviewed", "q1"]);
    assert_eq!(m.data["author"], "dinis");
}

#[test]
fn empty_content_is_a_real_file() {
    let s = store();
    let f = save(
        &s,
        &spec("empty", FileType::text(), vec![PathHandler::latest()]),
        Content::Text(""),
    )
    .expect("save");
    assert!(f.exists().expect("exists"));
    assert_eq!(f.load_text().expect("load").as_deref(), Some(""));
    assert_eq!(f.metadata().expect("m").content_hash, "d41d8cd98f");
}

#[test]
fn tampered_content_is_reported_with_its_path() {
    let s = store();
    let sp = spec("doc", FileType::text(), vec![PathHandler::latest()]);
    save(&s, &sp, Content::Text("original")).expect("save");
    // Content and metadata both rewritten by someone else: the metadata key no longer
    // agrees with the record or the content.
    s.file_save(&SafePath::new("latest/doc.txt").expect("key"), b"tampered")
        .expect("tamper");
    s.file_save(
        &SafePath::new("latest/doc.txt.metadata").expect("key"),
        text_of(&s, "latest/doc.txt.metadata")
            .replace("919c8b643b", "0000000000")
            .as_bytes(),
    )
    .expect("tamper");
    let err = open(&s, "doc").load_text().expect_err("mismatch");
    insta::assert_snapshot!(err.to_string(), @"content latest/doc.txt does not match its metadata: hash 07b218b924 where 0000000000 was recorded (File::bytes_unverified reads it anyway)");
    let placed = Placed::new(s.clone(), open(&s, "doc").config().clone());
    assert_eq!(
        placed.bytes_unverified().expect("raw").as_deref(),
        Some(&b"tampered"[..])
    );
}

#[test]
fn content_rewritten_without_its_metadata_is_stale_and_repairable() {
    let s = store();
    let sp = spec("counter", FileType::json(), vec![PathHandler::latest()]);
    save(&s, &sp, Content::Json(&json!({"n": 1}))).expect("save");
    // What the Python package's update() does: the content only.
    s.file_save(
        &SafePath::new("latest/counter.json").expect("key"),
        b"{\n  \"n\": 2\n}",
    )
    .expect("rewrite");
    let f = open(&s, "counter");
    let err = f.load_json().expect_err("stale");
    assert!(matches!(err, FileError::StaleMetadata { .. }), "{err}");
    insta::assert_snapshot!(err.to_string(), @"content latest/counter.json was changed without its metadata (hash 033076bbd2, the metadata says d65f8f3719): another program rewrote it — the Python package's update() leaves the metadata stale — or it is damaged; if the content is right, `memory-fs verify --repair counter` re-hashes it");
    let problems = f.verify().expect("verify");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "latest/counter.json");
    let fixed = f.repair().expect("repair");
    assert_eq!(fixed.len(), 1);
    let f = open(&s, "counter");
    assert_eq!(f.load_json().expect("load"), Some(json!({"n": 2})));
    assert!(f.verify().expect("verify").is_empty());
}

#[test]
fn corrupt_config_and_metadata_are_clear_errors() {
    let err = FileConfig::from_json("latest/x.json.config", b"{not json").expect_err("corrupt");
    assert!(
        matches!(err, FileError::CorruptConfig { ref path, .. } if path == "latest/x.json.config"),
        "{err}"
    );
    let err = FileConfig::from_json("c", br#"{"file_id": "a b", "file_type": {"name": "json", "content_type": "x", "file_extension": "json", "encoding": "utf-8", "serialization": "json"}}"#)
        .expect_err("bad id");
    assert!(matches!(err, FileError::CorruptConfig { .. }), "{err}");
    let err = FileConfig::from_json("c", br#"{"file_id": "a", "file_type": {"name": "x", "content_type": "x", "file_extension": "x", "encoding": "klingon", "serialization": "json"}}"#)
        .expect_err("bad encoding");
    assert!(matches!(err, FileError::CorruptConfig { .. }), "{err}");
    let s = store();
    let sp = spec(
        "doc",
        FileType::text(),
        vec![PathHandler::latest(), PathHandler::custom("b")],
    );
    save(&s, &sp, Content::Text("x")).expect("save");
    s.file_save(
        &SafePath::new("latest/doc.txt.metadata").expect("key"),
        b"[1,2",
    )
    .expect("corrupt");
    let placed = Placed::new(s.clone(), open(&s, "doc").config().clone());
    assert!(matches!(
        placed.metadata(),
        Err(FileError::CorruptMetadata { .. })
    ));
    let problems = open(&s, "doc").verify().expect("verify");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "latest/doc.txt.metadata");
    // The record knows what the metadata said, so reading by id is unaffected.
    assert_eq!(
        open(&s, "doc").load_text().expect("load").as_deref(),
        Some("x")
    );
    // A save moving the file to a folder it was in, whose metadata is damaged, names it.
    let other = spec("doc", FileType::text(), vec![PathHandler::custom("b")]);
    save(&s, &other, Content::Text("y")).expect("save in b");
    let err = save(&s, &sp, Content::Text("z")).expect_err("latest's metadata is damaged");
    assert!(matches!(err, FileError::CorruptMetadata { .. }), "{err}");
    assert_eq!(
        text_of(&s, "latest/doc.txt.metadata"),
        "[1,2",
        "nothing overwritten"
    );
}

#[test]
fn exists_strategies_and_delete_report() {
    let s = store();
    let handlers = vec![PathHandler::latest(), PathHandler::custom("backup")];
    let with = |strategy| {
        FileSpec::new(FileId::new("doc").expect("id"), FileType::text())
            .handlers(handlers.clone())
            .exists_strategy(strategy)
    };
    save(&s, &with(ExistsStrategy::First), Content::Text("x")).expect("save");
    s.file_delete(&SafePath::new("backup/doc.txt").expect("key"))
        .expect("delete one copy");
    for (strategy, exists) in [
        (ExistsStrategy::First, true),
        (ExistsStrategy::Any, true),
        (ExistsStrategy::All, false),
    ] {
        let config = FileConfig::new(FileId::new("doc").expect("id"), FileType::text())
            .with_paths(["latest", "backup"])
            .with_exists_strategy(strategy);
        assert_eq!(
            Placed::new(s.clone(), config).exists().expect("exists"),
            exists,
            "{strategy:?}"
        );
    }
    let report = open(&s, "doc").delete().expect("delete");
    let deleted: Vec<&str> = report.deleted.iter().map(SafePath::as_str).collect();
    assert_eq!(
        deleted,
        [
            "backup/doc.txt",
            "backup/doc.txt.config",
            "backup/doc.txt.metadata",
            "latest/doc.txt",
            "latest/doc.txt.config",
            "latest/doc.txt.metadata"
        ]
    );
    assert!(
        s.files_paths(None).expect("list").is_empty(),
        "the record went too"
    );
    assert!(
        File::open(s.clone(), &FileId::new("doc").expect("id"))
            .expect("open")
            .is_none()
    );
}

#[test]
fn create_if_absent_never_overwrites() {
    let s = store();
    let sp = spec("new", FileType::text(), vec![PathHandler::latest()]);
    let declared = File::create(s.clone(), clock(), &sp, Create::Config).expect("declare");
    assert_eq!(
        keys(&declared),
        [
            "latest/new.txt",
            "latest/new.txt.config",
            "latest/new.txt.metadata"
        ]
    );
    assert_eq!(
        declared.load_text().expect("load"),
        None,
        "declared, no content yet"
    );
    let err =
        File::create(s.clone(), clock(), &sp, Create::Both(Content::Text("x"))).expect_err("taken");
    insta::assert_snapshot!(err.to_string(), @r#"file "new" already exists"#);
    let only = spec("only", FileType::text(), vec![PathHandler::latest()]);
    let f = File::create(
        s.clone(),
        clock(),
        &only,
        Create::Content(Content::Text("body")),
    )
    .expect("content only");
    assert_eq!(f.load_text().expect("load").as_deref(), Some("body"));
    assert!(
        !s.file_exists(&SafePath::new("latest/only.txt.config").expect("key"))
            .expect("exists")
    );
    let both = spec("both", FileType::text(), vec![PathHandler::latest()]);
    File::create(s.clone(), clock(), &both, Create::Both(Content::Text("b"))).expect("both");
    assert_eq!(text_of(&s, "latest/both.txt"), "b");
    assert!(matches!(
        File::create(s.clone(), clock(), &both, Create::Config),
        Err(FileError::AlreadyExists { .. })
    ));
    assert_eq!(text_of(&s, "latest/both.txt"), "b", "nothing overwritten");
}
