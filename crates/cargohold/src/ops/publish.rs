//! Publishing a version, whichever way the `.crate` arrives: validate it, store it, record it, refresh the index.
//!
//! `cargo publish`, a raw `PUT` of a `.crate` and `cargohold import` share every
//! step; they differ only where [`Source`] says. Write order matters: blob, then
//! rows (with the index file) in one transaction. A crash in between leaves at
//! worst an unreferenced blob, never an index line for a missing file.

use bytes::Bytes;
use cargohold_protocol::manifest::{self, Manifest};
use cargohold_protocol::publish::PublishMetadata;
use cargohold_protocol::tarball::{self, TarballLimits};
use cargohold_protocol::targets::{self, Targets};
use cargohold_protocol::validate::{EntryLimits, validate_entry};
use cargohold_protocol::{CrateName, DependencyKind, IndexEntry, RegistryIdentity};
use sha2::{Digest, Sha256};

use crate::access::{self, CrateAction, Role};
use crate::app::{App, Registry};
use crate::auth::{Actor, Scope};
use crate::clock;
use crate::config::{Limits, RegistryKind};
use crate::db::{self, Conn, audit::AuditEvent, crates::CrateMetadata, crates::CrateRow};
use crate::error::{AppError, AppResult};
use crate::storage;

/// The longest README kept, in bytes.
const MAX_README_SIZE: u64 = 1024 * 1024;

/// How a `.crate` reached the registry.
#[derive(Debug)]
pub enum Source {
    /// `cargo publish`: the metadata must agree with the manifest, and a taken
    /// version is refused (versions are immutable).
    Cargo(Box<PublishMetadata>),
    /// A `.crate` `PUT` at its download URL: name and version come from the URL
    /// and must match the manifest. Sending the same bytes again is harmless.
    Upload { name: String, version: String },
    /// `cargohold import`: name and version come from the archive. The same bytes
    /// again are skipped, and dependencies need not be in the registry (yet):
    /// crates arrive in any order, and dev-dependencies are often left behind.
    Import,
}

/// A `.crate` and how it arrived.
#[derive(Debug)]
pub struct Upload {
    pub source: Source,
    pub tarball: Bytes,
}

/// A version that is now in the registry.
#[derive(Debug, Clone)]
pub struct Published {
    /// The index line, as served.
    pub entry: IndexEntry,
    /// The crate did not exist before.
    pub new_crate: bool,
    /// These exact bytes were already published; nothing changed.
    pub already_present: bool,
    /// Normal and build dependencies on this registry that it does not hold (imports only).
    pub missing_dependencies: Vec<String>,
    /// Dev-dependencies on this registry that it does not hold: not needed to build.
    pub missing_dev_dependencies: Vec<String>,
    /// What the publisher should know (cargo prints these after publishing).
    pub warnings: Vec<String>,
}

/// A `.crate` that passed every check, with the index line it will get.
struct CheckedCrate {
    entry: IndexEntry,
    manifest: Manifest,
    checksum: String,
    readme: Option<String>,
    /// The package's directory in its repository, from `.cargo_vcs_info.json`.
    path_in_vcs: Option<String>,
    /// Its library and binaries, for `cargo add` and `cargo install` lines.
    targets: Targets,
    rules: Rules,
}

/// The rules that depend on how the `.crate` arrived.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// Any existing version is refused, even with the same bytes (`cargo publish`).
    refuse_existing: bool,
    /// Dependencies on this registry must already be in it.
    dependencies_must_exist: bool,
}

