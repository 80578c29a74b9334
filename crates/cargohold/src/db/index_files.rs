//! `index_files`: the rendered sparse index file of each crate (derived from `versions.index_line`).

use super::{Conn, on_conn};

/// A rendered index file with its validators.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndexFileRow {
    pub content: String,
    pub etag: String,
    pub last_modified: i64,
}

/// The index file of the crate whose lowercase name is `name_lower`.
pub async fn find<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
) -> sqlx::Result<Option<IndexFileRow>> {
    const SQL: &str = "SELECT content, etag, last_modified FROM index_files
                       WHERE registry_id = $1 AND name_lower = $2";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .fetch_optional(c)
        .await)
}

/// Stores the rendered file of a crate, replacing the previous one.
pub async fn upsert<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
    crate_id: i64,
    file: &IndexFileRow,
) -> sqlx::Result<()> {
    const SQL: &str =
        "INSERT INTO index_files (registry_id, name_lower, crate_id, content, etag, last_modified)
                       VALUES ($1, $2, $3, $4, $5, $6)
                       ON CONFLICT (registry_id, name_lower) DO UPDATE
                       SET crate_id = excluded.crate_id, content = excluded.content,
                           etag = excluded.etag, last_modified = excluded.last_modified";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .bind(crate_id)
        .bind(&file.content)
        .bind(&file.etag)
        .bind(file.last_modified)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
