//! Rebuilding derived data from the database: every crate's index file, its
//! highest available version and its search text, then the git index of each
//! registry that keeps one. Each crate is one short transaction, so the server
//! keeps serving while it runs; running it twice changes nothing the second time
//! (an unchanged index file keeps its ETag, an unchanged git tree makes no commit).

use std::sync::Arc;

use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::clock;
use crate::config::RegistryKind;
use crate::db::{self, audit::AuditEvent};
use crate::error::AppResult;

/// What a rebuild went through and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    pub crates: u64,
    /// Crates whose highest version or search text had to be corrected.
    pub corrected: u64,
    /// Git indexes that got a new commit (their tree differed, or `squash_git`).
    pub git_rewritten: u64,
}

/// How to rebuild.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Replace each git index's history with a single commit (clients fetch it as
    /// a forced update), as crates.io does from time to time.
    pub squash_git: bool,
}

/// Rebuilds the derived data of `registry` (every registry holding crates when
/// `None`); administrators only. `progress` hears of each crate done, with the total.
pub async fn rebuild(
    app: &App,
    registry: Option<&Registry>,
    by: Option<&Actor>,
    options: Options,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> AppResult<Rebuilt> {
    super::require_instance_admin(by)?;
    let registries: Vec<&Arc<Registry>> = app
        .registries()
        .filter(|r| r.kind != RegistryKind::Virtual)
        .filter(|r| registry.is_none_or(|only| only.id == r.id))
        .collect();
    let mut crates = Vec::new();
    for r in &registries {
        for krate in db::crates::list_all(app.db.read(), r.id).await? {
            crates.push((r.id, krate));
        }
    }
    let total = crates.len() as u64;
    let mut done = Rebuilt::default();
    for (registry_id, krate) in crates {
        let mut tx = app.db.begin().await?;
        db::crates::lock(&mut tx, krate.id).await?;
        let states = db::versions::list_states(&mut tx, krate.id).await?;
        let max = super::max_version(states.iter().map(|(num, yanked)| (num.as_str(), *yanked)));
        let now = clock::now();
        let mut corrected = false;
        if max != krate.max_version {
            db::crates::set_max_version(&mut tx, krate.id, max.as_deref(), now).await?;
            corrected = true;
        }
        corrected |= db::crates::rewrite_search_text(&mut tx, krate.id).await?;
        crate::index::refresh_crate(
            &mut tx,
            registry_id,
            krate.id,
            &krate.name.to_lowercase(),
            now,
        )
        .await?;
        tx.commit().await?;
        done.crates += 1;
        done.corrected += u64::from(corrected);
        progress(done.crates, total);
    }
    for r in registries.iter().filter(|r| r.git.is_some()) {
        let rewritten = crate::index::git::rebuild(app, r, options.squash_git)
            .await
            .map_err(|err| err.context(format!("rebuilding the git index of `{}`", r.name)))?;
        done.git_rewritten += u64::from(rewritten);
    }
    let mut tx = app.db.begin().await?;
    db::audit::insert(
        &mut tx,
        &AuditEvent {
            registry: registry.map(|r| r.name.as_str()),
            detail: Some(
                serde_json::json!({
                    "crates": done.crates,
                    "corrected": done.corrected,
                    "git_rewritten": done.git_rewritten,
                    "squash_git": options.squash_git,
                })
                .to_string(),
            ),
            ..super::audit_event(by, "reindex")
        },
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        crates = done.crates,
        corrected = done.corrected,
        git_rewritten = done.git_rewritten,
        "rebuilt derived data"
    );
    Ok(done)
}
