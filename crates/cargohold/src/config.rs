//! Configuration: defaults, then `cargohold.toml` (or `--config`), then `CARGOHOLD_*` variables, then flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

/// The file read from the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "cargohold.toml";

/// Top-level keys that `CARGOHOLD_*` variables may set (nested with `__`, e.g.
/// `CARGOHOLD_LIMITS__MAX_CRATE_SIZE`). Other `CARGOHOLD_` variables are ignored.
const ENV_KEYS: &[&str] = &[
    "listen",
    "public-url",
    "data-dir",
    "database-url",
    "storage-url",
    "s3",
    "git-dir",
    "limits",
    "log-format",
    "download-flush-seconds",
    "trust-forwarded-for",
    "index-cache-size",
    "index-poll-millis",
    "shutdown-delay-secs",
    "download-cache-size",
    "connection-threads",
    "webhook-retry-seconds",
    "webhook-history-days",
];

/// `CARGOHOLD_*` variables among `names` that are no setting but one letter or two
/// away from one, each with the variable probably meant; they are ignored, so the
/// user is told. Other `CARGOHOLD_` variables (a token kept for git, say) are not
/// cargohold's business.
pub fn mistyped_env_vars(names: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    names
        .into_iter()
        .filter_map(|name| {
            let rest = name.strip_prefix("CARGOHOLD_")?;
            let (top, nested) = match rest.split_once("__") {
                Some((top, nested)) => (top, Some(nested)),
                None => (rest, None),
            };
            let top = top.to_ascii_lowercase().replace('_', "-");
            if ENV_KEYS.contains(&top.as_str()) {
                return None;
            }
            let meant = closest(&top, ENV_KEYS)?
                .to_ascii_uppercase()
                .replace('-', "_");
            let meant = match nested {
                Some(nested) => format!("CARGOHOLD_{meant}__{nested}"),
                None => format!("CARGOHOLD_{meant}"),
            };
            Some((name, meant))
        })
        .collect()
}

/// Everything cargohold can be told, with its defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// Address the server listens on.
    pub listen: SocketAddr,
    /// The URL clients use to reach the server; `http://{listen}/` when unset.
    pub public_url: Option<Url>,
    /// Where the embedded database and blobs live unless told otherwise.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; `sqlite://{data-dir}/cargohold.db` when unset.
    pub database_url: Option<String>,
    /// Where `.crate` files live: a directory, or `s3://bucket/prefix` for an
    /// S3-compatible object store (see `[s3]`); `{data-dir}/blobs` when unset.
    pub storage_url: Option<String>,
    /// How to reach the object store of an `s3://` storage URL.
    pub s3: S3Config,
    /// Where the git indexes of registries with `git-index = true` live;
    /// `{data-dir}/git` when unset. Nodes that share it (a shared file system)
    /// take turns writing, so each change is committed once.
    pub git_dir: Option<PathBuf>,
    /// `text` (default) or `json` log lines on standard error.
    pub log_format: LogFormat,
    /// How often counted downloads are written to the database.
    pub download_flush_seconds: u64,
    /// Bytes of index files each registry keeps in memory (0: none).
    pub index_cache_size: usize,
    /// Bytes of small `.crate` files (and their lookups) kept in memory for downloads (0: none).
    pub download_cache_size: usize,
    /// How often, in milliseconds, the server looks for index changes made by
    /// other processes (`cargohold import`, other nodes).
    pub index_poll_millis: u64,
    /// After the first SIGTERM or Ctrl-C, this many seconds of `/ready` answering
    /// 503 while everything else is served, before the server stops (0: at once).
    pub shutdown_delay_secs: u64,
    /// Take the client's address from the first `X-Forwarded-For` entry (only
    /// behind a reverse proxy that sets it), for rate limits and the audit log.
    pub trust_forwarded_for: bool,
    /// Which threads serve connections: `shared` (every connection on the general
    /// worker threads) or `per-core` (on Linux, one thread pinned to each CPU the
    /// process may use, taking the connections that CPU received).
    pub connection_threads: ConnectionThreads,
    /// Seconds before the first retry of a webhook delivery that failed; each
    /// later retry waits twice as long as the one before, up to an hour.
    pub webhook_retry_seconds: u64,
    /// Days a finished webhook delivery (delivered or given up) stays listed, and can be
    /// sent again, before it is pruned.
    pub webhook_history_days: u64,
    pub limits: Limits,
    /// The registries this instance hosts; one local registry `main` when unset.
    /// Written out with the keys of each one's kind only, as the file must have them.
    #[serde(serialize_with = "serialize_registries")]
    pub registries: Vec<RegistryConfig>,
    /// Self-hosted forges, by host name (with `:port` when the repository URLs
    /// carry one): a crate page points a README's relative links into a
    /// repository there, as it does for GitHub, GitLab and Codeberg.
    pub forges: BTreeMap<String, ForgeKind>,
}

/// Which threads serve connections (see `listeners.rs` and `connections.rs`).
/// `shared` is the default: on the machines measured so far, `per-core` had a
/// higher p99 under full load, with no more requests per second on one and
/// 1.08–1.19× on the other (docs/performance.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionThreads {
    /// One thread per allowed CPU, pinned to it, with a listening socket of its
    /// own that the kernel hands the connections arriving on that CPU. Where this
    /// cannot be set up (not Linux, one CPU), `shared`.
    PerCore,
    /// Every connection on the general worker threads, from one listening socket.
    #[default]
    Shared,
}

/// How a forge lays out the web addresses of a repository's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// GitHub and GitHub Enterprise: `OWNER/REPO/blob/REF/PATH`.
    Github,
    /// GitLab: `GROUP/…/PROJECT/-/blob/REF/PATH`.
    Gitlab,
    /// Gitea and Forgejo (Codeberg): `OWNER/REPO/src/branch/REF/PATH`.
    #[serde(alias = "forgejo")]
    Gitea,
}

/// Size caps that protect the server from oversized or hostile uploads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Limits {
    /// Largest `.crate` accepted, in bytes.
    pub max_crate_size: u64,
    /// Largest `.crate` a proxy fetches from its upstream, in bytes (crates.io
    /// grants some crates more than its usual 10 MiB).
    pub max_upstream_crate_size: u64,
    /// Largest publish metadata JSON accepted, in bytes.
    pub max_metadata_size: u64,
    /// Largest size a `.crate` may decompress to, in bytes.
    pub max_unpacked_size: u64,
    /// Most entries (files and directories) in one `.crate`.
    pub max_tarball_entries: usize,
    /// Most dependencies one version may declare.
    pub max_dependencies: usize,
    /// Most features one version may declare.
    pub max_features: usize,
    /// Most values one feature may list.
    pub max_feature_values: usize,
    /// Failed token checks one client address may make per minute before it gets
    /// 429s (0: no limit). Requests without any token do not count.
    pub auth_failures_per_minute: u32,
    /// Publishes (and uploads) one user may make per minute (0: no limit).
    pub publishes_per_minute: u32,
    /// Connections open at once; a connection past this is answered 503 and closed.
    pub max_connections: usize,
    /// Seconds a client has to send a request head; idle keep-alive connections
    /// close after this long too.
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may stall between two pieces before the request
    /// is answered 408.
    pub body_read_timeout_secs: u64,
    /// Seconds an answer may wait on a client that does not read it, or that
    /// takes less than 64 KiB of it while its socket is full, before the
    /// connection is closed.
    pub write_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_crate_size: 10 * 1024 * 1024,
            max_upstream_crate_size: 100 * 1024 * 1024,
            max_metadata_size: 1024 * 1024,
            max_unpacked_size: 512 * 1024 * 1024,
            max_tarball_entries: 50_000,
            max_dependencies: 1000,
            max_features: 5000,
            max_feature_values: 1000,
            auth_failures_per_minute: 30,
            publishes_per_minute: 120,
            max_connections: 4096,
            header_read_timeout_secs: 30,
            body_read_timeout_secs: 30,
            write_timeout_secs: 60,
        }
    }
}

/// The object store behind `storage-url = "s3://bucket/prefix"`. Anything left
/// unset is taken from the usual `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
/// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct S3Config {
    /// The store's URL for anything but AWS itself (MinIO, Garage, Ceph, …), e.g.
    /// `http://127.0.0.1:9000`; requests then name the bucket in the path.
    pub endpoint: Option<String>,
    /// The bucket's region; `us-east-1` when unset.
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Answer downloads with a redirect to a presigned URL of the object, valid
    /// this many seconds, instead of sending the bytes through cargohold (0: off).
    pub redirect_downloads_seconds: u64,
}

