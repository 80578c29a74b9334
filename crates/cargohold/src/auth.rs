//! API tokens: how they look, how they are stored and checked, and what a holder may do.

use std::fmt;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::{App, AppState, Registry};
use crate::clock;
use crate::db;
use crate::error::{AppError, AppResult, Refusal};
use crate::rate_limit::Counted;

/// Every token starts with this, so secret scanners can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "cargohold_";

/// How long a token's last-use time may lag behind, to spare a write per request.
const LAST_USED_PRECISION_SECONDS: i64 = 60;

/// A new random token: the prefix and 40 letters and digits (about 238 bits).
pub fn generate_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// 40 random letters and digits (about 238 bits) without the tokens' prefix: for
/// web sessions and CSRF tokens, which secret scanners must not take for leaked tokens.
pub fn random_secret() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// The stored form of a token: its SHA-256, in hex. Tokens are random enough
/// that a fast hash is safe; only passwords need argon2.
pub fn hash_token(token: &str) -> String {
    hex::encode(token_digest(token))
}

/// A token's SHA-256 as bytes: what memory keeps checks by (`auth_cache.rs`),
/// with no hex string to build on every private read.
pub type TokenDigest = [u8; 32];

pub fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read the index and download crates of private registries.
    Read,
    /// Publish the first version of a crate.
    PublishNew,
    /// Publish further versions of crates the user owns.
    PublishUpdate,
    /// Yank and unyank.
    Yank,
    /// Add and remove owners.
    ChangeOwners,
    /// Administer users, tokens and registries.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed to users.
    pub const ALL: [Scope; 6] = [
        Scope::Read,
        Scope::PublishNew,
        Scope::PublishUpdate,
        Scope::Yank,
        Scope::ChangeOwners,
        Scope::Admin,
    ];

    /// The scopes a token gets when none are asked for: everything cargo does, not `admin`.
    pub const DEFAULT: [Scope; 5] = [
        Scope::Read,
        Scope::PublishNew,
        Scope::PublishUpdate,
        Scope::Yank,
        Scope::ChangeOwners,
    ];

    /// The name used on the command line and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::PublishNew => "publish-new",
            Scope::PublishUpdate => "publish-update",
            Scope::Yank => "yank",
            Scope::ChangeOwners => "change-owners",
            Scope::Admin => "admin",
        }
    }

    /// Parses a scope name.
    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }

    /// Parses scope names, or a 400 naming the unknown one and listing the valid ones.
    pub fn parse_all(names: &[String]) -> AppResult<Vec<Scope>> {
        names
            .iter()
            .map(|name| {
                Scope::parse(name).ok_or_else(|| {
                    let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                    AppError::BadRequest(format!(
                        "unknown scope `{}`; scopes are {}",
                        name.escape_debug(),
                        all.join(", ")
                    ))
                })
            })
            .collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is making a request, and what their token lets them do.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub login: String,
    pub is_admin: bool,
    pub token_id: Option<i64>,
    /// Where the request came from, for the audit log (`cli` for the command line).
    pub client_addr: Option<String>,
    scopes: Vec<Scope>,
    /// `foo` or `foo-*`; empty means any crate.
    crate_patterns: Vec<String>,
    /// Registry names; empty means any registry.
    registries: Vec<String>,
    expires_at: Option<i64>,
    /// Set when the request named a virtual registry and reached its `publish-to`
    /// member through it ([`Actor::through`]).
    through: Option<Through>,
}

/// A virtual registry a request went through, and the member it reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Through {
    /// The virtual registry, as the client named it (`all`).
    pub name: String,
    /// Its login URL (`{api}/me`), where the client gets a token for it.
    pub login_url: String,
    /// The member that keeps what the request acts on (`internal`).
    pub member: String,
}

