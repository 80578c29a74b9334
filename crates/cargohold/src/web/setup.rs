//! "Set me up": the exact `.cargo/config.toml` lines for a registry.

use axum::extract::{Path, State};

use super::browse::{kind_name, visible_members};
use super::view::SetupPage;
use super::{Viewer, WebResult};
use crate::app::{AppState, Registry};
use crate::config::RegistryKind;
use crate::ops::{self, browse};

/// `GET /registries/{registry}/setup`.
pub async fn setup_page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> WebResult {
    let who = viewer.actor.as_ref();
    let registry = browse::readable_registry(&app, &name, who).await?;
    let config = ops::setup::cargo_config(&registry);
    let name = registry.name.clone();
    let members = visible_members(&app, &registry, who).await?;
    // Named only to those who may read it, like every member.
    let publish_to = registry
        .members
        .as_ref()
        .and_then(|m| m.publish_to.as_ref())
        .map(|r| r.name.clone())
        .filter(|target| members.contains(target));
    let as_crates_io = used_as_crates_io(&registry);
    let add_command = if as_crates_io {
        "cargo add SOME_CRATE".to_owned()
    } else {
        format!("cargo add SOME_CRATE --registry {name}")
    };
    let page = SetupPage {
        chrome: viewer.chrome(format!("Set up {name}")),
        kind: kind_name(registry.kind),
        is_virtual: registry.kind == RegistryKind::Virtual,
        as_crates_io,
        private: registry.auth_required,
        members,
        publish_to,
        config_snippet: config.registry,
        replace_snippet: config.replace_crates_io,
        git_snippet: config.git_index,
        credential_snippet: registry.auth_required.then(|| {
            "# Also needed on every machine that only reads (CI):\n\
             export CARGO_REGISTRIES_"
                .to_owned()
                + &name.to_uppercase().replace('-', "_")
                + "_TOKEN=…"
        }),
        login_command: login_command(&registry),
        publish_command: config
            .takes_publishes
            .then(|| format!("cargo publish --registry {name}")),
        add_command,
        upstream: registry.proxy.as_ref().map(|p| p.upstream.shown_url()),
        registry: name,
    };
    viewer.render(&page)
}

/// `cargo login --registry NAME` for `registry`, or `None` when cargo never sends
/// it a token: cargo sends one only to read a private registry or to publish.
/// Even a registry used in place of crates.io is logged in to by its own name.
pub fn login_command(registry: &Registry) -> Option<String> {
    let needs_token = registry.auth_required || ops::setup::cargo_config(registry).takes_publishes;
    needs_token.then(|| format!("cargo login --registry {}", registry.name))
}

/// Whether `registry` is a proxy or virtual registry that users put in place of
/// crates.io (`[source.crates-io] replace-with`): its crates are then written as
/// crates.io dependencies, and `--registry` or a `registry` key would make them
/// dependencies on another registry instead. Local registries keep their advice.
pub fn used_as_crates_io(registry: &Registry) -> bool {
    registry.kind != RegistryKind::Local
        && ops::setup::cargo_config(registry)
            .replace_crates_io
            .is_some()
}