/// Publishes one version to `registry` on behalf of `actor`.
pub async fn publish(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    upload: Upload,
) -> AppResult<Published> {
    let Upload { source, tarball } = upload;
    // Operators importing from the command line are not limited; API clients are.
    if actor.token_id.is_some()
        && let Some(retry_after) = app.rate_limits.publishes.hit(&actor.user_id)
    {
        let err = AppError::TooManyRequests {
            message: format!(
                "`{}` has published more than {} times in the last minute; try again in {retry_after} s",
                actor.login, app.config.limits.publishes_per_minute
            ),
            retry_after,
        };
        actor.log_refusal(&err, Some(&registry.name));
        return Err(err);
    }

    // Cheap refusals first, when the name and version are known before unpacking.
    if let Some((name, version)) = claimed_name_and_version(&source) {
        let name = CrateName::new(name).map_err(AppError::bad_request)?;
        let version = parse_version(version)?;
        crate::virtual_registry::require_served_from(app, actor, registry, name.as_str()).await?;
        let existing =
            db::crates::find_by_canonical(app.db.read(), registry.id, &name.canonical()).await?;
        check_may_publish(app.db.read(), actor, registry, &name, existing.as_ref()).await?;
        if let (Source::Cargo(_), Some(krate)) = (&source, &existing)
            && let Some(taken) =
                db::versions::find_without_build(app.db.read(), krate.id, &without_build(&version))
                    .await?
        {
            return Err(already_uploaded(&krate.name, &taken.num));
        }
    }

    // Unpacking is CPU work on untrusted input; keep it off the async threads.
    let published_at = clock::now();
    let checked = {
        let tarball = tarball.clone();
        let identity = registry.identity();
        let limits = app.config.limits.clone();
        tokio::task::spawn_blocking(move || {
            check_crate(&tarball, source, identity, &limits, published_at)
        })
        .await
        .map_err(|e| anyhow::anyhow!("the .crate check stopped unexpectedly: {e}"))??
    };
    let name = CrateName::new(&checked.entry.name).map_err(AppError::bad_request)?;
    let version = parse_version(&checked.entry.vers)?;
    let num_no_build = without_build(&version);
    crate::virtual_registry::require_served_from(app, actor, registry, name.as_str()).await?;

    let existing =
        db::crates::find_by_canonical(app.db.read(), registry.id, &name.canonical()).await?;
    check_may_publish(app.db.read(), actor, registry, &name, existing.as_ref()).await?;
    if let Some(krate) = &existing
        && let Some(taken) =
            db::versions::find_without_build(app.db.read(), krate.id, &num_no_build).await?
    {
        return already_there(&checked, &krate.name, &taken);
    }
    if !registry.auth_required
        && let Some((dependency, private)) = private_dependency(app, &checked.entry)
    {
        return Err(AppError::BadRequest(format!(
            "`{name}` would be readable by anyone in `{}`, but it depends on `{dependency}` from the private \
             registry `{private}`: its index line would show that name to everyone, and nobody without access \
             to `{private}` could build it; publish `{name}` to `{private}` instead",
            registry.name
        )));
    }
    let missing = missing_dependencies(app, registry, &checked.entry).await?;
    if checked.rules.dependencies_must_exist
        && let Some(missing) = missing.needed.first().or(missing.dev_only.first())
    {
        return Err(missing_dependency_error(app, registry, missing).await?);
    }
    // Last of the checks: for a new name it may ask an upstream. Existing crates
    // already hold their name, so they are not asked about again.
    let hidden = match &existing {
        None if registry.kind == RegistryKind::Local => {
            super::shadowing::check_new_name(app, registry, actor, &name).await?
        }
        _ => Vec::new(),
    };

    let blob_key = storage::crate_key(
        &registry.name,
        &name.lowercase(),
        &checked.entry.vers,
        &checked.checksum,
    );
    let size = tarball.len() as i64;
    app.storage.put(&blob_key, tarball).await?;

    let new_crate = match record(
        app,
        registry,
        Some(actor),
        &name,
        &num_no_build,
        &checked,
        &checked.entry.to_line(),
        &blob_key,
        size,
        published_at,
        &hidden,
    )
    .await?
    {
        Recorded::Done { new_crate } => new_crate,
        Recorded::VersionTaken => {
            // Another upload of this version committed first; answer as if it had been first all along.
            let krate = super::find_crate(app.db.read(), registry, name.as_str()).await?;
            let taken = db::versions::find_without_build(app.db.read(), krate.id, &num_no_build)
                .await?
                .ok_or_else(|| anyhow::anyhow!("version {name}@{num_no_build} vanished"))?;
            return already_there(&checked, &krate.name, &taken);
        }
    };
    tracing::info!(
        krate.name = %name,
        version.num = %checked.entry.vers,
        user.login = %actor.login,
        registry = %registry.name,
        "published `{name}@{}`",
        checked.entry.vers
    );
    app.stats.publishes.bump();
    let mut warnings = if hidden.is_empty() || !new_crate {
        Vec::new()
    } else {
        vec![super::shadowing::warning(&name, registry, &hidden)]
    };
    warnings.extend(super::crates_io_style::warnings(
        app,
        registry,
        &checked.manifest,
    ));
    Ok(Published {
        entry: checked.entry,
        new_crate,
        already_present: false,
        missing_dependencies: missing.needed,
        missing_dev_dependencies: missing.dev_only,
        warnings,
    })
}

