//! Browsing: the start page, search results, a registry's crates, keyword pages.

use std::sync::Arc;

use axum::extract::{Path, State};
use serde::Deserialize;

use super::view::{self, CrateItem, HomePage, ListPage, Pager, RegistryCard};
use super::{PageQuery, Viewer, WebResult, page_number};
use crate::app::{App, AppState, Registry};
use crate::auth::Actor;
use crate::config::RegistryKind;
use crate::db::crates::ListOrder;
use crate::error::{AppError, AppResult};
use crate::ops::browse::{self, ListRequest, PER_PAGE};

/// How many crates each list on the start page shows.
const HOME_LIST: i64 = 8;

/// `GET /`.
pub async fn home(State(app): State<AppState>, viewer: Viewer) -> WebResult {
    let who = viewer.actor.as_ref();
    let registries = browse::readable(&app, who).await?;
    let lists = browse::home_lists(&app, who, HOME_LIST).await?;
    let hidden_hint = who.is_none() && app.registries().any(|r| r.auth_required);
    let mut cards = Vec::with_capacity(registries.len());
    for r in &registries {
        let about = match (&r.proxy, &r.members) {
            (Some(proxy), _) => format!("A cache of {}", proxy.upstream.shown_url()),
            (_, Some(_)) => match visible_members(&app, r, who).await?.as_slice() {
                [] => "One URL over its members".to_owned(),
                members => format!("One URL over {}", members.join(", ")),
            },
            _ => "Crates published here".to_owned(),
        };
        cards.push(RegistryCard {
            name: r.name.clone(),
            kind: kind_name(r.kind),
            private: r.auth_required,
            about,
        });
    }
    let page = HomePage {
        chrome: viewer.chrome("Crates"),
        tagline: tagline(&registries, who.is_some()),
        registries: cards,
        has_local: lists.has_local,
        new_crates: lists.new.into_iter().map(CrateItem::from).collect(),
        updated_crates: lists.updated.into_iter().map(CrateItem::from).collect(),
        cached_crates: lists.cached.into_iter().map(CrateItem::from).collect(),
        cached_total: view::count(lists.cached_total, "crate"),
        // One cache: its page lists them all.
        cache_page: match registries
            .iter()
            .filter(|r| r.kind == RegistryKind::Proxy)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [proxy] => Some(proxy.name.clone()),
            _ => None,
        },
        hidden_hint,
    };
    viewer.render(&page)
}

