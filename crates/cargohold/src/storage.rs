//! The blob store: `.crate` files by key, on local disk (object_store's file system store).

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// Where `.crate` files live. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
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
    /// Opens the store at `storage_url`: a directory, created if missing.
    pub fn open(storage_url: &str) -> anyhow::Result<Self> {
        if storage_url.contains("://") && !storage_url.starts_with("file://") {
            anyhow::bail!(
                "storage-url `{storage_url}` is not supported: give a directory (or a file:// URL)"
            );
        }
        let dir = storage_url.trim_start_matches("file://");
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create the blob directory {dir}"))?;
        // fsync each file and its directory: a publish is acknowledged only once its
        // .crate would survive a power cut.
        let store = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("could not open the blob directory {dir}"))?
            .with_fsync(true);
        Ok(Self {
            inner: Arc::new(store),
        })
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
