//! `leases`: which node does a piece of work (periodic jobs, one upstream revalidation), among
//! nodes sharing the database.

use super::{Conn, on_conn};

/// Takes (or renews) the lease `name` for `holder` until `until`, unless another holder
/// has it past `now`. Whether `holder` holds it now.
pub async fn claim<'c>(
    conn: impl Into<Conn<'c>>,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> sqlx::Result<bool> {
    // One statement, so two nodes claiming at once cannot both win. Each placeholder
    // appears once (`excluded` names the proposed row): on SQLite every `$n` takes a value.
    const SQL: &str = "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
                       ON CONFLICT (name) DO UPDATE
                       SET holder = excluded.holder, expires_at = excluded.expires_at
                       WHERE leases.holder = excluded.holder OR leases.expires_at <= $4";
    let changed = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(changed == 1)
}

/// A lease as it stands.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeaseRow {
    pub holder: String,
    pub expires_at: i64,
}

/// The lease `name`, if anyone took it and nobody released it.
pub async fn find<'c>(conn: impl Into<Conn<'c>>, name: &str) -> sqlx::Result<Option<LeaseRow>> {
    const SQL: &str = "SELECT holder, expires_at FROM leases WHERE name = $1";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(name)
        .fetch_optional(c)
        .await)
}

/// Gives the lease `name` up, if `holder` still holds it.
pub async fn release<'c>(conn: impl Into<Conn<'c>>, name: &str, holder: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM leases WHERE name = $1 AND holder = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(name)
        .bind(holder)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Passes the lease `name` from `holder` to `to` until `until`, if `holder` still holds it.
pub async fn hand_over<'c>(
    conn: impl Into<Conn<'c>>,
    name: &str,
    holder: &str,
    to: &str,
    until: i64,
) -> sqlx::Result<()> {
    const SQL: &str =
        "UPDATE leases SET holder = $3, expires_at = $4 WHERE name = $1 AND holder = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(name)
        .bind(holder)
        .bind(to)
        .bind(until)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes the leases whose names start with `prefix` and that ran out before `now`:
/// a node that stopped in the middle of its work leaves its lease behind.
pub async fn delete_expired<'c>(
    conn: impl Into<Conn<'c>>,
    prefix: &str,
    now: i64,
) -> sqlx::Result<u64> {
    // `substr` rather than LIKE: a prefix may hold `_` or `%`.
    const SQL: &str = "DELETE FROM leases WHERE substr(name, 1, $1) = $2 AND expires_at <= $3";
    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(length)
        .bind(prefix)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}
