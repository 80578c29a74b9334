//! `crates`: one row per crate name in a registry, with what its latest publish said about it.

use sqlx::AssertSqlSafe;

use super::{Conn, on_conn};

/// A crate as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CrateRow {
    pub id: i64,
    pub registry_id: i64,
    pub name: String,
    pub canonical_name: String,
    pub description: Option<String>,
    pub max_version: Option<String>,
    pub downloads: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The crate whose canonical name (lowercase, `-` as `_`) is `canonical`.
pub async fn find_by_canonical<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    canonical: &str,
) -> sqlx::Result<Option<CrateRow>> {
    const SQL: &str = "SELECT id, registry_id, name, canonical_name, description, max_version,
                              downloads, created_at, updated_at
                       FROM crates WHERE registry_id = $1 AND canonical_name = $2";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(canonical)
        .fetch_optional(c)
        .await)
}

/// Locks the crate's row until the transaction ends, so changes to one crate
/// (owners, yanks, versions) happen one after another. A no-op `UPDATE` does it
/// on both databases: PostgreSQL takes a row lock, SQLite already holds the
/// database's write lock inside `BEGIN IMMEDIATE`.
pub async fn lock<'c>(conn: impl Into<Conn<'c>>, crate_id: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE crates SET updated_at = updated_at WHERE id = $1";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(crate_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Creates the crate unless its canonical name exists; `None` when it already did.
pub async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name: &str,
    canonical: &str,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    const SQL: &str =
        "INSERT INTO crates (registry_id, name, canonical_name, created_at, updated_at)
                       VALUES ($1, $2, $3, $4, $4)
                       ON CONFLICT (registry_id, canonical_name) DO NOTHING
                       RETURNING id";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .bind(name)
        .bind(canonical)
        .bind(now)
        .fetch_optional(c)
        .await)
}

/// What the newest publish says about the crate as a whole.
#[derive(Debug, Clone, Default)]
pub struct CrateMetadata<'a> {
    pub description: Option<&'a str>,
    pub homepage: Option<&'a str>,
    pub documentation: Option<&'a str>,
    pub repository: Option<&'a str>,
    /// Space-separated, for search.
    pub keywords: &'a str,
}

/// Replaces the crate-level metadata with `metadata`, and the text search matches.
pub async fn update_metadata<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    name: &str,
    metadata: &CrateMetadata<'_>,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE crates SET description = $1, homepage = $2, documentation = $3,
                              repository = $4, keywords = $5, search_text = $6
                       WHERE id = $7";
    let search_text = search_text(name, metadata.description, metadata.keywords);
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(metadata.description)
        .bind(metadata.homepage)
        .bind(metadata.documentation)
        .bind(metadata.repository)
        .bind(metadata.keywords)
        .bind(&search_text)
        .bind(crate_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// What search matches against: the name as written and canonical, the
/// description and the keywords, lowercased here (SQLite's `lower` knows only ASCII).
fn search_text(name: &str, description: Option<&str>, keywords: &str) -> String {
    format!(
        "{} {} {} {}",
        name.to_lowercase(),
        cargohold_protocol::name::canonical_name(name),
        description.unwrap_or_default().to_lowercase(),
        keywords.to_lowercase()
    )
}

/// Every crate of a registry, by canonical name.
pub async fn list_all<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
) -> sqlx::Result<Vec<CrateRow>> {
    const SQL: &str = "SELECT id, registry_id, name, canonical_name, description, max_version,
                              downloads, created_at, updated_at
                       FROM crates WHERE registry_id = $1 ORDER BY canonical_name";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .fetch_all(c)
        .await)
}

/// Rewrites a crate's search text from its stored metadata; `true` if it changed.
pub async fn rewrite_search_text<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<bool> {
    const READ: &str = "SELECT name, description, keywords, search_text FROM crates WHERE id = $1";
    const WRITE: &str = "UPDATE crates SET search_text = $1 WHERE id = $2";
    let mut conn = conn.into();
    let (name, description, keywords, current): (String, Option<String>, String, String) =
        on_conn!(&mut conn, |c| sqlx::query_as(READ)
            .bind(crate_id)
            .fetch_one(c)
            .await)?;
    let wanted = search_text(&name, description.as_deref(), &keywords);
    if wanted == current {
        return Ok(false);
    }
    on_conn!(&mut conn, |c| sqlx::query(WRITE)
        .bind(&wanted)
        .bind(crate_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(true)
}

/// Records the highest unyanked version and the time of the change.
pub async fn set_max_version<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    max_version: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE crates SET max_version = $1, updated_at = $2 WHERE id = $3";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(max_version)
        .bind(now)
        .bind(crate_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Whether a crate named exactly `name` (case and `-`/`_` as written) exists.
pub async fn exists_exact<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name: &str,
) -> sqlx::Result<bool> {
    // By the indexed canonical name first, then the exact spelling.
    const SQL: &str =
        "SELECT COUNT(*) FROM crates WHERE registry_id = $1 AND canonical_name = $2 AND name = $3";
    let canonical = cargohold_protocol::name::canonical_name(name);
    let count: i64 = on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .bind(&canonical)
        .bind(name)
        .fetch_one(c)
        .await)?;
    Ok(count > 0)
}

/// One crate in a listing or search.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListRow {
    pub registry_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub max_version: Option<String>,
    pub downloads: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which crates a listing holds.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    /// The registries to look in (at least one).
    pub registry_ids: &'a [i64],
    /// Whitespace-separated terms, each of which must match (empty: every crate).
    pub query: &'a str,
    /// Only crates with this keyword.
    pub keyword: Option<&'a str>,
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// The exact name first, then names starting with the query, then the most downloaded.
    Relevance,
    Name,
    RecentlyUpdated,
    RecentlyCreated,
    Downloads,
}

