//! `StoreUrl`: the store a URL names, parsed without opening anything.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The schemes [`StoreUrl::parse`] knows, as shown in errors.
const KNOWN: &str = "memory://, file:///dir (or file:dir), sqlite://path.db (or sqlite::memory:), s3://bucket/prefix";

/// A store named by a URL: which backend, and where.
///
/// Parsing never touches the backend and never depends on cargo features, so a URL can
/// be checked (and shown) even where its backend is not compiled in;
/// [`open`](Self::open) is where a missing feature is reported.
///
/// | URL | store |
/// |---|---|
/// | `memory://` | a fresh in-memory store |
/// | `file:///abs/dir`, `file:rel/dir` | a directory on local disk (created if missing) |
/// | `sqlite://app.db`, `sqlite:///abs/app.db`, `sqlite::memory:` | an SQLite database file, or one in memory |
/// | `s3://bucket/prefix?endpoint=…&region=…` | a bucket (and key prefix) on any S3-compatible server |
///
/// Paths, buckets, prefixes and parameter values are percent-decoded (`file:my%20dir`,
/// `s3://my%20bucket`), and printing escapes them again, so `parse(url.to_string())`
/// gives back `url` for every URL that parses. `sqlite` takes `?synchronous=normal`
/// (faster, may lose the last commits on power loss) or `full` (the default). `s3`
/// takes `endpoint`, `region`, `prefix` (instead of the path), `virtual_hosted_style`,
/// `nested_keys` and `conditional_create` (`true`/`false`); credentials are never part
/// of the URL: they come from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), or from
/// [`S3Location::credentials`].
///
/// Every scheme also takes the storage layers ([`LayerParams`]), which make the URL a
/// [`StoreUrl::Layered`]: `encrypt=env:VAR` (or `file:PATH`; several sources separated
/// by commas, the first encrypting and all decrypting, for a store being re-keyed),
/// `compress=zstd` (or `zstd:LEVEL`) and `audit=LABEL` (the caller label of the audit
/// log), as in `sqlite://app.db?encrypt=env:MEMORY_FS_KEY&compress=zstd`. Keys
/// themselves never go in a URL.
///
/// ```
/// use memory_fs::StoreUrl;
///
/// let url = StoreUrl::parse("sqlite:///var/lib/app/store.db?synchronous=normal")?;
/// assert_eq!(url.to_string(), "sqlite:///var/lib/app/store.db?synchronous=normal");
/// assert!(matches!(StoreUrl::parse("ftp://host"), Err(memory_fs::Error::UnknownScheme { .. })));
/// # Ok::<(), memory_fs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// `memory://`: a fresh, empty in-memory store.
    Memory,
    /// `file://`: a directory on local disk.
    Disk {
        /// The directory (relative paths are relative to the working directory).
        root: PathBuf,
    },
    /// `sqlite://`: an SQLite database.
    Sqlite {
        /// The database file; `None` for an in-memory database.
        path: Option<PathBuf>,
        /// `synchronous=NORMAL` instead of `FULL`.
        synchronous_normal: bool,
    },
    /// `s3://`: a bucket on an S3-compatible server.
    S3(S3Location),
    /// A store seen through storage layers (a URL with `encrypt`, `compress` or
    /// `audit` parameters). `store` is never itself `Layered`.
    Layered {
        /// The store underneath.
        store: Box<StoreUrl>,
        /// The layers over it.
        layers: LayerParams,
    },
}

/// The storage layers a store URL asks for, stacked as audit over compression over
/// encryption over the store (the audit log records what the application saved, and
/// is itself compressed and encrypted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerParams {
    /// Where the encryption keys come from (`env:VAR`, `file:PATH`): the first
    /// encrypts, every one decrypts. Empty: no encryption.
    pub encrypt: Vec<String>,
    /// The zstd level; `None`: no compression.
    pub compress: Option<i32>,
    /// The caller label recorded in the audit log; `None`: no audit log.
    pub audit: Option<String>,
}