/// What the registries `readable` offer, in a sentence for the start page.
fn tagline(readable: &[Arc<Registry>], signed_in: bool) -> String {
    let members = |r: &Arc<Registry>| {
        r.members
            .as_ref()
            .map(|m| m.all().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    // A virtual registry serves its members, whether or not they are listed.
    let served: Vec<Arc<Registry>> = readable
        .iter()
        .flat_map(|r| std::iter::once(r.clone()).chain(members(r)))
        .collect();
    let locals = served.iter().any(|r| r.kind == RegistryKind::Local);
    let caches: Vec<&Arc<Registry>> = served.iter().filter(|r| r.proxy.is_some()).collect();
    let of_crates_io = caches.iter().any(|r| {
        r.proxy
            .as_ref()
            .is_some_and(|p| p.upstream.index_url.host_str() == Some("index.crates.io"))
    });
    let cache = if of_crates_io {
        "a crates.io cache"
    } else {
        "a cache of another registry"
    };
    // One URL: a virtual registry over both kinds.
    let one_url = readable.iter().any(|r| {
        r.members
            .as_ref()
            .is_some_and(|m| !m.locals.is_empty() && !m.proxies.is_empty())
    });
    match (locals, !caches.is_empty()) {
        (true, true) if one_url => format!("Private crates and {cache} behind one URL."),
        (true, true) => format!("Private crates and {cache}."),
        (true, false) => "Private crates for your team.".to_owned(),
        (false, true) if of_crates_io => "A crates.io cache for your team.".to_owned(),
        (false, true) => "A cache of another registry for your team.".to_owned(),
        // Every registry is private, and none open to this viewer.
        (false, false) if signed_in => {
            "No registry here is open to you yet: an administrator can grant you access.".to_owned()
        }
        (false, false) => "Sign in to see the registries here.".to_owned(),
    }
}

/// The query string of listings.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    registry: Option<String>,
    /// Read by [`page_number`], which says what is wrong with a bad one.
    #[serde(default)]
    page: Option<String>,
}

/// `GET /search?q=…[&registry=R][&page=N]`.
pub async fn search(
    State(app): State<AppState>,
    viewer: Viewer,
    PageQuery(query): PageQuery<ListQuery>,
) -> WebResult {
    let registry = query.registry.as_deref().filter(|r| !r.is_empty());
    let request = ListRequest {
        registry,
        query: query.q.trim(),
        keyword: None,
        page: page_number(query.page.as_deref())?,
    };
    let listing = browse::list(
        &app,
        viewer.actor.as_ref(),
        &request,
        ListOrder::Relevance,
        PER_PAGE,
    )
    .await?;
    let mut base = format!("/search?q={}&", view::url_encode(&query.q));
    if let Some(registry) = registry {
        base.push_str(&format!("registry={}&", view::url_encode(registry)));
    }
    let mut chrome = viewer.chrome(format!("Search: {}", query.q));
    chrome.query = query.q.clone();
    let page = ListPage {
        chrome,
        heading: if query.q.trim().is_empty() {
            "All crates".to_owned()
        } else {
            format!("Results for “{}”", query.q.trim())
        },
        summary: format!("{} found", view::count(listing.total, "crate")),
        pager: Pager::new(&base, listing.page, listing.pages),
        crates: listing.crates.into_iter().map(CrateItem::from).collect(),
        empty: if app.registries().any(|r| r.proxy.is_some()) {
            // A cache lists what it holds, not all its upstream has.
            "No crate matches. Try fewer or shorter words. Crates of an upstream such as crates.io \
             are listed here once fetched through its cache; cargo finds them already \
             (`cargo add NAME`)."
                .to_owned()
        } else {
            "No crate matches. Try fewer or shorter words.".to_owned()
        },
        registry: None,
        members: Vec::new(),
    };
    viewer.render(&page)
}

/// `GET /registries/{registry}`: the crates of one registry, by name.
pub async fn registry(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    PageQuery(query): PageQuery<ListQuery>,
) -> WebResult {
    let registry = browse::readable_registry(&app, &name, viewer.actor.as_ref()).await?;
    let members = visible_members(&app, &registry, viewer.actor.as_ref()).await?;
    let request = ListRequest {
        registry: Some(&registry.name),
        query: "",
        keyword: None,
        page: page_number(query.page.as_deref())?,
    };
    let listing = browse::list(
        &app,
        viewer.actor.as_ref(),
        &request,
        ListOrder::Name,
        PER_PAGE,
    )
    .await?;
    let private = if registry.auth_required {
        ", private,"
    } else {
        ""
    };
    let page = ListPage {
        chrome: viewer.chrome(format!("Registry {}", registry.name)),
        heading: format!("Registry {}", registry.name),
        summary: match registry.kind {
            // Its crates are its members': a count of its own would always be 0.
            RegistryKind::Virtual => format!("A virtual registry{private} serving its members"),
            kind => format!(
                "A {} registry{private} with {}",
                kind_name(kind),
                view::count(listing.total, "crate")
            ),
        },
        pager: Pager::new(
            &format!("/registries/{}?", view::url_encode(&registry.name)),
            listing.page,
            listing.pages,
        ),
        crates: listing.crates.into_iter().map(CrateItem::from).collect(),
        empty: match registry.kind {
            RegistryKind::Virtual if members.is_empty() => {
                "A virtual registry holds no crates itself, and none of its members is one you may read."
            }
            RegistryKind::Virtual => {
                "A virtual registry holds no crates itself: browse its members."
            }
            RegistryKind::Proxy => {
                "Nothing cached yet: crates appear here once someone fetches them."
            }
            RegistryKind::Local => {
                "No crate published yet: `cargo publish --registry` puts the first one here."
            }
        }
        .to_owned(),
        registry: Some(registry.name.clone()),
        members,
    };
    viewer.render(&page)
}

/// `GET /keywords/{keyword}`.
pub async fn keyword(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(keyword): Path<String>,
    PageQuery(query): PageQuery<ListQuery>,
) -> WebResult {
    // Keywords are short words; nothing with control characters (a NUL would
    // reach the database) or longer than a search can be one.
    if keyword.chars().any(char::is_control) || keyword.len() > 256 {
        return Err(AppError::NotFound(
            "no crate has such a keyword: keywords are short words without control characters"
                .into(),
        )
        .into());
    }
    let request = ListRequest {
        registry: None,
        query: "",
        keyword: Some(&keyword),
        page: page_number(query.page.as_deref())?,
    };
    let listing = browse::list(
        &app,
        viewer.actor.as_ref(),
        &request,
        ListOrder::Downloads,
        PER_PAGE,
    )
    .await?;
    let page = ListPage {
        chrome: viewer.chrome(format!("#{keyword}")),
        heading: format!("Crates with the keyword #{keyword}"),
        summary: view::count(listing.total, "crate"),
        pager: Pager::new(
            &format!("/keywords/{}?", view::url_encode(&keyword)),
            listing.page,
            listing.pages,
        ),
        crates: listing.crates.into_iter().map(CrateItem::from).collect(),
        empty: "No crate you may see has this keyword.".to_owned(),
        registry: None,
        members: Vec::new(),
    };
    viewer.render(&page)
}

/// The names of the members of virtual `registry` that `viewer` may read, in the
/// order they are asked (none for other kinds): a private member stays unnamed
/// to anyone who may not read it.
pub async fn visible_members(
    app: &App,
    registry: &Registry,
    viewer: Option<&Actor>,
) -> AppResult<Vec<String>> {
    let mut visible = Vec::new();
    if let Some(members) = &registry.members {
        for member in members.all() {
            if browse::may_read(app, member, viewer).await? {
                visible.push(member.name.clone());
            }
        }
    }
    Ok(visible)
}

/// How a registry's kind reads on a page.
pub fn kind_name(kind: RegistryKind) -> &'static str {
    match kind {
        RegistryKind::Local => "local",
        RegistryKind::Proxy => "proxy",
        RegistryKind::Virtual => "virtual",
    }
}
