//! The blob store: `.crate` files by key, on local disk or in an S3-compatible
//! bucket (object_store's file system and S3 stores).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
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
    description: String,
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
            description: format!("s3://{bucket_and_prefix}"),
        })
    }

    /// Where the blobs live, for messages: a directory or `s3://bucket/prefix`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether the store answers: a lookup of a key that never exists must come
    /// back "not found" (`/ready`, and `serve` before it listens).
    pub async fn probe(&self) -> anyhow::Result<()> {
        match self.inner.head(&Path::from("cargohold-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(anyhow::Error::new(err).context(format!(
                "the blob store {} does not answer",
                self.description
            ))),
        }
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