/// The zstd level of `compress=zstd`.
const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// The parameters that name layers rather than a backend's options.
const LAYER_PARAMS: [&str; 3] = ["encrypt", "compress", "audit"];

impl LayerParams {
    /// Whether no layer is asked for.
    pub fn is_empty(&self) -> bool {
        self.encrypt.is_empty() && self.compress.is_none() && self.audit.is_none()
    }

    /// Takes the layer parameters out of `params`.
    fn take(params: &mut Vec<(String, String)>) -> std::result::Result<Self, String> {
        let mut layers = Self::default();
        for (key, value) in params.iter() {
            match key.as_str() {
                "encrypt" => {
                    for spec in value.split(',') {
                        if !(spec.starts_with("env:") && spec.len() > 4
                            || spec.starts_with("file:") && spec.len() > 5)
                        {
                            return Err(format!(
                                "encrypt takes key sources, env:VARIABLE or file:PATH (comma-separated), not {spec:?}: a key never goes in the URL"
                            ));
                        }
                        layers.encrypt.push(spec.to_owned());
                    }
                }
                "compress" => {
                    let level = match value.split_once(':') {
                        None if value == "zstd" => DEFAULT_ZSTD_LEVEL,
                        Some(("zstd", level)) => level
                            .parse::<i32>()
                            .ok()
                            .filter(|l| *l != 0 && (-131_072..=22).contains(l))
                            .ok_or_else(|| {
                                format!("the zstd level must be 1 to 22 (or negative for the fast levels), not {level:?}")
                            })?,
                        _ => {
                            return Err(format!(
                                "compress takes zstd or zstd:LEVEL, not {value:?}"
                            ));
                        }
                    };
                    layers.compress = Some(level);
                }
                "audit" if value.is_empty() => {
                    return Err(
                        "audit takes the caller label to record, as in audit=alice".to_owned()
                    );
                }
                "audit" => layers.audit = Some(value.clone()),
                _ => {}
            }
        }
        params.retain(|(k, _)| !LAYER_PARAMS.contains(&k.as_str()));
        Ok(layers)
    }

    /// The parameters as printed after the store's own.
    fn query(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.encrypt.is_empty() {
            let specs: Vec<String> = self
                .encrypt
                .iter()
                .map(|s| percent_encode(s, true))
                .collect();
            out.push(format!("encrypt={}", specs.join(",")));
        }
        match self.compress {
            Some(DEFAULT_ZSTD_LEVEL) => out.push("compress=zstd".to_owned()),
            Some(level) => out.push(format!("compress=zstd:{level}")),
            None => {}
        }
        if let Some(label) = &self.audit {
            out.push(format!("audit={}", percent_encode(label, true)));
        }
        out
    }
}

/// Where an `s3://` URL points.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix every key lives under (no leading or trailing `/`), if any.
    pub prefix: Option<String>,
    /// The server URL; `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The signing region; `None` for the provider's default (`us-east-1`) or `AWS_REGION`.
    pub region: Option<String>,
    /// Address the bucket as `bucket.host` instead of `host/bucket`.
    pub virtual_hosted_style: bool,
    /// Whether the server keeps `a` and `a/b` side by side (`None`: assume it does).
    pub nested_keys: Option<bool>,
    /// Whether the server honours `If-None-Match: *` (`None`: assume it does).
    pub conditional_create: Option<bool>,
    /// Explicit credentials (access key id, secret); `None` reads the environment.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Location")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("nested_keys", &self.nested_keys)
            .field("conditional_create", &self.conditional_create)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(id, _)| (id, "<redacted>")),
            )
            .finish()
    }
}

impl S3Location {
    /// The same location with explicit credentials instead of the environment's.
    pub fn with_credentials(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.credentials = Some((access_key_id.to_owned(), secret_access_key.to_owned()));
        self
    }
}

