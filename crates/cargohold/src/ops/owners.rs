//! Crate owners: listing, adding and removing the users and teams who may publish, yank and change owners.

use crate::access::{self, CrateAction, Role};
use crate::app::{App, Registry};
use crate::auth::{Actor, Scope};
use crate::clock;
use crate::db::{self, Tx, audit::AuditEvent, owners::OwnerRow};
use crate::error::{AppError, AppResult};
use crate::virtual_registry;

/// Most logins one request may name.
const MAX_LOGINS_PER_REQUEST: usize = 20;

/// The owners of `name`: users, then teams as `team:NAME` (the way `cargo owner` names them).
pub async fn list(app: &App, registry: &Registry, name: &str) -> AppResult<Vec<OwnerRow>> {
    let krate = super::find_crate(app.db.read(), registry, name).await?;
    let mut owners = db::owners::list(app.db.read(), krate.id).await?;
    owners.extend(
        db::owners::list_teams(app.db.read(), krate.id)
            .await?
            .into_iter()
            .map(|team| OwnerRow {
                id: team.id,
                login: format!("{TEAM_PREFIX}{}", team.name),
                name: None,
            }),
    );
    Ok(owners)
}

/// The owners `cargo owner --list` shows for `name` asked of `registry`, whatever
/// its kind: a virtual registry keeps owners in its `publish-to` member, and a
/// proxy keeps none, since its crates' owners are the upstream's.
pub async fn list_for_reading(
    app: &App,
    registry: &Registry,
    name: &str,
) -> AppResult<Vec<OwnerRow>> {
    if let Some(proxy) = &registry.proxy {
        return Err(AppError::BadRequest(format!(
            "`{}` is a cache of {}, which keeps the owners of its crates{}",
            registry.name,
            proxy.upstream.shown_url(),
            where_upstream_shows_owners(proxy, name)
        )));
    }
    let keeper = app.write_registry(&registry.name)?;
    match list(app, keeper, name).await {
        Err(AppError::NotFound(detail)) => {
            let caches: Vec<&str> = registry
                .members
                .iter()
                .flat_map(|members| &members.proxies)
                .map(|member| member.name.as_str())
                .collect();
            if caches.is_empty() {
                return Err(AppError::NotFound(detail));
            }
            Err(AppError::NotFound(format!(
                "{detail}, the member of `{}` that keeps owners; crates that come from its cache ({}) have their owners upstream",
                registry.name,
                caches.join(", ")
            )))
        }
        other => other,
    }
}

/// Where a user reads the owners of `name` upstream (crates.io has a page for it).
fn where_upstream_shows_owners(proxy: &crate::proxy::Proxy, name: &str) -> String {
    let crates_io = proxy.upstream.index_url.host_str() == Some("index.crates.io");
    if crates_io && cargohold_protocol::name::validate_dependency_name(name, false).is_ok() {
        format!(": see https://crates.io/crates/{name}")
    } else {
        String::new()
    }
}

/// How `cargo owner --add` names a team.
pub const TEAM_PREFIX: &str = "team:";

