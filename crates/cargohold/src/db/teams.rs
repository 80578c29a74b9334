//! `teams` and `team_members`: groups of users that can own crates and hold registry roles.

use super::{Conn, on_conn};

/// A team as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

/// Creates a team and returns its id; fails with a unique violation if the name is taken.
pub async fn insert<'c>(conn: impl Into<Conn<'c>>, name: &str, now: i64) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(name)
        .bind(now)
        .fetch_one(c)
        .await)
}

/// The team called `name`, compared without regard to case.
pub async fn find_by_name<'c>(
    conn: impl Into<Conn<'c>>,
    name: &str,
) -> sqlx::Result<Option<TeamRow>> {
    const SQL: &str = "SELECT id, name, created_at FROM teams WHERE lower(name) = lower($1)";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(name)
        .fetch_optional(c)
        .await)
}

/// Every team, by name.
pub async fn list<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<Vec<TeamRow>> {
    const SQL: &str = "SELECT id, name, created_at FROM teams ORDER BY lower(name)";
    on_conn!(conn, |c| sqlx::query_as(SQL).fetch_all(c).await)
}

/// The logins of a team's members, sorted.
pub async fn members<'c>(conn: impl Into<Conn<'c>>, team_id: i64) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT u.login FROM team_members m JOIN users u ON u.id = m.user_id
                       WHERE m.team_id = $1 ORDER BY lower(u.login)";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(team_id)
        .fetch_all(c)
        .await)
}

/// Adds a member; `false` if the user already was one.
pub async fn add_member<'c>(
    conn: impl Into<Conn<'c>>,
    team_id: i64,
    user_id: i64,
    now: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO team_members (team_id, user_id, added_at) VALUES ($1, $2, $3)
                       ON CONFLICT (team_id, user_id) DO NOTHING";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(team_id)
        .bind(user_id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Removes a member; `false` if the user was not one.
pub async fn remove_member<'c>(
    conn: impl Into<Conn<'c>>,
    team_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2";
    let done = on_conn!(conn, |c| sqlx::query(SQL)
        .bind(team_id)
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Whether `user_id` is a member of the team.
pub async fn is_member<'c>(
    conn: impl Into<Conn<'c>>,
    team_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND user_id = $2";
    let count: i64 = on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(team_id)
        .bind(user_id)
        .fetch_one(c)
        .await)?;
    Ok(count > 0)
}

/// The names of the registries where the team holds a grant, with the role.
pub async fn grants<'c>(
    conn: impl Into<Conn<'c>>,
    team_id: i64,
) -> sqlx::Result<Vec<(String, String)>> {
    const SQL: &str = "SELECT r.name, g.role FROM registry_grants g
                       JOIN registries r ON r.id = g.registry_id
                       WHERE g.team_id = $1 ORDER BY r.name";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(team_id)
        .fetch_all(c)
        .await)
}

/// The names of the crates the team owns.
pub async fn owned_crates<'c>(
    conn: impl Into<Conn<'c>>,
    team_id: i64,
) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT c.name FROM crate_team_owners o
                       JOIN crates c ON c.id = o.crate_id
                       WHERE o.team_id = $1 ORDER BY c.name";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(team_id)
        .fetch_all(c)
        .await)
}

/// Deletes the team with its memberships and crate ownerships (not its grants:
/// the caller refuses a team that holds any).
pub async fn delete(tx: &mut super::Tx, team_id: i64) -> sqlx::Result<()> {
    for sql in [
        "DELETE FROM crate_team_owners WHERE team_id = $1",
        "DELETE FROM team_members WHERE team_id = $1",
        "DELETE FROM teams WHERE id = $1",
    ] {
        on_conn!(&mut *tx, |c| sqlx::query(sql)
            .bind(team_id)
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}