impl Actor {
    /// An actor with every power of its user, for the command line run by an operator.
    pub fn operator(user_id: i64, login: &str, is_admin: bool) -> Self {
        Self {
            user_id,
            login: login.to_owned(),
            is_admin,
            token_id: None,
            client_addr: Some("cli".into()),
            scopes: Scope::ALL.to_vec(),
            crate_patterns: Vec::new(),
            registries: Vec::new(),
            expires_at: None,
            through: None,
        }
    }

    /// A user signed in to the web pages with a password: every power of the user,
    /// as on the command line, but audited with the browser's address.
    pub fn signed_in(user_id: i64, login: &str, is_admin: bool, client: Option<IpAddr>) -> Self {
        Self {
            client_addr: Some(client.map_or_else(|| "-".to_owned(), |ip| ip.to_string())),
            ..Self::operator(user_id, login, is_admin)
        }
    }

    /// This actor for a request that named `used` and acts on `member`: a virtual
    /// registry's writes go to its `publish-to` member. A token limited to `used`
    /// then works on `member` for this request, since that is what the client asked
    /// of `used`; the same token shown to `member` directly is refused, as it names
    /// only the URL it was made for (least privilege). Refusals name `used`, the
    /// registry the client knows. The same actor when both are one registry.
    pub fn through(mut self, used: &Registry, member: &Registry) -> Self {
        self.through = (used.id != member.id).then(|| Through {
            name: used.name.clone(),
            login_url: used.login_url.clone(),
            member: member.name.clone(),
        });
        self
    }

    /// The virtual registry this request named, when it acts on `member` through it.
    pub fn through_to(&self, member: &str) -> Option<&Through> {
        self.through.as_ref().filter(|t| t.member == member)
    }

    /// The registry the client named for a request acting on `registry`: the
    /// virtual registry it went through, or `registry` itself.
    pub fn shown_registry<'a>(&'a self, registry: &'a str) -> &'a str {
        self.through_to(registry)
            .map_or(registry, |through| through.name.as_str())
    }

