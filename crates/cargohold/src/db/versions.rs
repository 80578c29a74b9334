//! `versions` and their `dependencies`: every published version, its index line and metadata.

use cargohold_protocol::IndexDependency;
use cargohold_protocol::index::CRATES_IO_INDEX;

use super::{Conn, on_conn};

/// A version as stored, without its long text fields.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub id: i64,
    pub crate_id: i64,
    pub num: String,
    pub checksum: String,
    pub size: i64,
    pub blob_key: String,
    pub yanked: bool,
    pub index_line: String,
    pub published_at: i64,
}

/// Everything recorded about a new version.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub crate_id: i64,
    pub num: &'a str,
    pub num_no_build: &'a str,
    pub checksum: &'a str,
    pub size: i64,
    pub blob_key: &'a str,
    pub index_line: &'a str,
    pub links: Option<&'a str>,
    pub rust_version: Option<&'a str>,
    pub edition: Option<&'a str>,
    pub description: Option<&'a str>,
    pub license: Option<&'a str>,
    pub license_file: Option<&'a str>,
    pub homepage: Option<&'a str>,
    pub documentation: Option<&'a str>,
    pub repository: Option<&'a str>,
    pub readme: Option<&'a str>,
    pub readme_file: Option<&'a str>,
    pub path_in_vcs: Option<&'a str>,
    pub has_lib: bool,
    /// JSON arrays.
    pub bin_names: &'a str,
    pub keywords: &'a str,
    pub categories: &'a str,
    pub authors: &'a str,
    pub published_by: Option<i64>,
    pub published_at: i64,
}

/// The version `num` of a crate, matched exactly (build metadata included).
pub async fn find<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    num: &str,
) -> sqlx::Result<Option<VersionRow>> {
    const SQL: &str =
        "SELECT id, crate_id, num, checksum, size, blob_key, yanked, index_line, published_at
                       FROM versions WHERE crate_id = $1 AND num = $2";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .bind(num)
        .fetch_optional(c)
        .await)
}

/// The version whose number without build metadata is `num_no_build`.
pub async fn find_without_build<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    num_no_build: &str,
) -> sqlx::Result<Option<VersionRow>> {
    const SQL: &str =
        "SELECT id, crate_id, num, checksum, size, blob_key, yanked, index_line, published_at
                       FROM versions WHERE crate_id = $1 AND num_no_build = $2";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .bind(num_no_build)
        .fetch_optional(c)
        .await)
}

/// Stores a version; fails with a unique violation when its number (without build metadata) exists.
pub async fn insert<'c>(conn: impl Into<Conn<'c>>, v: &NewVersion<'_>) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO versions
          (crate_id, num, num_no_build, checksum, size, blob_key, index_line, links, rust_version,
           edition, description, license, license_file, homepage, documentation, repository,
           readme, readme_file, path_in_vcs, has_lib, bin_names, keywords, categories, authors,
           published_by, published_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                $19, $20, $21, $22, $23, $24, $25, $26)
        RETURNING id";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(v.crate_id)
        .bind(v.num)
        .bind(v.num_no_build)
        .bind(v.checksum)
        .bind(v.size)
        .bind(v.blob_key)
        .bind(v.index_line)
        .bind(v.links)
        .bind(v.rust_version)
        .bind(v.edition)
        .bind(v.description)
        .bind(v.license)
        .bind(v.license_file)
        .bind(v.homepage)
        .bind(v.documentation)
        .bind(v.repository)
        .bind(v.readme)
        .bind(v.readme_file)
        .bind(v.path_in_vcs)
        .bind(v.has_lib)
        .bind(v.bin_names)
        .bind(v.keywords)
        .bind(v.categories)
        .bind(v.authors)
        .bind(v.published_by)
        .bind(v.published_at)
        .fetch_one(c)
        .await)
}

