//! API tokens: creating them with scopes, crate patterns, registries and an expiry;
//! listing and revoking them.

use crate::app::App;
use crate::auth::{self, Actor, Scope};
use crate::clock;
use crate::db::{self, Tx, audit::AuditEvent, tokens::NewToken, tokens::TokenRow};
use crate::error::{AppError, AppResult};

/// The longest expiry a token may be given, in days; a token may also never expire.
pub const MAX_EXPIRY_DAYS: u32 = 3650;

/// What a new token may do, and for how long.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// A label to recognise the token by.
    pub name: String,
    /// Empty means [`Scope::DEFAULT`].
    pub scopes: Vec<Scope>,
    /// `foo` or `foo-*`; empty means any crate.
    pub crate_patterns: Vec<String>,
    /// Registry names; empty means every registry.
    pub registries: Vec<String>,
    pub expires_in_days: Option<u32>,
}

/// A token just created: the secret (shown once) and its id.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub id: i64,
    pub token: String,
}

/// Creates a token for the user `login`, on behalf of `by` (`None`: the command line).
///
/// Through the API a user creates tokens for itself, never stronger than the
/// token it uses; administrators may create tokens for anyone.
pub async fn create(
    app: &App,
    login: &str,
    request: TokenRequest,
    by: Option<&Actor>,
) -> AppResult<CreatedToken> {
    if let Some(actor) = by
        && !actor.login.eq_ignore_ascii_case(login)
    {
        actor.require_instance_admin()?;
    }
    let mut tx = app.db.begin().await?;
    let created = create_in(app, &mut tx, login, request, by).await?;
    tx.commit().await?;
    Ok(created)
}

/// Creates a token inside `tx`, with its audit event.
pub(crate) async fn create_in(
    app: &App,
    tx: &mut Tx,
    login: &str,
    request: TokenRequest,
    by: Option<&Actor>,
) -> AppResult<CreatedToken> {
    let no_such_user = || {
        AppError::NotFound(format!(
            "there is no user `{}`; create it with `cargohold user add {}`",
            login.escape_debug(),
            login.escape_debug()
        ))
    };
    crate::ops::users::validate_login(login).map_err(|_| no_such_user())?;
    let user = db::users::find_by_login(&mut *tx, login)
        .await?
        .ok_or_else(no_such_user)?;
    let scopes = if request.scopes.is_empty() {
        Scope::DEFAULT.to_vec()
    } else {
        request.scopes
    };
    // A token is never stronger than its user.
    if scopes.contains(&Scope::Admin) && !user.is_admin {
        return Err(refused(
            by,
            AppError::Forbidden(format!(
                "`{}` is not an administrator, so its tokens cannot have the `admin` scope",
                user.login
            )),
        ));
    }
    for registry in &request.registries {
        app.registry(registry)?;
    }
    for pattern in &request.crate_patterns {
        validate_pattern(pattern)?;
    }
    if let Some(days) = request.expires_in_days
        && !(1..=MAX_EXPIRY_DAYS).contains(&days)
    {
        return Err(AppError::BadRequest(format!(
            "the expiry must be 1 to {MAX_EXPIRY_DAYS} days (ten years), not {days}; \
             leave it out for a token that does not expire"
        )));
    }

    if user.disabled_at.is_some() {
        return Err(refused(
            by,
            AppError::Forbidden(format!(
                "the account `{}` is disabled; enable it with `cargohold user enable {}` first",
                user.login, user.login
            )),
        ));
    }
    let now = clock::now();
    let expires_at = request
        .expires_in_days
        .map(|days| now + i64::from(days) * 86_400);
    if let Some(actor) = by {
        actor
            .may_grant(
                &scopes,
                &request.crate_patterns,
                &request.registries,
                expires_at,
            )
            .map_err(|err| refused(by, err))?;
    }
    let token = auth::generate_token();
    let token_hash = auth::hash_token(&token);
    let scopes_text = scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let name = if request.name.trim().is_empty() {
        format!(
            "token created {}",
            cargohold_protocol::index::format_pubtime(now)
        )
    } else {
        request.name.trim().to_owned()
    };
    let id = db::tokens::insert(
        &mut *tx,
        &NewToken {
            user_id: user.id,
            name: &name,
            token_hash: &token_hash,
            scopes: &scopes_text,
            crate_patterns: &request.crate_patterns.join(","),
            registries: &request.registries.join(","),
            expires_at,
        },
        now,
    )
    .await?;
    db::audit::insert(
        &mut *tx,
        &AuditEvent {
            detail: Some(
                serde_json::json!({
                    "token_id": id,
                    "user": user.login,
                    "name": name,
                    "scopes": scopes_text,
                    "crates": request.crate_patterns,
                    "registries": request.registries,
                    "expires_at": expires_at,
                })
                .to_string(),
            ),
            ..super::audit_event(by, "token_create")
        },
        now,
    )
    .await?;
    Ok(CreatedToken { id, token })
}

