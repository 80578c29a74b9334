//! "Set me up": the exact `.cargo/config.toml` lines for a registry.

use axum::extract::{Path, State};

use super::browse::kind_name;
use super::view::SetupPage;
use super::{Viewer, WebResult};
use crate::app::AppState;
use crate::ops::{self, browse};

/// `GET /registries/{registry}/setup`.
pub async fn setup_page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> WebResult {
    let registry = browse::readable_registry(&app, &name, viewer.actor.as_ref()).await?;
    let config = ops::setup::cargo_config(&registry);
    let name = registry.name.clone();
    let members = registry.members.as_ref();
    let page = SetupPage {
        chrome: viewer.chrome(format!("Set up {name}")),
        kind: kind_name(registry.kind),
        private: registry.auth_required,
        members: members
            .map(|m| {
                m.locals
                    .iter()
                    .chain(&m.proxies)
                    .map(|r| r.name.clone())
                    .collect()
            })
            .unwrap_or_default(),
        publish_to: members.and_then(|m| m.publish_to.as_ref().map(|r| r.name.clone())),
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
        login_command: format!("cargo login --registry {name}"),
        publish_command: config
            .takes_publishes
            .then(|| format!("cargo publish --registry {name}")),
        add_command: format!("cargo add SOME_CRATE --registry {name}"),
        upstream: registry.proxy.as_ref().map(|p| p.upstream.shown_url()),
        registry: name,
    };
    viewer.render(&page)
}
