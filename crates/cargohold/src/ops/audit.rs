//! Reading the audit log (events are written by each change, in its transaction).

use cargohold_protocol::upstream::parse_pubtime;

use crate::app::App;
use crate::auth::Actor;
use crate::db::{self, audit::AuditFilter, audit::AuditRow};
use crate::error::{AppError, AppResult};

/// Most events one query returns.
pub const MAX_EVENTS: i64 = 1000;

/// Every action a change records, the values an `action` filter may take.
/// A change that starts recording a new action adds it here.
pub const ACTIONS: &[&str] = &[
    "publish",
    "yank",
    "unyank",
    "delete_crate",
    "delete_version",
    "owner_add",
    "owner_remove",
    "user_add",
    "user_disable",
    "user_enable",
    "user_admin_grant",
    "user_admin_revoke",
    "user_password_set",
    "session_create",
    "sign_in_failed",
    "sign_in_blocked",
    "token_create",
    "token_revoke",
    "team_create",
    "team_delete",
    "team_member_add",
    "team_member_remove",
    "permission_grant",
    "permission_revoke",
    "reindex",
    "repair",
    "gc",
    "webhook_redeliver",
    "advisory_import",
];

/// The forms a `since` filter takes, for messages.
pub const SINCE_FORMS: &str = "Unix seconds (1796083200), an RFC 3339 time (2026-12-01T00:00:00Z), \
                               a date (2026-12-01, midnight UTC) or an age (30m, 12h, 7d)";

/// The newest events matching `filter`, newest first; administrators only.
///
/// An action no change records, or a user who does not exist, is refused rather
/// than answered with an empty list, which would read as "nothing happened".
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
    if let Some(action) = &filter.action
        && !ACTIONS.contains(&action.as_str())
    {
        return Err(AppError::BadRequest(format!(
            "there is no audit action `{}`; the actions are {}",
            action.escape_debug(),
            ACTIONS.join(", ")
        )));
    }
    if let Some(login) = &filter.actor {
        super::users::find(app.db.read(), login).await?;
    }
    Ok(db::audit::list(app.db.read(), &filter).await?)
}

/// Reads a `since` filter as Unix seconds: Unix seconds themselves, an RFC 3339
/// time, a date (midnight UTC) or an age before `now` (`30m`, `12h`, `7d`);
/// `None` for anything else (the accepted forms are [`SINCE_FORMS`]).
pub fn parse_since(text: &str, now: i64) -> Option<i64> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(text) {
        return text.parse().ok();
    }
    if let Some((number, unit)) = text.split_at_checked(text.len().saturating_sub(1))
        && digits(number)
    {
        let seconds: i64 = match unit {
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
        return now.checked_sub(number.parse::<i64>().ok()?.checked_mul(seconds)?);
    }
    if text.len() == 10 {
        return parse_pubtime(&format!("{text}T00:00:00Z"));
    }
    parse_pubtime(text)
}

/// An event's detail (a JSON object) as a person reads it:
/// `user: alice; scopes: read, publish-update; expires at: 2027-01-01T00:00:00Z`.
/// Times (keys ending in `_at`) are shown as dates; anything else that is not an
/// object is shown as it is.
pub fn readable_detail(detail: &str) -> String {
    use serde_json::Value;
    fn shown(key: &str, value: &Value) -> String {
        match value {
            Value::Null => "none".to_owned(),
            Value::Bool(yes) => if *yes { "yes" } else { "no" }.to_owned(),
            Value::Number(number) => match number.as_i64() {
                Some(secs) if key.ends_with("_at") => {
                    cargohold_protocol::index::format_pubtime(secs)
                }
                _ => number.to_string(),
            },
            Value::String(text) => text.clone(),
            Value::Array(items) if items.is_empty() => "none".to_owned(),
            Value::Array(items) => items
                .iter()
                .map(|item| shown(key, item))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Object(_) => value.to_string(),
        }
    }
    match serde_json::from_str::<Value>(detail) {
        Ok(Value::Object(fields)) => fields
            .iter()
            .map(|(key, field)| format!("{}: {}", key.replace('_', " "), shown(key, field)))
            .collect::<Vec<_>>()
            .join("; "),
        _ => detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_as_words_with_times_as_dates() {
        let readable = readable_detail(
            r#"{"token_id":7,"user":"alice","scopes":["read","publish-update"],"crates":[],"expires_at":1798761600,"admin":false,"previous":null}"#,
        );
        let mut parts: Vec<&str> = readable.split("; ").collect();
        parts.sort_unstable();
        assert_eq!(
            parts,
            [
                "admin: no",
                "crates: none",
                "expires at: 2027-01-01T00:00:00Z",
                "previous: none",
                "scopes: read, publish-update",
                "token id: 7",
                "user: alice",
            ]
        );
        assert_eq!(readable_detail("{}"), "");
        assert_eq!(readable_detail("not json"), "not json");
    }

    #[test]
    fn since_takes_unix_seconds_rfc3339_times_dates_and_ages() {
        assert_eq!(parse_since("1796083200", 0), Some(1_796_083_200));
        assert_eq!(parse_since("0", 0), Some(0));
        assert_eq!(parse_since("2026-12-01T00:00:00Z", 0), Some(1_796_083_200));
        assert_eq!(
            parse_since("2026-12-01T01:00:00+01:00", 0),
            Some(1_796_083_200)
        );
        assert_eq!(
            parse_since("2026-12-01T00:00:00.250Z", 0),
            Some(1_796_083_200)
        );
        assert_eq!(parse_since("1970-01-02", 0), Some(86_400));
        assert_eq!(parse_since("2026-11-01", 0), Some(1_793_491_200));
        assert_eq!(parse_since("2026-12-01", 0), Some(1_796_083_200));
        assert_eq!(parse_since("7d", 1_000_000), Some(1_000_000 - 7 * 86_400));
        assert_eq!(parse_since("30m", 10_000), Some(10_000 - 1800));
        assert_eq!(parse_since("12h", 100_000), Some(100_000 - 12 * 3600));
        for bad in [
            "",
            "yesterday",
            "7w",
            "d",
            "-5",
            "+5",
            "2026-13-01",
            "2026-02-30",
            "2026-12-1",
            "2026-12-01T00:00:00",
            "2026-12-01 00:00",
            "99999999999999999999",
            "99999999999999999d",
        ] {
            assert_eq!(parse_since(bad, 0), None, "{bad}");
        }
    }
}
