//! The storage layers beside what they wrap, in one run:
//!
//! - encryption of 64 MiB on one core: the format alone (seal, open from a borrowed
//!   value, open in the value's own buffer as the layer does), and a save plus load
//!   through `Encrypted` over the memory provider, beside the bare memory provider and
//!   a plain `memcpy` of the same bytes; and, for the record, the same 64 KiB chunking
//!   under AES-256-GCM-SIV, AES-256-GCM and XChaCha20-Poly1305 from RustCrypto, into
//!   a buffer allocated once (the cipher alone, no page faults);
//! - zstd on the JSON of the Python fixtures (configs, metadata, contents): the
//!   compression layer's stored size beside the `zstd` command line's at the same level
//!   on the same bytes (printed before the timings; `zstd -b` gives the command line's
//!   speed), and the layer's compress and decompress speed;
//! - a 1 KiB save and load on SQLite: bare, through each value layer alone, through
//!   compression and encryption, and through all three layers.
//!
//! Run: `cargo bench -p memory-fs-tests --bench layers`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use criterion::{BatchSize, Criterion, Throughput};
use memory_fs_storage::layers::audit::Audited;
use memory_fs_storage::layers::compress::Compressed;
use memory_fs_storage::layers::encrypt::{
    CHUNK_SIZE, Encrypted, EncryptionKey, Keyring, TAG_SIZE, open_owned, open_value,
    seal_with_nonce,
};
use memory_fs_storage::{SafePath, Storage};
use memory_fs_storage_memory::MemoryStorage;
use memory_fs_storage_sqlite::{SqliteConfig, SqliteStorage};

const BIG: usize = 64 << 20;
const LEVEL: i32 = 3;

fn key() -> EncryptionKey {
    EncryptionKey::from_bytes([7; 32])
}

fn p(text: &str) -> SafePath {
    SafePath::new(text).expect("valid key")
}

