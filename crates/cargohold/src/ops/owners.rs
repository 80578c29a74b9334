//! Crate owners: listing, adding and removing the users who may publish, yank and change owners.

use crate::app::{App, Registry};
use crate::auth::{Actor, Scope};
use crate::clock;
use crate::db::{self, audit::AuditEvent, owners::OwnerRow};
use crate::error::{AppError, AppResult};

/// Most logins one request may name.
const MAX_LOGINS_PER_REQUEST: usize = 20;

/// The owners of `name`.
pub async fn list(app: &App, registry: &Registry, name: &str) -> AppResult<Vec<OwnerRow>> {
    let krate = super::find_crate(app.db.read(), registry, name).await?;
    Ok(db::owners::list(app.db.read(), krate.id).await?)
}

/// Adds or removes owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
}

/// Applies `change` for every login in `logins`, all or nothing, and returns the message for cargo.
pub async fn change(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    name: &str,
    logins: &[String],
    change: Change,
) -> AppResult<String> {
    if logins.is_empty() {
        return Err(AppError::BadRequest("name at least one user".into()));
    }
    if logins.len() > MAX_LOGINS_PER_REQUEST {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_LOGINS_PER_REQUEST} owners can be changed at once"
        )));
    }
    if let Some(team) = logins.iter().find(|l| l.contains(':')) {
        return Err(AppError::BadRequest(format!(
            "`{team}` is not a user login; only users can own crates here"
        )));
    }
    let mut tx = app.db.begin().await?;
    // Locked first, so two owners removing each other cannot both succeed.
    let krate = super::lock_crate(&mut tx, registry, name).await?;
    actor.require(Scope::ChangeOwners, &registry.name, Some(&krate.name))?;
    super::require_owner(&mut tx, actor, &krate).await?;
    let now = clock::now();
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    for login in logins {
        let no_such_user =
            || AppError::NotFound(format!("there is no user `{}`", login.escape_debug()));
        crate::ops::users::validate_login(login).map_err(|_| no_such_user())?;
        let user = db::users::find_by_login(&mut tx, login)
            .await?
            .ok_or_else(no_such_user)?;
        let done = match change {
            Change::Add => {
                db::owners::add(&mut tx, krate.id, user.id, Some(actor.user_id), now).await?
            }
            Change::Remove => db::owners::remove(&mut tx, krate.id, user.id).await?,
        };
        if done {
            changed.push(user.login);
        } else {
            unchanged.push(user.login);
        }
    }
    if change == Change::Remove && db::owners::list(&mut tx, krate.id).await?.is_empty() {
        return Err(AppError::BadRequest(format!(
            "cannot remove every owner of `{}`; add another owner first",
            krate.name
        )));
    }
    let action = match change {
        Change::Add => "owner_add",
        Change::Remove => "owner_remove",
    };
    for login in &changed {
        db::audit::insert(
            &mut tx,
            &AuditEvent {
                actor_user_id: Some(actor.user_id),
                actor_token_id: actor.token_id,
                action,
                registry: Some(&registry.name),
                crate_name: Some(&krate.name),
                version: None,
                detail: Some(serde_json::json!({ "owner": login }).to_string()),
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;

    let mut message = match (change, changed.is_empty()) {
        (Change::Add, false) => format!(
            "added {} as owner(s) of `{}`",
            changed.join(", "),
            krate.name
        ),
        (Change::Remove, false) => format!(
            "removed {} from the owners of `{}`",
            changed.join(", "),
            krate.name
        ),
        (_, true) => format!("no change to the owners of `{}`", krate.name),
    };
    if !unchanged.is_empty() {
        let why = match change {
            Change::Add => "already an owner",
            Change::Remove => "not an owner",
        };
        message.push_str(&format!("; {} {why}", unchanged.join(", ")));
    }
    tracing::info!(krate.name = %krate.name, user.login = %actor.login, "{message}");
    Ok(message)
}