impl StoreUrl {
    /// Parses `url`.
    ///
    /// # Errors
    /// [`Error::UnknownScheme`] for a scheme other than `memory`, `file`, `sqlite`, `s3`;
    /// [`Error::InvalidUrl`] for a known scheme with a malformed rest (saying what is
    /// wrong).
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(invalid(format!("no scheme; expected one of {KNOWN}")));
        };
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(invalid(format!("no scheme; expected one of {KNOWN}")));
        }
        let (body, query) = match rest.split_once('?') {
            Some((body, query)) => (body, Some(query)),
            None => (rest, None),
        };
        let mut params = parse_query(query).map_err(invalid)?;
        let layers = LayerParams::take(&mut params).map_err(invalid)?;
        let store = Self::parse_store(url, scheme, body, &params)?;
        Ok(if layers.is_empty() {
            store
        } else {
            Self::Layered {
                store: Box::new(store),
                layers,
            }
        })
    }

    /// The store a URL names, its layer parameters taken out.
    fn parse_store(
        url: &str,
        scheme: &str,
        body: &str,
        params: &[(String, String)],
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let reject_params = |allowed: &[&str]| -> Result<()> {
            match params.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
                None => Ok(()),
                Some((k, _)) if allowed.is_empty() => Err(invalid(format!(
                    "{scheme} URLs take no parameters, found {k:?}"
                ))),
                Some((k, _)) => Err(invalid(format!(
                    "unknown parameter {k:?} (known: {})",
                    allowed.join(", ")
                ))),
            }
        };
        match scheme.to_ascii_lowercase().as_str() {
            "memory" => {
                reject_params(&[])?;
                if body.is_empty() || body == "//" {
                    Ok(Self::Memory)
                } else {
                    Err(invalid("memory:// takes no path".to_owned()))
                }
            }
            "file" => {
                reject_params(&[])?;
                let path = match body.strip_prefix("//") {
                    Some(authority_and_path) => {
                        let (host, path) = match authority_and_path.find('/') {
                            Some(i) => authority_and_path.split_at(i),
                            None => (authority_and_path, ""),
                        };
                        if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                            return Err(invalid(format!(
                                "file URLs name a local directory, not host {host:?}: write file:///abs/dir or file:rel/dir"
                            )));
                        }
                        path
                    }
                    None => body,
                };
                if path.is_empty() {
                    return Err(invalid(
                        "no directory: write file:///abs/dir or file:rel/dir".to_owned(),
                    ));
                }
                Ok(Self::Disk {
                    root: PathBuf::from(percent_decode(path).map_err(invalid)?),
                })
            }
            "sqlite" => {
                reject_params(&["synchronous"])?;
                let synchronous_normal = match params.first().map(|(_, v)| v.to_ascii_lowercase()) {
                    None => false,
                    Some(v) if v == "full" => false,
                    Some(v) if v == "normal" => true,
                    Some(v) => {
                        return Err(invalid(format!(
                            "synchronous must be normal or full, not {v:?}"
                        )));
                    }
                };
                let path = body.strip_prefix("//").unwrap_or(body);
                let path = if path.is_empty() {
                    return Err(invalid(
                        "no database: write sqlite://file.db, sqlite:///abs/file.db or sqlite::memory:".to_owned(),
                    ));
                } else if path == ":memory:" {
                    None
                } else {
                    Some(PathBuf::from(percent_decode(path).map_err(invalid)?))
                };
                Ok(Self::Sqlite {
                    path,
                    synchronous_normal,
                })
            }
            "s3" => parse_s3(body, params).map(Self::S3).map_err(invalid),
            _ => Err(Error::UnknownScheme {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            }),
        }
    }

    /// The scheme (`memory`, `file`, `sqlite`, `s3`).
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Disk { .. } => "file",
            Self::Sqlite { .. } => "sqlite",
            Self::S3(_) => "s3",
            Self::Layered { store, .. } => store.scheme(),
        }
    }

    /// The store underneath the layers (the URL itself when it has none).
    pub fn store(&self) -> &StoreUrl {
        match self {
            Self::Layered { store, .. } => store,
            other => other,
        }
    }

    /// The layers the URL asks for (none for a URL without layer parameters).
    pub fn layers(&self) -> LayerParams {
        match self {
            Self::Layered { layers, .. } => layers.clone(),
            _ => LayerParams::default(),
        }
    }

    /// The cargo feature of `memory-fs` that compiles this backend in.
    pub fn feature(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Disk { .. } => "disk",
            Self::Sqlite { .. } => "sqlite",
            Self::S3(_) => "s3",
            Self::Layered { store, .. } => store.feature(),
        }
    }

    /// Whether data in this store outlives the process.
    pub fn is_persistent(&self) -> bool {
        match self {
            Self::Memory => false,
            Self::Sqlite { path, .. } => path.is_some(),
            Self::Disk { .. } | Self::S3(_) => true,
            Self::Layered { store, .. } => store.is_persistent(),
        }
    }
}

