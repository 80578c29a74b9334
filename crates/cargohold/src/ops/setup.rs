//! First start: an empty registry gets an administrator and a token to start publishing with.

use std::sync::Arc;

use crate::app::{App, Registry};
use crate::auth::Scope;
use crate::config::RegistryKind;
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

/// The environment variable cargo reads `registry`'s token from
/// (`CARGO_REGISTRIES_NAME_TOKEN`), instead of its credentials file: what CI sets.
pub fn token_variable(registry: &str) -> String {
    format!(
        "CARGO_REGISTRIES_{}_TOKEN",
        registry.to_uppercase().replace('-', "_")
    )
}

/// The order in which registries are recommended to users (the first-start
/// banner, the `cargo login` line of a new token), smallest first: a virtual
/// registry is the one URL for internal and crates.io crates (following a proxy's
/// lines instead would leave the internal crates out), the one taking publishes
/// first; then a proxy, then a local registry; public before private among
/// equals, as a private one needs a credential provider too; then by name.
pub fn recommendation_order(registry: &Registry) -> (u8, bool, String) {
    let kind = match (&registry.members, &registry.proxy) {
        (Some(members), _) if members.publish_to.is_some() => 0,
        (Some(_), _) => 1,
        (None, Some(_)) => 2,
        (None, None) => 3,
    };
    (kind, registry.auth_required, registry.name.clone())
}

/// What a user sets up to use a registry with cargo, as the first-start banner
/// and the "set me up" page show it: the `.cargo/config.toml` lines, the token
/// for machines without `cargo login`, and the commands.
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
    /// For a private registry: the token through the environment, for machines
    /// that only read (CI).
    pub token_env: Option<String>,
    /// `cargo login --registry NAME`, when cargo sends the registry a token.
    pub login_command: Option<String>,
    /// Whether its crates are written as crates.io dependencies ([`used_as_crates_io`]).
    pub as_crates_io: bool,
}

/// Whether `cargo publish` to `registry` is accepted: a proxy takes none, a
/// virtual registry only with a `publish-to` member.
fn takes_publishes(registry: &Registry) -> bool {
    registry.proxy.is_none()
        && registry
            .members
            .as_ref()
            .is_none_or(|members| members.publish_to.is_some())
}

/// Whether users put `registry` in place of crates.io (`[source.crates-io] replace-with`).
fn replaces_crates_io(registry: &Registry) -> bool {
    registry.members.is_some()
        || registry.replaces_crates_io
        || registry
            .proxy
            .as_ref()
            .is_some_and(|p| p.upstream.index_url.host_str() == Some("index.crates.io"))
}

/// `cargo login --registry NAME` for `registry`, or `None` when cargo never sends
/// it a token: cargo sends one only to read a private registry or to publish.
/// Even a registry used in place of crates.io is logged in to by its own name.
pub fn login_command(registry: &Registry) -> Option<String> {
    let needs_token = registry.auth_required || takes_publishes(registry);
    needs_token.then(|| format!("cargo login --registry {}", registry.name))
}

/// Whether `registry` is a proxy or virtual registry that users put in place of
/// crates.io: its crates are then written as crates.io dependencies, and
/// `--registry` or a `registry` key would make them dependencies on another
/// registry instead. Local registries keep their advice.
pub fn used_as_crates_io(registry: &Registry) -> bool {
    registry.kind != RegistryKind::Local && replaces_crates_io(registry)
}

/// The virtual registries used in place of crates.io ([`used_as_crates_io`]) that
/// have `registry` among their members, by name: the registries through which
/// its crates are written as crates.io dependencies, with no `registry` key.
pub fn crates_io_stand_ins<'a>(app: &'a App, registry: &Registry) -> Vec<&'a Arc<Registry>> {
    let mut stand_ins: Vec<&Arc<Registry>> = app
        .registries()
        .filter(|v| used_as_crates_io(v))
        .filter(|v| {
            v.members
                .as_ref()
                .is_some_and(|members| members.all().any(|m| m.id == registry.id))
        })
        .collect();
    stand_ins.sort_by(|a, b| a.name.cmp(&b.name));
    stand_ins
}

/// The lines for `registry`.
pub fn cargo_config(registry: &Registry) -> CargoConfig {
    let (name, index) = (&registry.name, &registry.index_url);
    let provider = if registry.auth_required {
        "[registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n"
    } else {
        ""
    };
    CargoConfig {
        registry: format!("{provider}[registries.{name}]\nindex = \"{index}\"\n"),
        replace_crates_io: replaces_crates_io(registry)
            .then(|| format!("[source.crates-io]\nreplace-with = \"{name}\"\n")),
        takes_publishes: takes_publishes(registry),
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
        token_env: registry.auth_required.then(|| {
            format!(
                "# Also needed on every machine that only reads (CI):\n\
                 export {}=…",
                token_variable(name)
            )
        }),
        login_command: login_command(registry),
        as_crates_io: used_as_crates_io(registry),
    }
}
