//! Counts every request the test server serves, by S3 operation and by HTTP method, so
//! tests can assert how many requests an operation of the layers above takes.
//!
//! The count is taken where `s3s` checks access, which it does for every request it
//! routes to an operation (signed or not), before the operation runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use s3s::access::{S3Access, S3AccessContext};
use s3s::{S3Result, s3_error};

/// How many requests a [`TestServer`](super::TestServer) served, by S3 operation
/// (`GetObject`, `PutObject`, `ListObjectsV2`…) and by HTTP method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    by_operation: BTreeMap<String, u64>,
    by_method: BTreeMap<String, u64>,
}

impl RequestCounts {
    /// Requests of every kind.
    pub fn total(&self) -> u64 {
        self.by_operation.values().sum()
    }

    /// Requests of the S3 operation `name` (as AWS names it: `HeadObject`).
    pub fn operation(&self, name: &str) -> u64 {
        self.by_operation.get(name).copied().unwrap_or(0)
    }

    /// Requests with the HTTP method `method` (`GET`, `PUT`…).
    pub fn method(&self, method: &str) -> u64 {
        self.by_method.get(method).copied().unwrap_or(0)
    }

    /// Every operation seen, with its count, in name order.
    pub fn by_operation(&self) -> &BTreeMap<String, u64> {
        &self.by_operation
    }

    /// Every HTTP method seen, with its count.
    pub fn by_method(&self) -> &BTreeMap<String, u64> {
        &self.by_method
    }
}

impl std::fmt::Display for RequestCounts {
    /// `3 requests (GetObject 2, PutObject 1)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} requests", self.total())?;
        let mut sep = " (";
        for (op, n) in &self.by_operation {
            write!(f, "{sep}{op} {n}")?;
            sep = ", ";
        }
        if !self.by_operation.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The shared tally.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter(Arc<Mutex<RequestCounts>>);

impl Counter {
    pub(crate) fn snapshot(&self) -> RequestCounts {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn reset(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = RequestCounts::default();
    }

    fn count(&self, operation: &str, method: &str) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.by_operation.entry(operation.to_owned()).or_default() += 1;
        *counts.by_method.entry(method.to_owned()).or_default() += 1;
    }
}

#[async_trait::async_trait]
impl S3Access for Counter {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        self.count(cx.s3_op().name(), cx.method().as_str());
        // What `s3s` does without an access policy: signed requests only.
        match cx.credentials() {
            Some(_) => Ok(()),
            None => Err(s3_error!(AccessDenied, "Signature is required")),
        }
    }
}
