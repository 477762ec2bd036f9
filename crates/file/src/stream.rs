//! Streamed saves and loads: a content that need not fit in memory.
//!
//! A streamed save writes the content once, as it arrives, to a staging key under
//! `.memory-fs/tx/` ([`Storage::file_save_from`]), computing its MD5 and the SHA-256
//! chain hashes it may need while the bytes pass. The commit then places it with copies
//! of the staged key ([`Write::Copy`] inside the atomic batch, or copies after the
//! intent), so every rule of the commit protocol holds: a stream that fails part-way
//! leaves the previous version as it was, and a crash at any point leaves the file
//! readable. The chain hash of a version continues from the previous version's, which
//! is known only when the commit is planned; the hashes for every chain the file's
//! record can continue from are computed during the stream, and a commit that finds
//! another (a writer got in between) reads the staged copy once more.
//!
//! [`Storage::file_save_from`]: memory_fs_storage::Storage::file_save_from
//! [`Write::Copy`]: memory_fs_storage::Write::Copy

use std::io::{self, Read, Write};

use md5::{Digest as _, Md5};
use memory_fs_storage::{CHUNK, SafePath, Storage, StorageError};
use sha2::Sha256;

use crate::commit::{self, JOURNALS, Running};
use crate::{Clock, FileError, FileRecord, Result};

/// A content streamed to its staging key, with what was computed as it passed.
#[derive(Debug)]
pub(crate) struct Staged {
    key: SafePath,
    size: u64,
    hash: String,
    /// Chain hashes computed during the stream, by the chain they continue from.
    chains: Vec<(Option<String>, String)>,
    /// Keeps the staging key's commit id marked as running in this process, so no
    /// sweep of leftovers takes the staged copy while it is still needed.
    _running: Running,
}

impl Staged {
    /// The staging key.
    pub(crate) fn key(&self) -> &SafePath {
        &self.key
    }

    /// The content's length.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The content's MD5 hash as the metadata holds it.
    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }

    /// The chain hash continuing from `previous`: computed during the stream when it
    /// was one the record could continue from, else by reading the staged copy again.
    ///
    /// # Errors
    /// Storage errors; [`FileError::Interrupted`] when the staged copy is gone.
    pub(crate) fn chain(&self, storage: &dyn Storage, previous: Option<&str>) -> Result<String> {
        if let Some((_, chain)) = self
            .chains
            .iter()
            .find(|(from, _)| from.as_deref() == previous)
        {
            return Ok(chain.clone());
        }
        let mut hashes = Hashes::new(&[previous.map(str::to_owned)]);
        if !pass(storage, &self.key, &mut hashes, &mut io::sink())? {
            return Err(self.gone());
        }
        let (_, _, mut chains) = hashes.finish();
        Ok(chains.pop().map(|(_, c)| c).unwrap_or_default())
    }

    fn gone(&self) -> FileError {
        FileError::Interrupted {
            id: self.key.to_string(),
            reason: "the staged copy of the new content is gone".into(),
        }
    }
}

/// The chains a save of the file whose record is `before` can continue from: none (a
/// first version), and each chain (or, for an older save without one, content hash)
/// its last save's metadata holds.
pub(crate) fn seeds(before: Option<&FileRecord>) -> Vec<Option<String>> {
    let mut seeds = vec![None];
    if let Some(record) = before {
        for meta in record.head.metadata.iter().flatten() {
            for seed in [
                meta.chain_hash.clone(),
                Some(meta.chain_hash.clone().unwrap_or(meta.content_hash.clone())),
            ] {
                if !seeds.contains(&seed) {
                    seeds.push(seed);
                }
            }
        }
    }
    seeds
}

/// Whether a file of `spec`'s type can be saved from a stream, and whether its
/// content is stored as base64 text of the bytes streamed.
///
/// # Errors
/// [`FileError::Serialization`] for text and JSON types, which are saved from a value.
pub(crate) fn streamable(spec: &crate::FileSpec) -> Result<bool> {
    let ty = spec.file_type();
    match ty.serialization {
        crate::Serialization::Binary => Ok(false),
        crate::Serialization::Base64 => Ok(true),
        other => Err(FileError::Serialization {
            action: "serialize",
            path: spec.id().to_string(),
            detail: format!(
                "a {} file ({other:?} serialization) is saved from a value, not streamed",
                ty.name
            ),
        }),
    }
}