/// What a proxy does with advisories (`advisories` in its `[[registries]]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdvisoryMode {
    /// Its crates are not crates.io's: advisories are not applied.
    Off,
    /// Affected versions are shown on crate pages and in the report.
    Show,
    /// Also served as yanked when a non-informational advisory affects them, so new
    /// resolutions avoid them while existing lockfiles keep building.
    Yank,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// One `[[registries]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// `[a-z0-9][a-z0-9_-]*`, not ending in `.git`; part of every URL of the registry.
    pub name: String,
    pub kind: RegistryKind,
    /// Users point `[source.crates-io] replace-with` at this registry (an offline
    /// or curated crates.io): dependencies on crates.io are then its own crates.
    pub replaces_crates_io: bool,
    /// A private registry: every index request, download and API call needs a
    /// token with read access, and nothing is revealed without one.
    pub auth_required: bool,
    /// Proxy: the upstream sparse index (`https://index.crates.io/` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Url>,
    /// Proxy: the token sent to the upstream (`Authorization`), for a private upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_token: Option<String>,
    /// Proxy: the environment variable holding the upstream token (instead of `upstream-token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_token_env: Option<String>,
    /// Proxy: how long an upstream index file is served without asking the upstream again.
    pub freshness_seconds: u64,
    /// Proxy: only these crates (`NAME`, `PREFIX*`, `NAME@REQ`) come in; empty = all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Proxy: these crates or versions never come in, whatever `allow` says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Proxy: upstream versions younger than this (by their `pubtime`) are not offered yet.
    pub min_age_days: u64,
    /// Proxy: what RustSec advisories do to its crates (`off`, `show`, `yank`); unset:
    /// `show` when the upstream is crates.io, `off` otherwise (its crates are not crates.io's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisories: Option<AdvisoryMode>,
    /// Proxy: eviction keeps the cached `.crate` files under this many bytes (0: no cap).
    pub cache_max_size: u64,
    /// Proxy: eviction removes `.crate` files not downloaded for this many days (0: never).
    pub cache_max_age_days: u64,
    /// Virtual: the member registries, in order; local members must come before proxies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Virtual: the local member that receives publishes made through this registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_to: Option<String>,
    /// Local: also keep a git index (a bare repository, one commit per change) at
    /// `/registries/{name}/git`, for clients that cannot use the sparse index.
    pub git_index: bool,
    /// Local: URLs told of changes to the registry's crates (`[[registries.webhooks]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookConfig>,
}

/// The changes a webhook can be told of, as `events` names them; each is also the
/// audit log's action for that change.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "publish",
    "yank",
    "unyank",
    "delete_crate",
    "delete_version",
    "owner_add",
    "owner_remove",
];

/// One `[[registries.webhooks]]` table: where changes to a local registry's crates are POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WebhookConfig {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// When set, every delivery is signed with it: `X-Cargohold-Signature: sha256=HEX`,
    /// the HMAC-SHA256 of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The environment variable holding the secret (instead of `secret`), read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// The changes to deliver, from [`WEBHOOK_EVENTS`]; all of them when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

impl WebhookConfig {
    /// Whether this webhook is told of `event` (an audit action).
    pub fn wants(&self, event: &str) -> bool {
        match &self.events {
            Some(events) => events.iter().any(|e| e == event),
            None => WEBHOOK_EVENTS.contains(&event),
        }
    }

    /// The secret deliveries are signed with, from the file or from the variable
    /// `secret-env` names (an error naming it when it is not set).
    pub fn secret(&self, registry: &str) -> anyhow::Result<Option<String>> {
        if let Some(secret) = &self.secret {
            return Ok(Some(secret.clone()));
        }
        match &self.secret_env {
            Some(var) => std::env::var(var).map(Some).with_context(|| {
                format!(
                    "registry `{registry}`: the webhook {} has secret-env = \"{var}\", and `{var}` \
                     is not set",
                    crate::ops::webhooks::shown_url(&self.url)
                )
            }),
            None => Ok(None),
        }
    }

    /// Checks the URL, the event names and the secret settings of a webhook of `registry`.
    fn validate(&self, registry: &str) -> anyhow::Result<()> {
        let url = &self.url;
        if self.secret.is_some() && self.secret_env.is_some() {
            bail!(
                "registry `{registry}`: the webhook {} has both `secret` and `secret-env`; keep \
                 one: `secret` holds the secret itself, `secret-env` names the environment \
                 variable that holds it",
                crate::ops::webhooks::shown_url(url)
            );
        }
        let parsed = Url::parse(url).ok();
        if !parsed
            .as_ref()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        {
            bail!(
                "registry `{registry}`: the webhook url `{url}` must be an http:// or https:// URL, \
                 such as \"https://ci.example.com/hooks/cargohold\""
            );
        }
        let Some(events) = &self.events else {
            return Ok(());
        };
        if events.is_empty() {
            bail!(
                "registry `{registry}`: the webhook {url} has `events = []`, so it would never be \
                 called; list the events it wants, or leave `events` out for all of them"
            );
        }
        for event in events {
            if !WEBHOOK_EVENTS.contains(&event.as_str()) {
                let hint = closest(event, WEBHOOK_EVENTS)
                    .map(|meant| format!(" (did you mean `{meant}`?)"))
                    .unwrap_or_default();
                bail!(
                    "registry `{registry}`: the webhook {url} names the event `{event}`, which is not \
                     one of {}{hint}",
                    quoted(WEBHOOK_EVENTS)
                );
            }
        }
        Ok(())
    }
}

/// crates.io's sparse index, the upstream of a proxy unless told otherwise.
pub const CRATES_IO_SPARSE_INDEX: &str = "https://index.crates.io/";

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: RegistryKind::Local,
            replaces_crates_io: false,
            auth_required: false,
            upstream: None,
            upstream_token: None,
            upstream_token_env: None,
            freshness_seconds: 300,
            allow: Vec::new(),
            deny: Vec::new(),
            min_age_days: 0,
            advisories: None,
            cache_max_size: 0,
            cache_max_age_days: 0,
            members: Vec::new(),
            publish_to: None,
            git_index: false,
            webhooks: Vec::new(),
        }
    }
}

impl RegistryConfig {
    /// A local registry called `name` with default settings.
    pub fn local(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// A proxy called `name` of the sparse index at `upstream`.
    pub fn proxy(name: &str, upstream: Url) -> Self {
        Self {
            name: name.to_owned(),
            kind: RegistryKind::Proxy,
            upstream: Some(upstream),
            ..Self::default()
        }
    }

    /// A virtual registry called `name` over `members`, publishing to `publish_to`.
    pub fn virtual_of(name: &str, members: &[&str], publish_to: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            kind: RegistryKind::Virtual,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            publish_to: publish_to.map(str::to_owned),
            ..Self::default()
        }
    }

