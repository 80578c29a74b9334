//! `/api/v1/admin/…`: users, teams, registry permissions and the audit log, for administrators.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::ApiToken;
use crate::clock;
use crate::db::audit::{AuditFilter, AuditRow};
use crate::db::tokens::TokenRow;
use crate::db::users::UserRow;
use crate::error::{AppError, AppResult};
use crate::ops::permissions::{self, Grantee, Permissions};
use crate::ops::teams::{self, Team};
use crate::ops::users::{self, NewUser, UserChange};
use crate::ops::{audit, tokens};

/// What changed, for answers that have nothing else to say.
#[derive(Debug, Serialize)]
pub struct Changed {
    pub ok: bool,
    pub changed: bool,
    /// When a grant or revocation changed who may get into the registry, that in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl Changed {
    /// The answer to a request that created something.
    fn created() -> (StatusCode, Json<Changed>) {
        (
            StatusCode::CREATED,
            Json(Changed {
                ok: true,
                changed: true,
                notice: None,
            }),
        )
    }
}

#[derive(Debug, Serialize)]
pub struct UserList {
    pub users: Vec<User>,
}

/// A user as the API shows it.
#[derive(Debug, Serialize)]
pub struct User {
    pub login: String,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            login: row.login,
            admin: row.is_admin,
            disabled: row.disabled_at.is_some(),
            created_at: row.created_at,
        }
    }
}