/// Stores a `.crate` a proxy fetched from its upstream (already checked against
/// the upstream's checksum). It is unpacked and checked like any upload; the
/// version keeps `upstream_line`, the index line cargo already saw.
pub async fn store_upstream_crate(
    app: &App,
    registry: &Registry,
    name: &str,
    version: &str,
    upstream_line: &str,
    tarball: Bytes,
) -> AppResult<()> {
    let now = clock::now();
    let checked = {
        let tarball = tarball.clone();
        let source = Source::Upload {
            name: name.to_owned(),
            version: version.to_owned(),
        };
        let identity = registry.identity();
        let limits = Limits {
            max_crate_size: app.config.limits.max_upstream_crate_size,
            ..app.config.limits.clone()
        };
        tokio::task::spawn_blocking(move || check_crate(&tarball, source, identity, &limits, now))
            .await
            .map_err(|e| anyhow::anyhow!("the .crate check stopped unexpectedly: {e}"))??
    };
    let name = CrateName::new(&checked.entry.name).map_err(AppError::bad_request)?;
    let num_no_build = without_build(&parse_version(&checked.entry.vers)?);
    let blob_key = storage::crate_key(
        &registry.name,
        &name.lowercase(),
        &checked.entry.vers,
        &checked.checksum,
    );
    let size = tarball.len() as i64;
    app.storage.put(&blob_key, tarball).await?;
    // A version stored first by a concurrent fill is the same one: both match the upstream's checksum.
    record(
        app,
        registry,
        None,
        &name,
        &num_no_build,
        &checked,
        upstream_line,
        &blob_key,
        size,
        now,
        &[],
    )
    .await?;
    Ok(())
}

/// A dependency of `entry` on a private registry of this instance, and that registry's name.
fn private_dependency<'e>(app: &App, entry: &'e IndexEntry) -> Option<(&'e str, String)> {
    entry.deps.iter().find_map(|dep| {
        let registry = registry_served_at(app, dep.registry.as_deref()?)?;
        let name = dep.package.as_deref().unwrap_or(&dep.name);
        registry
            .auth_required
            .then(|| (name, registry.name.clone()))
    })
}

/// The registry of this instance whose index (sparse or git) is at `index_url`, as
/// a manifest names it: the public URL's host and port, or any loopback name for
/// a loopback public URL (cargo users write `localhost` for `127.0.0.1`).
pub(super) fn registry_served_at<'a>(
    app: &'a App,
    index_url: &str,
) -> Option<&'a std::sync::Arc<Registry>> {
    let url = index_url
        .strip_prefix("sparse+")
        .or_else(|| index_url.strip_prefix("registry+"))
        .unwrap_or(index_url);
    let url = url::Url::parse(url).ok()?;
    let public = app.config.public_url();
    let loopback = |url: &url::Url| match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let same_host = url.host() == public.host() || (loopback(&url) && loopback(&public));
    if !same_host || url.port_or_known_default() != public.port_or_known_default() {
        return None;
    }
    let rest = url.path().strip_prefix(public.path())?;
    let (name, served) = rest.strip_prefix("registries/")?.split_once('/')?;
    matches!(served.trim_end_matches('/'), "index" | "git").then_some(())?;
    app.find_registry(name)
}

/// The name and version a source states before its archive is opened.
fn claimed_name_and_version(source: &Source) -> Option<(&str, &str)> {
    match source {
        Source::Cargo(metadata) => Some((&metadata.name, &metadata.vers)),
        Source::Upload { name, version } => Some((name, version)),
        Source::Import => None,
    }
}

/// Answers an upload of a version that exists: `cargo publish` is refused (versions
/// are immutable); other sources succeed without change when the bytes are the same.
fn already_there(
    checked: &CheckedCrate,
    crate_name: &str,
    taken: &db::versions::VersionRow,
) -> AppResult<Published> {
    if checked.rules.refuse_existing {
        return Err(already_uploaded(crate_name, &taken.num));
    }
    if taken.checksum != checked.checksum {
        return Err(AppError::Conflict(format!(
            "`{crate_name}@{}` already exists with checksum {}; this .crate has checksum {}. \
             Published versions never change: publish a new version number",
            taken.num, taken.checksum, checked.checksum
        )));
    }
    let entry: IndexEntry = serde_json::from_str(&taken.index_line).map_err(|e| {
        anyhow::anyhow!(
            "stored index line of {crate_name}@{} is unreadable: {e}",
            taken.num
        )
    })?;
    Ok(Published {
        entry,
        new_crate: false,
        already_present: true,
        missing_dependencies: Vec::new(),
        missing_dev_dependencies: Vec::new(),
        warnings: Vec::new(),
    })
}