    /// The upstream index URL of a proxy, ending in `/`, without cargo's `sparse+`.
    pub fn upstream_url(&self) -> Url {
        let mut url = self
            .upstream
            .clone()
            .unwrap_or_else(|| Url::parse(CRATES_IO_SPARSE_INDEX).expect("a valid URL"));
        if let Some(plain) = url.as_str().strip_prefix("sparse+")
            && let Ok(parsed) = Url::parse(plain)
        {
            url = parsed;
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url
    }

    /// What RustSec advisories do to a proxy's crates: as set, else `show` for a
    /// proxy of crates.io and `off` for any other upstream.
    pub fn advisory_mode(&self) -> AdvisoryMode {
        self.advisories
            .unwrap_or(if self.upstream_url().as_str() == CRATES_IO_SPARSE_INDEX {
                AdvisoryMode::Show
            } else {
                AdvisoryMode::Off
            })
    }

    /// The token for the upstream, from the file or from the named variable.
    pub fn upstream_token(&self) -> anyhow::Result<Option<String>> {
        if let Some(token) = &self.upstream_token {
            return Ok(Some(token.clone()));
        }
        match &self.upstream_token_env {
            Some(var) => std::env::var(var).map(Some).with_context(|| {
                format!(
                    "registry `{}`: upstream-token-env names `{var}`, which is not set",
                    self.name
                )
            }),
            None => Ok(None),
        }
    }

    /// Checks the settings that only make sense for some kinds of registry.
    fn validate(&self, all: &[RegistryConfig]) -> anyhow::Result<()> {
        let name = &self.name;
        let is = |kind| self.kind == kind;
        self.refuse_keys_of_other_kinds(self.changed_keys().iter().map(String::as_str))?;
        if is(RegistryKind::Proxy) {
            let url = self.upstream_url();
            if !matches!(url.scheme(), "http" | "https") {
                bail!(
                    "registry `{name}`: upstream `{url}` must be an http:// or https:// sparse index URL"
                );
            }
            for rule in self.allow.iter().chain(&self.deny) {
                cargohold_protocol::upstream::VersionRule::parse(rule)
                    .with_context(|| format!("registry `{name}`: the rule `{rule}` is invalid"))?;
            }
        }
        for (i, webhook) in self.webhooks.iter().enumerate() {
            webhook.validate(name)?;
            if self.webhooks[..i].iter().any(|w| w.url == webhook.url) {
                bail!(
                    "registry `{name}`: the webhook {} is listed twice; give it one table with every \
                     event it wants",
                    webhook.url
                );
            }
        }
        if is(RegistryKind::Virtual) {
            if self.members.is_empty() {
                bail!("registry `{name}`: a virtual registry needs `members = [\"…\"]`, in order");
            }
            let mut seen_proxy: Option<&str> = None;
            for member in &self.members {
                let Some(config) = all.iter().find(|r| &r.name == member) else {
                    bail!("registry `{name}`: the member `{member}` is not a configured registry");
                };
                match config.kind {
                    RegistryKind::Virtual => {
                        bail!(
                            "registry `{name}`: the member `{member}` is virtual; members must be local or proxy registries"
                        )
                    }
                    RegistryKind::Proxy => seen_proxy = Some(member),
                    RegistryKind::Local => {
                        if let Some(proxy) = seen_proxy {
                            bail!(
                                "registry `{name}`: the local member `{member}` comes after the proxy `{proxy}`; \
                                 list local members first, so a name published here is never taken from an upstream"
                            );
                        }
                    }
                }
                if config.auth_required && !self.auth_required {
                    bail!(
                        "registry `{name}`: the member `{member}` is private (auth-required), so `{name}` must be too; add `auth-required = true`"
                    );
                }
                if self.members.iter().filter(|m| *m == member).count() > 1 {
                    bail!("registry `{name}`: the member `{member}` is listed twice");
                }
            }
            if let Some(target) = &self.publish_to {
                let local = all
                    .iter()
                    .any(|r| &r.name == target && r.kind == RegistryKind::Local);
                if !local || !self.members.contains(target) {
                    bail!(
                        "registry `{name}`: publish-to `{target}` must be one of its local members"
                    );
                }
            }
        }
        Ok(())
    }

    /// Refuses any of `keys` that applies to another kind of registry only.
    fn refuse_keys_of_other_kinds<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> anyhow::Result<()> {
        for key in keys {
            if let Some((_, kind)) = KIND_SPECIFIC_KEYS
                .iter()
                .find(|(known, kind)| *known == key && *kind != self.kind)
            {
                // Only local registries have changes someone made: a virtual
                // registry's writes land in its `publish-to` member, and a proxy's
                // crates come and go as its cache fills and is trimmed.
                let why = if key == "webhooks" {
                    match self.kind {
                        RegistryKind::Virtual => {
                            " (publishes, yanks and owner changes made through a virtual registry \
                             happen in its `publish-to` member: configure the webhooks there)"
                        }
                        _ => {
                            " (a proxy's crates change only as its cache fills and is trimmed, which is nobody's change)"
                        }
                    }
                } else {
                    ""
                };
                bail!(
                    "registry `{}` (kind = \"{}\"): `{key}` applies to `kind = \"{}\"` registries only{why}; \
                     remove it from this registry's table, or set the kind it belongs to",
                    self.name,
                    self.kind.as_str(),
                    kind.as_str(),
                );
            }
        }
        Ok(())
    }

    /// The keys whose values differ from the defaults (a table built in code has
    /// no other record of what was set).
    fn changed_keys(&self) -> Vec<String> {
        let table = |registry: &RegistryConfig| match serde_json::to_value(registry) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let (ours, defaults) = (table(self), table(&RegistryConfig::default()));
        let mut keys: Vec<String> = ours
            .keys()
            .chain(defaults.keys())
            .filter(|key| ours.get(*key) != defaults.get(*key))
            .cloned()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Keys of a `[[registries]]` table that apply to one kind of registry only
/// (`name`, `kind`, `replaces-crates-io` and `auth-required` apply to every kind).
const KIND_SPECIFIC_KEYS: &[(&str, RegistryKind)] = &[
    ("upstream", RegistryKind::Proxy),
    ("upstream-token", RegistryKind::Proxy),
    ("upstream-token-env", RegistryKind::Proxy),
    ("freshness-seconds", RegistryKind::Proxy),
    ("allow", RegistryKind::Proxy),
    ("deny", RegistryKind::Proxy),
    ("min-age-days", RegistryKind::Proxy),
    ("advisories", RegistryKind::Proxy),
    ("cache-max-size", RegistryKind::Proxy),
    ("cache-max-age-days", RegistryKind::Proxy),
    ("members", RegistryKind::Virtual),
    ("publish-to", RegistryKind::Virtual),
    ("git-index", RegistryKind::Local),
    ("webhooks", RegistryKind::Local),
];

/// Writes `[[registries]]` tables as the loader takes them back: the keys every
/// kind has, then those of the registry's kind, each with its effective value.
/// A key of another kind would be refused, even at its default value.
fn serialize_registries<S: serde::Serializer>(
    registries: &[RegistryConfig],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(registries.iter().map(ShownRegistry::from))
}

/// A `[[registries]]` table as written out (see [`serialize_registries`]).
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ShownRegistry<'a> {
    name: &'a str,
    kind: RegistryKind,
    replaces_crates_io: bool,
    auth_required: bool,
    #[serde(flatten)]
    of_kind: KindSettings<'a>,
}

/// The keys of one kind of registry, as listed in [`KIND_SPECIFIC_KEYS`].
#[derive(Serialize)]
#[serde(untagged, rename_all_fields = "kebab-case")]
enum KindSettings<'a> {
    Local {
        git_index: bool,
        webhooks: &'a [WebhookConfig],
    },
    Proxy {
        upstream: Url,
        #[serde(skip_serializing_if = "Option::is_none")]
        upstream_token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        upstream_token_env: Option<&'a str>,
        freshness_seconds: u64,
        allow: &'a [String],
        deny: &'a [String],
        min_age_days: u64,
        advisories: AdvisoryMode,
        cache_max_size: u64,
        cache_max_age_days: u64,
    },
    Virtual {
        members: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        publish_to: Option<&'a str>,
    },
}

impl<'a> From<&'a RegistryConfig> for ShownRegistry<'a> {
    fn from(r: &'a RegistryConfig) -> Self {
        let of_kind = match r.kind {
            RegistryKind::Local => KindSettings::Local {
                git_index: r.git_index,
                webhooks: &r.webhooks,
            },
            RegistryKind::Proxy => KindSettings::Proxy {
                upstream: r
                    .upstream
                    .clone()
                    .unwrap_or_else(|| Url::parse(CRATES_IO_SPARSE_INDEX).expect("a valid URL")),
                upstream_token: r.upstream_token.as_deref(),
                upstream_token_env: r.upstream_token_env.as_deref(),
                freshness_seconds: r.freshness_seconds,
                allow: &r.allow,
                deny: &r.deny,
                min_age_days: r.min_age_days,
                advisories: r.advisory_mode(),
                cache_max_size: r.cache_max_size,
                cache_max_age_days: r.cache_max_age_days,
            },
            RegistryKind::Virtual => KindSettings::Virtual {
                members: &r.members,
                publish_to: r.publish_to.as_deref(),
            },
        };
        Self {
            name: &r.name,
            kind: r.kind,
            replaces_crates_io: r.replaces_crates_io,
            auth_required: r.auth_required,
            of_kind,
        }
    }
}

/// What a registry holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryKind {
    /// Crates published to this registry.
    #[default]
    Local,
    /// A read-through cache of an upstream sparse registry (crates.io by default).
    Proxy,
    /// One URL over ordered local and proxy members.
    Virtual,
}

