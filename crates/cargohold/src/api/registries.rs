//! `/api/v1/registries/{registry}/…`: what a registry holds, for the web UI and scripts.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use crate::access;
use crate::app::AppState;
use crate::auth::RequestMeta;
use crate::error::{AppError, AppResult};
use crate::ops::proxy_cache::{self, CacheListing};

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// `GET /api/v1/registries/{registry}/cache`: a proxy's cached crates and counters.
pub async fn cache(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    meta: RequestMeta,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> AppResult<Json<CacheListing>> {
    let registry = app.registry(&registry)?;
    access::require_read(&app, registry, &meta.headers, meta.client).await?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let listing = proxy_cache::list(
        &app,
        registry,
        query.page.unwrap_or(1),
        query.per_page.unwrap_or(100),
    )
    .await?;
    Ok(Json(listing))
}
