//! Administration from the command line as the operator sees it: permissions, teams, tokens,
//! the registries named in mistakes, `--help` and `config show`.

use std::path::Path;
use std::process::{Command, Output};

use cargohold_test_support::CrateFixture;

use super::{BIN, cargohold};

/// Two registries: `main` (public) and `private` (auth-required).
const TWO_REGISTRIES: &str = "[[registries]]\nname = \"main\"\n\n\
                              [[registries]]\nname = \"private\"\nauth-required = true\n";

/// A data directory with `cargohold.toml` holding `config` and the users `logins`.
fn data_dir_with(config: &str, logins: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cargohold.toml"), config).unwrap();
    for login in logins {
        succeed(dir.path(), &["user", "add", login]);
    }
    dir
}

/// Runs `cargohold args` in `dir`, which must succeed; its standard output.
fn succeed(dir: &Path, args: &[&str]) -> String {
    let output = cargohold(dir, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `cargohold args` in `dir`, which must fail; its standard error.
fn fail(dir: &Path, args: &[&str]) -> (Output, String) {
    let output = cargohold(dir, args);
    assert!(
        !output.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

/// The events of the audit log, newest first, as `audit --json` prints them.
fn audit(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let text = succeed(dir, &[&["audit", "--json"], args].concat());
    serde_json::from_str(&text).unwrap()
}

#[test]
fn permission_commands_refuse_to_guess_the_registry_and_change_nothing() {
    let dir = data_dir_with(TWO_REGISTRIES, &["ci-bot"]);
    for args in [
        &["permission", "grant", "--user", "ci-bot", "--role", "read"][..],
        &["permission", "revoke", "--user", "ci-bot"],
        &["permission", "list"],
    ] {
        let (output, stderr) = fail(dir.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr.contains("the following required arguments were not provided")
                && stderr.contains("--registry <R>"),
            "{args:?}: {stderr}"
        );
    }
    let listed = succeed(dir.path(), &["permission", "list", "--registry", "main"]);
    assert!(listed.contains("has no grants"), "{listed}");
    assert!(audit(dir.path(), &["--action", "permission_grant"]).is_empty());
}

#[test]
fn a_grant_that_closes_a_registry_and_a_revocation_that_opens_it_say_so() {
    let dir = data_dir_with(TWO_REGISTRIES, &["ci-bot", "alice"]);
    let run = |args: &[&str]| succeed(dir.path(), args);

    let first = run(&[
        "permission",
        "grant",
        "--registry",
        "main",
        "--user",
        "ci-bot",
        "--role",
        "read",
    ]);
    assert_eq!(
        first,
        "user `ci-bot` now holds `read` in registry `main`\n\
         note: this is the first grant of `main`: users without a grant can no longer publish there, \
         nor yank or change the owners of their crates (its index stays public)\n"
    );
    let second = run(&[
        "permission",
        "grant",
        "--registry",
        "main",
        "--user",
        "alice",
        "--role",
        "publish",
    ]);
    assert_eq!(
        second,
        "user `alice` now holds `publish` in registry `main`\n"
    );
    let same = run(&[
        "permission",
        "grant",
        "--registry",
        "main",
        "--user",
        "alice",
        "--role",
        "publish",
    ]);
    assert_eq!(
        same,
        "no change: user `alice` already holds `publish` in registry `main`\n"
    );
    let listed = run(&["permission", "list", "--registry", "main"]);
    let mut lines = listed.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("kind  holder  role     granted"),
        "{listed}"
    );
    assert!(
        lines.next().unwrap().starts_with("user  alice   publish  "),
        "{listed}"
    );
    assert!(
        lines.next().unwrap().starts_with("user  ci-bot  read     "),
        "{listed}"
    );

    let not_last = run(&[
        "permission",
        "revoke",
        "--registry",
        "main",
        "--user",
        "alice",
    ]);
    assert_eq!(
        not_last,
        "user `alice` no longer holds `publish` in registry `main`\n"
    );
    let last = run(&[
        "permission",
        "revoke",
        "--registry",
        "main",
        "--user",
        "ci-bot",
    ]);
    assert_eq!(
        last,
        "user `ci-bot` no longer holds `read` in registry `main`\n\
         note: this was the last grant of `main`: every user may now publish new crates there\n"
    );

    // A private registry: reads are at stake too.
    let first = run(&[
        "permission",
        "grant",
        "--registry",
        "private",
        "--user",
        "ci-bot",
        "--role",
        "read",
    ]);
    assert!(
        first.ends_with(
            "note: this is the first grant of `private`: users without a grant can no longer read or publish there\n"
        ),
        "{first}"
    );
    let last = run(&[
        "permission",
        "revoke",
        "--registry",
        "private",
        "--user",
        "ci-bot",
    ]);
    assert!(
        last.ends_with(
            "note: this was the last grant of `private`: every user may now read and publish new crates there\n"
        ),
        "{last}"
    );
    let open = run(&["permission", "list", "--registry", "private"]);
    assert_eq!(
        open,
        "registry `private` has no grants: every user may read and publish new crates\n"
    );
}

#[test]
fn an_unknown_role_is_refused_with_the_roles_there_are_and_changes_nothing() {
    let dir = data_dir_with(TWO_REGISTRIES, &["ci-bot"]);
    let (output, stderr) = fail(
        dir.path(),
        &[
            "permission",
            "grant",
            "--registry",
            "main",
            "--user",
            "ci-bot",
            "--role",
            "owner",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("[possible values: read, publish, admin]"),
        "{stderr}"
    );
    let listed = succeed(dir.path(), &["permission", "list", "--registry", "main"]);
    assert!(listed.contains("has no grants"), "{listed}");
}

#[test]
fn a_mistyped_registry_on_the_command_line_is_answered_with_every_registry_private_ones_too() {
    let dir = data_dir_with(TWO_REGISTRIES, &["alice"]);
    let empty = dir.path().join("nothing-here");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    for args in [
        &[
            "permission",
            "grant",
            "--registry",
            "nope",
            "--user",
            "alice",
            "--role",
            "read",
        ][..],
        &[
            "permission",
            "revoke",
            "--registry",
            "nope",
            "--user",
            "alice",
        ],
        &["permission", "list", "--registry", "nope"],
        &["audit", "--registry", "nope"],
        &["token", "create", "alice", "--registry", "nope"],
        &["import", "--registry", "nope", "--owner", "alice", empty],
        &["reindex", "--registry", "nope"],
        &["check", "--registry", "nope"],
        &["evict", "--registry", "nope", "--max-size", "1"],
    ] {
        let (output, stderr) = fail(dir.path(), args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr.contains("there is no registry named `nope` here; registries: main, private"),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    // Nothing was made of any of it.
    assert_eq!(
        succeed(dir.path(), &["token", "list", "--json"]).trim(),
        "[]"
    );
    let events = audit(dir.path(), &[]);
    assert_eq!(events.len(), 1, "only `user add alice`: {events:?}");
}

#[test]
fn config_show_prints_a_configuration_that_reads_back_as_the_same() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cargohold.toml"),
        "git-dir = \"/srv/git\"\n\n\
         [[registries]]\nname = \"internal\"\ngit-index = true\n\n\
         [[registries]]\nname = \"cache\"\nkind = \"proxy\"\nupstream = \"http://127.0.0.1:9/index/\"\n\
         upstream-token = \"s3cret-token\"\nmin-age-days = 3\ndeny = [\"leftpad-*\"]\n\n\
         [[registries]]\nname = \"all\"\nkind = \"virtual\"\nmembers = [\"internal\", \"cache\"]\n\
         publish-to = \"internal\"\nauth-required = true\n\n\
         [[registries]]\nname = \"private\"\nauth-required = true\n",
    )
    .unwrap();
    let show = |cwd: &Path, args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .args(["config", "show"])
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let shown = show(dir.path(), &[]);
    assert!(shown.contains("git-dir = \"/srv/git\""), "{shown}");
    assert!(!shown.contains("s3cret-token"), "{shown}");
    assert!(shown.contains("upstream-token = \"REDACTED\""), "{shown}");
    let tables: Vec<&str> = shown.split("[[registries]]").skip(1).collect();
    assert_eq!(tables.len(), 4, "{shown}");
    for table in &tables {
        let proxy = table.contains("kind = \"proxy\"");
        for key in [
            "freshness-seconds",
            "min-age-days",
            "cache-max-size",
            "cache-max-age-days",
        ] {
            assert_eq!(table.contains(key), proxy, "{key} in {table}");
        }
        assert_eq!(
            table.contains("git-index"),
            table.contains("kind = \"local\""),
            "{table}"
        );
        assert_eq!(
            table.contains("members"),
            table.contains("kind = \"virtual\""),
            "{table}"
        );
    }

    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("shown.toml");
    std::fs::write(&file, &shown).unwrap();
    let again = show(elsewhere.path(), &["--config", file.to_str().unwrap()]);
    assert_eq!(again, shown);

    // The default configuration (one local registry) reads back too, git-dir included.
    let empty = tempfile::tempdir().unwrap();
    let default = show(empty.path(), &[]);
    assert!(
        default.contains("git-dir = \"cargohold-data/git\""),
        "{default}"
    );
    std::fs::write(&file, &default).unwrap();
    assert_eq!(
        show(elsewhere.path(), &["--config", file.to_str().unwrap()]),
        default
    );
}

#[test]
fn removing_a_non_member_from_a_team_says_so_and_changes_nothing() {
    let dir = data_dir_with("", &["alice", "bob", "carol", "dave"]);
    let run = |args: &[&str]| succeed(dir.path(), args);
    run(&["team", "create", "core"]);
    assert_eq!(
        run(&["team", "add-member", "core", "alice", "bob"]),
        "added to `core`: alice, bob\n"
    );
    assert_eq!(
        run(&["team", "add-member", "core", "alice", "carol"]),
        "added to `core`: carol; alice was already a member\n"
    );
    assert_eq!(
        run(&["team", "add-member", "core", "alice", "Bob"]),
        "no change to `core`: alice and Bob were already members\n"
    );
    assert_eq!(
        run(&["team", "remove-member", "core", "carol"]),
        "removed from `core`: carol\n"
    );
    assert_eq!(
        run(&["team", "remove-member", "core", "carol"]),
        "no change to `core`: carol was not a member\n"
    );
    assert_eq!(
        run(&["team", "remove-member", "core", "alice", "carol", "dave"]),
        "removed from `core`: alice; carol and dave were not members\n"
    );
    assert_eq!(run(&["team", "list"]), "core: bob\n");
    let teams: serde_json::Value = serde_json::from_str(&run(&["team", "list", "--json"])).unwrap();
    assert_eq!(teams[0]["name"], "core");
    assert_eq!(teams[0]["members"], serde_json::json!(["bob"]));
    assert_eq!(
        audit(dir.path(), &["--action", "team_member_remove"]).len(),
        2,
        "carol once, alice once"
    );
}

#[test]
fn revoking_a_token_twice_says_the_second_time_that_it_was_already_revoked_and_when() {
    let dir = data_dir_with("", &["alice"]);
    let run = |args: &[&str]| succeed(dir.path(), args);
    run(&["token", "create", "alice", "--name", "laptop"]);
    let tokens: serde_json::Value =
        serde_json::from_str(&run(&["token", "list", "--json"])).unwrap();
    let id = tokens[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        run(&["token", "revoke", &id]),
        format!("revoked token {id} (`laptop` of `alice`); it no longer works\n")
    );
    // At once, within the same second: the answer does not depend on the clock.
    let again = run(&["token", "revoke", &id]);
    let prefix = format!("no change: token {id} (`laptop` of `alice`) was already revoked, at ");
    let when = again
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{again}"))
        .trim_end();
    assert!(
        when.len() == 20 && when.ends_with('Z') && when.starts_with("20"),
        "{when}"
    );
    assert_eq!(audit(dir.path(), &["--action", "token_revoke"]).len(), 1);
}

#[test]
fn listings_line_up_their_columns_whatever_the_lengths() {
    let dir = data_dir_with(
        TWO_REGISTRIES,
        &["alice", "a-user-with-a-rather-long-login"],
    );
    let run = |args: &[&str]| succeed(dir.path(), args);
    run(&["token", "create", "alice", "--name", "short"]);
    run(&[
        "token",
        "create",
        "a-user-with-a-rather-long-login",
        "--name",
        "release-pipeline-of-the-big-monorepo",
        "--crate",
        "acme-internal-*",
        "--crate",
        "acme-tools-*",
        "--registry",
        "main",
        "--registry",
        "private",
        "--expires-in",
        "30",
    ]);
    let assert_aligned = |listed: &str| {
        let mut lines = listed.lines();
        let header = lines.next().unwrap();
        // Where each column starts: after two spaces, in the header.
        let starts: Vec<usize> = header
            .match_indices("  ")
            .map(|(at, _)| at + 2)
            .filter(|at| header.as_bytes().get(*at).is_some_and(|b| *b != b' '))
            .collect();
        assert!(!starts.is_empty(), "{listed}");
        for line in lines {
            for &at in &starts {
                assert!(
                    &line[at - 2..at] == "  " && line.as_bytes()[at] != b' ',
                    "column at {at} is not lined up:\n{listed}"
                );
            }
            assert!(!line.ends_with(' '), "trailing spaces:\n{listed}");
        }
    };
    let tokens = run(&["token", "list"]);
    assert!(tokens.starts_with("id  user "), "{tokens}");
    assert_eq!(tokens.lines().count(), 3, "{tokens}");
    assert_aligned(&tokens);
    let users = run(&["user", "list"]);
    assert_eq!(users.lines().count(), 3, "{users}");
    assert_aligned(&users);

    // The same listings as JSON, as `token list --json` has always been.
    let users: serde_json::Value = serde_json::from_str(&run(&["user", "list", "--json"])).unwrap();
    let logins: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins.len(), 2, "{users}");
    assert!(logins.contains(&"alice"), "{users}");
    assert_eq!(users[0]["admin"], false);
    run(&[
        "permission",
        "grant",
        "--registry",
        "private",
        "--user",
        "alice",
        "--role",
        "admin",
    ]);
    let permissions: serde_json::Value = serde_json::from_str(&run(&[
        "permission",
        "list",
        "--registry",
        "private",
        "--json",
    ]))
    .unwrap();
    assert_eq!(permissions["registry"], "private");
    assert_eq!(permissions["open_to_all_users"], false);
    assert_eq!(permissions["grants"][0]["holder"], "alice");
    assert_eq!(permissions["grants"][0]["role"], "admin");
}

#[test]
fn help_describes_every_argument_lists_the_roles_and_shows_examples() {
    let help = |args: &[&str]| {
        let output = Command::new(BIN).args(args).arg("--help").output().unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let grant = help(&["permission", "grant"]);
    for wanted in [
        "--registry <R>",
        "read:",
        "publish:",
        "admin:",
        "Examples:",
        "cargohold permission grant --registry main --team core --role publish",
    ] {
        assert!(grant.contains(wanted), "{wanted}: {grant}");
    }
    for (args, argument, description) in [
        (&["token", "revoke"][..], "<ID>", "The token's id"),
        (
            &["team", "add-member"],
            "<USERS>...",
            "Logins of the users to add",
        ),
        (&["team", "add-member"], "<TEAM>", "The team to add them to"),
        (&["user", "admin"], "<NAME>", "Login of the user"),
        (&["user", "list"], "--json", "Print JSON"),
        (&["team", "list"], "--json", "Print JSON"),
        (&["permission", "list"], "--json", "Print JSON"),
    ] {
        let text = help(args);
        let line = text
            .lines()
            .skip_while(|line| !line.trim_start().starts_with(argument))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(line.contains(description), "{args:?} {argument}: {text}");
    }
    for args in [
        &["serve"][..],
        &["import"],
        &["mirror"],
        &["user", "add"],
        &["token", "create"],
        &["audit"],
        &["backup"],
        &["restore"],
        &["evict"],
        &["reindex"],
        &["check"],
        &["gc"],
        &["config", "show"],
    ] {
        let text = help(args);
        let example = format!("cargohold {}", args.join(" "));
        assert!(
            text.contains("Examples:") && text.contains(&example),
            "{args:?}: {text}"
        );
    }
    // A command's own options come first; --config and --data-dir follow, under their own heading.
    let import = help(&["import"]);
    let own = import.find("--hide-upstream").unwrap();
    let global = import.find("Global options:").expect(&import);
    assert!(
        own < global && import[global..].contains("--data-dir <DIR>"),
        "{import}"
    );
}

#[test]
fn import_without_a_registry_uses_the_only_local_one_or_asks_which() {
    let crates = tempfile::tempdir().unwrap();
    let file = super::write_crate(crates.path(), &CrateFixture::new("lone", "1.0.0"));
    let file = file.to_str().unwrap();

    let one = data_dir_with("[[registries]]\nname = \"internal\"\n", &["alice"]);
    let output = succeed(one.path(), &["import", "--owner", "alice", file]);
    assert!(
        output.contains("1 files into `internal`") && output.contains("1 imported"),
        "{output}"
    );

    let two = data_dir_with(
        "[[registries]]\nname = \"team-a\"\n\n[[registries]]\nname = \"team-b\"\n",
        &["alice"],
    );
    let (output, stderr) = fail(two.path(), &["import", "--owner", "alice", file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("several local registries (team-a, team-b) and none is named `main`")
            && stderr.contains("--registry"),
        "{stderr}"
    );
    let chosen = succeed(
        two.path(),
        &["import", "--registry", "team-a", "--owner", "alice", file],
    );
    assert!(
        chosen.contains("1 imported, 0 already present"),
        "the refused import stored nothing: {chosen}"
    );
}
