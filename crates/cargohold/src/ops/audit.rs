//! Reading the audit log (events are written by each change, in its transaction).

use crate::app::App;
use crate::auth::Actor;
use crate::db::{self, audit::AuditFilter, audit::AuditRow};
use crate::error::{AppError, AppResult};

/// Most events one query returns.
pub const MAX_EVENTS: i64 = 1000;

/// The newest events matching `filter`, newest first; administrators only.
pub async fn list(
    app: &App,
    mut filter: AuditFilter,
    by: Option<&Actor>,
) -> AppResult<Vec<AuditRow>> {
    super::require_instance_admin(by)?;
    if filter.limit <= 0 || filter.limit > MAX_EVENTS {
        return Err(AppError::BadRequest(format!(
            "the limit must be between 1 and {MAX_EVENTS}"
        )));
    }
    if let Some(registry) = &filter.registry {
        app.registry(registry)?;
    }
    filter.action = filter.action.filter(|a| !a.is_empty());
    Ok(db::audit::list(app.db.read(), &filter).await?)
}
