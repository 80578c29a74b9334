//! Administration from the command line: users, tokens, teams, permissions, the audit log,
//! webhook deliveries.
//!
//! Everything here runs as the operator (who has the data directory, and so every
//! power), through the same `ops` functions the admin API calls.

use std::io::BufRead;

use anyhow::Context;
use cargohold_protocol::index::format_pubtime;
use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand, ValueEnum};

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
    #[command(after_long_help = "\
Examples:
  cargohold user add alice
  echo 'a long passphrase' | cargohold user add bob --admin --password-stdin")]
    Add {
        /// Login of the new user (letters, digits, `-` and `_`)
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
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: every token of it stops working at once
    Disable {
        /// Login of the user
        name: String,
    },
    /// Enable a disabled user again
    Enable {
        /// Login of the user
        name: String,
    },
    /// Make a user an administrator (`--revoke` to take it back)
    Admin {
        /// Login of the user
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
    #[command(after_long_help = "\
Examples:
  cargohold token create alice
  cargohold token create ci-bot --name release --scope publish-new,publish-update \\
      --crate 'acme-*' --registry main --expires-in 90")]
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
    Revoke {
        /// The token's id, as `token list` shows it
        id: i64,
    },
}

/// `team` subcommands.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team; give it crates with `cargo owner --add team:NAME`
    Create {
        /// Name of the new team (letters, digits, `-` and `_`)
        name: String,
    },
    /// List teams and their members
    List {
        /// Print JSON instead of a list
        #[arg(long)]
        json: bool,
    },
    /// Add users to a team
    AddMember {
        /// The team to add them to
        team: String,
        /// Logins of the users to add
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Delete a team: its members leave it and the crates it owned keep their user owners.
    /// A team that holds a role in a registry is refused until `permission revoke` takes it back
    Delete {
        /// The team to delete
        name: String,
    },
    /// Remove users from a team
    RemoveMember {
        /// The team to remove them from
        team: String,
        /// Logins of the users to remove
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

/// A role in a registry, as `--role` takes it; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Read a private registry; yank and change the owners of crates one owns
    Read,
    /// Read, and publish crates with new names
    Publish,
    /// Act as an owner of every crate of the registry
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Read => Role::Read,
            RoleArg::Publish => Role::Publish,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// `permission` subcommands. A registry without any grant is open to every user;
/// the first grant closes it to everyone not granted. Administrators may do anything.
#[derive(Debug, Subcommand)]
pub enum PermissionCommand {
    /// Give a user or team a role in a registry; the first grant closes the registry to users without one
    #[command(after_long_help = "\
Examples:
  cargohold permission grant --registry main --team core --role publish
  cargohold permission grant --registry private --user ci-bot --role read")]
    Grant {
        /// The registry (`cargohold config show` lists them)
        #[arg(long, value_name = "R")]
        registry: String,
        #[command(flatten)]
        grantee: GranteeArgs,
        /// The role to give
        #[arg(long, value_name = "ROLE")]
        role: RoleArg,
    },
    /// Take a user's or team's role in a registry away; without grants, a registry is open to every user
    Revoke {
        /// The registry (`cargohold config show` lists them)
        #[arg(long, value_name = "R")]
        registry: String,
        #[command(flatten)]
        grantee: GranteeArgs,
    },
    /// List who holds which role in a registry
    List {
        /// The registry (`cargohold config show` lists them)
        #[arg(long, value_name = "R")]
        registry: String,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

/// `webhook` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// List recent webhook deliveries, newest first, with how each went
    #[command(after_long_help = "\
A delivery is pending (not attempted yet), retrying (its last attempt failed), delivered
(its receiver answered 2xx) or given up (still failing a day after the change). Finished
deliveries are listed for webhook-history-days (7) days. URLs are shown without a password
or query.

Examples:
  cargohold webhook deliveries
  cargohold webhook deliveries --registry main --failed
  cargohold webhook deliveries --limit 200 --json")]
    Deliveries {
        /// Only deliveries of this registry's webhooks
        #[arg(long, value_name = "R")]
        registry: Option<String>,
        /// Only deliveries that were given up or whose last attempt failed
        #[arg(long)]
        failed: bool,
        /// Most deliveries to show, newest first (1 to 1000)
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Send a finished delivery again: same payload, same X-Cargohold-Delivery
    #[command(after_long_help = "\
The delivery is queued again as a new delivery (its own id, listed by `webhook deliveries`)
after the webhook's deliveries already waiting; the running server sends it within seconds.
It keeps the payload and the X-Cargohold-Delivery id, so a receiver that drops ids it has
seen drops it too. A delivery still pending or retrying is sent again without being asked.

Examples:
  cargohold webhook deliveries --failed
  cargohold webhook redeliver 42")]
    Redeliver {
        /// The delivery's id, as `webhook deliveries` shows it
        #[arg(value_name = "ID")]
        id: i64,
    },
}

/// Options of `audit`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  cargohold audit --crate my-crate --since 7d
  cargohold audit --user alice --action token_create --json")]
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
    #[arg(long, value_name = "N", default_value_t = 50)]
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
            ops::sessions::set_password(&app, &name, password, None, None).await?;
            outln!("set the web password of `{name}`; it can sign in at /login");
            return Ok(());
        }
        UserCommand::List { json } => {
            let users = ops::users::list(&app, None).await?;
            if json {
                let users: Vec<_> = users
                    .into_iter()
                    .map(crate::api::admin::User::from)
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&users)?);
                return Ok(());
            }
            let rows: Vec<[String; 4]> = users
                .into_iter()
                .map(|user| {
                    [
                        user.login,
                        yes_no(user.is_admin).to_owned(),
                        yes_no(user.disabled_at.is_some()).to_owned(),
                        format_pubtime(user.created_at),
                    ]
                })
                .collect();
            print_table(["login", "admin", "disabled", "created"], &rows);
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
            for registry in &registries {
                app.registry_for_operator(registry)?;
            }
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
            let rows: Vec<[String; 7]> = tokens
                .into_iter()
                .map(|t| {
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
                    [
                        t.id.to_string(),
                        t.login,
                        t.name,
                        state.to_owned(),
                        scopes,
                        t.expires_at.map_or("never".into(), format_pubtime),
                        t.last_used_at.map_or("never".into(), format_pubtime),
                    ]
                })
                .collect();
            print_table(
                [
                    "id",
                    "user",
                    "name",
                    "state",
                    "scopes",
                    "expires",
                    "last used",
                ],
                &rows,
            );
        }
        TokenCommand::Revoke { id } => {
            // Looked at first: `ops::tokens::revoke` answers the same row either way.
            let already = crate::db::tokens::find(app.db.read(), id)
                .await?
                .and_then(|t| t.revoked_at);
            let token = ops::tokens::revoke(&app, id, None).await?;
            match already {
                Some(at) => outln!(
                    "no change: token {id} (`{}` of `{}`) was already revoked, at {}",
                    token.name,
                    token.login,
                    format_pubtime(at)
                ),
                None => outln!(
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
        TeamCommand::List { json } => {
            let teams = ops::teams::list(&app, None).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&teams)?);
                return Ok(());
            }
            for team in teams {
                if team.members.is_empty() {
                    outln!("{}: (no members)", team.name);
                } else {
                    outln!("{}: {}", team.name, team.members.join(", "));
                }
            }
        }
        TeamCommand::Delete { name } => {
            let deleted = ops::teams::delete(&app, &name, None).await?;
            let list = |names: &[String]| {
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            };
            outln!(
                "deleted team `{}`; members were: {}; crates it no longer owns: {}",
                deleted.name,
                list(&deleted.members),
                list(&deleted.crates)
            );
        }
        TeamCommand::AddMember { team, users } => {
            let changed = ops::teams::change_members(&app, &team, &users, true, None).await?;
            let unchanged = not_in(&users, &changed);
            outln!(
                "{}",
                members_changed(
                    &team,
                    "added to",
                    &changed,
                    &unchanged,
                    ("was already a member", "were already members")
                )
            );
        }
        TeamCommand::RemoveMember { team, users } => {
            let changed = ops::teams::change_members(&app, &team, &users, false, None).await?;
            let unchanged = not_in(&users, &changed);
            outln!(
                "{}",
                members_changed(
                    &team,
                    "removed from",
                    &changed,
                    &unchanged,
                    ("was not a member", "were not members")
                )
            );
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
            let registry = app.registry_for_operator(&registry)?.clone();
            let role = Role::from(role);
            let grantee = grantee.grantee();
            let change =
                ops::permissions::change(&app, &registry, &grantee, Some(role), None).await?;
            let name = &registry.name;
            match change.previous.as_deref() {
                Some(previous) if previous == role.as_str() => {
                    outln!("no change: {grantee} already holds `{role}` in registry `{name}`")
                }
                Some(previous) => outln!(
                    "{grantee} now holds `{role}` in registry `{name}` (instead of `{previous}`)"
                ),
                None => outln!("{grantee} now holds `{role}` in registry `{name}`"),
            }
            if let Some(notice) = &change.notice {
                outln!("note: {notice}");
            }
        }
        PermissionCommand::Revoke { registry, grantee } => {
            let registry = app.registry_for_operator(&registry)?.clone();
            let grantee = grantee.grantee();
            let change = ops::permissions::change(&app, &registry, &grantee, None, None).await?;
            match change.previous {
                Some(role) => outln!(
                    "{grantee} no longer holds `{role}` in registry `{}`",
                    registry.name
                ),
                None => outln!(
                    "no change: {grantee} held no role in registry `{}`",
                    registry.name
                ),
            }
            if let Some(notice) = &change.notice {
                outln!("note: {notice}");
            }
        }
        PermissionCommand::List { registry, json } => {
            let registry = app.registry_for_operator(&registry)?.clone();
            let permissions = ops::permissions::list(&app, &registry, None).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&permissions)?);
                return Ok(());
            }
            if permissions.open_to_all_users {
                outln!(
                    "registry `{}` has no grants: every user may {} new crates",
                    registry.name,
                    if registry.auth_required {
                        "read and publish"
                    } else {
                        "publish"
                    }
                );
                return Ok(());
            }
            let rows: Vec<[String; 4]> = permissions
                .grants
                .into_iter()
                .map(|grant| {
                    [
                        grant.kind,
                        grant.holder,
                        grant.role,
                        format_pubtime(grant.granted_at),
                    ]
                })
                .collect();
            print_table(["kind", "holder", "role", "granted"], &rows);
        }
    }
    Ok(())
}

