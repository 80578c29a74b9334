//! `GET /registries/{registry}/crates/{crate}/{crate}-{version}.crate`: the `dl` URL of `config.json`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::{App, AppState};
use crate::error::AppError;
use crate::memory_answer::MemoryAnswer;
use crate::ops;
use crate::ops::download::{Download, DownloadBody};
use crate::{access, auth};

const CRATE_CONTENT_TYPE: &str = "application/gzip";

/// A `.crate` never changes once published, so caches may keep it for good.
const CRATE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Streams a `.crate`; cargo checks its SHA-256 against the index.
pub async fn download_crate(
    State(app): State<AppState>,
    Path((registry, name, file)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let peer = auth::peer_ip(request.extensions());
    answer_download(&app, &registry, &name, &file, request.headers(), peer).await
}

/// [`download_crate`] for a request whose parts are at hand (`routes::serve_hot`).
pub async fn answer_download(
    app: &AppState,
    registry: &str,
    name: &str,
    file: &str,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Response {
    let answer = async {
        // A refusal's log line names the file asked for.
        let (registry, reader) =
            access::readable_registry_at(app, registry, Some(&file), headers, peer).await?;
        ops::download::open(app, registry, name, file, reader.as_ref()).await
    };
    match answer.await {
        Ok(download) => download_response(download),
        Err(err) => err.into_response(),
    }
}

/// [`answer_download`] when memory alone can answer (`ops::download::open_from_memory`),
/// and can tell who may read (`access::readable_from_memory`); `None` when the
/// caller has to await [`answer_download`].
pub fn answer_download_from_memory(
    app: &App,
    registry: &str,
    name: &str,
    file: &str,
    authorization: Option<&[u8]>,
) -> Option<MemoryAnswer> {
    let registry = access::readable_from_memory(app, registry, authorization)?;
    let download = ops::download::open_from_memory(app, registry, name, file)?;
    let DownloadBody::Whole(body) = download.body else {
        return None;
    };
    Some(MemoryAnswer {
        status: StatusCode::OK,
        content_type: Some(CRATE_CONTENT_TYPE),
        cache_control: Some(CRATE_CACHE_CONTROL),
        etag: download.etag,
        last_modified: None,
        body,
    })
}

fn download_response(download: Download) -> Response {
    let mut response = Response::new(match download.body {
        DownloadBody::Whole(bytes) => Body::from(bytes),
        DownloadBody::Stream(stream) => Body::from_stream(stream),
        DownloadBody::Redirect(url) => return redirect(&url),
    });
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CRATE_CONTENT_TYPE),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.size));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CRATE_CACHE_CONTROL),
    );
    if let Some(etag) = download.etag {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// A redirect to a presigned object-store URL. It expires, so nobody may cache it.
fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => {
            let mut response = StatusCode::FOUND.into_response();
            let headers = response.headers_mut();
            headers.insert(header::LOCATION, location);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => AppError::Internal(anyhow::anyhow!(
            "the object store signed an unusable URL: {url}"
        ))
        .into_response(),
    }
}
