//! The command line: argument parsing and one small function per subcommand, each calling `ops`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use url::Url;

use crate::app::App;
use crate::config::{Config, LogFormat, Overrides, RegistryKind};
use crate::ops::{self, setup::FirstStart};

/// `println!` for a command's output. A reader that goes away early (`| head`)
/// ends the command quietly, as it ends any Unix tool, instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::cli::output_failed(err);
        }
    }};
}

/// `print!` for a command's output; see [`outln`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = write!(std::io::stdout(), $($arg)*) {
            $crate::cli::output_failed(err);
        }
    }};
}

mod admin;
mod advisory;

pub use admin::{
    AuditArgs, PermissionCommand, TeamCommand, TokenCommand, UserCommand, WebhookCommand,
};
pub use advisory::AdvisoryCommand;

/// A self-hosted Cargo registry: private crates, with the real `cargo` as client.
#[derive(Debug, Parser)]
#[command(name = "cargohold", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file [default: ./cargohold.toml when it exists]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,

    /// Directory of the embedded database and blobs [default: ./cargohold-data]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry server
    #[command(after_long_help = "\
Examples:
  cargohold serve
  cargohold serve --listen 0.0.0.0:8000 --public-url https://crates.example.com/
  cargohold --config /etc/cargohold/cargohold.toml serve")]
    Serve(ServeArgs),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage teams (groups of users that own crates and hold registry roles)
    #[command(subcommand)]
    Team(TeamCommand),
    /// Manage who may read, publish and administer each registry
    #[command(subcommand)]
    Permission(PermissionCommand),
    /// Show the audit log: who changed what, when, from where
    Audit(AuditArgs),
    /// List webhook deliveries and how they went; send one again
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// RustSec advisories on cached crates.io crates: import a database, report affected versions
    #[command(subcommand)]
    Advisory(AdvisoryCommand),
    /// Import .crate files (folders are walked); safe to run again and while `serve` runs
    #[command(after_long_help = "\
Examples:
  cargohold import ./old-registry/crates
  cargohold import --registry internal --owner alice my-crate-1.0.0.crate
  cargohold import --registry crates-io-cache ~/.cargo/registry/cache")]
    Import(ImportArgs),
    /// Fetch every crate a Cargo.lock names into a proxy, ahead of time (for offline builds)
    #[command(after_long_help = "\
Examples:
  cargohold mirror --registry crates-io-cache --lockfile Cargo.lock
  cargohold mirror --registry all --lockfile ../app/Cargo.lock")]
    Mirror(MirrorArgs),
    /// Evict cached crates from a proxy by age and size (never what a local crate needs)
    #[command(after_long_help = "\
Examples:
  cargohold evict --registry crates-io-cache --dry-run
  cargohold evict --registry crates-io-cache --max-size 50000000000 --max-age-days 90")]
    Evict(EvictArgs),
    /// Delete a crate, or one version of it, from a local registry (as the operator: no owner rules)
    #[command(after_long_help = "\
Deleting removes the versions from the index and from downloads at once; projects whose
Cargo.lock names them stop building. Yanking (`cargo yank`) is what keeps them building.
The .crate files stay until `cargohold gc` removes them. A deleted crate's name stays its
former owners' for 24 hours. Asks for the crate name on a terminal; elsewhere, pass --yes.

Examples:
  cargohold delete --registry main leaked-secrets --reason 'published by mistake'
  cargohold delete --registry main my-crate@0.3.1 --yes")]
    Delete(DeleteArgs),
    /// Rebuild derived data (index files, highest versions, search text) from the database
    #[command(after_long_help = "\
Examples:
  cargohold reindex
  cargohold reindex --registry internal --squash-git")]
    Reindex(ReindexArgs),
    /// Verify blobs, index files and highest versions against the database (exit status 1 on any difference)
    #[command(after_long_help = "\
Examples:
  cargohold check
  cargohold check --registry main --repair")]
    Check(CheckArgs),
    /// Remove blobs no version refers to, once older than a grace period
    #[command(after_long_help = "\
Examples:
  cargohold gc --dry-run
  cargohold gc --grace-hours 48")]
    Gc(GcArgs),
    /// Write a consistent backup of the embedded database and its blobs to a new directory (safe while `serve` runs)
    #[command(after_long_help = "\