    /// Whether the token has not expired at `now` (Unix seconds).
    fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }

    /// Whether this is an administrator using a token with the `admin` scope: an
    /// administrator's everyday token carries only an everyday user's powers.
    pub fn acts_as_admin(&self) -> bool {
        self.is_admin && self.scopes.contains(&Scope::Admin)
    }

    /// Fails with 403 unless the token allows `scope` on `registry` (and `krate`,
    /// when given); the refusal is logged ([`Actor::check`] for a check whose
    /// failure is not the answer).
    pub fn require(&self, scope: Scope, registry: &str, krate: Option<&str>) -> AppResult<()> {
        self.check(scope, registry, krate)
            .inspect_err(|err| self.log_refusal(err, Some(registry)))
    }

    /// [`Actor::require`] without logging a refusal. Allocates nothing when allowed.
    pub fn check(&self, scope: Scope, registry: &str, krate: Option<&str>) -> AppResult<()> {
        // A new token would not help someone who is not an administrator.
        if scope == Scope::Admin && !self.is_admin {
            return Err(AppError::Forbidden(format!(
                "`{}` is not an administrator; ask one to do this, or to make you one",
                self.login
            )));
        }
        if !self.scopes.contains(&scope) {
            return Err(AppError::Forbidden(format!(
                "this token does not have the `{scope}` scope; create one that has it as well as the \
                 scopes it needs already (add `{scope}` to `--scope` of `cargohold token create`, or \
                 tick `{scope}` on /me)"
            )));
        }
        self.check_registry(registry)?;
        if let Some(krate) = krate
            && !self.crate_patterns.is_empty()
            && !self
                .crate_patterns
                .iter()
                .any(|p| pattern_matches(p, krate))
        {
            return Err(AppError::Forbidden(format!(
                "this token is limited to the crates {} and cannot act on `{krate}`",
                self.crate_patterns.join(", ")
            )));
        }
        Ok(())
    }

    /// Fails with 403 unless this is an administrator whose token has the `admin`
    /// scope and is not limited to some registries or crates; the refusal is logged.
    pub fn require_instance_admin(&self) -> AppResult<()> {
        self.check_instance_admin()
            .inspect_err(|err| self.log_refusal(err, None))
    }

    /// [`Actor::require_instance_admin`] without logging a refusal.
    pub fn check_instance_admin(&self) -> AppResult<()> {
        if !self.scopes.contains(&Scope::Admin) || !self.is_admin {
            return self.check(Scope::Admin, "", None);
        }
        if !self.registries.is_empty() || !self.crate_patterns.is_empty() {
            return Err(AppError::Forbidden(
                "this token is limited to some registries or crates and cannot administer the \
                 instance; use an admin token without limits"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Fails with 403 unless the token may be used on `registry` at all; the refusal is logged.
    pub fn require_registry(&self, registry: &str) -> AppResult<()> {
        self.check_registry(registry)
            .inspect_err(|err| self.log_refusal(err, Some(registry)))
    }

    /// [`Actor::require_registry`] without logging a refusal.
    /// A token limited to a virtual registry also works on the member a request
    /// made through that virtual registry reaches ([`Actor::through`]).
    pub fn check_registry(&self, registry: &str) -> AppResult<()> {
        let allows = |name: &str| self.registries.iter().any(|r| r == name);
        if self.registries.is_empty()
            || allows(registry)
            || self.through_to(registry).is_some_and(|t| allows(&t.name))
        {
            return Ok(());
        }
        Err(AppError::Forbidden(format!(
            "this token is limited to the registries {} and cannot be used on `{}`",
            self.registries.join(", "),
            self.shown_registry(registry)
        )))
    }

    /// The log line of a refusal answered with `err` to this actor in `registry`.
    pub fn refusal(&self, err: &AppError, registry: Option<&str>) -> Refusal {
        Refusal {
            user: Some(self.login.clone()),
            token_id: self.token_id,
            client: self.client_addr.clone(),
            ..Refusal::of(err).registry(registry)
        }
    }

    /// Logs [`Actor::refusal`]: for refusals decided where the actor is at hand.
    pub fn log_refusal(&self, err: &AppError, registry: Option<&str>) {
        self.refusal(err, registry).log();
    }

    /// Fails with 403 unless a token with these powers would be no stronger than
    /// this one: a token can only hand out what it holds itself.
    pub fn may_grant(
        &self,
        scopes: &[Scope],
        crate_patterns: &[String],
        registries: &[String],
        expires_at: Option<i64>,
    ) -> AppResult<()> {
        let too_strong = |what: String| {
            AppError::Forbidden(format!(
                "a token cannot create a stronger token than itself: {what}"
            ))
        };
        if let Some(scope) = scopes.iter().find(|s| !self.scopes.contains(s)) {
            return Err(too_strong(format!("this token lacks the `{scope}` scope")));
        }
        if !self.registries.is_empty()
            && (registries.is_empty() || registries.iter().any(|r| !self.registries.contains(r)))
        {
            return Err(too_strong(format!(
                "limit the new token to the registries {}",
                self.registries.join(", ")
            )));
        }
        if !self.crate_patterns.is_empty()
            && (crate_patterns.is_empty()
                || crate_patterns.iter().any(|new| {
                    !self
                        .crate_patterns
                        .iter()
                        .any(|own| pattern_covers(own, new))
                }))
        {
            return Err(too_strong(format!(
                "limit the new token to crates within {}",
                self.crate_patterns.join(", ")
            )));
        }
        if let Some(own) = self.expires_at
            && expires_at.is_none_or(|new| new > own)
        {
            return Err(too_strong(format!(
                "the new token must expire no later than this one ({})",
                cargohold_protocol::index::format_pubtime(own)
            )));
        }
        Ok(())
    }
}

/// Whether every crate name `inner` matches is also matched by `outer`.
pub fn pattern_covers(outer: &str, inner: &str) -> bool {
    use cargohold_protocol::name::canonical_name;
    let inner_prefix = inner.strip_suffix('*');
    match outer.strip_suffix('*') {
        Some(prefix) => {
            canonical_name(inner_prefix.unwrap_or(inner)).starts_with(&canonical_name(prefix))
        }
        None => inner_prefix.is_none() && canonical_name(outer) == canonical_name(inner),
    }
}

/// Whether a crate-name pattern (`foo`, or `foo-*` for a prefix) matches `name`,
/// comparing canonical forms so `foo_*` and `Foo-*` mean the same.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    use cargohold_protocol::name::canonical_name;
    let name = canonical_name(name);
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(&canonical_name(prefix)),
        None => name == canonical_name(pattern),
    }
}

/// Splits a comma-separated list as stored, dropping empty parts.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An authenticated request: the extractor fails with 401 before the body is read.
pub struct ApiToken(pub Actor);

impl FromRequestParts<AppState> for ApiToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> AppResult<Self> {
        let client = client_addr(app, &parts.headers, &parts.extensions);
        let path = parts.uri.path();
        let registry = registry_in_path(app, path);
        let Some(token) = presented_token(&parts.headers) else {
            let err = AppError::Unauthorized(format!(
                "this request needs an API token: {}",
                TokenSource::of(app, registry).get_one("get one")
            ));
            Refusal {
                reason: "no token".into(),
                ..Refusal::of(&err)
                    .registry(registry.map(|r| r.name.as_str()))
                    .client(client)
                    .path(Some(path))
            }
            .log();
            return Err(err);
        };
        let asking = Asking {
            client,
            registry,
            path: Some(&path),
        };
        authenticate(app, token, &asking).await.map(ApiToken)
    }
}

