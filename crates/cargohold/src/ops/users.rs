//! Users: creating accounts (from the command line for now).

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;

use crate::app::App;
use crate::clock;
use crate::db::{self, Tx, audit::AuditEvent};
use crate::error::{AppError, AppResult, ResultExt};

/// A new account.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub login: String,
    pub is_admin: bool,
    /// For the web login; hashed with argon2 before it is stored.
    pub password: Option<String>,
}

/// Creates a user and returns its id.
pub async fn add(app: &App, user: NewUser, actor_user_id: Option<i64>) -> AppResult<i64> {
    let mut tx = app.db.begin().await?;
    let id = add_in(&mut tx, user, actor_user_id).await?;
    tx.commit().await?;
    Ok(id)
}

/// Creates a user inside `tx`, with its audit event.
pub(crate) async fn add_in(
    tx: &mut Tx,
    user: NewUser,
    actor_user_id: Option<i64>,
) -> AppResult<i64> {
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
            actor_user_id,
            action: "user_add",
            detail: Some(
                serde_json::json!({ "login": user.login, "admin": user.is_admin }).to_string(),
            ),
            ..AuditEvent::default()
        },
        now,
    )
    .await?;
    Ok(id)
}

/// Logins: 1–64 ASCII letters, digits, `-` and `_`, starting with a letter or digit.
pub fn validate_login(login: &str) -> AppResult<()> {
    let ok = !login.is_empty()
        && login.len() <= 64
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

async fn hash_password(password: String) -> AppResult<String> {
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
