//! `upstream_index_files`: a proxy registry's copy of its upstream's index files.

use super::{Conn, on_conn};

/// An upstream index file as last fetched (or the upstream's "no such crate").
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UpstreamFileRow {
    pub found: bool,
    pub content: String,
    pub upstream_etag: Option<String>,
    pub upstream_last_modified: Option<String>,
    pub fetched_at: i64,
    pub changed_at: i64,
}

/// The stored upstream file of `name_lower`, if it was ever fetched.
pub async fn find<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
) -> sqlx::Result<Option<UpstreamFileRow>> {
    const SQL: &str =
        "SELECT found, content, upstream_etag, upstream_last_modified, fetched_at, changed_at
                       FROM upstream_index_files WHERE registry_id = $1 AND name_lower = $2";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .fetch_optional(c)
        .await)
}

/// Stores what the upstream answered, replacing the previous copy.
pub async fn upsert<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
    row: &UpstreamFileRow,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO upstream_index_files
                         (registry_id, name_lower, found, content, upstream_etag,
                          upstream_last_modified, fetched_at, changed_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                       ON CONFLICT (registry_id, name_lower) DO UPDATE
                       SET found = excluded.found, content = excluded.content,
                           upstream_etag = excluded.upstream_etag,
                           upstream_last_modified = excluded.upstream_last_modified,
                           fetched_at = excluded.fetched_at, changed_at = excluded.changed_at";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .bind(row.found)
        .bind(&row.content)
        .bind(&row.upstream_etag)
        .bind(&row.upstream_last_modified)
        .bind(row.fetched_at)
        .bind(row.changed_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records that the upstream confirmed the stored copy (a 304) at `now`.
pub async fn touch<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
    now: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE upstream_index_files SET fetched_at = $3
                       WHERE registry_id = $1 AND name_lower = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// How many upstream files are stored, and how many of them name a crate.
pub async fn count<'c>(conn: impl Into<Conn<'c>>, registry_id: i64) -> sqlx::Result<(i64, i64)> {
    const SQL: &str =
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN found THEN 1 ELSE 0 END), 0) AS BIGINT)
                       FROM upstream_index_files WHERE registry_id = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .fetch_one(c)
        .await)
}