/// Records the dependencies of a version, as its index line lists them.
pub async fn insert_dependencies<'c>(
    conn: impl Into<Conn<'c>>,
    version_id: i64,
    deps: &[IndexDependency],
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO dependencies
          (version_id, crate_name, alias, req, kind, optional, default_features, features, target, registry)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    let mut conn = conn.into();
    for dep in deps {
        let alias = dep.package.as_ref().map(|_| dep.name.as_str());
        let features = serde_json::to_string(&dep.features).unwrap_or_else(|_| "[]".into());
        on_conn!(&mut conn, |c| sqlx::query(SQL)
            .bind(version_id)
            .bind(dep.crate_name())
            .bind(alias)
            .bind(&dep.req)
            .bind(dep.kind.as_str())
            .bind(dep.optional)
            .bind(dep.default_features)
            .bind(&features)
            .bind(dep.target.as_deref())
            .bind(dep.registry.as_deref())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Sets the yank state and the index line that goes with it.
pub async fn set_yanked<'c>(
    conn: impl Into<Conn<'c>>,
    version_id: i64,
    yanked: bool,
    index_line: &str,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE versions SET yanked = $1, index_line = $2 WHERE id = $3";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(yanked)
        .bind(index_line)
        .bind(version_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Every version number of a crate with its yank state.
pub async fn list_states<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<Vec<(String, bool)>> {
    const SQL: &str = "SELECT num, yanked FROM versions WHERE crate_id = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}

/// The index lines of a crate in publish order: its index file, line by line.
pub async fn index_lines<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<Vec<String>> {
    const SQL: &str =
        "SELECT index_line FROM versions WHERE crate_id = $1 ORDER BY published_at, id";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}

/// What a download needs: the version, its crate and where the `.crate` is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DownloadRow {
    pub version_id: i64,
    pub crate_id: i64,
    pub checksum: String,
    pub size: i64,
    pub blob_key: String,
}

/// Looks up `canonical@num` in a registry for a download, in one query.
pub async fn find_for_download<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    canonical: &str,
    num: &str,
) -> sqlx::Result<Option<DownloadRow>> {
    const SQL: &str = "SELECT v.id AS version_id, v.crate_id, v.checksum, v.size, v.blob_key
                       FROM versions v JOIN crates c ON c.id = v.crate_id
                       WHERE c.registry_id = $1 AND c.canonical_name = $2 AND v.num = $3";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(canonical)
        .bind(num)
        .fetch_optional(c)
        .await)
}

/// Where a version's `.crate` is and what it must hold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BlobRow {
    pub num: String,
    pub checksum: String,
    pub size: i64,
    pub blob_key: String,
}

/// The blobs of a crate's versions, in publish order.
pub async fn list_blobs<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<Vec<BlobRow>> {
    const SQL: &str = "SELECT num, checksum, size, blob_key FROM versions
                       WHERE crate_id = $1 ORDER BY published_at, id";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}

/// The blob key of every version in every registry (configured or not).
pub async fn all_blob_keys<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT blob_key FROM versions";
    on_conn!(conn, |c| sqlx::query_scalar(SQL).fetch_all(c).await)
}

/// Whether some version names the blob `blob_key`.
pub async fn blob_key_in_use<'c>(conn: impl Into<Conn<'c>>, blob_key: &str) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM versions WHERE blob_key = $1";
    let count: i64 = on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(blob_key)
        .fetch_one(c)
        .await)?;
    Ok(count > 0)
}

/// A version held in a registry, as a cache listing shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct HeldVersionRow {
    pub name: String,
    pub version: String,
    pub size: i64,
    pub checksum: String,
    /// When it was stored (published, imported or fetched from the upstream).
    pub stored_at: i64,
    pub downloads: i64,
}

/// The versions a registry holds, newest first, a page at a time.
pub async fn list_held<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<HeldVersionRow>> {
    const SQL: &str = "SELECT c.name, v.num AS version, v.size, v.checksum,
                              v.published_at AS stored_at, v.downloads
                       FROM versions v JOIN crates c ON c.id = v.crate_id
                       WHERE c.registry_id = $1
                       ORDER BY v.published_at DESC, v.id DESC LIMIT $2 OFFSET $3";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await)
}

