//! Yanking and unyanking: the version stays downloadable, but the resolver skips it for new lockfiles.

use cargohold_protocol::IndexEntry;

use crate::access::{self, CrateAction, Role};
use crate::app::{App, Registry};
use crate::auth::{Actor, Scope};
use crate::clock;
use crate::db::{self, audit::AuditEvent};
use crate::error::{AppError, AppResult};
use crate::virtual_registry;

/// Sets the yank state of `name@version`. Asking for the state it already has is not an error.
pub async fn set_yanked(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    name: &str,
    version: &str,
    yanked: bool,
) -> AppResult<()> {
    actor.require_registry(&registry.name)?;
    // Who may not read a private registry learns nothing about its crates, not even
    // which exist. A public one shows them to anyone; there, someone who is not an
    // owner is told so (`access::require_crate_access`).
    if registry.auth_required {
        access::require_role(app.db.read(), registry, actor, Role::Read).await?;
    }
    virtual_registry::require_served_from(app, actor, registry, name).await?;
    let mut tx = app.db.begin().await?;
    let krate = super::lock_crate(&mut tx, registry, name)
        .await
        .map_err(|err| virtual_registry::missing_through(actor, registry, name, err))?;
    actor.require(Scope::Yank, &registry.name, Some(&krate.name))?;
    access::require_crate_access(&mut tx, registry, actor, &krate, CrateAction::Maintain).await?;
    let now = clock::now();
    if semver::Version::parse(version).is_err() {
        return Err(AppError::BadRequest(format!(
            "`{}` is not a version; give one like `1.0.2`",
            version.escape_debug()
        )));
    }
    // A version given without its build metadata (`cargo yank foo@1.0.0` for `1.0.0+x`) still names it.
    let row = match db::versions::find(&mut tx, krate.id, version).await? {
        Some(row) => Some(row),
        None => db::versions::find_without_build(&mut tx, krate.id, version).await?,
    };
    let row = row.ok_or_else(|| {
        AppError::NotFound(format!("crate `{}` has no version `{version}`", krate.name))
    })?;
    if row.yanked == yanked {
        return Ok(());
    }

    let mut entry: IndexEntry = serde_json::from_str(&row.index_line).map_err(|e| {
        anyhow::anyhow!(
            "stored index line of {}@{} is unreadable: {e}",
            krate.name,
            row.num
        )
    })?;
    entry.yanked = yanked;
    db::versions::set_yanked(&mut tx, row.id, yanked, &entry.to_line()).await?;
    super::refresh_crate_state(
        &mut tx,
        registry.id,
        krate.id,
        &krate.name.to_ascii_lowercase(),
        now,
    )
    .await?;
    let action = if yanked { "yank" } else { "unyank" };
    let event = AuditEvent {
        actor_user_id: Some(actor.user_id),
        actor_token_id: actor.token_id,
        client_addr: actor.client_addr.as_deref(),
        action,
        registry: Some(&registry.name),
        crate_name: Some(&krate.name),
        version: Some(&row.num),
        detail: None,
    };
    db::audit::insert(&mut tx, &event, now).await?;
    let queued =
        super::webhooks::enqueue(&mut tx, registry, Some(&actor.login), &event, now).await?;
    tx.commit().await?;
    queued.wake();
    registry.index_changed(&krate.name.to_ascii_lowercase());
    tracing::info!(
        krate.name = %krate.name,
        version.num = %row.num,
        user.login = %actor.login,
        registry = %registry.name,
        "{action} `{}@{}`",
        krate.name,
        row.num
    );
    Ok(())
}
