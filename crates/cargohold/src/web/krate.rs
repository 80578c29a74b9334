//! The crate page: README, versions, dependencies, features, owners, downloads; its
//! deletion form (`POST …/delete`) and its yank buttons (`POST …/yank`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use cargohold_protocol::index::CRATES_IO_INDEX;
use cargohold_protocol::name::canonical_name;
use cargohold_protocol::targets::Targets;
use cargohold_protocol::upstream::parse_pubtime;
use cargohold_protocol::{CrateName, DependencyKind};
use serde::Deserialize;

use super::browse::kind_name;
use super::markdown::{ReadmeBase, render_readme};
use super::view::{
    self, AdvisoryItem, CratePage, DeleteSection, DependencyGroup, DependencyItem, DependentItem,
    FeatureItem, InstallLines, OwnerItem, VersionItem,
};
use super::{PageForm, PageQuery, Viewer, WebResult};
use crate::app::{App, AppState, Registry};
use crate::auth::Actor;
use crate::db;
use crate::db::versions::DependentRow;
use crate::error::{AppError, AppResult};
use crate::ops::delete::Verdict;
use crate::ops::{self, browse};
use crate::virtual_registry::{self, Reader, Resolved};

#[derive(Debug, Deserialize)]
pub struct VersionQuery {
    version: Option<String>,
}

/// `GET /registries/{registry}/crates/{crate}[?version=V]`. In a virtual
/// registry: a redirect to the page of the member that serves the crate to
/// this reader, as its index does.
pub async fn crate_page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((registry, name)): Path<(String, String)>,
    PageQuery(query): PageQuery<VersionQuery>,
) -> WebResult {
    let version = query.version.as_deref().filter(|v| !v.is_empty());
    if let Some(target) =
        member_page(&app, viewer.actor.as_ref(), &registry, &name, version).await?
    {
        return Ok(Redirect::to(&target).into_response());
    }
    let messages = Messages {
        notice: version
            .is_none()
            .then(|| viewer.notice_for(&view::crate_url(&registry, &name, None)))
            .flatten(),
        error: None,
    };
    render_crate_page(
        &app,
        &viewer,
        &registry,
        &name,
        version,
        StatusCode::OK,
        messages,
    )
    .await
}

/// For a virtual registry, the page of crate `name` in the member that serves it
/// to `viewer` (the resolution of its index, so a member they may not read is
/// never named); `None` for other registries, which show the crate themselves.
/// A crate no member serves to them, or a proxy has not cached, is not found.
async fn member_page(
    app: &App,
    viewer: Option<&Actor>,
    registry: &str,
    name: &str,
    version: Option<&str>,
) -> AppResult<Option<String>> {
    let Some(members) = app.find_registry(registry).and_then(|r| r.members.as_ref()) else {
        return Ok(None);
    };
    let registry = browse::readable_registry(app, registry, viewer).await?;
    let not_served = |why: &str| {
        AppError::NotFound(format!(
            "`{}` serves no crate `{}`{why}",
            registry.name,
            name.escape_debug(),
        ))
    };
    if CrateName::new(name).is_err() {
        return Err(not_served(""));
    }
    let lower = name.to_ascii_lowercase();
    let member =
        match virtual_registry::resolve(app, members, &lower, Reader::Request(viewer)).await? {
            Resolved::Found(member, _) => member,
            Resolved::Refused(why) => return Err(not_served(&format!(": {why}"))),
            Resolved::Missing => {
                let hint = if viewer.is_none() {
                    "; signing in may show more"
                } else {
                    ""
                };
                return Err(not_served(hint));
            }
        };
    // A proxy's page shows what it cached; the upstream may list more.
    let Some(krate) =
        db::crates::find_by_canonical(app.db.read(), member.id, &canonical_name(&lower)).await?
    else {
        return Err(AppError::NotFound(format!(
            "`{}` serves `{}` from `{}`, which has no page for it until it caches a version",
            registry.name,
            name.escape_debug(),
            member.name
        )));
    };
    Ok(Some(view::crate_url(&member.name, &krate.name, version)))
}

/// What a form on the crate page did, or why it was refused.
#[derive(Debug, Default)]
struct Messages {
    notice: Option<String>,
    error: Option<String>,
}

