//! `cargohold audit`: filters the operator mistypes are refused, not answered with an empty listing.

use super::cargohold;

/// A data directory with one user, `alice`, whose creation is in the audit log.
fn with_alice() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let added = cargohold(dir.path(), &["user", "add", "alice"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    dir
}

/// The events `audit --json` lists with `args`.
fn listed(dir: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let output = cargohold(dir, &[&["audit", "--json"], args].concat());
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout).unwrap()
}

#[test]
fn audit_refuses_an_unknown_action_and_lists_the_valid_ones() {
    let dir = with_alice();
    let output = cargohold(dir.path(), &["audit", "--action", "user_ad"]);
    // A usage error, as clap reports every other one.
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'user_ad'"), "{stderr}");
    for action in ["publish", "yank", "token_create", "user_add", "gc"] {
        assert!(stderr.contains(action), "{action} is listed: {stderr}");
    }

    let found = listed(dir.path(), &["--action", "user_add"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["detail"]["login"], "alice");
}

#[test]
fn audit_refuses_an_unknown_user_saying_no_such_user_exists() {
    let dir = with_alice();
    let output = cargohold(dir.path(), &["audit", "--user", "nobody"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("there is no user `nobody`") && stderr.contains("cargohold user list"),
        "{stderr}"
    );

    // A user who exists but did nothing gets an empty listing, and no error.
    assert_eq!(listed(dir.path(), &["--user", "ALICE"]).len(), 0);
}

#[test]
fn audit_since_takes_unix_seconds_rfc3339_times_dates_and_ages() {
    let dir = with_alice();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let tomorrow = (now + 86_400).to_string();
    for (since, count) in [
        ("0", 1),
        ("1970-01-01", 1),
        ("1970-01-01T00:00:00Z", 1),
        ("1h", 1),
        (tomorrow.as_str(), 0),
        ("2999-01-01", 0),
        ("2999-01-01T00:00:00+01:00", 0),
    ] {
        let found = listed(dir.path(), &["--action", "user_add", "--since", since]);
        assert_eq!(found.len(), count, "--since {since}: {found:?}");
    }

    let output = cargohold(dir.path(), &["audit", "--since", "yesterday"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("yesterday")
            && stderr.contains("Unix seconds")
            && stderr.contains("RFC 3339")
            && stderr.contains("30m, 12h, 7d"),
        "{stderr}"
    );
}

#[test]
fn the_audit_listing_has_a_header_and_reads_as_words_and_its_json_details_are_objects() {
    let dir = with_alice();
    let output = cargohold(dir.path(), &["audit"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("WHEN (UTC)") && header.contains("ACTION") && header.ends_with("DETAIL"),
        "{text}"
    );
    let added = lines
        .find(|line| line.contains("user_add"))
        .expect("the user_add event");
    assert!(
        added.contains("login: alice") && !added.contains('{'),
        "{text}"
    );

    let events = listed(dir.path(), &["--action", "user_add"]);
    assert_eq!(events[0]["detail"]["login"], "alice", "{events:?}");
}
