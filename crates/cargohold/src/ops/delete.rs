//! Deleting crates and versions, for the web page and the command line alike.
//!
//! The rules are crates.io's, for a registry of one organisation: an owner may
//! delete a crate within 72 hours of its first publish, and later only while
//! nobody else is likely to rely on it (one owner, few downloads, no crate of the
//! registry depending on it). An administrator of the registry may delete any
//! crate or single version; so may the operator on the command line. The name of a
//! deleted crate stays its former owners' (and administrators') for 24 hours.
//!
//! The rows go in one transaction, which records the deletion with an index
//! change number: other nodes and the git index writer learn from it that the
//! crate changed, though its index file row is gone. The `.crate` blobs stay for
//! `cargohold gc`: a republish of the same version with the same bytes writes the
//! same blob key before its row, and only gc's grace period tells that apart.

use std::fmt;

use cargohold_protocol::index::format_pubtime;

use crate::access::{self, Role};
use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::clock;
use crate::db::{self, Conn, Tx, crates::CrateRow, crates::NewDeletion};
use crate::error::{AppError, AppResult};

/// How long after its first publish an owner may delete a crate whatever else holds.
pub const OWNER_GRACE_SECS: i64 = 72 * 3600;
/// How long a deleted crate's name stays its former owners'.
pub const NAME_HELD_SECS: i64 = 24 * 3600;
/// Downloads per 30 days of a crate's age under which its owner may still delete it.
pub const MONTHLY_DOWNLOADS: i64 = 1000;
/// The longest reason kept with a deletion, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Why someone may delete a crate: the rule the crate page states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// The operator, on the command line.
    Operator,
    /// An administrator of the registry: any crate, any version.
    Admin,
    /// An owner, within 72 hours of the first publish (until then).
    NewCrate { until: i64 },
    /// An owner of a crate with one owner, few downloads and no dependents.
    Unused,
}

impl Allowed {
    /// Whether this rule also allows deleting single versions.
    pub fn versions_too(&self) -> bool {
        matches!(self, Allowed::Operator | Allowed::Admin)
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed::Operator => f.write_str("the operator may delete any crate or version"),
            Allowed::Admin => f.write_str(
                "as an administrator of the registry you may delete any crate or single version",
            ),
            Allowed::NewCrate { until } => write!(
                f,
                "as an owner you may delete this crate until {}, 72 hours after its first publish",
                format_pubtime(*until)
            ),
            Allowed::Unused => write!(
                f,
                "as its only owner you may delete this crate: it has fewer than {MONTHLY_DOWNLOADS} \
                 downloads per month of its age and no crate of the registry depends on it"
            ),
        }
    }
}

/// What an actor may do about deleting a crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed(Allowed),
    /// An owner whom a rule stops: the 403's message, which says what to do instead.
    Refused(String),
    /// Not an owner nor an administrator: nothing to offer.
    NotOwner,
}

/// What a deletion removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub registry: String,
    /// The crate's name as first published.
    pub name: String,
    /// The versions deleted, oldest first.
    pub versions: Vec<String>,
    /// Whether the crate itself is gone (all of it was asked for, or its last version).
    pub crate_deleted: bool,
}

impl fmt::Display for Deleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.crate_deleted {
            write!(
                f,
                "deleted crate `{}` from registry `{}` ({} version{}: {})",
                self.name,
                self.registry,
                self.versions.len(),
                if self.versions.len() == 1 { "" } else { "s" },
                self.versions.join(", ")
            )
        } else {
            write!(
                f,
                "deleted version {} of crate `{}` from registry `{}`",
                self.versions.join(", "),
                self.name,
                self.registry
            )
        }
    }
}

