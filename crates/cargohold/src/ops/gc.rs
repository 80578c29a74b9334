//! `cargohold gc`: deletes blobs no version names, once they are older than a
//! grace period.
//!
//! A publish writes its blob before the row that names it (blob before row), so
//! for a moment every new blob is unreferenced; the grace period is what keeps
//! such an in-flight publish safe. Each candidate is looked at again just before
//! it goes: still old (a publish of the same bytes rewrites it) and still named
//! by no row. Orphans come from publishes that failed after writing their blob,
//! and from evictions interrupted between row and blob.

use std::collections::HashSet;

use crate::app::App;
use crate::clock;
use crate::db::{self, audit::AuditEvent};
use crate::error::AppResult;
use crate::storage::BlobInfo;

/// Where `.crate` blobs live in the store (see `storage::crate_key`).
const CRATES_PREFIX: &str = "crates";

/// What a collection found and freed.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// Unreferenced blobs past the grace period: removed, or with `dry_run` to be removed.
    pub removed: Vec<BlobInfo>,
    pub removed_bytes: u64,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub young: u64,
    /// Blobs some version names.
    pub referenced: u64,
}

/// Removes the blobs no version names that were last written more than
/// `grace_secs` ago; with `dry_run` only lists them.
pub async fn collect(app: &App, grace_secs: i64, dry_run: bool) -> AppResult<Collected> {
    let cutoff = clock::now() - grace_secs;
    // List first, then read the references: a blob listed before its row was
    // committed is then either seen as referenced or young.
    let blobs = app.storage.list(CRATES_PREFIX).await?;
    let referenced: HashSet<String> = db::versions::all_blob_keys(app.db.read())
        .await?
        .into_iter()
        .collect();
    let mut collected = Collected::default();
    for blob in blobs {
        if referenced.contains(&blob.key) {
            collected.referenced += 1;
            continue;
        }
        if blob.modified > cutoff {
            collected.young += 1;
            continue;
        }
        if !dry_run {
            let fresh = app.storage.head(&blob.key).await?;
            let still_old = fresh.is_some_and(|f| f.modified <= cutoff);
            if !still_old || db::versions::blob_key_in_use(app.db.read(), &blob.key).await? {
                continue;
            }
            app.storage.delete(&blob.key).await?;
            tracing::info!(blob.key = %blob.key, blob.size = blob.size, "removed an unreferenced blob");
        }
        collected.removed_bytes += blob.size;
        collected.removed.push(blob);
    }
    if !dry_run && !collected.removed.is_empty() {
        let mut tx = app.db.begin().await?;
        db::audit::insert(
            &mut tx,
            &AuditEvent {
                detail: Some(
                    serde_json::json!({
                        "blobs": collected.removed.len(),
                        "bytes": collected.removed_bytes,
                    })
                    .to_string(),
                ),
                ..super::audit_event(None, "gc")
            },
            clock::now(),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(collected)
}