/// The registry a path under `/registries/{name}/` names, if there is one by that name.
fn registry_in_path<'a>(app: &'a App, path: &str) -> Option<&'a Registry> {
    let name = path.strip_prefix("/registries/")?.split('/').next()?;
    app.find_registry(name).map(|registry| &**registry)
}

/// Who asks with a token, for the log line and the message of a refusal.
#[derive(Clone, Copy)]
pub struct Asking<'a> {
    pub client: Option<IpAddr>,
    /// The registry asked about, when the request names one.
    pub registry: Option<&'a Registry>,
    /// The path asked for, when known; formatted only for a refusal.
    pub path: Option<&'a (dyn fmt::Display + Sync)>,
}

/// Where a developer gets a token: the registry's login URL (what cargo calls
/// `{api}/me`, which leads to the account page), or the account page itself when
/// the request names no registry. Never the server's command line, which only
/// its operators can run.
struct TokenSource {
    url: String,
    registry: String,
}

impl TokenSource {
    fn of(app: &App, registry: Option<&Registry>) -> Self {
        match registry {
            Some(registry) => Self {
                url: registry.login_url.clone(),
                registry: registry.name.clone(),
            },
            None => Self {
                url: format!("{}me", app.config.public_url()),
                registry: "NAME".into(),
            },
        }
    }

    /// `{get} at URL and store it with `cargo login --registry NAME``.
    fn get_one(&self, get: &str) -> String {
        format!(
            "{get} at {} and store it with `cargo login --registry {}`",
            self.url, self.registry
        )
    }
}

/// What the read gate of a private registry needs from a request outside the
/// hot paths: its headers and the client's address.
pub struct RequestMeta {
    pub headers: HeaderMap,
    pub client: Option<IpAddr>,
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Self {
            client: client_addr(app, &parts.headers, &parts.extensions),
            headers: parts.headers.clone(),
        })
    }
}

/// The token in the `Authorization` header, if any. Cargo sends the stored
/// string verbatim; some users store `Bearer <token>`, which is accepted too.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    token_in_authorization(headers.get(AUTHORIZATION)?.as_bytes())
}

