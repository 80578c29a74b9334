//! The blob store: `.crate` files by key, on local disk or in an S3-compatible
//! bucket (object_store's file system and S3 stores).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::{Method, Signer};
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::config::{Config, S3Config};

/// Where `.crate` files live. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// Signs download URLs, for an S3 store that redirects downloads.
    s3: Option<S3Signer>,
    /// The bucket and the endpoint that serves it, for an S3 store.
    bucket: Option<Bucket>,
    description: String,
}

#[derive(Debug, Clone)]
struct Bucket {
    name: String,
    endpoint: String,
}

/// Why a blob store request failed, when it is one of the failures an operator
/// must fix rather than a fault of cargohold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// The bucket `storage-url` names does not exist (S3 `NoSuchBucket`).
    NoBucket,
    /// The store refused the credentials or the operation (403, 401).
    AccessDenied,
    /// No connection, or no answer in time.
    Unreachable,
}

impl StoreFailure {
    /// The expected failure `err` is, if it is one.
    pub fn of(err: &object_store::Error) -> Option<Self> {
        if matches!(
            err,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) {
            return Some(Self::AccessDenied);
        }
        // S3 names the failure in the body of its answer (`<Code>NoSuchBucket</Code>`), which
        // object_store keeps only in the message of the request error it wraps.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(current) = cause {
            if let Some(http) = current.downcast_ref::<object_store::client::HttpError>() {
                use object_store::client::HttpErrorKind;
                if matches!(
                    http.kind(),
                    HttpErrorKind::Connect
                        | HttpErrorKind::Request
                        | HttpErrorKind::Timeout
                        | HttpErrorKind::Interrupted
                ) {
                    return Some(Self::Unreachable);
                }
            }
            let text = current.to_string();
            if text.contains("<Code>NoSuchBucket</Code>") {
                return Some(Self::NoBucket);
            }
            if [
                "AccessDenied",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
            ]
            .iter()
            .any(|code| text.contains(&format!("<Code>{code}</Code>")))
            {
                return Some(Self::AccessDenied);
            }
            cause = current.source();
        }
        None
    }
}

#[derive(Debug, Clone)]
struct S3Signer {
    /// The bucket with the prefix of `s3://bucket/prefix`, as the blobs are.
    store: Arc<PrefixStore<AmazonS3>>,
    expires_in: Duration,
}

/// A stored blob as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub key: String,
    pub size: u64,
    /// When it was last written, in Unix seconds.
    pub modified: i64,
}

impl From<object_store::ObjectMeta> for BlobInfo {
    fn from(meta: object_store::ObjectMeta) -> Self {
        Self {
            key: meta.location.to_string(),
            size: meta.size,
            modified: meta.last_modified.timestamp(),
        }
    }
}

/// The key of a `.crate` file.
///
/// Content-addressed by checksum, so two uploads racing for one version never
/// write the same key with different bytes: whichever wins the database
/// transaction names a blob holding exactly its own bytes.
pub fn crate_key(registry: &str, name_lower: &str, version: &str, checksum: &str) -> String {
    format!("crates/{registry}/{name_lower}/{version}/{checksum}.crate")
}

