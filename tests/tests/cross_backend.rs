//! One end-to-end scenario on every backend (memory, disk, SQLite on file and in
//! memory, S3 on the in-process server): identical listings, identical bytes and
//! identical records; and a store copied from any backend to any other — file by file,
//! or key by key — reads back identically.

use std::collections::BTreeMap;
use std::sync::Arc;

use memory_fs::prelude::*;
use memory_fs::s3::testing::TestServer;
use memory_fs::{FixedClock, Serialization, StoreUrl};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

/// 2026-11-24 18:00:00 UTC: fixes temporal folders and metadata timestamps.
const NOW: i64 = 1_795_543_200_000;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Invoice {
    number: u32,
    lines: Vec<(String, f64)>,
    paid: bool,
}

/// A store under test, and what keeps it alive.
struct Backend {
    name: &'static str,
    fs: MemoryFs,
    _keep: Box<dyn std::any::Any>,
}

fn backends() -> Vec<Backend> {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let server = TestServer::start().expect("s3 test server");
    let open = |url: &str| MemoryFs::open(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let s3_url = format!(
        "s3://{}/cross?endpoint={}&region={}&nested_keys=false&conditional_create=false",
        server.bucket, server.endpoint, server.region
    );
    let StoreUrl::S3(location) = StoreUrl::parse(&s3_url).expect("s3 url") else {
        panic!("not s3");
    };
    let s3 = StoreUrl::S3(location.with_credentials(&server.access_key, &server.secret_key))
        .open()
        .expect("open s3");
    let all = vec![
        Backend {
            name: "memory",
            fs: open("memory://"),
            _keep: Box::new(()),
        },
        Backend {
            name: "disk",
            fs: open(&format!("file://{}", dir.path().join("disk").display())),
            _keep: Box::new(dir.clone()),
        },
        Backend {
            name: "sqlite-file",
            fs: open(&format!(
                "sqlite://{}",
                dir.path().join("store.db").display()
            )),
            _keep: Box::new(dir.clone()),
        },
        Backend {
            name: "sqlite-memory",
            fs: open("sqlite::memory:"),
            _keep: Box::new(()),
        },
        Backend {
            name: "s3",
            fs: s3,
            _keep: Box::new(server),
        },
    ];
    all.into_iter()
        .map(|b| Backend {
            fs: b.fs.with_clock(Arc::new(FixedClock(NOW))),
            ..b
        })
        .collect()
}

/// Runs the scenario: every file type, every handler, edits, versions, a delete.
fn scenario(fs: &MemoryFs) {
    let json_cfg = FileConfig::new(FileId::new("user-settings").expect("id"), FileType::json())
        .with_paths(["config", "backup"]);
    fs.save()
        .json(
            &json_cfg,
            &json!({"username": "zoë", "prefs": {"theme": "dark"}, "n": 1.5}),
        )
        .expect("json");

    let spec = |id: &str, ty: FileType, handlers: Vec<PathHandler>| {
        FileSpec::new(FileId::new(id).expect("id"), ty).handlers(handlers)
    };
    fs.save()
        .text(
            spec(
                "notes",
                FileType::markdown(),
                vec![PathHandler::temporal_with_areas(["team"])],
            ),
            "# Notes\n\nÜmlauts — and emoji 🦀\n",
        )
        .expect("text");

    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    fs.save()
        .bytes(
            spec("blob", FileType::binary(), vec![PathHandler::latest()]),
            &blob,
        )
        .expect("binary");
    fs.save()
        .bytes(
            spec(
                "pixel",
                FileType::png(),
                vec![PathHandler::custom("images/icons")],
            ),
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        )
        .expect("png");

    let invoice = Invoice {
        number: 7,
        lines: vec![("tea".into(), 2.5), ("cake".into(), 4.0)],
        paid: false,
    };
    let invoice_cfg = FileConfig::new(FileId::new("invoice-7").expect("id"), FileType::data())
        .with_paths(["invoices/2026"]);
    fs.save().typed(&invoice_cfg, &invoice).expect("typed");
    assert_eq!(
        fs.load().typed::<Invoice>(&invoice_cfg).expect("load"),
        Some(invoice)
    );

    let contract = spec(
        "contract",
        FileType::text(),
        vec![PathHandler::latest(), PathHandler::versioned()],
    );
    for v in 1..=3 {
        let doc = fs
            .save()
            .text(&contract, &format!("contract, revision {v}\n"))
            .expect("version");
        assert_eq!(
            doc.config().file_paths,
            ["latest".to_owned(), format!("v{v}")]
        );
    }

    let mut data = Map::new();
    data.insert("owner".into(), json!("ops"));
    fs.edit().data(&json_cfg, data).expect("edit data");
    fs.edit().tags(&json_cfg, ["prod", "eu"]).expect("tags");

    fs.save()
        .text(
            spec("doomed", FileType::text(), vec![PathHandler::latest()]),
            "soon gone",
        )
        .expect("save");
    assert_eq!(fs.delete().id("doomed").expect("delete").deleted.len(), 3);
    assert!(fs.delete().id("doomed").expect_err("gone").is_not_found());
}

/// What a store holds: its logical listing, every key's bytes (the library's own keys
/// aside) and every record.
#[derive(Debug, PartialEq)]
struct Snapshot {
    listing: Vec<(String, String, Vec<String>)>,
    keys: BTreeMap<String, Vec<u8>>,
    records: Vec<memory_fs::FileRecord>,
}

fn snapshot(fs: &MemoryFs) -> Snapshot {
    let files = fs.list().expect("list");
    assert!(files.unreadable.is_empty(), "{:?}", files.unreadable);
    let listing = files
        .files
        .iter()
        .map(|f| {
            let info = f.info();
            (
                info.id.as_str().to_owned(),
                info.config.file_type.name.clone(),
                info.folders,
            )
        })
        .collect();
    let records = files.files.iter().map(|f| f.record().clone()).collect();
    let keys = fs
        .keys(None, false)
        .expect("keys")
        .into_iter()
        .map(|k| {
            let bytes = fs
                .storage()
                .file_bytes(&k)
                .expect("bytes")
                .expect("listed key exists");
            (k.as_str().to_owned(), bytes)
        })
        .collect();
    Snapshot {
        listing,
        keys,
        records,
    }
}

/// Reads every logical file back through the facade, checking hashes on the way.
fn read_back(fs: &MemoryFs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in fs.list().expect("list").files {
        let id = file.id().to_string();
        let shown = match file.config().file_type.serialization {
            Serialization::Json => file.load_json().expect("json").expect("exists").to_string(),
            Serialization::String => file.load_text().expect("text").expect("exists"),
            _ => format!(
                "{} bytes",
                file.load_bytes().expect("bytes").expect("exists").len()
            ),
        };
        out.push((id, shown));
    }
    out
}

#[test]
fn the_same_scenario_gives_the_same_store_on_every_backend() {
    let backends = backends();
    let mut reference: Option<(&str, Snapshot)> = None;
    for b in &backends {
        scenario(&b.fs);
        let snap = snapshot(&b.fs);
        assert_eq!(
            snap.listing
                .iter()
                .map(|(id, _, _)| id.as_str())
                .collect::<Vec<_>>(),
            [
                "blob",
                "contract",
                "invoice-7",
                "notes",
                "pixel",
                "user-settings"
            ],
            "{}: listing",
            b.name
        );
        assert_eq!(snap.keys.len(), 30, "{}: key count", b.name);
        match &reference {
            None => reference = Some((b.name, snap)),
            Some((first, expected)) => {
                assert_eq!(
                    snap.listing, expected.listing,
                    "{} vs {first}: listing",
                    b.name
                );
                assert_eq!(
                    snap.records, expected.records,
                    "{} vs {first}: records",
                    b.name
                );
                for (key, bytes) in &expected.keys {
                    assert_eq!(
                        snap.keys.get(key),
                        Some(bytes),
                        "{} vs {first}: {key}",
                        b.name
                    );
                }
                assert_eq!(
                    snap.keys.len(),
                    expected.keys.len(),
                    "{} vs {first}",
                    b.name
                );
            }
        }
        let contract = b.fs.file("contract").expect("contract");
        assert_eq!(contract.versions(), [1, 2, 3], "{}", b.name);
        assert_eq!(
            contract
                .version(2)
                .expect("read")
                .expect("v2")
                .load_text()
                .expect("v2")
                .as_deref(),
            Some("contract, revision 2\n"),
            "{}",
            b.name
        );
        let meta =
            b.fs.data()
                .metadata(
                    &FileConfig::new(FileId::new("user-settings").expect("id"), FileType::json())
                        .with_paths(["backup"]),
                )
                .expect("metadata")
                .expect("exists");
        assert_eq!(meta.tags, ["prod", "eu"], "{}", b.name);
        assert_eq!(meta.data.get("owner"), Some(&json!("ops")), "{}", b.name);
    }
}

#[test]
fn a_store_copied_reads_back_identically_on_every_pair() {
    let sources = backends();
    for source in &sources {
        scenario(&source.fs);
    }
    let expected = snapshot(&sources[0].fs);
    let expected_reads = read_back(&sources[0].fs);
    for source in &sources {
        for destination in backends() {
            let mut calls = 0;
            let report = source
                .fs
                .copy_to(&destination.fs, &Query::new(), |done, total, _| {
                    calls += 1;
                    assert!(done <= total);
                })
                .expect("copy");
            let route = format!("{} -> {}", source.name, destination.name);
            assert_eq!(report.files, expected.listing.len(), "{route}");
            assert_eq!(calls, expected.listing.len());
            let copied = snapshot(&destination.fs);
            assert_eq!(
                copied.keys, expected.keys,
                "{route}: every key, byte for byte"
            );
            assert_eq!(copied.listing, expected.listing, "{route}");
            assert_eq!(read_back(&destination.fs), expected_reads, "{route}");
            assert!(
                destination
                    .fs
                    .verify(None)
                    .expect("verify")
                    .problems
                    .is_empty(),
                "{route}"
            );
        }
    }
    // Key by key (for stores that are not logical files), then a reindex.
    let destination = &backends()[0];
    let (keys, _) = sources[2]
        .fs
        .copy_keys_to(&destination.fs, None, |_, _, _| {})
        .expect("copy keys");
    assert_eq!(keys, expected.keys.len());
    destination.fs.reindex().expect("reindex");
    assert_eq!(read_back(&destination.fs), expected_reads);
}
