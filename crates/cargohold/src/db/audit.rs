//! `audit_events`: who did what, written in the same transaction as the change itself.

use super::{Conn, on_conn};

/// One event for the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    pub actor_user_id: Option<i64>,
    pub actor_token_id: Option<i64>,
    /// Where the request came from (`cli` for the command line).
    pub client_addr: Option<&'a str>,
    /// `publish`, `yank`, `unyank`, `owner_add`, `owner_remove`, `user_add`, `token_create`, …
    pub action: &'a str,
    pub registry: Option<&'a str>,
    pub crate_name: Option<&'a str>,
    pub version: Option<&'a str>,
    /// A JSON object.
    pub detail: Option<String>,
}

/// Appends an event.
pub async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    event: &AuditEvent<'_>,
    now: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO audit_events
          (at, actor_user_id, actor_token_id, client_addr, action, registry, crate_name, version, detail)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(now)
        .bind(event.actor_user_id)
        .bind(event.actor_token_id)
        .bind(event.client_addr)
        .bind(event.action)
        .bind(event.registry)
        .bind(event.crate_name)
        .bind(event.version)
        .bind(event.detail.as_deref().unwrap_or("{}"))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// An event as read back, with the actor's login.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub token_id: Option<i64>,
    pub client_addr: Option<String>,
    pub action: String,
    pub registry: Option<String>,
    pub crate_name: Option<String>,
    pub version: Option<String>,
    pub detail: String,
}

/// Which events to read; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub registry: Option<String>,
    /// Compared without regard to case.
    pub crate_name: Option<String>,
    /// The actor's login, compared without regard to case.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Events at or after this Unix time.
    pub since: Option<i64>,
    /// Events before this id, for paging backwards.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// The newest events matching `filter`, newest first.
pub async fn list<'c>(
    conn: impl Into<Conn<'c>>,
    filter: &AuditFilter,
) -> sqlx::Result<Vec<AuditRow>> {
    const SQL: &str =
        "SELECT e.id, e.at, u.login AS actor, e.actor_token_id AS token_id, e.client_addr,
                              e.action, e.registry, e.crate_name, e.version, e.detail
                       FROM audit_events e LEFT JOIN users u ON u.id = e.actor_user_id
                       WHERE ($1 IS NULL OR e.registry = $1)
                         AND ($2 IS NULL OR lower(e.crate_name) = lower($2))
                         AND ($3 IS NULL OR lower(u.login) = lower($3))
                         AND ($4 IS NULL OR e.action = $4)
                         AND ($5 IS NULL OR e.at >= $5)
                         AND ($6 IS NULL OR e.id < $6)
                       ORDER BY e.id DESC LIMIT $7";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(filter.registry.as_deref())
        .bind(filter.crate_name.as_deref())
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.since)
        .bind(filter.before_id)
        .bind(filter.limit)
        .fetch_all(c)
        .await)
}