/// The form of the deletion section.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    csrf: String,
    /// The crate name typed again.
    confirm: String,
    /// One version only (administrators); empty or missing: the whole crate.
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /registries/{registry}/crates/{crate}/delete`: deletes the crate, or one
/// version of it, then redirects: to the crate page after a version, to `/me`
/// after the whole crate (its page is gone).
pub async fn delete_crate(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((registry, name)): Path<(String, String)>,
    PageForm(form): PageForm<DeleteForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let page = view::crate_url(&registry, &name, None);
    let actor = viewer.require_user(&page)?;
    let version = form
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let result = if form.confirm.trim() != name {
        Err(AppError::BadRequest(format!(
            "nothing was deleted: type the crate name `{name}` to confirm (you typed `{}`)",
            form.confirm.trim()
        )))
    } else {
        match app.registry(&registry) {
            Ok(r) => {
                ops::delete::delete(&app, r, Some(actor), &name, version, form.reason.as_deref())
                    .await
            }
            Err(err) => Err(err),
        }
    };
    match result {
        Ok(deleted) if deleted.crate_deleted => {
            let notice = format!(
                "{}. For 24 hours only its former owners and the registry's administrators may \
                 publish the name again; then anyone may.",
                capitalized(&deleted.to_string())
            );
            Ok(viewer.redirect_with_notice("/me", &notice))
        }
        Ok(deleted) => {
            Ok(viewer
                .redirect_with_notice(&page, &format!("{}.", capitalized(&deleted.to_string()))))
        }
        Err(AppError::Internal(cause)) => Err(AppError::Internal(cause).into()),
        Err(err) => {
            let messages = Messages {
                notice: None,
                error: Some(err.to_string()),
            };
            // A crate that is not there (or not to be seen) gets the site's 404 page.
            if matches!(err, AppError::NotFound(_)) && version.is_none() {
                return Err(err.into());
            }
            render_crate_page(
                &app,
                &viewer,
                &registry,
                &name,
                None,
                err.status(),
                messages,
            )
            .await
        }
    }
}

/// A yank or unyank button of the versions table.
#[derive(Debug, Deserialize)]
pub struct YankForm {
    csrf: String,
    version: String,
    /// `true` to yank, `false` to unyank.
    yanked: bool,
}

/// `POST /registries/{registry}/crates/{crate}/yank`: yanks or unyanks one version
/// (`ops::yank::set_yanked`, as `cargo yank` does), then redirects to the crate page.
pub async fn yank_version(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((registry, name)): Path<(String, String)>,
    PageForm(form): PageForm<YankForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let page = view::crate_url(&registry, &name, None);
    let actor = viewer.require_user(&page)?;
    let version = form.version.trim();
    let result = match app.registry(&registry) {
        Ok(r) => ops::yank::set_yanked(&app, r, actor, &name, version, form.yanked).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => {
            let notice = if form.yanked {
                format!("Yanked {version}: new lockfiles skip it; existing ones keep it.")
            } else {
                format!("Unyanked {version}.")
            };
            Ok(viewer.redirect_with_notice(&page, &notice))
        }
        Err(AppError::Internal(cause)) => Err(AppError::Internal(cause).into()),
        // A crate that is not there (or not to be seen) gets the site's 404 page
        // from the page itself.
        Err(err) => {
            let messages = Messages {
                notice: None,
                error: Some(err.to_string()),
            };
            render_crate_page(
                &app,
                &viewer,
                &registry,
                &name,
                None,
                err.status(),
                messages,
            )
            .await
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What `ops::delete` says `viewer` may do about deleting crate `name`: `None`
/// for visitors and caches, `Verdict::NotOwner` for those who neither own the
/// crate nor administer the registry. Any other verdict is an owner's or an
/// administrator's, who may also yank its versions.
async fn delete_verdict(
    app: &App,
    viewer: &Viewer,
    registry: &Registry,
    name: &str,
) -> Result<Option<Verdict>, AppError> {
    match viewer.actor.as_ref() {
        Some(actor) => ops::delete::verdict_for_page(app, registry, actor, name).await,
        None => Ok(None),
    }
}

/// The deletion section of crate `name` for `verdict` (`delete_verdict`): none
/// for visitors, for those who neither own the crate nor administer the
/// registry, and for caches.
fn delete_section(
    verdict: Option<Verdict>,
    registry: &Registry,
    name: &str,
    versions: &[String],
) -> Option<DeleteSection> {
    let action = format!("{}/delete", view::crate_url(&registry.name, name, None));
    match verdict {
        None | Some(Verdict::NotOwner) => None,
        Some(Verdict::Refused(why)) => Some(DeleteSection {
            action,
            rule: format!("{}.", capitalized(&why)),
            allowed: false,
            versions: Vec::new(),
        }),
        Some(Verdict::Allowed(allowed)) => Some(DeleteSection {
            action,
            rule: format!("{}.", capitalized(&allowed.to_string())),
            allowed: true,
            versions: if allowed.versions_too() {
                versions.to_vec()
            } else {
                Vec::new()
            },
        }),
    }
}

/// The crate page with `messages`, answered with `status`.
async fn render_crate_page(
    app: &App,
    viewer: &Viewer,
    registry: &str,
    name: &str,
    version: Option<&str>,
    status: StatusCode,
    messages: Messages,
) -> WebResult {
    let c = browse::crate_view(app, viewer.actor.as_ref(), registry, name, version).await?;
    let version_nums: Vec<String> = c.versions.iter().map(|v| v.num.clone()).collect();
    let verdict = delete_verdict(app, viewer, &c.registry, &c.name).await?;
    // Those the deletion section is for (owners and administrators) may yank too.
    let yank_action = matches!(verdict, Some(Verdict::Allowed(_) | Verdict::Refused(_)))
        .then(|| format!("{}/yank", view::crate_url(&c.registry.name, &c.name, None)));
    let delete = delete_section(verdict, &c.registry, &c.name, &version_nums);
    let registry = c.registry.name.clone();
    let url = |name: &str, version: Option<&str>| view::crate_url(&registry, name, version);
    let shown = &c.version;
    let is_latest = c.max_version.as_deref() == Some(shown.num.as_str());
    // A dependency on crates.io comes, to users of a virtual registry standing in
    // for it, through that registry, from whichever member serves the name: its
    // page there redirects to that member's.
    let deps_through = readable_stand_in(app, viewer.actor.as_ref(), &c.registry).await?;
    let dependency_groups = c
        .dependencies
        .iter()
        .map(|(kind, deps)| DependencyGroup {
            heading: match kind {
                DependencyKind::Normal => "Normal",
                DependencyKind::Build => "Build",
                DependencyKind::Dev => "Development",
            },
            items: deps
                .iter()
                .map(|d| {
                    let mut notes = Vec::new();
                    if let Some(rename) = &d.rename {
                        notes.push(format!("as {rename}"));
                    }
                    if d.optional {
                        notes.push("optional".to_owned());
                    }
                    if let Some(target) = &d.target {
                        notes.push(format!("on {target}"));
                    }
                    let through = d
                        .other_registry
                        .as_deref()
                        .filter(|other| *other == CRATES_IO_INDEX)
                        .and(deps_through.as_deref());
                    if let Some(through) = through {
                        notes.push(format!("through {through}"));
                    } else if let Some(other) = &d.other_registry {
                        notes.push(format!("from {other}"));
                    }
                    DependencyItem {
                        url: match through {
                            Some(through) => Some(view::crate_url(through, &d.name, None)),
                            None => d.other_registry.is_none().then(|| url(&d.name, None)),
                        },
                        name: d.name.clone(),
                        req: d.req.clone(),
                        notes: notes.join(", "),
                    }
                })
                .collect(),
        })
        .collect();
    // Only a proxy of crates.io has any: a local crate of the same name is another crate.
    let advisories = ops::advisories::for_crate(app, &c.registry, &c.name).await?;
    let advisories_of = |num: &str| -> Vec<String> {
        advisories
            .iter()
            .filter(|a| a.affects(num))
            .map(|a| a.row.id.clone())
            .collect()
    };
    let chart_total: i64 = c.downloads_per_day.iter().sum();
    // Cargo adds no yanked version: a yanked version's page offers the newest one
    // it will add, and a crate with every version yanked offers none.
    let offered = if shown.yanked {
        c.max_version.as_deref()
    } else {
        Some(shown.num.as_str())
    };
    let via = match offered {
        Some(_) => crates_io_stand_in(app, viewer.actor.as_ref(), &c.registry, &c.name).await?,
        None => None,
    };
    let via = via.map(|v| v.name.clone());
    let yank_registry = via.clone().unwrap_or_else(|| c.registry.name.clone());
    // A proxy stores a version when it caches it: when that was is not when it was
    // published, which the upstream's index line says.
    let pubtimes = if c.registry.proxy.is_some() {
        upstream_pubtimes(app, &c.registry, &c.name).await?
    } else {
        HashMap::new()
    };
    // A `.crate` imported into a proxy carries no upstream line: its own says when
    // it was stored, to the second.
    let published =
        |num: &str, stored_at: i64| match pubtimes.get(num).filter(|&&at| at != stored_at) {
            Some(&at) => view::date(at),
            None if c.registry.proxy.is_some() => format!("{} (cached)", view::date(stored_at)),
            None => view::date(stored_at),
        };
    let page = CratePage {
        chrome: viewer.chrome(format!("{} {}", c.name, shown.num)),
        registry_kind: kind_name(c.registry.kind),
        install: offered
            .map(|num| install_lines(&c.registry, via, &c.name, num, c.targets.as_ref())),
        name: c.name.clone(),
        version: shown.num.clone(),
        yanked: shown.yanked,
        is_latest,
        latest_url: c
            .max_version
            .as_deref()
            .map(|v| url(&c.name, Some(v)))
            .unwrap_or_default(),
        latest: c.max_version.clone(),
        description: c.description.clone().unwrap_or_default(),
        published: published(&shown.num, shown.published_at),
        license: shown.license.clone().unwrap_or_default(),
        rust_version: shown.rust_version.clone().unwrap_or_default(),
        edition: c.edition.clone().unwrap_or_default(),
        size: view::human_size(shown.size),
        downloads: view::thousands(c.downloads),
        version_downloads: view::thousands(shown.downloads),
        homepage: c.homepage.clone().filter(|u| is_web_link(u)),
        documentation: c.documentation.clone().filter(|u| is_web_link(u)),
        repository: c.repository.clone().filter(|u| is_web_link(u)),
        keywords: c
            .keywords
            .iter()
            .map(|k| (k.clone(), format!("/keywords/{}", view::url_encode(k))))
            .collect(),
        readme_html: c.readme.as_deref().map(|readme| {
            let base = c.repository.as_deref().and_then(|repository| {
                ReadmeBase::new(
                    repository,
                    &app.config.forges,
                    c.path_in_vcs.as_deref(),
                    c.readme_file.as_deref(),
                )
            });
            render_readme(readme, base.as_ref())
        }),
        advisories: advisories
            .iter()
            .filter(|a| a.affects(&shown.num))
            .map(|a| AdvisoryItem {
                id: a.row.id.clone(),
                url: a.page_url(),
                title: a.row.title.clone(),
                kind: a
                    .row
                    .informational
                    .clone()
                    .unwrap_or_else(|| "vulnerability".to_owned()),
                informational: !a.is_vulnerability(),
                date: a.row.date.clone(),
                aliases: a.row.aliases.clone(),
                patched: a.patched_list(),
                yanked_here: a.is_vulnerability()
                    && ops::advisories::mode_of(&c.registry) == ops::advisories::AdvisoryMode::Yank,
            })
            .collect(),
        versions: c
            .versions
            .iter()
            .map(|v| VersionItem {
                url: url(&c.name, Some(&v.num)),
                num: v.num.clone(),
                yanked: v.yanked,
                advisories: advisories_of(&v.num),
                current: v.id == shown.id,
                published: published(&v.num, v.published_at),
                by: v.published_by.clone().unwrap_or_else(|| "—".into()),
                downloads: view::thousands(v.downloads),
                size: view::human_size(v.size),
            })
            .collect(),
        dependency_groups,
        features: c
            .features
            .iter()
            .map(|(name, enables)| FeatureItem {
                name: name.clone(),
                enables: enables.join(", "),
            })
            .collect(),
        owners: c
            .owners
            .iter()
            .map(|o| OwnerItem {
                name: o.login.clone(),
                team: false,
            })
            .chain(c.team_owners.iter().map(|t| OwnerItem {
                name: t.name.clone(),
                team: true,
            }))
            .collect(),
        dependents: dependent_items(&c.dependents, &url),
        chart_svg: view::bar_chart(&c.downloads_per_day),
        chart_total: view::count(chart_total, "download"),
        registry,
        notice: messages.notice,
        error: messages.error,
        delete,
        yank_action,
        yank_registry,
    };
    viewer.render_with(status, &page)
}

/// `cargo add` and the `Cargo.toml` line for version `num` of `name` in `registry`,
/// and `cargo install` when it has binaries (`targets`; unknown for versions
/// stored before cargohold recorded them). A tool with no library gets only
/// `cargo install`, as on crates.io: cargo ignores a dependency without one.
///
/// Written as crates.io dependencies, without `--registry` or a `registry` key, when
/// crates.io is replaced by `registry` itself (a proxy of crates.io, whose set-up
/// page gives the lines) or by `via`, a virtual registry that serves this crate
/// from `registry` ([`crates_io_stand_in`]): a `registry` key there would name a
/// registry its users have not configured, or bring a second copy of the crate.
fn install_lines(
    registry: &Registry,
    via: Option<String>,
    name: &str,
    num: &str,
    targets: Option<&Targets>,
) -> InstallLines {
    let through_replacement = via.is_some() || ops::setup::used_as_crates_io(registry);
    let registry = &registry.name;
    let bins = targets.map(|t| t.bins.clone()).unwrap_or_default();
    let binaries_only = targets.is_some_and(|t| !t.lib && !t.bins.is_empty());
    let cargo_install = (!bins.is_empty()).then(|| format!("cargo install {name}@{num}"));
    if through_replacement {
        InstallLines {
            cargo_install,
            bins,
            library: !binaries_only,
            cargo_add: format!("cargo add {name}@{num}"),
            add_registry: None,
            toml_line: format!("{name} = \"{num}\""),
            version: num.to_owned(),
            through_replacement,
            via,
        }
    } else {
        InstallLines {
            cargo_install,
            bins,
            library: !binaries_only,
            cargo_add: format!("cargo add {name}@{num}"),
            add_registry: Some(registry.clone()),
            toml_line: format!(
                // Crate names are ASCII letters, digits, `-` and `_`: always a bare TOML key.
                "{name} = {{ version = \"{num}\", registry = \"{registry}\" }}"
            ),
            version: num.to_owned(),
            through_replacement,
            via: None,
        }
    }
}

/// The virtual registry standing in for crates.io (`ops::setup::crates_io_stand_ins`)
/// through which `viewer` gets crate `name` of its member `registry`: one they may
/// read, that serves the name from `registry` to them, as its index does (an
/// earlier member may hold the same name). The first by name, if several do.
async fn crates_io_stand_in(
    app: &App,
    viewer: Option<&Actor>,
    registry: &Registry,
    name: &str,
) -> AppResult<Option<Arc<Registry>>> {
    let lower = name.to_ascii_lowercase();
    for stand_in in ops::setup::crates_io_stand_ins(app, registry) {
        let Some(members) = stand_in.members.as_ref() else {
            continue;
        };
        if !browse::may_read(app, stand_in, viewer).await? {
            continue;
        }
        let resolved = virtual_registry::resolve(app, members, &lower, Reader::Request(viewer));
        if let Resolved::Found(member, _) = resolved.await?
            && member.id == registry.id
        {
            return Ok(Some(Arc::clone(stand_in)));
        }
    }
    Ok(None)
}

/// The first virtual registry standing in for crates.io with `registry` among its
/// members that `viewer` may read, by name.
async fn readable_stand_in(
    app: &App,
    viewer: Option<&Actor>,
    registry: &Registry,
) -> AppResult<Option<String>> {
    for stand_in in ops::setup::crates_io_stand_ins(app, registry) {
        if browse::may_read(app, stand_in, viewer).await? {
            return Ok(Some(stand_in.name.clone()));
        }
    }
    Ok(None)
}

/// The upstream's publish time of each version a proxy cached, by version, from
/// the `pubtime` of the index lines it stored (when the upstream gives one).
async fn upstream_pubtimes(
    app: &App,
    registry: &Registry,
    name: &str,
) -> AppResult<HashMap<String, i64>> {
    #[derive(Deserialize)]
    struct Line {
        vers: String,
        #[serde(default)]
        pubtime: Option<String>,
    }
    let Some(krate) =
        db::crates::find_by_canonical(app.db.read(), registry.id, &canonical_name(name)).await?
    else {
        return Ok(HashMap::new());
    };
    let lines = db::versions::index_lines(app.db.read(), krate.id).await?;
    Ok(lines
        .iter()
        .filter_map(|line| {
            let line: Line = serde_json::from_str(line).ok()?;
            let at = parse_pubtime(line.pubtime.as_deref()?)?;
            Some((line.vers, at))
        })
        .collect())
}

/// One item per dependent version, with each distinct requirement it states;
/// the rows of one dependent come adjacent (`db::versions::dependents`).
fn dependent_items(
    rows: &[DependentRow],
    url: &impl Fn(&str, Option<&str>) -> String,
) -> Vec<DependentItem> {
    let mut items: Vec<DependentItem> = Vec::with_capacity(rows.len());
    for row in rows {
        match items.last_mut() {
            Some(last) if last.name == row.name && last.version == row.version => {
                if !last.reqs.contains(&row.req) {
                    last.reqs.push(row.req.clone());
                }
            }
            _ => items.push(DependentItem {
                url: url(&row.name, None),
                name: row.name.clone(),
                version: row.version.clone(),
                reqs: vec![row.req.clone()],
            }),
        }
    }
    items
}

/// Only http(s) links from a manifest become links on the page.
fn is_web_link(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}