impl RegistryKind {
    /// The name used in configuration and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Proxy => "proxy",
            Self::Virtual => "virtual",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            data_dir: PathBuf::from("cargohold-data"),
            database_url: None,
            storage_url: None,
            s3: S3Config::default(),
            git_dir: None,
            log_format: LogFormat::Text,
            download_flush_seconds: 10,
            index_cache_size: 64 * 1024 * 1024,
            index_poll_millis: 100,
            shutdown_delay_secs: 0,
            trust_forwarded_for: false,
            download_cache_size: 64 * 1024 * 1024,
            connection_threads: ConnectionThreads::Shared,
            webhook_retry_seconds: 10,
            webhook_history_days: 7,
            limits: Limits::default(),
            registries: Vec::new(),
            forges: BTreeMap::new(),
        }
    }
}

/// Values given on the command line, applied over everything else.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads the configuration the way every subcommand does.
    ///
    /// `file` must exist when given; otherwise `cargohold.toml` is read if present.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.is_file() {
                    bail!(
                        "the configuration file {} does not exist; check the --config path",
                        path.display()
                    );
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        let env = Env::prefixed("CARGOHOLD_").filter_map(|key| {
            let key = key
                .as_str()
                .to_ascii_lowercase()
                .replace("__", ".")
                .replace('_', "-");
            let top = key.split('.').next().unwrap_or_default();
            ENV_KEYS.contains(&top).then(|| key.into())
        });
        let figment = figment.merge(env).merge(Serialized::globals(overrides));
        let config: Config = figment.extract().map_err(|err| explain(&figment, err))?;
        // A key left at its default is invisible in `config`: look at the tables as written.
        if let Ok(tables) = figment.find_value("registries")
            && let Some(tables) = tables.as_array()
        {
            let file = figment
                .find_metadata("registries")
                .map_or_else(|| "the configuration".to_owned(), |md| source(md, &[]));
            for (table, registry) in tables.iter().zip(&config.registries) {
                if let Some(keys) = table.as_dict() {
                    registry
                        .refuse_keys_of_other_kinds(keys.keys().map(String::as_str))
                        .with_context(|| format!("{file} is invalid"))?;
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// A hermetic configuration for tests: everything under `data_dir`, listening on `listen`.
    pub fn for_tests(data_dir: &Path, listen: SocketAddr) -> Self {
        Self {
            listen,
            data_dir: data_dir.to_owned(),
            download_flush_seconds: 3600,
            ..Self::default()
        }
    }

    /// Checks what serde cannot: registry names and URLs.
    pub fn validate(&self) -> anyhow::Result<()> {
        for registry in &self.registries {
            validate_registry_name(&registry.name)?;
        }
        for registry in &self.registries {
            registry.validate(&self.registries)?;
        }
        let mut names: Vec<&str> = self.registries.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            bail!("the registry `{}` is configured twice", pair[0]);
        }
        validate_storage_url(&self.storage_url())?;
        if let Some(url) = &self.public_url
            && !matches!(url.scheme(), "http" | "https")
        {
            bail!("public-url `{url}` must be an http:// or https:// URL");
        }
        for host in self.forges.keys() {
            let plain = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if !plain {
                bail!(
                    "[forges] `{host}` is not a host name: write the host of the repository URLs \
                     alone, like \"git.example.com\" (or \"git.example.com:3000\")"
                );
            }
        }
        Ok(())
    }

    /// The URL clients reach the server at, always ending in `/`.
    pub fn public_url(&self) -> Url {
        let mut url = self.public_url.clone().unwrap_or_else(|| {
            let host = match self.listen.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            Url::parse(&format!("http://{host}:{}/", self.listen.port()))
                .expect("an IP address and port form a URL")
        });
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("cargohold.db").display()))
    }

    /// The blob storage location: a directory (by default one in the data
    /// directory) or an `s3://` URL.
    pub fn storage_url(&self) -> String {
        self.storage_url
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs").display().to_string())
    }

    /// Where the git indexes of registries with `git-index = true` live.
    pub fn git_dir(&self) -> PathBuf {
        self.git_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("git"))
    }

    /// The configured registries, or the single default `main`.
    pub fn registries(&self) -> Vec<RegistryConfig> {
        if self.registries.is_empty() {
            vec![RegistryConfig::local("main")]
        } else {
            self.registries.clone()
        }
    }

    /// The effective configuration as TOML, with secrets redacted: a file the
    /// loader accepts (each registry with the keys of its kind) and shows the same again.
    pub fn to_redacted_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(&self.redacted())?)
    }

    /// [`Config::to_redacted_toml`] without where the data lives (`data-dir`,
    /// `database-url`, `storage-url`, `git-dir`) and without a public URL nobody
    /// set: what a backup keeps, so its data can run elsewhere with the same
    /// registries and settings.
    pub fn to_portable_toml(&self) -> anyhow::Result<String> {
        let mut portable = toml::Table::try_from(self.redacted())?;
        for location in ["data-dir", "database-url", "storage-url", "git-dir"] {
            portable.remove(location);
        }
        // Only a public URL that was set: one derived from `listen` is derived again.
        if self.public_url.is_none() {
            portable.remove("public-url");
        }
        Ok(toml::to_string_pretty(&portable)?)
    }

    /// The effective configuration with secrets replaced by `REDACTED`.
    fn redacted(&self) -> Config {
        let mut shown = self.clone();
        shown.public_url = Some(self.public_url());
        shown.database_url = Some(redact_url(&self.database_url()));
        shown.storage_url = Some(redact_url(&self.storage_url()));
        shown.git_dir = Some(self.git_dir());
        if shown.s3.secret_access_key.is_some() {
            shown.s3.secret_access_key = Some("REDACTED".into());
        }
        shown.registries = self.registries();
        for registry in &mut shown.registries {
            if registry.upstream_token.is_some() {
                registry.upstream_token = Some("REDACTED".into());
            }
            if let Some(upstream) = &mut registry.upstream
                && upstream.password().is_some()
            {
                let _ = upstream.set_password(Some("REDACTED"));
            }
            for webhook in &mut registry.webhooks {
                if webhook.secret.is_some() {
                    webhook.secret = Some("REDACTED".into());
                }
                webhook.url = redact_url(&webhook.url);
            }
        }
        shown
    }
}

/// Says what is wrong with the configuration: for an unknown key (or value of a
/// key with a fixed set), where it was written (file or environment variable), in
/// which table, what was probably meant, and every key (value) there is; otherwise
/// the library's own words.
fn explain(figment: &Figment, err: figment::Error) -> anyhow::Error {
    let messages: Vec<String> = err
        .into_iter()
        .map(|err| match &err.kind {
            figment::error::Kind::UnknownField(key, expected) => {
                let written = err.metadata.as_ref().map_or_else(
                    || "the configuration".to_owned(),
                    |md| source(md, &err.path),
                );
                let table = table_name(figment, &err.path[..err.path.len().saturating_sub(1)]);
                let hint = closest(key, expected)
                    .map(|meant| format!(" (did you mean `{meant}`?)"))
                    .unwrap_or_default();
                format!(
                    "{written}: unknown key `{key}` {table}{hint}; the keys there are {}",
                    quoted(expected)
                )
            }
            figment::error::Kind::UnknownVariant(value, expected) if !err.path.is_empty() => {
                let written = err.metadata.as_ref().map_or_else(
                    || "the configuration".to_owned(),
                    |md| source(md, &err.path),
                );
                let (key, table) = err.path.split_last().expect("a path that is not empty");
                let table = table_name(figment, table);
                let hint = closest(value, expected)
                    .map(|meant| format!(" (did you mean `{meant}`?)"))
                    .unwrap_or_default();
                format!(
                    "{written}: `{key}` {table} is `{value}`, which is not one of {}{hint}",
                    quoted(expected)
                )
            }
            figment::error::Kind::InvalidType(actual, expected)
            | figment::error::Kind::InvalidValue(actual, expected)
                if !err.path.is_empty() =>
            {
                let written = err.metadata.as_ref().map_or_else(
                    || "the configuration".to_owned(),
                    |md| source(md, &err.path),
                );
                let (place, key) = place_and_key(figment, &err.path);
                format!(
                    "{written}: {place}`{key}` must be {}, not {}",
                    expected_words(&key, expected),
                    actual_words(actual),
                )
            }
            figment::error::Kind::Message(message) if !err.path.is_empty() => {
                let written = err.metadata.as_ref().map_or_else(
                    || "the configuration".to_owned(),
                    |md| source(md, &err.path),
                );
                let (place, key) = place_and_key(figment, &err.path);
                let text = figment
                    .find_value(&err.path.join("."))
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned));
                let value = text
                    .as_deref()
                    .map(|s| format!(" {s:?}"))
                    .unwrap_or_default();
                // A URL written without its scheme (`index.crates.io`); the URL
                // parser's message quotes it when the value cannot be found.
                let url = text.as_deref().or_else(|| message.split('"').nth(1));
                let hint = match url {
                    Some(text) if message.contains("relative URL without a base") => format!(
                        "; write the whole URL, with its scheme, such as \"https://{}\"",
                        text.trim_start_matches('/')
                    ),
                    _ => listen_hint(figment, &key),
                };
                format!("{written}: {place}`{key}`{value} is invalid: {message}{hint}")
            }
            _ => format!("the configuration is invalid: {err}"),
        })
        .collect();
    anyhow::anyhow!(messages.join("\n"))
}

