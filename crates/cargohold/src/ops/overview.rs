//! What an administrator sees first: what each registry holds, what needs their
//! attention, and the latest changes.

use std::collections::HashMap;

use crate::app::App;
use crate::auth::Actor;
use crate::clock;
use crate::db::{self, audit::AuditFilter, audit::AuditRow, registries::HoldingsRow};
use crate::error::AppResult;
use crate::ops::advisories::AffectedVersion;

/// How far ahead an expiring token is worth a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 7;
/// How many of the latest changes the overview shows.
const RECENT_CHANGES: i64 = 8;

/// The administration overview.
#[derive(Debug)]
pub struct Overview {
    /// By registry id; a registry holding no crate is absent.
    pub holdings: HashMap<i64, HoldingsRow>,
    /// Webhook deliveries given up on, or whose last attempt failed.
    pub failed_deliveries: i64,
    /// Tokens in use that expire within [`EXPIRY_WARNING_DAYS`], soonest first.
    pub expiring_tokens: Vec<db::tokens::TokenRow>,
    /// Cached crates.io versions a RustSec advisory affects.
    pub advised_versions: Vec<AffectedVersion>,
    /// The latest audit events, newest first.
    pub recent: Vec<AuditRow>,
}

/// Gathers the overview for `by`, who must administer the instance.
pub async fn overview(app: &App, by: &Actor) -> AppResult<Overview> {
    super::require_instance_admin(Some(by))?;
    let pool = app.db.read();
    let now = clock::now();
    let holdings = db::registries::holdings(pool)
        .await?
        .into_iter()
        .map(|row| (row.registry_id, row))
        .collect();
    let failed_deliveries = db::webhooks::count_failed(pool).await?;
    let expiring_tokens =
        db::tokens::expiring(pool, now, now + EXPIRY_WARNING_DAYS * 86_400).await?;
    let advised_versions = super::advisories::report(app, None).await?;
    let recent = super::audit::list(
        app,
        AuditFilter {
            limit: RECENT_CHANGES,
            ..AuditFilter::default()
        },
        Some(by),
    )
    .await?;
    Ok(Overview {
        holdings,
        failed_deliveries,
        expiring_tokens,
        advised_versions,
        recent,
    })
}
