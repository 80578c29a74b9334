//! Virtual registries: one URL over ordered local and proxy members.
//!
//! A crate name resolves to the first member that has it, and everything about
//! that name (index file, downloads) comes from that member alone: versions are
//! never mixed. Local members are always asked before proxies (the configuration
//! insists on that order), and a name a local member holds under another
//! spelling (`acme_utils` for `acme-utils`) is not looked up upstream either, so
//! an internal crate can never be shadowed by a public one (dependency confusion).
//!
//! A private member serves only readers it would serve itself: to anyone else a
//! name it holds is missing (404), and is not looked for in later members either,
//! so a reader without a role in `internal` neither reads its crates through the
//! virtual registry nor gets a public crate of the same name in their place.

use std::sync::Arc;

use cargohold_protocol::name::canonical_name;

use crate::access;
use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::index::cache::{Cached, CachedFile};
use crate::{index, proxy};

/// The members of a virtual registry, in the order they are asked.
#[derive(Debug)]
pub struct Members {
    pub locals: Vec<Arc<Registry>>,
    pub proxies: Vec<Arc<Registry>>,
    /// The local member that receives publishes, yanks and owner changes.
    pub publish_to: Option<Arc<Registry>>,
}

impl Members {
    /// Every member, in the order they are asked.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Registry>> {
        self.locals.iter().chain(&self.proxies)
    }
}

/// What a virtual registry serves for one crate name.
pub enum Resolved<'m> {
    /// The member that serves the name, and its index file.
    Found(&'m Arc<Registry>, Arc<CachedFile>),
    /// No member serves it because a proxy's policy keeps it out; why, in words.
    Refused(Arc<str>),
    /// No member has it.
    Missing,
}

/// For whom a name is resolved.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// Someone let in by the virtual registry's gate (`None`: a public registry's
    /// anonymous reader), who sees only the members they may read.
    Request(Option<&'a Actor>),
    /// The operator, on the command line: every member.
    Operator,
}

impl Reader<'_> {
    async fn reads(self, app: &App, member: &Registry) -> AppResult<bool> {
        match self {
            Reader::Request(actor) => access::reads_member(app, member, actor).await,
            Reader::Operator => Ok(true),
        }
    }
}

/// The member that serves `name` (lowercase) to `reader` and its index file; when
/// none does, the first proxy's refusal, if a proxy's policy is why.
pub async fn resolve<'m>(
    app: &App,
    members: &'m Members,
    name: &str,
    reader: Reader<'_>,
) -> AppResult<Resolved<'m>> {
    for local in &members.locals {
        if let Cached::File(file) = index::sparse::lookup_local(app, local, name).await? {
            // Held here: served from here or from nowhere, whoever asks.
            if !reader.reads(app, local).await? {
                return Ok(Resolved::Missing);
            }
            return Ok(Resolved::Found(local, file));
        }
    }
    if held_locally_under_another_spelling(app, members, name).await? {
        return Ok(Resolved::Missing);
    }
    let mut resolved = Resolved::Missing;
    for member in &members.proxies {
        let Some(proxy) = &member.proxy else { continue };
        // A cache the reader may not read is not asked on their behalf.
        if !reader.reads(app, member).await? {
            continue;
        }
        // Through a registry that takes publishes, a name a proxy's policy refuses
        // outright is simply not there, rather than refused: cargo looks a crate up
        // before publishing it and stops at a refusal, so the rule that keeps an
        // internal name from going upstream (`deny = ["acme-*"]`, an `allow` list)
        // would otherwise keep every new internal crate it names from being published.
        if members.publish_to.is_some() && proxy.policy.refuses_name(name).is_some() {
            continue;
        }
        let cached = match proxy::index_file(app, member, proxy, name).await {
            Err(AppError::BadGateway(detail)) => {
                return Err(AppError::BadGateway(match &members.publish_to {
                    Some(target) => with_publish_advice(name, member, target, &detail),
                    None => detail,
                }));
            }
            cached => cached?,
        };
        match cached {
            Cached::File(file) => return Ok(Resolved::Found(member, file)),
            Cached::Refused { reason, .. } if matches!(resolved, Resolved::Missing) => {
                resolved = Resolved::Refused(reason);
            }
            Cached::Refused { .. } | Cached::Missing { .. } => {}
        }
    }
    Ok(resolved)
}

