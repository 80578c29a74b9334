//! The one table of every URL the server answers, and the handler for each.

use std::net::IpAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Method};
use axum::middleware;
use axum::response::Response;
use axum::routing::{delete, get, patch, post, put};

use crate::app::{App, AppState};
use crate::fast_lane::AnswerFromMemory;
use crate::memory_answer::{HotHeaders, MemoryAnswer};
use crate::{access, api, index, ops, web};

/// Every route, split in two: the hot paths cargo hits by the hundred (index
/// files, downloads), which `server.rs` serves bare, and everything else, which
/// it wraps in request logging and request ids. Both need [`AppState`].
///
/// A plain `GET` of a hot path does not even reach the router: the server
/// recognises it with [`hot_route`] and answers it with [`serve_hot`], which
/// call the same handlers. The router still lists those routes, for `HEAD`,
/// percent-escaped paths and callers that use the router alone.
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
            axum::routing::any(api::not_a_registry_endpoint),
        )
        .route_layer(middleware::from_fn(api::ensure_json_errors))
        .layer(middleware::map_response(web::headers::api));

    // The instance's own API: accounts, tokens, administration (for the web UI and scripts).
    let instance_api = Router::new()
        .route("/api/v1/me", get(api::account::me))
        .route(
            "/api/v1/me/tokens",
            get(api::account::list_tokens)
                .put(api::account::create_token)
                .post(api::account::create_token),
        )
        .route("/api/v1/me/tokens/{id}", delete(api::account::revoke_token))
        .route(
            "/api/v1/admin/users",
            get(api::admin::list_users).post(api::admin::add_user),
        )
        .route(
            "/api/v1/admin/users/{login}",
            patch(api::admin::update_user),
        )
        .route("/api/v1/admin/tokens", get(api::admin::list_all_tokens))
        .route(
            "/api/v1/admin/teams",
            get(api::admin::list_teams).post(api::admin::create_team),
        )
        .route(
            "/api/v1/admin/teams/{team}",
            delete(api::admin::delete_team),
        )
        .route(
            "/api/v1/admin/teams/{team}/members",
            put(api::admin::add_members).delete(api::admin::remove_members),
        )
        .route(
            "/api/v1/admin/registries/{registry}/permissions",
            get(api::admin::list_permissions)
                .put(api::admin::grant_permission)
                .delete(api::admin::revoke_permission),
        )
        .route("/api/v1/admin/audit", get(api::admin::list_audit))
        .route(
            "/api/v1/registries/{registry}/cache",
            get(api::registries::cache),
        )
        .route(
            "/api/{*rest}",
            axum::routing::any(api::not_an_instance_endpoint),
        )
        .route_layer(middleware::from_fn(api::ensure_json_errors))
        .layer(middleware::map_response(web::headers::api));

    // The web pages (see `web`): server-rendered HTML, forms posted with a CSRF token.
    let pages = Router::new()
        .route("/", get(web::browse::home))
        .route(web::stylesheet_path(), get(web::stylesheet))
        .route(web::script_path(), get(web::script))
        .route("/search", get(web::browse::search))
        .route("/keywords/{keyword}", get(web::browse::keyword))
        .route("/registries/{registry}", get(web::browse::registry))
        .route("/registries/{registry}/setup", get(web::setup::setup_page))
        .route(
            "/registries/{registry}/crates/{crate}",
            get(web::krate::crate_page),
        )
        .route(
            "/registries/{registry}/crates/{crate}/delete",
            post(web::krate::delete_crate),
        )
        .route(
            "/registries/{registry}/crates/{crate}/yank",
            post(web::krate::yank_version),
        )
        .route("/registries/{registry}/me", get(web::cargo_login_hint))
        .route(
            "/login",
            get(web::account::login_page).post(web::account::login),
        )
        .route("/logout", post(web::account::logout))
        .route("/me", get(web::account::me))
        .route("/me/tokens", post(web::account::create_token))
        .route("/me/tokens/{id}/revoke", post(web::account::revoke_token))
        .route("/me/password", post(web::account::change_password))
        .route("/admin", get(web::admin::overview))
        .route("/admin/reindex", post(web::admin::reindex))
        .route(
            "/admin/users",
            get(web::admin::users).post(web::admin::add_user),
        )
        .route("/admin/users/{login}", post(web::admin::change_user))
        .route("/admin/users/{login}/tokens", get(web::admin::user_tokens))
        .route(
            "/admin/users/{login}/tokens/{id}/revoke",
            post(web::admin::revoke_user_token),
        )
        .route(
            "/admin/teams",
            get(web::admin::teams).post(web::admin::change_team),
        )
        .route("/admin/registries", get(web::admin::registries))
        .route("/admin/registries/{registry}", get(web::admin::registry))
        .route(
            "/admin/registries/{registry}/permissions",
            post(web::admin::set_permission),
        )
        .route("/admin/audit", get(web::admin::audit))
        .route("/admin/webhooks", get(web::admin::webhooks))
        .route(
            "/admin/webhooks/{id}/redeliver",
            post(web::admin::redeliver_webhook),
        )
        .fallback(web::no_such_page)
        .layer(middleware::map_response(web::headers::page));

    // The git index (`git-index = true`), through `git http-backend`.
    let git_index = Router::new()
        .route(
            "/registries/{registry}/git/{*path}",
            get(index::git::http::serve).post(index::git::http::serve),
        )
        .layer(middleware::map_response(web::headers::api));

    let operations = Router::new()
        .route("/health", get(api::status::health))
        .route("/ready", get(api::status::ready))
        .route("/metrics", get(crate::metrics::serve))
        .layer(middleware::map_response(web::headers::api));

    let observed = Router::new()
        .merge(operations)
        .merge(git_index)
        .merge(pages)
        .merge(cargo_api)
        .merge(instance_api);
    Routes { hot, observed }
}

