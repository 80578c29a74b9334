//! `AppError`: every way a request can fail, named by what the client is told, rendered as cargo's error envelope.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cargohold_protocol::api::ErrorBody;

/// Every way a request can fail, named by what the client should be told.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// No usable token. The message says how to get one.
    #[error("{0}")]
    Unauthorized(String),
    /// A private registry asked for without a token: cargo retries with one, and
    /// learns from `login_url` where a user gets a token.
    #[error("{message}")]
    AuthRequired { message: String, login_url: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The client stopped sending its request body (`limits.body-read-timeout-secs`).
    #[error("{0}")]
    RequestTimeout(String),
    /// A rate limit was hit; the client may try again after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// An upstream registry failed, or sent something that does not check out,
    /// and there is nothing cached to answer with.
    #[error("{0}")]
    BadGateway(String),
    /// Something cargohold stands on (the blob store) failed; nothing was changed
    /// and the client may try again. The cause is logged, the message shown.
    #[error("{message}")]
    Unavailable {
        message: String,
        cause: anyhow::Error,
    },
    /// Anything not anticipated: logged with its cause chain, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The result of anything a request runs.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::AuthRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Shorthand for a `BadRequest` from anything printable.
    pub fn bad_request(message: impl std::fmt::Display) -> Self {
        Self::BadRequest(message.to_string())
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("database query failed"))
    }
}

impl From<object_store::Error> for AppError {
    fn from(err: object_store::Error) -> Self {
        Self::Unavailable {
            message: "the blob store did not answer; nothing was changed, try again later"
                .to_owned(),
            cause: anyhow::Error::new(err).context("blob store operation failed"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            Self::Internal(err) => {
                // The one place 500s are logged.
                tracing::error!(error = ?err, "request failed");
                "internal server error; the registry's log has the details".to_owned()
            }
            Self::Unavailable { message, cause } => {
                tracing::error!(error = ?cause, "request failed: {message}");
                message.clone()
            }
            other => other.to_string(),
        };
        let mut response = (status, axum::Json(ErrorBody::single(detail))).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::AuthRequired { login_url, .. } => {
                let challenge = format!("Cargo login_url=\"{login_url}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Cargo"));
            }
            Self::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Unavailable { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(5));
            }
            _ => {}
        }
        response
    }
}

/// Maps a unique-constraint violation to a chosen error, leaving other errors as they are.
pub trait ResultExt<T> {
    /// Replaces a unique violation (both SQLite and PostgreSQL) with `make()`.
    fn on_unique_violation(self, make: impl FnOnce() -> AppError) -> AppResult<T>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_unique_violation(self, make: impl FnOnce() -> AppError) -> AppResult<T> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => make(),
            _ => err.into(),
        })
    }
}
