//! First start: an empty registry gets an administrator and a token to start publishing with.

use crate::app::App;
use crate::auth::Scope;
use crate::db;
use crate::error::AppResult;
use crate::ops::tokens::{self, TokenRequest};
use crate::ops::users::{self, NewUser};

/// The login of the administrator created on first start.
pub const FIRST_ADMIN: &str = "admin";

/// What the first start created, to be shown once.
#[derive(Debug, Clone)]
pub struct FirstStart {
    pub login: String,
    pub token: String,
}

/// On a database without users, creates `admin` and an all-powerful token; otherwise does nothing.
pub async fn first_start(app: &App) -> AppResult<Option<FirstStart>> {
    // One transaction: an administrator without a token, never shown, cannot happen.
    let mut tx = app.db.begin().await?;
    if db::users::count(&mut tx).await? > 0 {
        return Ok(None);
    }
    let user = NewUser {
        login: FIRST_ADMIN.into(),
        is_admin: true,
        password: None,
    };
    users::add_in(&mut tx, user, None).await?;
    let request = TokenRequest {
        name: "first start".into(),
        scopes: Scope::ALL.to_vec(),
        ..TokenRequest::default()
    };
    let created = tokens::create_in(app, &mut tx, FIRST_ADMIN, request, None).await?;
    tx.commit().await?;
    Ok(Some(FirstStart {
        login: FIRST_ADMIN.into(),
        token: created.token,
    }))
}
