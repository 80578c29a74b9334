//! `/api/v1/registries/{registry}/…`: what a registry holds, for the web UI and scripts.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};

use crate::access;
use crate::api::paging::PageParams;
use crate::app::AppState;
use crate::auth::RequestMeta;
use crate::error::{AppError, AppResult};
use crate::ops::proxy_cache::{self, CacheListing};

/// `GET /api/v1/registries/{registry}/cache`: a proxy's cached crates and counters.
pub async fn cache(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    meta: RequestMeta,
    query: Result<Query<PageParams>, QueryRejection>,
) -> AppResult<Json<CacheListing>> {
    let registry = app.registry(&registry)?;
    access::require_read(&app, registry, &meta.headers, meta.client).await?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (page, per_page) = query.check(100, proxy_cache::MAX_PER_PAGE)?;
    let listing = proxy_cache::list(&app, registry, page, per_page).await?;
    Ok(Json(listing))
}
