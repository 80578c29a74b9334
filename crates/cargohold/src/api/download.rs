//! `GET /registries/{registry}/crates/{crate}/{crate}-{version}.crate`: the `dl` URL of `config.json`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::app::AppState;
use crate::error::AppResult;
use crate::ops;
use crate::ops::download::DownloadBody;
use crate::{access, auth};

/// A `.crate` never changes once published, so caches may keep it for good.
const CRATE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Streams a `.crate`; cargo checks its SHA-256 against the index.
pub async fn download_crate(
    State(app): State<AppState>,
    Path((registry, name, file)): Path<(String, String, String)>,
    request: Request,
) -> AppResult<Response> {
    let registry = app.registry(&registry)?;
    if registry.auth_required {
        let headers = request.headers();
        let client = auth::client_addr(&app, headers, request.extensions());
        access::require_read(&app, registry, headers, client).await?;
    }
    let download = ops::download::open(&app, registry, &name, &file).await?;
    let mut response = Response::new(match download.body {
        DownloadBody::Whole(bytes) => Body::from(bytes),
        DownloadBody::Stream(stream) => Body::from_stream(stream),
    });
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.size));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CRATE_CACHE_CONTROL),
    );
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", download.checksum)) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}
