//! cargo's web API (`/registries/{registry}/api/v1/…`) and the download endpoint: thin handlers over `ops`.

use axum::body::Bytes;
use axum::body::{Body, to_bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cargohold_protocol::api::ErrorBody;
use serde::de::DeserializeOwned;

use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};

pub mod account;
pub mod admin;
pub mod download;
pub mod owners;
pub mod paging;
pub mod publish;
pub mod registries;
pub mod search;
pub mod status;
pub mod upload;
pub mod yank;

/// The registry that takes the writes (publish, yank, owners) a request sends to
/// the registry `name`, and `actor` as it acts there: through a virtual registry,
/// its `publish-to` member, with a token limited to the virtual registry good for
/// it and refusals that name the virtual registry (`Actor::through`).
pub fn write_target<'a>(
    app: &'a App,
    name: &str,
    actor: Actor,
) -> AppResult<(&'a std::sync::Arc<Registry>, Actor)> {
    let used = app.registry(name)?;
    let target = app.write_registry(name)?;
    Ok((target, actor.through(used, target)))
}

/// A JSON request body whose rejections use cargo's error envelope.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        // Cargo sends `Content-Type: application/json` with these bodies, but a
        // hand-written curl call may not; read the bytes and parse them either way.
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(
                    "the request body is larger than this endpoint accepts (2 MiB)".into(),
                ),
                _ => AppError::BadRequest(e.body_text()),
            })?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            AppError::BadRequest(format!("the request body is not the JSON expected: {e}"))
        })
    }
}

/// Rewrites any error response under the API that is not already JSON (axum's
/// own rejections, 405s) into cargo's `{"errors":[{"detail":…}]}`, so cargo
/// always prints a readable message.
pub async fn ensure_json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut detail = String::from_utf8_lossy(&text).trim().to_owned();
    if detail.is_empty() {
        detail = status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase();
    }
    let body = serde_json::to_vec(&ErrorBody::single(detail)).unwrap_or_default();
    let mut response = Response::from_parts(parts, Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

/// The request body, or the error to answer with: 413 above `limit` (the router's
/// body limit), 408 when the client stopped sending it, 400 when it could not be read.
pub fn read_body(body: Result<Bytes, BytesRejection>, limit: u64) -> Result<Bytes, AppError> {
    body.map_err(|rejection| {
        let stalled = std::iter::successors(
            Some(&rejection as &(dyn std::error::Error + 'static)),
            |err| err.source(),
        )
        .any(|err| err.is::<tower_http::timeout::TimeoutError>());
        if stalled {
            AppError::RequestTimeout(
                "the request body stopped arriving; nothing was stored, send it again".into(),
            )
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge(format!(
                "the upload is larger than this registry accepts (.crate files up to {limit} bytes)"
            ))
        } else {
            AppError::BadRequest(format!(
                "the upload could not be read: {}",
                rejection.body_text()
            ))
        }
    })
}

/// The answer to a URL under a registry's `api/` that names none of cargo's endpoints.
pub async fn not_a_registry_endpoint(method: Method, uri: Uri) -> impl IntoResponse {
    AppError::NotFound(format!(
        "`{method} {}` is none of cargo's registry endpoints; under /registries/NAME/api/v1/ there are \
         `PUT crates/new`, `GET crates?q=…`, `DELETE crates/NAME/VERSION/yank`, `PUT crates/NAME/VERSION/unyank` \
         and `GET`/`PUT`/`DELETE crates/NAME/owners`",
        uri.path()
    ))
}

/// The answer to a URL under `/api/` that names none of the instance's endpoints.
pub async fn not_an_instance_endpoint(method: Method, uri: Uri) -> impl IntoResponse {
    AppError::NotFound(format!(
        "`{method} {}` is none of this instance's endpoints (`/api/v1/me`, `/api/v1/me/tokens`, \
         `/api/v1/admin/…`); cargo's API is under /registries/NAME/api/v1/",
        uri.path()
    ))
}