/// A proxy member's "the upstream could not be reached" for `name`, led by what to
/// do when it came from publishing a new crate: cargo looks the name up before
/// publishing, and while the upstream is away nobody can say whether it has that
/// name, so the lookup fails and the publish with it. `target`, where publishes
/// land, takes them directly (it checks what the cache knows, and lets a name
/// nothing is known about through). The advice comes first because cargo shows
/// only the first 512 bytes of an error's body.
fn with_publish_advice(name: &str, member: &Registry, target: &Registry, detail: &str) -> String {
    let (index, target) = (target.index_url.as_str(), target.name.as_str());
    format!(
        "`{name}` cannot be looked up while the upstream of `{member}` is unreachable (publishing \
         it as a new crate? publish to `{target}` directly meanwhile: [registries.{target}] \
         index = '{index}', then cargo publish --registry {target}): {detail}",
        member = member.name,
    )
}

/// Whether a local member has a crate whose canonical name is `name`'s (`-` ≡ `_`).
async fn held_locally_under_another_spelling(
    app: &App,
    members: &Members,
    name: &str,
) -> AppResult<bool> {
    if !name.contains(['-', '_']) {
        // Index paths are lowercase: without `-` or `_` there is no other spelling.
        return Ok(false);
    }
    let canonical = canonical_name(name);
    for local in &members.locals {
        if db::crates::find_by_canonical(app.db.read(), local.id, &canonical)
            .await?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A crate missing from `member`, the `publish-to` member that a write sent through
/// a virtual registry reached, said in the terms of the registry the client used:
/// it may well serve that name from another member (a cache of crates.io), whose
/// crates are not changed here. Other errors, and writes sent to `member` itself, pass as they are.
pub fn missing_through(actor: &Actor, member: &Registry, name: &str, err: AppError) -> AppError {
    match (err, actor.through_to(&member.name)) {
        (AppError::NotFound(_), Some(through)) => AppError::NotFound(format!(
            "`{}` is not one of the crates published through `{}` (they are kept in `{}`); a \
             crate it serves from another member, such as its cache of crates.io, is not \
             yanked or given owners here, but where it is published",
            name.escape_debug(),
            through.name,
            member.name
        )),
        (err, _) => err,
    }
}

/// Fails unless the virtual registry a write to `member` went through (if any)
/// serves `name` from `member`. It serves a name from its first local member that
/// holds it, so with `a` before `internal`, a crate `x` of `a` is the `x` its users
/// get, and a write through it to `internal`'s `x` (or a new `x` there) would change
/// a crate they never get. Said with the member that serves it when the writer may
/// read that member; otherwise without naming it.
pub async fn require_served_from(
    app: &App,
    actor: &Actor,
    member: &Registry,
    name: &str,
) -> AppResult<()> {
    let Some(through) = actor.through_to(&member.name) else {
        return Ok(());
    };
    let Some(members) = app
        .find_registry(&through.name)
        .and_then(|v| v.members.as_ref())
    else {
        return Ok(());
    };
    let earlier = members.locals.iter().take_while(|l| l.id != member.id);
    let canonical = canonical_name(name);
    for local in earlier {
        let Some(held) = db::crates::find_by_canonical(app.db.read(), local.id, &canonical).await?
        else {
            continue;
        };
        let err = if access::reads_member(app, local, Some(actor)).await? {
            AppError::Conflict(format!(
                "`{}` serves `{}` from `{}`, its member before `{}` (where what is sent to `{}` \
                 goes), so this would change a crate its users never get; to change the crate \
                 they get, use `--registry {}`",
                through.name, held.name, local.name, member.name, through.name, local.name
            ))
        } else {
            AppError::Forbidden(format!(
                "`{}` serves `{}` from one of its members before `{}` (where what is sent to \
                 `{}` goes), which you cannot read: choose another name, or ask an administrator",
                through.name,
                name.escape_debug(),
                member.name,
                through.name
            ))
        };
        actor.log_refusal(&err, Some(&member.name));
        return Err(err);
    }
    Ok(())
}
