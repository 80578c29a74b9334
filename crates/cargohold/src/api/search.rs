//! `GET /registries/{registry}/api/v1/crates?q=…&per_page=…`: what `cargo search` calls.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use cargohold_protocol::api::{SearchMeta, SearchResponse};
use serde::Deserialize;

use crate::access;
use crate::api::paging::PageParams;
use crate::app::AppState;
use crate::auth::RequestMeta;
use crate::error::{AppError, AppResult};
use crate::ops;

/// The query string of a search.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(flatten)]
    paging: PageParams,
}

/// Finds crates by name, description and keywords.
pub async fn search_crates(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    meta: RequestMeta,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> AppResult<Json<SearchResponse>> {
    let registry = app.registry(&registry)?;
    let reader = access::require_read(&app, registry, &meta.headers, meta.client).await?;
    let Query(params) = params.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (page, per_page) = params.paging.check(10, ops::search::MAX_PER_PAGE)?;
    // A virtual registry searches the member it publishes to (or its first member),
    // when its reader may read that member: otherwise there is nothing to find.
    let registry = match &registry.members {
        Some(members) => {
            let searched = members
                .publish_to
                .as_ref()
                .or_else(|| members.all().next())
                .unwrap_or(registry);
            if !access::reads_member(&app, searched, reader.as_ref()).await? {
                return Ok(Json(SearchResponse {
                    crates: Vec::new(),
                    meta: SearchMeta { total: 0 },
                }));
            }
            searched
        }
        None => registry,
    };
    let response = ops::search::search(&app, registry, &params.q, per_page, page).await?;
    Ok(Json(response))
}