Examples:
  cargohold backup /backups/cargohold-2026-11-01
  cargohold --data-dir /srv/cargohold backup /mnt/backups/today")]
    Backup(BackupArgs),
    /// Put a backup made by `backup` into an empty data directory
    #[command(after_long_help = "\
Examples:
  cargohold restore /backups/cargohold-2026-11-01
  cargohold restore --data-dir /srv/cargohold /mnt/backups/today   # then: cargohold check")]
    Restore(RestoreArgs),
    /// Inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// Options of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// New (or empty) directory for the backup; it becomes a data directory of its own
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Options of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory written by `cargohold backup`
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Options of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Registry to import into [default: `main`, or the only local registry when there is no `main`]
    #[arg(long, value_name = "R")]
    pub registry: Option<String>,
    /// User who becomes the owner of new crates (and must own existing ones)
    #[arg(long, value_name = "LOGIN", default_value = ops::setup::FIRST_ADMIN)]
    pub owner: String,
    /// Import new crates into a local registry even when a proxy behind the same virtual
    /// registry serves a crate of that name upstream, hiding that crate there (as an
    /// administrator's publish may); without it such files are skipped and reported
    #[arg(long)]
    pub hide_upstream: bool,
    /// .crate files, and folders to search for them
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Options of `mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Proxy or virtual registry to fill
    #[arg(long, value_name = "R")]
    pub registry: String,
    /// The Cargo.lock whose crates.io packages are fetched
    #[arg(long, value_name = "FILE")]
    pub lockfile: PathBuf,
}

/// Options of `evict`.
#[derive(Debug, Args)]
pub struct EvictArgs {
    /// Proxy registry to trim
    #[arg(long, value_name = "R")]
    pub registry: String,
    /// Keep the cache under this many bytes [default: the registry's cache-max-size]
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<u64>,
    /// Evict what was not used for this many days [default: the registry's cache-max-age-days]
    #[arg(long, value_name = "DAYS")]
    pub max_age_days: Option<u64>,
    /// Only print what would be evicted
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Local registry holding the crate
    #[arg(long, value_name = "R")]
    pub registry: String,
    /// The crate, or one version of it as NAME@VERSION
    #[arg(value_name = "NAME[@VERSION]")]
    pub target: String,
    /// Why, for the audit log
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Do not ask for confirmation (needed without a terminal)
    #[arg(long)]
    pub yes: bool,
}

/// Options of `reindex`.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Only this registry [default: every registry that holds crates]
    #[arg(long, value_name = "R")]
    pub registry: Option<String>,
    /// Start each git index over with one commit holding the whole index (a forced update for clients)
    #[arg(long)]
    pub squash_git: bool,
}

/// Options of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this registry [default: every registry that holds crates]
    #[arg(long, value_name = "R")]
    pub registry: Option<String>,
    /// Rebuild what the database can rebuild (index files, highest versions, git indexes); missing or damaged blobs stay reported
    #[arg(long)]
    pub repair: bool,
}

/// Options of `gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Keep unreferenced blobs written less than this many hours ago (a publish in progress writes its blob first)
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub grace_hours: u64,
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8000]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// URL clients reach this server at, if not http://LISTEN/ (e.g. behind a proxy)
    #[arg(long, value_name = "URL")]
    pub public_url: Option<Url>,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted
    #[command(after_long_help = "\