/// Parses a version, insisting on its canonical spelling (what the index and URLs will use).
fn parse_version(vers: &str) -> AppResult<semver::Version> {
    let version = semver::Version::parse(vers).map_err(|e| {
        AppError::BadRequest(format!("`{vers}` is not a valid semantic version: {e}"))
    })?;
    let canonical = version.to_string();
    if canonical != vers {
        return Err(AppError::BadRequest(format!(
            "the version `{vers}` must be written `{canonical}`"
        )));
    }
    if vers.len() > 150 {
        return Err(AppError::BadRequest(format!(
            "the version `{vers}` is longer than 150 characters"
        )));
    }
    Ok(version)
}

/// The version without build metadata: `1.0.0+x` and `1.0.0` are the same version to cargo.
fn without_build(version: &semver::Version) -> String {
    let mut plain = version.clone();
    plain.build = semver::BuildMetadata::EMPTY;
    plain.to_string()
}

fn already_uploaded(name: &str, existing: &str) -> AppError {
    AppError::BadRequest(format!(
        "crate version `{name}@{existing}` is already uploaded; versions are immutable, publish a new version number"
    ))
}

/// Checks that `actor` may publish `name`: a new crate needs the `publish-new`
/// scope, the `publish` role and a name no other owners' crate was deleted under in
/// the last day (`delete.rs`); an existing one needs `publish-update`,
/// ownership (or the registry's `admin` role), and the first-published spelling.
async fn check_may_publish<'c>(
    conn: impl Into<Conn<'c>>,
    actor: &Actor,
    registry: &Registry,
    name: &CrateName,
    existing: Option<&CrateRow>,
) -> AppResult<()> {
    let mut conn = conn.into();
    let Some(krate) = existing else {
        actor.require(Scope::PublishNew, &registry.name, Some(name.as_str()))?;
        access::require_role(&mut conn, registry, actor, Role::Publish).await?;
        super::delete::check_name_free(&mut conn, registry, actor, &name.canonical()).await?;
        return Ok(());
    };
    actor.require(Scope::PublishUpdate, &registry.name, Some(&krate.name))?;
    access::require_crate_access(&mut conn, registry, actor, krate, CrateAction::Maintain)
        .await
        .map_err(|err| match err {
            // `acme_core` for `acme-core`: say why a name nobody published is someone's.
            AppError::Forbidden(detail) if krate.name != name.as_str() => {
                AppError::Forbidden(format!(
                    "`{name}` is another spelling of `{}` (cargo takes `-` and `_` for the same), \
                     so publishing it is publishing `{}`: {detail}",
                    krate.name, krate.name
                ))
            }
            err => err,
        })?;
    if krate.name != name.as_str() {
        return Err(AppError::BadRequest(format!(
            "crate was previously named `{}`; publish it under exactly that name",
            krate.name
        )));
    }
    Ok(())
}

/// Why an archive was refused. An archive of another package or version than the
/// one it was sent as fails as entries outside the expected directory; that is
/// said as what it is, naming both.
fn refusal_of_archive(
    tarball: &[u8],
    prefix: &str,
    source: &Source,
    err: tarball::TarballError,
) -> AppError {
    let other = match (&err, tarball::top_directory(tarball)) {
        (tarball::TarballError::OutsidePrefix { .. }, Ok(top)) if top != prefix => top,
        _ => return AppError::bad_request(err),
    };
    AppError::BadRequest(match source {
        Source::Upload { .. } => format!(
            "the .crate file holds `{other}`, but the URL names `{prefix}.crate`; \
             put it at the URL ending in `{other}.crate`"
        ),
        Source::Cargo(_) | Source::Import => {
            format!("the .crate file holds `{other}`, but the publish metadata names `{prefix}`")
        }
    })
}

