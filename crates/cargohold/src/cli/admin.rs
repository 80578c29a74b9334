//! Administration from the command line: users, tokens, teams, permissions, the audit log.
//!
//! Everything here runs as the operator (who has the data directory, and so every
//! power), through the same `ops` functions the admin API calls.

use std::io::BufRead;

use anyhow::Context;
use cargohold_protocol::index::format_pubtime;
use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};

use crate::access::Role;
use crate::app::App;
use crate::auth::Scope;
use crate::clock;
use crate::db::audit::AuditFilter;
use crate::ops::permissions::Grantee;
use crate::ops::tokens::TokenRequest;
use crate::ops::users::{NewUser, UserChange};
use crate::ops::{self};

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user
    Add {
        /// Login of the new user
        name: String,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
        /// Read a password (for the web login) from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password for the web pages, read from the first line of standard input
    Password {
        /// Login of the user
        name: String,
        /// Read the password from standard input (the only way: it never goes on the command line)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users
    List,
    /// Disable a user: every token of it stops working at once
    Disable { name: String },
    /// Enable a disabled user again
    Enable { name: String },
    /// Make a user an administrator (`--revoke` to take it back)
    Admin {
        name: String,
        /// Take the administrator role away instead
        #[arg(long)]
        revoke: bool,
    },
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it (only it) on standard output
    Create {
        /// Login of the user the token acts for
        user: String,
        /// A label to recognise the token by
        #[arg(long, value_name = "LABEL")]
        name: Option<String>,
        /// Scopes, comma-separated: read, publish-new, publish-update, yank, change-owners, admin
        /// [default: all but admin]
        #[arg(long = "scope", value_name = "S,...", value_delimiter = ',')]
        scopes: Vec<String>,
        /// Limit the token to crates named PATTERN (`foo`, or `foo-*` for a prefix); repeatable
        #[arg(long = "crate", value_name = "PATTERN")]
        crates: Vec<String>,
        /// Limit the token to registry R; repeatable
        #[arg(long = "registry", value_name = "R")]
        registries: Vec<String>,
        /// Make the token expire after DAYS days (1 to 3650)
        #[arg(long, value_name = "DAYS")]
        expires_in: Option<u32>,
    },
    /// List tokens (never their secrets): one user's, or everyone's
    List {
        /// Only this user's tokens
        user: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `token list`)
    Revoke { id: i64 },
}

/// `team` subcommands.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team; give it crates with `cargo owner --add team:NAME`
    Create { name: String },
    /// List teams and their members
    List,
    /// Add users to a team
    AddMember {
        team: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Remove users from a team
    RemoveMember {
        team: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

/// Who a permission is for.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct GranteeArgs {
    /// A user's login
    #[arg(long)]
    user: Option<String>,
    /// A team's name
    #[arg(long)]
    team: Option<String>,
}

impl GranteeArgs {
    fn grantee(self) -> Grantee {
        match (self.user, self.team) {
            (Some(user), _) => Grantee::User(user),
            (None, Some(team)) => Grantee::Team(team),
            (None, None) => unreachable!("clap requires one of --user and --team"),
        }
    }
}

/// `permission` subcommands. A registry without any grant is open to every user;
/// the first grant closes it to everyone not granted. Administrators may do anything.
#[derive(Debug, Subcommand)]
pub enum PermissionCommand {
    /// Give a user or team a role in a registry: read, publish (read + new crates) or admin
    Grant {
        #[arg(long, value_name = "R", default_value = "main")]
        registry: String,
        #[command(flatten)]
        grantee: GranteeArgs,
        #[arg(long, value_name = "ROLE")]
        role: String,
    },
    /// Take a user's or team's role in a registry away
    Revoke {
        #[arg(long, value_name = "R", default_value = "main")]
        registry: String,
        #[command(flatten)]
        grantee: GranteeArgs,
    },
    /// List who holds which role in a registry
    List {
        #[arg(long, value_name = "R", default_value = "main")]
        registry: String,
    },
}

/// Options of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events of this registry
    #[arg(long, value_name = "R")]
    registry: Option<String>,
    /// Only events about this crate
    #[arg(long = "crate", value_name = "NAME")]
    crate_name: Option<String>,
    /// Only events done by this user
    #[arg(long, value_name = "LOGIN")]
    user: Option<String>,
    /// Only this action
    #[arg(long, value_parser = PossibleValuesParser::new(ops::audit::ACTIONS.iter().copied()))]
    action: Option<String>,
    /// Only events at or after this: Unix seconds, an RFC 3339 time (2026-11-01T12:00:00Z),
    /// a date (2026-11-01, midnight UTC) or an age (30m, 12h, 7d)
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    since: Option<i64>,
    /// Most events to show, newest first
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub async fn user(app: App, command: UserCommand) -> anyhow::Result<()> {
    let (name, change) = match command {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let user = NewUser {
                login: name.clone(),
                is_admin: admin,
                password,
            };
            ops::users::add(&app, user, None).await?;
            outln!(
                "created user `{name}`{}",
                if admin { " (administrator)" } else { "" }
            );
            return Ok(());
        }
        UserCommand::Password { name, .. } => {
            let password = read_password()?;
            ops::sessions::set_password(&app, &name, password, None).await?;
            outln!("set the web password of `{name}`; it can sign in at /login");
            return Ok(());
        }
        UserCommand::List => {
            outln!("{:<24} {:<6} {:<9} created", "login", "admin", "disabled");
            for user in ops::users::list(&app, None).await? {
                outln!(
                    "{:<24} {:<6} {:<9} {}",
                    user.login,
                    yes_no(user.is_admin),
                    yes_no(user.disabled_at.is_some()),
                    format_pubtime(user.created_at)
                );
            }
            return Ok(());
        }
        UserCommand::Disable { name } => (name, UserChange::Disable),
        UserCommand::Enable { name } => (name, UserChange::Enable),
        UserCommand::Admin {
            name,
            revoke: false,
        } => (name, UserChange::MakeAdmin),
        UserCommand::Admin { name, revoke: true } => (name, UserChange::RemoveAdmin),
    };
    let changed = ops::users::change(&app, &name, change, None).await?;
    let what = match change {
        UserChange::Disable => "disabled; its tokens no longer work",
        UserChange::Enable => "enabled",
        UserChange::MakeAdmin => "an administrator",
        UserChange::RemoveAdmin => "no longer an administrator",
    };
    if changed {
        outln!("`{name}` is now {what}");
    } else {
        outln!("no change: `{name}` already is {what}");
    }
    Ok(())
}

pub async fn token(app: App, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            user,
            name,
            scopes,
            crates,
            registries,
            expires_in,
        } => {
            let scopes = Scope::parse_all(&scopes)?;
            let request = TokenRequest {
                name: name.unwrap_or_default(),
                scopes,
                crate_patterns: crates,
                registries,
                expires_in_days: expires_in,
            };
            let created = ops::tokens::create(&app, &user, request, None).await?;
            outln!("{}", created.token);
        }
        TokenCommand::List { user, json } => {
            let tokens = ops::tokens::list(&app, user.as_deref(), None).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(());
            }
            let now = clock::now();
            outln!(
                "{:>5}  {:<16} {:<24} {:<10} {:<40} {:<20} last used",
                "id",
                "user",
                "name",
                "state",
                "scopes",
                "expires"
            );
            for t in tokens {
                let state = match (t.revoked_at, t.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(at)) if at <= now => "expired",
                    _ => "active",
                };
                let mut scopes = t.scopes.clone();
                if !t.crate_patterns.is_empty() {
                    scopes.push_str(&format!(" crates={}", t.crate_patterns));
                }
                if !t.registries.is_empty() {
                    scopes.push_str(&format!(" registries={}", t.registries));
                }
                outln!(
                    "{:>5}  {:<16} {:<24} {:<10} {:<40} {:<20} {}",
                    t.id,
                    t.login,
                    t.name,
                    state,
                    scopes,
                    t.expires_at.map_or("never".into(), format_pubtime),
                    t.last_used_at.map_or("never".into(), format_pubtime)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let before = clock::now();
            let token = ops::tokens::revoke(&app, id, None).await?;
            match token.revoked_at {
                Some(at) if at < before => outln!(
                    "token {id} (`{}` of `{}`) was already revoked, at {}",
                    token.name,
                    token.login,
                    format_pubtime(at)
                ),
                _ => outln!(
                    "revoked token {id} (`{}` of `{}`); it no longer works",
                    token.name,
                    token.login
                ),
            }
        }
    }
    Ok(())
}

