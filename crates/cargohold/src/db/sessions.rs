//! `web_sessions`: browsers signed in with a password, known by the hash of their cookie.

use super::{Conn, on_conn};

/// A live session and who it belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub user_id: i64,
    pub login: String,
    pub is_admin: bool,
    pub expires_at: i64,
}

/// Records a new session.
pub async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    id_hash: &str,
    user_id: i64,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO web_sessions (id_hash, user_id, created_at, expires_at)
                       VALUES ($1, $2, $3, $4)";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The session with this hash, if it has not expired and its user may still sign in.
pub async fn find<'c>(
    conn: impl Into<Conn<'c>>,
    id_hash: &str,
    now: i64,
) -> sqlx::Result<Option<SessionRow>> {
    const SQL: &str = "SELECT s.user_id, u.login, u.is_admin, s.expires_at
                       FROM web_sessions s JOIN users u ON u.id = s.user_id
                       WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(id_hash)
        .bind(now)
        .fetch_optional(c)
        .await)
}

/// Ends a session (signing out).
pub async fn delete<'c>(conn: impl Into<Conn<'c>>, id_hash: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM web_sessions WHERE id_hash = $1";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(id_hash)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Ends every session of `user_id` but the one hashed `keep`: a changed password
/// signs the account out everywhere else. How many ended.
pub async fn delete_for_user<'c>(
    conn: impl Into<Conn<'c>>,
    user_id: i64,
    keep: Option<&str>,
) -> sqlx::Result<u64> {
    const SQL: &str = "DELETE FROM web_sessions WHERE user_id = $1 AND id_hash <> $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}

/// Forgets every session that expired before `now`.
pub async fn delete_expired<'c>(conn: impl Into<Conn<'c>>, now: i64) -> sqlx::Result<u64> {
    const SQL: &str = "DELETE FROM web_sessions WHERE expires_at <= $1";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}