/// Where the key at `path` is, as a user reads the file (`registry \`name\`: `,
/// `[limits]: `, nothing at the top level), and the key itself.
fn place_and_key(figment: &Figment, path: &[String]) -> (String, String) {
    if let [registries, index, rest @ ..] = path
        && registries == "registries"
        && !rest.is_empty()
    {
        let number = index.parse::<usize>().ok();
        let name = number.and_then(|i| {
            let tables = figment.find_value("registries").ok()?;
            let name = tables.as_array()?.get(i)?.as_dict()?.get("name")?;
            name.as_str().map(str::to_owned)
        });
        let place = match name {
            Some(name) => format!("registry `{name}`: "),
            None => format!(
                "[[registries]] table number {}: ",
                number.map_or(0, |i| i + 1)
            ),
        };
        return (place, rest.join("."));
    }
    match path.split_last() {
        Some((key, [])) => (String::new(), key.clone()),
        Some((key, table)) => (format!("[{}]: ", table.join(".")), key.clone()),
        None => (String::new(), String::new()),
    }
}

/// What serde expected, as the file must say it.
fn expected_words(key: &str, expected: &str) -> String {
    let unsigned = ["u8", "u16", "u32", "u64", "u128", "usize"];
    let signed = ["i8", "i16", "i32", "i64", "i128", "isize"];
    match expected {
        "a boolean" => "true or false".to_owned(),
        e if unsigned.contains(&e) && key.ends_with("-size") => {
            "a whole number of bytes, such as 20971520 for 20 MiB".to_owned()
        }
        e if unsigned.contains(&e) => "a whole number, 0 or more".to_owned(),
        e if signed.contains(&e) => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a string" => "a string in quotes".to_owned(),
        "socket address" => {
            "an IP address and port in quotes, such as \"127.0.0.1:8000\"".to_owned()
        }
        "a sequence" => "a list, such as [\"a\", \"b\"]".to_owned(),
        other => other.to_owned(),
    }
}

/// What the file said instead, in its own terms.
fn actual_words(actual: &figment::error::Actual) -> String {
    use figment::error::Actual;
    match actual {
        Actual::Str(value) => format!("the string {value:?}"),
        Actual::Bool(value) => format!("`{value}`"),
        Actual::Unsigned(value) => format!("the number {value}"),
        Actual::Signed(value) => format!("the number {value}"),
        Actual::Float(value) => format!("the number {value}"),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a table".to_owned(),
        other => other.to_string(),
    }
}

/// For `listen`: it takes an IP address, not a host name.
fn listen_hint(figment: &Figment, key: &str) -> String {
    if key != "listen" {
        return String::new();
    }
    let port = figment
        .find_value("listen")
        .ok()
        .and_then(|value| {
            let text = value.as_str()?.to_owned();
            let (_, port) = text.rsplit_once(':')?;
            port.parse::<u16>().ok()
        })
        .unwrap_or(8000);
    format!(
        "; give an IP address, not a host name: 127.0.0.1:{port} (this machine only) or 0.0.0.0:{port} \
         (every interface)"
    )
}

/// `a`, `b`, `c`.
fn quoted(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    items.join(", ")
}

/// Where a value came from: the file's path, or the `CARGOHOLD_*` variable
/// that sets the key at `path`.
fn source(md: &figment::Metadata, path: &[String]) -> String {
    if let Some(file) = md.source.as_ref().and_then(|s| s.file_path()) {
        return file.display().to_string();
    }
    if md.name.contains("environment variable") && !path.is_empty() {
        let name = path.join("__").to_ascii_uppercase().replace('-', "_");
        return format!("the environment variable CARGOHOLD_{name}");
    }
    md.name.to_string()
}

/// The table at `path`, as a user would look for it in the file.
fn table_name(figment: &Figment, path: &[String]) -> String {
    match path {
        [] => "at the top level".to_owned(),
        [registries, index] if registries == "registries" => {
            let name = index.parse::<usize>().ok().and_then(|i| {
                let tables = figment.find_value("registries").ok()?;
                let name = tables.as_array()?.get(i)?.as_dict()?.get("name")?;
                name.as_str().map(str::to_owned)
            });
            match name {
                Some(name) => format!("in the [[registries]] table of `{name}`"),
                None => format!(
                    "in [[registries]] table number {}",
                    index.parse::<usize>().map_or(0, |i| i + 1)
                ),
            }
        }
        [registries, _, webhooks, number]
            if registries == "registries" && webhooks == "webhooks" =>
        {
            let number = number.parse::<usize>().map_or(0, |i| i + 1);
            format!(
                "in [[registries.webhooks]] table number {number} of {}",
                table_name(figment, &path[..2]).trim_start_matches("in ")
            )
        }
        _ => format!("in [{}]", path.join(".")),
    }
}

