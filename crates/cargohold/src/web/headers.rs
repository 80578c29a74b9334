//! Security headers: what browsers may do with pages and with everything else
//! the server answers outside the hot index and download paths.
//!
//! Pages load one stylesheet from this server and nothing else: no script, no
//! inline style, no frame. README images may come from anywhere over http(s),
//! as on crates.io; links in READMEs carry `rel="noreferrer"` already, and the
//! referrer policy keeps page URLs (crate names of private registries) from
//! leaking to the hosts of those images.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

use super::ViewerSlot;

/// The policy of every page: this site's stylesheet and copy script, README images over
/// http(s), forms posted back here, never framed.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' https: http:; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The policy of everything that is not a page (JSON, git, metrics): nothing
/// may load or run, even if a browser were made to render it.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

const PAGE_HEADERS: [(HeaderName, &str); 4] = [
    (CONTENT_SECURITY_POLICY, PAGE_CSP),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (REFERRER_POLICY, "same-origin"),
    (X_FRAME_OPTIONS, "DENY"),
];

const API_HEADERS: [(HeaderName, &str); 4] = [
    (CONTENT_SECURITY_POLICY, API_CSP),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (REFERRER_POLICY, "no-referrer"),
    (X_FRAME_OPTIONS, "DENY"),
];

/// Adds the page headers to a response of the web UI (`map_response` middleware).
/// It also hands each request a [`ViewerSlot`], so an error page can show the
/// header of the viewer the handler read.
pub async fn page(viewer: ViewerSlot, response: Response) -> Response {
    with(viewer.dress(response), &PAGE_HEADERS)
}

/// Adds the headers for JSON and other non-page answers (`map_response` middleware).
pub async fn api(response: Response) -> Response {
    with(response, &API_HEADERS)
}

fn with(mut response: Response, set: &[(HeaderName, &'static str)]) -> Response {
    let headers = response.headers_mut();
    for (name, value) in set {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    response
}
