//! Server-rendered pages: browsing and searching crates, crate pages, signing
//! in, tokens on `/me`, "set me up" snippets and administration.
//!
//! Handlers here are as thin as the API's: they read the request, call the use
//! cases in `ops`, and fill a template from `templates/`. Everything a page
//! needs ships inside the binary (one stylesheet, one small script for copy
//! buttons that pages work without, no external font or image), so the pages
//! work air-gapped.
//!
//! Sessions: signing in sets `cargohold_session` (HttpOnly, SameSite=Lax,
//! Secure behind https), a random secret whose hash is stored. Every form
//! carries a CSRF token that must equal the `cargohold_csrf` cookie
//! (SameSite=Strict, HttpOnly): another site can neither read the cookie nor
//! send it along with a forged form. Neither value carries the `cargohold_`
//! prefix of API tokens, so a saved page never looks like a leaked token to a
//! secret scanner.
//!
//! Pages read queries with [`PageQuery`] and forms with [`PageForm`], so a
//! request they cannot read gets this site's error page saying what is wrong,
//! never axum's plain-text rejection. Error pages show the signed-in header
//! when the [`Viewer`] was read before the error ([`ViewerSlot`]).
//!
//! A form that changes something answers 303 See Other to the page it came
//! from (Post/Redirect/Get), so reloading that page sends nothing again; the
//! page's one-time notice travels in the short-lived `cargohold_flash` cookie.
//! A new token is the exception: it is answered directly (see
//! [`account::create_token`]).

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};

use askama::Template;
use axum::Form;
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::app::{App, AppState};
use crate::auth::{self, Actor};
use crate::error::AppError;
use crate::ops;

pub mod account;
pub mod admin;
pub mod browse;
pub mod headers;
pub mod krate;
pub mod markdown;
pub mod setup;
mod view;

pub const SESSION_COOKIE: &str = "cargohold_session";
pub const CSRF_COOKIE: &str = "cargohold_csrf";
/// The one-time notice a form's redirect carries to its page.
pub const FLASH_COOKIE: &str = "cargohold_flash";
/// How long a notice waits for its page: the redirect is followed at once.
const FLASH_SECONDS: i64 = 60;
/// The longest notice carried, in bytes; cookies hold about 4 KiB.
const FLASH_MAX_NOTICE: usize = 1000;

/// The one stylesheet, served at a path named after its content
/// ([`stylesheet_path`]) so browsers may keep it for good: a build that changes it,
/// whatever its version number, gives it a new address.
const STYLESHEET: &str = include_str!("../../static/style.css");

/// `/static/style-HASH.css`, HASH from the stylesheet's bytes.
pub fn stylesheet_path() -> &'static str {
    static PATH: LazyLock<String> = LazyLock::new(|| content_path("style", STYLESHEET, "css"));
    &PATH
}

/// `/static/copy-HASH.js`, like [`stylesheet_path`].
pub fn script_path() -> &'static str {
    static PATH: LazyLock<String> = LazyLock::new(|| content_path("copy", SCRIPT, "js"));
    &PATH
}

/// `/static/{stem}-{the first 12 hex digits of the SHA-256 of content}.{extension}`.
fn content_path(stem: &str, content: &str, extension: &str) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(content.as_bytes()));
    format!("/static/{stem}-{}.{extension}", &digest[..12])
}

/// Any address nothing else answers: the site's 404 page, not an empty answer.
pub async fn no_such_page(uri: axum::http::Uri) -> WebError {
    WebError::App(AppError::NotFound(format!(
        "there is no page at {}; the start page lists the registries",
        uri.path()
    )))
}

/// `GET /static/style-HASH.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The copy buttons' script, named after its content like the stylesheet. Pages
/// work without it: the text a button copies is shown in full and one click selects it.
const SCRIPT: &str = include_str!("../../static/copy.js");

/// `GET /static/copy-HASH.js`.
pub async fn script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A new CSRF token: random, without the API tokens' prefix.
pub fn new_csrf_token() -> String {
    auth::random_secret()
}

