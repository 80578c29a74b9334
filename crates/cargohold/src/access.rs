//! Who may do what in a registry: roles from grants, ownership of crates, and the
//! gate in front of every read of a private registry.
//!
//! A token says what its holder asked it to allow ([`Actor::require`]); the rules
//! here say what the user may do at all. A request needs both.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;

use crate::app::{App, Registry};
use crate::auth::{self, Actor, Asking, Scope};
use crate::db::{self, Conn, crates::CrateRow};
use crate::error::{AppError, AppResult, Refusal};

/// A user's role in a registry; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read the index, download, search (what matters in a private registry).
    Read,
    /// Publish crates with new names.
    Publish,
    /// Act as an owner of every crate of the registry.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Read, Role::Publish, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Publish => "publish",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> AppResult<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text.trim())
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "`{}` is not a role; use read, publish or admin",
                    text.escape_debug()
                ))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role `actor` holds in `registry`: administrators of the instance hold
/// `admin` everywhere when their token has the `admin` scope (an administrator's
/// everyday token is an everyday user's); a registry without grants gives every
/// user `publish`; otherwise the highest role granted to the user or one of its teams.
pub async fn role_in<'c>(
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    actor: &Actor,
) -> AppResult<Option<Role>> {
    if actor.acts_as_admin() {
        return Ok(Some(Role::Admin));
    }
    granted_role(conn, registry, actor.user_id).await
}

/// The role a registry's grants give `user_id`: `publish` when it has none.
pub async fn granted_role<'c>(
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    user_id: i64,
) -> AppResult<Option<Role>> {
    let mut conn = conn.into();
    if !db::grants::any(&mut conn, registry.id).await? {
        return Ok(Some(Role::Publish));
    }
    let roles = db::grants::roles_of(&mut conn, registry.id, user_id).await?;
    Ok(roles.iter().filter_map(|r| Role::parse(r).ok()).max())
}

/// [`role_in`] for the reads of a private registry, remembered for the next
/// reads (`auth_cache.rs`); with `reuse`, a role looked up within a second is
/// taken from memory.
async fn role_for_reading(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    reuse: bool,
) -> AppResult<Option<Role>> {
    if actor.acts_as_admin() {
        return Ok(Some(Role::Admin));
    }
    if reuse && let Some(role) = app.auth_cache.role(actor.user_id, registry.id) {
        return Ok(role);
    }
    let epoch = app.auth_cache.epoch();
    let role = granted_role(app.db.read(), registry, actor.user_id).await?;
    app.auth_cache
        .remember_role(actor.user_id, registry.id, role, epoch);
    Ok(role)
}

/// Fails with 403 unless `actor` holds at least `wanted` in `registry`; the refusal is logged.
pub async fn require_role<'c>(
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    actor: &Actor,
    wanted: Role,
) -> AppResult<Role> {
    let held = role_in(conn, registry, actor).await?;
    check_role(registry, actor, held, wanted)
        .inspect_err(|err| actor.log_refusal(err, Some(&registry.name)))
}

/// 403 unless `held` is at least `wanted`, saying how to get it. When the request
/// went through a virtual registry, the cargo commands name it (the registry the
/// developer uses) and the grant names `registry`, the member that holds roles.
fn check_role(
    registry: &Registry,
    actor: &Actor,
    held: Option<Role>,
    wanted: Role,
) -> AppResult<Role> {
    let login = &actor.login;
    let name = &registry.name;
    // Through `all`: "registry `internal` (which keeps the crates published through `all`)".
    let (place, used, login_url) = match actor.through_to(name) {
        Some(through) => (
            format!(
                "registry `{name}` (which keeps the crates published through `{}`)",
                through.name
            ),
            through.name.as_str(),
            through.login_url.as_str(),
        ),
        None => (
            format!("registry `{name}`"),
            name.as_str(),
            registry.login_url.as_str(),
        ),
    };
    let grant =
        format!("cargohold permission grant --registry {name} --user {login} --role {wanted}");
    match held {
        Some(role) if role >= wanted => Ok(role),
        // Most often a developer whose stored token is not theirs, or who was never
        // given a role: the answer says what they can do about it.
        None if wanted == Role::Read => Err(AppError::Forbidden(format!(
            "`{login}` has no role in {place}, and {needs}: ask an administrator for a role (they \
             can grant it with `{grant}`); if this token is not yours, run `cargo logout \
             --registry {used}`, then `cargo login --registry {used}` with a token of your own \
             from {login_url}",
            needs = if registry.auth_required {
                "reading it needs `read`"
            } else {
                "acting on its crates needs `read` at least"
            },
        ))),
        held => Err(AppError::Forbidden(format!(
            "`{login}` {} in {place} and needs `{wanted}`; an administrator can grant it with `{grant}`",
            match held {
                Some(role) => format!("holds the role `{role}`"),
                None => "has no role".to_owned(),
            },
        ))),
    }
}

