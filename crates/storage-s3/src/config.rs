//! `S3Config`: where the bucket is, how to reach it, and how the provider behaves.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::S3Error;

/// How to reach a bucket, and how the provider behaves there.
///
/// Build one with [`S3Config::new`] and the `with_*` methods, read one from the
/// environment with [`S3Config::from_env`], or deserialize one (every field but the
/// bucket has a default; secrets are never serialized). `Debug` redacts secrets.
///
/// # Examples
///
/// ```
/// use memory_fs_storage_s3::S3Config;
///
/// let config = S3Config::new("photos")
///     .with_endpoint("http://127.0.0.1:9000")
///     .with_allow_http(true)
///     .with_credentials("AKIDEXAMPLE", "very-secret");
/// let shown = format!("{config:?}");
/// assert!(shown.contains("AKIDEXAMPLE"));
/// assert!(!shown.contains("very-secret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct S3Config {
    /// The bucket name.
    pub bucket: String,
    /// A key prefix (`a/b`, no leading or trailing `/`) under which every key lives.
    pub prefix: Option<String>,
    /// The server URL (`http://127.0.0.1:9000`); `None` means AWS for [`region`](Self::region).
    pub endpoint: Option<String>,
    /// The region used for request signing.
    pub region: String,
    /// Address the bucket as `bucket.host` (virtual-hosted style) instead of `host/bucket`.
    pub virtual_hosted_style: bool,
    /// Allow plain `http://` endpoints (local servers).
    pub allow_http: bool,
    /// The access key id; `None` reads `AWS_ACCESS_KEY_ID` and the other usual variables.
    pub access_key_id: Option<String>,
    /// The secret access key; never serialized, redacted in `Debug`.
    #[serde(skip_serializing)]
    pub secret_access_key: Option<String>,
    /// A session token for temporary credentials; never serialized, redacted in `Debug`.
    #[serde(skip_serializing)]
    pub session_token: Option<String>,
    /// Values of at least this many bytes are uploaded in parts.
    pub multipart_threshold: usize,
    /// The size of each part of a multipart upload (S3 wants at least 5 MiB).
    pub part_size: usize,
    /// The server honours `If-None-Match: *` on PUT, so `file_create` is atomic.
    pub conditional_create: bool,
    /// The server honours `If-Match` (and `If-None-Match: *`) on PUT atomically, so
    /// `file_save_if` compares and writes in one request
    /// ([`Capabilities::conditional_write`](memory_fs_storage::Capabilities::conditional_write)).
    /// AWS S3 does (since 2024), as do MinIO and moto; a server that ignores `If-Match`
    /// would overwrite without comparing, so say `false` for it.
    pub conditional_write: bool,
    /// The server holds a key and a key below it together (`a` and `a/b`). Real S3
    /// does; file-backed servers such as `s3s-fs` do not.
    pub nested_keys: bool,
    /// How many requests a batch runs at once.
    pub concurrency: usize,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// How many times a failed request is retried.
    pub max_retries: usize,
    /// How long retries of one request may go on in total.
    pub retry_timeout: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            prefix: None,
            endpoint: None,
            region: "us-east-1".to_owned(),
            virtual_hosted_style: false,
            allow_http: false,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            conditional_create: true,
            conditional_write: true,
            nested_keys: true,
            concurrency: 16,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redact(secret: &Option<String>) -> Option<&'static str> {
            secret.as_ref().map(|_| "<redacted>")
        }
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("session_token", &redact(&self.session_token))
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("conditional_create", &self.conditional_create)
            .field("conditional_write", &self.conditional_write)
            .field("nested_keys", &self.nested_keys)
            .field("concurrency", &self.concurrency)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .finish()
    }
}

/// The variable whose presence makes [`S3Config::from_env`] return a configuration.
const ENV_ENDPOINT: &str = "MEMORY_FS_S3_ENDPOINT";