/// Who is looking at a page: a signed-in user or an anonymous visitor, with the
/// CSRF token the page's forms carry.
pub struct Viewer {
    pub actor: Option<Actor>,
    /// The session secret: the session cookie's value.
    pub session: Option<String>,
    pub csrf: String,
    /// Set when the CSRF cookie must be (re)sent with the response.
    new_csrf: bool,
    secure: bool,
    pub client: Option<IpAddr>,
    /// The one-time notice a form's redirect brought, if the browser sent one.
    flash: Option<FlashNotice>,
}

/// A notice for the page at `to`, carried by [`FLASH_COOKIE`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct FlashNotice {
    to: String,
    notice: String,
}

impl FlashNotice {
    /// The cookie value: form-encoded, which leaves nothing a cookie may not hold.
    fn encode(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("to", &self.to)
            .append_pair("notice", &self.notice)
            .finish()
    }

    fn decode(value: &str) -> Option<FlashNotice> {
        let (mut to, mut notice) = (None, None);
        for (key, text) in url::form_urlencoded::parse(value.as_bytes()) {
            match &*key {
                "to" => to = Some(text.into_owned()),
                "notice" => notice = Some(text.into_owned()),
                _ => {}
            }
        }
        Some(FlashNotice {
            to: to?,
            notice: notice.filter(|n| !n.is_empty())?,
        })
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, WebError> {
        let client = auth::client_addr(app, &parts.headers, &parts.extensions);
        let session = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|value| !value.is_empty())
            .map(str::to_owned);
        let actor = match &session {
            Some(secret) => ops::sessions::resume(app, secret, client).await?,
            None => None,
        };
        let existing = cookie(&parts.headers, CSRF_COOKIE)
            .filter(|v| v.len() >= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let (csrf, new_csrf) = match existing {
            Some(value) => (value.to_owned(), false),
            None => (new_csrf_token(), true),
        };
        let flash = cookie(&parts.headers, FLASH_COOKIE).and_then(FlashNotice::decode);
        let viewer = Viewer {
            actor,
            session,
            csrf,
            new_csrf,
            secure: is_https(app),
            client,
            flash,
        };
        if let Some(slot) = parts.extensions.get::<ViewerSlot>() {
            slot.fill(&viewer);
        }
        Ok(viewer)
    }
}

/// Where a page request leaves its viewer for an error page: the page layer
/// (`headers::page`) puts an empty slot in the request, [`Viewer`] fills it when
/// read, and an error page is then shown with the viewer's header. An error
/// before the viewer was read (it could not be) keeps the visitor's header.
#[derive(Clone, Default)]
pub struct ViewerSlot(Arc<Mutex<Option<SignedIn>>>);

/// What an error page needs of a signed-in viewer.
#[derive(Clone)]
struct SignedIn {
    chrome: view::Chrome,
    /// The CSRF cookie, when the browser lacks it (the sign-out form needs it).
    csrf_cookie: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for ViewerSlot {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let slot = ViewerSlot::default();
        parts.extensions.insert(slot.clone());
        Ok(slot)
    }
}

impl ViewerSlot {
    fn fill(&self, viewer: &Viewer) {
        if viewer.actor.is_none() {
            return;
        }
        let mut headers = HeaderMap::new();
        if viewer.new_csrf {
            viewer.set_cookie(&mut headers, CSRF_COOKIE, &viewer.csrf, "Strict", None);
        }
        let signed_in = SignedIn {
            chrome: viewer.chrome(""),
            csrf_cookie: headers.remove(SET_COOKIE),
        };
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(signed_in);
        }
    }

