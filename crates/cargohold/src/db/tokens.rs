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