/// How a crate may be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrateAction {
    /// Publish a new version, yank or unyank: user owners and members of owning teams.
    Maintain,
    /// Change the owners: user owners only, as on crates.io.
    ChangeOwners,
}

/// Fails with 403 unless `actor` may do `action` on `krate`: as an owner (see
/// [`CrateAction`]) holding at least `read`, or as an `admin` of the registry.
///
/// In a private registry a user without `read` is told only that (they learn
/// nothing of its crates); in a public one, which anyone reads, someone who is not an
/// owner is told so first, as that is what keeps them out.
pub async fn require_crate_access<'c>(
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    actor: &Actor,
    krate: &CrateRow,
    action: CrateAction,
) -> AppResult<()> {
    let mut conn = conn.into();
    let held = role_in(&mut conn, registry, actor).await?;
    if held == Some(Role::Admin) {
        return Ok(());
    }
    let refused = |err: AppError| {
        actor.log_refusal(&err, Some(&registry.name));
        err
    };
    if registry.auth_required {
        check_role(registry, actor, held, Role::Read).map_err(refused)?;
    }
    let owner = match action {
        CrateAction::Maintain => {
            db::owners::is_owner_or_team_member(&mut conn, krate.id, actor.user_id).await?
        }
        CrateAction::ChangeOwners => {
            db::owners::is_owner(&mut conn, krate.id, actor.user_id).await?
        }
    };
    if !owner {
        return Err(refused(not_an_owner(registry, actor, krate, action)));
    }
    // An owner still needs a role where the registry's grants give none.
    check_role(registry, actor, held, Role::Read).map_err(refused)?;
    Ok(())
}

/// The 403 of [`require_crate_access`] when `actor` owns nothing of `krate`: which
/// cargo command fixes it, naming the registry the client used (without
/// `--registry`, cargo would ask crates.io).
fn not_an_owner(
    registry: &Registry,
    actor: &Actor,
    krate: &CrateRow,
    action: CrateAction,
) -> AppError {
    let (login, name) = (&actor.login, &krate.name);
    let registry = actor.shown_registry(&registry.name);
    AppError::Forbidden(match action {
        CrateAction::Maintain => format!(
            "crate `{name}` exists and `{login}` is not one of its owners; an owner can add you \
             with `cargo owner --add {login} {name} --registry {registry}`"
        ),
        CrateAction::ChangeOwners => format!(
            "`{login}` is not one of the user owners of crate `{name}` (members of owning teams \
             may publish and yank, but only user owners change owners); \
             `cargo owner --list {name} --registry {registry}` shows who is"
        ),
    })
}

