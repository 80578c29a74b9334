//! `registries`: one row per configured registry, so crates can refer to it by id.

use super::{Pool, on_pool};

/// A registry as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegistryRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
}

/// Returns the row for `name`, creating it with `kind` if this is its first start.
pub async fn ensure(pool: &Pool, name: &str, kind: &str, now: i64) -> sqlx::Result<RegistryRow> {
    const INSERT: &str = "INSERT INTO registries (name, kind, created_at) VALUES ($1, $2, $3)
                          ON CONFLICT (name) DO NOTHING";
    const SELECT: &str = "SELECT id, name, kind FROM registries WHERE name = $1";
    on_pool!(pool, |p| sqlx::query(INSERT)
        .bind(name)
        .bind(kind)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    on_pool!(pool, |p| sqlx::query_as(SELECT)
        .bind(name)
        .fetch_one(p)
        .await)
}

/// Every registry the database has rows for, with how many crates each holds.
pub async fn crate_counts(pool: &Pool) -> sqlx::Result<Vec<(String, i64)>> {
    const SQL: &str = "SELECT r.name, COUNT(c.id) FROM registries r
                       LEFT JOIN crates c ON c.registry_id = r.id
                       GROUP BY r.name ORDER BY r.name";
    on_pool!(pool, |p| sqlx::query_as(SQL).fetch_all(p).await)
}

/// What the crates of one registry add up to.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct HoldingsRow {
    pub registry_id: i64,
    pub crates: i64,
    pub versions: i64,
    /// The `.crate` files' bytes.
    pub bytes: i64,
    pub downloads: i64,
}

/// [`HoldingsRow`] of every registry that holds a crate.
pub async fn holdings(pool: &Pool) -> sqlx::Result<Vec<HoldingsRow>> {
    const SQL: &str = "SELECT c.registry_id, COUNT(*) AS crates,
                              CAST(COALESCE(SUM(v.versions), 0) AS BIGINT) AS versions,
                              CAST(COALESCE(SUM(v.bytes), 0) AS BIGINT) AS bytes,
                              CAST(COALESCE(SUM(c.downloads), 0) AS BIGINT) AS downloads
                       FROM crates c
                       LEFT JOIN (SELECT crate_id, COUNT(*) AS versions, SUM(size) AS bytes
                                  FROM versions GROUP BY crate_id) v ON v.crate_id = c.id
                       GROUP BY c.registry_id";
    on_pool!(pool, |p| sqlx::query_as(SQL).fetch_all(p).await)
}
