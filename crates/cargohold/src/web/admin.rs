//! Administration pages: users and their tokens, teams, registries and their
//! permissions, the audit log, webhook deliveries, and rebuilding derived data.
//! Only administrators see them; every change goes through the same use cases
//! (and checks) as the API and the CLI.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::browse::kind_name;
use super::view::{self, Chrome, TokenItem};
use super::{PageForm, PageQuery, Viewer, WebResult};
use crate::access::Role;
use crate::app::{App, AppState};
use crate::auth::Actor;
use crate::clock;
use crate::db::audit::AuditFilter;
use crate::error::AppError;
use crate::ops::{self, permissions::Grantee, users::NewUser, users::UserChange};

/// The signed-in administrator, or a sign-in redirect / 403.
fn admin<'v>(viewer: &'v Viewer, here: &str) -> WebResult<&'v Actor> {
    let actor = viewer.require_user(here)?;
    if !actor.is_admin {
        return Err(AppError::Forbidden(format!(
            "`{}` is not an administrator; administration pages are for administrators only",
            actor.login
        ))
        .into());
    }
    Ok(actor)
}

/// A message shown above an administration page after a change.
#[derive(Debug, Clone, Default)]
pub struct Flash {
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Flash {
    /// A form's refusal, shown on its page again with the refusal's status: the
    /// form changed nothing, so sending it again is harmless. (A change redirects
    /// to the page instead: 303, so a reload sends nothing again.)
    fn refused(err: AppError) -> Result<(StatusCode, Flash), AppError> {
        match err {
            AppError::Internal(cause) => Err(AppError::Internal(cause)),
            err => Ok((
                err.status(),
                Flash {
                    notice: None,
                    error: Some(err.to_string()),
                },
            )),
        }
    }

    /// The notice a form's redirect brought to `page`, for a `GET`.
    fn on(viewer: &Viewer, page: &str) -> Flash {
        Flash {
            notice: viewer.notice_for(page),
            error: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RegistryRow {
    pub name: String,
    pub kind: &'static str,
    pub private: bool,
    pub source: String,
    pub crates: String,
    pub versions: String,
    pub size: String,
    pub downloads: String,
}

/// Something on the overview an administrator should look at, with where to do it.
#[derive(Debug, Clone)]
pub struct AttentionItem {
    pub id: &'static str,
    pub text: String,
    pub href: String,
    pub link: String,
}

/// One of the latest changes.
#[derive(Debug, Clone)]
pub struct RecentChange {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
pub struct OverviewPage {
    pub chrome: Chrome,
    pub flash: Flash,
    pub registries: Vec<RegistryRow>,
    pub attention: Vec<AttentionItem>,
    pub recent: Vec<RecentChange>,
}

/// `GET /admin`.
pub async fn overview(State(app): State<AppState>, viewer: Viewer) -> WebResult {
    admin(&viewer, "/admin")?;
    overview_page(&app, &viewer, StatusCode::OK, Flash::on(&viewer, "/admin")).await
}

async fn overview_page(app: &App, viewer: &Viewer, status: StatusCode, flash: Flash) -> WebResult {
    let actor = admin(viewer, "/admin")?;
    let overview = ops::overview::overview(app, actor).await?;
    let mut registries: Vec<_> = app.registries().collect();
    registries.sort_by(|a, b| a.name.cmp(&b.name));
    let page = OverviewPage {
        chrome: viewer.chrome("Administration"),
        flash,
        registries: registries
            .into_iter()
            .map(|r| {
                let held = overview.holdings.get(&r.id).cloned().unwrap_or_default();
                // A virtual registry holds nothing of its own: its members' rows count it.
                let [crates, versions, size, downloads] = if r.members.is_some() {
                    [
                        "—".to_owned(),
                        "—".to_owned(),
                        "—".to_owned(),
                        "—".to_owned(),
                    ]
                } else {
                    [
                        view::thousands(held.crates),
                        view::thousands(held.versions),
                        view::human_size(held.bytes),
                        view::thousands(held.downloads),
                    ]
                };
                RegistryRow {
                    name: r.name.clone(),
                    kind: kind_name(r.kind),
                    private: r.auth_required,
                    source: match (&r.proxy, &r.members) {
                        (Some(proxy), _) => format!("caches {}", proxy.upstream.shown_url()),
                        (_, Some(m)) => format!(
                            "serves {}{}",
                            m.locals
                                .iter()
                                .chain(&m.proxies)
                                .map(|r| r.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            m.publish_to
                                .as_ref()
                                .map(|p| format!("; publishes go to {}", p.name))
                                .unwrap_or_default()
                        ),
                        _ => "crates published here".to_owned(),
                    },
                    crates,
                    versions,
                    size,
                    downloads,
                }
            })
            .collect(),
        attention: attention(&overview),
        recent: overview
            .recent
            .into_iter()
            .map(|r| RecentChange {
                at: view::date_time(r.at),
                actor: r.actor.unwrap_or_else(|| "—".into()),
                action: r.action,
                target: [r.registry, r.crate_name, r.version]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect(),
    };
    viewer.render_with(status, &page)
}

/// The overview's "needs attention" list: only what is there to look at.
fn attention(overview: &ops::overview::Overview) -> Vec<AttentionItem> {
    let mut items = Vec::new();
    if overview.failed_deliveries > 0 {
        items.push(AttentionItem {
            id: "failed-deliveries",
            text: match overview.failed_deliveries {
                1 => "1 webhook delivery failed.".to_owned(),
                n => format!("{} webhook deliveries failed.", view::thousands(n)),
            },
            href: "/admin/webhooks?failed=1".into(),
            link: "See them and redeliver".into(),
        });
    }
    if let Some(first) = overview.expiring_tokens.first() {
        let n = overview.expiring_tokens.len() as i64;
        items.push(AttentionItem {
            id: "expiring-tokens",
            text: format!(
                "{} {} within {} days, the first `{}` of {} on {}.",
                view::count(n, "token"),
                if n == 1 { "expires" } else { "expire" },
                ops::overview::EXPIRY_WARNING_DAYS,
                first.name,
                first.login,
                first.expires_at.map_or_else(String::new, view::date_time)
            ),
            href: format!("/admin/users/{}/tokens", view::url_encode(&first.login)),
            link: format!("{}'s tokens", first.login),
        });
    }
    if let Some(first) = overview.advised_versions.first() {
        let n = overview.advised_versions.len() as i64;
        items.push(AttentionItem {
            id: "advised-versions",
            text: format!(
                "{} {} a security advisory, such as {} {} ({}). `cargohold advisory report` lists them all.",
                view::count(n, "cached version"),
                if n == 1 { "has" } else { "have" },
                first.krate,
                first.version,
                first.advisory.id
            ),
            href: format!(
                "/registries/{}/crates/{}?version={}",
                first.registry,
                first.krate,
                view::url_encode(&first.version)
            ),
            link: format!("{} {}", first.krate, first.version),
        });
    }
    items
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /admin/reindex`: rebuilds every registry's derived data.
pub async fn reindex(
    State(app): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<CsrfForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = admin(&viewer, "/admin")?;
    let result = ops::reindex::rebuild(&app, None, Some(actor), Default::default(), &|_, _| {})
        .await
        .map(|done| {
            format!(
                "Rebuilt the derived data of {} ({} needed a correction).",
                view::count(done.crates as i64, "crate"),
                done.corrected
            )
        });
    match result {
        Ok(notice) => Ok(viewer.redirect_with_notice("/admin", &notice)),
        Err(err) => {
            let (status, flash) = Flash::refused(err)?;
            overview_page(&app, &viewer, status, flash).await
        }
    }
}

#[derive(Debug, Clone)]
pub struct UserItem {
    pub login: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub chrome: Chrome,
    pub flash: Flash,
    pub users: Vec<UserItem>,
}

async fn users_page(app: &App, viewer: &Viewer, status: StatusCode, flash: Flash) -> WebResult {
    let actor = admin(viewer, "/admin/users")?;
    let users = ops::users::list(app, Some(actor)).await?;
    let page = UsersPage {
        chrome: viewer.chrome("Users"),
        flash,
        users: users
            .into_iter()
            .map(|u| UserItem {
                login: u.login,
                is_admin: u.is_admin,
                disabled: u.disabled_at.is_some(),
                created: view::date(u.created_at),
            })
            .collect(),
    };
    viewer.render_with(status, &page)
}

/// `GET /admin/users`.
pub async fn users(State(app): State<AppState>, viewer: Viewer) -> WebResult {
    let flash = Flash::on(&viewer, "/admin/users");
    users_page(&app, &viewer, StatusCode::OK, flash).await
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    csrf: String,
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    admin: Option<String>,
}

/// `POST /admin/users`: creates a user.
pub async fn add_user(
    State(app): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<NewUserForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = admin(&viewer, "/admin/users")?;
    let login = form.login.trim().to_owned();
    let user = NewUser {
        login: login.clone(),
        is_admin: form.admin.is_some(),
        password: Some(form.password).filter(|p| !p.is_empty()),
    };
    let result = ops::users::add(&app, user, Some(actor))
        .await
        .map(|_| format!("Created the user {login}."));
    match result {
        Ok(notice) => Ok(viewer.redirect_with_notice("/admin/users", &notice)),
        Err(err) => {
            let (status, flash) = Flash::refused(err)?;
            users_page(&app, &viewer, status, flash).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UserChangeForm {
    csrf: String,
    change: String,
}

/// `POST /admin/users/{login}`: disables, enables, promotes or demotes a user.
pub async fn change_user(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(login): Path<String>,
    PageForm(form): PageForm<UserChangeForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = admin(&viewer, "/admin/users")?;
    let change = match form.change.as_str() {
        "disable" => UserChange::Disable,
        "enable" => UserChange::Enable,
        "make-admin" => UserChange::MakeAdmin,
        "remove-admin" => UserChange::RemoveAdmin,
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown change `{}`; use disable, enable, make-admin or remove-admin",
                other.escape_debug()
            ))
            .into());
        }
    };
    let result = ops::users::change(&app, &login, change, Some(actor))
        .await
        .map(|changed| {
            if changed {
                format!("{login}: done ({}).", form.change)
            } else {
                format!("{login} already was that way.")
            }
        });
    match result {
        Ok(notice) => Ok(viewer.redirect_with_notice("/admin/users", &notice)),
        Err(err) => {
            let (status, flash) = Flash::refused(err)?;
            users_page(&app, &viewer, status, flash).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/user_tokens.html")]
pub struct UserTokensPage {
    pub chrome: Chrome,
    pub flash: Flash,
    pub login: String,
    pub tokens: Vec<TokenItem>,
}

/// The administration page of `login`'s tokens.
fn user_tokens_path(login: &str) -> String {
    format!("/admin/users/{}/tokens", view::url_encode(login))
}

async fn user_tokens_page(
    app: &App,
    viewer: &Viewer,
    login: &str,
    status: StatusCode,
    flash: Flash,
) -> WebResult {
    let actor = admin(viewer, &user_tokens_path(login))?;
    let user = ops::users::find(app.db.read(), login).await?;
    let tokens = ops::tokens::list(app, Some(&user.login), Some(actor)).await?;
    let now = clock::now();
    let page = UserTokensPage {
        chrome: viewer.chrome(format!("Tokens of {}", user.login)),
        flash,
        tokens: tokens.into_iter().map(|t| TokenItem::new(t, now)).collect(),
        login: user.login,
    };
    viewer.render_with(status, &page)
}

/// `GET /admin/users/{login}/tokens`: the user's tokens, live and revoked.
pub async fn user_tokens(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(login): Path<String>,
) -> WebResult {
    let flash = Flash::on(&viewer, &user_tokens_path(&login));
    user_tokens_page(&app, &viewer, &login, StatusCode::OK, flash).await
}

/// `POST /admin/users/{login}/tokens/{id}/revoke`: revokes one of the user's tokens.
pub async fn revoke_user_token(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((login, id)): Path<(String, String)>,
    PageForm(form): PageForm<CsrfForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = admin(&viewer, &user_tokens_path(&login))?;
    let result = match id.parse::<i64>() {
        Ok(id) => ops::tokens::revoke_of(&app, &login, id, Some(actor))
            .await
            .map(|token| format!("The token “{}” of {} is revoked.", token.name, token.login)),
        Err(_) => Err(AppError::NotFound(format!(
            "`{}` has no token with id {}",
            login.escape_debug(),
            id.escape_debug()
        ))),
    };
    match result {
        Ok(notice) => Ok(viewer.redirect_with_notice(&user_tokens_path(&login), &notice)),
        Err(err) => {
            let (status, flash) = Flash::refused(err)?;
            user_tokens_page(&app, &viewer, &login, status, flash).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/teams.html")]
pub struct TeamsPage {
    pub chrome: Chrome,
    pub flash: Flash,
    pub teams: Vec<(String, String)>,
}

async fn teams_page(app: &App, viewer: &Viewer, status: StatusCode, flash: Flash) -> WebResult {
    let actor = admin(viewer, "/admin/teams")?;
    let teams = ops::teams::list(app, Some(actor)).await?;
    let page = TeamsPage {
        chrome: viewer.chrome("Teams"),
        flash,
        teams: teams
            .into_iter()
            .map(|t| {
                let members = if t.members.is_empty() {
                    "no members yet".to_owned()
                } else {
                    t.members.join(", ")
                };
                (t.name, members)
            })
            .collect(),
    };
    viewer.render_with(status, &page)
}

/// `GET /admin/teams`.
pub async fn teams(State(app): State<AppState>, viewer: Viewer) -> WebResult {
    let flash = Flash::on(&viewer, "/admin/teams");
    teams_page(&app, &viewer, StatusCode::OK, flash).await
}

#[derive(Debug, Deserialize)]
pub struct TeamForm {
    csrf: String,
    team: String,
    /// `create`, `add` or `remove`.
    action: String,
    #[serde(default)]
    logins: String,
}

/// `POST /admin/teams`: creates a team, or adds or removes members.
pub async fn change_team(
    State(app): State<AppState>,
    viewer: Viewer,
    PageForm(form): PageForm<TeamForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = admin(&viewer, "/admin/teams")?;
    let team = form.team.trim();
    let logins = crate::auth::split_list(&form.logins);
    let result = match form.action.as_str() {
        "create" => ops::teams::create(&app, team, Some(actor))
            .await
            .map(|_| format!("Created the team {team}.")),
        "add" | "remove" => {
            let add = form.action == "add";
            ops::teams::change_members(&app, team, &logins, add, Some(actor))
                .await
                .map(|changed| {
                    format!(
                        "{team}: {} {}.",
                        if add { "added" } else { "removed" },
                        if changed.is_empty() {
                            "nobody new".to_owned()
                        } else {
                            changed.join(", ")
                        }
                    )
                })
        }
        other => Err(AppError::BadRequest(format!(
            "unknown action `{}`; use create, add or remove",
            other.escape_debug()
        ))),
    };
    match result {
        Ok(notice) => Ok(viewer.redirect_with_notice("/admin/teams", &notice)),
        Err(err) => {
            let (status, flash) = Flash::refused(err)?;
            teams_page(&app, &viewer, status, flash).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/registry.html")]
pub struct RegistryPage {
    pub chrome: Chrome,
    pub flash: Flash,
    pub registry: RegistryRow,
    pub settings: Vec<(&'static str, String)>,
    pub open_to_all: bool,
    pub grants: Vec<(String, String, String)>,
    pub roles: Vec<&'static str>,
    /// For a proxy: what its cache holds and its counters.
    pub cache: Option<CacheView>,
}

/// A proxy's cache as its registry page shows it.
#[derive(Debug, Clone)]
pub struct CacheView {
    pub summary: Vec<(&'static str, String)>,
    /// Newest first: name, version, size, stored, downloads.
    pub versions: Vec<[String; 5]>,
}

async fn registry_page(
    app: &App,
    viewer: &Viewer,
    name: &str,
    status: StatusCode,
    flash: Flash,
) -> WebResult {
    let actor = admin(viewer, &registry_path(name))?;
    let registry = app.registry(name)?;
    let permissions = ops::permissions::list(app, registry, Some(actor)).await?;
    let config = app
        .config
        .registries
        .iter()
        .find(|r| r.name == registry.name);
    let mut settings = vec![
        ("Index URL", registry.index_url.clone()),
        (
            "Private (auth-required)",
            registry.auth_required.to_string(),
        ),
    ];
    if let Some(url) = registry.git.as_ref().map(|git| &git.url) {
        let status = crate::index::git::status(app, registry)
            .await
            .map_err(AppError::from)?;
        let head = match &status.head {
            Some((commit, subject, time)) => format!(
                "HEAD {} “{subject}” ({}), holding changes up to #{} of #{}",
                &commit[..12.min(commit.len())],
                view::date(*time),
                status.head_generation,
                status.database_generation
            ),
            None => "no commit yet: the server writes it at start".to_owned(),
        };
        settings.push(("Git index", format!("{url} — {head}")));
    }
    if let Some(config) = config {
        if let Some(proxy) = &registry.proxy {
            settings.push(("Upstream", proxy.upstream.shown_url()));
            settings.push(("Freshness", format!("{} s", config.freshness_seconds)));
            settings.push(("Allow", or_none(&config.allow)));
            settings.push(("Deny", or_none(&config.deny)));
            let days = i64::try_from(config.min_age_days).unwrap_or(i64::MAX);
            settings.push(("Minimum age", view::count(days, "day")));
        }
        if !config.members.is_empty() {
            settings.push(("Members", config.members.join(", ")));
            settings.push((
                "Publish to",
                config.publish_to.clone().unwrap_or_else(|| "none".into()),
            ));
        }
    }
    let cache = match &registry.proxy {
        Some(_) => {
            let listing = ops::proxy_cache::list(app, registry, 1, 50).await?;
            let stats = &listing.stats;
            Some(CacheView {
                summary: vec![
                    (
                        "Cached versions",
                        format!(
                            "{} ({})",
                            view::thousands(listing.versions),
                            view::human_size(listing.bytes)
                        ),
                    ),
                    (
                        "Upstream index files",
                        format!(
                            "{} ({} name a crate)",
                            listing.index_files, listing.index_files_found
                        ),
                    ),
                    (
                        "Index hits / fetched upstream",
                        format!("{} / {}", stats.index_hits, stats.index_fetches),
                    ),
                    (
                        "Download hits / fetched upstream",
                        format!("{} / {}", stats.crate_hits, stats.crate_fetches),
                    ),
                    (
                        "Upstream errors / stale answers",
                        format!("{} / {}", stats.upstream_errors, stats.stale_served),
                    ),
                ],
                versions: listing
                    .crates
                    .into_iter()
                    .map(|v| {
                        [
                            v.name,
                            v.version,
                            view::human_size(v.size),
                            view::date(v.stored_at),
                            view::thousands(v.downloads),
                        ]
                    })
                    .collect(),
            })
        }
        None => None,
    };
    let page = RegistryPage {
        cache,
        chrome: viewer.chrome(format!("Registry {}", registry.name)),
        flash,
        registry: RegistryRow {
            name: registry.name.clone(),
            kind: kind_name(registry.kind),
            private: registry.auth_required,
            ..RegistryRow::default()
        },
        settings,
        open_to_all: permissions.open_to_all_users,
        grants: permissions
            .grants
            .into_iter()
            .map(|g| (g.kind, g.holder, g.role))
            .collect(),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
    };
    viewer.render_with(status, &page)
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// The administration page of registry `name`.
fn registry_path(name: &str) -> String {
    format!("/admin/registries/{}", view::url_encode(name))
}

/// `GET /admin/registries/{registry}`.
pub async fn registry(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> WebResult {
    let flash = Flash::on(&viewer, &registry_path(&name));
    registry_page(&app, &viewer, &name, StatusCode::OK, flash).await
}

#[derive(Debug, Deserialize)]
pub struct GrantForm {
    csrf: String,
    /// `user` or `team`.
    kind: String,
    holder: String,
    /// A role, or `none` to revoke.
    role: String,
}

/// `POST /admin/registries/{registry}/permissions`: grants or revokes a role.
pub async fn set_permission(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    PageForm(form): PageForm<GrantForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = admin(&viewer, "/admin")?;
    let registry = app.registry(&name)?;
    let holder = form.holder.trim().to_owned();
    let result = async {
        let grantee = match form.kind.as_str() {
            "user" => Grantee::User(holder.clone()),
            "team" => Grantee::Team(holder.clone()),
            other => {
                return Err(AppError::BadRequest(format!(
                    "grant to a `user` or a `team`, not `{}`",
                    other.escape_debug()
                )));
            }
        };
        let role = match form.role.as_str() {
            "none" => None,
            role => Some(Role::parse(role)?),
        };
        let change = ops::permissions::change(&app, registry, &grantee, role, Some(actor)).await?;
        let done = match role {
            Some(role) => format!("{grantee} now holds `{role}` in {}.", registry.name),
            None => format!("{grantee} holds no role in {} any more.", registry.name),
        };
        // When the change opened or closed the registry, the page says so too.
        Ok(match change.notice {
            Some(notice) => format!("{done} Note: {notice}."),
            None => done,
        })
    }
    .await;
    match result {
        Ok(notice) => Ok(viewer.redirect_with_notice(&registry_path(&name), &notice)),
        Err(err) => {
            let (status, flash) = Flash::refused(err)?;
            registry_page(&app, &viewer, &name, status, flash).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    registry: String,
    #[serde(default, rename = "crate")]
    krate: String,
    /// An event id, read by the handler, which says what is wrong with a bad one.
    #[serde(default)]
    before: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuditItem {
    pub at: String,
    pub actor: String,
    pub client: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    /// Every action the log records, and whether it is the one filtered on.
    pub actions: Vec<(&'static str, bool)>,
    pub actor: String,
    pub registry: String,
    pub krate: String,
    pub events: Vec<AuditItem>,
    pub older: Option<String>,
}

/// Events per audit page.
const AUDIT_PAGE: i64 = 50;

/// `GET /admin/audit?action=&actor=&registry=&crate=&before=`.
pub async fn audit(
    State(app): State<AppState>,
    viewer: Viewer,
    PageQuery(query): PageQuery<AuditQuery>,
) -> WebResult {
    let actor = admin(&viewer, "/admin/audit")?;
    let before_id = match query.before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(id.parse::<i64>().map_err(|_| {
            AppError::BadRequest("before must be a whole number: the id of an audit event".into())
        })?),
    };
    let some = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    let filter = AuditFilter {
        registry: some(&query.registry),
        crate_name: some(&query.krate),
        actor: some(&query.actor),
        action: some(&query.action),
        since: None,
        before_id,
        limit: AUDIT_PAGE,
    };
    let rows = ops::audit::list(&app, filter, Some(actor)).await?;
    let older = (rows.len() as i64 == AUDIT_PAGE).then(|| {
        format!(
            "/admin/audit?action={}&actor={}&registry={}&crate={}&before={}",
            view::url_encode(&query.action),
            view::url_encode(&query.actor),
            view::url_encode(&query.registry),
            view::url_encode(&query.krate),
            rows.last().map_or(0, |r| r.id)
        )
    });
    let page = AuditPage {
        chrome: viewer.chrome("Audit log"),
        events: rows
            .into_iter()
            .map(|r| AuditItem {
                at: cargohold_protocol::index::format_pubtime(r.at).replace('T', " "),
                actor: r.actor.unwrap_or_else(|| "—".into()),
                client: r.client_addr.unwrap_or_default(),
                action: r.action,
                target: [r.registry, r.crate_name, r.version]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                detail: ops::audit::readable_detail(&r.detail),
            })
            .collect(),
        actions: ops::audit::ACTIONS
            .iter()
            .map(|&name| (name, name == query.action.trim()))
            .collect(),
        actor: query.actor,
        registry: query.registry,
        krate: query.krate,
        older,
    };
    viewer.render(&page)
}

/// `GET /admin/registries`: the overview lists them.
pub async fn registries() -> impl IntoResponse {
    Redirect::to("/admin")
}

#[derive(Debug, Default, Deserialize)]
pub struct WebhooksQuery {
    #[serde(default)]
    registry: String,
    /// Any value but empty: failed deliveries only.
    #[serde(default)]
    failed: String,
}

#[derive(Debug, Clone)]
pub struct DeliveryRowView {
    pub id: i64,
    pub created: String,
    pub registry: String,
    pub event: String,
    pub url: String,
    pub state: &'static str,
    pub failed: bool,
    pub redelivery_of: Option<i64>,
    pub attempts: i64,
    pub last_answer: String,
    /// When it finished, or when the next attempt is due.
    pub when: String,
    pub finished: bool,
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
pub struct WebhooksPage {
    pub chrome: Chrome,
    pub flash: Flash,
    pub registry: String,
    pub failed_only: bool,
    /// This page with failed deliveries only.
    pub failed_url: String,
    pub failed_count: usize,
    pub history_days: u64,
    pub deliveries: Vec<DeliveryRowView>,
}

/// Deliveries one webhooks page shows.
const WEBHOOKS_PAGE: i64 = 100;

async fn webhooks_page(
    app: &App,
    viewer: &Viewer,
    query: &WebhooksQuery,
    status: StatusCode,
    flash: Flash,
) -> WebResult {
    let actor = admin(viewer, "/admin/webhooks")?;
    let registry = Some(query.registry.trim().to_owned()).filter(|r| !r.is_empty());
    let failed_only = !query.failed.trim().is_empty();
    let filter = ops::webhooks::DeliveryFilter {
        registry,
        failed: failed_only,
        limit: WEBHOOKS_PAGE,
    };
    let deliveries = ops::webhooks::list(app, &filter, Some(actor)).await?;
    let deliveries: Vec<DeliveryRowView> = deliveries
        .into_iter()
        .map(|d| DeliveryRowView {
            id: d.id,
            created: view::date_time(d.created_at),
            last_answer: d.last_answer(),
            registry: d.registry,
            event: d.event,
            url: d.url,
            state: d.state.as_str(),
            failed: d.state.failed(),
            redelivery_of: d.redelivery_of,
            attempts: d.attempts,
            when: d
                .finished_at
                .or(d.next_attempt_at)
                .map_or_else(String::new, view::date_time),
            finished: d.finished_at.is_some(),
        })
        .collect();
    let page = WebhooksPage {
        chrome: viewer.chrome("Webhook deliveries"),
        flash,
        registry: query.registry.clone(),
        failed_only,
        failed_url: format!(
            "/admin/webhooks?failed=1&registry={}",
            view::url_encode(&query.registry)
        ),
        failed_count: deliveries.iter().filter(|d| d.failed).count(),
        history_days: app.config.webhook_history_days,
        deliveries,
    };
    viewer.render_with(status, &page)
}

/// `GET /admin/webhooks?registry=&failed=1`: recent webhook deliveries, newest first,
/// failed ones marked.
pub async fn webhooks(
    State(app): State<AppState>,
    viewer: Viewer,
    PageQuery(query): PageQuery<WebhooksQuery>,
) -> WebResult {
    let flash = Flash::on(&viewer, "/admin/webhooks");
    webhooks_page(&app, &viewer, &query, StatusCode::OK, flash).await
}

/// `POST /admin/webhooks/{id}/redeliver`: queues a finished delivery again.
pub async fn redeliver_webhook(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> WebResult {
    viewer.check_csrf(&form.csrf)?;
    let actor = admin(&viewer, "/admin/webhooks")?;
    let result = match id.parse::<i64>() {
        Ok(id) => ops::webhooks::redeliver(&app, id, Some(actor)).await,
        Err(_) => Err(AppError::NotFound(format!(
            "there is no webhook delivery with id `{}`",
            id.escape_debug()
        ))),
    }
    .map(|again| {
        format!(
            "Queued delivery {} ({} to {}) again as delivery {}.",
            again.of.id, again.of.event, again.of.url, again.id
        )
    });
    match result {
        Ok(notice) => Ok(viewer.redirect_with_notice("/admin/webhooks", &notice)),
        Err(err) => {
            let (status, flash) = Flash::refused(err)?;
            webhooks_page(&app, &viewer, &WebhooksQuery::default(), status, flash).await
        }
    }
}
