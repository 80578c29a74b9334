//! `GET`, `PUT` and `DELETE /registries/{registry}/api/v1/crates/{crate}/owners`.

use axum::Json;
use axum::extract::{Path, State};
use cargohold_protocol::api::{OkResponse, Owner, OwnersRequest, OwnersResponse};

use crate::access;
use crate::api::{ApiJson, write_target};
use crate::app::AppState;
use crate::auth::{ApiToken, RequestMeta};
use crate::error::{AppError, AppResult};
use crate::ops::owners::{self, Change};

/// Lists the owners of a crate.
pub async fn list_owners(
    State(app): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    meta: RequestMeta,
) -> AppResult<Json<OwnersResponse>> {
    let registry = app.registry(&registry)?;
    let reader = access::require_read(&app, registry, &meta.headers, meta.client).await?;
    // Through a virtual registry, owners are read in the member that keeps them.
    if registry.members.is_some()
        && let Ok(keeper) = app.write_registry(&registry.name)
        && !access::reads_member(&app, keeper, reader.as_ref()).await?
    {
        return Err(AppError::NotFound(format!("no crate named `{name}`")));
    }
    let users = owners::list_for_reading(&app, registry, &name)
        .await?
        .into_iter()
        .map(|row| Owner {
            id: u32::try_from(row.id).unwrap_or(u32::MAX),
            login: row.login,
            name: row.name,
        })
        .collect();
    Ok(Json(OwnersResponse { users }))
}

/// Adds owners; cargo prints the `msg`.
pub async fn add_owners(
    state: State<AppState>,
    path: Path<(String, String)>,
    token: ApiToken,
    body: ApiJson<OwnersRequest>,
) -> AppResult<Json<OkResponse>> {
    change_owners(state, path, token, body, Change::Add).await
}

/// Removes owners; cargo 1.95 requires the `msg`.
pub async fn remove_owners(
    state: State<AppState>,
    path: Path<(String, String)>,
    token: ApiToken,
    body: ApiJson<OwnersRequest>,
) -> AppResult<Json<OkResponse>> {
    change_owners(state, path, token, body, Change::Remove).await
}

async fn change_owners(
    State(app): State<AppState>,
    Path((registry, name)): Path<(String, String)>,
    ApiToken(actor): ApiToken,
    ApiJson(request): ApiJson<OwnersRequest>,
    change: Change,
) -> AppResult<Json<OkResponse>> {
    let (registry, actor) = write_target(&app, &registry, actor)?;
    let msg = owners::change(&app, registry, &actor, &name, &request.users, change).await?;
    Ok(Json(OkResponse {
        ok: true,
        msg: Some(msg),
    }))
}
