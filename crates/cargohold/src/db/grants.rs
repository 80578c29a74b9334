//! `registry_grants`: the role (`read`, `publish`, `admin`) a user or a team holds in a registry.

use super::{Conn, on_conn};

/// A grant, with the name of whoever holds it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct GrantRow {
    /// `user` or `team`.
    pub kind: String,
    /// The login or the team name.
    pub holder: String,
    pub role: String,
    pub granted_at: i64,
}

/// Who holds a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User(i64),
    Team(i64),
}

impl Holder {
    fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            Holder::User(id) => (Some(id), None),
            Holder::Team(id) => (None, Some(id)),
        }
    }
}

/// Every grant of a registry: users first, then teams, by name.
pub async fn list<'c>(conn: impl Into<Conn<'c>>, registry_id: i64) -> sqlx::Result<Vec<GrantRow>> {
    const SQL: &str = "SELECT 'user' AS kind, u.login AS holder, g.role, g.granted_at
                         FROM registry_grants g JOIN users u ON u.id = g.user_id
                        WHERE g.registry_id = $1
                       UNION ALL
                       SELECT 'team' AS kind, t.name AS holder, g.role, g.granted_at
                         FROM registry_grants g JOIN teams t ON t.id = g.team_id
                        WHERE g.registry_id = $1
                       ORDER BY 1 DESC, 2";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .fetch_all(c)
        .await)
}

/// Gives `holder` `role` in the registry, replacing any role it had; returns the role it had.
pub async fn set<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    holder: Holder,
    role: &str,
    now: i64,
) -> sqlx::Result<Option<String>> {
    let mut conn = conn.into();
    let previous = remove(&mut conn, registry_id, holder).await?;
    let (user_id, team_id) = holder.ids();
    const SQL: &str =
        "INSERT INTO registry_grants (registry_id, user_id, team_id, role, granted_at)
                       VALUES ($1, $2, $3, $4, $5)";
    on_conn!(&mut conn, |c| sqlx::query(SQL)
        .bind(registry_id)
        .bind(user_id)
        .bind(team_id)
        .bind(role)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(previous)
}

/// Takes away whatever role `holder` had in the registry, and returns it.
pub async fn remove<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    holder: Holder,
) -> sqlx::Result<Option<String>> {
    let (user_id, team_id) = holder.ids();
    const SQL: &str = "DELETE FROM registry_grants
                       WHERE registry_id = $1 AND (user_id = $2 OR team_id = $3) RETURNING role";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .bind(user_id)
        .bind(team_id)
        .fetch_optional(c)
        .await)
}

/// Whether the registry has any grant at all (without grants it is open to every user).
pub async fn any<'c>(conn: impl Into<Conn<'c>>, registry_id: i64) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM registry_grants WHERE registry_id = $1";
    let count: i64 = on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .fetch_one(c)
        .await)?;
    Ok(count > 0)
}

/// The roles `user_id` holds in the registry, directly or through its teams.
pub async fn roles_of<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    user_id: i64,
) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT g.role FROM registry_grants g
                       WHERE g.registry_id = $1
                         AND (g.user_id = $2
                              OR g.team_id IN (SELECT team_id FROM team_members WHERE user_id = $2))";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .bind(user_id)
        .fetch_all(c)
        .await)
}
