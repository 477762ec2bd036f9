//! Streamed saves and loads of logical files on every provider: a streamed save stores
//! exactly what a whole-value save of the same bytes stores (hashes, chain, keys); a
//! reader that fails at any chunk boundary, and a store that fails its k-th write (once,
//! or for good) at every k, leave the previous version loadable; nothing staged is left
//! behind once the store is recovered.

mod common;

use std::io::Read;
use std::sync::Arc;

use memory_fs::{
    Catalog, Clock, Content, File, FileError, FileId, FileSpec, FileType, FixedClock, PathHandler,
    SafePath, Serialization, Storage, StorageErrorKind as ErrorKind,
};
use memory_fs_storage::CHUNK;
use memory_fs_storage::testkit::{Fault, Faulty};

/// 2026-12-01 12:00:00 UTC.
const NOW: i64 = 1_796_126_400_000;

fn clock(ms: i64) -> Arc<dyn Clock> {
    Arc::new(FixedClock(ms))
}

fn id(s: &str) -> FileId {
    FileId::new(s).expect("id")
}

/// A binary file kept in three folders: latest, temporal and versioned.
fn blob(ty: FileType) -> FileSpec {
    FileSpec::new(id("blob"), ty).handlers([
        PathHandler::latest(),
        PathHandler::temporal(),
        PathHandler::versioned(),
    ])
}

fn base64_type() -> FileType {
    FileType {
        name: "base64".into(),
        serialization: Serialization::Base64,
        ..FileType::binary()
    }
}

/// `len` bytes of a pattern that differs for each `seed`.
fn bytes(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

/// A reader yielding `data` in odd-sized pieces, then failing (`fail`) or ending.
struct Source<'a> {
    data: &'a [u8],
    fail: bool,
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return if self.fail {
                Err(std::io::Error::other("the upload was cut"))
            } else {
                Ok(0)
            };
        }
        let n = buf.len().min(self.data.len()).min(300_007);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn streamed(storage: &Arc<dyn Storage>, spec: &FileSpec, ms: i64, data: &[u8]) -> File {
    File::save_from(
        storage.clone(),
        clock(ms),
        spec,
        &mut Source { data, fail: false },
    )
    .expect("streamed save")
}

/// Every key of the store with its bytes, reserved keys included.
fn dump(storage: &Arc<dyn Storage>) -> Vec<(String, Vec<u8>)> {
    storage
        .files_paths(None)
        .expect("list")
        .into_iter()
        .map(|k| {
            let v = storage.file_bytes(&k).expect("read").expect("listed");
            (k.to_string(), v)
        })
        .collect()
}

fn staged_keys(storage: &Arc<dyn Storage>) -> Vec<SafePath> {
    storage
        .files_paths(Some(&SafePath::new(".memory-fs/tx").expect("key")))
        .expect("list")
}

fn load(file: &File) -> Vec<u8> {
    let mut out = Vec::new();
    let n = file.load_to(&mut out).expect("load").expect("content");
    assert_eq!(n, out.len() as u64);
    out
}

/// A streamed save stores byte for byte what a whole-value save stores, for a binary
/// and a base64 type, over three versions (so the chain continues through streams).
fn same_as_whole_saves(provider: &'static str) {
    for ty in [FileType::binary(), base64_type()] {
        let whole = common::store(provider);
        let stream = common::store(provider);
        let spec = blob(ty.clone());
        for v in 0..3u32 {
            let data = bytes(CHUNK + 1000 * v as usize + 7, v);
            let ms = NOW + i64::from(v) * 60_000;
            File::save_with_clock(
                whole.storage.clone(),
                clock(ms),
                &spec,
                Content::Bytes(&data),
            )
            .expect("save");
            let file = streamed(&stream.storage, &spec, ms, &data);
            assert!(
                load(&file) == data,
                "{provider} {}: v{v} loads back",
                ty.name
            );
            assert!(
                file.load_bytes().expect("load").expect("content") == data,
                "{provider}: the whole-value read agrees"
            );
        }
        assert!(
            dump(&whole.storage) == dump(&stream.storage),
            "{provider} {}: the stores differ",
            ty.name
        );
        let file = File::open(stream.storage.clone(), &id("blob"))
            .expect("open")
            .expect("blob");
        assert_eq!(file.versions(), [1, 2, 3]);
        assert!(file.verify_chain().expect("chain").is_empty());
        assert!(
            staged_keys(&stream.storage).is_empty(),
            "nothing left staged"
        );
    }
}

/// Ranges of a streamed content, for a binary and a base64 type.
fn ranges(provider: &'static str) {
    for ty in [FileType::binary(), base64_type()] {
        let store = common::store(provider);
        let data = bytes(CHUNK + 4321, 9);
        let file = streamed(&store.storage, &blob(ty.clone()), NOW, &data);
        let len = data.len() as u64;
        for (offset, want) in [
            (0, 1),
            (1, 5),
            (2, 3),
            (CHUNK as u64 - 1, 9),
            (len - 2, 10),
            (len, 4),
        ] {
            let got = file
                .load_range(offset, want)
                .expect("range")
                .expect("content");
            let (start, end) = (offset.min(len) as usize, (offset + want).min(len) as usize);
            assert!(
                got == data[start..end],
                "{provider} {} range {offset}+{want}",
                ty.name
            );
        }
    }
}