Examples:
  cargohold config show
  cargohold --config /etc/cargohold/cargohold.toml config show")]
    Show,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = Overrides {
        data_dir: cli.data_dir,
        ..Overrides::default()
    };
    if let Command::Serve(args) = &cli.command {
        overrides.listen = args.listen;
        overrides.public_url = args.public_url.clone();
    }
    let config = Config::load(cli.config.as_deref(), overrides)?;
    let variables = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for (name, meant) in crate::config::mistyped_env_vars(variables) {
        eprintln!(
            "warning: {name} is no setting of cargohold and is ignored; did you mean {meant}?"
        );
    }
    let quiet = !matches!(cli.command, Command::Serve(_));
    init_logging(config.log_format, quiet);

    if !makes_a_registry(&cli.command) {
        require_existing_data(&config)?;
    }
    match cli.command {
        Command::Serve(_) => serve(config).await,
        Command::User(command) => admin::user(App::build(config).await?, command).await,
        Command::Token(command) => admin::token(App::build(config).await?, command).await,
        Command::Team(command) => admin::team(App::build(config).await?, command).await,
        Command::Permission(command) => admin::permission(App::build(config).await?, command).await,
        Command::Audit(args) => admin::audit(App::build(config).await?, args).await,
        Command::Webhook(command) => admin::webhook(App::build(config).await?, command).await,
        Command::Advisory(command) => advisory::advisory(App::build(config).await?, command).await,
        Command::Import(args) => import(config, args).await,
        Command::Mirror(args) => mirror(config, args).await,
        Command::Evict(args) => evict(config, args).await,
        Command::Delete(args) => delete(config, args).await,
        Command::Reindex(args) => reindex(config, args).await,
        Command::Check(args) => check(config, args).await,
        Command::Gc(args) => gc(config, args).await,
        Command::Backup(args) => backup(config, args).await,
        Command::Restore(args) => restore(config, args).await,
        Command::Config(ConfigCommand::Show) => {
            for warning in public_members_of_private_registries(&config) {
                eprintln!("warning: {warning}");
            }
            out!("{}", config.to_redacted_toml()?);
            Ok(())
        }
    }
}

/// Whether `command` may start a registry in an empty data directory: the
/// others only read or change one that exists.
fn makes_a_registry(command: &Command) -> bool {
    matches!(
        command,
        Command::Serve(_)
            | Command::Import(_)
            | Command::Mirror(_)
            | Command::Restore(_)
            | Command::Config(_)
            | Command::User(UserCommand::Add { .. })
    )
}

/// Refuses to go on when the embedded database does not exist yet, which is a
/// mistyped `--data-dir` far more often than a wish for an empty registry.
fn require_existing_data(config: &Config) -> anyhow::Result<()> {
    let database = config.data_dir.join("cargohold.db");
    if config.database_url.is_none() && !database.exists() {
        anyhow::bail!(
            "there is no cargohold data in {} ({} does not exist): pass the --data-dir a server uses \
             (or set CARGOHOLD_DATA_DIR), or start one there with `cargohold serve`",
            config.data_dir.display(),
            database.display()
        );
    }
    Ok(())
}

