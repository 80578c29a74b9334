//! `GET /registries/{registry}/index/config.json` and `GET /registries/{registry}/index/{path}`.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cargohold_protocol::name::{MAX_NAME_LENGTH, name_from_index_path};

use std::sync::Arc;

use crate::app::{App, AppState, Registry};
use crate::clock;
use crate::db;
use crate::error::AppResult;
use crate::index::cache::{Cached, CachedFile};
use crate::{access, auth, proxy, virtual_registry};

/// Index files may be cached, but every use must be revalidated: a publish or
/// yank has to be visible at once (cargo polls for a new version), and a
/// revalidation costs a 304.
const INDEX_CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";

/// `config.json`: where downloads and the API are. Cargo never revalidates it.
pub async fn config_json(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    request: Request,
) -> Response {
    let peer = auth::peer_ip(request.extensions());
    answer_config_json(&app, &registry, request.headers(), peer).await
}

/// One crate's index file, with ETag / Last-Modified revalidation.
pub async fn index_file(State(app): State<AppState>, request: Request) -> Response {
    // The router only sends `/registries/{registry}/index/{path}` here.
    let (registry, path) = request
        .uri()
        .path()
        .strip_prefix("/registries/")
        .and_then(|rest| rest.split_once("/index/"))
        .unwrap_or_default();
    let peer = auth::peer_ip(request.extensions());
    answer_index_file(&app, registry, path, request.headers(), peer).await
}

