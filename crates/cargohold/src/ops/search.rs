//! Searching the crates of a registry, for `cargo search` and the web pages.

use cargohold_protocol::api::{SearchCrate, SearchMeta, SearchResponse};

use crate::app::{App, Registry};
use crate::db::{self, crates::ListFilter, crates::ListOrder};
use crate::error::{AppError, AppResult};

/// Most results one page may hold (cargo clamps `--limit` to 100 too).
pub const MAX_PER_PAGE: i64 = 100;

/// Crates matching `query`, page `page` (from 1) of `per_page`.
pub async fn search(
    app: &App,
    registry: &Registry,
    query: &str,
    per_page: i64,
    page: i64,
) -> AppResult<SearchResponse> {
    if query.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "the search query contains control characters".into(),
        ));
    }
    if query.len() > 256 {
        return Err(AppError::BadRequest(
            "the search query is longer than 256 bytes".into(),
        ));
    }
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    let page = page.clamp(1, 10_000);
    let filter = ListFilter {
        registry_ids: &[registry.id],
        query,
        keyword: None,
    };
    let (rows, total) = db::crates::list(
        app.db.read(),
        &filter,
        ListOrder::Relevance,
        per_page,
        (page - 1) * per_page,
    )
    .await?;
    Ok(SearchResponse {
        crates: rows
            .into_iter()
            .map(|row| SearchCrate {
                name: row.name,
                // crates.io shows 0.0.0 for a crate whose versions are all yanked.
                max_version: row.max_version.unwrap_or_else(|| "0.0.0".into()),
                description: row.description,
            })
            .collect(),
        meta: SearchMeta {
            total: total.max(0) as u64,
        },
    })
}