/// Unpacks and checks the `.crate`, derives its index line and checks what the
/// source claimed against it.
fn check_crate(
    tarball: &[u8],
    source: Source,
    mut identity: RegistryIdentity,
    limits: &Limits,
    published_at: i64,
) -> AppResult<CheckedCrate> {
    let prefix = match &source {
        Source::Cargo(metadata) => format!("{}-{}", metadata.name, metadata.vers),
        Source::Upload { name, version } => format!("{name}-{version}"),
        Source::Import => tarball::top_directory(tarball).map_err(AppError::bad_request)?,
    };
    let tarball_limits = TarballLimits {
        max_unpacked_size: limits.max_unpacked_size.max(limits.max_crate_size),
        max_entries: limits.max_tarball_entries,
        ..TarballLimits::default()
    };
    // `cargo publish` sends its README beside the archive; other sources keep theirs inside.
    let contents = match &source {
        Source::Cargo(_) => tarball::inspect(tarball, &prefix, &tarball_limits),
        Source::Upload { .. } | Source::Import => {
            tarball::inspect_with_readme(tarball, &prefix, &tarball_limits, MAX_README_SIZE)
        }
    }
    .map_err(|err| refusal_of_archive(tarball, &prefix, &source, err))?;
    let manifest_table = manifest::parse_toml(&contents.manifest)
        .map_err(|e| AppError::BadRequest(format!("Cargo.toml in the .crate file: {e}")))?;
    let manifest = Manifest::from_table(&manifest_table)
        .map_err(|e| AppError::BadRequest(format!("Cargo.toml in the .crate file: {e}")))?;
    let targets = targets::discover(&manifest_table, &contents.target_files);
    drop(manifest_table);
    let declared = format!("{}-{}", manifest.package.name, manifest.package.version);
    if let Source::Cargo(metadata) = &source {
        for url in metadata.own_registry_urls(&manifest) {
            identity.also_known_as(&url);
        }
    } else if declared != prefix {
        return Err(AppError::BadRequest(format!(
            "Cargo.toml describes `{}@{}`, but the .crate was given as `{prefix}`",
            manifest.package.name, manifest.package.version
        )));
    }

    let checksum = hex::encode(Sha256::digest(tarball));
    let pubtime = cargohold_protocol::index::format_pubtime(published_at);
    let entry = manifest
        .to_index_entry(&checksum, Some(pubtime), &identity)
        .map_err(|e| AppError::BadRequest(format!("Cargo.toml in the .crate file: {e}")))?;
    let entry_limits = EntryLimits {
        max_dependencies: limits.max_dependencies,
        max_features: limits.max_features,
        max_feature_values: limits.max_feature_values,
    };
    validate_entry(&entry, &entry_limits).map_err(AppError::bad_request)?;

    let (readme, rules): (Option<String>, Rules) = match source {
        Source::Cargo(metadata) => {
            metadata
                .check_agrees_with(&entry, &identity)
                .map_err(AppError::bad_request)?;
            let rules = Rules {
                refuse_existing: true,
                dependencies_must_exist: true,
            };
            (metadata.readme, rules)
        }
        Source::Upload { .. } | Source::Import => {
            let rules = Rules {
                refuse_existing: false,
                dependencies_must_exist: matches!(source, Source::Upload { .. }),
            };
            let readme = contents
                .readme
                .and_then(|bytes| String::from_utf8(bytes).ok());
            (readme, rules)
        }
    };
    Ok(CheckedCrate {
        entry,
        manifest,
        checksum,
        // Text columns cannot hold NUL; a README is shown, not parsed, so it is replaced.
        readme: readme.map(|text| text.replace('\0', "\u{fffd}")),
        path_in_vcs: contents.vcs_info.as_deref().and_then(path_in_vcs),
        targets,
        rules,
    })
}

/// The `path_in_vcs` of a `.cargo_vcs_info.json`, if it is a plain relative
/// path: it only ever becomes part of a link, so anything else is ignored.
fn path_in_vcs(vcs_info: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct VcsInfo {
        path_in_vcs: Option<String>,
    }
    let path = serde_json::from_str::<VcsInfo>(vcs_info)
        .ok()?
        .path_in_vcs?;
    // Empty parts also rule out an empty path and a leading or doubled `/`.
    let plain = path.len() <= 512
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !path.contains(['\\', '\0', '?', '#']);
    plain.then_some(path)
}

/// Dependencies on this registry that name no crate in it.
#[derive(Debug, Default)]
struct Missing {
    /// Normal and build dependencies: cargo could never resolve the version.
    needed: Vec<String>,
    /// Named only as dev-dependencies: only the crate's own tests need them.
    dev_only: Vec<String>,
}

