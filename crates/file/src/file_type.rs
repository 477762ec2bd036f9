//! File types: name, MIME type, extension, encoding and serialization, with the exact
//! values the Python package writes, and text encodings.

use serde::{Deserialize, Serialize};

use crate::{FileError, Result};

/// How content is turned into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Serialization {
    /// Text in the type's encoding.
    String,
    /// JSON (`indent=2`, as Python writes it), in the type's encoding.
    Json,
    /// Bytes as given.
    Binary,
    /// Bytes as standard, padded base64 text.
    Base64,
    /// A typed value serialized as JSON (Python's `type_safe`).
    TypeSafe,
}

/// A text encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8.
    #[serde(rename = "utf-8")]
    Utf8,
    /// UTF-16 with a byte-order mark, little-endian (as Python's `utf-16`).
    #[serde(rename = "utf-16")]
    Utf16,
    /// UTF-16 big-endian, no BOM.
    #[serde(rename = "utf-16-be")]
    Utf16Be,
    /// UTF-16 little-endian, no BOM.
    #[serde(rename = "utf-16-le")]
    Utf16Le,
    /// UTF-32 with a byte-order mark, little-endian (as Python's `utf-32`).
    #[serde(rename = "utf-32")]
    Utf32,
    /// 7-bit ASCII.
    #[serde(rename = "ascii")]
    Ascii,
    /// ISO-8859-1: each byte is the code point of the same number.
    #[serde(rename = "latin-1")]
    Latin1,
    /// Windows code page 1252.
    #[serde(rename = "windows-1252")]
    Windows1252,
}