/// `GET /api/v1/admin/users`.
pub async fn list_users(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
) -> AppResult<Json<UserList>> {
    let users = users::list(&app, Some(&actor)).await?;
    Ok(Json(UserList {
        users: users.into_iter().map(User::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub login: String,
    #[serde(default)]
    pub admin: bool,
    pub password: Option<String>,
}

/// `POST /api/v1/admin/users`.
pub async fn add_user(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> AppResult<(StatusCode, Json<Changed>)> {
    let user = NewUser {
        login: request.login,
        is_admin: request.admin,
        password: request.password,
    };
    users::add(&app, user, Some(&actor)).await?;
    Ok(Changed::created())
}

/// The body of `PATCH /api/v1/admin/users/{login}`; absent fields stay as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub disabled: Option<bool>,
    pub admin: Option<bool>,
}

/// `PATCH /api/v1/admin/users/{login}`: disable or enable, promote or demote.
pub async fn update_user(
    State(app): State<AppState>,
    Path(login): Path<String>,
    ApiToken(actor): ApiToken,
    ApiJson(update): ApiJson<UserUpdate>,
) -> AppResult<Json<Changed>> {
    let mut changes = Vec::new();
    if let Some(disabled) = update.disabled {
        changes.push(if disabled {
            UserChange::Disable
        } else {
            UserChange::Enable
        });
    }
    if let Some(admin) = update.admin {
        changes.push(if admin {
            UserChange::MakeAdmin
        } else {
            UserChange::RemoveAdmin
        });
    }
    if changes.is_empty() {
        return Err(AppError::BadRequest(
            "give `disabled` and/or `admin` to change".into(),
        ));
    }
    let mut changed = false;
    for change in changes {
        changed |= users::change(&app, &login, change, Some(&actor)).await?;
    }
    Ok(Json(Changed {
        ok: true,
        changed,
        notice: None,
    }))
}

#[derive(Debug, Serialize)]
pub struct AllTokens {
    pub tokens: Vec<TokenRow>,
}

/// `GET /api/v1/admin/tokens`: every user's tokens (never their secrets).
pub async fn list_all_tokens(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
) -> AppResult<Json<AllTokens>> {
    let tokens = tokens::list(&app, None, Some(&actor)).await?;
    Ok(Json(AllTokens { tokens }))
}

#[derive(Debug, Serialize)]
pub struct TeamList {
    pub teams: Vec<Team>,
}

/// `GET /api/v1/admin/teams`.
pub async fn list_teams(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
) -> AppResult<Json<TeamList>> {
    let teams = teams::list(&app, Some(&actor)).await?;
    Ok(Json(TeamList { teams }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeamRequest {
    pub name: String,
}

/// `POST /api/v1/admin/teams`.
pub async fn create_team(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
    ApiJson(request): ApiJson<NewTeamRequest>,
) -> AppResult<(StatusCode, Json<Changed>)> {
    teams::create(&app, &request.name, Some(&actor)).await?;
    Ok(Changed::created())
}

/// `DELETE /api/v1/admin/teams/{team}`: what the team's deletion took away.
pub async fn delete_team(
    State(app): State<AppState>,
    Path(team): Path<String>,
    ApiToken(actor): ApiToken,
) -> AppResult<Json<teams::DeletedTeam>> {
    Ok(Json(teams::delete(&app, &team, Some(&actor)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    pub users: Vec<String>,
}

/// `PUT /api/v1/admin/teams/{team}/members`.
pub async fn add_members(
    state: State<AppState>,
    team: Path<String>,
    token: ApiToken,
    request: ApiJson<MembersRequest>,
) -> AppResult<Json<Changed>> {
    change_members(state, team, token, request, true).await
}

/// `DELETE /api/v1/admin/teams/{team}/members`.
pub async fn remove_members(
    state: State<AppState>,
    team: Path<String>,
    token: ApiToken,
    request: ApiJson<MembersRequest>,
) -> AppResult<Json<Changed>> {
    change_members(state, team, token, request, false).await
}

async fn change_members(
    State(app): State<AppState>,
    Path(team): Path<String>,
    ApiToken(actor): ApiToken,
    ApiJson(request): ApiJson<MembersRequest>,
    add: bool,
) -> AppResult<Json<Changed>> {
    let changed = teams::change_members(&app, &team, &request.users, add, Some(&actor)).await?;
    Ok(Json(Changed {
        ok: true,
        changed: !changed.is_empty(),
        notice: None,
    }))
}

/// `GET /api/v1/admin/registries/{registry}/permissions`.
pub async fn list_permissions(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    ApiToken(actor): ApiToken,
) -> AppResult<Json<Permissions>> {
    // Checked before the registry lookup too, so its 404 names registries only to administrators.
    actor.require_instance_admin()?;
    let registry = app.registry(&registry)?;
    Ok(Json(permissions::list(&app, registry, Some(&actor)).await?))
}

/// The body of `PUT` and `DELETE /api/v1/admin/registries/{registry}/permissions`:
/// exactly one of `user` and `team`, and for `PUT` a role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub user: Option<String>,
    pub team: Option<String>,
    pub role: Option<String>,
}

impl GrantRequest {
    fn grantee(&self) -> AppResult<Grantee> {
        match (&self.user, &self.team) {
            (Some(user), None) => Ok(Grantee::User(user.clone())),
            (None, Some(team)) => Ok(Grantee::Team(team.clone())),
            _ => Err(AppError::BadRequest(
                "name exactly one of `user` and `team`".into(),
            )),
        }
    }
}

/// `PUT /api/v1/admin/registries/{registry}/permissions`: grants a role.
pub async fn grant_permission(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    ApiToken(actor): ApiToken,
    ApiJson(request): ApiJson<GrantRequest>,
) -> AppResult<Json<Changed>> {
    actor.require_instance_admin()?;
    let registry = app.registry(&registry)?;
    let grantee = request.grantee()?;
    let role =
        Role::parse(request.role.as_deref().ok_or_else(|| {
            AppError::BadRequest("give the `role`: read, publish or admin".into())
        })?)?;
    let change = permissions::change(&app, registry, &grantee, Some(role), Some(&actor)).await?;
    Ok(Json(Changed {
        ok: true,
        changed: change.previous.as_deref() != Some(role.as_str()),
        notice: change.notice,
    }))
}

/// `DELETE /api/v1/admin/registries/{registry}/permissions`: takes a role away.
pub async fn revoke_permission(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    ApiToken(actor): ApiToken,
    ApiJson(request): ApiJson<GrantRequest>,
) -> AppResult<Json<Changed>> {
    actor.require_instance_admin()?;
    let registry = app.registry(&registry)?;
    let grantee = request.grantee()?;
    let change = permissions::change(&app, registry, &grantee, None, Some(&actor)).await?;
    Ok(Json(Changed {
        ok: true,
        changed: change.previous.is_some(),
        notice: change.notice,
    }))
}

/// The query of `GET /api/v1/admin/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub registry: Option<String>,
    #[serde(rename = "crate")]
    pub crate_name: Option<String>,
    pub user: Option<String>,
    pub action: Option<String>,
    /// Unix seconds, an RFC 3339 time, a date or an age ([`audit::parse_since`]).
    pub since: Option<String>,
    /// Only events with a smaller id (the `id` of the last event of a page).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct AuditList {
    pub events: Vec<AuditRow>,
}

/// `GET /api/v1/admin/audit`: the newest events first.
pub async fn list_audit(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> AppResult<Json<AuditList>> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let since = match query.since.as_deref() {
        None | Some("") => None,
        Some(text) => Some(audit::parse_since(text, clock::now()).ok_or_else(|| {
            AppError::BadRequest(format!(
                "since `{}` is not a time; give {}",
                text.escape_debug(),
                audit::SINCE_FORMS
            ))
        })?),
    };
    let filter = AuditFilter {
        registry: query.registry,
        crate_name: query.crate_name,
        actor: query.user,
        action: query.action,
        since,
        before_id: query.before,
        limit: query.limit.unwrap_or(100),
    };
    let events = audit::list(&app, filter, Some(&actor)).await?;
    Ok(Json(AuditList { events }))
}
