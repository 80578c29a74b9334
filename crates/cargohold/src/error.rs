//! `AppError`: every way a request can fail, named by what the client is told, rendered as cargo's error envelope.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cargohold_protocol::api::ErrorBody;

use crate::storage::StoreFailure;

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
    /// The disk or bucket under the blob store, or the database, is out of space;
    /// nothing was changed. The cause is logged, the message shown.
    #[error("{message}")]
    OutOfSpace {
        message: String,
        cause: anyhow::Error,
    },
    /// Anything not anticipated: logged with its cause chain, never shown.
    #[error(transparent)]
    Internal(anyhow::Error),
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
            Self::OutOfSpace { .. } => StatusCode::INSUFFICIENT_STORAGE,
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
        anyhow::Error::new(err)
            .context("database query failed")
            .into()
    }
}

impl From<object_store::Error> for AppError {
    fn from(err: object_store::Error) -> Self {
        let cause = anyhow::Error::new(err).context("blob store operation failed");
        match Fault::of(&cause) {
            Some(
                fault @ (Fault::BlobStoreFull
                | Fault::BlobStoreNoBucket
                | Fault::BlobStoreDenied
                | Fault::BlobStoreDown),
            ) => fault.into_error(cause),
            _ => Self::Unavailable {
                message: "the blob store did not answer; nothing was changed, try again later"
                    .to_owned(),
                cause,
            },
        }
    }
}

/// An unexpected error, unless its cause is a fault of what cargohold stands on
/// (the database gone, read-only or full; the disk full), which the client is
/// told about by name.
impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        match Fault::of(&err) {
            Some(fault) => fault.into_error(err),
            None => Self::Internal(err),
        }
    }
}

/// A fault outside cargohold that a request can run into. Each leaves nothing
/// changed (the transaction is rolled back, or the blob was never referenced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No connection to the database, or it is shutting down.
    DatabaseDown,
    /// The database refuses writes (a read-only replica or mode).
    DatabaseReadOnly,
    /// Another writer holds the database (SQLite) for longer than the busy timeout.
    DatabaseBusy,
    /// The database's disk is full.
    DatabaseFull,
    /// The blob store's disk is full.
    BlobStoreFull,
    /// The bucket `storage-url` names does not exist.
    BlobStoreNoBucket,
    /// The blob store refuses cargohold's credentials.
    BlobStoreDenied,
    /// The blob store cannot be reached.
    BlobStoreDown,
}

impl Fault {
    /// The first fault found along `err`'s chain of causes.
    pub fn of(err: &anyhow::Error) -> Option<Self> {
        err.chain().find_map(|cause| {
            if let Some(db) = cause.downcast_ref::<sqlx::Error>() {
                return Self::of_database(db);
            }
            if let Some(store) = cause.downcast_ref::<object_store::Error>()
                && let Some(failure) = StoreFailure::of(store)
            {
                return Some(match failure {
                    StoreFailure::NoBucket => Self::BlobStoreNoBucket,
                    StoreFailure::AccessDenied => Self::BlobStoreDenied,
                    StoreFailure::Unreachable => Self::BlobStoreDown,
                });
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                return Self::of_io(io);
            }
            None
        })
    }