impl S3Config {
    /// The defaults for `bucket`.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            ..Self::default()
        }
    }

    /// A configuration from `MEMORY_FS_S3_ENDPOINT`, `MEMORY_FS_S3_BUCKET`,
    /// `MEMORY_FS_S3_ACCESS_KEY`, `MEMORY_FS_S3_SECRET_KEY`, `MEMORY_FS_S3_REGION`,
    /// `MEMORY_FS_S3_PREFIX`, `MEMORY_FS_S3_CONDITIONAL_CREATE` and
    /// `MEMORY_FS_S3_CONDITIONAL_WRITE` (`true` or `false`); `None` when
    /// `MEMORY_FS_S3_ENDPOINT` is unset.
    ///
    /// An `http://` endpoint allows plain HTTP. Unset credentials fall back to the usual
    /// AWS variables.
    ///
    /// # Errors
    /// [`S3Error::InvalidConfig`] when the endpoint is set but the bucket is not, or a
    /// flag is neither `true` nor `false`.
    pub fn from_env() -> Result<Option<Self>, S3Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(endpoint) = var(ENV_ENDPOINT) else {
            return Ok(None);
        };
        let bucket = var("MEMORY_FS_S3_BUCKET").ok_or_else(|| S3Error::InvalidConfig {
            reason: format!("{ENV_ENDPOINT} is set but MEMORY_FS_S3_BUCKET is not"),
        })?;
        let mut config = Self::new(bucket)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
        config.access_key_id = var("MEMORY_FS_S3_ACCESS_KEY");
        config.secret_access_key = var("MEMORY_FS_S3_SECRET_KEY");
        if let Some(region) = var("MEMORY_FS_S3_REGION") {
            config.region = region;
        }
        config.prefix = var("MEMORY_FS_S3_PREFIX");
        let flag = |name: &str, default: bool| match var(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(S3Error::InvalidConfig {
                reason: format!("{name} must be true or false, not {other:?}"),
            }),
        };
        config.conditional_create =
            flag("MEMORY_FS_S3_CONDITIONAL_CREATE", config.conditional_create)?;
        config.conditional_write =
            flag("MEMORY_FS_S3_CONDITIONAL_WRITE", config.conditional_write)?;
        Ok(Some(config))
    }

    /// Sets [`prefix`](Self::prefix).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets [`endpoint`](Self::endpoint).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Sets [`region`](Self::region).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Sets [`virtual_hosted_style`](Self::virtual_hosted_style).
    pub fn with_virtual_hosted_style(mut self, yes: bool) -> Self {
        self.virtual_hosted_style = yes;
        self
    }

    /// Sets [`allow_http`](Self::allow_http).
    pub fn with_allow_http(mut self, yes: bool) -> Self {
        self.allow_http = yes;
        self
    }

    /// Sets explicit credentials instead of the AWS environment variables.
    pub fn with_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(secret_access_key.into());
        self
    }

    /// Sets [`session_token`](Self::session_token).
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Sets [`multipart_threshold`](Self::multipart_threshold).
    pub fn with_multipart_threshold(mut self, bytes: usize) -> Self {
        self.multipart_threshold = bytes;
        self
    }

    /// Sets [`part_size`](Self::part_size).
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }

    /// Sets [`conditional_create`](Self::conditional_create).
    pub fn with_conditional_create(mut self, yes: bool) -> Self {
        self.conditional_create = yes;
        self
    }

    /// Sets [`conditional_write`](Self::conditional_write).
    pub fn with_conditional_write(mut self, yes: bool) -> Self {
        self.conditional_write = yes;
        self
    }

    /// Sets [`nested_keys`](Self::nested_keys).
    pub fn with_nested_keys(mut self, yes: bool) -> Self {
        self.nested_keys = yes;
        self
    }

    /// Sets [`concurrency`](Self::concurrency).
    pub fn with_concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout) and
    /// [`request_timeout`](Self::request_timeout).
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// Sets [`max_retries`](Self::max_retries) and [`retry_timeout`](Self::retry_timeout).
    pub fn with_retries(mut self, max_retries: usize, retry_timeout: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout = retry_timeout;
        self
    }

    /// Where requests go, for messages.
    pub(crate) fn endpoint_name(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}