    /// `response` again with the signed-in header if it is an error page and
    /// the viewer was read; otherwise unchanged.
    pub fn dress(&self, response: Response) -> Response {
        let Some(shown) = response.extensions().get::<ErrorShown>().cloned() else {
            return response;
        };
        let Some(signed_in) = self.0.lock().ok().and_then(|slot| slot.clone()) else {
            return response;
        };
        let status = response.status();
        let mut chrome = signed_in.chrome;
        chrome.title = shown.title;
        let page = view::ErrorPage {
            chrome,
            status: status.as_u16(),
            message: shown.message,
        };
        let Ok(html) = page.render() else {
            return response;
        };
        let mut dressed = (status, Html(html)).into_response();
        let headers = dressed.headers_mut();
        // The header names the user: never kept by shared caches.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
        if let Some(cookie) = signed_in.csrf_cookie {
            headers.append(SET_COOKIE, cookie);
        }
        dressed
    }
}

/// Marks an error page rendered for nobody in particular, with what it says.
#[derive(Debug, Clone)]
struct ErrorShown {
    title: String,
    message: String,
}

impl Viewer {
    /// The signed-in user, or a redirect to the sign-in page that comes back to `next`.
    pub fn require_user(&self, next: &str) -> Result<&Actor, WebError> {
        self.actor
            .as_ref()
            .ok_or_else(|| WebError::SignIn(next.to_owned()))
    }

    /// Fails with 403 unless `presented` is this browser's CSRF token.
    pub fn check_csrf(&self, presented: &str) -> Result<(), WebError> {
        if !self.new_csrf && bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(csrf_refusal())
        }
    }

    /// The notice the redirect of a form brought to `page` (its path), shown once.
    pub fn notice_for(&self, page: &str) -> Option<String> {
        self.flash
            .as_ref()
            .filter(|flash| flash.to == page)
            .map(|flash| flash.notice.clone())
    }

    /// 303 See Other to `page` (a path of this site), which then shows `notice`
    /// once: what a form that changed something answers.
    pub fn redirect_with_notice(&self, page: &str, notice: &str) -> Response {
        let mut notice = notice.to_owned();
        if notice.len() > FLASH_MAX_NOTICE {
            let mut end = FLASH_MAX_NOTICE;
            while !notice.is_char_boundary(end) {
                end -= 1;
            }
            notice.truncate(end);
            notice.push('…');
        }
        let flash = FlashNotice {
            to: page.to_owned(),
            notice,
        };
        let mut response = Redirect::to(page).into_response();
        self.set_cookie(
            response.headers_mut(),
            FLASH_COOKIE,
            &flash.encode(),
            "Strict",
            Some(FLASH_SECONDS),
        );
        response
    }

    /// What every page's header needs.
    pub fn chrome(&self, title: impl Into<String>) -> view::Chrome {
        view::Chrome {
            title: title.into(),
            login: self.actor.as_ref().map(|a| a.login.clone()),
            is_admin: self.actor.as_ref().is_some_and(|a| a.is_admin),
            csrf: self.csrf.clone(),
            query: String::new(),
            stylesheet: stylesheet_path(),
            script: script_path(),
        }
    }

    /// Renders `page` with status 200, sending the CSRF cookie if the browser lacks it.
    pub fn render(&self, page: &impl Template) -> Result<Response, WebError> {
        self.render_with(StatusCode::OK, page)
    }

    pub fn render_with(
        &self,
        status: StatusCode,
        page: &impl Template,
    ) -> Result<Response, WebError> {
        let html = page
            .render()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("page template failed: {e}")))?;
        let mut response = (status, Html(html)).into_response();
        let headers = response.headers_mut();
        // Pages show what a user may see: never kept by shared caches.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
        if self.new_csrf {
            self.set_cookie(headers, CSRF_COOKIE, &self.csrf, "Strict", None);
        }
        // A notice is shown by the first page after its redirect, or by none.
        if self.flash.is_some() {
            self.set_cookie(headers, FLASH_COOKIE, "", "Strict", Some(0));
        }
        Ok(response)
    }

    /// Adds a `Set-Cookie` for `name`; `max_age` of `Some(0)` deletes it.
    pub fn set_cookie(
        &self,
        headers: &mut HeaderMap,
        name: &str,
        value: &str,
        same_site: &str,
        max_age: Option<i64>,
    ) {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
        if let Some(seconds) = max_age {
            cookie.push_str(&format!("; Max-Age={seconds}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(SET_COOKIE, value);
        }
    }
}

/// Whether users reach this server over https (then cookies are `Secure`).
fn is_https(app: &App) -> bool {
    app.config
        .public_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "https")
}