pub async fn audit(app: App, args: AuditArgs) -> anyhow::Result<()> {
    if let Some(registry) = &args.registry {
        app.registry_for_operator(registry)?;
    }
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
        // Each detail as the JSON object it is, not as a string holding one.
        let events = events
            .iter()
            .map(|event| {
                let mut value = serde_json::to_value(event)?;
                if let Ok(detail) = serde_json::from_str::<serde_json::Value>(&event.detail) {
                    value["detail"] = detail;
                }
                Ok(value)
            })
            .collect::<serde_json::Result<Vec<_>>>()?;
        outln!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    let rows: Vec<[String; 7]> = events
        .into_iter()
        .map(|e| {
            let target = match (&e.crate_name, &e.version) {
                (Some(krate), Some(version)) => format!("{krate}@{version}"),
                (Some(krate), None) => krate.clone(),
                _ => "-".to_owned(),
            };
            let who = who(e.actor, e.client_addr.as_deref());
            [
                format_pubtime(e.at),
                e.action,
                who,
                e.client_addr.unwrap_or_else(|| "-".to_owned()),
                e.registry.unwrap_or_else(|| "-".to_owned()),
                target,
                ops::audit::readable_detail(&e.detail),
            ]
        })
        .collect();
    print_table(
        [
            "WHEN (UTC)",
            "ACTION",
            "WHO",
            "FROM",
            "REGISTRY",
            "ON",
            "DETAIL",
        ],
        &rows,
    );
    Ok(())
}