/// The key among `expected` that `key` was most likely meant to be, if one is close.
fn closest<'a>(key: &str, expected: &[&'a str]) -> Option<&'a str> {
    let typed = key.to_ascii_lowercase().replace('_', "-");
    // The singular of a plural key (`[[registry]]` for `[[registries]]`) is further
    // than a typo, but as likely meant.
    let plurals = [
        format!("{typed}s"),
        format!("{}ies", typed.strip_suffix('y').unwrap_or(&typed)),
    ];
    if let Some(plural) = expected
        .iter()
        .find(|candidate| plurals.iter().any(|p| p == *candidate))
    {
        return Some(plural);
    }
    expected
        .iter()
        .map(|candidate| (strsim::levenshtein(&typed, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2.min(typed.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Refuses a `storage-url` that looks like a URL (`scheme:` first) but is not
/// one of the supported forms, which would otherwise become a directory named
/// after the mistyped URL (`s3:/bucket` → `./s3:/bucket`).
fn validate_storage_url(storage: &str) -> anyhow::Result<()> {
    const FORMS: &str = "a directory (such as /var/lib/cargohold/blobs, or ./name for a relative one), \
                         a file:///absolute/path URL, or s3://bucket/prefix";
    if let Some(rest) = storage.strip_prefix("s3://") {
        if rest.split('/').next().is_none_or(str::is_empty) {
            bail!("storage-url `{storage}` names no bucket: write s3://bucket/prefix");
        }
        return Ok(());
    }
    if storage.starts_with("file://") {
        return Ok(());
    }
    // A scheme: a letter, then letters, digits, `+`, `-` or `.`, then `:`. One letter
    // alone is left to be a drive.
    let scheme = storage
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|scheme| {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
    let Some(scheme) = scheme else {
        return Ok(());
    };
    let hint = match scheme.to_ascii_lowercase().as_str() {
        "s3" => {
            let rest = storage[scheme.len() + 1..].trim_start_matches('/');
            format!(" (did you mean `s3://{rest}`?)")
        }
        "file" => {
            let rest = storage[scheme.len() + 1..].trim_start_matches('/');
            format!(" (did you mean `file:///{rest}`?)")
        }
        _ => String::new(),
    };
    bail!("storage-url `{storage}` is not a supported form{hint}: give {FORMS}")
}

/// Hides a password in a URL such as `postgres://user:secret@host/db`.
pub(crate) fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Checks a registry name against `[a-z0-9][a-z0-9_-]*`, never ending in `.git`.
pub fn validate_registry_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    // cargo ≤ 1.95 drops a final `.git` when matching credentials to URLs.
    if !first_ok || !rest_ok || name.ends_with(".git") || name.len() > 64 {
        bail!(
            "the registry name `{name}` is invalid: use lowercase letters, digits, `-` and `_`, starting with a letter or digit"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_defaults_to_the_listen_address_and_ends_in_a_slash() {
        let config = Config::default();
        assert_eq!(config.public_url().as_str(), "http://127.0.0.1:8000/");
        let config = Config {
            public_url: Some(Url::parse("https://crates.example.com/reg").unwrap()),
            ..Config::default()
        };
        assert_eq!(
            config.public_url().as_str(),
            "https://crates.example.com/reg/"
        );
    }

    #[test]
    fn registry_names_follow_the_contract() {
        for good in ["main", "a", "corp-internal", "x_1"] {
            assert!(validate_registry_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Main", "-x", "a.git", "a/b", "a b"] {
            assert!(validate_registry_name(bad).is_err(), "{bad}");
        }
    }

    fn check(registries: Vec<RegistryConfig>) -> Result<(), String> {
        Config {
            registries,
            ..Config::default()
        }
        .validate()
        .map_err(|e| format!("{e:#}"))
    }

    fn proxy(name: &str) -> RegistryConfig {
        RegistryConfig::proxy(name, Url::parse("https://index.crates.io/").unwrap())
    }

    #[test]
    fn a_virtual_registry_lists_local_members_before_proxies() {
        let ok = check(vec![
            RegistryConfig::local("internal"),
            proxy("cache"),
            RegistryConfig::virtual_of("all", &["internal", "cache"], Some("internal")),
        ]);
        assert_eq!(ok, Ok(()));
        let err = check(vec![
            RegistryConfig::local("internal"),
            proxy("cache"),
            RegistryConfig::virtual_of("all", &["cache", "internal"], None),
        ])
        .unwrap_err();
        assert!(err.contains("comes after the proxy `cache`"), "{err}");
    }

    #[test]
    fn virtual_registries_refuse_unknown_nested_and_unpublishable_members() {
        let base = || vec![RegistryConfig::local("internal"), proxy("cache")];
        let with = |extra: RegistryConfig| {
            let mut all = base();
            all.push(extra);
            check(all).unwrap_err()
        };
        assert!(
            with(RegistryConfig::virtual_of("all", &["nope"], None))
                .contains("not a configured registry")
        );
        assert!(with(RegistryConfig::virtual_of("all", &[], None)).contains("needs `members"));
        assert!(
            with(RegistryConfig::virtual_of(
                "all",
                &["internal", "cache"],
                Some("cache")
            ))
            .contains("must be one of its local members")
        );
        let mut nested = base();
        nested.push(RegistryConfig::virtual_of("a", &["internal"], None));
        nested.push(RegistryConfig::virtual_of("b", &["a"], None));
        assert!(check(nested).unwrap_err().contains("is virtual"));
        let mut private = base();
        private[0].auth_required = true;
        private.push(RegistryConfig::virtual_of("all", &["internal"], None));
        assert!(check(private).unwrap_err().contains("must be too"));
    }

    #[test]
    fn proxy_settings_belong_to_proxies_and_rules_must_parse() {
        let mut local = RegistryConfig::local("internal");
        local.deny = vec!["openssl".into()];
        let err = check(vec![local]).unwrap_err();
        assert!(
            err.contains("registry `internal`")
                && err.contains("`deny` applies to `kind = \"proxy\"` registries only"),
            "{err}"
        );
        let mut bad_rule = proxy("cache");
        bad_rule.deny = vec!["openssl@not-a-range".into()];
        assert!(
            check(vec![bad_rule])
                .unwrap_err()
                .contains("openssl@not-a-range")
        );
        let mut ftp = proxy("cache");
        ftp.upstream = Some(Url::parse("ftp://example.com/index/").unwrap());
        assert!(check(vec![ftp]).unwrap_err().contains("http"));
    }

    #[test]
    fn only_local_registries_keep_a_git_index() {
        let mut local = RegistryConfig::local("internal");
        local.git_index = true;
        assert_eq!(check(vec![local]), Ok(()));
        let mut cache = proxy("cache");
        cache.git_index = true;
        let err = check(vec![cache]).unwrap_err();
        assert!(
            err.contains("`git-index` applies to `kind = \"local\"` registries only"),
            "{err}"
        );
    }

    /// Loads `text` as the configuration file.
    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cargohold.toml");
        std::fs::write(&file, text).unwrap();
        Config::load(Some(&file), Overrides::default()).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn freshness_seconds_on_a_local_registry_is_refused_naming_registry_key_and_kind() {
        // The default value, written out, is refused too: it still does nothing there.
        for value in ["300", "60"] {
            let err = load(&format!(
                "[[registries]]\nname = \"internal\"\nfreshness-seconds = {value}\n"
            ))
            .unwrap_err();
            assert!(
                err.contains("cargohold.toml")
                    && err.contains("registry `internal` (kind = \"local\")")
                    && err.contains(
                        "`freshness-seconds` applies to `kind = \"proxy\"` registries only"
                    ),
                "{err}"
            );
        }
    }

    #[test]
    fn every_setting_of_another_kind_of_registry_is_refused() {
        // A value for each kind-specific key, as written in the file.
        let value = |key: &str| match key {
            "upstream" => "\"https://index.crates.io/\"",
            "upstream-token" | "upstream-token-env" => "\"X\"",
            "allow" | "deny" => "[]",
            "members" => "[\"internal\"]",
            "publish-to" => "\"internal\"",
            "git-index" => "false",
            "advisories" => "\"yank\"",
            "webhooks" => "[{ url = \"https://ci.example.com/hooks\" }]",
            _ => "0",
        };
        let kinds = [
            RegistryKind::Local,
            RegistryKind::Proxy,
            RegistryKind::Virtual,
        ];
        for (key, applies_to) in KIND_SPECIFIC_KEYS {
            for kind in kinds.into_iter().filter(|kind| kind != applies_to) {
                let members = if kind == RegistryKind::Virtual && *key != "members" {
                    "members = [\"internal\"]\n"
                } else {
                    ""
                };
                let text = format!(
                    "[[registries]]\nname = \"internal\"\n\n[[registries]]\nname = \"other\"\nkind = \"{}\"\n{members}{key} = {}\n",
                    kind.as_str(),
                    value(key)
                );
                let err = load(&text).unwrap_err();
                let wanted = format!(
                    "registry `other` (kind = \"{}\"): `{key}` applies to `kind = \"{}\"` registries only",
                    kind.as_str(),
                    applies_to.as_str()
                );
                assert!(err.contains(&wanted), "{text}\n{err}");
            }
        }
    }

    #[test]
    fn every_key_of_a_registry_table_is_either_general_or_for_one_kind() {
        let Err(err) = Figment::from(Toml::string("not-a-key = 1")).extract::<RegistryConfig>()
        else {
            panic!("an unknown key is refused");
        };
        let figment::error::Kind::UnknownField(_, keys) = err.kind else {
            panic!("{err}");
        };
        let general = ["name", "kind", "replaces-crates-io", "auth-required"];
        for key in keys {
            assert!(
                general.contains(key) || KIND_SPECIFIC_KEYS.iter().any(|(k, _)| k == key),
                "`{key}` is neither general nor in KIND_SPECIFIC_KEYS"
            );
        }
    }

    #[test]
    fn config_show_writes_each_registry_with_the_keys_of_its_kind_and_reads_back_the_same() {
        let mut cache = proxy("cache");
        cache.upstream_token = Some("s3cret".into());
        cache.upstream_token_env = Some("CACHE_TOKEN".into());
        cache.allow = vec!["serde".into()];
        let config = Config {
            registries: vec![
                RegistryConfig {
                    git_index: true,
                    webhooks: vec![WebhookConfig {
                        url: "https://ci.example.com/hooks".into(),
                        secret: Some("whs3cret".into()),
                        secret_env: None,
                        events: Some(vec!["publish".into()]),
                    }],
                    ..RegistryConfig::local("internal")
                },
                cache,
                RegistryConfig::virtual_of("all", &["internal", "cache"], Some("internal")),
            ],
            ..Config::default()
        };
        let shown = config.to_redacted_toml().unwrap();
        let file: toml::Table = toml::from_str(&shown).unwrap();
        let tables = file["registries"].as_array().unwrap();
        assert_eq!(tables.len(), 3, "{shown}");
        for table in tables {
            let table = table.as_table().unwrap();
            let kind = table["kind"].as_str().unwrap();
            let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
            let mut wanted: Vec<&str> = ["name", "kind", "replaces-crates-io", "auth-required"]
                .into_iter()
                .chain(
                    KIND_SPECIFIC_KEYS
                        .iter()
                        .filter(|(_, of)| of.as_str() == kind)
                        .map(|(key, _)| *key),
                )
                .collect();
            keys.sort_unstable();
            wanted.sort_unstable();
            assert_eq!(keys, wanted, "{shown}");
        }
        assert!(shown.contains("git-dir = "), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            !shown.contains("whs3cret") && shown.contains("https://ci.example.com/hooks"),
            "{shown}"
        );
        let again = load(&shown).unwrap().to_redacted_toml().unwrap();
        assert_eq!(again, shown);
    }

    #[test]
    fn settings_of_the_right_kind_are_accepted() {
        let config = load(
            "[[registries]]\nname = \"internal\"\ngit-index = true\n\n\
             [[registries]]\nname = \"cache\"\nkind = \"proxy\"\nfreshness-seconds = 300\nmin-age-days = 2\n\n\
             [[registries]]\nname = \"all\"\nkind = \"virtual\"\nmembers = [\"internal\", \"cache\"]\npublish-to = \"internal\"\n",
        )
        .unwrap();
        assert_eq!(config.registries.len(), 3);
    }

    #[test]
    fn a_typo_in_a_key_names_the_file_the_table_the_close_match_and_the_valid_keys() {
        let err = load("publc-url = \"https://crates.example.com/\"\n").unwrap_err();
        assert!(
            err.contains("cargohold.toml: unknown key `publc-url` at the top level"),
            "{err}"
        );
        assert!(err.contains("(did you mean `public-url`?)"), "{err}");
        assert!(err.contains("`listen`, `public-url`, `data-dir`"), "{err}");
        assert!(!err.contains("unknown field"), "{err}");

        let err = load("[limits]\nmax-crate-sise = 1\n").unwrap_err();
        assert!(
            err.contains(
                "unknown key `max-crate-sise` in [limits] (did you mean `max-crate-size`?)"
            ) && err.contains("`max-metadata-size`"),
            "{err}"
        );

        let err =
            load("[[registries]]\nname = \"cache\"\nkind = \"proxy\"\nfreshnes-seconds = 1\n")
                .unwrap_err();
        assert!(
            err.contains(
                "in the [[registries]] table of `cache` (did you mean `freshness-seconds`?)"
            ) && err.contains("`members`"),
            "{err}"
        );

        let err = load("public_url = \"https://crates.example.com/\"\n").unwrap_err();
        assert!(err.contains("(did you mean `public-url`?)"), "{err}");

        let err = load("[[registries]]\nname = \"cache\"\nkind = \"proxi\"\n").unwrap_err();
        assert!(
            err.contains("`kind` in the [[registries]] table of `cache` is `proxi`, which is not one of `local`, `proxy`, `virtual` (did you mean `proxy`?)"),
            "{err}"
        );

        let err = load("colour = \"blue\"\n").unwrap_err();
        assert!(
            err.contains("unknown key `colour`") && !err.contains("did you mean"),
            "{err}"
        );

        // The singular of a plural key is as likely meant as a typo.
        let err = load("[[registry]]\nname = \"internal\"\n").unwrap_err();
        assert!(
            err.contains("unknown key `registry` at the top level (did you mean `registries`?)"),
            "{err}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_registry_the_key_what_it_must_be_and_what_it_was() {
        for (text, expected) in [
            (
                "[[registries]]\nname = \"main\"\n\n[[registries]]\nname = \"internal\"\nauth-required = \"yes\"\n",
                "cargohold.toml: registry `internal`: `auth-required` must be true or false, not the string \"yes\"",
            ),
            (
                "[limits]\nmax-crate-size = \"20MB\"\n",
                "cargohold.toml: [limits]: `max-crate-size` must be a whole number of bytes, such as 20971520 \
                 for 20 MiB, not the string \"20MB\"",
            ),
            (
                "download-flush-seconds = -1\n",
                "cargohold.toml: `download-flush-seconds` must be a whole number, 0 or more, not the number -1",
            ),
            (
                "[[registries]]\nname = \"all\"\nkind = \"virtual\"\nmembers = \"main\"\n",
                "cargohold.toml: registry `all`: `members` must be a list, such as [\"a\", \"b\"], not the \
                 string \"main\"",
            ),
            (
                "[[registries]]\nname = \"cache\"\nkind = \"proxy\"\nupstream = \"index.crates.io/\"\n",
                "cargohold.toml: registry `cache`: `upstream` is invalid: relative URL without a base: \
                 \"index.crates.io/\"; write the whole URL, with its scheme, such as \
                 \"https://index.crates.io/\"",
            ),
            (
                "listen = \"localhost:18599\"\n",
                "cargohold.toml: `listen` \"localhost:18599\" is invalid: invalid socket address syntax; give \
                 an IP address, not a host name: 127.0.0.1:18599 (this machine only) or 0.0.0.0:18599 \
                 (every interface)",
            ),
        ] {
            let err = load(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(
                !err.contains("default.")
                    && !err.contains("TOML file")
                    && !err.contains("registries.1"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn a_webhook_is_read_with_every_event_unless_it_lists_some() {
        let config = load(
            "[[registries]]\nname = \"main\"\n\
             [[registries.webhooks]]\nurl = \"https://ci.example.com/hooks\"\nsecret = \"s\"\n\
             [[registries.webhooks]]\nurl = \"http://chat.internal:8080/cargo\"\nevents = [\"publish\", \"yank\"]\n",
        )
        .unwrap();
        let [all, some] = &config.registries[0].webhooks[..] else {
            panic!("{config:?}");
        };
        assert_eq!(all.secret.as_deref(), Some("s"));
        for event in WEBHOOK_EVENTS {
            assert!(all.wants(event), "{event}");
        }
        assert!(some.wants("publish") && some.wants("yank") && !some.wants("unyank"));
        assert!(!all.wants("token_create"), "not a change to a crate");
    }

    #[test]
    fn a_webhook_url_that_is_not_http_is_refused_naming_the_registry_and_the_url() {
        for url in [
            "ftp://ci.example.com/hooks",
            "ci.example.com/hooks",
            "https://",
        ] {
            let err = load(&format!(
                "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\nurl = \"{url}\"\n"
            ))
            .unwrap_err();
            assert!(
                err.contains(&format!(
                    "registry `main`: the webhook url `{url}` must be an http:// or https:// URL"
                )),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn an_unknown_webhook_event_is_refused_with_the_valid_ones_and_the_one_meant() {
        let err = load(
            "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\n\
             url = \"https://ci.example.com/hooks\"\nevents = [\"publish\", \"unyamk\"]\n",
        )
        .unwrap_err();
        assert!(
            err.contains(
                "registry `main`: the webhook https://ci.example.com/hooks names the event `unyamk`, \
                 which is not one of `publish`, `yank`, `unyank`, `delete_crate`, `delete_version`, \
                 `owner_add`, `owner_remove` (did you mean `unyank`?)"
            ),
            "{err}"
        );
        let err = load(
            "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\n\
             url = \"https://ci.example.com/hooks\"\nevents = []\n",
        )
        .unwrap_err();
        assert!(err.contains("would never be called"), "{err}");
    }

    #[test]
    fn secret_and_secret_env_together_are_refused() {
        let err = load(
            "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\n\
             url = \"https://ci:pw@ci.example.com/hooks?key=k\"\nsecret = \"s\"\n\
             secret-env = \"HOOK_SECRET\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains("registry `main`: the webhook https://ci:REDACTED@ci.example.com/hooks has both `secret` and `secret-env`; keep one"),
            "{err}"
        );
        assert!(!err.contains("pw@") && !err.contains("key=k"), "{err}");
    }

    #[test]
    fn secret_env_is_read_into_the_secret_and_an_unset_variable_is_named() {
        let config = load(
            "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\n\
             url = \"https://ci.example.com/hooks\"\nsecret-env = \"CARGOHOLD_TEST_NO_SUCH_SECRET\"\n",
        )
        .unwrap();
        let webhook = &config.registries[0].webhooks[0];
        assert_eq!(webhook.secret, None);
        let err = format!("{:#}", webhook.secret("main").unwrap_err());
        assert!(
            err.contains(
                "registry `main`: the webhook https://ci.example.com/hooks has secret-env = \"CARGOHOLD_TEST_NO_SUCH_SECRET\", \
                 and `CARGOHOLD_TEST_NO_SUCH_SECRET` is not set"
            ),
            "{err}"
        );
        // The name of a variable is no secret: `config show` keeps it.
        let shown = config.to_redacted_toml().unwrap();
        assert!(
            shown.contains("secret-env = \"CARGOHOLD_TEST_NO_SUCH_SECRET\""),
            "{shown}"
        );
    }

    #[test]
    fn a_webhook_listed_twice_or_with_an_unknown_key_is_refused() {
        let twice = "[[registries]]\nname = \"main\"\n\
                     [[registries.webhooks]]\nurl = \"https://ci.example.com/hooks\"\nevents = [\"yank\"]\n\
                     [[registries.webhooks]]\nurl = \"https://ci.example.com/hooks\"\nevents = [\"publish\"]\n";
        let err = load(twice).unwrap_err();
        assert!(err.contains("is listed twice"), "{err}");
        let err = load(
            "[[registries]]\nname = \"main\"\n[[registries.webhooks]]\n\
             url = \"https://ci.example.com/hooks\"\nsecrit = \"x\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains(
                "unknown key `secrit` in [[registries.webhooks]] table number 1 of the [[registries]] \
                 table of `main` (did you mean `secret`?)"
            ),
            "{err}"
        );
    }

    #[test]
    fn webhooks_on_a_proxy_or_a_virtual_registry_are_refused_saying_where_changes_happen() {
        let base = "[[registries]]\nname = \"internal\"\n\n\
                    [[registries]]\nname = \"cache\"\nkind = \"proxy\"\n";
        let hook = "[[registries.webhooks]]\nurl = \"https://ci.example.com/hooks\"\n";
        let err = load(&format!("{base}{hook}")).unwrap_err();
        assert!(
            err.contains("registry `cache` (kind = \"proxy\"): `webhooks` applies to `kind = \"local\"` registries only")
                && err.contains("nobody's change"),
            "{err}"
        );
        let err = load(&format!(
            "{base}\n[[registries]]\nname = \"all\"\nkind = \"virtual\"\n\
             members = [\"internal\", \"cache\"]\npublish-to = \"internal\"\n{hook}"
        ))
        .unwrap_err();
        assert!(
            err.contains("registry `all` (kind = \"virtual\"): `webhooks` applies to `kind = \"local\"` registries only")
                && err.contains("configure the webhooks there"),
            "{err}"
        );
    }

    #[test]
    fn the_upstream_url_drops_sparse_and_ends_in_a_slash() {
        let mut cache = proxy("cache");
        assert_eq!(cache.upstream_url().as_str(), "https://index.crates.io/");
        cache.upstream = Some(Url::parse("sparse+https://mirror.example/index").unwrap());
        assert_eq!(
            cache.upstream_url().as_str(),
            "https://mirror.example/index/"
        );
    }

    #[test]
    fn a_mistyped_setting_variable_is_named_with_the_one_meant_and_others_are_left_alone() {
        let names = [
            "CARGOHOLD_PUBLC_URL",
            "CARGOHOLD_LIMIT__MAX_CRATE_SIZE",
            "CARGOHOLD_PUBLIC_URL",
            "CARGOHOLD_TOKEN",
            "CARGOHOLD_TEST_DATABASE_URL",
            "PATH",
        ]
        .map(str::to_owned);
        assert_eq!(
            mistyped_env_vars(names),
            [
                (
                    "CARGOHOLD_PUBLC_URL".to_owned(),
                    "CARGOHOLD_PUBLIC_URL".to_owned()
                ),
                (
                    "CARGOHOLD_LIMIT__MAX_CRATE_SIZE".to_owned(),
                    "CARGOHOLD_LIMITS__MAX_CRATE_SIZE".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn upstream_tokens_are_redacted_in_config_show() {
        let mut cache = proxy("cache");
        cache.upstream_token = Some("s3cret".into());
        let config = Config {
            registries: vec![cache],
            ..Config::default()
        };
        let shown = config.to_redacted_toml().unwrap();
        assert!(
            !shown.contains("s3cret") && shown.contains("REDACTED"),
            "{shown}"
        );
    }

    #[test]
    fn a_password_in_an_upstream_url_is_redacted_in_config_show() {
        let mut cache = proxy("cache");
        cache.upstream = Some(Url::parse("https://mirror:hunter2@mirror.example/index/").unwrap());
        let config = Config {
            registries: vec![cache],
            ..Config::default()
        };
        let shown = config.to_redacted_toml().unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("https://mirror:REDACTED@mirror.example/index/"),
            "{shown}"
        );
    }

    #[test]
    fn the_s3_secret_key_is_redacted_in_config_show() {
        let config = Config {
            storage_url: Some("s3://bucket/prefix".into()),
            s3: S3Config {
                access_key_id: Some("AKIDEXAMPLE".into()),
                secret_access_key: Some("wJalrXUtnFEMI".into()),
                ..S3Config::default()
            },
            ..Config::default()
        };
        let shown = config.to_redacted_toml().unwrap();
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(
            shown.contains("secret-access-key = \"REDACTED\""),
            "{shown}"
        );
        assert!(
            shown.contains("storage-url = \"s3://bucket/prefix\""),
            "{shown}"
        );
    }

    #[test]
    fn forges_are_read_by_host_and_a_url_in_place_of_a_host_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cargohold.toml");
        std::fs::write(
            &file,
            "[forges]\n\"git.example.com\" = \"forgejo\"\n\"gitlab.example.com:8443\" = \"gitlab\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), Overrides::default()).unwrap();
        assert_eq!(
            config.forges,
            BTreeMap::from([
                ("git.example.com".to_owned(), ForgeKind::Gitea),
                ("gitlab.example.com:8443".to_owned(), ForgeKind::Gitlab),
            ])
        );

        std::fs::write(&file, "[forges]\n\"https://git.example.com\" = \"gitea\"\n").unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&file), Overrides::default()).unwrap_err()
        );
        assert!(err.contains("\"git.example.com\""), "{err}");
        std::fs::write(&file, "[forges]\n\"git.example.com\" = \"bitbucket\"\n").unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&file), Overrides::default()).unwrap_err()
        );
        assert!(err.contains("bitbucket"), "{err}");
    }

    #[test]
    fn storage_urls_other_than_directories_and_s3_are_refused() {
        let config = Config {
            storage_url: Some("gs://bucket".into()),
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("s3://bucket/prefix"), "{err}");
    }

    #[test]
    fn a_storage_url_that_looks_like_a_url_but_is_not_a_supported_one_is_refused() {
        for (url, hint) in [
            ("s3:/bucket/x", Some("(did you mean `s3://bucket/x`?)")),
            ("s3:bucket/x", Some("(did you mean `s3://bucket/x`?)")),
            ("S3:/bucket", Some("(did you mean `s3://bucket`?)")),
            (
                "file:/srv/blobs",
                Some("(did you mean `file:///srv/blobs`?)"),
            ),
            ("gs://bucket/x", None),
            ("http://minio:9000/bucket", None),
            ("https:bucket", None),
        ] {
            let err = load(&format!("storage-url = \"{url}\"\n")).unwrap_err();
            assert!(
                err.contains(&format!("storage-url `{url}` is not a supported form"))
                    && err.contains("a directory")
                    && err.contains("file:///absolute/path")
                    && err.contains("s3://bucket/prefix"),
                "{url}: {err}"
            );
            if let Some(hint) = hint {
                assert!(err.contains(hint), "{url}: {err}");
            }
        }
        let err = load("storage-url = \"s3:///x\"\n").unwrap_err();
        assert!(err.contains("names no bucket"), "{err}");
        for url in [
            "/var/lib/cargohold/blobs",
            "blobs",
            "./odd:name",
            "file:///srv/blobs",
            "s3://bucket",
            "s3://bucket/prefix",
        ] {
            let config = load(&format!("storage-url = \"{url}\"\n"));
            assert!(config.is_ok(), "{url}: {config:?}");
        }
    }

    #[test]
    fn secrets_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db/registry"),
            "postgres://app:REDACTED@db/registry"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