/// A user or a team named in an owner change.
enum OwnerRef {
    User(db::users::UserRow),
    Team(db::teams::TeamRow),
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
    actor.require_registry(&registry.name)?;
    // Who may not read a private registry learns nothing about its crates, not even
    // which exist. A public one shows them to anyone; there, someone who is not an
    // owner is told so (`access::require_crate_access`).
    if registry.auth_required {
        access::require_role(app.db.read(), registry, actor, Role::Read).await?;
    }
    virtual_registry::require_served_from(app, actor, registry, name).await?;
    let mut tx = app.db.begin().await?;
    // Locked first, so two owners removing each other cannot both succeed.
    let krate = super::lock_crate(&mut tx, registry, name)
        .await
        .map_err(|err| virtual_registry::missing_through(actor, registry, name, err))?;
    actor.require(Scope::ChangeOwners, &registry.name, Some(&krate.name))?;
    access::require_crate_access(&mut tx, registry, actor, &krate, CrateAction::ChangeOwners)
        .await?;
    let now = clock::now();
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    // Users and teams made owners, to tell when one of them could not use it (no role here).
    let mut new_owners = Vec::new();
    let mut new_teams = Vec::new();
    for login in logins {
        let done = match (find_owner_ref(&mut tx, login).await?, change) {
            (OwnerRef::User(user), Change::Add) => {
                let done =
                    db::owners::add(&mut tx, krate.id, user.id, Some(actor.user_id), now).await?;
                if done && !user.is_admin {
                    new_owners.push((user.id, user.login.clone()));
                }
                (done, user.login)
            }
            (OwnerRef::User(user), Change::Remove) => (
                db::owners::remove(&mut tx, krate.id, user.id).await?,
                user.login,
            ),
            (OwnerRef::Team(team), Change::Add) => {
                // As on crates.io: only a member can hand a crate to a team.
                if !actor.acts_as_admin()
                    && !db::teams::is_member(&mut tx, team.id, actor.user_id).await?
                {
                    let err = AppError::Forbidden(format!(
                        "`{}` is not a member of team `{}` and cannot make it an owner",
                        actor.login, team.name
                    ));
                    actor.log_refusal(&err, Some(&registry.name));
                    return Err(err);
                }
                let done =
                    db::owners::add_team(&mut tx, krate.id, team.id, Some(actor.user_id), now)
                        .await?;
                if done {
                    new_teams.push((team.id, team.name.clone()));
                }
                (done, format!("{TEAM_PREFIX}{}", team.name))
            }
            (OwnerRef::Team(team), Change::Remove) => (
                db::owners::remove_team(&mut tx, krate.id, team.id).await?,
                format!("{TEAM_PREFIX}{}", team.name),
            ),
        };
        match done {
            (true, name) => changed.push(name),
            (false, name) => unchanged.push(name),
        }
    }
    // Teams cannot change owners, so a crate always keeps a user who can.
    if change == Change::Remove && db::owners::list(&mut tx, krate.id).await?.is_empty() {
        return Err(AppError::BadRequest(format!(
            "cannot remove every user owner of `{}`; add another user as owner first",
            krate.name
        )));
    }
    let action = match change {
        Change::Add => "owner_add",
        Change::Remove => "owner_remove",
    };
    let mut queued = super::webhooks::Queued::default();
    for login in &changed {
        let event = AuditEvent {
            actor_user_id: Some(actor.user_id),
            actor_token_id: actor.token_id,
            client_addr: actor.client_addr.as_deref(),
            action,
            registry: Some(&registry.name),
            crate_name: Some(&krate.name),
            version: None,
            detail: Some(serde_json::json!({ "owner": login }).to_string()),
        };
        db::audit::insert(&mut tx, &event, now).await?;
        let more =
            super::webhooks::enqueue(&mut tx, registry, Some(&actor.login), &event, now).await?;
        queued = queued.and(more);
    }
    tx.commit().await?;
    queued.wake();

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
        let why = match (change, unchanged.len()) {
            (Change::Add, 1) => "is already an owner",
            (Change::Add, _) => "are already owners",
            (Change::Remove, 1) => "is not an owner",
            (Change::Remove, _) => "are not owners",
        };
        message.push_str(&format!("; {} {why}", unchanged.join(", ")));
    }
    for (user_id, login) in new_owners {
        if access::granted_role(app.db.read(), registry, user_id)
            .await?
            .is_none()
        {
            message.push_str(&format!(
                "; note: `{login}` has no role in registry `{}`, so cannot publish or yank `{}` until \
                 an administrator grants one (`cargohold permission grant --registry {} --user {login} \
                 --role read` at least)",
                registry.name, krate.name, registry.name
            ));
        }
    }
    for (team_id, team) in new_teams {
        if !team_holds_a_role(app, registry, team_id).await? {
            message.push_str(&format!(
                "; note: team `{team}` has no role in registry `{}`, so its members without a role \
                 of their own cannot publish or yank `{}` until an administrator grants one \
                 (`cargohold permission grant --registry {} --team {team} --role read` at least)",
                registry.name, krate.name, registry.name
            ));
        }
    }
    tracing::info!(krate.name = %krate.name, user.login = %actor.login, "{message}");
    Ok(message)
}

/// Whether the members of team `team_id` hold a role in `registry` through it:
/// every user does in a registry without grants.
async fn team_holds_a_role(app: &App, registry: &Registry, team_id: i64) -> AppResult<bool> {
    if !db::grants::any(app.db.read(), registry.id).await? {
        return Ok(true);
    }
    let grants = db::teams::grants(app.db.read(), team_id).await?;
    Ok(grants
        .iter()
        .any(|(name, role)| *name == registry.name && Role::parse(role).is_ok()))
}

/// The user, or with `team:` the team, that `login` names; a 404 when there is none.
async fn find_owner_ref(tx: &mut Tx, login: &str) -> AppResult<OwnerRef> {
    Ok(match login.strip_prefix(TEAM_PREFIX) {
        Some(team) => OwnerRef::Team(super::teams::find(&mut *tx, team).await?),
        None => OwnerRef::User(super::users::find(&mut *tx, login).await?),
    })
}
