//! `crate_owners`: who may publish, yank and change the owners of a crate.

use super::{Conn, on_conn};

/// An owner of a crate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnerRow {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
}

/// The owners of a crate, in the order they were added.
pub async fn list<'c>(conn: impl Into<Conn<'c>>, crate_id: i64) -> sqlx::Result<Vec<OwnerRow>> {
    const SQL: &str = "SELECT u.id, u.login, u.name
                       FROM crate_owners o JOIN users u ON u.id = o.user_id
                       WHERE o.crate_id = $1 ORDER BY o.added_at, u.id";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}

/// Whether `user_id` owns the crate.
pub async fn is_owner<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM crate_owners WHERE crate_id = $1 AND user_id = $2";
    let count: i64 = on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(crate_id)
        .bind(user_id)
        .fetch_one(c)
        .await)?;
    Ok(count > 0)
}

/// Makes `user_id` an owner; `false` if it already was one.
pub async fn add<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    user_id: i64,
    added_by: Option<i64>,
    now: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO crate_owners (crate_id, user_id, added_by, added_at)
                       VALUES ($1, $2, $3, $4) ON CONFLICT (crate_id, user_id) DO NOTHING";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(crate_id)
        .bind(user_id)
        .bind(added_by)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Removes `user_id` from the owners; `false` if it was not one.
pub async fn remove<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "DELETE FROM crate_owners WHERE crate_id = $1 AND user_id = $2";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(crate_id)
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Whether `user_id` owns the crate itself or through a team it belongs to.
pub async fn is_owner_or_team_member<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    const SQL: &str =
        "SELECT (SELECT COUNT(*) FROM crate_owners WHERE crate_id = $1 AND user_id = $2)
                            + (SELECT COUNT(*) FROM crate_team_owners o
                                 JOIN team_members m ON m.team_id = o.team_id
                                WHERE o.crate_id = $1 AND m.user_id = $2)";
    let count: i64 = on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(crate_id)
        .bind(user_id)
        .fetch_one(c)
        .await)?;
    Ok(count > 0)
}

/// A team that owns a crate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamOwnerRow {
    pub id: i64,
    pub name: String,
}

/// The teams that own a crate, in the order they were added.
pub async fn list_teams<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<Vec<TeamOwnerRow>> {
    const SQL: &str = "SELECT t.id, t.name
                       FROM crate_team_owners o JOIN teams t ON t.id = o.team_id
                       WHERE o.crate_id = $1 ORDER BY o.added_at, t.id";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}

/// Makes a team an owner; `false` if it already was one.
pub async fn add_team<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    team_id: i64,
    added_by: Option<i64>,
    now: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO crate_team_owners (crate_id, team_id, added_by, added_at)
                       VALUES ($1, $2, $3, $4) ON CONFLICT (crate_id, team_id) DO NOTHING";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(crate_id)
        .bind(team_id)
        .bind(added_by)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Removes a team from the owners; `false` if it was not one.
pub async fn remove_team<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    team_id: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "DELETE FROM crate_team_owners WHERE crate_id = $1 AND team_id = $2";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(crate_id)
        .bind(team_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// How many owners the crate has, users and teams together.
pub async fn count_all<'c>(conn: impl Into<Conn<'c>>, crate_id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT (SELECT COUNT(*) FROM crate_owners WHERE crate_id = $1)
                            + (SELECT COUNT(*) FROM crate_team_owners WHERE crate_id = $1)";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(crate_id)
        .fetch_one(c)
        .await)
}

/// The users who own the crate, directly or as members of an owning team, by id.
pub async fn user_ids_with_teams<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
) -> sqlx::Result<Vec<i64>> {
    const SQL: &str = "SELECT user_id FROM crate_owners WHERE crate_id = $1
                       UNION
                       SELECT m.user_id FROM crate_team_owners t
                       JOIN team_members m ON m.team_id = t.team_id WHERE t.crate_id = $1
                       ORDER BY 1";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(crate_id)
        .fetch_all(c)
        .await)
}