/// How many versions a registry holds and their total size in bytes.
pub async fn held_totals<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
) -> sqlx::Result<(i64, i64)> {
    const SQL: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(v.size), 0) AS BIGINT)
                       FROM versions v JOIN crates c ON c.id = v.crate_id WHERE c.registry_id = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .fetch_one(c)
        .await)
}

/// A cached version as eviction weighs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EvictionCandidateRow {
    pub version_id: i64,
    pub crate_id: i64,
    pub name: String,
    pub canonical_name: String,
    pub num: String,
    pub size: i64,
    pub blob_key: String,
    pub stored_at: i64,
    /// The last day (days since 1970) it was downloaded, once counts are written.
    pub last_download_day: Option<i64>,
}

/// Every version a registry holds, with what eviction needs to know.
pub async fn eviction_candidates<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
) -> sqlx::Result<Vec<EvictionCandidateRow>> {
    const SQL: &str =
        "SELECT v.id AS version_id, v.crate_id, c.name, c.canonical_name, v.num, v.size,
                              v.blob_key, v.published_at AS stored_at,
                              (SELECT MAX(d.day) FROM version_downloads d WHERE d.version_id = v.id)
                                AS last_download_day
                       FROM versions v JOIN crates c ON c.id = v.crate_id
                       WHERE c.registry_id = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .fetch_all(c)
        .await)
}

/// Dependencies (name, requirement) of every version in registries of `kind`,
/// or of the registry `registry_id` when given: what must stay cached.
pub async fn dependency_requirements<'c>(
    conn: impl Into<Conn<'c>>,
    kind: &str,
    registry_id: Option<i64>,
) -> sqlx::Result<Vec<(i64, String, String)>> {
    const SQL: &str = "SELECT d.version_id, d.crate_name, d.req
                       FROM dependencies d JOIN versions v ON v.id = d.version_id
                       JOIN crates c ON c.id = v.crate_id JOIN registries r ON r.id = c.registry_id
                       WHERE r.kind = $1 AND ($2 IS NULL OR r.id = $2)";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(kind)
        .bind(registry_id)
        .fetch_all(c)
        .await)
}

/// Removes a version with its dependencies and download counts.
pub async fn delete<'c>(conn: impl Into<Conn<'c>>, version_id: i64) -> sqlx::Result<()> {
    let mut conn = conn.into();
    for sql in [
        "DELETE FROM version_downloads WHERE version_id = $1",
        "DELETE FROM dependencies WHERE version_id = $1",
        "DELETE FROM versions WHERE id = $1",
    ] {
        on_conn!(&mut conn, |c| sqlx::query(sql)
            .bind(version_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// A version as a crate page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionSummaryRow {
    pub id: i64,
    pub num: String,
    pub yanked: bool,
    pub published_at: i64,
    pub downloads: i64,
    pub size: i64,
    pub license: Option<String>,
    pub rust_version: Option<String>,
    pub published_by: Option<String>,
}

/// Every version of a crate, newest publish first.
pub async fn list_for_crate<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<Vec<VersionSummaryRow>> {
    const SQL: &str = "SELECT v.id, v.num, v.yanked, v.published_at, v.downloads, v.size,
                              v.license, v.rust_version, u.login AS published_by
                       FROM versions v LEFT JOIN users u ON u.id = v.published_by
                       WHERE v.crate_id = $1 ORDER BY v.published_at DESC, v.id DESC";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}

/// What a crate page shows of one version beyond its summary.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionDetailsRow {
    pub index_line: String,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub documentation: Option<String>,
    pub repository: Option<String>,
    pub readme: Option<String>,
    pub readme_file: Option<String>,
    pub path_in_vcs: Option<String>,
    /// Whether the version has a library; `None` for versions stored before
    /// cargohold recorded it.
    pub has_lib: Option<bool>,
    /// A JSON array of its binaries' names; `None` as for `has_lib`.
    pub bin_names: Option<String>,
    pub edition: Option<String>,
    /// JSON arrays of strings.
    pub keywords: String,
    pub categories: String,
    pub authors: String,
}

/// The long fields of the version with id `version_id`.
pub async fn details<'c>(
    conn: impl Into<Conn<'c>>,
    version_id: i64,
) -> sqlx::Result<Option<VersionDetailsRow>> {
    const SQL: &str = "SELECT index_line, description, homepage, documentation, repository,
                              readme, readme_file, path_in_vcs, has_lib, bin_names,
                              edition, keywords, categories, authors
                       FROM versions WHERE id = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(version_id)
        .fetch_optional(c)
        .await)
}

/// A crate that depends on another, through its newest available version, with
/// one of the requirements it states.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DependentRow {
    pub name: String,
    pub version: String,
    pub req: String,
}

