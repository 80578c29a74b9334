//! `leases`: who does a piece of periodic background work, among nodes sharing the database.

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