/// [`stage`], base64-encoding what `reader` yields when `base64` is set.
///
/// # Errors
/// As [`stage`].
pub(crate) fn stage_as(
    storage: &dyn Storage,
    clock: &dyn Clock,
    reader: &mut dyn Read,
    base64: bool,
    seeds: &[Option<String>],
) -> Result<Staged> {
    if base64 {
        stage(storage, clock, &mut Base64Reader::new(reader), seeds)
    } else {
        stage(storage, clock, reader, seeds)
    }
}

/// Streams `reader` to a fresh staging key, hashing as the bytes pass, with the chain
/// hashes continuing from each of `seeds`.
///
/// # Errors
/// [`FileError::Storage`] with [`ErrorKind::Input`](memory_fs_storage::ErrorKind::Input)
/// when `reader` fails (nothing is left staged); storage errors.
pub(crate) fn stage(
    storage: &dyn Storage,
    clock: &dyn Clock,
    reader: &mut dyn Read,
    seeds: &[Option<String>],
) -> Result<Staged> {
    let tx = commit::new_tx(clock);
    let running = Running::new(&tx);
    let key = SafePath::new(format!("{JOURNALS}/{tx}.staged/stream"))?;
    let mut hashing = HashingReader {
        inner: reader,
        hashes: Hashes::new(seeds),
    };
    let size = storage.file_save_from(&key, &mut hashing)?;
    let (read, hash, chains) = hashing.hashes.finish();
    if read != size {
        let _ = storage.files_remove(std::slice::from_ref(&key));
        return Err(FileError::Interrupted {
            id: key.to_string(),
            reason: format!("the store took {size} bytes of the {read} streamed"),
        });
    }
    Ok(Staged {
        key,
        size,
        hash,
        chains,
        _running: running,
    })
}

/// Removes the staged copy of a save that failed, unless an intent the commit left
/// behind names it (recovery then needs it, and removes it when done).
pub(crate) fn discard(storage: &dyn Storage, id: &crate::FileId, staged: &Staged) {
    let named = commit::read_record(storage, id).ok().and_then(|read| {
        read.record?.pending.map(|p| {
            p.writes.iter().any(|w| {
                matches!(w, crate::IntentWrite::Content { staged: Some(s), .. } if *s == staged.key)
            })
        })
    });
    if named != Some(true) {
        let _ = storage.files_remove(std::slice::from_ref(&staged.key));
    }
}

/// The length and MD5 hash of the value at `key`, read as a stream; `None` if there
/// is none.
///
/// # Errors
/// Storage errors.
pub(crate) fn stored_hash(storage: &dyn Storage, key: &SafePath) -> Result<Option<(u64, String)>> {
    copy_out(storage, key, &mut io::sink())
}

/// Copies the value at `key` to `out` as a stream, hashing it; returns its length and
/// MD5 hash, or `None` if there is no value.
///
/// # Errors
/// Storage errors, and errors of `out`.
pub(crate) fn copy_out(
    storage: &dyn Storage,
    key: &SafePath,
    out: &mut dyn Write,
) -> Result<Option<(u64, String)>> {
    let mut hashes = Hashes::new(&[]);
    if !pass(storage, key, &mut hashes, out)? {
        return Ok(None);
    }
    let (size, hash, _) = hashes.finish();
    Ok(Some((size, hash)))
}

/// Reads the value at `key` a chunk at a time through `hashes` into `out`; `false` if
/// there is no value.
fn pass(
    storage: &dyn Storage,
    key: &SafePath,
    hashes: &mut Hashes,
    out: &mut dyn Write,
) -> Result<bool> {
    let Some(mut reader) = storage.file_reader(key)? else {
        return Ok(false);
    };
    let mut buf = vec![0; CHUNK];
    loop {
        let n =
            memory_fs_storage::read_full(&mut reader, &mut buf).map_err(|e| read_error(key, e))?;
        if n == 0 {
            return Ok(true);
        }
        hashes.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| FileError::Output {
            path: key.to_string(),
            source: e,
        })?;
    }
}

/// A read error of a stored value: the [`StorageError`] a provider's reader carries,
/// or the I/O error itself.
fn read_error(key: &SafePath, e: io::Error) -> FileError {
    match e.downcast::<StorageError>() {
        Ok(storage) => storage.into(),
        Err(e) => StorageError::backend("stream", Some(key.as_str()), e).into(),
    }
}

/// MD5 and the chain hashes of a content, fed as it passes.
struct Hashes {
    size: u64,
    md5: Md5,
    chains: Vec<(Option<String>, Sha256)>,
}

