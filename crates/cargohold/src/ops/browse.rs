//! What the web pages show: which registries a visitor may read, crate listings,
//! and everything a crate page needs. The same read rules as the API: a private
//! registry shows nothing to anyone without `read` in it.

use std::collections::BTreeMap;
use std::sync::Arc;

use cargohold_protocol::targets::Targets;
use cargohold_protocol::{DependencyKind, IndexDependency, IndexEntry};

use crate::access::{self, Role};
use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::clock;
use crate::config::RegistryKind;
use crate::db::{
    self,
    crates::{ListFilter, ListOrder},
    owners::{OwnerRow, TeamOwnerRow},
    versions::{DependentRow, VersionSummaryRow},
};
use crate::error::{AppError, AppResult};

/// Most crates one listing page holds.
pub const PER_PAGE: i64 = 20;

/// Whether `viewer` (`None`: an anonymous visitor) may read `registry`.
pub async fn may_read(app: &App, registry: &Registry, viewer: Option<&Actor>) -> AppResult<bool> {
    if !registry.auth_required {
        return Ok(true);
    }
    let Some(viewer) = viewer else {
        return Ok(false);
    };
    let role = access::role_in(app.db.read(), registry, viewer).await?;
    Ok(role.is_some_and(|role| role >= Role::Read))
}

/// The registries `viewer` may read, by name.
pub async fn readable(app: &App, viewer: Option<&Actor>) -> AppResult<Vec<Arc<Registry>>> {
    let mut all: Vec<&Arc<Registry>> = app.registries().collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let mut readable = Vec::with_capacity(all.len());
    for registry in all {
        if may_read(app, registry, viewer).await? {
            readable.push(Arc::clone(registry));
        }
    }
    Ok(readable)
}

/// The registry `name` if `viewer` may read it; otherwise the same 404 as for a
/// registry that does not exist, so a private registry's name is not confirmed.
pub async fn readable_registry(
    app: &App,
    name: &str,
    viewer: Option<&Actor>,
) -> AppResult<Arc<Registry>> {
    let not_found = || {
        AppError::NotFound(format!(
            "there is no registry `{}` that you may read{}",
            name.escape_debug(),
            if viewer.is_none() {
                "; signing in may show more"
            } else {
                ""
            }
        ))
    };
    let registry = app.registry(name).map_err(|_| not_found())?;
    if may_read(app, registry, viewer).await? {
        Ok(Arc::clone(registry))
    } else {
        Err(not_found())
    }
}

