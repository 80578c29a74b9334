//! Proxying (`upstream.rs`): a `Cargo.lock` for `cargohold mirror`, policy rules and
//! policies from the configuration, upstream index files filtered by a policy,
//! `pubtime` values, and `dl` templates expanded into download URLs.
//!
//! The first byte chooses the function; the rest is its input:
//! - 0: a `Cargo.lock`;
//! - 1: policy rules, one a line, or a whole `[registries]`-style policy table in TOML;
//! - 2: a policy (`+RULE`, `-RULE`, `age SECONDS`, `now SECONDS` lines), a blank line, an index file;
//! - 3: a `pubtime`;
//! - 4: `TEMPLATE\nNAME\nVERSION\nCHECKSUM`.
#![no_main]

use cargohold_protocol::index::format_pubtime;
use cargohold_protocol::name::{index_path, validate_dependency_name};
use cargohold_protocol::upstream::{
    UpstreamPolicy, VersionRule, download_url, filter_index_file, parse_pubtime, registry_packages,
};
use libfuzzer_sys::fuzz_target;
use url::Url;

/// The upstream index URL that relative `dl` templates are joined to (`proxy/upstream.rs`).
const UPSTREAM_INDEX: &str = "https://upstream.example/index/";

const MARKERS: [&str; 5] = [
    "{crate}",
    "{version}",
    "{prefix}",
    "{lowerprefix}",
    "{sha256-checksum}",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 5 {
        0 => lockfile(text),
        1 => rules(text),
        2 => filter(text),
        3 => pubtime(text),
        _ => dl(text),
    }
});

fn lockfile(text: &str) {
    match registry_packages(text) {
        Ok(packages) => {
            // The same count read as a plain table. (A table can refuse what the typed
            // reading skips unread, such as an integer past i64 under an unknown key.)
            if let Ok(table) = text.parse::<toml::Table>() {
                let registry_entries =
                    table
                        .get("package")
                        .and_then(|p| p.as_array())
                        .map_or(0, |packages| {
                            packages
                                .iter()
                                .filter_map(|p| p.get("source")?.as_str())
                                .filter(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
                                .count()
                        });
                assert_eq!(packages.len(), registry_entries);
            }
            for package in &packages {
                assert!(
                    package.source.starts_with("registry+")
                        || package.source.starts_with("sparse+")
                );
                assert_ne!(package.checksum.as_deref(), Some("<none>"));
            }
        }
        Err(e) => {
            let message = e.to_string();
            if let Some(line) = message
                .split("(line ")
                .nth(1)
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse::<usize>().ok())
            {
                assert!(line >= 1 && line <= text.split('\n').count(), "{message}");
            }
        }
    }
}

fn rules(text: &str) {
    for line in text.lines() {
        let Ok(rule) = VersionRule::parse(line) else {
            continue;
        };
        let written = line.trim();
        assert_eq!(rule.to_string(), written);
        assert_eq!(VersionRule::parse(&rule.to_string()).as_ref(), Ok(&rule));
        let json = serde_json::to_string(&rule).unwrap();
        assert_eq!(
            serde_json::from_str::<VersionRule>(&json).ok().as_ref(),
            Some(&rule)
        );

        let name = written
            .split_once('@')
            .map_or(written, |(name, _)| name)
            .trim();
        match name.strip_suffix('*') {
            Some(stem) => {
                for suffix in ["", "x", "-core", "_9"] {
                    let candidate = format!("{stem}{suffix}");
                    if !candidate.is_empty() {
                        assert!(rule.matches_name(&candidate), "{written} vs {candidate}");
                        assert!(
                            rule.matches_name(&candidate.to_ascii_uppercase().replace('_', "-"))
                        );
                    }
                }
            }
            None => {
                assert!(rule.matches_name(name));
                assert!(rule.matches_name(&name.to_ascii_uppercase().replace('-', "_")));
                assert!(!rule.matches_name(&format!("{name}x")));
            }
        }
        for probe in ["0.1.0", "1.0.0", "1.2.3-rc.1", "0.10.54"] {
            let version = semver::Version::parse(probe).unwrap();
            if rule.matches(name.trim_end_matches('*'), &version) {
                assert!(rule.matches_name(name.trim_end_matches('*')));
            }
        }
    }
    if let Ok(policy) = toml::from_str::<UpstreamPolicy>(text) {
        let printed = toml::to_string(&policy).expect("a policy prints");
        assert_eq!(
            toml::from_str::<UpstreamPolicy>(&printed).as_ref(),
            Ok(&policy),
            "{printed}"
        );
    }
}

/// Reads the policy lines of a filter input.
fn policy_of(spec: &str) -> Option<(UpstreamPolicy, i64)> {
    let mut policy = UpstreamPolicy::default();
    let mut now = 1_760_000_000;
    for line in spec.lines() {
        if let Some(rule) = line.strip_prefix('+') {
            policy.allow.push(VersionRule::parse(rule).ok()?);
        } else if let Some(rule) = line.strip_prefix('-') {
            policy.deny.push(VersionRule::parse(rule).ok()?);
        } else if let Some(age) = line.strip_prefix("age ") {
            policy.min_age_secs = age.trim().parse().ok()?;
        } else if let Some(at) = line.strip_prefix("now ") {
            now = at.trim().parse().ok()?;
        } else {
            return None;
        }
    }
    Some((policy, now))
}