impl Hashes {
    fn new(seeds: &[Option<String>]) -> Self {
        let chains = seeds
            .iter()
            .map(|seed| {
                let mut h = Sha256::new();
                h.update(seed.as_deref().unwrap_or("").as_bytes());
                (seed.clone(), h)
            })
            .collect();
        Self {
            size: 0,
            md5: Md5::new(),
            chains,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.chains.is_empty() || bytes.len() < 64 * 1024 {
            self.md5.update(bytes);
            for (_, h) in &mut self.chains {
                h.update(bytes);
            }
            return;
        }
        // MD5 beside the SHA-256 chains: the two hash families on two cores.
        let (md5, chains) = (&mut self.md5, &mut self.chains);
        std::thread::scope(|s| {
            s.spawn(|| md5.update(bytes));
            for (_, h) in chains.iter_mut() {
                h.update(bytes);
            }
        });
    }

    /// The length, the MD5 hash as the metadata holds it, and each chain hash.
    fn finish(self) -> (u64, String, Vec<(Option<String>, String)>) {
        let md5 = self.md5.finalize();
        let chains = self
            .chains
            .into_iter()
            .map(|(seed, h)| (seed, hex::encode(h.finalize())))
            .collect();
        (self.size, hex::encode(&md5[..5]), chains)
    }
}

/// A reader that hashes what passes through it.
struct HashingReader<'r> {
    inner: &'r mut dyn Read,
    hashes: Hashes,
}

impl Read for HashingReader<'_> {
    /// Fills `buf` as far as the source goes, so the hashes work on whole buffers
    /// however small the pieces the source gives.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = memory_fs_storage::read_full(self.inner, buf)?;
        self.hashes.update(&buf[..n]);
        Ok(n)
    }
}

/// The writer a load streams into: counts what it passes on and, for base64 types,
/// decodes the stored text into the saved bytes on the way.
pub(crate) struct Counted<'w> {
    out: &'w mut dyn Write,
    base64: bool,
    /// Base64 text not yet decoded (less than one 4-character group after a write).
    pending: Vec<u8>,
    written: u64,
}

impl<'w> Counted<'w> {
    pub(crate) fn new(out: &'w mut dyn Write, base64: bool) -> Self {
        Self {
            out,
            base64,
            pending: Vec::new(),
            written: 0,
        }
    }

    /// Flushes, and returns how many bytes went out.
    ///
    /// # Errors
    /// [`FileError::Serialization`] when base64 text ends part-way through a group;
    /// [`FileError::Output`] when `out` fails.
    pub(crate) fn finish(self, key: &SafePath) -> Result<u64> {
        if !self.pending.is_empty() {
            return Err(FileError::Serialization {
                action: "deserialize",
                path: key.to_string(),
                detail: "the base64 text ends part-way through a group".into(),
            });
        }
        self.out.flush().map_err(|e| FileError::Output {
            path: key.to_string(),
            source: e,
        })?;
        Ok(self.written)
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use base64::Engine as _;
        if !self.base64 {
            self.out.write_all(buf)?;
            self.written += buf.len() as u64;
            return Ok(buf.len());
        }
        self.pending.extend_from_slice(buf);
        let whole = self.pending.len() / 4 * 4;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&self.pending[..whole])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not base64: {e}")))?;
        self.pending.drain(..whole);
        self.out.write_all(&decoded)?;
        self.written += decoded.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A reader of the base64 text of what `inner` yields: how a base64 type stores a
/// streamed value.
pub(crate) struct Base64Reader<'r> {
    inner: &'r mut dyn Read,
    raw: Vec<u8>,
    text: String,
    at: usize,
    done: bool,
}

impl<'r> Base64Reader<'r> {
    pub(crate) fn new(inner: &'r mut dyn Read) -> Self {
        Self {
            inner,
            raw: vec![0; 3 * (CHUNK / 4)],
            text: String::new(),
            at: 0,
            done: false,
        }
    }
}

impl Read for Base64Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use base64::Engine as _;
        while self.at == self.text.len() && !self.done {
            // Whole 3-byte groups until the end, so no padding falls mid-stream.
            let n = memory_fs_storage::read_full(self.inner, &mut self.raw)?;
            self.done = n < self.raw.len();
            self.text.clear();
            self.at = 0;
            base64::engine::general_purpose::STANDARD.encode_string(&self.raw[..n], &mut self.text);
        }
        let text = self.text.as_bytes();
        let n = buf.len().min(text.len() - self.at);
        buf[..n].copy_from_slice(&text[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