/// The value of cookie `name` in the request, if sent.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A page's query string, read like axum's `Query`; one that cannot be read is a
/// 400 error page saying why instead of axum's plain-text answer.
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, WebError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(query)| PageQuery(query))
            .map_err(|rejection| {
                // The source is serde's own words (`duplicate field `page``),
                // without axum's "Failed to deserialize query string".
                let reason = std::error::Error::source(&rejection)
                    .map_or_else(|| rejection.body_text(), ToString::to_string);
                WebError::App(AppError::BadRequest(format!(
                    "the query of this address cannot be read: {reason}"
                )))
            })
    }
}

/// The 403 of a form without this browser's CSRF token.
fn csrf_refusal() -> WebError {
    WebError::App(AppError::Forbidden(
        "this form is out of date or was not sent from this site; reload the page and try again"
            .into(),
    ))
}

/// A posted form, read like axum's `Form`; one that cannot be read is an error
/// page saying why (400, or 415 when it was not sent as a form) instead of
/// axum's plain-text answer. Handlers still check the form's CSRF token.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, WebError> {
        let sent_as = request
            .headers()
            .get(CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        Form::from_request(request, state)
            .await
            .map(|Form(form)| PageForm(form))
            .map_err(|rejection| form_refusal(&rejection, sent_as.as_deref()))
    }
}

/// What a browser user is told about a form `Form` could not read.
fn form_refusal(rejection: &FormRejection, sent_as: Option<&str>) -> WebError {
    const AGAIN: &str = "reload the page and send it again";
    match rejection {
        FormRejection::InvalidFormContentType(_) => {
            let sent_as = sent_as
                .and_then(|value| value.split(';').next())
                .map(str::trim)
                .filter(|media_type| !media_type.is_empty())
                .map(|media_type| media_type.chars().take(100).collect::<String>());
            let sent = match sent_as {
                Some(media_type) => format!("this form was sent as `{media_type}`"),
                None => "this form was sent without a content type".to_owned(),
            };
            WebError::UnsupportedMediaType(format!(
                "{sent}, not as a web form (`application/x-www-form-urlencoded`); {AGAIN}"
            ))
        }
        FormRejection::FailedToDeserializeForm(_)
        | FormRejection::FailedToDeserializeFormBody(_) => {
            // The source is serde's own words (`missing field `login``), without
            // axum's "Failed to deserialize form body".
            let reason = std::error::Error::source(rejection)
                .map_or_else(|| rejection.body_text(), ToString::to_string);
            if let Some(field) = reason
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                // Without its token the form is refused as any other without
                // this browser's token is.
                if field == "csrf" {
                    return csrf_refusal();
                }
                return WebError::App(AppError::BadRequest(format!(
                    "the form is missing the field `{field}`; {AGAIN}"
                )));
            }
            if let Some(field) = reason
                .strip_prefix("duplicate field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                return WebError::App(AppError::BadRequest(format!(
                    "the form has the field `{field}` more than once; {AGAIN}"
                )));
            }
            WebError::App(AppError::BadRequest(format!(
                "the form cannot be read ({reason}); {AGAIN}"
            )))
        }
        FormRejection::BytesRejection(rejection) => body_refusal(rejection),
        other => WebError::App(AppError::BadRequest(format!(
            "the form cannot be read ({}); {AGAIN}",
            other.body_text()
        ))),
    }
}