impl Encoding {
    /// The name the Python package uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Utf16 => "utf-16",
            Self::Utf16Be => "utf-16-be",
            Self::Utf16Le => "utf-16-le",
            Self::Utf32 => "utf-32",
            Self::Ascii => "ascii",
            Self::Latin1 => "latin-1",
            Self::Windows1252 => "windows-1252",
        }
    }

    fn unencodable(self, c: char) -> FileError {
        FileError::Encoding {
            action: "encode",
            encoding: self.name(),
            detail: format!("{c:?} (U+{:04X}) has no representation", c as u32),
        }
    }

    fn undecodable(self, detail: String) -> FileError {
        FileError::Encoding {
            action: "decode",
            encoding: self.name(),
            detail,
        }
    }

    /// Encodes `text`, refusing characters the encoding cannot hold.
    ///
    /// # Errors
    /// [`FileError::Encoding`] naming the first unencodable character.
    ///
    /// ```
    /// use memory_fs_file::Encoding;
    /// assert_eq!(Encoding::Latin1.encode("café")?, b"caf\xe9");
    /// assert!(Encoding::Ascii.encode("café").is_err());
    /// assert_eq!(Encoding::Utf16.encode("a")?, b"\xff\xfea\x00");
    /// # Ok::<(), memory_fs_file::FileError>(())
    /// ```
    pub fn encode(self, text: &str) -> Result<Vec<u8>> {
        match self {
            Self::Utf8 => Ok(text.as_bytes().to_vec()),
            Self::Utf16 | Self::Utf16Le | Self::Utf16Be => {
                let mut out = match self {
                    Self::Utf16 => vec![0xff, 0xfe],
                    _ => Vec::new(),
                };
                for unit in text.encode_utf16() {
                    out.extend_from_slice(&if self == Self::Utf16Be {
                        unit.to_be_bytes()
                    } else {
                        unit.to_le_bytes()
                    });
                }
                Ok(out)
            }
            Self::Utf32 => {
                let mut out = vec![0xff, 0xfe, 0, 0];
                for c in text.chars() {
                    out.extend_from_slice(&(c as u32).to_le_bytes());
                }
                Ok(out)
            }
            Self::Ascii => text
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        Ok(c as u8)
                    } else {
                        Err(self.unencodable(c))
                    }
                })
                .collect(),
            Self::Latin1 => text
                .chars()
                .map(|c| u8::try_from(c as u32).map_err(|_| self.unencodable(c)))
                .collect(),
            Self::Windows1252 => {
                let mut out = Vec::with_capacity(text.len());
                for c in text.chars() {
                    let mut buf = [0u8; 4];
                    let (bytes, _, unmappable) =
                        encoding_rs::WINDOWS_1252.encode(c.encode_utf8(&mut buf));
                    if unmappable {
                        return Err(self.unencodable(c));
                    }
                    out.extend_from_slice(&bytes);
                }
                Ok(out)
            }
        }
    }

    /// Decodes `bytes`, refusing invalid input (a BOM is required for `utf-16`/`utf-32`
    /// and selects the byte order).
    ///
    /// # Errors
    /// [`FileError::Encoding`] describing the first invalid byte.
    pub fn decode(self, bytes: &[u8]) -> Result<String> {
        match self {
            Self::Utf8 => {
                String::from_utf8(bytes.to_vec()).map_err(|e| self.undecodable(e.to_string()))
            }
            Self::Utf16 | Self::Utf16Le | Self::Utf16Be => {
                let (big, body) = match (self, bytes) {
                    (Self::Utf16, [0xff, 0xfe, rest @ ..]) => (false, rest),
                    (Self::Utf16, [0xfe, 0xff, rest @ ..]) => (true, rest),
                    (Self::Utf16, _) => return Err(self.undecodable("no byte-order mark".into())),
                    (Self::Utf16Be, b) => (true, b),
                    (_, b) => (false, b),
                };
                if body.len() % 2 != 0 {
                    return Err(self.undecodable("odd number of bytes".into()));
                }
                let units = body.chunks_exact(2).map(|p| {
                    if big {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        u16::from_le_bytes([p[0], p[1]])
                    }
                });
                char::decode_utf16(units)
                    .collect::<std::result::Result<String, _>>()
                    .map_err(|e| self.undecodable(e.to_string()))
            }
            Self::Utf32 => {
                let (big, body) = match bytes {
                    [0xff, 0xfe, 0, 0, rest @ ..] => (false, rest),
                    [0, 0, 0xfe, 0xff, rest @ ..] => (true, rest),
                    _ => return Err(self.undecodable("no byte-order mark".into())),
                };
                if body.len() % 4 != 0 {
                    return Err(self.undecodable("length is not a multiple of 4".into()));
                }
                body.chunks_exact(4)
                    .map(|q| {
                        let n = if big {
                            u32::from_be_bytes([q[0], q[1], q[2], q[3]])
                        } else {
                            u32::from_le_bytes([q[0], q[1], q[2], q[3]])
                        };
                        char::from_u32(n)
                            .ok_or_else(|| self.undecodable(format!("{n:#x} is not a character")))
                    })
                    .collect()
            }
            Self::Ascii => bytes
                .iter()
                .map(|b| {
                    if b.is_ascii() {
                        Ok(char::from(*b))
                    } else {
                        Err(self.undecodable(format!("byte {b:#04x} is not ASCII")))
                    }
                })
                .collect(),
            Self::Latin1 => Ok(bytes.iter().map(|b| char::from(*b)).collect()),
            Self::Windows1252 => {
                let (text, had_errors) =
                    encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
                if had_errors {
                    return Err(self.undecodable("invalid windows-1252 byte".into()));
                }
                Ok(text.into_owned())
            }
        }
    }
}

/// What kind of file a logical file is: its name, MIME type, extension, encoding and
/// serialization. Serialized exactly as the Python package's `file_type` object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileType {
    /// Logical name (`json`, `text`, `png`…).
    pub name: String,
    /// MIME content type.
    pub content_type: String,
    /// Extension of the content file, without the dot.
    pub file_extension: String,
    /// Other extensions the type is known by (`markdown` for `md`); stored only when
    /// present, as Python does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alt_extensions: Vec<String>,
    /// Text encoding; `None` for binary types.
    pub encoding: Option<Encoding>,
    /// How values become bytes.
    pub serialization: Serialization,
}

impl FileType {
    fn of(
        name: &str,
        content_type: &str,
        ext: &str,
        encoding: Option<Encoding>,
        serialization: Serialization,
    ) -> Self {
        Self {
            name: name.into(),
            content_type: content_type.into(),
            file_extension: ext.into(),
            alt_extensions: Vec::new(),
            encoding,
            serialization,
        }
    }

    /// A user-defined type.
    pub fn custom(
        name: &str,
        content_type: &str,
        extension: &str,
        encoding: Option<Encoding>,
        serialization: Serialization,
    ) -> Self {
        Self::of(name, content_type, extension, encoding, serialization)
    }

    /// JSON (`.json`, UTF-8).
    pub fn json() -> Self {
        Self::of(
            "json",
            "application/json; charset=utf-8",
            "json",
            Some(Encoding::Utf8),
            Serialization::Json,
        )
    }

