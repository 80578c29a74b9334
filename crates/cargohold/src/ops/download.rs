//! Serving a `.crate`: find the version, stream its blob, count the download.

use axum::http::HeaderValue;
use bytes::Bytes;
use futures::stream::BoxStream;

use cargohold_protocol::name::version_from_file_name;

use std::sync::Arc;

use crate::app::{App, DownloadCache, Registry};
use crate::auth::Actor;
use crate::db;
use crate::db::versions::DownloadRow;
use crate::error::{AppError, AppResult};
use crate::virtual_registry::{Reader, Resolved};
use crate::{proxy, virtual_registry};

/// A `.crate` ready to be sent.
pub struct Download {
    pub body: DownloadBody,
    pub size: i64,
    /// `"{sha256}"`: the `.crate`'s ETag.
    pub etag: Option<HeaderValue>,
}

/// The bytes of a `.crate`: whole when small (one write with the headers), streamed when large,
/// or a presigned URL of the object store to redirect to (`redirect-downloads-seconds`).
pub enum DownloadBody {
    Whole(Bytes),
    Stream(BoxStream<'static, object_store::Result<Bytes>>),
    Redirect(String),
}

/// Crates up to this size are read whole; most are far smaller.
const WHOLE_UP_TO: i64 = 1024 * 1024;

/// Opens `name`'s `.crate` named `file` (`{name}-{version}.crate`, as cargo asks for it).
pub async fn open(
    app: &Arc<App>,
    registry: &Arc<Registry>,
    name: &str,
    file: &str,
    reader: Option<&Actor>,
) -> AppResult<Download> {
    let version = requested_version(name, file)?;
    let resolved;
    let registry = match &registry.members {
        Some(members) => {
            let lower = name.to_ascii_lowercase();
            let reader = Reader::Request(reader);
            resolved = Box::pin(virtual_registry::resolve(app, members, &lower, reader)).await?;
            match &resolved {
                Resolved::Found(member, _) => *member,
                Resolved::Refused(reason) => return Err(AppError::NotFound(reason.to_string())),
                Resolved::Missing => {
                    return Err(AppError::NotFound(format!("no crate named `{name}`")));
                }
            }
        }
        None => registry,
    };
    let row = match find_version(app, registry, name, version).await? {
        Some(row) => {
            if let Some(proxy) = &registry.proxy {
                proxy::count_crate_hit(proxy, name, version)?;
            }
            row
        }
        None => {
            let missing =
                || AppError::NotFound(format!("crate `{name}` has no version `{version}`"));
            if registry.proxy.is_none() {
                return Err(missing());
            }
            // Fetched now: answered from the checked bytes while they are stored.
            if let Some((bytes, checksum)) =
                Box::pin(proxy::fetch_for_download(app, registry, name, version)).await?
            {
                return Ok(Download {
                    size: bytes.len() as i64,
                    body: DownloadBody::Whole(bytes),
                    etag: etag_of(&checksum),
                });
            }
            find_version(app, registry, name, version)
                .await?
                .ok_or_else(missing)?
        }
    };
    let redirect =
        app.storage.download_url(&row.blob_key).await.map_err(|e| {
            anyhow::anyhow!("could not sign a download URL for {name}@{version}: {e}")
        })?;
    let body = if let Some(url) = redirect {
        DownloadBody::Redirect(url)
    } else if row.size <= WHOLE_UP_TO {
        DownloadBody::Whole(whole_bytes(app, &row, name, version).await?)
    } else {
        DownloadBody::Stream(
            Box::pin(app.storage.get(&row.blob_key))
                .await
                .map_err(|e| missing_blob(name, version, e))?,
        )
    };
    Ok(served(app, &row, body))
}

/// The version `file` names, when it is a download of `name` (`{name}-{version}.crate`).
fn requested_version<'a>(name: &str, file: &'a str) -> AppResult<&'a str> {
    let version = version_from_file_name(name, file).ok_or_else(|| {
        AppError::NotFound(format!(
            "`{file}` is not a download of `{name}`; expected `{name}-VERSION.crate`"
        ))
    })?;
    // Only a crate name and a version can name a download (and a NUL would trouble PostgreSQL).
    let plausible = cargohold_protocol::name::validate_dependency_name(name, false).is_ok()
        && semver::Version::parse(version).is_ok();
    if !plausible {
        return Err(AppError::NotFound(format!(
            "`{}` names no crate version",
            file.escape_debug()
        )));
    }
    Ok(version)
}