impl BlobStore {
    /// Opens the store `config` names (`storage-url`): a directory, created if
    /// missing, or an S3-compatible bucket (`s3://bucket/prefix` with `[s3]`).
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let storage_url = config.storage_url();
        if let Some(rest) = storage_url.strip_prefix("s3://") {
            return Self::open_s3(rest, &config.s3);
        }
        if storage_url.contains("://") && !storage_url.starts_with("file://") {
            anyhow::bail!(
                "storage-url `{storage_url}` is not supported: give a directory, a file:// URL or an s3://bucket/prefix URL"
            );
        }
        Self::local(std::path::Path::new(
            storage_url.trim_start_matches("file://"),
        ))
    }

    /// The directory `dir`, created if missing.
    pub fn local(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create the blob directory {}", dir.display()))?;
        // fsync each file and its directory: a publish is acknowledged only once its
        // .crate would survive a power cut. Deleting a blob (gc, eviction) also
        // removes the directories it leaves empty.
        let store = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("could not open the blob directory {}", dir.display()))?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(Self {
            inner: Arc::new(store),
            s3: None,
            bucket: None,
            description: dir.display().to_string(),
        })
    }

    /// `bucket/prefix` in an S3-compatible store. A PUT there is atomic and durable
    /// once answered, which is what a publish needs before it writes its row.
    fn open_s3(bucket_and_prefix: &str, s3: &S3Config) -> anyhow::Result<Self> {
        let (bucket, prefix) = bucket_and_prefix
            .split_once('/')
            .unwrap_or((bucket_and_prefix, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() {
            anyhow::bail!(
                "storage-url `s3://{bucket_and_prefix}` names no bucket: use s3://bucket/prefix"
            );
        }
        // A publish waits for its PUT: give up within seconds when the store is down
        // (the client gets a 503 and may try again), not after object_store's default minutes.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            ..RetryConfig::default()
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(120));
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_client_options(client);
        if let Some(endpoint) = &s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &s3.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &s3.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .unwrap_or_else(|| {
                let region = builder
                    .get_config_value(&AmazonS3ConfigKey::Region)
                    .unwrap_or_else(|| "us-east-1".to_owned());
                format!("https://s3.{region}.amazonaws.com")
            });
        let store = builder
            .build()
            .with_context(|| format!("could not set up the object store s3://{bucket}"))?;
        let store = Arc::new(PrefixStore::new(store, prefix));
        let redirect = (s3.redirect_downloads_seconds > 0).then(|| S3Signer {
            store: store.clone(),
            expires_in: Duration::from_secs(s3.redirect_downloads_seconds),
        });
        Ok(Self {
            inner: store,
            s3: redirect,
            bucket: Some(Bucket {
                name: bucket.to_owned(),
                endpoint,
            }),
            description: format!("s3://{bucket_and_prefix}"),
        })
    }

    /// Whether the blobs live in a directory of this machine, not a bucket.
    pub fn is_local(&self) -> bool {
        self.bucket.is_none()
    }

    /// Where the blobs live, for messages: a directory or `s3://bucket/prefix`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether the store answers and its bucket exists (`/ready`, and `serve`
    /// before it listens): a listing of a prefix that holds nothing must come
    /// back empty. Not a lookup of one key: S3 answers that with the same bodiless
    /// 404 whether the key or the whole bucket is missing.
    pub async fn probe(&self) -> anyhow::Result<()> {
        let Err(err) = self
            .inner
            .list_with_delimiter(Some(&Path::from("cargohold-probe")))
            .await
        else {
            return Ok(());
        };
        let failure = StoreFailure::of(&err);
        if let Some(bucket) = &self.bucket {
            let Bucket { name, endpoint } = bucket;
            match failure {
                Some(StoreFailure::NoBucket) => anyhow::bail!(
                    "bucket `{name}` does not exist at {endpoint}; create it or fix storage-url"
                ),
                Some(StoreFailure::AccessDenied) => anyhow::bail!(
                    "bucket `{name}` at {endpoint} refused access; check the [s3] credentials and the \
                     bucket's permissions"
                ),
                _ => {}
            }
        }
        let at = self
            .bucket
            .as_ref()
            .map(|bucket| format!(" at {}", bucket.endpoint))
            .unwrap_or_default();
        Err(
            anyhow::anyhow!("{}", crate::error::one_line(&err)).context(format!(
                "the blob store {}{at} does not answer",
                self.description
            )),
        )
    }

    /// Whether downloads are answered with a redirect to a presigned URL ([`Storage::download_url`]).
    pub fn redirects_downloads(&self) -> bool {
        self.s3.is_some()
    }

    /// A presigned URL for downloading the blob under `key`, when the store is an
    /// S3 bucket with `redirect-downloads-seconds` set.
    pub async fn download_url(&self, key: &str) -> object_store::Result<Option<String>> {
        let Some(signer) = &self.s3 else {
            return Ok(None);
        };
        // Boxed: every download awaits this, and most never sign (docs/performance.md).
        let url = Box::pin(signer.store.signed_url(
            Method::GET,
            &Path::parse(key)?,
            signer.expires_in,
        ))
        .await?;
        Ok(Some(url.to_string()))
    }

    /// Stores `bytes` under `key`, atomically: readers see all of it or nothing.
    pub async fn put(&self, key: &str, bytes: Bytes) -> object_store::Result<()> {
        self.inner
            .put(&Path::parse(key)?, PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Streams the blob under `key`.
    pub async fn get(
        &self,
        key: &str,
    ) -> object_store::Result<BoxStream<'static, object_store::Result<Bytes>>> {
        Ok(self.inner.get(&Path::parse(key)?).await?.into_stream())
    }

    /// Reads the whole blob under `key`.
    pub async fn get_bytes(&self, key: &str) -> object_store::Result<Bytes> {
        self.inner.get(&Path::parse(key)?).await?.bytes().await
    }

    /// Deletes the blob under `key`; a missing blob is not an error.
    pub async fn delete(&self, key: &str) -> object_store::Result<()> {
        match self.inner.delete(&Path::parse(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Whether a blob exists under `key`.
    pub async fn exists(&self, key: &str) -> object_store::Result<bool> {
        match self.inner.head(&Path::parse(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The blob under `key` without its bytes, or `None` when there is none.
    pub async fn head(&self, key: &str) -> object_store::Result<Option<BlobInfo>> {
        match self.inner.head(&Path::parse(key)?).await {
            Ok(meta) => Ok(Some(meta.into())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every blob whose key starts with the folder `prefix`. Files still being
    /// written (the local store's staging files) are not listed.
    pub async fn list(&self, prefix: &str) -> object_store::Result<Vec<BlobInfo>> {
        self.inner
            .list(Some(&Path::parse(prefix)?))
            .map_ok(BlobInfo::from)
            .try_collect()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_error(body: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: format!(
                "Error performing list request: Server returned non-2xx status code: {body}"
            )
            .into(),
        }
    }

    #[test]
    fn s3_error_codes_name_the_failure() {
        assert_eq!(
            StoreFailure::of(&s3_error(
                "404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code></Error>"
            )),
            Some(StoreFailure::NoBucket)
        );
        assert_eq!(
            StoreFailure::of(&s3_error(
                "403 Forbidden: <Error><Code>AccessDenied</Code></Error>"
            )),
            Some(StoreFailure::AccessDenied)
        );
        assert_eq!(
            StoreFailure::of(&object_store::Error::PermissionDenied {
                path: "crates/x".into(),
                source: "403".into(),
            }),
            Some(StoreFailure::AccessDenied)
        );
        assert_eq!(
            StoreFailure::of(&s3_error(
                "500 Internal Server Error: <Error><Code>InternalError</Code></Error>"
            )),
            None
        );
    }
}
