//! The file layer end to end on the memory provider: formats (snapshots), every
//! operation, and the errors.

use std::sync::Arc;

use memory_fs_file::{
    Encoding, ExistsStrategy, File, FileConfig, FileError, FileId, FileType, FixedClock,
    PathHandler, Serialization,
};
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;
use serde::{Deserialize, Serialize};
use serde_json::json;

const NOW: i64 = 1_795_393_179_295; // 2026-11-23T00:59:39.295Z

fn store() -> Arc<MemoryStorage> {
    Arc::new(MemoryStorage::new())
}

fn file(storage: &Arc<MemoryStorage>, id: &str, ty: FileType, handlers: Vec<PathHandler>) -> File {
    File::builder(storage.clone(), FileId::new(id).expect("id"), ty)
        .handlers(handlers)
        .clock(Arc::new(FixedClock(NOW)))
        .build()
        .expect("file")
}

fn text_of(storage: &MemoryStorage, key: &str) -> String {
    storage
        .file_str(&SafePath::new(key).expect("key"))
        .expect("load")
        .expect("exists")
}

#[test]
fn json_file_bytes() {
    let s = store();
    let f = file(
        &s,
        "user-profile",
        FileType::json(),
        vec![PathHandler::latest()],
    );
    let written = f.save_json(&json!({"name": "Alice", "score": 9.75, "big": 1e20, "greeting": "olá 😀", "empty": []})).expect("save");
    let keys: Vec<&str> = written.iter().map(SafePath::as_str).collect();
    assert_eq!(
        keys,
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
        let f = file(&s, &format!("t{i}"), t.clone(), vec![PathHandler::latest()]);
        match t.serialization {
            Serialization::Json => {
                f.save_json(&json!({"i": i})).expect("save");
                assert_eq!(f.load_json().expect("load"), Some(json!({"i": i})));
            }
            Serialization::String => {
                f.save_text("<p>é</p>").expect("save");
                assert_eq!(f.load_text().expect("load").as_deref(), Some("<p>é</p>"));
            }
            _ => {
                f.save_bytes(&[0, 255, i as u8]).expect("save");
                assert_eq!(f.load_bytes().expect("load"), Some(vec![0, 255, i as u8]));
            }
        }
        let expected_files = if t.content_only() { 1 } else { 3 };
        assert_eq!(
            f.paths().expect("paths").len(),
            expected_files,
            "{}",
            t.name
        );
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
        let f = file(&s, &format!("f{i}"), ty, vec![]);
        match kind {
            "json" => f.save_json(&json!({"i": i, "ok": true})),
            "text" => f.save_text("line é\n"),
            _ => f.save_bytes(&[0x89, b'P', 0, 255]),
        }
        .expect("save");
        for key in f.paths().expect("paths") {
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
    let f = file(&s, "report", FileType::data(), vec![PathHandler::latest()]);
    let r = Report {
        title: "Q1".into(),
        pages: 3,
        ratio: 0.25,
        tags: vec!["a".into()],
    };
    f.save_typed(&r).expect("save");
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
    let f = file(&s, "encoded", b64, vec![]);
    f.save_bytes(b"\x00\x01binary\xfe\xff").expect("save");
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
        let f = file(&s, &format!("enc-{}", enc.name()), ty, vec![]);
        f.save_text("café €?")
            .map(|_| ())
            .or_else(|e| {
                if enc == Encoding::Latin1 {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .expect("save");
        if enc != Encoding::Latin1 {
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
    let err = file(&s, "ascii", ascii, vec![])
        .save_text("naïve")
        .expect_err("not ascii");
    insta::assert_snapshot!(err.to_string(), @"cannot encode as ascii: 'ï' (U+00EF) has no representation");
    let latin = FileType::custom(
        "text",
        "text/plain",
        "txt",
        Some(Encoding::Latin1),
        Serialization::String,
    );
    let err = file(&s, "latin", latin, vec![])
        .save_text("€")
        .expect_err("not latin-1");
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
    let err = file(&s, "j", FileType::json(), vec![])
        .save_text("x")
        .expect_err("json takes json");
    insta::assert_snapshot!(err.to_string(), @"cannot serialize j: a json file (Json serialization) does not take text");
    assert!(
        file(&s, "p", FileType::png(), vec![])
            .save_json(&json!(1))
            .is_err()
    );
    assert!(
        file(&s, "t", FileType::text(), vec![])
            .save_bytes(b"x")
            .is_err()
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
    let f = File::builder(s.clone(), FileId::new(id).expect("id"), FileType::json())
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
        .key("users/team-a")
        .clock(Arc::new(FixedClock(NOW)))
        .build()
        .expect("file");
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
    let v1 = file(&s, "doc", FileType::json(), vec![PathHandler::versioned()]);
    assert_eq!(v1.config().file_paths, ["v1"]);
    v1.save_json(&json!({"v": 1})).expect("save v1");
    let v2 = file(&s, "doc", FileType::json(), vec![PathHandler::versioned()]);
    assert_eq!(
        v2.config().file_paths,
        ["v2"],
        "the next version is found from storage"
    );
    v2.save_json(&json!({"v": 2})).expect("save v2");
    let m1 = v1.metadata().expect("m1").expect("exists");
    let m2 = v2.metadata().expect("m2").expect("exists");
    assert_eq!(m2.previous_version_path.as_deref(), Some("v1/doc.json"));
    let c2 = v2.bytes().expect("bytes").expect("exists");
    assert_eq!(
        m2.chain_hash,
        Some(memory_fs_file::chain_hash(m1.chain_hash.as_deref(), &c2))
    );
    let old = File::from_config(
        s.clone(),
        FileConfig::new(FileId::new("doc").expect("id"), FileType::json()).with_paths(["v1"]),
    );
    assert_eq!(old.load_json().expect("load"), Some(json!({"v": 1})));
}

#[test]
fn version_n_reads_that_version_not_the_latest_copy() {
    let s = store();
    for v in 1..=3 {
        let f = file(
            &s,
            "doc",
            FileType::json(),
            vec![PathHandler::latest(), PathHandler::versioned()],
        );
        assert_eq!(
            f.config().file_paths,
            ["latest".to_owned(), format!("v{v}")]
        );
        f.save_json(&json!({ "v": v })).expect("save");
    }
    let newest = file(&s, "doc", FileType::json(), vec![PathHandler::latest()]);
    assert_eq!(newest.load_json().expect("load"), Some(json!({"v": 3})));
    let history = file(
        &s,
        "doc",
        FileType::json(),
        vec![PathHandler::latest(), PathHandler::versioned_at(1)],
    );
    assert_eq!(history.versions().expect("versions"), [1, 2, 3]);
    for v in 1..=3 {
        let old = history.version(v);
        assert_eq!(old.config().file_paths, [format!("v{v}")]);
        assert_eq!(old.load_json().expect("load"), Some(json!({ "v": v })));
    }
    assert_eq!(
        newest.version(1).config().file_paths,
        ["latest"],
        "a file without a versioned folder is unchanged"
    );
}

#[test]
fn metadata_is_rewritten_and_user_data_kept() {
    let s = store();
    let f = file(&s, "counter", FileType::json(), vec![PathHandler::latest()]);
    f.save_json(&json!({"v": 1})).expect("save");
    f.update_data(json!({"author": "dinis"}).as_object().expect("map").clone())
        .expect("data");
    f.add_tags(["reviewed", "q1", "reviewed"]).expect("tags");
    f.save_json(&json!({"v": 2, "extra": "longer"}))
        .expect("update");
    let m = f.metadata().expect("metadata").expect("exists");
    let content = f.bytes().expect("bytes").expect("exists");
    assert_eq!(m.content_hash, memory_fs_file::content_hash(&content));
    assert_eq!(m.content_size, content.len() as u64);
    assert_eq!(m.tags, ["reviewed", "q1"]);
    assert_eq!(m.data["author"], "dinis");
}

#[test]
fn empty_content_is_a_real_file() {
    let s = store();
    let f = file(&s, "empty", FileType::text(), vec![PathHandler::latest()]);
    f.save_text("").expect("save");
    assert!(f.exists().expect("exists"));
    assert_eq!(f.load_text().expect("load").as_deref(), Some(""));
    assert_eq!(
        f.metadata().expect("m").expect("exists").content_hash,
        "d41d8cd98f"
    );
}

#[test]
fn tampered_content_is_reported_with_its_path() {
    let s = store();
    let f = file(&s, "doc", FileType::text(), vec![PathHandler::latest()]);
    f.save_text("original").expect("save");
    s.file_save(&SafePath::new("latest/doc.txt").expect("key"), b"tampered")
        .expect("tamper");
    let err = f.load_text().expect_err("mismatch");
    insta::assert_snapshot!(err.to_string(), @"content latest/doc.txt does not match its metadata: hash 07b218b924 where 919c8b643b was recorded (File::bytes_unverified reads it anyway)");
    assert_eq!(
        f.bytes_unverified().expect("raw").as_deref(),
        Some(&b"tampered"[..])
    );
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
    let f = file(&s, "doc", FileType::text(), vec![PathHandler::latest()]);
    f.save_text("x").expect("save");
    s.file_save(
        &SafePath::new("latest/doc.txt.metadata").expect("key"),
        b"[1,2",
    )
    .expect("corrupt");
    assert!(matches!(
        f.metadata(),
        Err(FileError::CorruptMetadata { .. })
    ));
    assert!(
        matches!(f.save_text("y"), Err(FileError::CorruptMetadata { .. })),
        "a corrupt metadata file is not silently replaced"
    );
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
    let build = |strategy| {
        File::builder(s.clone(), FileId::new("doc").expect("id"), FileType::text())
            .handlers(handlers.clone())
            .exists_strategy(strategy)
            .build()
            .expect("file")
    };
    build(ExistsStrategy::First).save_text("x").expect("save");
    s.file_delete(&SafePath::new("backup/doc.txt").expect("key"))
        .expect("delete one copy");
    assert!(build(ExistsStrategy::First).exists().expect("first"));
    assert!(build(ExistsStrategy::Any).exists().expect("any"));
    assert!(!build(ExistsStrategy::All).exists().expect("all"));
    let report = build(ExistsStrategy::First).delete().expect("delete");
    let deleted: Vec<&str> = report.deleted.iter().map(SafePath::as_str).collect();
    assert_eq!(
        deleted,
        [
            "backup/doc.txt.config",
            "backup/doc.txt.metadata",
            "latest/doc.txt",
            "latest/doc.txt.config",
            "latest/doc.txt.metadata"
        ]
    );
    assert!(s.files_paths(None).expect("list").is_empty());
}
