//! The one table of every URL the server answers, and the handler for each.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, put};

use crate::app::AppState;
use crate::{api, index, web};

/// Every route, split in two: the hot paths cargo hits by the hundred (index
/// files, downloads), which `server.rs` serves bare, and everything else, which
/// it wraps in request logging and request ids. Both need [`AppState`].
pub struct Routes {
    pub hot: Router<AppState>,
    pub observed: Router<AppState>,
}

/// The URL table.
pub fn routes(app: &AppState) -> Routes {
    let limits = &app.config.limits;
    // The publish body: two 4-byte lengths, the metadata and the .crate.
    let publish_limit = (limits.max_metadata_size + limits.max_crate_size + 8) as usize;
    let crate_file = "/registries/{registry}/crates/{crate}/{file}";

    let hot = Router::new()
        .route(
            "/registries/{registry}/index/config.json",
            get(index::sparse::config_json),
        )
        .route(
            "/registries/{registry}/index/{*path}",
            get(index::sparse::index_file),
        )
        .route(crate_file, get(api::download::download_crate));

    let cargo_api = Router::new()
        .route(
            "/registries/{registry}/api/v1/crates/new",
            put(api::publish::publish).layer(DefaultBodyLimit::max(publish_limit)),
        )
        .route(
            "/registries/{registry}/api/v1/crates/{crate}/{version}/yank",
            delete(api::yank::yank),
        )
        .route(
            "/registries/{registry}/api/v1/crates/{crate}/{version}/unyank",
            put(api::yank::unyank),
        )
        .route(
            "/registries/{registry}/api/v1/crates/{crate}/owners",
            get(api::owners::list_owners)
                .put(api::owners::add_owners)
                .delete(api::owners::remove_owners),
        )
        .route(
            "/registries/{registry}/api/v1/crates",
            get(api::search::search_crates),
        )
        .route(
            crate_file,
            put(api::upload::upload_crate)
                .layer(DefaultBodyLimit::max(limits.max_crate_size as usize)),
        )
        .route(
            "/registries/{registry}/api/{*rest}",
            axum::routing::any(api::not_found),
        )
        .route_layer(middleware::from_fn(api::ensure_json_errors));

    let observed = Router::new()
        .route("/", get(web::home_page))
        .route("/health", get(|| async { "ok\n" }))
        .route("/registries/{registry}/me", get(web::me_page))
        .merge(cargo_api);
    Routes { hot, observed }
}
