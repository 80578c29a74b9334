//! "Set me up": the exact `.cargo/config.toml` lines for a registry, as
//! `ops::setup::cargo_config` builds them.

use axum::extract::{Path, State};

use super::browse::{kind_name, visible_members};
use super::view::SetupPage;
use super::{Viewer, WebResult};
use crate::app::AppState;
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
    // A member of a virtual registry standing in for crates.io is used through it:
    // its crates are then crates.io dependencies, without `--registry`. Named only
    // to those who may read it.
    let mut through = None;
    for stand_in in ops::setup::crates_io_stand_ins(&app, &registry) {
        if browse::may_read(&app, stand_in, who).await? {
            through = Some(stand_in.name.clone());
            break;
        }
    }
    let add_command = if config.as_crates_io {
        "cargo add SOME_CRATE".to_owned()
    } else {
        format!("cargo add SOME_CRATE --registry {name}")
    };
    let page = SetupPage {
        chrome: viewer.chrome(format!("Set up {name}")),
        kind: kind_name(registry.kind),
        is_virtual: registry.kind == RegistryKind::Virtual,
        as_crates_io: config.as_crates_io,
        private: registry.auth_required,
        members,
        publish_to,
        config_snippet: config.registry,
        replace_snippet: config.replace_crates_io,
        git_snippet: config.git_index,
        credential_snippet: config.token_env,
        login_command: config.login_command,
        publish_command: config
            .takes_publishes
            .then(|| format!("cargo publish --registry {name}")),
        add_command,
        upstream: registry.proxy.as_ref().map(|p| p.upstream.shown_url()),
        through,
        registry: name,
    };
    viewer.render(&page)
}