    /// JSON stored as the content file alone, with no config or metadata.
    pub fn json_single() -> Self {
        Self::of(
            "json_single",
            "application/json; charset=utf-8",
            "json",
            Some(Encoding::Utf8),
            Serialization::Json,
        )
    }

    /// Plain text (`.txt`, UTF-8).
    pub fn text() -> Self {
        Self::of(
            "text",
            "text/plain; charset=utf-8",
            "txt",
            Some(Encoding::Utf8),
            Serialization::String,
        )
    }

    /// Markdown (`.md`, UTF-8).
    pub fn markdown() -> Self {
        Self {
            alt_extensions: vec!["markdown".into()],
            ..Self::of(
                "markdown",
                "text/markdown; charset=utf-8",
                "md",
                Some(Encoding::Utf8),
                Serialization::String,
            )
        }
    }

    /// HTML (`.html`, UTF-8).
    pub fn html() -> Self {
        Self::of(
            "html",
            "text/html; charset=utf-8",
            "html",
            Some(Encoding::Utf8),
            Serialization::String,
        )
    }

    /// Raw bytes (`.bin`).
    pub fn binary() -> Self {
        Self::of(
            "binary",
            "application/octet-stream",
            "bin",
            None,
            Serialization::Binary,
        )
    }

    /// PNG image bytes (`.png`).
    pub fn png() -> Self {
        Self::of("png", "image/png", "png", None, Serialization::Binary)
    }

    /// JPEG image bytes (`.jpg`).
    pub fn jpeg() -> Self {
        Self {
            alt_extensions: vec!["jpeg".into()],
            ..Self::of("jpeg", "image/jpeg", "jpg", None, Serialization::Binary)
        }
    }

    /// Typed data as JSON (`.json`): what `save_typed`/`load_typed` use.
    pub fn data() -> Self {
        Self::of(
            "json",
            "application/json; charset=utf-8",
            "json",
            Some(Encoding::Utf8),
            Serialization::Json,
        )
    }

    /// The names [`by_name`](Self::by_name) knows, in a stable order.
    pub const BUILT_IN: [&'static str; 9] = [
        "json",
        "json_single",
        "text",
        "markdown",
        "html",
        "binary",
        "png",
        "jpeg",
        "data",
    ];

    /// The built-in type called `name` (one of [`BUILT_IN`](Self::BUILT_IN)), or `None`.
    ///
    /// ```
    /// use memory_fs_file::FileType;
    /// assert_eq!(FileType::by_name("markdown"), Some(FileType::markdown()));
    /// assert_eq!(FileType::by_name("yaml"), None);
    /// ```
    pub fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "json" => Self::json(),
            "json_single" => Self::json_single(),
            "text" => Self::text(),
            "markdown" => Self::markdown(),
            "html" => Self::html(),
            "binary" => Self::binary(),
            "png" => Self::png(),
            "jpeg" => Self::jpeg(),
            "data" => Self::data(),
            _ => return None,
        })
    }

    /// The built-in type a file extension (without the dot, any case) suggests:
    /// `md` and `markdown` give markdown, `txt` text, `jpg` and `jpeg` jpeg, and so on.
    ///
    /// ```
    /// use memory_fs_file::FileType;
    /// assert_eq!(FileType::from_extension("MD"), Some(FileType::markdown()));
    /// assert_eq!(FileType::from_extension("exe"), None);
    /// ```
    pub fn from_extension(extension: &str) -> Option<Self> {
        Some(match extension.to_ascii_lowercase().as_str() {
            "json" => Self::json(),
            "txt" | "text" => Self::text(),
            "md" | "markdown" => Self::markdown(),
            "html" | "htm" => Self::html(),
            "bin" => Self::binary(),
            "png" => Self::png(),
            "jpg" | "jpeg" => Self::jpeg(),
            _ => return None,
        })
    }

    /// Whether only the content file is stored (no config, no metadata).
    pub fn content_only(&self) -> bool {
        self.name == "json_single"
    }

    /// Text to bytes in this type's encoding (UTF-8 when it has none).
    pub(crate) fn encode_text(&self, text: &str) -> Result<Vec<u8>> {
        self.encoding.unwrap_or(Encoding::Utf8).encode(text)
    }

    /// Bytes to text in this type's encoding (UTF-8 when it has none).
    pub(crate) fn decode_text(&self, bytes: &[u8]) -> Result<String> {
        self.encoding.unwrap_or(Encoding::Utf8).decode(bytes)
    }
}
