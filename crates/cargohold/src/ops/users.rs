//! Users: creating, listing, disabling and promoting accounts.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;

use crate::app::App;
use crate::auth::Actor;
use crate::clock;
use crate::db::{self, Conn, Tx, audit::AuditEvent, users::UserRow};
use crate::error::{AppError, AppResult, ResultExt};

/// A new account.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub login: String,
    pub is_admin: bool,
    /// For the web login; hashed with argon2 before it is stored.
    pub password: Option<String>,
}

/// Creates a user and returns its id; administrators only.
pub async fn add(app: &App, user: NewUser, by: Option<&Actor>) -> AppResult<i64> {
    super::require_instance_admin(by)?;
    let mut tx = app.db.begin().await?;
    let id = add_in(&mut tx, user, by).await?;
    tx.commit().await?;
    Ok(id)
}

/// Creates a user inside `tx`, with its audit event.
pub(crate) async fn add_in(tx: &mut Tx, user: NewUser, by: Option<&Actor>) -> AppResult<i64> {
    validate_login(&user.login)?;
    let password_hash = match user.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let now = clock::now();
    let id = db::users::insert(
        &mut *tx,
        &user.login,
        user.is_admin,
        password_hash.as_deref(),
        now,
    )
    .await
    .on_unique_violation(|| {
        AppError::Conflict(format!("a user named `{}` already exists", user.login))
    })?;
    db::audit::insert(
        &mut *tx,
        &AuditEvent {
            detail: Some(
                serde_json::json!({ "login": user.login, "admin": user.is_admin }).to_string(),
            ),
            ..super::audit_event(by, "user_add")
        },
        now,
    )
    .await?;
    Ok(id)
}

/// The user called `login`, or a 404 naming it.
pub async fn find<'c>(conn: impl Into<Conn<'c>>, login: &str) -> AppResult<UserRow> {
    let no_such_user = || {
        AppError::NotFound(format!(
            "there is no user `{}`; check the login (administrators see every user on \
             /admin/users, or with `cargohold user list`)",
            login.escape_debug()
        ))
    };
    validate_login(login).map_err(|_| no_such_user())?;
    db::users::find_by_login(conn, login)
        .await?
        .ok_or_else(no_such_user)
}

/// Every user; administrators only.
pub async fn list(app: &App, by: Option<&Actor>) -> AppResult<Vec<UserRow>> {
    super::require_instance_admin(by)?;
    Ok(db::users::list(app.db.read()).await?)
}

/// A change to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Stops every token of the user at once (and its web login).
    Disable,
    Enable,
    MakeAdmin,
    RemoveAdmin,
}

/// Applies `change` to `login`; `false` when the account already was that way.
/// The last administrator who can sign in cannot be disabled or demoted.
pub async fn change(
    app: &App,
    login: &str,
    change: UserChange,
    by: Option<&Actor>,
) -> AppResult<bool> {
    super::require_instance_admin(by)?;
    let mut tx = app.db.begin().await?;
    let user = find(&mut tx, login).await?;
    let now = clock::now();
    let changed = match change {
        UserChange::Disable => db::users::set_disabled(&mut tx, user.id, Some(now)).await?,
        UserChange::Enable => db::users::set_disabled(&mut tx, user.id, None).await?,
        UserChange::MakeAdmin => db::users::set_admin(&mut tx, user.id, true).await?,
        UserChange::RemoveAdmin => db::users::set_admin(&mut tx, user.id, false).await?,
    };
    if !changed {
        return Ok(false);
    }
    if matches!(change, UserChange::Disable | UserChange::RemoveAdmin)
        && db::users::count_active_admins(&mut tx).await? == 0
    {
        return Err(AppError::Conflict(format!(
            "`{}` is the last administrator who can sign in; make another user an administrator first",
            user.login
        )));
    }
    let action = match change {
        UserChange::Disable => "user_disable",
        UserChange::Enable => "user_enable",
        UserChange::MakeAdmin => "user_admin_grant",
        UserChange::RemoveAdmin => "user_admin_revoke",
    };
    db::audit::insert(
        &mut tx,
        &AuditEvent {
            detail: Some(serde_json::json!({ "login": user.login }).to_string()),
            ..super::audit_event(by, action)
        },
        now,
    )
    .await?;
    tx.commit().await?;
    app.auth_cache.forget_all();
    tracing::info!(user.login = %user.login, "{action}");
    Ok(true)
}

/// The longest login there is, in characters (all ASCII).
pub const MAX_LOGIN_LEN: usize = 64;

/// Logins: 1–64 ASCII letters, digits, `-` and `_`, starting with a letter or digit.
pub fn validate_login(login: &str) -> AppResult<()> {
    let ok = !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "the login `{login}` is invalid: use up to 64 letters, digits, `-` and `_`, starting with a letter or digit"
        )))
    }
}

pub(crate) async fn hash_password(password: String) -> AppResult<String> {
    if password.len() < 8 {
        return Err(AppError::BadRequest(
            "the password must have at least 8 characters".into(),
        ));
    }
    // argon2 is deliberately slow: keep it off the async threads.
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(|e| anyhow::anyhow!("password hashing stopped: {e}"))?
    .map_err(|e| AppError::Internal(anyhow::anyhow!("password hashing failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_short_ascii_words() {
        for good in ["admin", "alice", "ci-bot_2", "7eleven"] {
            assert!(validate_login(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "élise", "team:x", &"a".repeat(65)] {
            assert!(validate_login(bad).is_err(), "{bad}");
        }
    }
}
