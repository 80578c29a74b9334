//! Server-rendered pages. For now: the home page with setup instructions, and `{api}/me`.

use axum::extract::{Path, State};
use axum::response::Html;

use crate::app::AppState;
use crate::error::AppResult;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;\
line-height:1.5;color:#1d1d1f}pre{background:#f4f4f5;padding:.75rem;overflow-x:auto;border-radius:6px}\
code{font-family:ui-monospace,monospace}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    ))
}

/// `GET /`: what this server is and how to point cargo at each registry.
pub async fn home_page(State(app): State<AppState>) -> Html<String> {
    // Private registries are not even named to visitors.
    let mut registries: Vec<_> = app.registries().filter(|r| !r.auth_required).collect();
    registries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut body = String::from(
        "<h1>cargohold</h1><p>A Cargo registry. Add a registry to <code>.cargo/config.toml</code>, \
         then use <code>cargo publish</code>, <code>cargo add</code> and friends with \
         <code>--registry NAME</code>.</p>",
    );
    for registry in registries {
        body.push_str(&format!(
            "<h2>Registry <code>{name}</code></h2><pre><code>[registries.{name}]\nindex = \"{index}\"</code></pre>\
             <p>Then <code>cargo login --registry {name}</code> with a token from \
             <code>cargohold token create USER</code>.</p>",
            name = registry.name,
            index = registry.index_url,
        ));
    }
    page("cargohold", &body)
}

/// `GET /registries/{registry}/me`: where `cargo login` sends people for a token.
pub async fn me_page(
    State(app): State<AppState>,
    Path(registry): Path<String>,
) -> AppResult<Html<String>> {
    let registry = app.registry(&registry)?;
    Ok(page(
        "Get a token — cargohold",
        &format!(
            "<h1>Get a token for <code>{name}</code></h1>\
             <p>Ask an administrator to create one for you:</p>\
             <pre><code>cargohold token create YOUR_LOGIN</code></pre>\
             <p>then store it with</p><pre><code>cargo login --registry {name}</code></pre>",
            name = registry.name
        ),
    ))
}