/// The gate in front of every read of a registry (index, downloads, search,
/// owner lists): nothing for a public registry; for a private one, a valid token
/// with the `read` scope whose user holds at least `read`. Every refusal is
/// logged once, here, with its reason and whose it was.
///
/// Without a token the answer is a 401 that names no crate, with the challenge
/// cargo needs to retry with one.
pub async fn require_read(
    app: &App,
    registry: &Registry,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> AppResult<Option<Actor>> {
    require_read_with(app, registry, auth::presented_token(headers), client).await
}

/// The registry named `name`, once a request of `path` (which a refusal's log
/// line names) with `headers` from `peer` may read it, and its reader: public
/// registries at once (no reader), private ones after [`require_read`]. The hot
/// paths' gate.
pub async fn readable_registry_at<'a>(
    app: &'a App,
    name: &str,
    path: Option<&(dyn fmt::Display + Sync)>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> AppResult<(&'a Arc<Registry>, Option<Actor>)> {
    let registry = app.registry(name)?;
    if !registry.auth_required {
        return Ok((registry, None));
    }
    let client = auth::client_ip(app, headers, peer);
    let token = auth::presented_token(headers);
    // Boxed, like every branch a cache hit does not take: the futures of the
    // hot routes stay small (docs/performance.md).
    let actor = Box::pin(read_gate(app, registry, token, client, path)).await?;
    Ok((registry, Some(actor)))
}

/// Whether `reader`, let in by a virtual registry's gate, may read its `member`
/// too: anyone a public member, and a private one only with a role there. A
/// member a reader may not read is hidden from them, not refused, so nothing is
/// logged: the one URL over it gives no role back that the member withholds.
pub async fn reads_member(app: &App, member: &Registry, reader: Option<&Actor>) -> AppResult<bool> {
    if !member.auth_required {
        return Ok(true);
    }
    let Some(reader) = reader else {
        return Ok(false);
    };
    let held = role_for_reading(app, member, reader, true).await?;
    Ok(held.is_some_and(|role| role >= Role::Read))
}

/// The registry named `name` for a request of its `config.json` (`path`):
/// public registries at once; a private one for any valid token, whatever its
/// scopes and its user's roles. The file holds no crate data, and cargo reads it
/// with the stored token before `cargo login` stores a new one: refusing a valid
/// token without a role there would leave `cargo logout` as the only way out.
/// Without a token, the same 401 challenge as every read.
pub async fn config_readable<'a>(
    app: &'a App,
    name: &str,
    path: &(dyn fmt::Display + Sync),
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> AppResult<&'a Arc<Registry>> {
    let registry = app.registry(name)?;
    if registry.auth_required {
        let asking = Asking {
            client: auth::client_ip(app, headers, peer),
            registry: Some(registry),
            path: Some(path),
        };
        let token = auth::presented_token(headers);
        Box::pin(token_holder(app, registry, token, &asking)).await?;
    }
    Ok(registry)
}

/// [`config_readable`] from memory: a public registry, or a private one shown a
/// token found valid within `auth_cache::FRESH_FOR`. `None` when only
/// [`config_readable`] can tell.
pub fn config_readable_from_memory<'a>(
    app: &'a App,
    name: &str,
    authorization: Option<&[u8]>,
) -> Option<&'a Arc<Registry>> {
    let registry = app.find_registry(name)?;
    if !registry.auth_required {
        return Some(registry);
    }
    let token = auth::token_in_authorization(authorization?)?;
    auth::valid_in_memory(app, token).then_some(registry)
}

/// The registry called `name` when memory alone says a request showing
/// `authorization` may read it: a public one, or a private one whose reader's
/// token and role were checked within `auth_cache::FRESH_FOR`. `None` when only
/// [`readable_registry`] can tell (and answer 401, 403 or 429 if need be).
pub fn readable_from_memory<'a>(
    app: &'a App,
    name: &str,
    authorization: Option<&[u8]>,
) -> Option<&'a Arc<Registry>> {
    let registry = app.find_registry(name)?;
    if !registry.auth_required {
        return Some(registry);
    }
    // A token found valid is never held back by the failed-token limit, so
    // memory needs no look at the client's address.
    let token = auth::token_in_authorization(authorization?)?;
    let (user_id, acts_as_admin) = auth::registry_reader_from_memory(app, token, &registry.name)?;
    let held = if acts_as_admin {
        Some(Role::Admin)
    } else {
        app.auth_cache.role(user_id, registry.id)?
    };
    // As `check_role`, without building the refusal: a refusal takes the full path.
    held.is_some_and(|role| role >= Role::Read)
        .then_some(registry)
}