/// A request on one of the hot paths, as [`hot_route`] recognises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotRoute<'a> {
    /// `/registries/{registry}/index/config.json`
    ConfigJson { registry: &'a str },
    /// `/registries/{registry}/index/{*path}`
    IndexFile { registry: &'a str, path: &'a str },
    /// `/registries/{registry}/crates/{crate}/{file}`
    Download {
        registry: &'a str,
        name: &'a str,
        file: &'a str,
    },
}

impl<'a> HotRoute<'a> {
    /// The registry the route is in.
    pub fn registry(self) -> &'a str {
        match self {
            HotRoute::ConfigJson { registry }
            | HotRoute::IndexFile { registry, .. }
            | HotRoute::Download { registry, .. } => registry,
        }
    }
}

/// The hot route a request for `path` names, if it is a `GET` of one. Paths with
/// percent-escapes are left to the router, which decodes them.
pub fn hot_route<'a>(method: &Method, path: &'a str) -> Option<HotRoute<'a>> {
    if method != Method::GET || path.contains('%') {
        return None;
    }
    hot_route_of_plain_get(path)
}

/// [`hot_route`] of a `GET` whose path the caller knows has no percent-escape.
fn hot_route_of_plain_get(path: &str) -> Option<HotRoute<'_>> {
    let (registry, rest) = path.strip_prefix("/registries/")?.split_once('/')?;
    if registry.is_empty() {
        return None;
    }
    if let Some(path) = rest.strip_prefix("index/") {
        return match path {
            "" => None,
            "config.json" => Some(HotRoute::ConfigJson { registry }),
            path => Some(HotRoute::IndexFile { registry, path }),
        };
    }
    let (name, file) = rest.strip_prefix("crates/")?.split_once('/')?;
    if name.is_empty() || file.is_empty() || file.contains('/') {
        return None;
    }
    Some(HotRoute::Download {
        registry,
        name,
        file,
    })
}

