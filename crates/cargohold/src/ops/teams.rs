//! Teams: named groups of users that own crates and hold roles in registries.

use serde::Serialize;

use crate::app::App;
use crate::auth::Actor;
use crate::clock;
use crate::db::{self, Conn, audit::AuditEvent, teams::TeamRow};
use crate::error::{AppError, AppResult, ResultExt};

/// A team with its members, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    pub name: String,
    pub members: Vec<String>,
    pub created_at: i64,
}

/// The team called `name`, or a 404 naming it.
pub async fn find<'c>(conn: impl Into<Conn<'c>>, name: &str) -> AppResult<TeamRow> {
    let no_such_team = || {
        AppError::NotFound(format!(
            "there is no team `{}`; check the name (administrators see every team on \
             /admin/teams, or with `cargohold team list`)",
            name.escape_debug()
        ))
    };
    super::users::validate_login(name).map_err(|_| no_such_team())?;
    db::teams::find_by_name(conn, name)
        .await?
        .ok_or_else(no_such_team)
}

/// Creates a team; administrators only. Team names follow the rules of logins.
pub async fn create(app: &App, name: &str, by: Option<&Actor>) -> AppResult<i64> {
    super::require_instance_admin(by)?;
    super::users::validate_login(name).map_err(|_| {
        AppError::BadRequest(format!(
            "the team name `{}` is invalid: use up to 64 letters, digits, `-` and `_`, starting with a letter or digit",
            name.escape_debug()
        ))
    })?;
    let mut tx = app.db.begin().await?;
    let now = clock::now();
    let id = db::teams::insert(&mut tx, name, now)
        .await
        .on_unique_violation(|| {
            AppError::Conflict(format!("a team named `{name}` already exists"))
        })?;
    db::audit::insert(
        &mut tx,
        &AuditEvent {
            detail: Some(serde_json::json!({ "team": name }).to_string()),
            ..super::audit_event(by, "team_create")
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What deleting a team took away.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedTeam {
    pub name: String,
    pub members: Vec<String>,
    /// Crates it owned; their user owners keep them.
    pub crates: Vec<String>,
}

/// Deletes a team, its memberships and its crate ownerships; administrators only.
///
/// A team that holds a role in a registry is refused: dropping its grant could
/// open the registry to every user (a registry without grants is open), so that
/// is done first with `permission revoke`, which says what it changes.
pub async fn delete(app: &App, name: &str, by: Option<&Actor>) -> AppResult<DeletedTeam> {
    super::require_instance_admin(by)?;
    let mut tx = app.db.begin().await?;
    let team = find(&mut tx, name).await?;
    let grants = db::teams::grants(&mut tx, team.id).await?;
    if !grants.is_empty() {
        let held: Vec<String> = grants
            .iter()
            .map(|(registry, role)| format!("`{role}` in `{registry}`"))
            .collect();
        let (registry, _) = &grants[0];
        return Err(AppError::Conflict(format!(
            "team `{}` holds {}; revoke that first (`cargohold permission revoke --registry {registry} \
             --team {}`), which says whether the registry opens to everyone, then delete the team",
            team.name,
            held.join(", "),
            team.name
        )));
    }
    let members = db::teams::members(&mut tx, team.id).await?;
    let crates = db::teams::owned_crates(&mut tx, team.id).await?;
    db::teams::delete(&mut tx, team.id).await?;
    let now = clock::now();
    db::audit::insert(
        &mut tx,
        &AuditEvent {
            detail: Some(
                serde_json::json!({ "team": team.name, "members": members, "crates": crates })
                    .to_string(),
            ),
            ..super::audit_event(by, "team_delete")
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(DeletedTeam {
        name: team.name,
        members,
        crates,
    })
}

/// Every team with its members; administrators only.
pub async fn list(app: &App, by: Option<&Actor>) -> AppResult<Vec<Team>> {
    super::require_instance_admin(by)?;
    let mut teams = Vec::new();
    for row in db::teams::list(app.db.read()).await? {
        teams.push(Team {
            members: db::teams::members(app.db.read(), row.id).await?,
            name: row.name,
            created_at: row.created_at,
        });
    }
    Ok(teams)
}

/// Adds (`add = true`) or removes members, all or nothing; returns the logins that changed.
pub async fn change_members(
    app: &App,
    team: &str,
    logins: &[String],
    add: bool,
    by: Option<&Actor>,
) -> AppResult<Vec<String>> {
    super::require_instance_admin(by)?;
    if logins.is_empty() {
        return Err(AppError::BadRequest("name at least one user".into()));
    }
    let mut tx = app.db.begin().await?;
    let team = find(&mut tx, team).await?;
    let now = clock::now();
    let mut changed = Vec::new();
    for login in logins {
        let user = super::users::find(&mut tx, login).await?;
        let done = if add {
            db::teams::add_member(&mut tx, team.id, user.id, now).await?
        } else {
            db::teams::remove_member(&mut tx, team.id, user.id).await?
        };
        if done {
            db::audit::insert(
                &mut tx,
                &AuditEvent {
                    detail: Some(
                        serde_json::json!({ "team": team.name, "member": user.login }).to_string(),
                    ),
                    ..super::audit_event(
                        by,
                        if add {
                            "team_member_add"
                        } else {
                            "team_member_remove"
                        },
                    )
                },
                now,
            )
            .await?;
            changed.push(user.login);
        }
    }
    tx.commit().await?;
    app.auth_cache.forget_all();
    Ok(changed)
}
