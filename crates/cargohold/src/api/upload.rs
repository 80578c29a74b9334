//! `PUT /registries/{registry}/crates/{crate}/{crate}-{version}.crate`: a `.crate` uploaded as it is.
//!
//! Everything the index needs comes from the manifest inside, through the same
//! pipeline as `cargo publish` (`curl -T foo-1.0.0.crate -H "Authorization: …" URL`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cargohold_protocol::api::UploadResponse;
use cargohold_protocol::name::version_from_file_name;

use crate::api::{read_body, write_target};
use crate::app::AppState;
use crate::auth::ApiToken;
use crate::error::{AppError, AppResult};
use crate::ops::publish::{self, Source, Upload};

/// Stores an uploaded `.crate`; 201 when new, 200 when these bytes were already there.
pub async fn upload_crate(
    State(app): State<AppState>,
    Path((registry, name, file)): Path<(String, String, String)>,
    ApiToken(actor): ApiToken,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<(StatusCode, Json<UploadResponse>)> {
    let (registry, actor) = write_target(&app, &registry, actor)?;
    let version = version_from_file_name(&name, &file).ok_or_else(|| {
        AppError::BadRequest(format!(
            "upload `{name}` as `{name}-VERSION.crate`, not `{file}`"
        ))
    })?;
    let limit = app.config.limits.max_crate_size;
    let tarball = read_body(body, limit)?;
    if tarball.len() as u64 > limit {
        return Err(AppError::PayloadTooLarge(format!(
            "the .crate file is {} bytes, over the {limit}-byte limit",
            tarball.len()
        )));
    }
    let upload = Upload {
        source: Source::Upload {
            name: name.clone(),
            version: version.to_owned(),
        },
        tarball,
    };
    let published = publish::publish(&app, registry, &actor, upload).await?;
    let status = if published.already_present {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(UploadResponse {
            ok: true,
            name: published.entry.name.clone(),
            vers: published.entry.vers.clone(),
            cksum: published.entry.cksum.clone(),
            new_crate: published.new_crate,
            already_present: published.already_present,
            index_line: published.entry,
            warnings: published.warnings,
        }),
    ))
}