/// A crate in a listing.
#[derive(Debug, Clone)]
pub struct ListedCrate {
    pub registry: String,
    pub name: String,
    pub description: Option<String>,
    pub max_version: Option<String>,
    pub downloads: i64,
    pub updated_at: i64,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Listing {
    pub crates: Vec<ListedCrate>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

/// What to list: crates of the readable registries (or of one), matching a
/// query or carrying a keyword.
#[derive(Debug, Clone, Default)]
pub struct ListRequest<'a> {
    pub registry: Option<&'a str>,
    pub query: &'a str,
    pub keyword: Option<&'a str>,
    pub page: i64,
}

/// A page of crates `viewer` may see. Virtual registries hold no crates of
/// their own: their members' crates are listed under the members' names.
pub async fn list(
    app: &App,
    viewer: Option<&Actor>,
    request: &ListRequest<'_>,
    order: ListOrder,
    per_page: i64,
) -> AppResult<Listing> {
    if request.query.chars().any(char::is_control) || request.query.len() > 256 {
        return Err(AppError::BadRequest(
            "the search query must be at most 256 bytes without control characters".into(),
        ));
    }
    let registries = match request.registry {
        Some(name) => vec![readable_registry(app, name, viewer).await?],
        None => readable(app, viewer).await?,
    };
    let holders: Vec<&Arc<Registry>> = registries
        .iter()
        .filter(|r| r.kind != RegistryKind::Virtual)
        .collect();
    let ids: Vec<i64> = holders.iter().map(|r| r.id).collect();
    let names: BTreeMap<i64, &str> = holders.iter().map(|r| (r.id, r.name.as_str())).collect();
    let page = request.page.clamp(1, 10_000);
    let filter = ListFilter {
        registry_ids: &ids,
        query: request.query,
        keyword: request.keyword,
    };
    let (rows, total) = db::crates::list(
        app.db.read(),
        &filter,
        order,
        per_page,
        (page - 1) * per_page,
    )
    .await?;
    Ok(Listing {
        crates: rows
            .into_iter()
            .map(|row| listed_crate(row, &names))
            .collect(),
        total,
        page,
        pages: (total + per_page - 1) / per_page,
    })
}

/// What the start page lists: the team's own crates, from the local registries
/// the viewer may read, apart from what the caches of upstream registries hold,
/// so that one `cargo fetch` through a proxy does not bury them.
#[derive(Debug, Clone, Default)]
pub struct HomeLists {
    /// Whether the viewer may read a local registry (else there is no "team" list).
    pub has_local: bool,
    /// The newest crates of the local registries.
    pub new: Vec<ListedCrate>,
    /// Crates of the local registries that got a version after their first, the
    /// most recently updated first: never a crate published only once, so never
    /// a second copy of [`Self::new`].
    pub updated: Vec<ListedCrate>,
    /// The crates proxies cached most recently.
    pub cached: Vec<ListedCrate>,
    /// How many crates those proxies hold in all.
    pub cached_total: i64,
}

/// The start page's lists for `viewer`, `per_list` crates each at most.
pub async fn home_lists(app: &App, viewer: Option<&Actor>, per_list: i64) -> AppResult<HomeLists> {
    let registries = readable(app, viewer).await?;
    let of_kind = |kind: RegistryKind| -> Vec<&Arc<Registry>> {
        registries.iter().filter(|r| r.kind == kind).collect()
    };
    let (locals, proxies) = (of_kind(RegistryKind::Local), of_kind(RegistryKind::Proxy));
    let ids = |holders: &[&Arc<Registry>]| holders.iter().map(|r| r.id).collect::<Vec<i64>>();
    let names: BTreeMap<i64, &str> = registries.iter().map(|r| (r.id, r.name.as_str())).collect();
    let listed = |rows: Vec<db::crates::ListRow>| -> Vec<ListedCrate> {
        rows.into_iter()
            .map(|row| listed_crate(row, &names))
            .collect()
    };
    let newest = |ids: Vec<i64>| async move {
        let filter = ListFilter {
            registry_ids: &ids,
            ..ListFilter::default()
        };
        db::crates::list(
            app.db.read(),
            &filter,
            ListOrder::RecentlyCreated,
            per_list,
            0,
        )
        .await
    };
    let (new, _) = newest(ids(&locals)).await?;
    let updated = db::crates::list_updated(app.db.read(), &ids(&locals), per_list).await?;
    let (cached, cached_total) = newest(ids(&proxies)).await?;
    Ok(HomeLists {
        has_local: !locals.is_empty(),
        new: listed(new),
        updated: listed(updated),
        cached: listed(cached),
        cached_total,
    })
}

fn listed_crate(row: db::crates::ListRow, names: &BTreeMap<i64, &str>) -> ListedCrate {
    ListedCrate {
        registry: names
            .get(&row.registry_id)
            .copied()
            .unwrap_or("")
            .to_owned(),
        name: row.name,
        description: row.description,
        max_version: row.max_version,
        downloads: row.downloads,
        updated_at: row.updated_at,
    }
}

/// A dependency as a crate page shows it.
#[derive(Debug, Clone)]
pub struct DependencyView {
    /// The package depended on (not its rename).
    pub name: String,
    /// The name it is used under, when renamed.
    pub rename: Option<String>,
    pub req: String,
    pub optional: bool,
    pub target: Option<String>,
    /// The registry it comes from when not this one (an index URL).
    pub other_registry: Option<String>,
}

/// Everything a crate page shows, for one of its versions.
#[derive(Debug, Clone)]
pub struct CrateView {
    pub registry: Arc<Registry>,
    pub name: String,
    pub max_version: Option<String>,
    pub downloads: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The version shown, from `versions`.
    pub version: VersionSummaryRow,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub documentation: Option<String>,
    pub repository: Option<String>,
    pub readme: Option<String>,
    /// The README's path in the package, from its manifest.
    pub readme_file: Option<String>,
    /// The package's directory in its repository, when cargo recorded it.
    pub path_in_vcs: Option<String>,
    /// What the version builds; `None` for versions stored before cargohold
    /// recorded it.
    pub targets: Option<Targets>,
    pub edition: Option<String>,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub authors: Vec<String>,
    pub versions: Vec<VersionSummaryRow>,
    /// Normal, build and dev dependencies.
    pub dependencies: Vec<(DependencyKind, Vec<DependencyView>)>,
    pub features: Vec<(String, Vec<String>)>,
    pub owners: Vec<OwnerRow>,
    pub team_owners: Vec<TeamOwnerRow>,
    pub dependents: Vec<DependentRow>,
    /// Downloads per day over the last [`DOWNLOAD_DAYS`] days, oldest first (zeros included).
    pub downloads_per_day: Vec<i64>,
}

/// How many days of downloads a crate page charts.
pub const DOWNLOAD_DAYS: i64 = 90;

/// The crate `name` of `registry` as `viewer` may see it, at `version` (default:
/// its highest available version, or its newest if all are yanked).
pub async fn crate_view(
    app: &App,
    viewer: Option<&Actor>,
    registry: &str,
    name: &str,
    version: Option<&str>,
) -> AppResult<CrateView> {
    let registry = readable_registry(app, registry, viewer).await?;
    let krate = super::find_crate(app.db.read(), &registry, name).await?;
    let versions = db::versions::list_for_crate(app.db.read(), krate.id).await?;
    let wanted = version.or(krate.max_version.as_deref());
    let shown = match wanted {
        Some(num) => versions.iter().find(|v| v.num == num),
        None => versions.first(),
    }
    .or(if version.is_none() {
        versions.first()
    } else {
        None
    })
    .cloned()
    .ok_or_else(|| {
        AppError::NotFound(format!(
            "crate `{}` has no version {}",
            krate.name,
            version.unwrap_or("at all").escape_debug()
        ))
    })?;
    let details = db::versions::details(app.db.read(), shown.id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("version {} is gone", shown.num)))?;
    let entry: IndexEntry = serde_json::from_str(&details.index_line).map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "stored index line of {}@{} does not parse: {e}",
            krate.name,
            shown.num
        ))
    })?;
    let owners = db::owners::list(app.db.read(), krate.id).await?;
    let team_owners = db::owners::list_teams(app.db.read(), krate.id).await?;
    let crates_io_too = !super::setup::crates_io_stand_ins(app, &registry).is_empty();
    let dependents =
        db::versions::dependents(app.db.read(), registry.id, &krate.name, crates_io_too, 50)
            .await?;
    let today = clock::now().div_euclid(86_400);
    let since = today - DOWNLOAD_DAYS + 1;
    let mut downloads_per_day = vec![0; DOWNLOAD_DAYS as usize];
    for (day, count) in db::downloads::per_day(app.db.read(), krate.id, since).await? {
        if let Some(slot) = downloads_per_day.get_mut((day - since) as usize) {
            *slot = count;
        }
    }
    let json_list = |text: &str| serde_json::from_str::<Vec<String>>(text).unwrap_or_default();
    Ok(CrateView {
        dependencies: group_dependencies(&entry.deps, &registry),
        features: entry
            .all_features()
            .into_iter()
            .collect::<Vec<(String, Vec<String>)>>(),
        registry,
        name: krate.name,
        max_version: krate.max_version,
        downloads: krate.downloads,
        created_at: krate.created_at,
        updated_at: krate.updated_at,
        version: shown,
        description: details.description,
        homepage: details.homepage,
        documentation: details.documentation,
        repository: details.repository,
        readme: details.readme,
        readme_file: details.readme_file,
        path_in_vcs: details.path_in_vcs,
        targets: details.has_lib.map(|lib| Targets {
            lib,
            bins: details
                .bin_names
                .as_deref()
                .map(json_list)
                .unwrap_or_default(),
        }),
        edition: details.edition,
        keywords: json_list(&details.keywords),
        categories: json_list(&details.categories),
        authors: json_list(&details.authors),
        versions,
        owners,
        team_owners,
        dependents,
        downloads_per_day,
    })
}

/// Dependencies by kind (normal, build, dev), each sorted by name.
fn group_dependencies(
    deps: &[IndexDependency],
    registry: &Registry,
) -> Vec<(DependencyKind, Vec<DependencyView>)> {
    let identity = registry.identity();
    [
        DependencyKind::Normal,
        DependencyKind::Build,
        DependencyKind::Dev,
    ]
    .into_iter()
    .map(|kind| {
        let mut views: Vec<DependencyView> = deps
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| DependencyView {
                name: d.crate_name().to_owned(),
                rename: d.package.as_ref().map(|_| d.name.clone()),
                req: d.req.clone(),
                optional: d.optional,
                target: d.target.clone(),
                other_registry: d
                    .registry
                    .as_deref()
                    .filter(|url| !identity.is_own(url))
                    .map(str::to_owned),
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name).then(a.target.cmp(&b.target)));
        (kind, views)
    })
    .filter(|(_, views)| !views.is_empty())
    .collect()
}