    fn of_database(err: &sqlx::Error) -> Option<Self> {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Some(Self::DatabaseDown),
            sqlx::Error::Database(db) => {
                let code = db.code()?;
                // SQLite reports its (extended) result code as a number; the primary
                // code is its low byte. PostgreSQL reports a five-character SQLSTATE.
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    let number = code.parse::<u32>().ok()?;
                    return match number & 0xff {
                        5 | 6 => Some(Self::DatabaseBusy),
                        8 => Some(Self::DatabaseReadOnly),
                        10 | 14 => Some(Self::DatabaseDown),
                        13 => Some(Self::DatabaseFull),
                        _ => None,
                    };
                }
                match code.as_ref() {
                    "25006" => Some(Self::DatabaseReadOnly),
                    "53100" => Some(Self::DatabaseFull),
                    "53300" | "57P01" | "57P02" | "57P03" => Some(Self::DatabaseDown),
                    class if class.starts_with("08") => Some(Self::DatabaseDown),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn of_io(err: &std::io::Error) -> Option<Self> {
        match err.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Some(Self::BlobStoreFull)
            }
            _ => None,
        }
    }

    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Self::DatabaseDown => {
                "the database did not answer; nothing was changed, try again later"
            }
            Self::DatabaseReadOnly => {
                "the database is read-only at the moment; nothing was changed, try again later"
            }
            Self::DatabaseBusy => "the database is busy; nothing was changed, try again",
            Self::DatabaseFull => {
                "the database is out of disk space; nothing was changed (the operator must free space)"
            }
            Self::BlobStoreFull => {
                "the blob store is out of disk space; nothing was changed (the operator must free space)"
            }
            Self::BlobStoreNoBucket => {
                "the blob store's bucket does not exist; nothing was changed (the operator must create it \
                 or fix storage-url)"
            }
            Self::BlobStoreDenied => {
                "the blob store refused access; nothing was changed (the operator must check the [s3] \
                 credentials and the bucket's permissions)"
            }
            Self::BlobStoreDown => {
                "the blob store could not be reached; nothing was changed, try again later"
            }
        }
    }

    fn into_error(self, cause: anyhow::Error) -> AppError {
        let message = self.message().to_owned();
        match self {
            Self::DatabaseFull | Self::BlobStoreFull => AppError::OutOfSpace { message, cause },
            _ => AppError::Unavailable { message, cause },
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
            Self::Unavailable { message, cause } | Self::OutOfSpace { message, cause } => {
                // A fault the operator fixes is one line with its cause; anything else
                // keeps the full report.
                if Fault::of(cause).is_some() {
                    let cause = one_line(cause.as_ref());
                    tracing::error!(error = %cause, "request failed: {message}");
                } else {
                    tracing::error!(error = ?cause, "request failed: {message}");
                }
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

/// A refused request (401, 403, 429) as the log records it: why, and whose it
/// was. Written once, where the refusal is decided and who asked is known (the
/// token check, the read gate of a private registry, the role and ownership
/// checks), also on the hot paths, which log nothing per request otherwise.
/// Never holds the token itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// Why, in the log's words: for a token, what was wrong with it (unknown,
    /// revoked, expired, disabled account), which the client is not always told.
    pub reason: String,
    /// The login of the token's or session's user, when known.
    pub user: Option<String>,
    pub token_id: Option<i64>,
    pub registry: Option<String>,
    /// The client's address (`cli` for the command line).
    pub client: Option<String>,
    /// The path asked for, when known.
    pub path: Option<String>,
    /// This refusal tripped a rate limit (the first 429 of its window): a warning.
    pub tripped: bool,
}

impl Refusal {
    /// A refusal answered with `err`, whose message is the reason.
    pub fn of(err: &AppError) -> Self {
        Self {
            status: err.status().as_u16(),
            reason: err.to_string(),
            ..Self::default()
        }
    }

    pub fn registry(self, registry: Option<&str>) -> Self {
        Self {
            registry: registry.filter(|r| !r.is_empty()).map(str::to_owned),
            ..self
        }
    }

    pub fn client(self, client: Option<std::net::IpAddr>) -> Self {
        Self {
            client: client.map(|ip| ip.to_string()),
            ..self
        }
    }

    pub fn path(self, path: Option<&str>) -> Self {
        Self {
            path: path.map(str::to_owned),
            ..self
        }
    }

    /// Writes the one line of this refusal: INFO, or WARN when it trips a rate limit.
    pub fn log(&self) {
        let Self {
            status,
            reason,
            user,
            token_id,
            registry,
            client,
            path,
            tripped,
        } = self;
        let user = user.as_deref();
        let registry = registry.as_deref();
        let client = client.as_deref();
        let path = path.as_deref();
        if *tripped {
            tracing::warn!(
                status,
                reason,
                user.login = user,
                token.id = token_id,
                registry,
                client,
                path,
                "refused, and the rate limit tripped: this address is answered 429 for the rest of the minute"
            );
        } else if reason == "no token" && path.is_some_and(|p| p.ends_with("/index/config.json")) {
            // Cargo's first request to a private registry, answered with the challenge
            // it retries after: its auth handshake, once per command, not news.
            tracing::debug!(registry, client, path, "asked for a token");
        } else {
            tracing::info!(
                status,
                reason,
                user.login = user,
                token.id = token_id,
                registry,
                client,
                path,
                "refused"
            );
        }
    }
}

/// `err` and its causes on one line, for a log line or a message: S3's answers
/// are XML documents with line breaks.
pub fn one_line(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(current) = cause {
        let more = current.to_string();
        // object_store's and sqlx's errors repeat their source's message in their own.
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = current.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_the_causes_without_line_breaks() {
        let err = anyhow::anyhow!("404: <?xml?>\n<Error>\n  <Code>NoSuchBucket</Code>\n</Error>")
            .context("blob store operation failed");
        assert_eq!(
            one_line(err.as_ref()),
            "blob store operation failed: 404: <?xml?> <Error> <Code>NoSuchBucket</Code> </Error>"
        );
    }
}