/// A reader that fails at any chunk boundary (and between) leaves the last version as
/// it was, and nothing staged.
fn failing_readers(provider: &'static str) {
    let store = common::store(provider);
    let spec = blob(FileType::binary());
    let old = bytes(CHUNK + 10, 1);
    streamed(&store.storage, &spec, NOW, &old);
    let before = dump(&store.storage);
    let new = bytes(3 * CHUNK + 99, 2);
    for cut in [
        0,
        1,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK,
        3 * CHUNK,
        new.len(),
    ] {
        let err = File::save_from(
            store.storage.clone(),
            clock(NOW + 1),
            &spec,
            &mut Source {
                data: &new[..cut],
                fail: true,
            },
        )
        .expect_err("the reader fails");
        assert!(
            matches!(&err, FileError::Storage(e) if e.kind() == ErrorKind::Input),
            "{provider} cut at {cut}: {err}"
        );
        assert!(
            dump(&store.storage) == before,
            "{provider} cut at {cut}: the store changed"
        );
    }
    let file = File::open(store.storage.clone(), &id("blob"))
        .expect("open")
        .expect("blob");
    assert!(load(&file) == old);
}

/// Text and JSON types are refused before anything is read.
fn values_are_not_streamed(provider: &'static str) {
    let store = common::store(provider);
    let mut untouched = Source {
        data: b"{}",
        fail: false,
    };
    for ty in [FileType::json(), FileType::text()] {
        let err = File::save_from(store.storage.clone(), clock(NOW), &blob(ty), &mut untouched)
            .expect_err("refused");
        assert!(matches!(err, FileError::Serialization { .. }), "{err}");
    }
    assert_eq!(untouched.data, b"{}", "nothing was read");
    assert!(store.storage.files_paths(None).expect("list").is_empty());
}

/// A streamed save with the store failing its `k`-th write, once or for good, for
/// every k: a reader then sees the old or the new version, recovery leaves the store
/// clean with nothing staged, and the next streamed save commits.
fn faults_at_every_write(provider: &'static str) {
    let spec = blob(FileType::binary());
    let old = bytes(1000, 3);
    let new = bytes(64 * 1024 + 5, 4);
    let setup = |storage: &Arc<dyn Storage>| {
        streamed(storage, &spec, NOW, &old);
    };
    let save = |storage: &Arc<dyn Storage>| {
        File::save_from(
            storage.clone(),
            clock(NOW + 60_000),
            &spec,
            &mut Source {
                data: &new,
                fail: false,
            },
        )
    };
    let reference = common::store(provider);
    setup(&reference.storage);
    let counting = Arc::new(Faulty::new(reference.storage.clone(), 0, Fault::Error));
    let through: Arc<dyn Storage> = counting.clone();
    save(&through).expect("the save without faults");
    let writes = counting.writes();
    assert!(
        writes >= 2,
        "{provider}: {writes} writes: the stream and the commit"
    );
    for fault in [Fault::Error, Fault::Crash] {
        // Every k is its own store: run them side by side.
        let run = |k: usize| {
            let store = common::store(provider);
            setup(&store.storage);
            let faulty = Arc::new(Faulty::new(store.storage.clone(), k, fault));
            let through: Arc<dyn Storage> = faulty.clone();
            let outcome = save(&through);
            let case = format!("{provider} {fault:?} k={k} of {writes}");
            assert_eq!(faulty.tripped(), k <= writes, "{case}");
            let seen = |when: &str| {
                let file = File::open(store.storage.clone(), &id("blob"))
                    .unwrap_or_else(|e| panic!("{case} {when}: {e}"))
                    .unwrap_or_else(|| panic!("{case} {when}: the file is gone"));
                let got = load(&file);
                if outcome.is_ok() {
                    assert!(got == new, "{case} {when}: acknowledged but not there");
                } else {
                    assert!(got == old || got == new, "{case} {when}: torn");
                }
            };
            seen("read");
            let catalog = Catalog::new(store.storage.clone(), clock(NOW + 120_000));
            catalog
                .recover()
                .unwrap_or_else(|e| panic!("{case}: recovery: {e}"));
            seen("recovered");
            let report = catalog.verify(None).expect("verify");
            assert!(report.problems.is_empty(), "{case}: {:?}", report.problems);
            assert!(
                staged_keys(&store.storage).is_empty(),
                "{case}: left staged: {:?}",
                staged_keys(&store.storage)
            );
            let file = File::open(store.storage.clone(), &id("blob"))
                .expect("open")
                .expect("blob");
            assert!(file.verify_chain().expect("chain").is_empty(), "{case}");
            save(&store.storage).unwrap_or_else(|e| panic!("{case}: the next save: {e}"));
        };
        let ks: Vec<usize> = (1..=writes + 1).collect();
        std::thread::scope(|s| {
            for chunk in ks.chunks(ks.len().div_ceil(4)) {
                s.spawn(|| chunk.iter().for_each(|&k| run(k)));
            }
        });
        eprintln!("{provider} {fault:?}: checked k = 1..={writes}");
    }
}

macro_rules! on_every_provider {
    ($($case:ident)*) => {
        $(
            mod $case {
                #[test]
                fn memory() {
                    super::$case("memory");
                }
                #[test]
                fn disk() {
                    super::$case("disk");
                }
                #[test]
                fn sqlite() {
                    super::$case("sqlite");
                }
                #[test]
                fn s3() {
                    super::$case("s3");
                }
            }
        )*
    };
}

on_every_provider!(same_as_whole_saves ranges failing_readers values_are_not_streamed faults_at_every_write);