fn parse_s3(body: &str, params: &[(String, String)]) -> std::result::Result<S3Location, String> {
    let Some(rest) = body.strip_prefix("//") else {
        return Err("write s3://bucket or s3://bucket/prefix".to_owned());
    };
    let (bucket, path) = match rest.split_once('/') {
        Some((bucket, path)) => (bucket, path),
        None => (rest, ""),
    };
    if bucket.is_empty() {
        return Err("no bucket: write s3://bucket/prefix".to_owned());
    }
    // Printing escapes the bucket, so parsing unescapes it (`s3://a%20b` is bucket `a b`).
    let bucket = percent_decode(bucket)?;
    if bucket.contains('@') {
        return Err(
            "credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                .to_owned(),
        );
    }
    let mut location = S3Location {
        bucket,
        prefix: None,
        endpoint: None,
        region: None,
        virtual_hosted_style: false,
        nested_keys: None,
        conditional_create: None,
        credentials: None,
    };
    let mut prefix = percent_decode(path.trim_matches('/'))?;
    let flag = |key: &str, value: &str| match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{key} must be true or false, not {value:?}")),
    };
    for (key, value) in params {
        match key.as_str() {
            "endpoint" => location.endpoint = Some(value.clone()),
            "region" => location.region = Some(value.clone()),
            "prefix" if prefix.is_empty() => prefix = value.trim_matches('/').to_owned(),
            "prefix" => return Err("the prefix is given twice (path and ?prefix=)".to_owned()),
            "virtual_hosted_style" => location.virtual_hosted_style = flag(key, value)?,
            "nested_keys" => location.nested_keys = Some(flag(key, value)?),
            "conditional_create" => location.conditional_create = Some(flag(key, value)?),
            "access_key_id" | "secret_access_key" | "access_key" | "secret_key"
            | "session_token" => {
                return Err(format!(
                    "{key} does not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                ));
            }
            _ => {
                return Err(format!(
                    "unknown parameter {key:?} (known: endpoint, region, prefix, virtual_hosted_style, nested_keys, conditional_create)"
                ));
            }
        }
    }
    if !prefix.is_empty() {
        // The slashes around the prefix are separators; escaped ones are part of it,
        // and a prefix that starts or ends with `/` or has an empty segment names no
        // key prefix.
        if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
            return Err(format!(
                "the prefix {prefix:?} has an empty segment; write it as a/b"
            ));
        }
        location.prefix = Some(prefix);
    }
    Ok(location)
}

fn parse_query(query: Option<&str>) -> std::result::Result<Vec<(String, String)>, String> {
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        if params.iter().any(|(k, _)| *k == key) {
            return Err(format!("parameter {key:?} is given twice"));
        }
        params.push((key, percent_decode(value)?));
    }
    Ok(params)
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape at byte {i} of {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

/// Escapes what would be misread in a URL path or value.
fn percent_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$'()*+,;".contains(&b) || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn path_text(path: &Path) -> String {
    percent_encode(&path.to_string_lossy(), true)
}