/// Crates of a registry whose highest available version depends on `name`
/// (compared canonically) from the same registry, most downloaded first: one
/// row per distinct requirement, so a crate that depends on `name` as a normal
/// and a dev dependency alike comes once, and the rows of one crate are adjacent.
/// The name comparison is spelled exactly as the expression index
/// `dependencies_canonical_name` (migration 0010), which it needs.
///
/// With `crates_io_too`, for a registry reached through a virtual registry that
/// stands in for crates.io, a dependency written as a crates.io one counts too:
/// through the stand-in, the registry's own crates are written that way, and
/// resolve to the registry's crate.
pub async fn dependents<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name: &str,
    crates_io_too: bool,
    limit: i64,
) -> sqlx::Result<Vec<DependentRow>> {
    const SQL: &str = "SELECT c.name, v.num AS version, d.req
                       FROM dependencies d JOIN versions v ON v.id = d.version_id
                       JOIN crates c ON c.id = v.crate_id
                       WHERE c.registry_id = $1 AND v.num = c.max_version
                         AND (d.registry IS NULL OR ($4 AND d.registry = $5))
                         AND replace(lower(d.crate_name), '-', '_') = $2
                       GROUP BY c.id, c.name, c.downloads, c.canonical_name, v.num, d.req
                       ORDER BY c.downloads DESC, c.canonical_name, d.req LIMIT $3";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(cargohold_protocol::name::canonical_name(name))
        .bind(limit)
        .bind(crates_io_too)
        .bind(CRATES_IO_INDEX)
        .fetch_all(c)
        .await)
}

/// A version about to be deleted: what the caches know it by.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeletableRow {
    pub id: i64,
    pub num: String,
    pub blob_key: String,
}

/// Every version of a crate, oldest first, as deletion needs them.
pub async fn list_deletable<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<Vec<DeletableRow>> {
    const SQL: &str = "SELECT id, num, blob_key FROM versions
                       WHERE crate_id = $1 ORDER BY published_at, id";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}

/// Up to `limit` crates of a registry, other than `crate_id`, one of whose versions
/// (yanked or not) depends on `name` (compared canonically) from the same registry.
/// Spelled as [`dependents`], for the same expression index, and counting
/// crates.io-style dependencies with `crates_io_too` as it does.
pub async fn dependent_crates<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    crate_id: i64,
    name: &str,
    crates_io_too: bool,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT DISTINCT c.name
                       FROM dependencies d JOIN versions v ON v.id = d.version_id
                       JOIN crates c ON c.id = v.crate_id
                       WHERE c.registry_id = $1 AND c.id <> $2
                         AND (d.registry IS NULL OR ($5 AND d.registry = $6))
                         AND replace(lower(d.crate_name), '-', '_') = $3
                       ORDER BY c.name LIMIT $4";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .bind(crate_id)
        .bind(cargohold_protocol::name::canonical_name(name))
        .bind(limit)
        .bind(crates_io_too)
        .bind(CRATES_IO_INDEX)
        .fetch_all(c)
        .await)
}