/// A warning for each private virtual registry with public members: the virtual
/// registry asks for a token, but each public member answers anyone at its own URL.
fn public_members_of_private_registries(config: &Config) -> Vec<String> {
    let by_name = |name: &String| config.registries.iter().find(|r| &r.name == name);
    config
        .registries
        .iter()
        .filter(|r| r.kind == RegistryKind::Virtual && r.auth_required)
        .filter_map(|registry| {
            let public: Vec<_> = registry
                .members
                .iter()
                .filter_map(by_name)
                .filter(|member| !member.auth_required)
                .collect();
            if public.is_empty() {
                return None;
            }
            let names: Vec<String> = public.iter().map(|m| format!("`{}`", m.name)).collect();
            let names = names.join(" and ");
            let (is, them) = if public.len() == 1 {
                ("is", "it")
            } else {
                ("are", "them")
            };
            let urls: Vec<String> = public
                .iter()
                .map(|m| match m.kind {
                    RegistryKind::Proxy => format!(
                        "/registries/{0}/ (index and downloads) and /api/v1/registries/{0}/cache \
                         (which crates are cached)",
                        m.name
                    ),
                    _ => format!("/registries/{}/ (index and downloads)", m.name),
                })
                .collect();
            Some(format!(
                "the registry `{}` is private (auth-required = true) but its member{} {names} {is} not: \
                 anyone who reaches this server reads {them} without a token at {}; if that matters, add \
                 auth-required = true to {names}",
                registry.name,
                if public.len() == 1 { "" } else { "s" },
                urls.join(", ")
            ))
        })
        .collect()
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let listeners =
        crate::Listeners::bind(config.listen, config.connection_threads).with_context(|| {
            format!(
                "could not listen on {}; is another server using it? pick one with --listen",
                config.listen
            )
        })?;
    // With port 0 the system picks the port; URLs must carry the real one.
    config.listen = listeners.local_addr();
    // A bucket is checked before the database is opened, so a server refused for it
    // leaves nothing behind; a directory is created by opening it, so it is checked after.
    let in_bucket = config.storage_url().starts_with("s3://");
    if in_bucket {
        crate::storage::BlobStore::open(&config)?
            .probe()
            .await
            .context("cargohold cannot start without its blob store")?;
    }
    let app = Arc::new(App::build(config).await?);
    if !in_bucket {
        app.storage
            .probe()
            .await
            .context("cargohold cannot start without its blob store")?;
    }
    if let Some(first) = ops::setup::first_start(&app).await? {
        print_first_start(&app, &first);
    }
    let public = app.config.public_url();
    if app.config.public_url.is_none() && app.config.listen.ip().is_unspecified() {
        eprintln!(
            "warning: cargohold listens on every interface ({}) but sends cargo to {public}, which other \
             machines cannot reach; set public-url (--public-url, CARGOHOLD_PUBLIC_URL) to the URL they use",
            app.config.listen
        );
    }
    for warning in public_members_of_private_registries(&app.config) {
        eprintln!("warning: {warning}");
    }
    if matches!(app.db.read(), crate::db::Pool::Postgres(_)) && app.storage.is_local() {
        // PostgreSQL is how several nodes share one registry; blobs in a directory
        // only this node sees would make the others answer 404 for its uploads.
        eprintln!(
            "warning: the database is PostgreSQL but .crate files are kept in the local directory {}: \
             if several nodes serve this registry, every node must share that directory (e.g. over NFS) \
             or use storage-url = \"s3://bucket/prefix\"; otherwise downloads of crates published on one \
             node fail on the others",
            app.storage.description()
        );
    }
    // Caught before the line below, which tells scripts and orchestrators the
    // server is up and may be stopped.
    let signals =
        crate::server::StopSignals::catch().context("could not listen for SIGTERM and Ctrl-C")?;
    // The address first (what a health check or a test connects to), then the
    // URL cargo and the pages are given when a proxy or another name stands in front.
    let listening = format!("http://{}/", app.config.listen);
    let public_note = if public.as_str() == listening {
        String::new()
    } else {
        format!("public URL {public}; ")
    };
    outln!(
        "cargohold is listening on {listening} ({public_note}database: {}, storage: {})",
        crate::config::redact_url(&app.config.database_url()),
        app.storage.description()
    );
    tracing::info!(listen = %app.config.listen, public_url = %public, "serving");
    let shutdown = crate::server::shutdown_signal(app.clone(), signals);
    crate::server::serve(listeners, app, shutdown).await
}

/// The registry `import` fills when no `--registry` is given: `main`, or else the
/// only local registry; with several and no `main`, the choice is the operator's.
fn default_import_registry(app: &App) -> anyhow::Result<String> {
    if app.find_registry("main").is_some() {
        return Ok("main".into());
    }
    let mut locals: Vec<&str> = app
        .registries()
        .filter(|r| r.kind == RegistryKind::Local)
        .map(|r| r.name.as_str())
        .collect();
    locals.sort_unstable();
    match locals.as_slice() {
        [only] => Ok((*only).to_owned()),
        [] => anyhow::bail!(
            "this server has no local registry to import into; name a proxy with --registry \
             to fill its cache"
        ),
        several => anyhow::bail!(
            "this server has several local registries ({}) and none is named `main`: choose \
             one with --registry",
            several.join(", ")
        ),
    }
}

