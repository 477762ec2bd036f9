//! An `S3` implementation around `s3s-fs` that makes conditional writes real: it
//! evaluates `If-None-Match: *` and `If-Match` of `PutObject` and
//! `CompleteMultipartUpload` itself, from the request headers, and checks and writes as
//! one step.
//!
//! `s3s-fs` 0.14.1 looks at those headers, but checks and then writes with other
//! requests free to run in between, so two racing conditional writers can both win.
//! Here every write to an object takes a lock: plain writes share it, a conditional
//! write holds it alone from its check to the end of its write.
//!
//! `s3s-fs` keeps an object's `ETag` in a file beside its content and replaces the two
//! one after the other, so a read between them would pair the old content with the new
//! `ETag` (and a conditional write from that read would overwrite a newer value). Here
//! each object has a lock: reads of it share it, writes to it hold it alone, so a read
//! sees a content and its own `ETag`.
//!
//! Listings carry each object's `ETag`, as S3, MinIO and moto's do (`s3s-fs` leaves it
//! out): the layer fills it in from the object itself.

use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput, CreateBucketInput,
    CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteBucketInput,
    DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput,
    DeleteObjectsOutput, GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput,
    GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput,
    ListBucketsInput, ListBucketsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, ListPartsInput, ListPartsOutput, PutObjectInput, PutObjectOutput,
    UploadPartCopyInput, UploadPartCopyOutput, UploadPartInput, UploadPartOutput,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use s3s::{S3, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// `s3s-fs` with conditional writes checked and applied atomically.
pub(crate) struct Conditional {
    inner: s3s_fs::FileSystem,
    /// Shared by plain writes, held alone by a conditional one.
    writes: RwLock<()>,
    /// One lock per object (by bucket and key): shared by its reads, held alone by a
    /// write to it.
    objects: Mutex<HashMap<ObjectName, Arc<RwLock<()>>>>,
}

/// An object by bucket and key.
type ObjectName = (String, String);

impl Conditional {
    pub(crate) fn new(inner: s3s_fs::FileSystem) -> Self {
        Self {
            inner,
            writes: RwLock::new(()),
            objects: Mutex::new(HashMap::new()),
        }
    }

    fn object(&self, bucket: &str, key: &str) -> Arc<RwLock<()>> {
        let mut objects = self
            .objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        objects
            .entry((bucket.to_owned(), key.to_owned()))
            .or_default()
            .clone()
    }

    /// Reading `bucket/key`: no write to it runs meanwhile.
    async fn reading(&self, bucket: &str, key: &str) -> OwnedRwLockReadGuard<()> {
        self.object(bucket, key).read_owned().await
    }

    /// Writing `bucket/keys`: nothing else reads or writes them meanwhile (locked in
    /// key order, so two writers of several keys cannot wait on each other).
    async fn writing<'k>(
        &self,
        bucket: &str,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Vec<OwnedRwLockWriteGuard<()>> {
        let mut keys: Vec<&str> = keys.into_iter().collect();
        keys.sort_unstable();
        keys.dedup();
        let mut held = Vec::with_capacity(keys.len());
        for key in keys {
            held.push(self.object(bucket, key).write_owned().await);
        }
        held
    }

    /// The current `ETag` of `bucket/key`, or `None` when there is no such object; the
    /// `HEAD` is sent as `caller` (the request being served).
    async fn current(&self, caller: &Caller, bucket: &str, key: &str) -> S3Result<Option<String>> {
        let head = S3Request {
            input: HeadObjectInput {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                ..HeadObjectInput::default()
            },
            method: http::Method::HEAD,
            uri: caller.uri.clone(),
            headers: http::HeaderMap::new(),
            extensions: http::Extensions::new(),
            credentials: caller.credentials.clone(),
            region: caller.region.clone(),
            service: caller.service.clone(),
            trailing_headers: None,
        };
        match self.inner.head_object(head).await {
            Ok(found) => Ok(Some(
                found
                    .output
                    .e_tag
                    .map(|t| t.value().to_owned())
                    .unwrap_or_default(),
            )),
            // No object there.
            Err(e) if matches!(e.code(), S3ErrorCode::NoSuchKey) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Who sent the request being served, for the requests the layer sends on its behalf.
struct Caller {
    uri: http::Uri,
    credentials: Option<s3s::auth::Credentials>,
    region: Option<s3s::region::Region>,
    service: Option<String>,
}

impl Caller {
    fn of<T>(req: &S3Request<T>) -> Self {
        Self {
            uri: req.uri.clone(),
            credentials: req.credentials.clone(),
            region: req.region.clone(),
            service: req.service.clone(),
        }
    }
}

/// The conditions of a write, read from its headers.
#[derive(Debug, Default)]
struct Conditions {
    /// `If-None-Match: *`: the object must not exist.
    absent: bool,
    /// `If-Match`: the object must exist (`*`) or have this `ETag`.
    matching: Option<Option<String>>,
}

impl Conditions {
    fn of(headers: &http::HeaderMap) -> S3Result<Self> {
        let text = |name: &str| -> S3Result<Option<String>> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map(|s| s.trim().to_owned())
                        .map_err(|_| s3_error!(InvalidArgument, "{name} is not text"))
                })
                .transpose()
        };
        let absent = match text("if-none-match")? {
            None => false,
            Some(v) if v == "*" => true,
            Some(v) => {
                return Err(s3_error!(
                    NotImplemented,
                    "If-None-Match on a write takes only *, not {v}"
                ));
            }
        };
        let matching = text("if-match")?.map(|v| (v != "*").then(|| unquote(&v).to_owned()));
        Ok(Self { absent, matching })
    }

    fn any(&self) -> bool {
        self.absent || self.matching.is_some()
    }

    /// Whether an object whose `ETag` is `current` (`None`: absent) meets them.
    fn hold(&self, current: Option<&str>) -> S3Result<()> {
        if self.absent && current.is_some() {
            return Err(s3_error!(PreconditionFailed, "the object exists"));
        }
        match (&self.matching, current) {
            (Some(_), None) => Err(s3_error!(PreconditionFailed, "the object does not exist")),
            (Some(Some(want)), Some(have)) if unquote(have) != want => {
                Err(s3_error!(PreconditionFailed, "the ETag does not match"))
            }
            _ => Ok(()),
        }
    }
}

/// An `ETag` without its quotes (and without a weak marker).
fn unquote(tag: &str) -> &str {
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
}

/// The `S3` implementation: operations on no object's content or `ETag` are
/// forwarded; the rest is written out. (One macro emits the whole `impl`, so
/// `async_trait` sees every method.)
macro_rules! s3_impl {
    (
        forward { $($f:ident($fi:ty) -> $fo:ty;)* }
        $($rest:tt)*
    ) => {
        #[async_trait::async_trait]
        impl S3 for Conditional {
            $(
                async fn $f(&self, req: S3Request<$fi>) -> S3Result<S3Response<$fo>> {
                    self.inner.$f(req).await
                }
            )*
            $($rest)*
        }
    };
}

s3_impl! {
    forward {
        create_bucket(CreateBucketInput) -> CreateBucketOutput;
        delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
        head_bucket(HeadBucketInput) -> HeadBucketOutput;
        list_buckets(ListBucketsInput) -> ListBucketsOutput;
        list_objects(ListObjectsInput) -> ListObjectsOutput;
        create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
        upload_part(UploadPartInput) -> UploadPartOutput;
        upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
        list_parts(ListPartsInput) -> ListPartsOutput;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        // The content is opened and its ETag read under the lock; the body then streams
        // from the opened file, which a later write replaces rather than changes.
        let _reading = self.reading(&req.input.bucket, &req.input.key).await;
        self.inner.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let _reading = self.reading(&req.input.bucket, &req.input.key).await;
        self.inner.head_object(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let _shared = self.writes.read().await;
        let _writing = self
            .writing(&req.input.bucket, [req.input.key.as_str()])
            .await;
        self.inner.copy_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let _shared = self.writes.read().await;
        let _writing = self
            .writing(&req.input.bucket, [req.input.key.as_str()])
            .await;
        self.inner.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let _shared = self.writes.read().await;
        let bucket = req.input.bucket.clone();
        let keys: Vec<String> = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| o.key.clone())
            .collect();
        let _writing = self.writing(&bucket, keys.iter().map(String::as_str)).await;
        self.inner.delete_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = req.input.bucket.clone();
        let caller = Caller::of(&req);
        let mut listed = self.inner.list_objects_v2(req).await?;
        for object in listed.output.contents.iter_mut().flatten() {
            if object.e_tag.is_some() {
                continue;
            }
            let Some(key) = object.key.as_deref() else {
                continue;
            };
            // An object removed since it was listed keeps no tag.
            let _reading = self.reading(&bucket, key).await;
            if let Some(tag) = self.current(&caller, &bucket, key).await? {
                object.e_tag = Some(s3s::dto::ETag::Strong(tag));
            }
        }
        Ok(listed)
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let conditions = Conditions::of(&req.headers)?;
        let object = self.object(&req.input.bucket, &req.input.key);
        if !conditions.any() {
            let _shared = self.writes.read().await;
            let _writing = object.write_owned().await;
            return self.inner.put_object(req).await;
        }
        let _alone = self.writes.write().await;
        let _writing = object.write_owned().await;
        let current = self
            .current(&Caller::of(&req), &req.input.bucket, &req.input.key)
            .await?;
        if let Err(refused) = conditions.hold(current.as_deref()) {
            // Read the body the client is sending before answering, as S3 does, so the
            // connection stays usable for the client's next request.
            if let Some(mut body) = req.input.body.take() {
                use futures::StreamExt as _;
                while let Some(Ok(_)) = body.next().await {}
            }
            return Err(refused);
        }
        // Decided here; the inner server must not decide again on its own.
        req.input.if_match = None;
        req.input.if_none_match = None;
        self.inner.put_object(req).await
    }

    async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let conditions = Conditions::of(&req.headers)?;
        let object = self.object(&req.input.bucket, &req.input.key);
        if !conditions.any() {
            let _shared = self.writes.read().await;
            let _writing = object.write_owned().await;
            return self.inner.complete_multipart_upload(req).await;
        }
        let _alone = self.writes.write().await;
        let _writing = object.write_owned().await;
        let current = self
            .current(&Caller::of(&req), &req.input.bucket, &req.input.key)
            .await?;
        conditions.hold(current.as_deref())?;
        req.input.if_match = None;
        req.input.if_none_match = None;
        self.inner.complete_multipart_upload(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(pairs: &[(&'static str, &'static str)]) -> Conditions {
        let mut headers = http::HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, http::HeaderValue::from_static(value));
        }
        Conditions::of(&headers).expect("parse")
    }

    #[test]
    fn conditions_are_read_from_headers_and_decide_as_s3_does() {
        let none = conditions(&[]);
        assert!(!none.any());
        assert!(none.hold(None).is_ok() && none.hold(Some("\"a\"")).is_ok());

        let create = conditions(&[("if-none-match", "*")]);
        assert!(create.hold(None).is_ok());
        assert!(create.hold(Some("\"a\"")).is_err());

        let update = conditions(&[("if-match", "\"abc\"")]);
        assert!(update.hold(Some("\"abc\"")).is_ok());
        assert!(
            update.hold(Some("abc")).is_ok(),
            "quotes are not part of the tag"
        );
        assert!(update.hold(Some("\"abd\"")).is_err());
        assert!(
            update.hold(None).is_err(),
            "a missing object matches no tag"
        );

        let exists = conditions(&[("if-match", "*")]);
        assert!(exists.hold(Some("\"x\"")).is_ok());
        assert!(exists.hold(None).is_err());
    }
}