/// The tokens of `login` (every user's with `None`, administrators only).
pub async fn list(app: &App, login: Option<&str>, by: Option<&Actor>) -> AppResult<Vec<TokenRow>> {
    let user_id = match login {
        Some(login) => {
            if let Some(actor) = by
                && !actor.login.eq_ignore_ascii_case(login)
            {
                actor.require_instance_admin()?;
            }
            Some(super::users::find(app.db.read(), login).await?.id)
        }
        None => {
            super::require_instance_admin(by)?;
            None
        }
    };
    Ok(db::tokens::list(app.db.read(), user_id).await?)
}

/// Revokes the token with id `id`: its own user may, and administrators.
/// Revoking a revoked token is not an error; it changes nothing.
pub async fn revoke(app: &App, id: i64, by: Option<&Actor>) -> AppResult<TokenRow> {
    revoke_checked(app, id, None, by).await
}

/// Revokes the token with id `id` if it is one of `login`'s (a 404 otherwise,
/// changing nothing), as [`revoke`] does.
pub async fn revoke_of(app: &App, login: &str, id: i64, by: Option<&Actor>) -> AppResult<TokenRow> {
    revoke_checked(app, id, Some(login), by).await
}

async fn revoke_checked(
    app: &App,
    id: i64,
    login: Option<&str>,
    by: Option<&Actor>,
) -> AppResult<TokenRow> {
    let not_found = || match login {
        Some(login) => AppError::NotFound(format!(
            "`{}` has no token with id {id}",
            login.escape_debug()
        )),
        None => AppError::NotFound(format!("there is no token with id {id}")),
    };
    let mut tx = app.db.begin().await?;
    let token = db::tokens::find(&mut tx, id)
        .await?
        .filter(|token| login.is_none_or(|login| token.login.eq_ignore_ascii_case(login)))
        .ok_or_else(not_found)?;
    if let Some(actor) = by
        && !actor.login.eq_ignore_ascii_case(&token.login)
    {
        // Others' tokens are not even confirmed to exist (and the 404 is no refusal to log).
        actor.check_instance_admin().map_err(|_| not_found())?;
    }
    let now = clock::now();
    if db::tokens::revoke(&mut tx, id, now).await? {
        db::audit::insert(
            &mut tx,
            &AuditEvent {
                detail: Some(
                    serde_json::json!({ "token_id": id, "user": token.login, "name": token.name })
                        .to_string(),
                ),
                ..super::audit_event(by, "token_revoke")
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    app.auth_cache.forget_all();
    Ok(TokenRow {
        revoked_at: token.revoked_at.or(Some(now)),
        ..token
    })
}

/// `err`, a refusal of what `by` asked, once logged (the command line's are
/// printed to the operator instead).
fn refused(by: Option<&Actor>, err: AppError) -> AppError {
    if let Some(actor) = by {
        actor.log_refusal(&err, None);
    }
    err
}

/// A crate pattern is a crate name, or a name prefix followed by `*`.
fn validate_pattern(pattern: &str) -> AppResult<()> {
    let stem = pattern.strip_suffix('*').unwrap_or(pattern);
    let ok = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "the crate pattern `{pattern}` is invalid: give a crate name, or a prefix ending in `*` (`foo-*`)"
        )))
    }
}