/// A page of the crates matching `filter`, and how many matched in all.
///
/// A term matches a crate whose name (as written or canonical), description or
/// keywords contain it, without regard to case.
pub async fn list<'c>(
    conn: impl Into<Conn<'c>>,
    filter: &ListFilter<'_>,
    order: ListOrder,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<ListRow>, i64)> {
    if filter.registry_ids.is_empty() {
        return Ok((Vec::new(), 0));
    }
    // Registry ids are integers from the server's own configuration, never user input.
    let ids: Vec<String> = filter.registry_ids.iter().map(i64::to_string).collect();
    let mut sql_filter = format!("registry_id IN ({})", ids.join(","));
    let terms: Vec<&str> = filter.query.split_whitespace().take(8).collect();
    let mut patterns = Vec::with_capacity(terms.len() + 1);
    for term in &terms {
        patterns.push(format!("%{}%", escape_like(&term.to_lowercase())));
        sql_filter.push_str(&format!(
            " AND search_text LIKE ${} ESCAPE '\\'",
            patterns.len()
        ));
    }
    if let Some(keyword) = filter.keyword {
        patterns.push(format!("% {} %", escape_like(&keyword.to_lowercase())));
        sql_filter.push_str(&format!(
            " AND ' ' || lower(keywords) || ' ' LIKE ${} ESCAPE '\\'",
            patterns.len()
        ));
    }
    let canonical_query = cargohold_protocol::name::canonical_name(&terms.join("_"));
    let prefix_pattern = format!("{}%", escape_like(&canonical_query));
    let (exact, prefix) = (patterns.len() + 1, patterns.len() + 2);
    let order_by = match order {
        ListOrder::Relevance => format!(
            "CASE WHEN canonical_name = ${exact} THEN 0
                  WHEN canonical_name LIKE ${prefix} ESCAPE '\\' THEN 1
                  ELSE 2 END, downloads DESC, canonical_name"
        ),
        ListOrder::Name => "canonical_name, registry_id".to_owned(),
        ListOrder::RecentlyUpdated => "updated_at DESC, canonical_name".to_owned(),
        ListOrder::RecentlyCreated => "created_at DESC, canonical_name".to_owned(),
        ListOrder::Downloads => "downloads DESC, canonical_name".to_owned(),
    };
    let rows_sql = format!(
        "SELECT registry_id, name, description, max_version, downloads, created_at, updated_at
         FROM crates WHERE {sql_filter} ORDER BY {order_by} LIMIT {limit} OFFSET {offset}"
    );
    let count_sql = format!("SELECT COUNT(*) FROM crates WHERE {sql_filter}");
    let ranked = order == ListOrder::Relevance;

    let mut conn = conn.into();
    let rows: Vec<ListRow> = on_conn!(&mut conn, |c| {
        let mut q = sqlx::query_as(AssertSqlSafe(rows_sql));
        for pattern in &patterns {
            q = q.bind(pattern);
        }
        if ranked {
            q = q.bind(&canonical_query).bind(&prefix_pattern);
        }
        q.fetch_all(c).await
    })?;
    let total: i64 = on_conn!(&mut conn, |c| {
        let mut q = sqlx::query_scalar(AssertSqlSafe(count_sql));
        for pattern in &patterns {
            q = q.bind(pattern);
        }
        q.fetch_one(c).await
    })?;
    Ok((rows, total))
}

/// Up to `limit` crates of `registry_ids` that have more than one version, the
/// most recently updated first: "recently updated" without the crates that were
/// only ever published once, which "new crates" already lists.
pub async fn list_updated<'c>(
    conn: impl Into<Conn<'c>>,
    registry_ids: &[i64],
    limit: i64,
) -> sqlx::Result<Vec<ListRow>> {
    if registry_ids.is_empty() {
        return Ok(Vec::new());
    }
    // Registry ids are integers from the server's own configuration, never user input.
    let ids: Vec<String> = registry_ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT registry_id, name, description, max_version, downloads, created_at, updated_at
         FROM crates
         WHERE registry_id IN ({})
           AND (SELECT COUNT(*) FROM versions WHERE versions.crate_id = crates.id) > 1
         ORDER BY updated_at DESC, canonical_name LIMIT {limit}",
        ids.join(",")
    );
    on_conn!(conn, |c| sqlx::query_as(AssertSqlSafe(sql))
        .fetch_all(c)
        .await)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}