/// Decides whether `actor` may delete the whole of `krate` at `now`.
pub async fn verdict<'c>(
    app: &App,
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    actor: &Actor,
    krate: &CrateRow,
    now: i64,
) -> AppResult<Verdict> {
    let mut conn = conn.into();
    let Some(role) = access::role_in(&mut conn, registry, actor).await? else {
        return Ok(Verdict::NotOwner);
    };
    if role == Role::Admin {
        return Ok(Verdict::Allowed(Allowed::Admin));
    }
    if !db::owners::is_owner_or_team_member(&mut conn, krate.id, actor.user_id).await? {
        return Ok(Verdict::NotOwner);
    }
    let until = krate.created_at + OWNER_GRACE_SECS;
    if now < until {
        return Ok(Verdict::Allowed(Allowed::NewCrate { until }));
    }
    let mut stopped = Vec::new();
    let owners = db::owners::count_all(&mut conn, krate.id).await?;
    if owners > 1 {
        stopped.push(format!("it has {owners} owners (users and teams together)"));
    }
    // Months of age rounded up: a crate 31 days old has had two months' allowance.
    let months = (now - krate.created_at).div_euclid(30 * 86_400) + 1;
    if krate.downloads >= MONTHLY_DOWNLOADS * months {
        stopped.push(format!(
            "it was downloaded {} times in {months} month{} (the limit is {MONTHLY_DOWNLOADS} a month)",
            krate.downloads,
            if months == 1 { "" } else { "s" }
        ));
    }
    let crates_io_too = !super::setup::crates_io_stand_ins(app, registry).is_empty();
    let dependents = db::versions::dependent_crates(
        &mut conn,
        registry.id,
        krate.id,
        &krate.name,
        crates_io_too,
        6,
    )
    .await?;
    if !dependents.is_empty() {
        let mut names: Vec<String> = dependents
            .iter()
            .take(5)
            .map(|n| format!("`{n}`"))
            .collect();
        if dependents.len() > 5 {
            names.push("others".into());
        }
        stopped.push(format!(
            "other crates of the registry depend on it ({})",
            names.join(", ")
        ));
    }
    if stopped.is_empty() {
        return Ok(Verdict::Allowed(Allowed::Unused));
    }
    Ok(Verdict::Refused(format!(
        "crate `{name}` can no longer be deleted by its owners: it was first published more than 72 \
         hours ago, and {why}. An owner may delete a crate within 72 hours of its first publish, and \
         later only while it has one owner, fewer than {MONTHLY_DOWNLOADS} downloads per month of its \
         age and no dependents in the registry. Ask an administrator of registry `{registry}` to \
         delete it, or yank its versions (`cargo yank --registry {registry} {name}@VERSION`), which \
         keeps existing lockfiles building",
        name = krate.name,
        why = stopped.join(", and "),
        registry = registry.name,
    )))
}

