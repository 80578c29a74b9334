//! Web sessions: signing in with a password, recognising the browser afterwards,
//! signing out, and setting passwords.

use std::net::IpAddr;

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;

use crate::app::App;
use crate::auth::{self, Actor};
use crate::clock;
use crate::db::{self, audit::AuditEvent};
use crate::error::{AppError, AppResult};
use crate::rate_limit::Counted;

/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 14 * 24 * 3600;

/// A session just opened: the secret for the cookie (only its hash is stored).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub login: String,
    pub expires_at: i64,
}

/// Signs `login` in with `password`. Every failure has the same message, so it
/// never tells whether an account exists; failures count against the address's
/// own limit of failed sign-ins (the same number as for tokens), checked before
/// the password, since a guess must not be told apart by its answer.
///
/// Each failure whose password was checked is audited as `sign_in_failed`, with
/// the login tried and why it failed (never the password). Attempts refused
/// because the address is over its limit are not, but for the first refusal of
/// the window (`sign_in_blocked`): a flood of guesses adds at most the limit's
/// number of events per address and minute.
pub async fn sign_in(
    app: &App,
    login: &str,
    password: &str,
    client: Option<IpAddr>,
) -> AppResult<NewSession> {
    let limit = &app.rate_limits.sign_in_failures;
    if let Some(ip) = client
        && let Counted::Refused { retry_after, first } = limit.refuse(&ip)
    {
        if first {
            limit_tripped(app, login, ip).await?;
        }
        return Err(too_many_failures(retry_after));
    }
    let found = if super::users::validate_login(login).is_ok() {
        db::users::find_with_password(app.db.read(), login).await?
    } else {
        None
    };
    let (account, reason) = match found {
        None => (None, "no such user"),
        Some((user, _)) if user.disabled_at.is_some() => (Some(user.id), "user disabled"),
        Some((user, None)) => (Some(user.id), "no password set"),
        Some((user, Some(hash))) => {
            if verify_password(password.to_owned(), hash).await? {
                return open_session(app, user, client).await;
            }
            (Some(user.id), "wrong password")
        }
    };
    // The account tried, when there is one, is the event's user: its attempts
    // are listed with what it did.
    let detail = serde_json::json!({ "login": shown_login(login), "reason": reason });
    audit_attempt(app, "sign_in_failed", account, client, detail).await?;
    if let Some(ip) = client {
        tracing::info!(client = %ip, login, reason, "refused a web sign-in");
        if let Counted::Refused { retry_after, first } = limit.count(&ip) {
            if first {
                limit_tripped(app, login, ip).await?;
            }
            return Err(too_many_failures(retry_after));
        }
    }
    Err(AppError::Unauthorized("wrong login or password".into()))
}

