//! `GET /registries/{registry}/index/config.json` and `GET /registries/{registry}/index/{path}`.

use std::fmt;
use std::net::IpAddr;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cargohold_protocol::name::{MAX_NAME_LENGTH, name_from_index_path};

use std::sync::Arc;

use crate::app::{App, AppState, Registry};
use crate::clock;
use crate::db;
use crate::error::{AppResult, Refusal};
use crate::index::cache::{Cached, CachedFile};
use crate::memory_answer::{HotHeaders, MemoryAnswer};
use crate::virtual_registry::{Reader, Resolved};
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
/// A private registry's is served to every valid token (`access::config_readable`).
pub async fn answer_config_json(
    app: &App,
    registry: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response {
    let path = IndexPath {
        registry,
        path: "config.json",
    };
    match access::config_readable(app, registry, &path, headers, peer).await {
        Ok(registry) => config_json_answer(registry).into_response(),
        Err(err) => err.into_response(),
    }
}

/// [`answer_config_json`] from memory, when it can tell the token is valid
/// (`access::config_readable_from_memory`).
pub fn answer_config_json_from_memory(
    app: &App,
    registry: &str,
    presented: &HotHeaders<'_>,
) -> Option<MemoryAnswer> {
    access::config_readable_from_memory(app, registry, presented.authorization)
        .map(|registry| config_json_answer(registry))
}

/// The path of a file of `registry`'s index, as requested: formatted only for
/// the log line of a refusal, so the hot paths build no string.
struct IndexPath<'a> {
    registry: &'a str,
    path: &'a str,
}

impl fmt::Display for IndexPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/registries/{}/index/{}", self.registry, self.path)
    }
}

fn config_json_answer(registry: &Registry) -> MemoryAnswer {
    MemoryAnswer {
        status: StatusCode::OK,
        content_type: Some("application/json"),
        cache_control: Some(INDEX_CACHE_CONTROL),
        etag: None,
        last_modified: None,
        body: registry.config_json.clone(),
    }
}

/// The lowercase crate name an index path stands for. A name longer than any
/// crate's is none: its path is answered 404 without a query and without taking
/// a place in the cache.
fn crate_name(path: &str) -> Option<&str> {
    name_from_index_path(path).filter(|name| name.len() <= MAX_NAME_LENGTH)
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
    let asked = IndexPath { registry, path };
    let answer = async {
        let (registry, reader) =
            access::readable_registry_at(app, registry, Some(&asked), headers, peer).await?;
        let cached = match crate_name(path) {
            Some(name) => lookup(app, registry, name, Reader::Request(reader.as_ref())).await?,
            None => Cached::MISSING,
        };
        AppResult::Ok(cached)
    };
    match answer.await {
        Ok(Cached::File(file)) => file_answer(app, &HotHeaders::from_headers(headers), &file),
        Ok(Cached::Refused { reason, .. }) => {
            refused(&reason, &asked, auth::client_ip(app, headers, peer))
        }
        Ok(Cached::Missing { .. }) => not_found(app),
        Err(err) => return err.into_response(),
    }
    .into_response()
}

/// [`answer_index_file`] when memory alone can answer: a local registry whose
/// cache knows the path (the file, or that no crate lives there), public or read
/// with a token checked within the last second. `None` when the answer needs more
/// (an access check, a proxy, a query); then the
/// caller awaits [`answer_index_file`]. Answering without a future spares the
/// commonest request of all the allocation of one, and lets the fast lane answer
/// it without hyper (docs/performance.md).
pub fn answer_index_file_from_memory(
    app: &App,
    registry: &str,
    path: &str,
    presented: &HotHeaders<'_>,
) -> Option<MemoryAnswer> {
    let registry = access::readable_from_memory(app, registry, presented.authorization)?;
    if registry.proxy.is_some() || registry.members.is_some() {
        return None;
    }
    let name = crate_name(path)?;
    let cached = registry.index_cache.get(name)?;
    app.stats.index_cache_hits.bump();
    Some(match cached {
        Cached::File(file) => file_answer(app, presented, &file),
        Cached::Missing { .. } => not_found(app),
        // Memory does not know the client's address; the log line goes without it.
        Cached::Refused { reason, .. } => refused(
            &reason,
            &IndexPath {
                registry: &registry.name,
                path,
            },
            None,
        ),
    })
}

/// Does what lets [`answer_index_file_from_memory`] answer `path` (the fast
/// lane's first read of a file): checks the reader of a private registry, and
/// reads the file into the cache. False when memory would not answer it anyway.
pub async fn warm_index_file(
    app: &App,
    registry: &str,
    path: &str,
    authorization: Option<&[u8]>,
) -> bool {
    let Some(registry) = app.find_registry(registry) else {
        return false;
    };
    if registry.proxy.is_some() || registry.members.is_some() {
        return false;
    }
    let Some(name) = crate_name(path) else {
        return false;
    };
    access::warm_reader(app, registry, authorization).await
        && lookup_local(app, registry, name).await.is_ok()
}

/// A found index file's answer: 304 when the client's copy is current, else the file.
fn file_answer(app: &App, presented: &HotHeaders<'_>, file: &CachedFile) -> MemoryAnswer {
    let fresh = is_not_modified(presented, &file.etag, file.last_modified_secs);
    let (status, content_type, body) = if fresh {
        app.stats.index_not_modified.bump();
        (StatusCode::NOT_MODIFIED, None, Bytes::new())
    } else {
        app.stats.index_served.bump();
        (
            StatusCode::OK,
            Some("text/plain; charset=utf-8"),
            file.body.clone(),
        )
    };
    MemoryAnswer {
        status,
        content_type,
        cache_control: Some(INDEX_CACHE_CONTROL),
        etag: Some(file.etag.clone()),
        last_modified: Some(file.last_modified.clone()),
        body,
    }
}

