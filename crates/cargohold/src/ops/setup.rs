//! First start: an empty registry gets an administrator and a token to start publishing with.

use crate::app::{App, Registry};
use crate::auth::Scope;
use crate::db;
use crate::error::{AppError, AppResult};
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
    match users::add_in(&mut tx, user, None).await {
        Ok(_) => {}
        // Another node starting on the same empty database set it up first.
        Err(AppError::Conflict(_)) => return Ok(None),
        Err(err) => return Err(err),
    }
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

/// The `.cargo/config.toml` lines that point cargo at a registry, as the
/// first-start banner and the "set me up" page show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoConfig {
    /// `[registries.NAME] index = …`, with the credential provider a private registry needs.
    pub registry: String,
    /// `[source.crates-io] replace-with = …`: for a virtual registry, or one that
    /// stands in for crates.io, so crates.io dependencies come through it too.
    pub replace_crates_io: Option<String>,
    /// Whether `cargo publish --registry NAME` is accepted.
    pub takes_publishes: bool,
    /// The same registry through its git index, for clients that cannot use the
    /// sparse one; with the git credential helper a private registry needs.
    pub git_index: Option<String>,
}

/// The lines for `registry`.
pub fn cargo_config(registry: &Registry) -> CargoConfig {
    let (name, index) = (&registry.name, &registry.index_url);
    let provider = if registry.auth_required {
        "[registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n"
    } else {
        ""
    };
    let takes_publishes = registry.proxy.is_none()
        && registry
            .members
            .as_ref()
            .is_none_or(|members| members.publish_to.is_some());
    let replaces = registry.members.is_some()
        || registry.replaces_crates_io
        || registry
            .proxy
            .as_ref()
            .is_some_and(|p| p.upstream.index_url.host_str() == Some("index.crates.io"));
    CargoConfig {
        registry: format!("{provider}[registries.{name}]\nindex = \"{index}\"\n"),
        replace_crates_io: replaces
            .then(|| format!("[source.crates-io]\nreplace-with = \"{name}\"\n")),
        takes_publishes,
        git_index: registry.git.as_ref().map(|git| {
            let url = &git.url;
            // Credential providers, which private reads need, came with cargo 1.74.
            let when = if registry.auth_required {
                "networks that only let git through"
            } else {
                "cargo before 1.68 or networks that only let git through"
            };
            let mut snippet = format!(
                "# Instead of the lines above, for {when}:\n\
                 {provider}[registries.{name}]\nindex = \"{url}\"\n"
            );
            if registry.auth_required {
                // cargo's built-in git looks a helper up by the exact URL (or the host
                // without its port); the git command by scheme, host and port.
                let base = url.split("/registries/").next().unwrap_or(url);
                let helper = "'!f() { echo username=cargo; echo \"password=$CARGOHOLD_TOKEN\"; }; f'";
                snippet.push_str(&format!(
                    "\n# git asks for credentials: any user name, and a token with read access as the password.\n\
                     # One way, reading the token from CARGOHOLD_TOKEN: the first line for cargo's own git,\n\
                     # the second for the git command (net.git-fetch-with-cli = true):\n\
                     # git config --global credential.{url}.helper {helper}\n\
                     # git config --global credential.{base}.helper {helper}\n"
                ));
            }
            snippet
        }),
    }
}