async fn missing_dependencies(
    app: &App,
    registry: &Registry,
    entry: &IndexEntry,
) -> AppResult<Missing> {
    let mut missing = Missing::default();
    let mut checked: Vec<&str> = Vec::new();
    for dep in entry.deps.iter().filter(|d| d.registry.is_none()) {
        let name = dep.crate_name();
        if checked.contains(&name) || name == entry.name {
            continue;
        }
        checked.push(name);
        if db::crates::exists_exact(app.db.read(), registry.id, name).await? {
            continue;
        }
        let needed = entry.deps.iter().any(|d| {
            d.crate_name() == name && d.registry.is_none() && d.kind != DependencyKind::Dev
        });
        if needed {
            missing.needed.push(name.to_owned());
        } else {
            missing.dev_only.push(name.to_owned());
        }
    }
    Ok(missing)
}

async fn missing_dependency_error(
    app: &App,
    registry: &Registry,
    name: &str,
) -> AppResult<AppError> {
    let canonical = cargohold_protocol::name::canonical_name(name);
    let stand_ins = super::setup::crates_io_stand_ins(app, registry);
    let hint = match db::crates::find_by_canonical(app.db.read(), registry.id, &canonical).await? {
        Some(similar) => format!("; did you mean `{}`?", similar.name),
        // `cargo add serde --registry all`: a dependency on `all` is one on the
        // registry that keeps its publishes, which does not hold crates.io's crates.
        None if !stand_ins.is_empty() => {
            let names: Vec<String> = stand_ins.iter().map(|v| format!("`{}`", v.name)).collect();
            format!(
                "; `{}` keeps the crates published through {}, which serves crates.io's crates \
                 as crates.io dependencies: if `{name}` is one, write it without `registry` \
                 (`{name} = \"…\"`, `cargo add {name}` without `--registry`); otherwise \
                 publish `{name}` first",
                registry.name,
                names.join(" and ")
            )
        }
        None => format!("; publish `{name}` to `{}` first", registry.name),
    };
    Ok(AppError::BadRequest(format!(
        "no known crate named `{name}` in registry `{}`{hint}",
        registry.name
    )))
}

/// How recording a version ended.
enum Recorded {
    Done {
        new_crate: bool,
    },
    /// The version was inserted by someone else between the checks and the transaction.
    VersionTaken,
}