/// Cargo reads a 404 as "no such crate"; the body is only for humans.
fn not_found(app: &App) -> MemoryAnswer {
    app.stats.index_not_found.bump();
    MemoryAnswer {
        status: StatusCode::NOT_FOUND,
        content_type: Some("text/plain; charset=utf-8"),
        cache_control: None,
        etag: None,
        last_modified: None,
        body: Bytes::from_static(b"no crate lives at this index path\n"),
    }
}

/// A proxy's policy keeps the crate out. Cargo takes a 404 for "no such crate" and
/// says only that; a 403 stops it with this body shown, so the user learns why.
/// Logged like every refusal (they are rare: no cost to the answers that are not).
fn refused(reason: &str, asked: &IndexPath<'_>, client: Option<IpAddr>) -> MemoryAnswer {
    Refusal {
        status: StatusCode::FORBIDDEN.as_u16(),
        reason: reason.to_owned(),
        path: Some(asked.to_string()),
        ..Refusal::default()
            .registry(Some(asked.registry))
            .client(client)
    }
    .log();
    MemoryAnswer {
        status: StatusCode::FORBIDDEN,
        content_type: Some("text/plain; charset=utf-8"),
        cache_control: None,
        etag: None,
        last_modified: None,
        body: Bytes::from(format!("{reason}\n")),
    }
}

/// The index file `registry` serves to `reader` for `name` (lowercase), whatever its kind.
pub async fn lookup(
    app: &App,
    registry: &Registry,
    name: &str,
    reader: Reader<'_>,
) -> AppResult<Cached> {
    // The branches a local cache hit does not take are boxed, so the futures of the
    // hot routes stay small (docs/performance.md).
    if let Some(proxy) = &registry.proxy {
        return Box::pin(proxy::index_file(app, registry, proxy, name)).await;
    }
    if let Some(members) = &registry.members {
        return Ok(
            match Box::pin(virtual_registry::resolve(app, members, name, reader)).await? {
                Resolved::Found(_, file) => Cached::File(file),
                Resolved::Refused(reason) => Cached::Refused {
                    until: i64::MAX,
                    reason,
                },
                Resolved::Missing => Cached::MISSING,
            },
        );
    }
    lookup_local(app, registry, name).await
}

/// The index file of `name` in a local registry: from the cache, or from the database (then cached).
pub async fn lookup_local(app: &App, registry: &Registry, name: &str) -> AppResult<Cached> {
    if let Some(cached) = registry.index_cache.get(name) {
        app.stats.index_cache_hits.bump();
        return Ok(cached);
    }
    app.stats.index_cache_misses.bump();
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
fn is_not_modified(presented: &HotHeaders<'_>, etag: &HeaderValue, last_modified: i64) -> bool {
    if let Some(if_none_match) = presented.if_none_match {
        // What cargo sends: the one tag it was given, as it was given.
        if if_none_match == etag.as_bytes() {
            return true;
        }
        // Compared as bytes: a tag is ASCII, and nothing here needs the checks of `to_str`.
        let ours = strip_weak(etag.as_bytes());
        return if_none_match
            .split(|&byte| byte == b',')
            .map(<[u8]>::trim_ascii)
            .any(|tag| tag == b"*" || strip_weak(tag) == ours);
    }
    presented
        .if_modified_since
        .and_then(|value| std::str::from_utf8(value).ok())
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
    use axum::http::header;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    fn not_modified_by(headers: &HeaderMap, etag: &HeaderValue, last_modified: i64) -> bool {
        is_not_modified(&HotHeaders::from_headers(headers), etag, last_modified)
    }

    #[test]
    fn matching_etags_strong_or_weak_are_not_modified() {
        let etag = &HeaderValue::from_static("\"abc\"");
        assert!(not_modified_by(
            &headers(&[(header::IF_NONE_MATCH, "\"abc\"")]),
            etag,
            0
        ));
        assert!(not_modified_by(
            &headers(&[(header::IF_NONE_MATCH, "W/\"abc\"")]),
            etag,
            0
        ));
        assert!(not_modified_by(
            &headers(&[(header::IF_NONE_MATCH, "\"x\", \"abc\"")]),
            etag,
            0
        ));
        assert!(not_modified_by(
            &headers(&[(header::IF_NONE_MATCH, "*")]),
            etag,
            0
        ));
        assert!(!not_modified_by(
            &headers(&[(header::IF_NONE_MATCH, "\"abd\"")]),
            etag,
            0
        ));
        assert!(!not_modified_by(&HeaderMap::new(), etag, 0));
    }

    #[test]
    fn if_modified_since_applies_only_without_if_none_match() {
        let t = 1_700_000_000;
        let date = clock::http_date(t);
        assert!(not_modified_by(
            &headers(&[(header::IF_MODIFIED_SINCE, &date)]),
            &HeaderValue::from_static("\"e\""),
            t
        ));
        assert!(!not_modified_by(
            &headers(&[(header::IF_MODIFIED_SINCE, &date)]),
            &HeaderValue::from_static("\"e\""),
            t + 1
        ));
        let both = headers(&[
            (header::IF_NONE_MATCH, "\"other\""),
            (header::IF_MODIFIED_SINCE, &date),
        ]);
        assert!(!not_modified_by(
            &both,
            &HeaderValue::from_static("\"e\""),
            t
        ));
        assert!(!not_modified_by(
            &headers(&[(header::IF_MODIFIED_SINCE, "yesterday")]),
            &HeaderValue::from_static("\"e\""),
            t
        ));
    }
}
