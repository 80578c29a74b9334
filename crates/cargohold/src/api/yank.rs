//! `DELETE /registries/{registry}/api/v1/crates/{crate}/{version}/yank` and `PUT …/unyank`.

use axum::Json;
use axum::extract::{Path, State};
use cargohold_protocol::api::OkResponse;

use crate::api::write_target;
use crate::app::AppState;
use crate::auth::ApiToken;
use crate::error::AppResult;
use crate::ops;

/// Yanks a version: cargo stops choosing it for new lockfiles.
pub async fn yank(
    state: State<AppState>,
    path: Path<(String, String, String)>,
    token: ApiToken,
) -> AppResult<Json<OkResponse>> {
    set_yanked(state, path, token, true).await
}

/// Makes a yanked version available again.
pub async fn unyank(
    state: State<AppState>,
    path: Path<(String, String, String)>,
    token: ApiToken,
) -> AppResult<Json<OkResponse>> {
    set_yanked(state, path, token, false).await
}

async fn set_yanked(
    State(app): State<AppState>,
    Path((registry, name, version)): Path<(String, String, String)>,
    ApiToken(actor): ApiToken,
    yanked: bool,
) -> AppResult<Json<OkResponse>> {
    let (registry, actor) = write_target(&app, &registry, actor)?;
    ops::yank::set_yanked(&app, registry, &actor, &name, &version, yanked).await?;
    Ok(Json(OkResponse {
        ok: true,
        msg: None,
    }))
}
