//! `PUT /registries/{registry}/api/v1/crates/new`: the endpoint `cargo publish` talks to.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use cargohold_protocol::api::{PublishResponse, PublishWarnings};
use cargohold_protocol::publish::{PublishLimits, parse_publish_body};

use crate::api::{read_body, write_target};
use crate::app::AppState;
use crate::auth::ApiToken;
use crate::error::{AppError, AppResult};
use crate::ops::publish::{self, Source, Upload};

/// Accepts a publish from cargo and answers with cargo's `warnings` object.
pub async fn publish(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    ApiToken(actor): ApiToken,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<Json<PublishResponse>> {
    let (registry, actor) = write_target(&app, &registry, actor)?;
    let limits = PublishLimits {
        max_metadata_size: app.config.limits.max_metadata_size,
        max_crate_size: app.config.limits.max_crate_size,
    };
    let body = read_body(body, limits.max_crate_size)?;
    let (metadata, tarball) = parse_publish_body(&body, &limits).map_err(|e| {
        if e.is_too_large() {
            AppError::PayloadTooLarge(e.to_string())
        } else {
            AppError::BadRequest(e.to_string())
        }
    })?;
    let upload = Upload {
        source: Source::Cargo(Box::new(metadata)),
        tarball: body.slice_ref(tarball),
    };
    let published = publish::publish(&app, registry, &actor, upload).await?;
    Ok(Json(PublishResponse {
        warnings: PublishWarnings {
            other: published.warnings,
            ..PublishWarnings::default()
        },
    }))
}