impl fmt::Display for StoreUrl {
    /// The canonical URL: parsing it gives back the same value (credentials are never shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory://"),
            Self::Disk { root } if root.is_absolute() => write!(f, "file://{}", path_text(root)),
            Self::Disk { root } => write!(f, "file:{}", path_text(root)),
            Self::Sqlite {
                path,
                synchronous_normal,
            } => {
                match path {
                    None => f.write_str("sqlite::memory:")?,
                    // A file that is really named `:memory:` is not the in-memory database.
                    Some(p) if p.as_os_str() == ":memory:" => f.write_str("sqlite://%3Amemory:")?,
                    Some(p) => write!(f, "sqlite://{}", path_text(p))?,
                }
                if *synchronous_normal {
                    f.write_str("?synchronous=normal")?;
                }
                Ok(())
            }
            Self::S3(s3) => {
                write!(f, "s3://{}", percent_encode(&s3.bucket, false))?;
                if let Some(prefix) = &s3.prefix {
                    write!(f, "/{}", percent_encode(prefix, true))?;
                }
                let mut params: Vec<String> = Vec::new();
                if let Some(e) = &s3.endpoint {
                    params.push(format!("endpoint={}", percent_encode(e, true)));
                }
                if let Some(r) = &s3.region {
                    params.push(format!("region={}", percent_encode(r, false)));
                }
                if s3.virtual_hosted_style {
                    params.push("virtual_hosted_style=true".to_owned());
                }
                if let Some(n) = s3.nested_keys {
                    params.push(format!("nested_keys={n}"));
                }
                if let Some(c) = s3.conditional_create {
                    params.push(format!("conditional_create={c}"));
                }
                if !params.is_empty() {
                    write!(f, "?{}", params.join("&"))?;
                }
                Ok(())
            }
            Self::Layered { store, layers } => {
                let base = store.to_string();
                // Printing escapes `?` in paths, so one in `base` starts its query.
                let sep = if base.contains('?') { '&' } else { '?' };
                write!(f, "{base}{sep}{}", layers.query().join("&"))
            }
        }
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(url: &str) -> StoreUrl {
        StoreUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn reason(url: &str) -> String {
        match StoreUrl::parse(url) {
            Err(Error::InvalidUrl { reason, .. }) => reason,
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }

    #[test]
    fn every_scheme_parses() {
        assert_eq!(ok("memory://"), StoreUrl::Memory);
        assert_eq!(ok("memory:"), StoreUrl::Memory);
        assert_eq!(
            ok("file:///srv/store"),
            StoreUrl::Disk {
                root: "/srv/store".into()
            }
        );
        assert_eq!(
            ok("file://localhost/srv"),
            StoreUrl::Disk {
                root: "/srv".into()
            }
        );
        assert_eq!(
            ok("file:data/store"),
            StoreUrl::Disk {
                root: "data/store".into()
            }
        );
        assert_eq!(
            ok("file:my%20dir"),
            StoreUrl::Disk {
                root: "my dir".into()
            }
        );
        assert_eq!(
            ok("sqlite://app.db"),
            StoreUrl::Sqlite {
                path: Some("app.db".into()),
                synchronous_normal: false
            }
        );
        assert_eq!(
            ok("sqlite:///abs/app.db?synchronous=normal"),
            StoreUrl::Sqlite {
                path: Some("/abs/app.db".into()),
                synchronous_normal: true
            }
        );
        assert_eq!(
            ok("sqlite::memory:"),
            StoreUrl::Sqlite {
                path: None,
                synchronous_normal: false
            }
        );
        assert_eq!(
            ok("sqlite://:memory:"),
            StoreUrl::Sqlite {
                path: None,
                synchronous_normal: false
            }
        );
        let StoreUrl::S3(s3) = ok(
            "s3://bucket/a/b/?endpoint=http://127.0.0.1:9000&region=eu-west-1&nested_keys=false",
        ) else {
            panic!("not s3")
        };
        assert_eq!(s3.bucket, "bucket");
        assert_eq!(s3.prefix.as_deref(), Some("a/b"));
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s3.nested_keys, Some(false));
        assert_eq!(s3.conditional_create, None);
        let StoreUrl::S3(s3) = ok("s3://bucket?prefix=p") else {
            panic!("not s3")
        };
        assert_eq!(s3.prefix.as_deref(), Some("p"));
    }

    #[test]
    fn display_round_trips() {
        for url in [
            "memory://",
            "file:///srv/my%20store",
            "file:rel/dir",
            "sqlite://app.db",
            "sqlite:///abs/app.db?synchronous=normal",
            "sqlite::memory:",
            "s3://bucket",
            "s3://bucket/pre/fix?endpoint=http://127.0.0.1:9000&region=us-east-1&nested_keys=false&conditional_create=false",
        ] {
            assert_eq!(ok(url).to_string(), url);
            assert_eq!(ok(&ok(url).to_string()), ok(url));
        }
    }

    #[test]
    fn layers_parse_and_print() {
        let url = ok("sqlite://app.db?encrypt=env:MEMORY_FS_KEY&compress=zstd");
        assert_eq!(url.scheme(), "sqlite");
        assert_eq!(url.store(), &ok("sqlite://app.db"));
        let layers = url.layers();
        assert_eq!(layers.encrypt, ["env:MEMORY_FS_KEY"]);
        assert_eq!(layers.compress, Some(3));
        assert_eq!(layers.audit, None);
        assert!(ok("sqlite://app.db").layers().is_empty());
        let url = ok("memory://?audit=alice&compress=zstd:19&encrypt=env:NEW,file:/keys/old");
        assert_eq!(url.layers().encrypt, ["env:NEW", "file:/keys/old"]);
        assert_eq!(url.layers().compress, Some(19));
        assert_eq!(url.layers().audit.as_deref(), Some("alice"));
        assert_eq!(
            url.to_string(),
            "memory://?encrypt=env:NEW,file:/keys/old&compress=zstd:19&audit=alice"
        );
        for url in [
            "sqlite://app.db?encrypt=env:MEMORY_FS_KEY&compress=zstd",
            "sqlite:///abs/app.db?synchronous=normal&encrypt=env:K&audit=a%20b",
            "s3://bucket/p?endpoint=http://127.0.0.1:9000&compress=zstd:-5",
            "file:rel/dir?audit=ci",
        ] {
            assert_eq!(ok(url).to_string(), url);
        }
        assert!(reason("sqlite://a.db?encrypt=00ff").contains("never goes in the URL"));
        assert!(reason("sqlite://a.db?encrypt=env:").contains("env:VARIABLE"));
        assert!(reason("sqlite://a.db?encrypt=env:A,,env:B").contains("env:VARIABLE"));
        assert!(reason("sqlite://a.db?compress=gzip").contains("zstd or zstd:LEVEL"));
        assert!(reason("sqlite://a.db?compress=zstd:99").contains("1 to 22"));
        assert!(reason("sqlite://a.db?compress=zstd:0").contains("1 to 22"));
        assert!(reason("sqlite://a.db?audit=").contains("caller label"));
        assert!(reason("memory://?compress=zstd&x=1").contains("no parameters"));
    }

    #[test]
    fn escaped_names_round_trip() {
        let StoreUrl::S3(s3) = ok("s3://a%20b/p%2Fq") else {
            panic!("not s3")
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_deref()),
            ("a b", Some("p/q"))
        );
        for url in ["s3://a%20b/p", "s3://%C3%A9t%C3%A9", "sqlite://%3Amemory:"] {
            assert_eq!(ok(url).to_string(), url);
        }
        assert_eq!(
            ok("sqlite://%3Amemory%3A"),
            StoreUrl::Sqlite {
                path: Some(":memory:".into()),
                synchronous_normal: false
            },
            "a file named :memory: is not the in-memory database"
        );
        assert!(reason("s3://%40").contains("credentials"));
        assert!(reason("s3://b/%2Fp").contains("empty segment"));
        assert!(reason("s3://b/a//c").contains("empty segment"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(matches!(
            StoreUrl::parse("ftp://host/x"),
            Err(Error::UnknownScheme { scheme, .. }) if scheme == "ftp"
        ));
        assert!(reason("no-scheme-here").contains("no scheme"));
        assert!(reason("/abs/path").contains("no scheme"));
        assert!(reason("memory://x").contains("no path"));
        assert!(reason("memory://?a=1").contains("no parameters"));
        assert!(reason("file://server/share").contains("local directory"));
        assert!(reason("file:").contains("no directory"));
        assert!(reason("file:a%zz").contains("percent escape"));
        assert!(reason("file:a%ff").contains("UTF-8"));
        assert!(reason("sqlite://").contains("no database"));
        assert!(reason("sqlite://a.db?synchronous=off").contains("normal or full"));
        assert!(reason("sqlite://a.db?journal=wal").contains("unknown parameter"));
        assert!(reason("s3:bucket").contains("s3://bucket"));
        assert!(reason("s3://").contains("no bucket"));
        assert!(reason("s3://key:secret@bucket").contains("credentials"));
        assert!(reason("s3://b?secret_access_key=x").contains("does not belong"));
        assert!(reason("s3://b?nested_keys=maybe").contains("true or false"));
        assert!(reason("s3://b?region=a&region=b").contains("twice"));
        assert!(reason("s3://b/p?prefix=q").contains("twice"));
    }

    /// Pieces random URLs are made of: plain text, the characters URLs treat
    /// specially, escapes of them, and the names this parser knows.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "a",
            "b",
            "db",
            " ",
            "%20",
            "/",
            "//",
            "%2F",
            ":",
            "%3A",
            "@",
            "%40",
            "%25",
            "%",
            "?",
            "&",
            "=",
            "%3F",
            "%26",
            "%3D",
            "#",
            "+",
            "~",
            ".",
            "..",
            "é",
            "%C3%A9",
            ":memory:",
            "%3Amemory%3A",
            "localhost",
            "host",
            "\\",
            "%00",
            "%0A",
        ])
    }

    fn param() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "endpoint",
            "region",
            "prefix",
            "virtual_hosted_style",
            "nested_keys",
            "conditional_create",
            "synchronous",
            "encrypt",
            "compress",
            "audit",
            "other",
        ]);
        let value = prop::sample::select(vec![
            "",
            "true",
            "false",
            "1",
            "normal",
            "full",
            "http://127.0.0.1:9000",
            "a%20b",
            "%2Fp%2F",
            "/p/",
            "p/q",
            "%26",
            "x=y",
            "env:K",
            "env:A,file:/k%20x",
            "file:",
            "zstd",
            "zstd:19",
            "zstd:-3",
            "zstd:0",
            "alice",
        ]);
        (key, value).prop_map(|(k, v)| format!("{k}={v}"))
    }

    /// URLs of every scheme (and a few others), with random bodies and parameters.
    fn url() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec![
            "memory:",
            "memory://",
            "file:",
            "file://",
            "file:///",
            "FILE://localhost/",
            "sqlite:",
            "sqlite://",
            "sqlite:///",
            "s3://",
            "S3://",
            "s3:",
            "ftp://",
        ]);
        let body = prop::collection::vec(piece(), 0..8).prop_map(|p| p.concat());
        let query = prop::collection::vec(param(), 0..4).prop_map(|p| {
            if p.is_empty() {
                String::new()
            } else {
                format!("?{}", p.join("&"))
            }
        });
        (scheme, body, query).prop_map(|(s, b, q)| format!("{s}{b}{q}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Printing a URL that parsed gives back a URL that parses to the same store.
        #[test]
        fn every_url_that_parses_round_trips(text in url()) {
            if let Ok(parsed) = StoreUrl::parse(&text) {
                let printed = parsed.to_string();
                let again = StoreUrl::parse(&printed);
                prop_assert!(
                    again.as_ref().ok() == Some(&parsed),
                    "{text:?} parsed as {parsed:?}, printed as {printed:?}, which parses as {again:?}"
                );
            }
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let StoreUrl::S3(s3) = ok("s3://b") else {
            panic!("not s3")
        };
        let shown = format!("{:?}", s3.with_credentials("AKID", "hunter2"));
        assert!(
            shown.contains("AKID") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