/// Deletes crate `name` of `registry`, or only its `version`, as `by` (`None`: the
/// operator on the command line), recording `reason` in the audit log.
pub async fn delete(
    app: &App,
    registry: &Registry,
    by: Option<&Actor>,
    name: &str,
    version: Option<&str>,
    reason: Option<&str>,
) -> AppResult<Deleted> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(reason) = reason
        && reason.chars().count() > MAX_REASON_CHARS
    {
        return Err(AppError::BadRequest(format!(
            "the reason is {} characters long; keep it under {MAX_REASON_CHARS}",
            reason.chars().count()
        )));
    }
    require_local(app, registry, name).await?;
    if let Some(actor) = by {
        // Who may not see the registry learns nothing about its crates, not even which exist.
        actor.require_registry(&registry.name)?;
        access::require_role(app.db.read(), registry, actor, Role::Read).await?;
    }
    if let Some(version) = version
        && semver::Version::parse(version).is_err()
    {
        return Err(AppError::BadRequest(format!(
            "`{}` is not a version; give one like `1.0.2`",
            version.escape_debug()
        )));
    }
    let now = clock::now();
    let mut tx = app.db.begin().await?;
    let krate = super::lock_crate(&mut tx, registry, name).await?;
    if let Some(actor) = by {
        authorize(
            app,
            &mut tx,
            registry,
            actor,
            &krate,
            version.is_some(),
            now,
        )
        .await?;
    }
    let all = db::versions::list_deletable(&mut tx, krate.id).await?;
    let gone: Vec<_> = match version {
        None => all.clone(),
        Some(version) => {
            // A version given without its build metadata still names it, as for yank.
            let exact = all.iter().find(|v| v.num == version);
            let found = exact.or_else(|| {
                all.iter()
                    .find(|v| v.num.split_once('+').is_some_and(|(num, _)| num == version))
            });
            let found = found.ok_or_else(|| {
                AppError::NotFound(format!("crate `{}` has no version `{version}`", krate.name))
            })?;
            vec![found.clone()]
        }
    };
    let crate_deleted = gone.len() == all.len();
    let former_owners = db::owners::user_ids_with_teams(&mut tx, krate.id).await?;
    for v in &gone {
        db::versions::delete(&mut tx, v.id).await?;
    }
    let name_lower = krate.name.to_ascii_lowercase();
    if crate_deleted {
        db::crates::delete_empty(&mut tx, krate.id).await?;
    } else {
        super::refresh_crate_state(&mut tx, registry.id, krate.id, &name_lower, now).await?;
    }
    let versions: Vec<String> = gone.iter().map(|v| v.num.clone()).collect();
    let queued = record(
        &mut tx,
        registry,
        by,
        &krate,
        &versions,
        crate_deleted,
        &former_owners,
        reason,
        now,
    )
    .await?;
    tx.commit().await?;
    queued.wake();

    app.forget_deleted(registry, &krate.name, versions.iter().map(String::as_str));
    for v in &gone {
        app.download_cache.blobs.invalidate(&v.blob_key);
    }
    let deleted = Deleted {
        registry: registry.name.clone(),
        name: krate.name.clone(),
        versions,
        crate_deleted,
    };
    tracing::info!(
        krate.name = %krate.name,
        versions = %deleted.versions.join(" "),
        crate_deleted,
        user.login = by.map_or("operator", |a| a.login.as_str()),
        registry = %registry.name,
        reason = reason.unwrap_or("-"),
        "{deleted}"
    );
    Ok(deleted)
}

/// Fails unless `registry` keeps its own crates: a proxy's are evicted, and a
/// virtual registry's are deleted in the member holding them.
async fn require_local(app: &App, registry: &Registry, name: &str) -> AppResult<()> {
    if let Some(proxy) = &registry.proxy {
        return Err(AppError::BadRequest(format!(
            "`{}` is a cache of {}: its crates are not deleted here. To stop serving `{}` (or some \
             of its versions), add it to the proxy's `deny` list in the configuration (`deny = \
             [\"{}\"]` or `[\"{}@<1.2\"]`); to free space, `cargohold evict --registry {}` removes \
             what was used least (evicted crates come back when asked for)",
            registry.name,
            proxy.upstream.index_url,
            name.escape_debug(),
            name.escape_debug(),
            name.escape_debug(),
            registry.name
        )));
    }
    if let Some(members) = &registry.members {
        let mut holder = None;
        for member in &members.locals {
            if super::find_crate(app.db.read(), member, name).await.is_ok() {
                holder = Some(member.name.clone());
                break;
            }
        }
        let locals: Vec<&str> = members.locals.iter().map(|r| r.name.as_str()).collect();
        return Err(AppError::BadRequest(match holder {
            Some(member) => format!(
                "`{}` is a virtual registry; crate `{}` is kept in its member `{member}`: delete it \
                 there (`--registry {member}`)",
                registry.name,
                name.escape_debug()
            ),
            None => format!(
                "`{}` is a virtual registry; delete crates in the local member that holds them ({})",
                registry.name,
                if locals.is_empty() {
                    "it has none".to_owned()
                } else {
                    locals.join(", ")
                }
            ),
        }));
    }
    Ok(())
}