fn filter(text: &str) {
    let (spec, content) = text.split_once("\n\n").unwrap_or((text, ""));
    let Some((policy, now)) = policy_of(spec) else {
        return;
    };
    let filtered = filter_index_file(content, &policy, now);
    let lines: Vec<&str> = content
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(filtered.kept + filtered.dropped, lines.len());
    if policy.is_open() {
        assert_eq!(filtered.content, content);
        return;
    }
    // The kept lines are input lines, byte for byte and in order, each ending in `\n`.
    assert!(filtered.content.is_empty() || filtered.content.ends_with('\n'));
    let kept: Vec<&str> = filtered.content.split_terminator('\n').collect();
    assert_eq!(kept.len(), filtered.kept);
    let mut remaining = lines.iter();
    for line in &kept {
        assert!(remaining.any(|l| l == line), "{line:?} was not in the file");
        let head: serde_json::Value = serde_json::from_str(line).expect("a kept line is JSON");
        let version = semver::Version::parse(head["vers"].as_str().unwrap()).unwrap();
        let name = head["name"].as_str().unwrap();
        let pubtime = head
            .get("pubtime")
            .and_then(|p| p.as_str())
            .and_then(parse_pubtime);
        assert!(policy.admits(name, &version, pubtime, now), "{line}");
    }
    // Filtering what was kept keeps all of it; later, nothing kept becomes too young.
    let again = filter_index_file(&filtered.content, &policy, now);
    assert_eq!(
        (again.content.as_str(), again.dropped),
        (filtered.content.as_str(), 0)
    );
    let later = filter_index_file(content, &policy, now.saturating_add(1_000_000));
    assert!(later.kept >= filtered.kept);
}

fn pubtime(text: &str) {
    if let Some(t) = parse_pubtime(text) {
        // Whatever reads, reads as the instant its canonical spelling names.
        let canonical = format_pubtime(t);
        assert_eq!(parse_pubtime(&canonical), Some(t), "{text:?} → {canonical}");
        if text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T' {
            assert_eq!(canonical, text);
        }
    }
    if let Some(bytes) = text.as_bytes().get(..8) {
        let t = i64::from_le_bytes(bytes.try_into().unwrap());
        let written = format_pubtime(t);
        assert_eq!(written.len(), 20, "{written}");
        let read = parse_pubtime(&written).expect("format_pubtime writes what parse_pubtime reads");
        assert!(read == t || read == 0, "{t} → {written} → {read}");
    }
}

/// The scheme, host and port a URL reaches.
fn origin(url: &Url) -> (String, Option<String>, Option<u16>) {
    (
        url.scheme().to_owned(),
        url.host_str().map(str::to_owned),
        url.port_or_known_default(),
    )
}

/// Where an http(s) `head` points, joined to the upstream index URL as the server
/// joins the expanded URL, when it ends its authority: nothing appended to it
/// can change the host. Reads `head` as the URL parser does: tabs and line breaks
/// removed, leading controls and spaces trimmed, any run of `/` and `\\` after
/// the scheme skipped (`https:/x/` is a path on the base's host, as the parser has it).
fn fixed_origin(base: &Url, head: &str) -> Option<Url> {
    let head: String = head
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let head = head.trim_start_matches(|c: char| c <= ' ');
    let (scheme, rest) = head.split_once(':')?;
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return None;
    }
    let authority = rest.trim_start_matches(['/', '\\']);
    let end = authority.find(['/', '\\', '?', '#'])?;
    let fixed = head.len() - authority.len() + end + 1;
    base.join(&head[..fixed]).ok()
}

/// Whether `head` is a relative path whose first segment is complete (`crates/`):
/// nothing appended to it can make it a scheme or a network path.
fn is_relative_path(head: &str) -> bool {
    let Some(first) = head.split_once('/').map(|(first, _)| first) else {
        return false;
    };
    head.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.')
        && !first.contains([':', '\\', '?', '#'])
}

fn dl(text: &str) {
    let mut parts = text.split('\n');
    let template = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or("serde");
    let version = parts.next().unwrap_or("1.0.0");
    let checksum = parts.next().unwrap_or("00");
    let url = download_url(template, name, version, checksum);

    let first_marker = MARKERS.iter().filter_map(|m| template.find(m)).min();
    if first_marker.is_none() {
        assert_eq!(url, format!("{template}/{name}/{version}/download"));
    }
    if validate_dependency_name(name, false).is_ok() {
        let lower = download_url("{lowerprefix}/{crate}", name, version, checksum);
        assert_eq!(lower.to_ascii_lowercase(), index_path(name));
    }

    // Whatever the values, the download goes where the template's fixed head points.
    let head = &template[..first_marker.unwrap_or(template.len())];
    let base = Url::parse(UPSTREAM_INDEX).unwrap();
    let expected = if let Some(origin) = fixed_origin(&base, head) {
        Some(origin)
    } else if is_relative_path(head) {
        // A relative path: joined to the upstream's index URL, as the server does.
        base.join(head).ok()
    } else {
        None
    };
    if let Some(expected) = expected {
        let joined = base.join(&url);
        let joined =
            joined.unwrap_or_else(|e| panic!("{template:?} with {name:?} gives {url:?}: {e}"));
        assert_eq!(
            origin(&joined),
            origin(&expected),
            "{template:?} with {name:?}, {version:?}, {checksum:?}"
        );
    }
}
