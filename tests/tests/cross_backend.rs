//! One end-to-end scenario on every backend (memory, disk, SQLite on file and in
//! memory, S3 on the in-process server): identical listings and identical bytes; and a
//! store copied key by key from any backend to any other reads back identically.

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

    let notes = fs
        .file_at(
            "notes",
            FileType::markdown(),
            [PathHandler::temporal_with_areas(["team"])],
        )
        .expect("notes");
    notes
        .save_text("# Notes\n\nÜmlauts — and emoji 🦀\n")
        .expect("text");

    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    fs.file_at("blob", FileType::binary(), [PathHandler::latest()])
        .expect("blob")
        .save_bytes(&blob)
        .expect("binary");
    fs.file_at(
        "pixel",
        FileType::png(),
        [PathHandler::custom("images/icons")],
    )
    .expect("png")
    .save_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
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

    for v in 1..=3 {
        let doc = fs
            .file_at(
                "contract",
                FileType::text(),
                [PathHandler::latest(), PathHandler::versioned()],
            )
            .expect("contract");
        assert_eq!(
            doc.config().file_paths,
            ["latest".to_owned(), format!("v{v}")]
        );
        doc.save_text(&format!("contract, revision {v}\n"))
            .expect("version");
    }

    let mut data = Map::new();
    data.insert("owner".into(), json!("ops"));
    fs.edit().data(&json_cfg, data).expect("edit data");
    fs.edit().tags(&json_cfg, ["prod", "eu"]).expect("tags");

    let doomed = fs
        .file_at("doomed", FileType::text(), [PathHandler::latest()])
        .expect("doomed");
    doomed.save_text("soon gone").expect("save");
    assert_eq!(fs.delete().id("doomed").expect("delete").deleted.len(), 3);
    assert!(fs.delete().id("doomed").expect_err("gone").is_not_found());
}

/// What a store holds: its logical listing and every key's bytes.
#[derive(Debug, PartialEq)]
struct Snapshot {
    listing: Vec<(String, String, Vec<String>)>,
    keys: BTreeMap<String, Vec<u8>>,
}

fn snapshot(fs: &MemoryFs) -> Snapshot {
    let listing = fs
        .list(None)
        .expect("list")
        .iter()
        .map(|t| {
            let c = t.config();
            (
                c.file_id.as_str().to_owned(),
                c.file_type.name.clone(),
                c.file_paths.clone(),
            )
        })
        .collect();
    let keys = fs
        .keys(None)
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
    Snapshot { listing, keys }
}

/// Reads every logical file back through the facade, checking hashes on the way.
fn read_back(fs: &MemoryFs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for target in fs.list(None).expect("list") {
        let file = target.file();
        let id = target.config().file_id.as_str().to_owned();
        let shown = match target.config().file_type.serialization {
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
                "contract",
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
        let contract =
            b.fs.find("contract")
                .expect("find")
                .into_iter()
                .map(|t| t.file().clone())
                .find(|f| f.config().file_paths.iter().any(|p| p == "v1"))
                .expect("v1 placement");
        assert_eq!(
            contract.versions().expect("versions"),
            [1, 2, 3],
            "{}",
            b.name
        );
        assert_eq!(
            contract.version(2).load_text().expect("v2").as_deref(),
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
fn a_store_copied_key_by_key_reads_back_identically_on_every_pair() {
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
                .copy_to(&destination.fs, None, |done, total, _| {
                    calls += 1;
                    assert!(done <= total);
                })
                .expect("copy");
            assert_eq!(
                report.keys,
                expected.keys.len(),
                "{} -> {}",
                source.name,
                destination.name
            );
            assert_eq!(calls, expected.keys.len());
            assert_eq!(
                snapshot(&destination.fs),
                expected,
                "{} -> {}: every key, byte for byte",
                source.name,
                destination.name
            );
            assert_eq!(
                read_back(&destination.fs),
                expected_reads,
                "{} -> {}",
                source.name,
                destination.name
            );
        }
    }
}
