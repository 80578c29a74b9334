//! What a proxy registry holds: its cached `.crate` files, upstream index files and counters.

use serde::Serialize;

use crate::app::{App, Registry};
use crate::db;
use crate::db::versions::HeldVersionRow;
use crate::error::{AppError, AppResult};
use crate::proxy::StatsSnapshot;

/// Most versions one page of the cache listing may hold.
pub const MAX_PER_PAGE: i64 = 1000;

/// A page of a proxy's cache.
#[derive(Debug, Serialize)]
pub struct CacheListing {
    pub registry: String,
    pub upstream: String,
    /// Counters since this server process started.
    pub stats: StatsSnapshot,
    /// Upstream index files stored, and how many of them name a crate.
    pub index_files: i64,
    pub index_files_found: i64,
    /// Cached versions and their total size.
    pub versions: i64,
    pub bytes: i64,
    pub page: i64,
    pub per_page: i64,
    /// Newest first.
    pub crates: Vec<HeldVersionRow>,
}

/// Lists page `page` (from 1) of `registry`'s cache, `per_page` versions at a time.
pub async fn list(
    app: &App,
    registry: &Registry,
    page: i64,
    per_page: i64,
) -> AppResult<CacheListing> {
    let Some(proxy) = &registry.proxy else {
        let proxies: Vec<&str> = registry
            .members
            .iter()
            .flat_map(|m| &m.proxies)
            .map(|r| r.name.as_str())
            .collect();
        return Err(AppError::BadRequest(format!(
            "`{}` is not a proxy registry{}",
            registry.name,
            if proxies.is_empty() {
                String::new()
            } else {
                format!("; its proxies are: {}", proxies.join(", "))
            }
        )));
    };
    let page = page.max(1);
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    let pool = app.db.read();
    let (index_files, index_files_found) = db::upstream_index::count(pool, registry.id).await?;
    let (versions, bytes) = db::versions::held_totals(pool, registry.id).await?;
    let crates =
        db::versions::list_held(pool, registry.id, per_page, (page - 1) * per_page).await?;
    Ok(CacheListing {
        registry: registry.name.clone(),
        upstream: proxy.upstream.shown_url(),
        stats: proxy.stats.snapshot(),
        index_files,
        index_files_found,
        versions,
        bytes,
        page,
        per_page,
        crates,
    })
}
