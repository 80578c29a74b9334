//! The sparse index: files derived from version rows, and the handlers that serve them.

use crate::db::{self, Conn};

pub mod cache;
pub mod git;
pub mod render;
pub mod sparse;

/// Rebuilds the stored index file of one crate from its versions' lines.
///
/// Runs inside the transaction of the change that made it stale, so the file a
/// client sees always matches the rows, and it is visible the moment the change
/// is committed (cargo polls for a new version right after publishing).
pub async fn refresh_crate<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    crate_id: i64,
    name_lower: &str,
    now: i64,
) -> sqlx::Result<()> {
    let mut conn = conn.into();
    let lines = db::versions::index_lines(&mut conn, crate_id).await?;
    let mut file = render::index_file(&lines, now);
    if let Some(previous) = db::index_files::find(&mut conn, registry_id, name_lower).await? {
        // The content too, not only the ETag: `check --repair` must mend a file whose
        // bytes were damaged while its ETag was not.
        if previous.etag == file.etag && previous.content == file.content {
            return Ok(());
        }
        // Last-Modified must move forward with every change, even two in one second,
        // or a cache revalidating with If-Modified-Since would keep the old file.
        file.last_modified = file.last_modified.max(previous.last_modified + 1);
    }
    let generation = db::index_files::next_generation(&mut conn).await?;
    db::index_files::upsert(
        &mut conn,
        registry_id,
        name_lower,
        crate_id,
        &file,
        generation,
    )
    .await
}