/// The token in an `Authorization` value: cargo sends it bare, others after `Bearer`.
/// Only visible ASCII and tabs pass (no token holds anything else); the work is
/// done on bytes, as every private read does it.
pub fn token_in_authorization(value: &[u8]) -> Option<&str> {
    if !value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return None;
    }
    let header = value.trim_ascii();
    if header.is_empty() {
        return None;
    }
    let token = match header.iter().position(|&b| b == b' ') {
        Some(space) if header[..space].eq_ignore_ascii_case(b"bearer") => {
            header[space + 1..].trim_ascii()
        }
        _ => header,
    };
    std::str::from_utf8(token).ok()
}

/// The holder of `token` when a check of it within `auth_cache::FRESH_FOR` still
/// holds: no query, no rate limit (only successful checks are kept).
pub fn reader_from_memory(app: &App, token: &str) -> Option<Actor> {
    kept_reader(app, token, |actor| Some(actor.clone()))
}

/// [`reader_from_memory`] for a read of `registry` on every request of a private
/// registry: the holder's user id and whether it acts as an administrator, when
/// the kept check shows a live token that may read there. Nothing is copied.
pub fn registry_reader_from_memory(app: &App, token: &str, registry: &str) -> Option<(i64, bool)> {
    kept_reader(app, token, |actor| {
        actor
            .check(Scope::Read, registry, None)
            .is_ok()
            .then(|| (actor.user_id, actor.acts_as_admin()))
    })
}

/// Whether `token` was found valid within `auth_cache::FRESH_FOR` and is still
/// live: what a private registry's `config.json` asks of a reader. Nothing is copied.
pub fn valid_in_memory(app: &App, token: &str) -> bool {
    kept_reader(app, token, |_| Some(())).is_some()
}

/// `read` of the kept holder of `token`, when its check is fresh and the token live.
fn kept_reader<R>(app: &App, token: &str, read: impl FnOnce(&Actor) -> Option<R>) -> Option<R> {
    app.auth_cache
        .token_with(&token_digest(token), |actor| {
            actor.is_live(clock::now()).then(|| read(actor)).flatten()
        })
        .flatten()
}

/// The address a request came from: the peer, or with `trust-forwarded-for`
/// the first `X-Forwarded-For` entry a reverse proxy set.
pub fn client_addr(app: &App, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
    client_ip(app, headers, peer_ip(extensions))
}

/// The peer address the server recorded for a request (absent in tests that call the router directly).
pub fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// [`client_addr`] for a request whose peer address is known directly (the hot routes,
/// which are served without the router's extensions).
pub fn client_ip(app: &App, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
    if app.config.trust_forwarded_for
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(forwarded);
    }
    peer
}

/// Checks a presented token and returns who holds it.
///
/// A token that fails the check counts against the client's address, and an
/// address over its limit (`limits.auth-failures-per-minute`) is answered 429
/// instead of 401, so tokens cannot be guessed at speed. A valid token is never
/// held back: one client with an expired token behind a shared address (a CI job
/// behind an office's NAT) must not lock everyone else there out. The refusal is
/// logged once, here, with what was wrong with the token.
pub async fn authenticate(app: &App, token: &str, asking: &Asking<'_>) -> AppResult<Actor> {
    authenticate_with(app, token, asking, false).await
}

/// [`authenticate`] for the reads of a private registry (index files, downloads),
/// which may reuse a check of the same token made within a second (`auth_cache.rs`).
pub async fn authenticate_reader(app: &App, token: &str, asking: &Asking<'_>) -> AppResult<Actor> {
    authenticate_with(app, token, asking, true).await
}

async fn authenticate_with(
    app: &App,
    token: &str,
    asking: &Asking<'_>,
    reuse: bool,
) -> AppResult<Actor> {
    match check_token(app, token, reuse).await {
        Ok(mut actor) => {
            actor.client_addr = asking.client.map(|ip| ip.to_string());
            Ok(actor)
        }
        Err(TokenFailure::Error(err)) => Err(err),
        Err(TokenFailure::Refused(mut refused)) => {
            if let Some(ip) = asking.client
                && let Counted::Refused { retry_after, first } =
                    app.rate_limits.auth_failures.count(&ip)
            {
                refused.limited = Some((retry_after, first));
            }
            let err = refused.error(&TokenSource::of(app, asking.registry));
            refused.refusal(&err, asking).log();
            Err(err)
        }
    }
}