async fn import(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let target = match args.registry {
        Some(name) => name,
        None => default_import_registry(&app)?,
    };
    // A proxy takes imports (to fill its cache offline); a virtual registry over
    // local registries only passes them to its publish-to member.
    let named = app.registry_for_operator(&target)?;
    if let Some(members) = &named.members
        && let Some(cache) = members.proxies.first()
    {
        let local = members
            .publish_to
            .as_ref()
            .or(members.locals.first())
            .map_or("a local registry", |r| r.name.as_str());
        anyhow::bail!(
            "`{}` is a virtual registry that serves `{}`'s crates too, so it cannot tell your own crates \
             from theirs: import your own with `--registry {local}`, and crates from `{}` (such as a \
             ~/.cargo/registry/cache folder) with `--registry {}`. Imported into `{local}`, a crate of \
             theirs would hide its other versions behind this URL",
            named.name,
            cache.name,
            cache.name,
            cache.name,
        );
    }
    let registry = match &named.proxy {
        Some(_) => named.clone(),
        None => app.write_registry(&target)?.clone(),
    };
    let owner = crate::db::users::find_by_login(app.db.read(), &args.owner)
        .await?
        .with_context(|| {
            format!(
                "there is no user `{}` to own the imported crates; create it with `cargohold user add {}{}` or choose one with --owner",
                args.owner,
                args.owner,
                if args.owner == ops::setup::FIRST_ADMIN { " --admin" } else { "" }
            )
        })?;
    let actor = crate::auth::Actor::operator(owner.id, &owner.login, owner.is_admin);
    let files = ops::import::find_crate_files(&args.paths)?;
    let started = std::time::Instant::now();
    let bar = progress_bar(files.len() as u64);
    let total = files.len();
    let upstream_names = if args.hide_upstream {
        ops::import::UpstreamNames::Hide
    } else {
        ops::import::UpstreamNames::Skip
    };
    let report = ops::import::import_with(
        &app,
        &registry,
        &actor,
        files,
        upstream_names,
        |_, outcome| {
            bar.inc(1);
            if let ops::import::Outcome::Imported { crate_version, .. }
            | ops::import::Outcome::AlreadyPresent { crate_version } = outcome
            {
                bar.set_message(crate_version.clone());
            }
        },
    )
    .await;
    bar.finish_and_clear();
    print_import_report(&registry.name, total, &report, started.elapsed());
    if report.rejected.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of {total} files were rejected; see the reasons above",
            report.rejected.len()
        )
    }
}

async fn mirror(config: Config, args: MirrorArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.lockfile)
        .with_context(|| format!("could not read {}", args.lockfile.display()))?;
    let packages = cargohold_protocol::upstream::registry_packages(&text).with_context(|| {
        format!(
            "{} is not a Cargo.lock cargo could read",
            args.lockfile.display()
        )
    })?;
    let app = App::build(config).await?;
    let registry = app.registry_for_operator(&args.registry)?.clone();
    let started = std::time::Instant::now();
    let total = packages.len();
    let bar = progress_bar(total as u64);
    let report = ops::mirror::mirror(&app, &registry, packages, |package, _| {
        bar.inc(1);
        bar.set_message(format!("{}@{}", package.name, package.version));
    })
    .await?;
    bar.finish_and_clear();
    outln!(
        "{total} packages for `{}` in {:.1} s: {} fetched, {} already cached, {} served by local members, {} from other sources skipped, {} failed",
        registry.name,
        started.elapsed().as_secs_f64(),
        report.fetched.len(),
        report.already_cached.len(),
        report.local.len(),
        report.skipped.len(),
        report.failed.len()
    );
    for (package, reason) in &report.failed {
        outln!("  failed {package}: {reason}");
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of {total} packages could not be mirrored; see the reasons above",
            report.failed.len()
        )
    }
}

async fn evict(config: Config, args: EvictArgs) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let registry = app.registry_for_operator(&args.registry)?.clone();
    let configured = registry
        .proxy
        .as_ref()
        .map(|p| p.eviction)
        .with_context(|| {
            format!(
                "`{}` is not a proxy registry; only caches are evicted",
                registry.name
            )
        })?;
    let limits = ops::evict::Limits {
        max_size: args.max_size.unwrap_or(configured.max_size),
        max_age_secs: args
            .max_age_days
            .map_or(configured.max_age_secs, |days| (days * 86_400) as i64),
    };
    if limits.max_size == 0 && limits.max_age_secs == 0 {
        anyhow::bail!(
            "no limit to evict by: set cache-max-size or cache-max-age-days for `{}`, or pass --max-size / --max-age-days",
            registry.name
        );
    }
    let evicted = ops::evict::evict(&app, &registry, limits, args.dry_run).await?;
    for version in &evicted.versions {
        outln!(
            "{} {version}",
            if args.dry_run {
                "would evict"
            } else {
                "evicted"
            }
        );
    }
    outln!(
        "{} {} versions ({} bytes) from `{}`; {} kept because local crates need them; {} versions ({} bytes) stay",
        if args.dry_run {
            "would evict"
        } else {
            "evicted"
        },
        evicted.versions.len(),
        evicted.bytes,
        registry.name,
        evicted.protected,
        evicted.remaining_versions,
        evicted.remaining_bytes
    );
    Ok(())
}

