//! Use cases shared by the HTTP API, the web pages and the command line.
//!
//! Each function here is one thing a user does (publish, yank, add an owner…),
//! split into named phases. Handlers turn HTTP into calls to these; the CLI
//! calls them directly. Nothing below this layer knows about HTTP.

use semver::Version;

use crate::app::Registry;
use crate::auth::Actor;
use crate::db::{self, Conn, Tx, audit::AuditEvent, crates::CrateRow};
use crate::error::{AppError, AppResult};
use crate::index;

pub mod advisories;
pub mod audit;
pub mod backup;
pub mod browse;
pub mod check;
pub mod crates_io_style;
pub mod delete;
pub mod download;
pub mod evict;
pub mod gc;
pub mod import;
pub mod mirror;
pub mod overview;
pub mod owners;
pub mod permissions;
pub mod proxy_cache;
pub mod publish;
pub mod reindex;
pub mod search;
pub mod sessions;
pub mod setup;
pub mod shadowing;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod yank;

/// An audit event for `action` done by `by` (`None`: an operator on the command line).
fn audit_event<'a>(by: Option<&'a Actor>, action: &'a str) -> AuditEvent<'a> {
    AuditEvent {
        actor_user_id: by.map(|a| a.user_id),
        actor_token_id: by.and_then(|a| a.token_id),
        client_addr: Some(by.map_or("cli", |a| a.client_addr.as_deref().unwrap_or("-"))),
        action,
        ..AuditEvent::default()
    }
}

/// Fails with 403 unless `by` may administer the instance; the command line always may.
fn require_instance_admin(by: Option<&Actor>) -> AppResult<()> {
    by.map_or(Ok(()), Actor::require_instance_admin)
}

/// The crate called `name` (compared canonically), or a 404 naming it.
async fn find_crate<'c>(
    conn: impl Into<Conn<'c>>,
    registry: &Registry,
    name: &str,
) -> AppResult<CrateRow> {
    let not_found = || {
        AppError::NotFound(format!(
            "crate `{}` does not exist in registry `{}`",
            name.escape_debug(),
            registry.name
        ))
    };
    // A name no crate could have is not worth a query (nor a NUL byte PostgreSQL refuses).
    if cargohold_protocol::name::validate_dependency_name(name, false).is_err() {
        return Err(not_found());
    }
    let canonical = cargohold_protocol::name::canonical_name(name);
    db::crates::find_by_canonical(conn, registry.id, &canonical)
        .await?
        .ok_or_else(not_found)
}

/// Finds the crate called `name` inside `tx` and locks it until the transaction ends.
async fn lock_crate(tx: &mut Tx, registry: &Registry, name: &str) -> AppResult<CrateRow> {
    let krate = find_crate(&mut *tx, registry, name).await?;
    db::crates::lock(&mut *tx, krate.id).await?;
    Ok(krate)
}

/// Brings a crate's derived state up to date after one of its versions changed:
/// its highest available version (returned), and its index file. The crate must
/// be locked in `tx`, so that concurrent changes cannot interleave here.
async fn refresh_crate_state(
    tx: &mut Tx,
    registry_id: i64,
    crate_id: i64,
    name_lower: &str,
    now: i64,
) -> AppResult<Option<String>> {
    let states = db::versions::list_states(&mut *tx, crate_id).await?;
    let max = max_version(states.iter().map(|(num, yanked)| (num.as_str(), *yanked)));
    db::crates::set_max_version(&mut *tx, crate_id, max.as_deref(), now).await?;
    index::refresh_crate(&mut *tx, registry_id, crate_id, name_lower, now).await?;
    Ok(max)
}

/// The version to show for a crate: the highest stable one not yanked, else the
/// highest pre-release not yanked, else none.
pub fn max_version<'a>(versions: impl IntoIterator<Item = (&'a str, bool)>) -> Option<String> {
    let available: Vec<Version> = versions
        .into_iter()
        .filter(|(_, yanked)| !yanked)
        .filter_map(|(num, _)| Version::parse(num).ok())
        .collect();
    let stable = available.iter().filter(|v| v.pre.is_empty()).max();
    stable
        .or_else(|| available.iter().max())
        .map(Version::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_version_prefers_stable_and_skips_yanked() {
        assert_eq!(
            max_version([
                ("1.0.0", false),
                ("1.2.0", true),
                ("1.1.0", false),
                ("2.0.0-rc.1", false)
            ]),
            Some("1.1.0".into())
        );
        assert_eq!(
            max_version([
                ("1.0.0", true),
                ("2.0.0-rc.1", false),
                ("2.0.0-rc.2", false)
            ]),
            Some("2.0.0-rc.2".into())
        );
        assert_eq!(max_version([("1.0.0", true)]), None);
        assert_eq!(
            max_version([("0.10.0", false), ("0.9.0", false)]),
            Some("0.10.0".into())
        );
    }
}