pub async fn team(app: App, command: TeamCommand) -> anyhow::Result<()> {
    match command {
        TeamCommand::Create { name } => {
            ops::teams::create(&app, &name, None).await?;
            outln!(
                "created team `{name}`; add members with `cargohold team add-member {name} USER...`"
            );
        }
        TeamCommand::List => {
            for team in ops::teams::list(&app, None).await? {
                outln!("{}: {}", team.name, team.members.join(", "));
            }
        }
        TeamCommand::AddMember { team, users } => {
            let changed = ops::teams::change_members(&app, &team, &users, true, None).await?;
            outln!("added to `{team}`: {}", list_or_none(&changed));
        }
        TeamCommand::RemoveMember { team, users } => {
            let changed = ops::teams::change_members(&app, &team, &users, false, None).await?;
            outln!("removed from `{team}`: {}", list_or_none(&changed));
        }
    }
    Ok(())
}

pub async fn permission(app: App, command: PermissionCommand) -> anyhow::Result<()> {
    match command {
        PermissionCommand::Grant {
            registry,
            grantee,
            role,
        } => {
            let registry = app.registry(&registry)?.clone();
            let role = Role::parse(&role)?;
            let grantee = grantee.grantee();
            ops::permissions::set(&app, &registry, &grantee, Some(role), None).await?;
            outln!(
                "{grantee} now holds `{role}` in registry `{}`",
                registry.name
            );
        }
        PermissionCommand::Revoke { registry, grantee } => {
            let registry = app.registry(&registry)?.clone();
            let grantee = grantee.grantee();
            let previous = ops::permissions::set(&app, &registry, &grantee, None, None).await?;
            match previous {
                Some(role) => outln!(
                    "{} no longer holds `{role}` in registry `{}`",
                    grantee,
                    registry.name
                ),
                None => outln!(
                    "no change: {} held no role in registry `{}`",
                    grantee,
                    registry.name
                ),
            }
        }
        PermissionCommand::List { registry } => {
            let registry = app.registry(&registry)?.clone();
            let permissions = ops::permissions::list(&app, &registry, None).await?;
            if permissions.open_to_all_users {
                outln!(
                    "registry `{}` has no grants: every user may read and publish new crates",
                    registry.name
                );
            }
            for grant in permissions.grants {
                outln!("{:<5} {:<24} {}", grant.kind, grant.holder, grant.role);
            }
        }
    }
    Ok(())
}

