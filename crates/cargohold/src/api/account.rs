//! `/api/v1/me…`: who a token belongs to, and that user's own tokens (for the web UI and scripts).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{ApiToken, Scope};
use crate::db::tokens::TokenRow;
use crate::error::{AppError, AppResult};
use crate::ops::tokens::{self, TokenRequest};

/// `GET /api/v1/me`.
#[derive(Debug, Serialize)]
pub struct Me {
    pub login: String,
    pub admin: bool,
    pub token_id: Option<i64>,
}

pub async fn me(ApiToken(actor): ApiToken) -> Json<Me> {
    Json(Me {
        login: actor.login,
        admin: actor.is_admin,
        token_id: actor.token_id,
    })
}

/// A list of tokens, never with their secrets.
#[derive(Debug, Serialize)]
pub struct TokenList {
    pub tokens: Vec<TokenRow>,
}

/// `GET /api/v1/me/tokens`: the caller's tokens.
pub async fn list_tokens(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
) -> AppResult<Json<TokenList>> {
    let tokens = tokens::list(&app, Some(&actor.login), Some(&actor)).await?;
    Ok(Json(TokenList { tokens }))
}

/// The body of `PUT /api/v1/me/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub crates: Vec<String>,
    #[serde(default)]
    pub registries: Vec<String>,
    pub expires_in_days: Option<u32>,
}

/// The answer to a new token: the secret, shown this once.
#[derive(Debug, Serialize)]
pub struct NewTokenResponse {
    pub id: i64,
    pub token: String,
}

/// `PUT /api/v1/me/tokens`: a new token for the caller, no stronger than the caller's.
pub async fn create_token(
    State(app): State<AppState>,
    ApiToken(actor): ApiToken,
    ApiJson(request): ApiJson<NewTokenRequest>,
) -> AppResult<(StatusCode, Json<NewTokenResponse>)> {
    let scopes = Scope::parse_all(&request.scopes)?;
    let request = TokenRequest {
        name: request.name,
        scopes,
        crate_patterns: request.crates,
        registries: request.registries,
        expires_in_days: request.expires_in_days,
    };
    let created = tokens::create(&app, &actor.login, request, Some(&actor)).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewTokenResponse {
            id: created.id,
            token: created.token,
        }),
    ))
}

/// `DELETE /api/v1/me/tokens/{id}`: revokes one of the caller's tokens (any token, for administrators).
pub async fn revoke_token(
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiToken(actor): ApiToken,
) -> AppResult<Json<TokenRow>> {
    let id = id.parse().map_err(|_| {
        AppError::NotFound(format!("there is no token with id {}", id.escape_debug()))
    })?;
    Ok(Json(tokens::revoke(&app, id, Some(&actor)).await?))
}
