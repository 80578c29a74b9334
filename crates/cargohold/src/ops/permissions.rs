//! Registry permissions: which users and teams hold `read`, `publish` or `admin` in a registry.
//!
//! A registry without any grant is open to every user (`publish` for all); the
//! first grant closes it to everyone not granted. Instance administrators always
//! hold `admin`.

use serde::Serialize;

use crate::access::Role;
use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::clock;
use crate::config::RegistryKind;
use crate::db::{self, Tx, audit::AuditEvent, grants::Holder};
use crate::error::AppResult;

/// Who a grant is for, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    User(String),
    Team(String),
}

impl std::fmt::Display for Grantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grantee::User(login) => write!(f, "user `{login}`"),
            Grantee::Team(name) => write!(f, "team `{name}`"),
        }
    }
}

/// A registry's grants, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Permissions {
    pub registry: String,
    /// Without grants, every user may read and publish new crates.
    pub open_to_all_users: bool,
    pub grants: Vec<db::grants::GrantRow>,
}

/// The grants of `registry`; administrators only.
pub async fn list(app: &App, registry: &Registry, by: Option<&Actor>) -> AppResult<Permissions> {
    super::require_instance_admin(by)?;
    let grants = db::grants::list(app.db.read(), registry.id).await?;
    Ok(Permissions {
        registry: registry.name.clone(),
        open_to_all_users: grants.is_empty(),
        grants,
    })
}

/// Who may get into a registry, when a grant or a revocation changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessChange {
    /// The first grant: users without one lost their implicit `publish` role.
    Closed,
    /// The last grant went: every user now holds `publish` implicitly.
    Opened,
}

/// What a grant or a revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionChange {
    /// The role the grantee held before.
    pub previous: Option<String>,
    /// Set when the change opened the registry to every user or closed it to those without a grant.
    pub access: Option<AccessChange>,
    /// What [`Self::access`] means for users, in words: for the operator, the page and the API.
    pub notice: Option<String>,
}

/// Gives `grantee` `role` in `registry` (`None`: takes its role away), and says
/// whether that opened or closed the registry to users without a grant.
/// Administrators only.
pub async fn change(
    app: &App,
    registry: &Registry,
    grantee: &Grantee,
    role: Option<Role>,
    by: Option<&Actor>,
) -> AppResult<PermissionChange> {
    super::require_instance_admin(by)?;
    let mut tx = app.db.begin().await?;
    let holder = holder(&mut tx, grantee).await?;
    let closed_before = db::grants::any(&mut tx, registry.id).await?;
    let now = clock::now();
    let previous = match role {
        Some(role) => db::grants::set(&mut tx, registry.id, holder, role.as_str(), now).await?,
        None => db::grants::remove(&mut tx, registry.id, holder).await?,
    };
    let closed_after = db::grants::any(&mut tx, registry.id).await?;
    if previous.as_deref() != role.map(Role::as_str) {
        db::audit::insert(
            &mut tx,
            &AuditEvent {
                registry: Some(&registry.name),
                detail: Some(
                    serde_json::json!({
                        "grantee": grantee.to_string(),
                        "role": role.map(Role::as_str),
                        "previous": previous,
                    })
                    .to_string(),
                ),
                ..super::audit_event(
                    by,
                    if role.is_some() {
                        "permission_grant"
                    } else {
                        "permission_revoke"
                    },
                )
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    app.auth_cache.forget_all();
    let access = match (closed_before, closed_after) {
        (false, true) => Some(AccessChange::Closed),
        (true, false) => Some(AccessChange::Opened),
        _ => None,
    };
    Ok(PermissionChange {
        previous,
        access,
        notice: access.map(|access| access_notice(registry, access)),
    })
}

/// What opening or closing `registry` means for its users. A public registry's
/// index and downloads stay open to anyone either way; roles decide the rest.
fn access_notice(registry: &Registry, access: AccessChange) -> String {
    let name = &registry.name;
    if registry.kind != RegistryKind::Local {
        // Nobody publishes to a proxy or a virtual registry: grants decide reading.
        return match (access, registry.auth_required) {
            (AccessChange::Closed, true) => format!(
                "this is the first grant of `{name}`: users without a grant can no longer read it"
            ),
            (AccessChange::Opened, true) => {
                format!("this was the last grant of `{name}`: every user may now read it")
            }
            (_, false) => format!(
                "`{name}` is public, so anyone reads it whatever its grants; they decide who \
                 reads it once it is private (`auth-required = true`)"
            ),
        };
    }
    match (access, registry.auth_required) {
        (AccessChange::Closed, true) => format!(
            "this is the first grant of `{name}`: users without a grant can no longer read or publish there"
        ),
        (AccessChange::Closed, false) => format!(
            "this is the first grant of `{name}`: users without a grant can no longer publish there, \
             nor yank or change the owners of their crates (its index stays public)"
        ),
        (AccessChange::Opened, true) => format!(
            "this was the last grant of `{name}`: every user may now read and publish new crates there"
        ),
        (AccessChange::Opened, false) => format!(
            "this was the last grant of `{name}`: every user may now publish new crates there"
        ),
    }
}

async fn holder(tx: &mut Tx, grantee: &Grantee) -> AppResult<Holder> {
    Ok(match grantee {
        Grantee::User(login) => Holder::User(super::users::find(&mut *tx, login).await?.id),
        Grantee::Team(name) => Holder::Team(super::teams::find(&mut *tx, name).await?.id),
    })
}