/// Does the checks of [`readable_registry`] that fill the memory
/// [`readable_from_memory`] reads, without counting a failure against anyone
/// (the request then goes the full way, which counts it). False when they fail.
///
/// Both checks go to the database and are remembered anew, even when memory
/// still holds them: this runs after memory could not answer, often because
/// a check had just gone stale, and one found fresh here could go stale
/// before the answer reads it, which would send the connection to the slower
/// path for good (9 of wrk's 64 connections in one 10 s run on a private
/// registry, docs/performance.md).
pub async fn warm_reader(app: &App, registry: &Registry, authorization: Option<&[u8]>) -> bool {
    if !registry.auth_required {
        return true;
    }
    let Some(token) = authorization.and_then(auth::token_in_authorization) else {
        return false;
    };
    let Some(actor) = Box::pin(auth::check_reader(app, token)).await else {
        return false;
    };
    if actor.check(Scope::Read, &registry.name, None).is_err() {
        return false;
    }
    match Box::pin(role_for_reading(app, registry, &actor, false)).await {
        Ok(held) => check_role(registry, &actor, held, Role::Read).is_ok(),
        Err(_) => false,
    }
}

/// [`require_read`] for a token found elsewhere than cargo's `Authorization` header
/// (git sends it as the password of HTTP basic authentication).
pub async fn require_read_with(
    app: &App,
    registry: &Registry,
    token: Option<&str>,
    client: Option<IpAddr>,
) -> AppResult<Option<Actor>> {
    if !registry.auth_required {
        return Ok(None);
    }
    read_gate(app, registry, token, client, None)
        .await
        .map(Some)
}

/// The read gate of the private `registry`: the holder of a valid `token` with
/// the `read` scope and role. Each refusal is logged once, with `path` when given.
async fn read_gate(
    app: &App,
    registry: &Registry,
    token: Option<&str>,
    client: Option<IpAddr>,
    path: Option<&(dyn fmt::Display + Sync)>,
) -> AppResult<Actor> {
    let asking = Asking {
        client,
        registry: Some(registry),
        path,
    };
    let actor = token_holder(app, registry, token, &asking).await?;
    let held = match actor.check(Scope::Read, &registry.name, None) {
        Ok(()) => role_for_reading(app, registry, &actor, true).await?,
        Err(err) => return Err(refused_reader(&actor, err, &asking)),
    };
    check_role(registry, &actor, held, Role::Read)
        .map_err(|err| refused_reader(&actor, err, &asking))?;
    Ok(actor)
}

/// The holder of the valid `token` shown to the private `registry`: without
/// one, the 401 challenge cargo retries after; a token refused is answered and
/// logged by `auth::authenticate_reader`.
async fn token_holder(
    app: &App,
    registry: &Registry,
    token: Option<&str>,
    asking: &Asking<'_>,
) -> AppResult<Actor> {
    let Some(token) = token else {
        let err = AppError::AuthRequired {
            message: format!(
                "registry `{}` is private: configure a credential provider \
                 (`[registry] global-credential-providers = [\"cargo:token\"]`) and \
                 run `cargo login --registry {}` with a token from {}",
                registry.name, registry.name, registry.login_url
            ),
            login_url: registry.login_url.clone(),
        };
        // Cargo's first request to a private registry comes without a token and is
        // retried with one after this answer: a line per cargo command.
        Refusal {
            reason: "no token".into(),
            path: asking.path.map(ToString::to_string),
            ..Refusal::of(&err)
                .registry(Some(&registry.name))
                .client(asking.client)
        }
        .log();
        return Err(err);
    };
    auth::authenticate_reader(app, token, asking).await
}

/// `err`, a refusal of `actor`'s read, once logged with the path asked for.
fn refused_reader(actor: &Actor, err: AppError, asking: &Asking<'_>) -> AppError {
    Refusal {
        path: asking.path.map(ToString::to_string),
        ..actor.refusal(&err, asking.registry.map(|r| r.name.as_str()))
    }
    .log();
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse_from_their_names() {
        assert!(Role::Read < Role::Publish && Role::Publish < Role::Admin);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("owner").is_err());
    }
}