pub async fn audit(app: App, args: AuditArgs) -> anyhow::Result<()> {
    let filter = AuditFilter {
        registry: args.registry,
        crate_name: args.crate_name,
        actor: args.user,
        action: args.action,
        since: args.since,
        before_id: None,
        limit: args.limit,
    };
    let events = ops::audit::list(&app, filter, None).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    for e in events {
        let target = match (&e.crate_name, &e.version) {
            (Some(krate), Some(version)) => format!("{krate}@{version}"),
            (Some(krate), None) => krate.clone(),
            _ => String::new(),
        };
        outln!(
            "{}  {:<18} {:<16} {:<14} {:<8} {:<24} {}",
            format_pubtime(e.at),
            e.action,
            e.actor.as_deref().unwrap_or("(operator)"),
            e.client_addr.as_deref().unwrap_or("-"),
            e.registry.as_deref().unwrap_or("-"),
            target,
            if e.detail == "{}" { "" } else { &e.detail },
        );
    }
    Ok(())
}

/// `--since`, read as the admin API reads `since`.
fn parse_since(text: &str) -> Result<i64, String> {
    ops::audit::parse_since(text, clock::now())
        .ok_or_else(|| format!("not a time; give {}", ops::audit::SINCE_FORMS))
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nobody new".into()
    } else {
        items.join(", ")
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
