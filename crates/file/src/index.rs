//! The index postings of a record: small keys under `.memory-fs/index/` that let a
//! query by tag, type, folder, day or user-data field list the matching ids without
//! reading every record.
//!
//! Postings are kept only on stores that commit a batch atomically (they are written in
//! the same batch as the record, so they never disagree with it); elsewhere queries
//! read the records. A posting is a hint: queries re-check every candidate against its
//! record, so a stale posting can cost a read but never give a wrong answer, and a
//! missing one is repaired by `reindex`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use memory_fs_storage::SafePath;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::clock::utc_parts;
use crate::{FileId, FileRecord, Result};

/// The folder of every posting.
pub const POSTINGS: &str = ".memory-fs/index";

/// Encoded segments longer than this are posted by the hash of their text.
const MAX_SEGMENT: usize = 96;

/// One segment of a posting key: `=` then the text with every byte other than ASCII
/// letters, digits, `-` and `_` written `%XX` (so a segment is never empty, `.` or
/// `..`, and never holds `/`); a long text is `#` and its hash instead.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    out.push('=');
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if out.len() <= MAX_SEGMENT {
        out
    } else {
        let digest = Sha256::digest(text.as_bytes());
        format!("#{}", hex::encode(&digest[..16]))
    }
}

/// The segment for a user-data value: its JSON text.
fn value_segment(value: &Value) -> String {
    segment(&value.to_string())
}

/// What a posting indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term<'a> {
    /// A tag of the head metadata.
    Tag(&'a str),
    /// The file type's name.
    Type(&'a str),
    /// A folder holding the file (version folders included).
    Folder(&'a str),
    /// The UTC day of the last save, as `(year, month, day)` (the only time term
    /// posted; a month or a year lists the days below it).
    Day(i64, u32, u32),
    /// The UTC month of the last save.
    Month(i64, u32),
    /// The UTC year of the last save.
    Year(i64),
    /// A top-level field of the user data with a scalar value.
    Data(&'a str, &'a Value),
}

impl Term<'_> {
    /// The folder listing every id this term holds for.
    ///
    /// # Errors
    /// Never for the encodings used; the error is the key's validation.
    pub fn prefix(&self) -> Result<SafePath> {
        let tail = match self {
            Self::Tag(t) => format!("tag/{}", segment(t)),
            Self::Type(t) => format!("type/{}", segment(t)),
            Self::Folder(f) => format!("folder/{}", segment(f)),
            Self::Day(y, m, d) => format!("time/{y:04}/{m:02}/{d:02}"),
            Self::Month(y, m) => format!("time/{y:04}/{m:02}"),
            Self::Year(y) => format!("time/{y:04}"),
            Self::Data(k, v) => format!("data/{}/{}", segment(k), value_segment(v)),
        };
        Ok(SafePath::new(format!("{POSTINGS}/{tail}"))?)
    }
}

/// The id a posting key names (its last segment).
pub fn posting_id(key: &SafePath) -> Option<FileId> {
    FileId::new(key.file_name()).ok()
}

/// Every posting of `record`.
///
/// # Errors
/// Never for valid records; the error is a key's validation.
pub fn postings(record: &FileRecord) -> Result<BTreeSet<SafePath>> {
    let id = record.id().as_str();
    let mut out = BTreeSet::new();
    let mut add = |term: Term<'_>| -> Result<()> {
        let key = SafePath::new(format!("{}/{id}", term.prefix()?))?;
        out.insert(key);
        Ok(())
    };
    add(Term::Type(&record.head.config.file_type.name))?;
    // Plain folders and the head's folders; older version folders are not posted, so
    // a file with many versions keeps few postings.
    let head = record.head.config.folders();
    for folder in record.folders.iter().map(String::as_str).chain(head) {
        add(Term::Folder(folder))?;
    }
    if let Some(meta) = record.head.first_metadata() {
        for tag in &meta.tags {
            add(Term::Tag(tag))?;
        }
        let (y, m, d, _) = utc_parts(meta.timestamp);
        add(Term::Day(y, m, d))?;
        for (field, value) in &meta.data {
            if !value.is_object() && !value.is_array() {
                add(Term::Data(field, value))?;
            }
        }
    }
    Ok(out)
}

/// The posting keys to add and to remove when a file's record goes from `before` to
/// `after`.
///
/// # Errors
/// As [`postings`].
pub fn posting_changes(
    before: Option<&FileRecord>,
    after: Option<&FileRecord>,
) -> Result<(Vec<SafePath>, Vec<SafePath>)> {
    let old = before.map(postings).transpose()?.unwrap_or_default();
    let new = after.map(postings).transpose()?.unwrap_or_default();
    let added = new.difference(&old).cloned().collect();
    let removed = old.difference(&new).cloned().collect();
    Ok((added, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_single_valid_path_segments() {
        for text in [
            "",
            ".",
            "..",
            "a/b",
            "ünï",
            "x y",
            "=",
            "%41",
            &"z".repeat(300),
        ] {
            let seg = segment(text);
            let key = SafePath::new(format!("a/{seg}")).expect("a valid key");
            assert_eq!(key.segments().count(), 2, "{text:?} -> {seg}");
        }
        assert_ne!(
            segment("a/b"),
            segment("a%2Fb"),
            "the encoding is one to one"
        );
    }

    #[test]
    fn long_values_are_posted_by_hash() {
        let long = Value::from("v".repeat(500));
        let seg = value_segment(&long);
        assert!(seg.starts_with('#') && seg.len() == 33, "{seg}");
        assert_eq!(
            seg,
            value_segment(&long),
            "the same value posts the same key"
        );
        assert_eq!(value_segment(&Value::from(3)), "=3");
        assert_ne!(
            value_segment(&Value::from("3")),
            value_segment(&Value::from(3))
        );
    }
}
