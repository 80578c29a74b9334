//! `/health` and `/ready`: for load balancers and orchestrators.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// `GET /health`: the process is up and answering.
pub async fn health() -> &'static str {
    "ok\n"
}

/// `GET /ready`: the database and the blob store both answer, so this node can
/// take traffic. 503 names what does not answer, or says the node is shutting down.
pub async fn ready(State(app): State<AppState>) -> Response {
    if app.shutting_down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let mut faults = Vec::new();
    if let Err(err) = app.db.ping().await {
        faults.push(format!("database: {err}"));
    }
    if let Err(err) = app.storage.probe().await {
        faults.push(format!("{err:#}"));
    }
    if faults.is_empty() {
        "ready\n".into_response()
    } else {
        tracing::warn!(faults = ?faults, "not ready");
        let body = format!("not ready:\n{}\n", faults.join("\n"));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}
