//! The pages' templates (in `templates/`) and the small formatting helpers that
//! turn stored values into what a reader sees. Templates only print what is
//! prepared here; askama escapes every value unless marked `safe`.

use askama::Template;

use crate::db::tokens::TokenRow;
use crate::ops::browse::ListedCrate;

/// The header every page shares.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub login: Option<String>,
    pub is_admin: bool,
    pub csrf: String,
    /// The search box's text.
    pub query: String,
    pub stylesheet: &'static str,
    /// The copy buttons' script (pages work without it).
    pub script: &'static str,
}

impl Chrome {
    /// A header for a page shown to nobody in particular (error pages).
    pub fn plain(title: &str) -> Self {
        Chrome {
            title: title.to_owned(),
            login: None,
            is_admin: false,
            csrf: String::new(),
            query: String::new(),
            stylesheet: super::stylesheet_path(),
            script: super::script_path(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub message: String,
}

/// A crate in a list.
#[derive(Debug, Clone)]
pub struct CrateItem {
    pub url: String,
    pub registry: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub downloads: String,
    pub updated: String,
}

impl From<ListedCrate> for CrateItem {
    fn from(c: ListedCrate) -> Self {
        CrateItem {
            url: crate_url(&c.registry, &c.name, None),
            version: c.max_version.unwrap_or_else(|| "all yanked".into()),
            description: c.description.unwrap_or_default(),
            downloads: count(c.downloads, "download"),
            updated: date(c.updated_at),
            registry: c.registry,
            name: c.name,
        }
    }
}

/// Links to the previous and next page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the listing's URL with its query string up to `page=`.
    pub fn new(base: &str, page: i64, pages: i64) -> Self {
        let link = |p: i64| format!("{base}page={p}");
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

/// A registry as the home page introduces it.
#[derive(Debug, Clone)]
pub struct RegistryCard {
    pub name: String,
    pub kind: &'static str,
    pub private: bool,
    pub about: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    /// What this instance offers the viewer, in a sentence.
    pub tagline: String,
    pub registries: Vec<RegistryCard>,
    /// Whether the viewer may read a local registry: the team's own crates.
    pub has_local: bool,
    /// The team's newest crates (local registries only).
    pub new_crates: Vec<CrateItem>,
    /// The team's crates that got a version after their first.
    pub updated_crates: Vec<CrateItem>,
    /// What the caches of upstream registries fetched last, shown apart.
    pub cached_crates: Vec<CrateItem>,
    /// How many crates the caches hold, in words.
    pub cached_total: String,
    /// The one proxy registry, whose page lists every cached crate.
    pub cache_page: Option<String>,
    pub hidden_hint: bool,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub heading: String,
    pub summary: String,
    pub crates: Vec<CrateItem>,
    pub pager: Pager,
    pub empty: String,
    /// For a registry's own listing: its name, to link its set-up page.
    pub registry: Option<String>,
    /// For a virtual registry's listing: the members the viewer may read, in order.
    pub members: Vec<String>,
}

/// A version in a crate page's list.
#[derive(Debug, Clone)]
pub struct VersionItem {
    pub num: String,
    pub url: String,
    pub yanked: bool,
    /// Ids of the RustSec advisories that affect it.
    pub advisories: Vec<String>,
    pub current: bool,
    pub published: String,
    pub by: String,
    pub downloads: String,
    pub size: String,
}

/// A RustSec advisory on the crate page.
#[derive(Debug, Clone)]
pub struct AdvisoryItem {
    pub id: String,
    /// Its page on rustsec.org.
    pub url: String,
    pub title: String,
    /// `vulnerability`, or the informational kind (`unmaintained`, `unsound`, …).
    pub kind: String,
    pub informational: bool,
    pub date: String,
    /// CVE and GHSA ids.
    pub aliases: String,
    /// Requirements of the patched versions; empty: no version is patched.
    pub patched: Vec<String>,
    /// Served to cargo as yanked (`advisories = "yank"`).
    pub yanked_here: bool,
}

/// A dependency in a crate page.
#[derive(Debug, Clone)]
pub struct DependencyItem {
    pub name: String,
    /// Set when the dependency is in this registry.
    pub url: Option<String>,
    pub req: String,
    pub notes: String,
}

#[derive(Debug, Clone)]
pub struct DependencyGroup {
    pub heading: &'static str,
    pub items: Vec<DependencyItem>,
}

#[derive(Debug, Clone)]
pub struct FeatureItem {
    pub name: String,
    pub enables: String,
}

#[derive(Debug, Clone)]
pub struct OwnerItem {
    pub name: String,
    pub team: bool,
}

/// A crate whose newest version depends on the crate of the page, listed once.
#[derive(Debug, Clone)]
pub struct DependentItem {
    pub name: String,
    pub url: String,
    pub version: String,
    /// Each distinct requirement it states (as a normal, build or dev dependency).
    pub reqs: Vec<String>,
}

/// How a crate page tells a reader to add the crate to a project.
#[derive(Debug, Clone)]
pub struct InstallLines {
    /// `cargo install NAME@VERSION`, when the version has binaries; `--registry`
    /// and [`Self::add_registry`] end it as they end `cargo add`.
    pub cargo_install: Option<String>,
    /// The binaries `cargo install` puts on the reader's `PATH`.
    pub bins: Vec<String>,
    /// Whether to offer `cargo add` and the `Cargo.toml` line: not for a tool
    /// known to have no library.
    pub library: bool,
    /// `cargo add NAME@VERSION`, which `--registry` and [`Self::add_registry`] end
    /// when set (apart, so that a wrapped line never splits `--registry`).
    pub cargo_add: String,
    pub add_registry: Option<String>,
    pub toml_line: String,
    /// The version the lines add.
    pub version: String,
    /// Written as for crates.io: right once crates.io is replaced by this registry,
    /// or by [`Self::via`].
    pub through_replacement: bool,
    /// The virtual registry standing in for crates.io that serves the crate from
    /// this registry to the reader: the lines are right through it.
    pub via: Option<String>,
}

#[derive(Template)]
#[template(path = "crate.html")]
pub struct CratePage {
    pub chrome: Chrome,
    pub registry: String,
    pub registry_kind: &'static str,
    pub name: String,
    pub version: String,
    pub yanked: bool,
    pub is_latest: bool,
    pub latest: Option<String>,
    pub latest_url: String,
    pub description: String,
    pub published: String,
    pub license: String,
    pub rust_version: String,
    pub edition: String,
    pub size: String,
    pub downloads: String,
    pub version_downloads: String,
    pub homepage: Option<String>,
    pub documentation: Option<String>,
    pub repository: Option<String>,
    pub keywords: Vec<(String, String)>,
    /// For the version shown, or the newest cargo will add when it is yanked;
    /// `None` when every version is yanked: cargo would refuse to add any.
    pub install: Option<InstallLines>,
    pub readme_html: Option<String>,
    /// RustSec advisories affecting the version shown (crates.io crates of a proxy only).
    pub advisories: Vec<AdvisoryItem>,
    pub versions: Vec<VersionItem>,
    pub dependency_groups: Vec<DependencyGroup>,
    pub features: Vec<FeatureItem>,
    pub owners: Vec<OwnerItem>,
    pub dependents: Vec<DependentItem>,
    pub chart_svg: String,
    pub chart_total: String,
    /// What a form on this page did (a version deleted or yanked) or why it was refused.
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The deletion section, for owners and administrators of a local registry.
    pub delete: Option<DeleteSection>,
    /// Where the versions table's yank and unyank buttons post, for those who
    /// may yank (owners and administrators of a local registry).
    pub yank_action: Option<String>,
    /// The registry `cargo yank --registry` names: the virtual registry standing
    /// in for crates.io that serves the crate to the reader, when there is one (a
    /// token limited to it is refused at the member), else the crate's own.
    pub yank_registry: String,
}

/// The crate page's deletion section (`ops::delete`).
#[derive(Debug, Clone)]
pub struct DeleteSection {
    /// Where the forms post.
    pub action: String,
    /// The rule that allows it, or the refusal that says why not.
    pub rule: String,
    /// Whether the crate may be deleted (else only `rule` is shown).
    pub allowed: bool,
    /// Single versions too (administrators): the versions to choose from.
    pub versions: Vec<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub next: String,
    pub login: String,
    pub error: Option<String>,
}

/// A token on `/me` and on a user's administration page (never its secret or hash).
#[derive(Debug, Clone)]
pub struct TokenItem {
    pub id: i64,
    pub name: String,
    pub scopes: String,
    pub crates: String,
    pub registries: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub state: &'static str,
    pub live: bool,
    /// Live, and expiring within `ops::overview::EXPIRY_WARNING_DAYS`.
    pub expires_soon: bool,
}

impl TokenItem {
    /// `token` as the pages show it at `now`.
    pub fn new(token: TokenRow, now: i64) -> Self {
        let expired = token.expires_at.is_some_and(|at| at <= now);
        let or_any = |list: &str| {
            if list.is_empty() {
                "any".to_owned()
            } else {
                list.replace(',', ", ")
            }
        };
        TokenItem {
            id: token.id,
            scopes: or_any(&token.scopes),
            crates: or_any(&token.crate_patterns),
            registries: or_any(&token.registries),
            created: date_time(token.created_at),
            expires: token.expires_at.map_or_else(|| "never".into(), date_time),
            last_used: token.last_used_at.map_or_else(|| "never".into(), date_time),
            state: if token.revoked_at.is_some() {
                "revoked"
            } else if expired {
                "expired"
            } else {
                "active"
            },
            live: token.revoked_at.is_none() && !expired,
            expires_soon: token.revoked_at.is_none()
                && token.expires_at.is_some_and(|at| {
                    at > now && at <= now + crate::ops::overview::EXPIRY_WARNING_DAYS * 86_400
                }),
            name: token.name,
        }
    }
}

#[derive(Template)]
#[template(path = "me.html")]
pub struct MePage {
    pub chrome: Chrome,
    pub login: String,
    pub tokens: Vec<TokenItem>,
    /// The secret of a token just created: shown this once.
    pub new_token: Option<String>,
    pub new_token_name: String,
    /// `cargo login --registry NAME` for the registry the new token is best
    /// used through (as its set-up page says); `None` when cargo sends a token
    /// to none of the registries it is for.
    pub login_command: Option<String>,
    /// `CARGO_REGISTRIES_NAME_TOKEN` of that registry, for CI.
    pub ci_variable: Option<String>,
    pub scopes: Vec<(&'static str, bool)>,
    pub registries: Vec<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// A warning naming the live tokens that expire within
    /// `ops::overview::EXPIRY_WARNING_DAYS`, if any do.
    pub expiring: Option<String>,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub chrome: Chrome,
    pub registry: String,
    pub kind: &'static str,
    pub private: bool,
    pub is_virtual: bool,
    /// Put in place of crates.io: crates are added as crates.io dependencies.
    pub as_crates_io: bool,
    /// The members the viewer may read, in the order they are asked.
    pub members: Vec<String>,
    /// Where publishes go, when the viewer may read it.
    pub publish_to: Option<String>,
    pub config_snippet: String,
    pub replace_snippet: Option<String>,
    pub git_snippet: Option<String>,
    pub credential_snippet: Option<String>,
    /// `None` when cargo needs no token: a public registry that takes no publishes.
    pub login_command: Option<String>,
    pub publish_command: Option<String>,
    pub add_command: String,
    pub upstream: Option<String>,
    /// A virtual registry standing in for crates.io that has this one among its
    /// members (and that the viewer may read): the way this registry is meant to be used.
    pub through: Option<String>,
}

/// `text` escaped for a URL query value or path segment.
pub fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The page of crate `name` in `registry`, at `version` when given.
pub fn crate_url(registry: &str, name: &str, version: Option<&str>) -> String {
    let mut url = format!(
        "/registries/{}/crates/{}",
        url_encode(registry),
        url_encode(name)
    );
    if let Some(version) = version {
        url.push_str("?version=");
        url.push_str(&url_encode(version));
    }
    url
}

/// Unix seconds as `2026-11-22`.
pub fn date(unix_seconds: i64) -> String {
    let pubtime = cargohold_protocol::index::format_pubtime(unix_seconds);
    pubtime.get(..10).unwrap_or(&pubtime).to_owned()
}

/// Unix seconds as `2026-11-22 14:05 UTC`: for what a reader compares with the
/// clock (a token used a minute ago), where a date alone says too little.
pub fn date_time(unix_seconds: i64) -> String {
    let pubtime = cargohold_protocol::index::format_pubtime(unix_seconds);
    match (pubtime.get(..10), pubtime.get(11..16)) {
        (Some(day), Some(minute)) => format!("{day} {minute} UTC"),
        _ => pubtime,
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `n` things, in words: `1 crate`, `2,000 crates`.
pub fn count(n: i64, thing: &str) -> String {
    format!("{} {thing}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// A size in bytes as people read it (`12.3 KiB`).
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A bar chart of daily counts as inline SVG (numbers only, so safe to embed).
pub fn bar_chart(counts: &[i64]) -> String {
    const WIDTH: usize = 360;
    const HEIGHT: i64 = 60;
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let bar = WIDTH as f64 / counts.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"Downloads per day over the last {} days\">",
        counts.len()
    );
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let h = ((count as f64 / max as f64) * (HEIGHT - 2) as f64).max(1.0);
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{count}</title></rect>",
            i as f64 * bar,
            HEIGHT as f64 - h,
            (bar - 1.0).max(1.0),
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sizes_and_dates_read_naturally() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(12 * 1024 + 300), "12.3 KiB");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(date_time(1_790_000_000), "2026-09-21 14:13 UTC");
    }

    #[test]
    fn crate_urls_escape_what_they_carry() {
        assert_eq!(
            crate_url("main", "serde", None),
            "/registries/main/crates/serde"
        );
        assert_eq!(
            crate_url("main", "serde", Some("1.0.0+build")),
            "/registries/main/crates/serde?version=1.0.0%2Bbuild"
        );
    }

    #[test]
    fn a_chart_has_one_bar_per_day_with_downloads() {
        let svg = bar_chart(&[0, 3, 0, 6]);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<title>6</title>"));
    }

    #[test]
    fn pagers_link_only_to_pages_that_exist() {
        let pager = Pager::new("/search?q=x&", 1, 3);
        assert_eq!(pager.prev, None);
        assert_eq!(pager.next.as_deref(), Some("/search?q=x&page=2"));
        let last = Pager::new("/search?q=x&", 3, 3);
        assert_eq!(last.next, None);
    }
}