/// Opens a session for `user`, whose password was just checked.
async fn open_session(
    app: &App,
    user: db::users::UserRow,
    client: Option<IpAddr>,
) -> AppResult<NewSession> {
    let secret = auth::random_secret();
    let now = clock::now();
    let expires_at = now + SESSION_SECONDS;
    let mut tx = app.db.begin().await?;
    db::sessions::insert(
        &mut tx,
        &auth::hash_token(&secret),
        user.id,
        now,
        expires_at,
    )
    .await?;
    db::sessions::delete_expired(&mut tx, now).await?;
    let actor = Actor::signed_in(user.id, &user.login, user.is_admin, client);
    db::audit::insert(
        &mut tx,
        &super::audit_event(Some(&actor), "session_create"),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(NewSession {
        secret,
        login: user.login,
        expires_at,
    })
}

/// Logs and audits the first sign-in from `ip` refused for its failures within
/// the window (`sign_in_blocked`); the refusals after it are neither.
async fn limit_tripped(app: &App, login: &str, ip: IpAddr) -> AppResult<()> {
    let per_minute = app.config.limits.auth_failures_per_minute;
    tracing::warn!(
        client = %ip,
        login,
        "rate limit tripped: more than {per_minute} failed web sign-ins a minute from {ip}"
    );
    let detail = serde_json::json!({
        "login": shown_login(login),
        "failures_per_minute": per_minute,
    });
    audit_attempt(app, "sign_in_blocked", None, Some(ip), detail).await
}

/// Audits a sign-in attempt that opened no session, from `client`, on its own
/// (there is no change to share a transaction with).
async fn audit_attempt(
    app: &App,
    action: &str,
    account: Option<i64>,
    client: Option<IpAddr>,
    detail: serde_json::Value,
) -> AppResult<()> {
    let client = client.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let event = AuditEvent {
        actor_user_id: account,
        client_addr: Some(client.as_str()),
        action,
        detail: Some(detail.to_string()),
        ..AuditEvent::default()
    };
    db::audit::insert(app.db.write(), &event, clock::now()).await?;
    Ok(())
}

/// The login a sign-in tried, as the audit log keeps it: whatever was typed, cut
/// to the longest login there can be (plus `…`), so a form cannot fill the log
/// with one long field.
fn shown_login(login: &str) -> String {
    match login.char_indices().nth(super::users::MAX_LOGIN_LEN) {
        Some((cut, _)) => format!("{}…", &login[..cut]),
        None => login.to_owned(),
    }
}

/// Who holds the session `secret`, if it is live.
pub async fn resume(app: &App, secret: &str, client: Option<IpAddr>) -> AppResult<Option<Actor>> {
    let row = db::sessions::find(app.db.read(), &auth::hash_token(secret), clock::now()).await?;
    Ok(row.map(|s| Actor::signed_in(s.user_id, &s.login, s.is_admin, client)))
}

/// Ends the session `secret`; ending an unknown one is not an error.
pub async fn sign_out(app: &App, secret: &str) -> AppResult<()> {
    db::sessions::delete(app.db.write(), &auth::hash_token(secret)).await?;
    Ok(())
}

/// Sets the web password of `login` without asking for the one it replaces: for
/// administrators and the operator. On `/me` users change their own with
/// [`change_own_password`], which asks for the current one first.
///
/// Every browser signed in as `login` is signed out, but for the session whose
/// secret is `keep` (the one changing its own password): whoever knew the old
/// password, or holds a stolen session, is out.
pub async fn set_password(
    app: &App,
    login: &str,
    password: String,
    by: Option<&Actor>,
    keep: Option<&str>,
) -> AppResult<()> {
    if let Some(actor) = by
        && !actor.login.eq_ignore_ascii_case(login)
    {
        actor.require_instance_admin()?;
    }
    let hash = super::users::hash_password(password).await?;
    let mut tx = app.db.begin().await?;
    let user = super::users::find(&mut tx, login).await?;
    db::users::set_password(&mut tx, user.id, &hash).await?;
    let keep = keep.map(auth::hash_token);
    let ended = db::sessions::delete_for_user(&mut tx, user.id, keep.as_deref()).await?;
    let now = clock::now();
    db::audit::insert(
        &mut tx,
        &AuditEvent {
            detail: Some(serde_json::json!({ "login": user.login }).to_string()),
            ..super::audit_event(by, "user_password_set")
        },
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.login = %user.login, sessions_ended = ended, "password set");
    Ok(())
}

/// Changes the web password of the signed-in `actor` to `new`, only when
/// `current` is its password now: a session alone (left open, or stolen) must not
/// be enough to take the account over. A wrong `current` changes nothing, is
/// logged, audited as `sign_in_failed` (reason `wrong current password`), and
/// counts against the address's limit of failed sign-ins, since it is a guess
/// like one: whoever holds a session cannot try passwords unseen.
pub async fn change_own_password(
    app: &App,
    actor: &Actor,
    current: &str,
    new: String,
    client: Option<IpAddr>,
    session: Option<&str>,
) -> AppResult<()> {
    let limit = &app.rate_limits.sign_in_failures;
    if let Some(ip) = client
        && let Some(retry_after) = limit.blocked(&ip)
    {
        return Err(too_many_failures(retry_after));
    }
    let hash = db::users::find_with_password(app.db.read(), &actor.login)
        .await?
        .and_then(|(_, hash)| hash);
    let verified = match hash {
        Some(hash) => verify_password(current.to_owned(), hash).await?,
        None => false,
    };
    if !verified {
        tracing::info!(
            user.login = %actor.login,
            client = ?client,
            "refused a password change: the current password was wrong"
        );
        let detail = serde_json::json!({
            "login": actor.login,
            "reason": "wrong current password",
        });
        audit_attempt(app, "sign_in_failed", Some(actor.user_id), client, detail).await?;
        if let Some(ip) = client
            && let Counted::Refused { retry_after, first } = limit.count(&ip)
        {
            if first {
                limit_tripped(app, &actor.login, ip).await?;
            }
            return Err(too_many_failures(retry_after));
        }
        return Err(AppError::Forbidden(
            "the current password is not right, so your password is unchanged".into(),
        ));
    }
    set_password(app, &actor.login, new, Some(actor), session).await?;
    Ok(())
}

async fn verify_password(password: String, hash: String) -> AppResult<bool> {
    // argon2 is deliberately slow: keep it off the async threads.
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("password check stopped: {e}")))
}

fn too_many_failures(retry_after: u64) -> AppError {
    AppError::TooManyRequests {
        message: format!(
            "too many failed sign-ins from this address; try again in {retry_after} s"
        ),
        retry_after,
    }
}
