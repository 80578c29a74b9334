//! `advisories` and `advisory_imports`: the RustSec advisories last imported.

use super::{Conn, on_conn};

/// One advisory as stored: what the crate page and the report show, and the
/// requirements the matching (`ops::advisories::affects`) reads.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct AdvisoryRow {
    pub id: String,
    pub package: String,
    pub canonical_name: String,
    pub date: String,
    pub title: String,
    pub url: Option<String>,
    /// `unmaintained`, `unsound`, `notice`, …; `None` for a vulnerability.
    pub informational: Option<String>,
    /// CVE and GHSA ids, separated by spaces.
    pub aliases: String,
    pub cvss: Option<String>,
    /// Semver requirements separated by `;`.
    pub patched: String,
    pub unaffected: String,
}

/// Deletes every advisory: an import replaces the whole set.
pub async fn delete_all<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM advisories";
    on_conn!(conn, |c| sqlx::query(SQL)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Adds one advisory.
pub async fn insert<'c>(conn: impl Into<Conn<'c>>, row: &AdvisoryRow) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO advisories
          (id, package, canonical_name, date, title, url, informational, aliases, cvss, patched, unaffected)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(&row.id)
        .bind(&row.package)
        .bind(&row.canonical_name)
        .bind(&row.date)
        .bind(&row.title)
        .bind(&row.url)
        .bind(&row.informational)
        .bind(&row.aliases)
        .bind(&row.cvss)
        .bind(&row.patched)
        .bind(&row.unaffected)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The advisories of the crates.io crate whose canonical name is `canonical`, newest first.
pub async fn list_for_crate<'c>(
    conn: impl Into<Conn<'c>>,
    canonical: &str,
) -> sqlx::Result<Vec<AdvisoryRow>> {
    const SQL: &str =
        "SELECT id, package, canonical_name, date, title, url, informational, aliases,
                              cvss, patched, unaffected
                       FROM advisories WHERE canonical_name = $1 ORDER BY date DESC, id DESC";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(canonical)
        .fetch_all(c)
        .await)
}

/// How many advisories are stored.
pub async fn count<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM advisories";
    on_conn!(conn, |c| sqlx::query_scalar(SQL).fetch_one(c).await)
}

/// A cached version of a crate some advisory names, with the advisory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CachedVersionRow {
    pub crate_name: String,
    pub num: String,
    pub downloads: i64,
    pub published_at: i64,
    #[sqlx(flatten)]
    pub advisory: AdvisoryRow,
}

/// Every version registry `registry_id` holds of a crate an advisory names, with
/// that advisory (a version appears once per advisory of its crate). Served by the
/// advisories' name index and the crates' and versions' unique keys.
pub async fn list_cached_versions<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
) -> sqlx::Result<Vec<CachedVersionRow>> {
    const SQL: &str = "SELECT c.name AS crate_name, v.num, v.downloads, v.published_at,
                              a.id, a.package, a.canonical_name, a.date, a.title, a.url,
                              a.informational, a.aliases, a.cvss, a.patched, a.unaffected
                       FROM advisories a
                       JOIN crates c ON c.registry_id = $1 AND c.canonical_name = a.canonical_name
                       JOIN versions v ON v.crate_id = c.id";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .fetch_all(c)
        .await)
}

/// Records an import made as index change `generation`.
pub async fn insert_import<'c>(
    conn: impl Into<Conn<'c>>,
    imported_at: i64,
    source: &str,
    advisories: i64,
    generation: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO advisory_imports (imported_at, source, advisories, generation)
                       VALUES ($1, $2, $3, $4)";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(imported_at)
        .bind(source)
        .bind(advisories)
        .bind(generation)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Whether an import took an index change number after `generation`.
pub async fn imported_since<'c>(conn: impl Into<Conn<'c>>, generation: i64) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT EXISTS (SELECT 1 FROM advisory_imports WHERE generation > $1)";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(generation)
        .fetch_one(c)
        .await)
}
