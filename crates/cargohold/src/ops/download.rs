//! Serving a `.crate`: find the version, stream its blob, count the download.

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::app::{App, Registry};
use crate::db;
use crate::error::{AppError, AppResult};

/// A `.crate` ready to be sent.
pub struct Download {
    pub body: BoxStream<'static, object_store::Result<Bytes>>,
    pub size: i64,
    pub checksum: String,
}

/// Opens `name`'s `.crate` named `file` (`{name}-{version}.crate`, as cargo asks for it).
pub async fn open(app: &App, registry: &Registry, name: &str, file: &str) -> AppResult<Download> {
    let version = version_from_file_name(name, file).ok_or_else(|| {
        AppError::NotFound(format!(
            "`{file}` is not a download of `{name}`; expected `{name}-VERSION.crate`"
        ))
    })?;
    let canonical = cargohold_protocol::name::canonical_name(name);
    let row = db::versions::find_for_download(app.db.read(), registry.id, &canonical, version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("crate `{name}` has no version `{version}`")))?;
    let body = app.storage.get(&row.blob_key).await.map_err(|e| {
        anyhow::anyhow!("the .crate of {name}@{version} is missing from the blob store: {e}")
    })?;
    app.downloads.record(row.version_id, row.crate_id);
    Ok(Download {
        body,
        size: row.size,
        checksum: row.checksum,
    })
}

/// `serde-1.0.0+x.crate` for crate `serde` → `1.0.0+x`; crate names compare without regard to case.
fn version_from_file_name<'a>(name: &str, file: &'a str) -> Option<&'a str> {
    let stem = file.strip_suffix(".crate")?;
    let head = stem.get(..name.len())?;
    let version = stem.get(name.len()..)?.strip_prefix('-')?;
    (head.eq_ignore_ascii_case(name) && !version.is_empty()).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_the_version_including_build_metadata() {
        assert_eq!(
            version_from_file_name("Demo", "Demo-1.0.0+b.5.crate"),
            Some("1.0.0+b.5")
        );
        assert_eq!(
            version_from_file_name("demo", "Demo-1.0.0.crate"),
            Some("1.0.0")
        );
        assert_eq!(
            version_from_file_name("a-b", "a-b-0.1.0-rc.1.crate"),
            Some("0.1.0-rc.1")
        );
        assert_eq!(version_from_file_name("demo", "other-1.0.0.crate"), None);
        assert_eq!(version_from_file_name("demo", "demo-1.0.0.tar.gz"), None);
        assert_eq!(version_from_file_name("demo", "demo-.crate"), None);
        assert_eq!(version_from_file_name("démo", "d-1.crate"), None);
    }
}
