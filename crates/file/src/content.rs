//! `Content`: a value to save, and how a file type turns it into stored bytes and back.

use std::borrow::Cow;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::Value;
use sha2::Sha256;

use crate::{FileError, FileId, FileType, Result, Serialization, python_json};

/// A value to save, in the form the caller has it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Content<'a> {
    /// A JSON value (for `json` and `type_safe` types).
    Json(&'a Value),
    /// Text (for `string` types), encoded with the type's encoding.
    Text(&'a str),
    /// Bytes (for `binary` types as they are, for `base64` types as base64 text).
    Bytes(&'a [u8]),
}

/// First 10 hex characters of the MD5 of `bytes`: the Python package's content hash.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Md5::digest(bytes);
    hex::encode(&digest[..5])
}

/// SHA-256 (hex) over the previous chain hash (as its hex text, empty for the first
/// version) followed by the content.
pub fn chain_hash(previous: Option<&str>, content: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(previous.unwrap_or("").as_bytes());
    h.update(content);
    hex::encode(h.finalize())
}

impl<'a> Content<'a> {
    /// The bytes a file of type `ty` stores for this value.
    ///
    /// # Errors
    /// [`FileError::Serialization`] for a value the type does not hold (text for a
    /// binary type…); [`FileError::Encoding`] for text its encoding cannot hold.
    pub fn stored(self, id: &FileId, ty: &FileType) -> Result<Cow<'a, [u8]>> {
        let mismatch = |given: &str| FileError::Serialization {
            action: "serialize",
            path: id.to_string(),
            detail: format!(
                "a {} file ({:?} serialization) does not take {given}",
                ty.name, ty.serialization
            ),
        };
        match (self, ty.serialization) {
            (Self::Json(v), Serialization::Json | Serialization::TypeSafe) => {
                Ok(Cow::Owned(ty.encode_text(&python_json(v, 2))?))
            }
            (Self::Json(_), _) => Err(mismatch("JSON")),
            (Self::Text(t), Serialization::String) => Ok(Cow::Owned(ty.encode_text(t)?)),
            (Self::Text(_), _) => Err(mismatch("text")),
            (Self::Bytes(b), Serialization::Binary) => Ok(Cow::Borrowed(b)),
            (Self::Bytes(b), Serialization::Base64) => Ok(Cow::Owned(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .into_bytes(),
            )),
            (Self::Bytes(_), _) => Err(mismatch("bytes")),
        }
    }
}

/// Stored bytes back to the bytes that were saved (base64 decoded for `base64` types).
pub(crate) fn saved_bytes(ty: &FileType, path: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
    if ty.serialization != Serialization::Base64 {
        return Ok(stored);
    }
    base64::engine::general_purpose::STANDARD
        .decode(&stored)
        .map_err(|e| FileError::Serialization {
            action: "deserialize",
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

/// Stored bytes as JSON.
pub(crate) fn stored_json(ty: &FileType, path: &str, stored: &[u8]) -> Result<Value> {
    let text = ty.decode_text(stored)?;
    serde_json::from_str(&text).map_err(|e| FileError::Serialization {
        action: "deserialize",
        path: path.to_owned(),
        detail: e.to_string(),
    })
}