/// Answers a hot route from memory alone, when it can be (an index file, or a
/// `.crate`, of a public registry whose caches hold it); `None` when
/// [`serve_hot`] has to.
pub fn answer_hot_from_memory(
    app: &App,
    route: HotRoute<'_>,
    presented: &HotHeaders<'_>,
) -> Option<MemoryAnswer> {
    match route {
        HotRoute::IndexFile { registry, path } => {
            index::sparse::answer_index_file_from_memory(app, registry, path, presented)
        }
        HotRoute::Download {
            registry,
            name,
            file,
        } => api::download::answer_download_from_memory(
            app,
            registry,
            name,
            file,
            presented.authorization,
        ),
        HotRoute::ConfigJson { registry } => {
            index::sparse::answer_config_json_from_memory(app, registry, presented)
        }
    }
}

/// What the HTTP/1.1 fast lane (`fast_lane.rs`) answers without hyper: a `GET`
/// of `path` (no query) when memory alone holds the answer.
impl AnswerFromMemory for App {
    fn answer_get(&self, path: &str, presented: &HotHeaders<'_>) -> Option<MemoryAnswer> {
        answer_hot_from_memory(self, hot_route_of_plain_get(path)?, presented)
    }

    /// Index files and `.crate`s come into memory on their first read (a `.crate`
    /// uncounted: the answer from memory counts it), and a private registry's
    /// reader on its first check.
    async fn warm_for_get(&self, path: &str, authorization: Option<&[u8]>) -> bool {
        let route = hot_route_of_plain_get(path);
        if let Some(HotRoute::IndexFile { registry, path }) = route {
            return index::sparse::warm_index_file(self, registry, path, authorization).await;
        }
        let Some(registry) = route.and_then(|route| self.find_registry(route.registry())) else {
            return false;
        };
        if !access::warm_reader(self, registry, authorization).await {
            return false;
        }
        match route {
            Some(HotRoute::Download { name, file, .. }) => {
                ops::download::warm(self, registry, name, file).await
            }
            _ => true,
        }
    }

    fn handed_over(&self) {
        self.stats.fast_lane_hand_overs.bump();
    }
}

/// Answers a hot route with the handler the router would have called.
pub async fn serve_hot(
    app: &AppState,
    route: HotRoute<'_>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response {
    match route {
        HotRoute::ConfigJson { registry } => {
            index::sparse::answer_config_json(app, registry, headers, peer).await
        }
        HotRoute::IndexFile { registry, path } => {
            index::sparse::answer_index_file(app, registry, path, headers, peer).await
        }
        HotRoute::Download {
            registry,
            name,
            file,
        } => api::download::answer_download(app, registry, name, file, headers, peer).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_files_config_and_downloads_are_hot() {
        let get = &Method::GET;
        assert_eq!(
            hot_route(get, "/registries/main/index/config.json"),
            Some(HotRoute::ConfigJson { registry: "main" })
        );
        assert_eq!(
            hot_route(get, "/registries/main/index/se/rd/serde"),
            Some(HotRoute::IndexFile {
                registry: "main",
                path: "se/rd/serde"
            })
        );
        assert_eq!(
            hot_route(get, "/registries/main/crates/serde/serde-1.0.0.crate"),
            Some(HotRoute::Download {
                registry: "main",
                name: "serde",
                file: "serde-1.0.0.crate"
            })
        );
    }

    #[test]
    fn everything_else_goes_to_the_router() {
        let get = &Method::GET;
        for path in [
            "/",
            "/registries/main",
            "/registries//index/se/rd/serde",
            "/registries/main/index/",
            "/registries/main/crates/serde",
            "/registries/main/crates//serde-1.0.0.crate",
            "/registries/main/crates/serde/",
            "/registries/main/crates/serde/1.0.0/download",
            "/registries/main/crates/se%72de/serde-1.0.0.crate",
            "/registries/main/api/v1/crates",
            "/registries/main/git/info/refs",
        ] {
            assert_eq!(hot_route(get, path), None, "{path}");
        }
        assert_eq!(
            hot_route(&Method::HEAD, "/registries/main/index/se/rd/serde"),
            None
        );
        assert_eq!(
            hot_route(
                &Method::PUT,
                "/registries/main/crates/serde/serde-1.0.0.crate"
            ),
            None
        );
    }
}