async fn delete(config: Config, args: DeleteArgs) -> anyhow::Result<()> {
    let (name, version) = match args.target.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (args.target.as_str(), None),
    };
    if name.is_empty() || version == Some("") {
        anyhow::bail!(
            "`{}` names no crate; give NAME or NAME@VERSION",
            args.target
        );
    }
    if !args.yes {
        let what = match version {
            Some(version) => format!("version {version} of crate `{name}`"),
            None => format!("crate `{name}` and every version of it"),
        };
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "not deleting {what} without confirmation: there is no terminal to ask on; pass --yes"
            );
        }
        eprint!(
            "This deletes {what} from registry `{}`: projects whose Cargo.lock names it stop \
             building (yanking would keep them building). Type the crate name to go on: ",
            args.registry
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != name {
            anyhow::bail!("not deleted: `{}` is not `{name}`", answer.trim());
        }
    }
    let app = App::build(config).await?;
    let registry = app.registry_for_operator(&args.registry)?.clone();
    let deleted =
        ops::delete::delete(&app, &registry, None, name, version, args.reason.as_deref()).await?;
    outln!("{deleted}");
    outln!(
        "running servers stop serving it within `index-poll-millis`; its .crate \
         {} in the blob store until `cargohold gc` removes {}",
        if deleted.versions.len() == 1 {
            "file stays"
        } else {
            "files stay"
        },
        if deleted.versions.len() == 1 {
            "it"
        } else {
            "them"
        }
    );
    Ok(())
}