/// [`authenticate_reader`] without the failure limit or a log line, and always
/// from the database: for filling the memory of [`reader_from_memory`] ahead of
/// a request that will go the full way on failure. `None` for a token refused.
pub async fn check_reader(app: &App, token: &str) -> Option<Actor> {
    check_token(app, token, false).await.ok()
}

/// What was wrong with a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenProblem {
    /// No token has this hash.
    Unknown,
    Revoked,
    /// Expired at this time (Unix seconds).
    Expired(i64),
    /// The token's user is disabled.
    AccountDisabled,
}

/// A token refused by [`check_token`], with what is known of it.
#[derive(Debug, Clone)]
struct TokenRefusal {
    problem: TokenProblem,
    /// The token's user and id, and its name, when a token has this hash.
    login: Option<String>,
    token_id: Option<i64>,
    token_name: Option<String>,
    /// When the address is over its limit: seconds to wait, and whether this
    /// refusal tripped the limit.
    limited: Option<(u64, bool)>,
}

impl TokenRefusal {
    fn unknown() -> Self {
        Self {
            problem: TokenProblem::Unknown,
            login: None,
            token_id: None,
            token_name: None,
            limited: None,
        }
    }

    /// What the client is told: 401 saying what is wrong with the token
    /// (revoked and unknown tokens alike) and where to get another; 429 when the
    /// address is over its limit.
    fn error(&self, source: &TokenSource) -> AppError {
        if let Some((retry_after, _)) = self.limited {
            return AppError::TooManyRequests {
                message: format!(
                    "too many requests with invalid tokens from this address; try again in \
                     {retry_after} s (requests with a valid token are not held back)"
                ),
                retry_after,
            };
        }
        AppError::Unauthorized(match self.problem {
            TokenProblem::Unknown | TokenProblem::Revoked => format!(
                "the API token is not valid (unknown or revoked); {}",
                source.get_one("get a new one")
            ),
            TokenProblem::Expired(at) => format!(
                "the API token `{}` expired on {}; {}",
                self.token_name.as_deref().unwrap_or_default(),
                cargohold_protocol::index::format_pubtime(at),
                source.get_one("get a new one")
            ),
            TokenProblem::AccountDisabled => format!(
                "the account `{}` is disabled; ask an administrator",
                self.login.as_deref().unwrap_or_default()
            ),
        })
    }

    /// The log line: what was really wrong (which the client is not always told),
    /// whose token it was, and whether the address's limit tripped.
    fn refusal(&self, err: &AppError, asking: &Asking<'_>) -> Refusal {
        let problem = match self.problem {
            TokenProblem::Unknown => "unknown token".to_owned(),
            TokenProblem::Revoked => "revoked token".to_owned(),
            TokenProblem::Expired(at) => format!(
                "token expired on {}",
                cargohold_protocol::index::format_pubtime(at)
            ),
            TokenProblem::AccountDisabled => "disabled account".to_owned(),
        };
        let reason = match self.limited {
            Some(_) => format!("{problem}; too many invalid tokens from this address"),
            None => problem,
        };
        Refusal {
            reason,
            user: self.login.clone(),
            token_id: self.token_id,
            path: asking.path.map(ToString::to_string),
            tripped: self.limited.is_some_and(|(_, first)| first),
            ..Refusal::of(err)
                .registry(asking.registry.map(|r| r.name.as_str()))
                .client(asking.client)
        }
    }
}

/// Why [`check_token`] did not return a holder.
enum TokenFailure {
    /// The token is not valid.
    Refused(TokenRefusal),
    /// The check could not be made (the database).
    Error(AppError),
}

impl From<sqlx::Error> for TokenFailure {
    fn from(err: sqlx::Error) -> Self {
        Self::Error(err.into())
    }
}