pub async fn webhook(app: App, command: WebhookCommand) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Deliveries {
            registry,
            failed,
            limit,
            json,
        } => {
            if let Some(registry) = &registry {
                app.registry_for_operator(registry)?;
            }
            let filter = ops::webhooks::DeliveryFilter {
                registry,
                failed,
                limit,
            };
            let deliveries = ops::webhooks::list(&app, &filter, None).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&deliveries)?);
                return Ok(());
            }
            let rows: Vec<[String; 9]> = deliveries
                .into_iter()
                .map(|d| {
                    let state = match d.redelivery_of {
                        Some(of) => format!("{} (again of {of})", d.state.as_str()),
                        None => d.state.as_str().to_owned(),
                    };
                    [
                        d.id.to_string(),
                        format_pubtime(d.created_at),
                        d.registry.clone(),
                        d.event.clone(),
                        d.url.clone(),
                        state,
                        d.attempts.to_string(),
                        d.finished_at
                            .or(d.next_attempt_at)
                            .map_or("-".into(), format_pubtime),
                        d.last_answer(),
                    ]
                })
                .collect();
            print_table(
                [
                    "ID",
                    "CREATED (UTC)",
                    "REGISTRY",
                    "EVENT",
                    "URL",
                    "STATE",
                    "ATTEMPTS",
                    "FINISHED / NEXT TRY",
                    "LAST ANSWER",
                ],
                &rows,
            );
        }
        WebhookCommand::Redeliver { id } => {
            let redelivery = ops::webhooks::redeliver(&app, id, None).await?;
            let of = &redelivery.of;
            outln!(
                "queued delivery {id} ({} of `{}` to {}) again as delivery {}, with the same \
                 X-Cargohold-Delivery {}; the server sends it within seconds",
                of.event,
                of.registry,
                of.url,
                redelivery.id,
                of.delivery_id
            );
        }
    }
    Ok(())
}