async fn reindex(config: Config, args: ReindexArgs) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let registry = match &args.registry {
        Some(name) => Some(app.registry_for_operator(name)?.clone()),
        None => None,
    };
    let bar = progress_bar(0);
    let options = ops::reindex::Options {
        squash_git: args.squash_git,
    };
    let done = ops::reindex::rebuild(&app, registry.as_deref(), None, options, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    outln!(
        "rebuilt the derived data of {} crate{}; {} needed a correction",
        done.crates,
        if done.crates == 1 { "" } else { "s" },
        done.corrected
    );
    let git_indexes = app
        .registries()
        .filter(|r| r.git.is_some() && registry.as_ref().is_none_or(|only| only.id == r.id))
        .count();
    if git_indexes > 0 {
        outln!(
            "git indexes: {git_indexes} rebuilt, {} with a new commit{}",
            done.git_rewritten,
            if args.squash_git {
                " (history squashed)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

async fn check(config: Config, args: CheckArgs) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let registry = match &args.registry {
        Some(name) => Some(app.registry_for_operator(name)?.clone()),
        None => None,
    };
    let bar = progress_bar(0);
    let report = ops::check::check(&app, registry.as_deref(), args.repair, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    // Crates of a registry the configuration does not name (a restore without the
    // backup's configuration) were not looked at: a clean report must not hide that.
    let mut unchecked = Vec::new();
    if registry.is_none() {
        for (name, crates) in crate::db::registries::crate_counts(app.db.read()).await? {
            if crates > 0 && app.find_registry(&name).is_none() {
                unchecked.push(format!(
                    "`{name}` ({crates} crate{})",
                    if crates == 1 { "" } else { "s" }
                ));
            }
        }
    }
    for problem in &report.problems {
        match (problem.remedy(), report.repair_failure(problem)) {
            _ if report.is_repaired(problem) => outln!("repaired: {problem}"),
            (_, Some(reason)) => outln!("{problem} (the repair failed: {reason})"),
            (Some(remedy), None) if args.repair => {
                outln!("{problem} (cannot be repaired: {remedy})")
            }
            _ => outln!("{problem}"),
        }
    }
    let remaining = report.remaining().count();
    outln!(
        "checked {} crate{} and {} version{}: {} problem{}{}{}",
        report.crates,
        if report.crates == 1 { "" } else { "s" },
        report.versions,
        if report.versions == 1 { "" } else { "s" },
        report.problems.len(),
        if report.problems.len() == 1 { "" } else { "s" },
        if report.repaired {
            format!(", {} repaired", report.problems.len() - remaining)
        } else {
            String::new()
        },
        if unchecked.is_empty() {
            String::new()
        } else {
            format!(
                "; not checked: {}, which the configuration does not name",
                unchecked.join(", ")
            )
        }
    );
    let mut failures = Vec::new();
    if remaining > 0 {
        let hint = if !args.repair && report.problems.iter().any(|p| p.repairable()) {
            "; `cargohold check --repair` rebuilds index files, highest versions and git indexes"
        } else {
            ""
        };
        failures.push(format!(
            "{remaining} problem{} remain{}{hint}",
            if remaining == 1 { "" } else { "s" },
            if remaining == 1 { "s" } else { "" }
        ));
    }
    if !unchecked.is_empty() {
        failures.push(format!(
            "{} not checked, as the configuration does not name {}: pass --config with the file that \
             does (after a restore, the cargohold.toml of the backup)",
            unchecked.join(", "),
            if unchecked.len() == 1 { "it" } else { "them" }
        ));
    }
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("; "));
    }
    Ok(())
}

async fn gc(config: Config, args: GcArgs) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let grace_secs = i64::try_from(args.grace_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    let collected = ops::gc::collect(&app, grace_secs, args.dry_run).await?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for blob in &collected.removed {
        outln!("{verb} {} ({} bytes)", blob.key, blob.size);
    }
    outln!(
        "{verb} {} unreferenced blob{} ({} bytes); kept {} younger than {} hour{} and {} in use",
        collected.removed.len(),
        if collected.removed.len() == 1 {
            ""
        } else {
            "s"
        },
        collected.removed_bytes,
        collected.young,
        args.grace_hours,
        if args.grace_hours == 1 { "" } else { "s" },
        collected.referenced
    );
    Ok(())
}

async fn backup(config: Config, args: BackupArgs) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let started = std::time::Instant::now();
    let bar = progress_bar(0);
    let copied = ops::backup::backup(&app, &args.dir, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    outln!(
        "backed up the database and {} blob{} ({} bytes) to {} in {:.1} s",
        copied.blobs,
        if copied.blobs == 1 { "" } else { "s" },
        copied.bytes,
        args.dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn restore(config: Config, args: RestoreArgs) -> anyhow::Result<()> {
    let bar = progress_bar(0);
    let copied = ops::backup::restore(&config, &args.dir, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    outln!(
        "restored the database and {} blob{} ({} bytes) from {}; `cargohold check` verifies them",
        copied.blobs,
        if copied.blobs == 1 { "" } else { "s" },
        copied.bytes,
        args.dir.display()
    );
    let saved = args.dir.join(ops::backup::CONFIG_FILE);
    if saved.is_file() {
        outln!(
            "the registries and settings it was made with are in {} (secrets redacted): serve with \
             `--config {}`, or copy what differs into your configuration; git indexes are rebuilt by \
             `serve` or `check --repair`",
            saved.display(),
            saved.display()
        );
    }
    Ok(())
}

/// The progress bar of long commands (import, mirror, reindex, check, backup, restore): position, rate, current item.
fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} crates, {rate} {wide_msg}",
        )
        .expect("a valid progress template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        ),
    );
    bar
}

fn print_import_report(
    registry: &str,
    total: usize,
    report: &ops::import::Report,
    elapsed: std::time::Duration,
) {
    let seconds = elapsed.as_secs_f64();
    outln!(
        "{total} files into `{registry}` in {seconds:.1} s ({:.0} crates/s): {} imported, {} already present, {} rejected",
        total as f64 / seconds.max(0.001),
        report.imported.len(),
        report.already_present.len(),
        report.rejected.len()
    );
    for (path, reason) in &report.rejected {
        outln!("rejected {}: {reason}", path.display());
    }
    if !report.missing_dependencies.is_empty() {
        outln!(
            "note: {} crates needed as dependencies are not in `{registry}`; the versions needing them resolve once they are imported:",
            report.missing_dependencies.len()
        );
        for (dep, needed_by) in report.missing_dependencies.iter().take(20) {
            outln!("  {dep} (needed by {})", needed_by.join(", "));
        }
        if report.missing_dependencies.len() > 20 {
            outln!("  … and {} more", report.missing_dependencies.len() - 20);
        }
    }
    if !report.missing_dev_dependencies.is_empty() {
        outln!(
            "note: {} more crates are named only as dev-dependencies and are not in `{registry}`; nothing needs them to build",
            report.missing_dev_dependencies.len()
        );
    }
}

fn print_first_start(app: &App, first: &FirstStart) {
    // Lead with what users should point cargo at.
    let registry = app
        .registries()
        .min_by_key(|r| ops::setup::recommendation_order(r))
        .expect("there is always at least one registry");
    outln!(
        "\nFirst start: created the administrator `{}`. Its API token is shown only now:\n\n    {}\n",
        first.login,
        first.token
    );
    outln!(
        "{}",
        first_start_lines(registry, &app.config.public_url(), &first.login)
    );
}

/// The first-start banner's lines for `registry`: what to add to
/// `.cargo/config.toml` and how to store the token, as its setup page shows them.
fn first_start_lines(registry: &crate::app::Registry, public_url: &Url, login: &str) -> String {
    let name = &registry.name;
    let config = ops::setup::cargo_config(registry);
    let what = match (&registry.members, &registry.proxy) {
        (Some(members), _) => {
            let served: Vec<String> = members
                .locals
                .iter()
                .chain(&members.proxies)
                .map(|m| format!("`{}`", m.name))
                .collect();
            let publishes = members
                .publish_to
                .as_ref()
                .map(|to| format!(", and publish to `{}` through it", to.name))
                .unwrap_or_default();
            format!(
                "To get every crate through `{name}`, one URL over {}{publishes}",
                served.join(", ")
            )
        }
        (None, Some(_)) => format!("To fetch crates.io crates through `{name}`"),
        (None, None) => format!("To publish to `{name}`"),
    };
    let mut lines = format!(
        "{what}, add this to .cargo/config.toml:\n\n{}",
        config.registry
    );
    if let Some(replace) = &config.replace_crates_io {
        lines.push_str(&format!("\n{replace}"));
    }
    if let Some(login_command) = &config.login_command {
        lines.push_str(&format!(
            "\nthen store the token with:\n\n    {login_command}\n"
        ));
    }
    lines.push_str(&format!(
        "\nThe web pages at {public_url} show the same for every registry (sign in as `{login}` after \
         `cargohold user password {login} --password-stdin`).\n"
    ));
    lines
}

fn init_logging(format: LogFormat, quiet: bool) {
    // PostgreSQL's notices (a migration's "already exists, skipping") are not news.
    let default = if quiet {
        "warn"
    } else {
        "info,sqlx::postgres::notice=warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Ends the process when standard output cannot be written: quietly when its
/// reader has gone (a closed pipe), with the reason otherwise.
fn output_failed(err: std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: could not write the output: {err}");
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every subcommand, with its path (`cargohold permission grant`).
    fn commands(command: &clap::Command, path: &str, all: &mut Vec<(String, clap::Command)>) {
        let path = format!("{path} {}", command.get_name()).trim().to_owned();
        for sub in command.get_subcommands() {
            commands(sub, &path, all);
        }
        all.push((path, command.clone()));
    }

    #[test]
    fn every_argument_of_every_command_says_what_it_is() {
        Cli::command().debug_assert();
        let mut all = Vec::new();
        commands(&Cli::command(), "", &mut all);
        for (path, command) in &all {
            assert!(command.get_about().is_some(), "`{path}` has no description");
            for arg in command.get_arguments() {
                let generated = matches!(arg.get_id().as_str(), "help" | "version");
                assert!(
                    generated || arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "`{path}`: the argument `{}` has no description",
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn the_main_commands_show_examples_in_their_long_help() {
        let mut all = Vec::new();
        commands(&Cli::command(), "", &mut all);
        for wanted in [
            "cargohold serve",
            "cargohold import",
            "cargohold mirror",
            "cargohold user add",
            "cargohold token create",
            "cargohold permission grant",
            "cargohold audit",
            "cargohold backup",
            "cargohold restore",
        ] {
            let (_, command) = all
                .iter()
                .find(|(path, _)| path == wanted)
                .unwrap_or_else(|| panic!("no command `{wanted}`"));
            let examples = command
                .get_after_long_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(
                examples.starts_with("Examples:") && examples.contains(wanted),
                "`{wanted}`: {examples:?}"
            );
        }
    }
}