async fn check_token(app: &App, token: &str, reuse: bool) -> Result<Actor, TokenFailure> {
    // A token that expired since it was kept goes to the database, which says so.
    if reuse && let Some(actor) = reader_from_memory(app, token) {
        return Ok(actor);
    }
    let digest = token_digest(token);
    let presented = hex::encode(digest);
    let now = clock::now();
    let epoch = app.auth_cache.epoch();
    let Some(row) = db::tokens::find_by_hash(app.db.read(), &presented).await? else {
        return Err(TokenFailure::Refused(TokenRefusal::unknown()));
    };
    // The lookup already matched the hash; comparing again in constant time keeps
    // the decision itself free of timing differences.
    if !bool::from(row.token_hash.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(TokenFailure::Refused(TokenRefusal::unknown()));
    }
    let problem = if row.revoked_at.is_some() {
        Some(TokenProblem::Revoked)
    } else if let Some(expires_at) = row.expires_at
        && expires_at <= now
    {
        Some(TokenProblem::Expired(expires_at))
    } else if row.user_disabled_at.is_some() {
        Some(TokenProblem::AccountDisabled)
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(TokenFailure::Refused(TokenRefusal {
            problem,
            login: Some(row.login),
            token_id: Some(row.token_id),
            token_name: Some(row.token_name),
            limited: None,
        }));
    }
    if row
        .last_used_at
        .is_none_or(|used| now - used >= LAST_USED_PRECISION_SECONDS)
    {
        db::tokens::touch(app.db.write(), row.token_id, now).await?;
    }
    let actor = Actor {
        user_id: row.user_id,
        login: row.login,
        is_admin: row.is_admin,
        token_id: Some(row.token_id),
        client_addr: None,
        scopes: split_list(&row.scopes)
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect(),
        crate_patterns: split_list(&row.crate_patterns),
        registries: split_list(&row.registries),
        expires_at: row.expires_at,
        through: None,
    };
    app.auth_cache.remember_token(digest, &actor, epoch);
    Ok(actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_bare_or_after_bearer_and_nothing_else_passes() {
        let token = token_in_authorization;
        assert_eq!(token(b"cargohold_abc"), Some("cargohold_abc"));
        assert_eq!(token(b"  cargohold_abc\t"), Some("cargohold_abc"));
        assert_eq!(token(b"Bearer cargohold_abc"), Some("cargohold_abc"));
        assert_eq!(token(b"bearer   cargohold_abc "), Some("cargohold_abc"));
        assert_eq!(token(b"Basic dXNlcjpwYXNz"), Some("Basic dXNlcjpwYXNz"));
        assert_eq!(token(b""), None);
        assert_eq!(token(b" \t "), None);
        assert_eq!(token(b"cargohold_\nabc"), None);
        assert_eq!(token("cargohold_\u{e9}".as_bytes()), None);
        assert_eq!(token(b"cargohold_\xff"), None);
    }

    #[test]
    fn tokens_are_prefixed_random_and_hashed_stably() {
        let a = generate_token();
        let b = generate_token();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 40);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a).len(), 64);
    }

    #[test]
    fn crate_patterns_match_exact_names_and_prefixes_canonically() {
        assert!(pattern_matches("foo", "foo"));
        assert!(pattern_matches("foo", "Foo"));
        assert!(!pattern_matches("foo", "foo-bar"));
        assert!(pattern_matches("foo-*", "foo-bar"));
        assert!(pattern_matches("foo-*", "foo_bar"));
        assert!(!pattern_matches("foo-*", "foobar"));
    }

    fn actor(scopes: &[Scope], patterns: &[&str], registries: &[&str]) -> Actor {
        Actor {
            user_id: 1,
            login: "alice".into(),
            is_admin: false,
            token_id: Some(1),
            scopes: scopes.to_vec(),
            crate_patterns: patterns.iter().map(|s| s.to_string()).collect(),
            registries: registries.iter().map(|s| s.to_string()).collect(),
            client_addr: None,
            expires_at: None,
            through: None,
        }
    }

    #[test]
    fn a_token_is_limited_to_its_scopes_crates_and_registries() {
        let a = actor(&[Scope::Yank], &["foo-*"], &["main"]);
        assert!(a.require(Scope::Yank, "main", Some("foo-x")).is_ok());
        assert!(a.require(Scope::PublishNew, "main", Some("foo-x")).is_err());
        assert!(a.require(Scope::Yank, "main", Some("bar")).is_err());
        assert!(a.require(Scope::Yank, "other", Some("foo-x")).is_err());
        let admin_scope_without_admin_user = actor(&[Scope::Admin], &[], &[]);
        assert!(
            admin_scope_without_admin_user
                .require(Scope::Admin, "main", None)
                .is_err()
        );
    }

    #[test]
    fn a_token_limited_to_a_virtual_registry_works_on_its_member_only_through_it() {
        let through_all = |actor: Actor| Actor {
            through: Some(Through {
                name: "all".into(),
                login_url: "http://reg.example/registries/all/me".into(),
                member: "internal".into(),
            }),
            ..actor
        };
        let all = actor(&[Scope::Yank], &[], &["all"]);
        assert!(all.require(Scope::Yank, "internal", None).is_err());
        assert!(all.require(Scope::Yank, "all", None).is_ok());
        let all = through_all(all);
        assert!(all.require(Scope::Yank, "internal", None).is_ok());
        assert!(all.require(Scope::Yank, "other", None).is_err());
        // A token limited to the member still works through the virtual registry.
        let internal = through_all(actor(&[Scope::Yank], &[], &["internal"]));
        assert!(internal.require(Scope::Yank, "internal", None).is_ok());
        // Refused through `all`: the message names `all`, the registry the client used.
        let other = through_all(actor(&[Scope::Yank], &[], &["other"]));
        let refused = other.check_registry("internal").unwrap_err().to_string();
        assert!(refused.contains("cannot be used on `all`"), "{refused}");
    }

    #[test]
    fn a_pattern_covers_only_names_it_matches_itself() {
        assert!(pattern_covers("foo-*", "foo-bar"));
        assert!(pattern_covers("foo-*", "foo-bar-*"));
        assert!(pattern_covers("foo-*", "foo-*"));
        assert!(!pattern_covers("foo-*", "fo*"));
        assert!(!pattern_covers("foo", "foo-*"));
        assert!(pattern_covers("foo", "Foo"));
        assert!(!pattern_covers("foo", "bar"));
    }

    #[test]
    fn a_token_cannot_create_a_stronger_token() {
        let limited = Actor {
            expires_at: Some(1_000),
            ..actor(&[Scope::Read, Scope::Yank], &["foo-*"], &["main"])
        };
        let main = ["main".to_owned()];
        let foo_x = ["foo-x".to_owned()];
        assert!(
            limited
                .may_grant(&[Scope::Read], &foo_x, &main, Some(900))
                .is_ok()
        );
        // More scopes, other registries, wider crates, no or later expiry: refused.
        assert!(
            limited
                .may_grant(&[Scope::PublishNew], &foo_x, &main, Some(900))
                .is_err()
        );
        assert!(
            limited
                .may_grant(&[Scope::Read], &foo_x, &[], Some(900))
                .is_err()
        );
        assert!(
            limited
                .may_grant(&[Scope::Read], &["bar".into()], &main, Some(900))
                .is_err()
        );
        assert!(
            limited
                .may_grant(&[Scope::Read], &[], &main, Some(900))
                .is_err()
        );
        assert!(
            limited
                .may_grant(&[Scope::Read], &foo_x, &main, None)
                .is_err()
        );
        assert!(
            limited
                .may_grant(&[Scope::Read], &foo_x, &main, Some(2_000))
                .is_err()
        );
        // The command line and unrestricted tokens may hand out anything they hold.
        let operator = Actor::operator(1, "root", true);
        assert!(operator.may_grant(&Scope::ALL, &[], &[], None).is_ok());
    }
}