/// Records the version in one transaction: crate (and first owner) if new,
/// version, dependencies, crate metadata, index file, audit event (naming the
/// upstream crates a new name hides, when an administrator chose to).
#[allow(clippy::too_many_arguments)]
async fn record(
    app: &App,
    registry: &Registry,
    actor: Option<&Actor>,
    name: &CrateName,
    num_no_build: &str,
    checked: &CheckedCrate,
    index_line: &str,
    blob_key: &str,
    size: i64,
    now: i64,
    hidden: &[super::shadowing::Hidden],
) -> AppResult<Recorded> {
    let package = &checked.manifest.package;
    // Publishes and imports are acknowledged, so they wait for the disk. A proxy's
    // cache fill (no actor) can be fetched again, and its blob is already durable.
    let mut tx = match actor {
        Some(_) => app.db.begin().await?,
        None => app.db.begin_relaxed().await?,
    };

    let (crate_id, new_crate) =
        match db::crates::insert(&mut tx, registry.id, name.as_str(), &name.canonical(), now)
            .await?
        {
            Some(id) => {
                // Crates of proxies are the upstream's: nobody here owns them.
                if let Some(actor) = actor
                    && registry.kind == RegistryKind::Local
                {
                    db::owners::add(&mut tx, id, actor.user_id, Some(actor.user_id), now).await?;
                }
                (id, true)
            }
            None => {
                // Someone created the crate since the first check: check again, for real this time.
                let krate = db::crates::find_by_canonical(&mut tx, registry.id, &name.canonical())
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("crate `{name}` vanished during publish"))?;
                db::crates::lock(&mut tx, krate.id).await?;
                if let Some(actor) = actor {
                    check_may_publish(&mut tx, actor, registry, name, Some(&krate)).await?;
                }
                (krate.id, false)
            }
        };

    let json = |list: &[String]| serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
    let (keywords, categories, authors, bin_names) = (
        json(&package.keywords),
        json(&package.categories),
        json(&package.authors),
        json(&checked.targets.bins),
    );
    let inserted = db::versions::insert(
        &mut tx,
        &db::versions::NewVersion {
            crate_id,
            num: &checked.entry.vers,
            num_no_build,
            checksum: &checked.checksum,
            size,
            blob_key,
            index_line,
            links: package.links.as_deref(),
            rust_version: package.rust_version.as_deref(),
            edition: package.edition.as_deref(),
            description: package.description.as_deref(),
            license: package.license.as_deref(),
            license_file: package.license_file.as_deref(),
            homepage: package.homepage.as_deref(),
            documentation: package.documentation.as_deref(),
            repository: package.repository.as_deref(),
            readme: checked.readme.as_deref(),
            readme_file: package.readme.as_deref(),
            path_in_vcs: checked.path_in_vcs.as_deref(),
            has_lib: checked.targets.lib,
            bin_names: &bin_names,
            keywords: &keywords,
            categories: &categories,
            authors: &authors,
            published_by: actor.map(|a| a.user_id),
            published_at: now,
        },
    )
    .await;
    let version_id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
            return Ok(Recorded::VersionTaken);
        }
        Err(err) => return Err(err.into()),
    };
    db::versions::insert_dependencies(&mut tx, version_id, &checked.entry.deps).await?;
    let max_version =
        super::refresh_crate_state(&mut tx, registry.id, crate_id, &name.lowercase(), now).await?;
    // The crate's description, links and keywords are those of its newest version,
    // not of whatever was published last (a backport to 1.x after 2.0, say).
    if new_crate || max_version.as_deref() == Some(checked.entry.vers.as_str()) {
        db::crates::update_metadata(
            &mut tx,
            crate_id,
            name.as_str(),
            &CrateMetadata {
                description: package.description.as_deref(),
                homepage: package.homepage.as_deref(),
                documentation: package.documentation.as_deref(),
                repository: package.repository.as_deref(),
                keywords: &package.keywords.join(" "),
            },
        )
        .await?;
    }
    // A proxy filling its cache is not a change anyone made; imports and publishes are.
    let mut queued = super::webhooks::Queued::default();
    if let Some(actor) = actor {
        let event = AuditEvent {
            actor_user_id: Some(actor.user_id),
            actor_token_id: actor.token_id,
            client_addr: actor.client_addr.as_deref(),
            action: "publish",
            registry: Some(&registry.name),
            crate_name: Some(name.as_str()),
            version: Some(&checked.entry.vers),
            detail: Some({
                let mut detail = serde_json::json!({ "checksum": checked.checksum, "size": size });
                if new_crate && !hidden.is_empty() {
                    detail["hides_upstream"] = serde_json::json!(hidden);
                }
                detail.to_string()
            }),
        };
        db::audit::insert(&mut tx, &event, now).await?;
        queued =
            super::webhooks::enqueue(&mut tx, registry, Some(&actor.login), &event, now).await?;
    }
    tx.commit().await?;
    queued.wake();
    registry.index_changed(&name.lowercase());
    Ok(Recorded::Done { new_crate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_be_semver_in_canonical_form() {
        assert!(parse_version("1.0.0").is_ok());
        assert!(parse_version("1.0.0+build.5").is_ok());
        assert!(parse_version("1.0.0-alpha.1").is_ok());
        for bad in ["1.0", "v1.0.0", "01.0.0", "1.0.0 ", "", "1.0.0+"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn build_metadata_does_not_make_a_new_version() {
        let v = parse_version("1.0.0+build.5").unwrap();
        assert_eq!(without_build(&v), "1.0.0");
    }

    #[test]
    fn only_a_plain_relative_path_in_vcs_is_kept() {
        let info = |path: &str| format!(r#"{{"git":{{"sha1":"abc"}},"path_in_vcs":{path:?}}}"#);
        assert_eq!(
            path_in_vcs(&info("crates/foo")).as_deref(),
            Some("crates/foo")
        );
        for odd in [
            "",
            "/etc",
            "crates/../..",
            "./x",
            "a//b",
            "a\\b",
            "a?b",
            "a#b",
        ] {
            assert_eq!(path_in_vcs(&info(odd)), None, "{odd:?}");
        }
        assert_eq!(path_in_vcs(r#"{"git":{"sha1":"abc"}}"#), None);
        assert_eq!(path_in_vcs("not json"), None);
    }
}