/// Fails with 403 unless `actor` may delete `krate` (`version_only`: one version of it).
async fn authorize(
    app: &App,
    tx: &mut Tx,
    registry: &Registry,
    actor: &Actor,
    krate: &CrateRow,
    version_only: bool,
    now: i64,
) -> AppResult<()> {
    let refusal = match verdict(app, &mut *tx, registry, actor, krate, now).await? {
        Verdict::Allowed(allowed) if !version_only || allowed.versions_too() => return Ok(()),
        Verdict::Allowed(_) => format!(
            "only an administrator of registry `{registry}` deletes single versions (crates.io \
             allows it to nobody); yank it instead (`cargo yank --registry {registry} \
             {name}@VERSION`), or delete the whole crate",
            registry = registry.name,
            name = krate.name
        ),
        Verdict::Refused(message) => message,
        Verdict::NotOwner => format!(
            "`{}` is not an owner of crate `{}` nor an administrator of registry `{}`, so may not \
             delete it",
            actor.login, krate.name, registry.name
        ),
    };
    let err = AppError::Forbidden(refusal);
    actor.log_refusal(&err, Some(&registry.name));
    Err(err)
}

/// Records the deletion (with an index change number), its audit event and its webhook deliveries.
#[expect(clippy::too_many_arguments)]
async fn record(
    tx: &mut Tx,
    registry: &Registry,
    by: Option<&Actor>,
    krate: &CrateRow,
    versions: &[String],
    crate_deleted: bool,
    former_owners: &[i64],
    reason: Option<&str>,
    now: i64,
) -> AppResult<super::webhooks::Queued> {
    let generation = db::index_files::next_generation(&mut *tx).await?;
    db::crates::insert_deletion(
        &mut *tx,
        &NewDeletion {
            registry_id: registry.id,
            name: &krate.name,
            canonical_name: &krate.canonical_name,
            versions,
            crate_deleted,
            former_owners,
            deleted_by: by.map(|a| a.user_id),
            reason,
            deleted_at: now,
            generation,
        },
    )
    .await?;
    let mut detail = serde_json::Map::new();
    if crate_deleted {
        detail.insert("versions".into(), versions.into());
    }
    if let Some(reason) = reason {
        detail.insert("reason".into(), reason.into());
    }
    let event = db::audit::AuditEvent {
        registry: Some(&registry.name),
        crate_name: Some(&krate.name),
        version: (!crate_deleted)
            .then(|| versions.first().map(String::as_str))
            .flatten(),
        detail: Some(serde_json::Value::Object(detail).to_string()),
        ..super::audit_event(
            by,
            if crate_deleted {
                "delete_crate"
            } else {
                "delete_version"
            },
        )
    };
    db::audit::insert(&mut *tx, &event, now).await?;
    let actor = by.map(|a| a.login.as_str());
    super::webhooks::enqueue(tx, registry, actor, &event, now).await
}

/// Fails with 403 when `name` (canonical) belonged to a crate deleted less than 24
/// hours ago and `actor` neither owned it nor administers the registry.
pub async fn check_name_free<'c>(
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    actor: &Actor,
    canonical: &str,
) -> AppResult<()> {
    let mut conn = conn.into();
    let now = clock::now();
    let Some(deletion) =
        db::crates::latest_crate_deletion(&mut conn, registry.id, canonical, now - NAME_HELD_SECS)
            .await?
    else {
        return Ok(());
    };
    if deletion.owned_by(actor.user_id)
        || access::role_in(&mut conn, registry, actor).await? == Some(Role::Admin)
    {
        return Ok(());
    }
    let err = AppError::Forbidden(format!(
        "the name `{}` belonged to a crate deleted at {}; it stays its former owners' until {}, \
         then anyone may publish it. Publish under another name, or ask an administrator of \
         registry `{}`",
        deletion.name,
        format_pubtime(deletion.deleted_at),
        format_pubtime(deletion.deleted_at + NAME_HELD_SECS),
        registry.name
    ));
    actor.log_refusal(&err, Some(&registry.name));
    Err(err)
}

/// What `actor` may do about deleting crate `name` of `registry`, for its page:
/// `None` for a registry whose crates are not deleted here, or a missing crate.
pub async fn verdict_for_page(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    name: &str,
) -> AppResult<Option<Verdict>> {
    if registry.proxy.is_some() || registry.members.is_some() {
        return Ok(None);
    }
    let pool = app.db.read();
    let Ok(krate) = super::find_crate(pool, registry, name).await else {
        return Ok(None);
    };
    Ok(Some(
        verdict(app, pool, registry, actor, &krate, clock::now()).await?,
    ))
}
