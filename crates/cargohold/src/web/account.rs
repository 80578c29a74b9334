//! Signing in and out, and `/me`: the user's tokens and password.

use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect};
use std::sync::Arc;

use serde::Deserialize;

use super::view::{LoginPage, MePage, TokenItem};
use super::{
    CSRF_COOKIE, PageForm, PageQuery, SESSION_COOKIE, Viewer, WebError, WebResult, new_csrf_token,
};
use crate::app::{AppState, Registry};
use crate::auth::{self, Scope};
use crate::clock;
use crate::error::AppError;
use crate::ops::{self, sessions::SESSION_SECONDS, tokens::TokenRequest};

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only paths on this site are followed after signing in: visible ASCII only,
/// since browsers drop tabs and line breaks from a `Location` (`/<TAB>/evil.example`
/// would become `//evil.example`) and a line break is no header value at all.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.len() <= 2048
                && path.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => "/me".to_owned(),
    }
}

/// `GET /login`.
pub async fn login_page(viewer: Viewer, PageQuery(query): PageQuery<NextQuery>) -> WebResult {
    let next = safe_next(query.next.as_deref());
    if viewer.actor.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    viewer.render(&LoginPage {
        chrome: viewer.chrome("Sign in"),
        next,
        login: String::new(),
        error: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: String,
    login: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login`: opens a session and goes on to `next`.
pub async fn login(
    State(app): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<LoginForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let next = safe_next(form.next.as_deref());
    match ops::sessions::sign_in(&app, form.login.trim(), &form.password, viewer.client).await {
        Ok(session) => {
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            viewer.set_cookie(
                headers,
                SESSION_COOKIE,
                &session.secret,
                "Lax",
                Some(SESSION_SECONDS),
            );
            // A fresh CSRF token for the signed-in browser.
            viewer.set_cookie(headers, CSRF_COOKIE, &new_csrf_token(), "Strict", None);
            tracing::info!(user.login = %session.login, "signed in on the web");
            Ok(response)
        }
        Err(err @ (AppError::Unauthorized(_) | AppError::TooManyRequests { .. })) => {
            let status = err.status();
            viewer.render_with(
                status,
                &LoginPage {
                    chrome: viewer.chrome("Sign in"),
                    next,
                    login: form.login,
                    error: Some(err.to_string()),
                },
            )
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(app): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<CsrfForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    if let Some(secret) = &viewer.session {
        ops::sessions::sign_out(&app, secret).await?;
    }
    let mut response = Redirect::to("/").into_response();
    viewer.set_cookie(response.headers_mut(), SESSION_COOKIE, "", "Lax", Some(0));
    Ok(response)
}

/// What `/me` shows besides the tokens.
#[derive(Default)]
struct MeMessages {
    new_token: Option<NewToken>,
    error: Option<String>,
    notice: Option<String>,
}

/// A token just created, as `/me` shows it this once.
struct NewToken {
    secret: String,
    name: String,
    /// The registries it was limited to; empty: every registry.
    registries: Vec<String>,
}

async fn me_page(
    app: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    messages: MeMessages,
) -> WebResult {
    let actor = viewer.require_user("/me")?;
    let tokens = ops::tokens::list(app, Some(&actor.login), Some(actor)).await?;
    let now = clock::now();
    let registries = ops::browse::readable(app, Some(actor)).await?;
    // Where cargo will want the new token: of the registries it is limited to
    // (or else every registry its user may read), the one setup recommends.
    let cargo_login = match &messages.new_token {
        Some(new) if !new.registries.is_empty() => {
            let limited: Vec<Arc<Registry>> = new
                .registries
                .iter()
                .filter_map(|name| app.registry(name).ok().cloned())
                .collect();
            cargo_login_for(&limited)
        }
        Some(_) => cargo_login_for(&registries),
        None => None,
    };
    let (new_token, new_token_name) = messages.new_token.map(|new| (new.secret, new.name)).unzip();
    let tokens: Vec<TokenItem> = tokens.into_iter().map(|t| TokenItem::new(t, now)).collect();
    let page = MePage {
        chrome: viewer.chrome(actor.login.clone()),
        login: actor.login.clone(),
        expiring: expiry_warning(&tokens),
        tokens,
        new_token,
        new_token_name: new_token_name.unwrap_or_default(),
        login_command: cargo_login.as_ref().map(|l| l.command.clone()),
        ci_variable: cargo_login.map(|l| l.ci_variable),
        scopes: Scope::ALL
            .iter()
            .filter(|s| **s != Scope::Admin || actor.is_admin)
            .map(|s| (s.as_str(), Scope::DEFAULT.contains(s)))
            .collect(),
        registries: registries.iter().map(|r| r.name.clone()).collect(),
        error: messages.error,
        notice: messages.notice,
    };
    viewer.render_with(status, &page)
}

/// The warning of `/me` about the tokens that expire soon, if any do.
fn expiry_warning(tokens: &[TokenItem]) -> Option<String> {
    let names: Vec<String> = tokens
        .iter()
        .filter(|t| t.expires_soon)
        .map(|t| format!("“{}”", t.name))
        .collect();
    let (your, verb, replacement, them) = match names.len() {
        0 => return None,
        1 => (
            "Your token",
            "expires",
            "a replacement",
            "it where the old one is",
        ),
        _ => (
            "Your tokens",
            "expire",
            "replacements",
            "them where the old ones are",
        ),
    };
    Some(format!(
        "{your} {} {verb} within {} days: create {replacement} below before then, and put {them} used.",
        names.join(", "),
        ops::overview::EXPIRY_WARNING_DAYS
    ))
}

/// How a new token is given to cargo: `cargo login` on a person's machine, an
/// environment variable on CI.
struct CargoLogin {
    /// `cargo login --registry NAME`, as the set-up page of NAME says.
    command: String,
    /// `CARGO_REGISTRIES_NAME_TOKEN`, which cargo reads instead of its credentials file.
    ci_variable: String,
}

/// The one registry of `registries` to log cargo in to: of those cargo sends a
/// token to (`ops::setup::cargo_config`), the one the first-start banner would
/// lead with (`ops::setup::recommendation_order`). `None` when cargo sends none
/// of them a token.
fn cargo_login_for(registries: &[Arc<Registry>]) -> Option<CargoLogin> {
    registries
        .iter()
        .filter_map(|r| {
            let command = ops::setup::cargo_config(r).login_command?;
            Some((ops::setup::recommendation_order(r), r, command))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, registry, command)| CargoLogin {
            command,
            ci_variable: ops::setup::token_variable(&registry.name),
        })
}

/// `GET /me`, with the notice of a form that redirected here.
pub async fn me(State(app): State<AppState>, viewer: Viewer) -> WebResult {
    let messages = MeMessages {
        notice: viewer.notice_for("/me"),
        ..MeMessages::default()
    };
    me_page(&app, &viewer, StatusCode::OK, messages).await
}

/// `POST /me/tokens`: creates a token and shows it once, in this answer.
///
/// Unlike the other forms this one does not redirect (Post/Redirect/Get): the
/// page after a redirect could only show the secret if it travelled there in
/// the URL (history, logs, Referer), in a cookie (the browser's cookie store,
/// and request headers that proxies may log), or stored on the server, which
/// keeps only its hash and shares nothing but the database between nodes. So
/// the secret exists in this one answer, which no cache keeps (`no-store`).
/// Sending the form again (a reload) is refused: a user's live tokens have
/// distinct names here, so a second token is never made by accident.
pub async fn create_token(
    State(app): State<AppState>,
    viewer: Viewer,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> WebResult {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    viewer.check_csrf(field("csrf"))?;
    let actor = viewer.require_user("/me")?;
    let result = async {
        // The command line may leave a token unnamed (it is then named after its
        // creation time); on this page the name is what tells tokens apart.
        if field("name").is_empty() {
            return Err(AppError::BadRequest(
                "give the token a name, so you can tell it apart from your others".into(),
            ));
        }
        let expires_in_days =
            match field("expires_in_days") {
                "" => None,
                days => Some(days.parse::<u32>().map_err(|_| {
                    AppError::BadRequest(format!("“{days}” is not a number of days"))
                })?),
            };
        let request = TokenRequest {
            name: field("name").to_owned(),
            scopes: Scope::parse_all(&all("scope"))?,
            crate_patterns: auth::split_list(field("crates")),
            registries: all("registry"),
            expires_in_days,
        };
        if request.scopes.is_empty() {
            return Err(AppError::BadRequest(
                "choose at least one scope for the token".into(),
            ));
        }
        let now = clock::now();
        let taken = ops::tokens::list(&app, Some(&actor.login), Some(actor))
            .await?
            .into_iter()
            .any(|t| {
                t.name == request.name
                    && t.revoked_at.is_none()
                    && t.expires_at.is_none_or(|at| at > now)
            });
        if taken {
            return Err(AppError::Conflict(format!(
                "you already have a token named “{}”, so no other was made; \
                 give the new one another name, or revoke the old one first",
                request.name
            )));
        }
        let registries = request.registries.clone();
        let created = ops::tokens::create(&app, &actor.login, request, Some(actor)).await?;
        Ok((created, registries))
    }
    .await;
    match result {
        Ok((created, registries)) => {
            let messages = MeMessages {
                new_token: Some(NewToken {
                    secret: created.token,
                    name: field("name").to_owned(),
                    registries,
                }),
                ..MeMessages::default()
            };
            let mut response = me_page(&app, &viewer, StatusCode::CREATED, messages).await?;
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(err @ (AppError::BadRequest(_) | AppError::Forbidden(_) | AppError::Conflict(_))) => {
            let status = err.status();
            let messages = MeMessages {
                error: Some(err.to_string()),
                ..MeMessages::default()
            };
            me_page(&app, &viewer, status, messages).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /me/tokens/{id}/revoke`: then back to `/me`, which says so.
pub async fn revoke_token(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    PageForm(form): PageForm<CsrfForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = viewer.require_user("/me")?;
    let token = ops::tokens::revoke(&app, id, Some(actor)).await?;
    let notice = format!("The token “{}” is revoked.", token.name);
    Ok(viewer.redirect_with_notice("/me", &notice))
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    csrf: String,
    /// The password now: a session alone does not change it.
    current_password: String,
    password: String,
}

/// `POST /me/password`: with the current password, then back to `/me`, which
/// says so; a wrong current password or a refused new one shows the page again
/// with the reason, and changes nothing.
pub async fn change_password(
    State(app): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<PasswordForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = viewer.require_user("/me")?;
    let changed = ops::sessions::change_own_password(
        &app,
        actor,
        &form.current_password,
        form.password,
        viewer.client,
        viewer.session.as_deref(),
    )
    .await;
    match changed {
        Ok(()) => Ok(viewer.redirect_with_notice("/me", "Your password is changed.")),
        Err(
            err @ (AppError::BadRequest(_)
            | AppError::Forbidden(_)
            | AppError::TooManyRequests { .. }),
        ) => {
            let messages = MeMessages {
                error: Some(err.to_string()),
                ..MeMessages::default()
            };
            me_page(&app, &viewer, err.status(), messages).await
        }
        Err(err) => Err(WebError::from(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_on_this_site_are_followed_after_signing_in() {
        for path in [
            "/me",
            "/registries/main/crates/x?version=1.0.0",
            "/a%2f%2fb",
        ] {
            assert_eq!(safe_next(Some(path)), path);
        }
        for path in [
            "",
            "me",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/ /evil.example",
            "/\u{0}",
            "/caf\u{e9}",
            "https://evil.example/",
        ] {
            assert_eq!(safe_next(Some(path)), "/me", "{path:?}");
        }
        assert_eq!(safe_next(None), "/me");
    }
}