/// [`config_json`] for a request whose parts are at hand (`routes::serve_hot`).
pub async fn answer_config_json(
    app: &App,
    registry: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response {
    let answer = async {
        let registry = access::readable_registry(app, registry, headers, peer).await?;
        let response = (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, INDEX_CACHE_CONTROL),
            ],
            registry.config_json.clone(),
        )
            .into_response();
        AppResult::Ok(response)
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// [`index_file`] for a request whose parts are at hand (`routes::serve_hot`).
///
/// The hottest code of all: it reads the path and headers as they are (no
/// copies) and answers from memory when it can.
pub async fn answer_index_file(
    app: &App,
    registry: &str,
    path: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response {
    let answer = async {
        let registry = access::readable_registry(app, registry, headers, peer).await?;
        // No crate has a longer name: such a path is answered without a query
        // and without taking a place in the cache.
        let cached = match name_from_index_path(path) {
            Some(name) if name.len() <= MAX_NAME_LENGTH => lookup(app, registry, name).await?,
            _ => Cached::MISSING,
        };
        AppResult::Ok(cached)
    };
    let file = match answer.await {
        Ok(Cached::File(file)) => file,
        Ok(_) => {
            app.stats.index_not_found.fetch_add(1, Ordering::Relaxed);
            // Cargo reads a 404 as "no such crate"; the body is only for humans.
            return (StatusCode::NOT_FOUND, "no crate lives at this index path\n").into_response();
        }
        Err(err) => return err.into_response(),
    };
    file_response(app, headers, &file)
}

/// [`answer_index_file`] when memory alone can answer: a public local registry
/// whose cache holds the file. `None` when the answer needs more (an access
/// check, a proxy, a query), or is a 404; then the caller awaits
/// [`answer_index_file`]. Answering without a future spares the commonest
/// request of all the allocation of one (docs/performance.md).
pub fn answer_index_file_from_memory(
    app: &App,
    registry: &str,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let registry = access::public_registry(app, registry)?;
    if registry.proxy.is_some() || registry.members.is_some() {
        return None;
    }
    let name = name_from_index_path(path).filter(|name| name.len() <= MAX_NAME_LENGTH)?;
    let Cached::File(file) = registry.index_cache.get(name)? else {
        return None;
    };
    app.stats.index_cache_hits.fetch_add(1, Ordering::Relaxed);
    Some(file_response(app, headers, &file))
}

/// A found index file's answer: 304 when the client's copy is current, else the file.
fn file_response(app: &App, headers: &HeaderMap, file: &CachedFile) -> Response {
    let mut response = if is_not_modified(headers, &file.etag, file.last_modified_secs) {
        app.stats.index_not_modified.fetch_add(1, Ordering::Relaxed);
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        app.stats.index_served.fetch_add(1, Ordering::Relaxed);
        let mut response = Response::new(Body::from(file.body.clone()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(INDEX_CACHE_CONTROL),
    );
    headers.insert(header::ETAG, file.etag.clone());
    headers.insert(header::LAST_MODIFIED, file.last_modified.clone());
    response
}

/// The index file `registry` serves for `name` (lowercase), whatever its kind.
pub async fn lookup(app: &App, registry: &Registry, name: &str) -> AppResult<Cached> {
    // The branches a local cache hit does not take are boxed, so the futures of the
    // hot routes stay small (docs/performance.md).
    if let Some(proxy) = &registry.proxy {
        return Box::pin(proxy::index_file(app, registry, proxy, name)).await;
    }
    if let Some(members) = &registry.members {
        let resolved = Box::pin(virtual_registry::resolve(app, members, name)).await?;
        return Ok(resolved.map_or(Cached::MISSING, |(_, file)| Cached::File(file)));
    }
    lookup_local(app, registry, name).await
}

/// The index file of `name` in a local registry: from the cache, or from the database (then cached).
pub async fn lookup_local(app: &App, registry: &Registry, name: &str) -> AppResult<Cached> {
    if let Some(cached) = registry.index_cache.get(name) {
        app.stats.index_cache_hits.fetch_add(1, Ordering::Relaxed);
        return Ok(cached);
    }
    app.stats.index_cache_misses.fetch_add(1, Ordering::Relaxed);
    let epoch = registry.index_cache.epoch();
    let cached = match Box::pin(db::index_files::find(app.db.read(), registry.id, name)).await? {
        Some(row) => Cached::File(Arc::new(CachedFile::from_row(row))),
        None => Cached::MISSING,
    };
    registry.index_cache.insert(name, cached.clone(), epoch);
    Ok(cached)
}

/// Whether the client's cached copy is current (RFC 9110 §13.1).
///
/// `If-None-Match` wins when present; tags compare weakly, since a proxy that
/// compresses (nginx's gzip) turns `"x"` into `W/"x"` on the way to cargo.
fn is_not_modified(headers: &HeaderMap, etag: &HeaderValue, last_modified: i64) -> bool {
    if let Some(if_none_match) = headers.get(header::IF_NONE_MATCH) {
        // Compared as bytes: a tag is ASCII, and nothing here needs the checks of `to_str`.
        let ours = strip_weak(etag.as_bytes());
        return if_none_match
            .as_bytes()
            .split(|&byte| byte == b',')
            .map(<[u8]>::trim_ascii)
            .any(|tag| tag == b"*" || strip_weak(tag) == ours);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(clock::parse_http_date)
        .is_some_and(|since| last_modified <= since)
}

/// An entity tag without its weakness mark (`W/"x"` → `"x"`).
fn strip_weak(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn matching_etags_strong_or_weak_are_not_modified() {
        let etag = &HeaderValue::from_static("\"abc\"");
        assert!(is_not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"abc\"")]),
            etag,
            0
        ));
        assert!(is_not_modified(
            &headers(&[(header::IF_NONE_MATCH, "W/\"abc\"")]),
            etag,
            0
        ));
        assert!(is_not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"x\", \"abc\"")]),
            etag,
            0
        ));
        assert!(is_not_modified(
            &headers(&[(header::IF_NONE_MATCH, "*")]),
            etag,
            0
        ));
        assert!(!is_not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"abd\"")]),
            etag,
            0
        ));
        assert!(!is_not_modified(&HeaderMap::new(), etag, 0));
    }

    #[test]
    fn if_modified_since_applies_only_without_if_none_match() {
        let t = 1_700_000_000;
        let date = clock::http_date(t);
        assert!(is_not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, &date)]),
            &HeaderValue::from_static("\"e\""),
            t
        ));
        assert!(!is_not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, &date)]),
            &HeaderValue::from_static("\"e\""),
            t + 1
        ));
        let both = headers(&[
            (header::IF_NONE_MATCH, "\"other\""),
            (header::IF_MODIFIED_SINCE, &date),
        ]);
        assert!(!is_not_modified(
            &both,
            &HeaderValue::from_static("\"e\""),
            t
        ));
        assert!(!is_not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, "yesterday")]),
            &HeaderValue::from_static("\"e\""),
            t
        ));
    }
}