/// What a browser user is told about a form body that did not arrive whole.
fn body_refusal(rejection: &BytesRejection) -> WebError {
    let stalled = std::iter::successors(
        Some(rejection as &(dyn std::error::Error + 'static)),
        |err| err.source(),
    )
    .any(|err| err.is::<tower_http::timeout::TimeoutError>());
    let err = if stalled {
        AppError::RequestTimeout(
            "the form stopped arriving before it was complete; nothing was changed, send it again"
                .into(),
        )
    } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge(
            "the form is larger than this site accepts; nothing was changed".into(),
        )
    } else {
        AppError::BadRequest(format!(
            "the form could not be read ({}); nothing was changed, reload the page and send it again",
            rejection.body_text()
        ))
    };
    WebError::App(err)
}

/// The `page` of a listing's query: 1 when absent or empty.
pub fn page_number(page: Option<&str>) -> Result<i64, WebError> {
    match page.map(str::trim) {
        None | Some("") => Ok(1),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|page| *page >= 1)
            .ok_or_else(|| {
                WebError::App(AppError::BadRequest(
                    "page must be a whole number from 1".into(),
                ))
            }),
    }
}

/// How a page request fails: an error page with the status the API would give,
/// or a trip to the sign-in page.
#[derive(Debug)]
pub enum WebError {
    App(AppError),
    /// Not signed in: go to `/login?next=…`.
    SignIn(String),
    /// A form sent as something other than a form: 415, saying so.
    UnsupportedMediaType(String),
}

impl From<AppError> for WebError {
    fn from(err: AppError) -> Self {
        WebError::App(err)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(err: sqlx::Error) -> Self {
        WebError::App(err.into())
    }
}

pub type WebResult<T = Response> = Result<T, WebError>;

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            WebError::SignIn(next) => {
                let target = format!("/login?next={}", view::url_encode(&next));
                return Redirect::to(&target).into_response();
            }
            WebError::UnsupportedMediaType(message) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
            }
            WebError::App(err) => {
                let message = match &err {
                    AppError::Internal(cause) => {
                        tracing::error!(error = ?cause, "page failed");
                        "Something went wrong on the server; its log has the details.".to_owned()
                    }
                    AppError::Unavailable { message, cause }
                    | AppError::OutOfSpace { message, cause } => {
                        tracing::error!(error = ?cause, "page failed: {message}");
                        message.clone()
                    }
                    other => other.to_string(),
                };
                (err.status(), message)
            }
        };
        let page = view::ErrorPage {
            chrome: view::Chrome::plain(status.canonical_reason().unwrap_or("Error")),
            status: status.as_u16(),
            message,
        };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => return (status, page.message).into_response(),
        };
        // The page layer shows it with the viewer's header when it knows the viewer.
        response.extensions_mut().insert(ErrorShown {
            title: page.chrome.title,
            message: page.message,
        });
        response
    }
}

/// `GET /registries/{registry}/me`, where `cargo login` sends people: the token page
/// (for a registry that exists; anything else is a 404, not a redirect).
pub async fn cargo_login_hint(
    axum::extract::State(app): axum::extract::State<AppState>,
    // Read for the 404 page's header.
    _viewer: Viewer,
    axum::extract::Path(registry): axum::extract::Path<String>,
) -> WebResult {
    app.registry(&registry)?;
    Ok(Redirect::to("/me").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("x_cargohold_session=no; cargohold_session=abc; other=1"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), None);
    }

    #[test]
    fn a_notice_survives_its_cookie_whatever_it_says() {
        let flash = FlashNotice {
            to: "/admin/registries/a%20b".into(),
            notice: "user `bob` now holds “read”; = & % + é".into(),
        };
        let value = flash.encode();
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b",;\\\"".contains(&b)),
            "{value}"
        );
        assert_eq!(FlashNotice::decode(&value), Some(flash));
        assert_eq!(FlashNotice::decode("to=%2Fme"), None);
        assert_eq!(FlashNotice::decode("to=%2Fme&notice="), None);
        assert_eq!(FlashNotice::decode("garbage"), None);
    }

    #[test]
    fn page_numbers_are_whole_numbers_from_one() {
        assert_eq!(page_number(None).unwrap(), 1);
        assert_eq!(page_number(Some("")).unwrap(), 1);
        assert_eq!(page_number(Some("3")).unwrap(), 3);
        for bad in ["0", "-1", "abc", "1.5", "99999999999999999999"] {
            assert!(page_number(Some(bad)).is_err(), "{bad}");
        }
    }
}