/// The WHO column of `audit`: the user, else the operator for events of the command
/// line, else nobody (a sign-in with a login no user has, an address over its limit).
fn who(actor: Option<String>, client_addr: Option<&str>) -> String {
    match (actor, client_addr) {
        (Some(login), _) => login,
        (None, Some("cli")) => "(operator)".to_owned(),
        (None, _) => "-".to_owned(),
    }
}

/// `--since`, read as the admin API reads `since`.
fn parse_since(text: &str) -> Result<i64, String> {
    ops::audit::parse_since(text, clock::now())
        .ok_or_else(|| format!("not a time; give {}", ops::audit::SINCE_FORMS))
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// Prints `rows` under `header`, each column as wide as its widest cell (the
/// last one unpadded, so lines carry no trailing spaces).
pub(super) fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|title| title.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        line
    };
    outln!("{}", line(header));
    for row in rows {
        outln!("{}", line(row.each_ref().map(String::as_str)));
    }
}

/// The logins of `given` that are not among `changed` (logins compare without case), once each.
fn not_in(given: &[String], changed: &[String]) -> Vec<String> {
    let mut rest: Vec<String> = Vec::new();
    for login in given {
        let seen = |other: &String| other.eq_ignore_ascii_case(login);
        if !changed.iter().any(seen) && !rest.iter().any(seen) {
            rest.push(login.clone());
        }
    }
    rest
}

/// What `team add-member` and `remove-member` did: who changed, and why the others did not.
fn members_changed(
    team: &str,
    done: &str,
    changed: &[String],
    unchanged: &[String],
    (one, several): (&str, &str),
) -> String {
    let why = match unchanged {
        [] => String::new(),
        [login] => format!("{login} {one}"),
        _ => format!("{} {several}", and_list(unchanged)),
    };
    match (changed.is_empty(), why.is_empty()) {
        (false, true) => format!("{done} `{team}`: {}", changed.join(", ")),
        (false, false) => format!("{done} `{team}`: {}; {why}", changed.join(", ")),
        (true, _) => format!("no change to `{team}`: {why}"),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_without_a_user_are_the_operators_only_from_the_command_line() {
        assert_eq!(who(Some("alice".into()), Some("10.0.0.1")), "alice");
        assert_eq!(who(None, Some("cli")), "(operator)");
        assert_eq!(who(None, Some("10.0.0.1")), "-");
        assert_eq!(who(None, None), "-");
    }
}