fn encryption(c: &mut Criterion) {
    let data: Vec<u8> = (0..BIG).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect();
    let path = p("big/value");
    let mut g = c.benchmark_group("layers/encrypt_64MiB");
    g.throughput(Throughput::Bytes(BIG as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    g.bench_function("memcpy", |b| b.iter(|| black_box(data.clone())));
    let sealed = seal_with_nonce(&key(), [1; 12], &path, &data).expect("seal");
    let ring = Keyring::new(key());
    g.bench_function("seal", |b| {
        b.iter(|| black_box(seal_with_nonce(&key(), [1; 12], &path, &data).expect("seal")));
    });
    g.bench_function("open", |b| {
        b.iter(|| black_box(open_value(&ring, &path, &sealed).expect("open")));
    });
    g.bench_function("open in place (owned value, as the layer)", |b| {
        b.iter_batched(
            || sealed.clone(),
            |stored| black_box(open_owned(&ring, &path, stored).expect("open")),
            BatchSize::LargeInput,
        );
    });
    let bare = MemoryStorage::new();
    g.bench_function("memory save+load", |b| {
        b.iter(|| {
            bare.file_save(&path, &data).expect("save");
            black_box(bare.file_bytes(&path).expect("load"))
        });
    });
    let encrypted = Encrypted::new(MemoryStorage::new(), key());
    g.bench_function("encrypted memory save+load", |b| {
        b.iter(|| {
            encrypted.file_save(&path, &data).expect("save");
            black_box(encrypted.file_bytes(&path).expect("load"))
        });
    });
    g.finish();

    // The ciphers alone, chunked as the format chunks (64 KiB, a detached tag after
    // each), encrypting into one buffer allocated before the run.
    let mut g = c.benchmark_group("layers/aead_64KiB_chunks_64MiB");
    g.throughput(Throughput::Bytes(BIG as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    let key = [7u8; 32];
    let mut out = Vec::with_capacity(BIG + BIG / CHUNK_SIZE * TAG_SIZE + TAG_SIZE);
    chunked(
        &aes_gcm_siv::Aes256GcmSiv::new(&key.into()),
        &data,
        &mut out,
    );
    g.bench_function("AES-256-GCM-SIV", |b| {
        let cipher = aes_gcm_siv::Aes256GcmSiv::new(&key.into());
        b.iter(|| chunked(&cipher, &data, &mut out));
    });
    g.bench_function("AES-256-GCM", |b| {
        let cipher = aes_gcm::Aes256Gcm::new(&key.into());
        b.iter(|| chunked(&cipher, &data, &mut out));
    });
    g.bench_function("XChaCha20-Poly1305", |b| {
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(&key.into());
        b.iter(|| chunked(&cipher, &data, &mut out));
    });
    g.finish();
}

/// Encrypts `data` in 64 KiB chunks with `cipher` into `out` (cleared, its capacity
/// kept), each chunk under its own nonce and followed by its tag.
fn chunked<C: AeadInOut>(cipher: &C, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for (i, piece) in data.chunks(CHUNK_SIZE).enumerate() {
        let mut nonce = Nonce::<C>::default();
        nonce[..4].copy_from_slice(&(i as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(piece);
        let tag = cipher
            .encrypt_inout_detached(&nonce, b"key/path", (&mut out[start..]).into())
            .expect("encrypt");
        out.extend_from_slice(&tag);
    }
    black_box(&out);
}

/// Every JSON file of the Python fixtures (configs, metadata, JSON contents).
fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/python-memory-fs");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("the Python fixtures") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["json", "config", "metadata"].contains(&e))
            {
                let bytes = std::fs::read(&path).expect("read");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Bytes the `zstd` command line writes for `file` at `LEVEL`, if it is installed.
fn zstd_cli_size(file: &Path) -> Option<usize> {
    let out = std::process::Command::new("zstd")
        .args([format!("-{LEVEL}").as_str(), "-q", "-c"])
        .arg(file)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len())
}

fn compression(c: &mut Criterion) {
    let files = corpus();
    let whole: Vec<u8> = files.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let whole_file = dir.path().join("corpus.json");
    std::fs::write(&whole_file, &whole).expect("write corpus");

    // Ratios, on the same bytes at the same level: the corpus as one value, and each
    // file as its own value (as a store holds them).
    let raw = Arc::new(MemoryStorage::new());
    let layer = Compressed::new(Arc::clone(&raw))
        .with_level(LEVEL)
        .expect("level");
    layer.file_save(&p("corpus"), &whole).expect("save");
    let layer_whole = raw
        .file_bytes(&p("corpus"))
        .expect("read")
        .map_or(0, |v| v.len());
    let (mut layer_each, mut cli_each) = (0, 0);
    for (i, (path, bytes)) in files.iter().enumerate() {
        let key = p(&format!("f/{i}"));
        layer.file_save(&key, bytes).expect("save");
        layer_each += raw.file_bytes(&key).expect("read").map_or(0, |v| v.len());
        cli_each += zstd_cli_size(path).unwrap_or(0);
    }
    match zstd_cli_size(&whole_file) {
        Some(cli_whole) => println!(
            "zstd -{LEVEL} on {} JSON files ({} bytes): as one value, layer {layer_whole} B \
             (ratio {:.3}), CLI {cli_whole} B (ratio {:.3}); file by file, layer {layer_each} B \
             (ratio {:.3}), CLI {cli_each} B (ratio {:.3})",
            files.len(),
            whole.len(),
            whole.len() as f64 / layer_whole as f64,
            whole.len() as f64 / cli_whole as f64,
            whole.len() as f64 / layer_each as f64,
            whole.len() as f64 / cli_each as f64,
        ),
        None => println!("SKIP the zstd command line comparison: `zstd` is not installed"),
    }

    let mut g = c.benchmark_group("layers/zstd_corpus");
    g.throughput(Throughput::Bytes(whole.len() as u64));
    g.bench_function("compress (layer save)", |b| {
        b.iter(|| {
            layer
                .file_save(&p("corpus"), black_box(&whole))
                .expect("save")
        });
    });
    g.bench_function("decompress (layer load)", |b| {
        b.iter(|| black_box(layer.file_bytes(&p("corpus")).expect("load")));
    });
    g.bench_function("memory provider save (no layer)", |b| {
        b.iter(|| raw.file_save(&p("plain"), black_box(&whole)).expect("save"));
    });
    g.finish();
}

fn sqlite(dir: &Path, name: &str) -> SqliteStorage {
    SqliteStorage::with_config(SqliteConfig::file(dir.join(name)).synchronous_normal())
        .expect("open sqlite")
}

fn small_values(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let value: Vec<u8> = br#"{"id": 42, "name": "a small JSON value", "tags": ["x", "y"]} "#
        .iter()
        .copied()
        .cycle()
        .take(1024)
        .collect();
    let keys: Vec<SafePath> = (0..1000)
        .map(|i| p(&format!("small/{i:04}.json")))
        .collect();
    let stores: Vec<(&str, Box<dyn Storage>)> = vec![
        ("sqlite", Box::new(sqlite(dir.path(), "bare.db"))),
        (
            "sqlite+compress",
            Box::new(Compressed::new(sqlite(dir.path(), "c.db"))),
        ),
        (
            "sqlite+encrypt",
            Box::new(Encrypted::new(sqlite(dir.path(), "e.db"), key())),
        ),
        (
            "sqlite+compress+encrypt",
            Box::new(Compressed::new(Encrypted::new(
                sqlite(dir.path(), "ce.db"),
                key(),
            ))),
        ),
        (
            "sqlite+audit+compress+encrypt",
            Box::new(Audited::new(
                Compressed::new(Encrypted::new(sqlite(dir.path(), "ace.db"), key())),
                "bench",
            )),
        ),
    ];
    let mut g = c.benchmark_group("layers/sqlite_1KiB");
    for (name, store) in &stores {
        let mut i: u64 = 0;
        let mut value = value.clone();
        g.bench_function(format!("{name} save+load"), |b| {
            b.iter(|| {
                let key = &keys[i as usize % keys.len()];
                i += 1;
                // A new value every save, as an application writes: rewriting the
                // same bytes is cheaper for SQLite and would flatter the bare store.
                value[..20].copy_from_slice(format!("{i:020}").as_bytes());
                store.file_save(key, &value).expect("save");
                black_box(store.file_bytes(key).expect("load"))
            });
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    encryption(&mut c);
    compression(&mut c);
    small_values(&mut c);
    c.final_summary();
}