/// The bytes of `row`'s `.crate` (at most [`WHOLE_UP_TO`]): from memory, or from the
/// blob store (then kept).
async fn whole_bytes(app: &App, row: &DownloadRow, name: &str, version: &str) -> AppResult<Bytes> {
    let blobs = &app.download_cache.blobs;
    if let Some(bytes) = blobs.get(&row.blob_key) {
        return Ok(bytes);
    }
    let epoch = blobs.epoch();
    let bytes = Box::pin(app.storage.get_bytes(&row.blob_key))
        .await
        .map_err(|e| missing_blob(name, version, e))?;
    if bytes.len() as i64 != row.size {
        return Err(anyhow::anyhow!(
            "the .crate of {name}@{version} in the blob store has {} bytes, not {}; `cargohold check` finds such damage",
            bytes.len(),
            row.size
        )
        .into());
    }
    blobs.insert(&row.blob_key, bytes.clone(), epoch);
    Ok(bytes)
}

fn missing_blob(name: &str, version: &str, e: object_store::Error) -> anyhow::Error {
    anyhow::anyhow!("the .crate of {name}@{version} is missing from the blob store: {e}")
}

/// Reads `name`'s `.crate` named `file` into memory without counting a download,
/// so that [`open_from_memory`] answers it next: true once it will. False where
/// [`open`] has more to do (a virtual registry, a redirect, a large file, a version
/// a proxy has yet to fetch) or answers an error; the caller then awaits [`open`].
pub async fn warm(app: &App, registry: &Registry, name: &str, file: &str) -> bool {
    if registry.members.is_some() || app.storage.redirects_downloads() {
        return false;
    }
    let Ok(version) = requested_version(name, file) else {
        return false;
    };
    let Ok(Some(row)) = find_version(app, registry, name, version).await else {
        return false;
    };
    row.size <= WHOLE_UP_TO && whole_bytes(app, &row, name, version).await.is_ok()
}

/// [`open`] when memory alone can answer: a local or proxy registry (the caller has
/// checked it is public) whose caches hold the version and its bytes, with no
/// redirects to sign. `None` otherwise, and for every error; then the caller awaits
/// [`open`]. Answering without a future spares downloads its allocation.
pub fn open_from_memory(
    app: &App,
    registry: &Registry,
    name: &str,
    file: &str,
) -> Option<Download> {
    if registry.members.is_some() || app.storage.redirects_downloads() {
        return None;
    }
    let version = version_from_file_name(name, file)?;
    let key = DownloadCache::version_key(registry.id, name, version);
    let row = app.download_cache.versions.get(&key)?;
    if row.size > WHOLE_UP_TO {
        return None;
    }
    let bytes = app.download_cache.blobs.get(&row.blob_key)?;
    if let Some(proxy) = &registry.proxy {
        proxy::count_crate_hit(proxy, name, version).ok()?;
    }
    Some(served(app, &row, DownloadBody::Whole(bytes)))
}

/// Counts the download of `row` and makes it ready to send.
fn served(app: &App, row: &DownloadRow, body: DownloadBody) -> Download {
    app.downloads.record(row.version_id, row.crate_id);
    app.stats.downloads.bump();
    Download {
        body,
        size: row.size,
        etag: etag_of(&row.checksum),
    }
}

/// `"{checksum}"` as a header value, without the formatting machinery (every download asks).
fn etag_of(checksum: &str) -> Option<HeaderValue> {
    let mut tag = Vec::with_capacity(checksum.len() + 2);
    tag.push(b'"');
    tag.extend_from_slice(checksum.as_bytes());
    tag.push(b'"');
    HeaderValue::from_maybe_shared(Bytes::from(tag)).ok()
}

/// Where `name@version`'s `.crate` is: from memory, or from the database (then kept).
async fn find_version(
    app: &App,
    registry: &Registry,
    name: &str,
    version: &str,
) -> AppResult<Option<Arc<DownloadRow>>> {
    let key = DownloadCache::version_key(registry.id, name, version);
    let versions = &app.download_cache.versions;
    if let Some(row) = versions.get(&key) {
        return Ok(Some(row));
    }
    let epoch = versions.epoch();
    let canonical = cargohold_protocol::name::canonical_name(name);
    let row = Box::pin(db::versions::find_for_download(
        app.db.read(),
        registry.id,
        &canonical,
        version,
    ))
    .await?;
    Ok(row.map(|row| {
        let row = Arc::new(row);
        versions.insert(&key, row.clone(), epoch);
        row
    }))
}
