//! `users`: accounts that own crates and hold tokens.

use super::{Conn, on_conn};

/// A user as stored (without the password hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    pub is_admin: bool,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

/// How many users exist.
pub async fn count<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM users";
    on_conn!(conn, |c| sqlx::query_scalar(SQL).fetch_one(c).await)
}

/// Creates a user and returns its id; fails with a unique violation if the login is taken.
pub async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    login: &str,
    is_admin: bool,
    password_hash: Option<&str>,
    now: i64,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO users (login, is_admin, password_hash, created_at)
                       VALUES ($1, $2, $3, $4) RETURNING id";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(login)
        .bind(is_admin)
        .bind(password_hash)
        .bind(now)
        .fetch_one(c)
        .await)
}

/// The user with `login`, compared without regard to case.
pub async fn find_by_login<'c>(
    conn: impl Into<Conn<'c>>,
    login: &str,
) -> sqlx::Result<Option<UserRow>> {
    const SQL: &str = "SELECT id, login, name, is_admin, disabled_at, created_at
                       FROM users WHERE lower(login) = lower($1)";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(login)
        .fetch_optional(c)
        .await)
}

/// Every user, by login.
pub async fn list<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<Vec<UserRow>> {
    const SQL: &str = "SELECT id, login, name, is_admin, disabled_at, created_at
                       FROM users ORDER BY lower(login)";
    on_conn!(conn, |c| sqlx::query_as(SQL).fetch_all(c).await)
}

/// Disables the user at `at`, or enables it again with `None`; `false` if nothing changed.
pub async fn set_disabled<'c>(
    conn: impl Into<Conn<'c>>,
    user_id: i64,
    at: Option<i64>,
) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE users SET disabled_at = $1
                       WHERE id = $2 AND (disabled_at IS NULL) <> ($1 IS NULL)";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(at)
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Gives or takes the administrator role; `false` if nothing changed.
pub async fn set_admin<'c>(
    conn: impl Into<Conn<'c>>,
    user_id: i64,
    is_admin: bool,
) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE users SET is_admin = $1 WHERE id = $2 AND is_admin <> $1";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(is_admin)
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// How many administrators can still sign in.
pub async fn count_active_admins<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM users WHERE is_admin AND disabled_at IS NULL";
    on_conn!(conn, |c| sqlx::query_scalar(SQL).fetch_one(c).await)
}

/// The user with `login` and its password hash, for signing in.
pub async fn find_with_password<'c>(
    conn: impl Into<Conn<'c>>,
    login: &str,
) -> sqlx::Result<Option<(UserRow, Option<String>)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: Option<String>,
    }
    const SQL: &str = "SELECT id, login, name, is_admin, disabled_at, created_at, password_hash
                       FROM users WHERE lower(login) = lower($1)";
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(login)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(|row| (row.user, row.password_hash)))
}

/// Replaces the user's password hash.
pub async fn set_password<'c>(
    conn: impl Into<Conn<'c>>,
    user_id: i64,
    password_hash: &str,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE users SET password_hash = $1 WHERE id = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(password_hash)
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
