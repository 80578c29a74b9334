//! `api_tokens`: hashed API tokens with their scopes, crate patterns, registries and expiry.

use super::{Conn, on_conn};

/// What a new token row holds.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scopes: &'a str,
    pub crate_patterns: &'a str,
    pub registries: &'a str,
    pub expires_at: Option<i64>,
}

/// A token together with the user it belongs to: everything authentication needs, in one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenWithUser {
    pub token_id: i64,
    pub token_name: String,
    pub token_hash: String,
    pub scopes: String,
    pub crate_patterns: String,
    pub registries: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub user_id: i64,
    pub login: String,
    pub is_admin: bool,
    pub user_disabled_at: Option<i64>,
}

/// Stores a token and returns its id.
pub async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    token: &NewToken<'_>,
    now: i64,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO api_tokens
                         (user_id, name, token_hash, scopes, crate_patterns, registries, created_at, expires_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(token.user_id)
        .bind(token.name)
        .bind(token.token_hash)
        .bind(token.scopes)
        .bind(token.crate_patterns)
        .bind(token.registries)
        .bind(now)
        .bind(token.expires_at)
        .fetch_one(c)
        .await)
}

/// The token whose SHA-256 is `token_hash`, with its user.
pub async fn find_by_hash<'c>(
    conn: impl Into<Conn<'c>>,
    token_hash: &str,
) -> sqlx::Result<Option<TokenWithUser>> {
    const SQL: &str = "SELECT t.id AS token_id, t.name AS token_name, t.token_hash, t.scopes,
                              t.crate_patterns, t.registries, t.expires_at, t.revoked_at, t.last_used_at,
                              u.id AS user_id, u.login, u.is_admin, u.disabled_at AS user_disabled_at
                       FROM api_tokens t JOIN users u ON u.id = t.user_id
                       WHERE t.token_hash = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(token_hash)
        .fetch_optional(c)
        .await)
}

/// Records that a token was used at `now`.
pub async fn touch<'c>(conn: impl Into<Conn<'c>>, token_id: i64, now: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(now)
        .bind(token_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A token as listed to its owner or an administrator (never the secret, which is not stored).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub scopes: String,
    pub crate_patterns: String,
    pub registries: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The tokens of `user_id` (all users when `None`), newest first.
pub async fn list<'c>(
    conn: impl Into<Conn<'c>>,
    user_id: Option<i64>,
) -> sqlx::Result<Vec<TokenRow>> {
    const SQL: &str = "SELECT t.id, u.login, t.name, t.scopes, t.crate_patterns, t.registries,
                              t.created_at, t.expires_at, t.last_used_at, t.revoked_at
                       FROM api_tokens t JOIN users u ON u.id = t.user_id
                       WHERE ($1 IS NULL OR t.user_id = $1) ORDER BY t.id DESC";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(user_id)
        .fetch_all(c)
        .await)
}

/// The tokens in use that expire after `now` and no later than `until`, soonest first.
pub async fn expiring<'c>(
    conn: impl Into<Conn<'c>>,
    now: i64,
    until: i64,
) -> sqlx::Result<Vec<TokenRow>> {
    const SQL: &str = "SELECT t.id, u.login, t.name, t.scopes, t.crate_patterns, t.registries,
                              t.created_at, t.expires_at, t.last_used_at, t.revoked_at
                       FROM api_tokens t JOIN users u ON u.id = t.user_id
                       WHERE t.revoked_at IS NULL AND t.expires_at > $1 AND t.expires_at <= $2
                       ORDER BY t.expires_at, t.id";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(now)
        .bind(until)
        .fetch_all(c)
        .await)
}

/// The token with id `id`.
pub async fn find<'c>(conn: impl Into<Conn<'c>>, id: i64) -> sqlx::Result<Option<TokenRow>> {
    const SQL: &str = "SELECT t.id, u.login, t.name, t.scopes, t.crate_patterns, t.registries,
                              t.created_at, t.expires_at, t.last_used_at, t.revoked_at
                       FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(id)
        .fetch_optional(c)
        .await)
}

/// Revokes a token; `false` if it already was revoked.
pub async fn revoke<'c>(conn: impl Into<Conn<'c>>, id: i64, now: i64) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(now)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}
