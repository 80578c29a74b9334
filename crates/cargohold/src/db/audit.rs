//! `audit_events`: who did what, written in the same transaction as the change itself.

use super::{Conn, on_conn};

/// One event for the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    pub actor_user_id: Option<i64>,
    pub actor_token_id: Option<i64>,
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
          (at, actor_user_id, actor_token_id, action, registry, crate_name, version, detail)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(now)
        .bind(event.actor_user_id)
        .bind(event.actor_token_id)
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