/// Removes a crate that has no versions left, with its index file.
pub async fn delete_empty<'c>(conn: impl Into<Conn<'c>>, crate_id: i64) -> sqlx::Result<()> {
    let mut conn = conn.into();
    for sql in [
        "DELETE FROM index_files WHERE crate_id = $1",
        "DELETE FROM crate_owners WHERE crate_id = $1",
        "DELETE FROM crate_team_owners WHERE crate_id = $1",
        "DELETE FROM crates WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM versions WHERE crate_id = $1)",
    ] {
        on_conn!(&mut conn, |c| sqlx::query(sql)
            .bind(crate_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// A deletion to record.
#[derive(Debug, Clone)]
pub struct NewDeletion<'a> {
    pub registry_id: i64,
    pub name: &'a str,
    pub canonical_name: &'a str,
    pub versions: &'a [String],
    pub crate_deleted: bool,
    pub former_owners: &'a [i64],
    pub deleted_by: Option<i64>,
    pub reason: Option<&'a str>,
    pub deleted_at: i64,
    /// The index change number the deletion took.
    pub generation: i64,
}

/// Records a deletion (in the transaction that made it).
pub async fn insert_deletion<'c>(
    conn: impl Into<Conn<'c>>,
    deletion: &NewDeletion<'_>,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO deletions
          (registry_id, name, canonical_name, versions, crate_deleted, former_owners,
           deleted_by, reason, deleted_at, generation)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    let owners: Vec<String> = deletion.former_owners.iter().map(i64::to_string).collect();
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(deletion.registry_id)
        .bind(deletion.name)
        .bind(deletion.canonical_name)
        .bind(deletion.versions.join(" "))
        .bind(deletion.crate_deleted)
        .bind(owners.join(" "))
        .bind(deletion.deleted_by)
        .bind(deletion.reason)
        .bind(deletion.deleted_at)
        .bind(deletion.generation)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A recorded deletion, as caches and the name reservation read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeletionRow {
    pub registry_id: i64,
    pub name: String,
    /// Separated by spaces.
    pub versions: String,
    pub crate_deleted: bool,
    /// User ids separated by spaces.
    pub former_owners: String,
    pub deleted_at: i64,
    pub generation: i64,
}

impl DeletionRow {
    /// The versions deleted.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.versions.split_whitespace()
    }

    /// Whether `user_id` owned the crate when it was deleted.
    pub fn owned_by(&self, user_id: i64) -> bool {
        self.former_owners
            .split_whitespace()
            .any(|id| id.parse() == Ok(user_id))
    }
}

const DELETION_COLUMNS: &str =
    "registry_id, name, versions, crate_deleted, former_owners, deleted_at, generation";

/// The deletions made after index change `generation`, in change order.
pub async fn deletions_since<'c>(
    conn: impl Into<Conn<'c>>,
    generation: i64,
) -> sqlx::Result<Vec<DeletionRow>> {
    let sql = format!(
        "SELECT {DELETION_COLUMNS} FROM deletions WHERE generation > $1 ORDER BY generation"
    );
    on_conn!(conn, |c| sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(generation)
        .fetch_all(c)
        .await)
}

/// Up to `limit` deletions of whole crates of `registry_id` after index change
/// `generation`, oldest first: files the git index must remove.
pub async fn crates_deleted_in<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    generation: i64,
    limit: i64,
) -> sqlx::Result<Vec<DeletionRow>> {
    let sql = format!(
        "SELECT {DELETION_COLUMNS} FROM deletions
         WHERE registry_id = $1 AND crate_deleted AND generation > $2
         ORDER BY generation LIMIT $3"
    );
    on_conn!(conn, |c| sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(registry_id)
        .bind(generation)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// The latest deletion of the crate whose canonical name is `canonical`, made after `since`.
pub async fn latest_crate_deletion<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    canonical: &str,
    since: i64,
) -> sqlx::Result<Option<DeletionRow>> {
    let sql = format!(
        "SELECT {DELETION_COLUMNS} FROM deletions
         WHERE registry_id = $1 AND canonical_name = $2 AND crate_deleted AND deleted_at > $3
         ORDER BY deleted_at DESC, id DESC LIMIT 1"
    );
    on_conn!(conn, |c| sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(registry_id)
        .bind(canonical)
        .bind(since)
        .fetch_optional(c)
        .await)
}

/// The index change number of the latest deletion of a whole crate of `registry_id` (0: none).
pub async fn latest_deletion_generation<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COALESCE(MAX(generation), 0) FROM deletions
                       WHERE registry_id = $1 AND crate_deleted";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .fetch_one(c)
        .await)
}
