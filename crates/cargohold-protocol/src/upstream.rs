//! Pulling from an upstream sparse registry (a proxy of crates.io, say): download URLs,
//! the registry packages a `Cargo.lock` names, and the policy on which upstream
//! versions a proxy offers.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use semver::{Comparator, Op, Version, VersionReq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::name::{CrateNameError, canonical_name, validate_dependency_name};

/// The markers cargo expands in a `config.json` `dl` template.
const DL_MARKERS: [&str; 5] = [
    "{crate}",
    "{version}",
    "{prefix}",
    "{lowerprefix}",
    "{sha256-checksum}",
];

/// The URL cargo downloads a `.crate` from, given the registry's `dl` template.
///
/// Expands the markers `{crate}`, `{version}`, `{prefix}`, `{lowerprefix}` and
/// `{sha256-checksum}` by plain replacement, in cargo's order. A template with
/// none of them gets `/{crate}/{version}/download` appended, as cargo does
/// (crates.io's `https://static.crates.io/crates` is such a template).
pub fn download_url(template: &str, name: &str, version: &str, checksum: &str) -> String {
    if !DL_MARKERS.iter().any(|marker| template.contains(marker)) {
        return format!("{template}/{name}/{version}/download");
    }
    let prefix = dep_prefix(name);
    template
        .replace("{crate}", name)
        .replace("{version}", version)
        .replace("{prefix}", &prefix)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{sha256-checksum}", checksum)
}

/// The directory part of a crate's index path in the name's own case (cargo's
/// `make_dep_prefix`): `1`, `2`, `3/{first}`, `{0..2}/{2..4}`.
///
/// [`crate::name::index_path`] lowercases, which `{prefix}` must not.
/// Lengths count bytes; a name that is not ASCII gets a prefix instead of a panic.
fn dep_prefix(name: &str) -> String {
    let part = |range: std::ops::Range<usize>| name.get(range).unwrap_or_default();
    match name.len() {
        0 => String::new(),
        1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", part(0..1)),
        _ => format!("{}/{}", part(0..2), part(2..4)),
    }
}

/// Why a `Cargo.lock` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockfileError {
    #[error("Cargo.lock cannot be read ({0}); pass the Cargo.lock that cargo wrote")]
    Syntax(String),
    #[error(
        "Cargo.lock has `version = {0}`, and only lockfile versions 1 to 4 are understood; \
         pass a lockfile written by a cargo that writes version 4 or older"
    )]
    UnsupportedVersion(u32),
}

/// A package of a `Cargo.lock` that comes from a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    /// The source as the lockfile writes it: `registry+URL` or `sparse+URL`.
    pub source: String,
    /// The `.crate`'s SHA-256 in hex, when the lockfile records one.
    pub checksum: Option<String>,
}

/// The parts of a `Cargo.lock` read here; other keys are ignored.
#[derive(Deserialize)]
struct RawLockfile {
    version: Option<u32>,
    #[serde(default)]
    package: Vec<RawPackage>,
    /// Version 1 keeps checksums here, as `"checksum NAME VERSION (SOURCE)" = "HEX"`.
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// The packages of a `Cargo.lock` that come from a registry, in the lockfile's order.
///
/// Path and git packages (and the workspace's own) are skipped. Reads lockfile
/// versions 1 and 2 (no `version` key; version 1 keeps checksums in `[metadata]`)
/// and 3 and 4 (a `checksum` per package).
pub fn registry_packages(lockfile: &str) -> Result<Vec<LockedPackage>, LockfileError> {
    let raw: RawLockfile = toml::from_str(lockfile).map_err(|e| lockfile_syntax(lockfile, &e))?;
    if let Some(version) = raw.version.filter(|v| !(1..=4).contains(v)) {
        return Err(LockfileError::UnsupportedVersion(version));
    }
    let packages = raw
        .package
        .into_iter()
        .filter_map(|package| {
            let source = package.source.filter(|s| is_registry_source(s))?;
            let checksum = package.checksum.or_else(|| {
                metadata_checksum(&raw.metadata, &package.name, &package.version, &source)
            });
            Some(LockedPackage {
                name: package.name,
                version: package.version,
                source,
                checksum,
            })
        })
        .collect();
    Ok(packages)
}

/// Whether a lockfile `source` names a registry (git and path sources do not).
fn is_registry_source(source: &str) -> bool {
    source.starts_with("registry+") || source.starts_with("sparse+")
}

/// A version 1 checksum from `[metadata]`; `<none>` there means no checksum.
fn metadata_checksum(
    metadata: &BTreeMap<String, toml::Value>,
    name: &str,
    version: &str,
    source: &str,
) -> Option<String> {
    let key = format!("checksum {name} {version} ({source})");
    metadata
        .get(&key)?
        .as_str()
        .filter(|hex| *hex != "<none>")
        .map(str::to_owned)
}

/// The TOML error's message, with the line it points at when it has a position.
fn lockfile_syntax(lockfile: &str, error: &toml::de::Error) -> LockfileError {
    let message = error.message().trim_end();
    LockfileError::Syntax(match error.span() {
        Some(span) => {
            let line = lockfile
                .get(..span.start)
                .map_or(0, |before| before.matches('\n').count())
                + 1;
            format!("line {line}: {message}")
        }
        None => message.to_owned(),
    })
}

/// Why a policy rule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the rule is empty; write `NAME`, `PREFIX*` or `NAME@REQ`")]
    Empty,
    #[error(
        "the rule `{0}` has no crate name before `@`; write `NAME@REQ`, such as `openssl@<0.10.55`"
    )]
    NoName(String),
    #[error(
        "the rule `{0}` has `*` before the end of the name; `*` may only end a prefix, as in `serde*`"
    )]
    MisplacedGlob(String),
    #[error("the rule `{rule}` names no valid crate: {source}")]
    BadName {
        rule: String,
        source: CrateNameError,
    },
    #[error(
        "the rule `{0}` has nothing after `@`; add a version requirement (`NAME@<1.2.3`) or drop the `@`"
    )]
    NoRequirement(String),
    #[error("the rule `{rule}` has an invalid version requirement: {reason}")]
    BadRequirement { rule: String, reason: String },
}

/// One `allow` or `deny` rule: `NAME`, `PREFIX*` or either followed by `@REQ`.
///
/// Names compare in canonical form (case-insensitive, `-` equal to `_`), so
/// `Acme-*` matches `acme_core`. `REQ` is a semver requirement such as
/// `<0.10.55` or `>=0.3, <0.3.36`; without it every version matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRule {
    /// The rule as written (without surrounding whitespace), for [`fmt::Display`].
    text: String,
    /// The canonical name, or the canonical prefix when `glob`.
    name: String,
    glob: bool,
    req: Option<VersionReq>,
}

impl VersionRule {
    /// Reads a rule: `serde`, `acme-*`, `openssl@<0.10.55`, `time@>=0.3, <0.3.36`.
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(PolicyError::Empty);
        }
        let (name_part, req_part) = match text.split_once('@') {
            Some((name, req)) => (name.trim(), Some(req.trim())),
            None => (text, None),
        };
        if name_part.is_empty() {
            return Err(PolicyError::NoName(text.to_owned()));
        }
        let (name, glob) = parse_rule_name(text, name_part)?;
        let req = req_part
            .map(|req| parse_rule_requirement(text, req))
            .transpose()?;
        Ok(Self {
            text: text.to_owned(),
            name,
            glob,
            req,
        })
    }

    /// Whether the rule covers version `version` of crate `name`.
    ///
    /// Pre-releases count by their place in semver order: `openssl@<0.10.55` covers
    /// `0.10.54-rc.1`, which cargo's requirement matching alone would leave out.
    pub fn matches(&self, name: &str, version: &Version) -> bool {
        self.matches_canonical(&canonical_name(name), version)
    }

    /// Whether the rule's name part covers crate `name`, whatever the version.
    pub fn matches_name(&self, name: &str) -> bool {
        self.name_matches_canonical(&canonical_name(name))
    }

    fn matches_canonical(&self, canonical: &str, version: &Version) -> bool {
        self.name_matches_canonical(canonical)
            && self.req.as_ref().is_none_or(|req| req_covers(req, version))
    }

    fn name_matches_canonical(&self, canonical: &str) -> bool {
        if self.glob {
            canonical.starts_with(&self.name)
        } else {
            canonical == self.name
        }
    }
}

/// The canonical name (or prefix) of a rule, and whether it ends in `*`.
fn parse_rule_name(rule: &str, name: &str) -> Result<(String, bool), PolicyError> {
    let (stem, glob) = match name.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (name, false),
    };
    if stem.contains('*') {
        return Err(PolicyError::MisplacedGlob(rule.to_owned()));
    }
    // `*` alone is a prefix glob over every crate.
    if !(glob && stem.is_empty()) {
        validate_dependency_name(stem, false).map_err(|source| PolicyError::BadName {
            rule: rule.to_owned(),
            source,
        })?;
    }
    Ok((canonical_name(stem), glob))
}

fn parse_rule_requirement(rule: &str, req: &str) -> Result<VersionReq, PolicyError> {
    if req.is_empty() {
        return Err(PolicyError::NoRequirement(rule.to_owned()));
    }
    VersionReq::parse(req).map_err(|e| PolicyError::BadRequirement {
        rule: rule.to_owned(),
        reason: e.to_string(),
    })
}

/// Whether `version` lies in the range `req` describes, pre-releases included.
///
/// semver (like cargo) lets a pre-release match only when some comparator names
/// its own `major.minor.patch` with a pre-release. A policy is about ranges, so a
/// comparator that the version meets trivially (`>=` itself) lifts that gate and
/// leaves only the range test.
fn req_covers(req: &VersionReq, version: &Version) -> bool {
    if version.pre.is_empty() {
        return req.matches(version);
    }
    let mut widened = req.clone();
    widened.comparators.push(Comparator {
        op: Op::GreaterEq,
        major: version.major,
        minor: Some(version.minor),
        patch: Some(version.patch),
        pre: version.pre.clone(),
    });
    widened.matches(version)
}

impl fmt::Display for VersionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for VersionRule {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for VersionRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for VersionRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Which upstream versions a proxy offers.
///
/// A version comes in when some `allow` rule covers it (or `allow` is empty), no
/// `deny` rule covers it, and it was published at least `min_age_secs` ago.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamPolicy {
    /// Only versions these rules cover come in; empty admits every crate.
    pub allow: Vec<VersionRule>,
    /// Versions these rules cover never come in, whatever `allow` says.
    pub deny: Vec<VersionRule>,
    /// Versions younger than this many seconds (by `pubtime`) wait; 0 (or less) turns this off.
    pub min_age_secs: i64,
}

impl UpstreamPolicy {
    /// Whether version `version` of crate `name`, published at Unix time `pubtime`,
    /// comes in at Unix time `now`.
    ///
    /// A version without `pubtime` (crates.io wrote none before 2025) counts as old enough.
    pub fn admits(&self, name: &str, version: &Version, pubtime: Option<i64>, now: i64) -> bool {
        let canonical = canonical_name(name);
        let allowed = self.allow.is_empty()
            || self
                .allow
                .iter()
                .any(|rule| rule.matches_canonical(&canonical, version));
        let denied = self
            .deny
            .iter()
            .any(|rule| rule.matches_canonical(&canonical, version));
        allowed && !denied && self.old_enough(pubtime, now)
    }

    /// Why no version of `name` can come in, whatever the upstream holds: a `deny`
    /// rule without a version requirement covers the name, or `allow` has rules and
    /// none names it. `None` when some version might come in.
    pub fn refuses_name(&self, name: &str) -> Option<String> {
        let canonical = canonical_name(name);
        if let Some(rule) = self
            .deny
            .iter()
            .find(|rule| rule.req.is_none() && rule.name_matches_canonical(&canonical))
        {
            return Some(format!("`deny` has `{rule}`"));
        }
        let allowed = self.allow.is_empty()
            || self
                .allow
                .iter()
                .any(|rule| rule.name_matches_canonical(&canonical));
        (!allowed).then(|| "no `allow` rule names it".to_owned())
    }

    /// The policy's settings as a user wrote them, for messages:
    /// `deny = [openssl@<0.10.55], min-age-days = 7`.
    pub fn summary(&self) -> String {
        let rules = |key: &str, rules: &[VersionRule]| {
            let texts: Vec<&str> = rules.iter().map(|rule| rule.text.as_str()).collect();
            format!("{key} = [{}]", texts.join(", "))
        };
        let mut parts = Vec::new();
        if !self.allow.is_empty() {
            parts.push(rules("allow", &self.allow));
        }
        if !self.deny.is_empty() {
            parts.push(rules("deny", &self.deny));
        }
        if self.has_min_age() {
            // Whole days, as `min-age-days` is written; a part of a day shows as one more.
            parts.push(format!(
                "min-age-days = {}",
                self.min_age_secs.saturating_add(86_399) / 86_400
            ));
        }
        parts.join(", ")
    }

    /// Whether the policy admits every version: no rules and no minimum age.
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty() && !self.has_min_age()
    }

    fn has_min_age(&self) -> bool {
        self.min_age_secs > 0
    }

    fn old_enough(&self, pubtime: Option<i64>, now: i64) -> bool {
        match pubtime {
            Some(published) if self.has_min_age() => {
                now.saturating_sub(published) >= self.min_age_secs
            }
            _ => true,
        }
    }
}

/// Reads an index `pubtime` as Unix seconds: RFC 3339, as [`crate::index::format_pubtime`]
/// writes it (`2025-07-21T12:34:56Z`).
///
/// Fractional seconds are accepted and dropped, and a numeric offset
/// (`+02:00`) is applied; anything else gives `None`.
pub fn parse_pubtime(s: &str) -> Option<i64> {
    let bytes = s.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20
        || separators.iter().any(|&(at, sep)| bytes[at] != sep)
        || !matches!(bytes[10], b'T' | b't')
    {
        return None;
    }
    let field = |from: usize, to: usize| digits(s.get(from..to)?);
    let small = |from: usize, to: usize| u8::try_from(field(from, to)?).ok();
    let year = i32::try_from(field(0, 4)?).ok()?;
    let month = time::Month::try_from(small(5, 7)?).ok()?;
    let (day, hour) = (small(8, 10)?, small(11, 13)?);
    let (minute, second) = (small(14, 16)?, small(17, 19)?);
    let offset = utc_offset_seconds(skip_fraction(s.get(19..)?)?)?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    let utc = time::PrimitiveDateTime::new(date, time).assume_utc();
    Some(utc.unix_timestamp() - offset)
}

/// A field of ASCII digits only (`u32::from_str` would also take a sign).
fn digits(field: &str) -> Option<u32> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

/// What follows the seconds once a `.` and its digits, if any, are skipped.
fn skip_fraction(rest: &str) -> Option<&str> {
    let Some(fraction) = rest.strip_prefix('.') else {
        return Some(rest);
    };
    let end = fraction
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(fraction.len());
    (end > 0).then(|| &fraction[end..])
}

/// The offset from UTC in seconds: `Z`, or `+HH:MM` / `-HH:MM`.
fn utc_offset_seconds(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let bytes = zone.as_bytes();
    if bytes.len() != 6 || bytes[3] != b':' {
        return None;
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = (digits(zone.get(1..3)?)?, digits(zone.get(4..6)?)?);
    (hours <= 23 && minutes <= 59).then(|| sign * i64::from(hours * 3600 + minutes * 60))
}

/// An upstream index file with the versions a policy holds back taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// The lines kept, byte for byte, each followed by `\n`.
    pub content: String,
    /// How many lines were kept.
    pub kept: usize,
    /// How many lines were taken out: held back by the policy, or unreadable.
    pub dropped: usize,
}

/// The fields of an index line a policy looks at; the rest is skipped unread.
#[derive(Deserialize)]
struct LineHead<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    vers: Cow<'a, str>,
    #[serde(default, borrow)]
    pubtime: Option<Cow<'a, str>>,
}

/// Keeps the lines of a sparse index file whose version `policy` admits at `now`.
///
/// Blank lines go silently. A line that is not JSON with `name` and a semver
/// `vers` is dropped and counted, as is one whose `pubtime` cannot be read while
/// the policy has a minimum age. An open policy returns the file unchanged
/// without reading it.
pub fn filter_index_file(content: &str, policy: &UpstreamPolicy, now: i64) -> Filtered {
    if policy.is_open() {
        return Filtered {
            content: content.to_owned(),
            kept: content.split('\n').filter(|l| !is_blank(l)).count(),
            dropped: 0,
        };
    }
    let mut filtered = Filtered {
        content: String::with_capacity(content.len()),
        kept: 0,
        dropped: 0,
    };
    for line in content.split('\n').filter(|l| !is_blank(l)) {
        if line_admitted(line, policy, now) == Some(true) {
            filtered.content.push_str(line);
            filtered.content.push('\n');
            filtered.kept += 1;
        } else {
            filtered.dropped += 1;
        }
    }
    filtered
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Whether the policy admits the line's version; `None` when the line cannot be read.
fn line_admitted(line: &str, policy: &UpstreamPolicy, now: i64) -> Option<bool> {
    let head: LineHead<'_> = serde_json::from_str(line).ok()?;
    let version = Version::parse(&head.vers).ok()?;
    let pubtime = match head.pubtime.as_deref() {
        Some(text) if policy.has_min_age() => Some(parse_pubtime(text)?),
        _ => None,
    };
    Some(policy.admits(&head.name, &version, pubtime, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::format_pubtime;

    const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";
    const DAY: i64 = 86_400;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn rule(text: &str) -> VersionRule {
        VersionRule::parse(text).unwrap()
    }

    fn rules(texts: &[&str]) -> Vec<VersionRule> {
        texts.iter().map(|t| rule(t)).collect()
    }

    #[test]
    fn a_name_is_refused_by_a_deny_rule_without_versions_or_by_an_allow_list_that_misses_it() {
        let policy = UpstreamPolicy {
            allow: rules(&["serde*", "tokio", "acme-core"]),
            deny: rules(&["acme-*", "serde_json@<1"]),
            min_age_secs: 0,
        };
        assert_eq!(
            policy.refuses_name("Acme_Core").as_deref(),
            Some("`deny` has `acme-*`")
        );
        assert_eq!(
            policy.refuses_name("rand").as_deref(),
            Some("no `allow` rule names it")
        );
        // Only some versions are denied: the name itself may come in.
        assert_eq!(policy.refuses_name("serde_json"), None);
        assert_eq!(policy.refuses_name("tokio"), None);
        assert_eq!(UpstreamPolicy::default().refuses_name("anything"), None);
    }

    #[test]
    fn a_policy_summary_reads_like_the_configuration() {
        let policy = UpstreamPolicy {
            allow: Vec::new(),
            deny: rules(&["openssl@<0.10.55", "leftpad-*"]),
            min_age_secs: 7 * DAY,
        };
        assert_eq!(
            policy.summary(),
            "deny = [openssl@<0.10.55, leftpad-*], min-age-days = 7"
        );
        assert_eq!(UpstreamPolicy::default().summary(), "");
    }

    #[test]
    fn crates_io_template_without_markers_gets_the_classic_path() {
        assert_eq!(
            download_url("https://static.crates.io/crates", "serde", "1.0.0", "ab"),
            "https://static.crates.io/crates/serde/1.0.0/download"
        );
    }

    #[test]
    fn every_marker_is_replaced() {
        let template = "https://dl.example/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}";
        assert_eq!(
            download_url(template, "Serde", "1.0.0+b.1", "c0ffee"),
            "https://dl.example/Se/rd/se/rd/Serde/Serde-1.0.0+b.1.crate?sum=c0ffee"
        );
    }

    #[test]
    fn prefixes_follow_the_index_layout_in_the_names_case() {
        let url = |name| download_url("{prefix} {lowerprefix}", name, "1.0.0", "");
        assert_eq!(url("a"), "1 1");
        assert_eq!(url("ab"), "2 2");
        assert_eq!(url("Abc"), "3/A 3/a");
        assert_eq!(url("serde"), "se/rd se/rd");
        assert_eq!(url("MainPkg"), "Ma/in ma/in");
    }

    #[test]
    fn a_single_marker_is_enough_to_turn_off_the_appended_path() {
        assert_eq!(
            download_url("https://dl.example/{sha256-checksum}", "a", "1.0.0", "ff"),
            "https://dl.example/ff"
        );
    }

    #[test]
    fn lowerprefix_agrees_with_the_index_path() {
        for name in ["a", "ab", "Abc", "MainPkg", "serde_json"] {
            let lower = download_url("{lowerprefix}/{crate}", name, "1.0.0", "");
            assert_eq!(
                lower.to_ascii_lowercase(),
                crate::name::index_path(name),
                "{name}"
            );
        }
    }

    #[test]
    fn lockfile_v1_takes_checksums_from_metadata() {
        // Also holds a git dependency, which is not the registry's.
        let lock = include_str!("testdata/lockfile-v1.lock");
        assert_eq!(
            registry_packages(lock).unwrap(),
            [
                LockedPackage {
                    name: "serde".into(),
                    version: "1.0.0".into(),
                    source: CRATES_IO.into(),
                    checksum: Some("aa".repeat(32)),
                },
                LockedPackage {
                    name: "old".into(),
                    version: "0.2.0".into(),
                    source: CRATES_IO.into(),
                    checksum: None,
                },
            ]
        );
    }

    #[test]
    fn lockfile_v3_and_v4_take_checksums_per_package() {
        for version in [3, 4] {
            let lock = format!(
                r#"# This file is automatically @generated by Cargo.
version = {version}

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["libc", "mine"]

[[package]]
name = "libc"
version = "0.2.170"
source = "{CRATES_IO}"
checksum = "{sum}"

[[package]]
name = "mine"
version = "1.0.0"
source = "sparse+https://cargohold.example/api/v1/index/"
checksum = "{sum}"
"#,
                sum = "bb".repeat(32)
            );
            let packages = registry_packages(&lock).unwrap();
            let names: Vec<_> = packages
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
                .collect();
            assert_eq!(names, [("libc", "0.2.170"), ("mine", "1.0.0")]);
            assert!(packages.iter().all(|p| p.checksum == Some("bb".repeat(32))));
            assert_eq!(
                packages[1].source,
                "sparse+https://cargohold.example/api/v1/index/"
            );
        }
    }

    #[test]
    fn git_and_path_packages_are_skipped() {
        let lock = r#"
version = 4

[[package]]
name = "from-git"
version = "0.1.0"
source = "git+https://github.com/a/b?branch=main#0123456789abcdef"

[[package]]
name = "local"
version = "0.1.0"

[[package]]
name = "from-path"
version = "0.1.0"
source = "path+file:///src/from-path"
"#;
        assert_eq!(registry_packages(lock).unwrap(), []);
        assert_eq!(registry_packages("").unwrap(), []);
    }

    #[test]
    fn invalid_lockfiles_are_errors() {
        let err = registry_packages("version = 4\n[[package]\nname = 1").unwrap_err();
        assert!(
            matches!(&err, LockfileError::Syntax(m) if m.starts_with("line 2:")),
            "{err}"
        );
        assert!(matches!(
            registry_packages("[[package]]\nname = \"a\"\n"),
            Err(LockfileError::Syntax(m)) if m.contains("version")
        ));
        assert_eq!(
            registry_packages("version = 5\n"),
            Err(LockfileError::UnsupportedVersion(5))
        );
    }

    #[test]
    fn exact_names_match_in_canonical_form() {
        let r = rule("Serde-Json");
        for name in ["serde_json", "SERDE-JSON", "serde-json"] {
            assert!(r.matches_name(name), "{name}");
            assert!(r.matches(name, &v("1.0.0")), "{name}");
        }
        assert!(!r.matches_name("serde_json5"));
        assert!(!r.matches_name("serde"));
    }

    #[test]
    fn globs_match_canonical_prefixes() {
        let r = rule("acme-*");
        assert!(r.matches_name("acme-core"));
        assert!(r.matches_name("Acme_Util"));
        assert!(r.matches_name("acme_"));
        assert!(!r.matches_name("acme"));
        assert!(!r.matches_name("acmecorp"));
        assert!(rule("serde*").matches_name("serde"));
        assert!(rule("serde*").matches_name("serde_derive"));
        assert!(rule("*").matches_name("anything"));
    }

    #[test]
    fn version_requirements_limit_the_versions() {
        let r = rule("openssl@<0.10.55");
        assert!(r.matches_name("openssl"));
        assert!(r.matches("openssl", &v("0.10.54")));
        assert!(r.matches("openssl", &v("0.10.54-rc.1")));
        assert!(!r.matches("openssl", &v("0.10.55")));
        assert!(!r.matches("openssl-sys", &v("0.9.0")));

        let r = rule("time@>=0.3, <0.3.36");
        assert!(r.matches("time", &v("0.3.0")));
        assert!(r.matches("time", &v("0.3.35")));
        assert!(!r.matches("time", &v("0.3.36")));
        assert!(!r.matches("time", &v("0.2.27")));
        assert!(!r.matches("time", &v("0.3.0-alpha.1")));
    }

    #[test]
    fn rules_display_and_serialize_as_written() {
        for text in ["serde", "acme-*", "openssl@<0.10.55", "time@>=0.3, <0.3.36"] {
            let r = rule(text);
            assert_eq!(r.to_string(), text);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{text}\""));
            let back: VersionRule = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(back, r);
        }
        let policy: UpstreamPolicy = toml::from_str(
            "deny = [\"openssl@<0.10.55\"]\nallow = [\"serde*\"]\nmin_age_secs = 60",
        )
        .unwrap();
        assert_eq!(policy.deny, rules(&["openssl@<0.10.55"]));
        assert_eq!(policy.min_age_secs, 60);
        assert_eq!(
            toml::from_str::<UpstreamPolicy>("").unwrap(),
            UpstreamPolicy::default()
        );
        let err = toml::from_str::<UpstreamPolicy>("deny = [\"open*ssl\"]").unwrap_err();
        assert!(err.message().contains("`*` may only end a prefix"), "{err}");
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        assert_eq!(VersionRule::parse("  "), Err(PolicyError::Empty));
        assert!(matches!(
            VersionRule::parse("@1"),
            Err(PolicyError::NoName(_))
        ));
        assert!(matches!(
            VersionRule::parse("a*b"),
            Err(PolicyError::MisplacedGlob(_))
        ));
        assert!(matches!(
            VersionRule::parse("serde@"),
            Err(PolicyError::NoRequirement(_))
        ));
        assert!(matches!(
            VersionRule::parse("serde@not a version"),
            Err(PolicyError::BadRequirement { .. })
        ));
        assert!(matches!(
            VersionRule::parse("ser.de"),
            Err(PolicyError::BadName {
                source: CrateNameError::BadCharacter { ch: '.', .. },
                ..
            })
        ));
        assert!(matches!(
            VersionRule::parse("1abc*"),
            Err(PolicyError::BadName { .. })
        ));
    }

    #[test]
    fn allow_lists_limit_and_deny_beats_allow() {
        let policy = UpstreamPolicy {
            allow: rules(&["serde*", "openssl"]),
            deny: rules(&["openssl@<0.10.55", "serde_yaml"]),
            min_age_secs: 0,
        };
        assert!(!policy.is_open());
        assert!(policy.admits("serde", &v("1.0.0"), None, 0));
        assert!(policy.admits("openssl", &v("0.10.55"), None, 0));
        assert!(!policy.admits("openssl", &v("0.10.54"), None, 0));
        assert!(!policy.admits("Serde-Yaml", &v("0.9.0"), None, 0));
        assert!(!policy.admits("tokio", &v("1.0.0"), None, 0));

        let deny_only = UpstreamPolicy {
            deny: rules(&["openssl@<0.10.55"]),
            ..UpstreamPolicy::default()
        };
        assert!(deny_only.admits("tokio", &v("1.0.0"), None, 0));
        assert!(!deny_only.admits("openssl", &v("0.10.0"), None, 0));
    }

    #[test]
    fn minimum_age_holds_back_young_versions_but_not_those_without_pubtime() {
        let policy = UpstreamPolicy {
            min_age_secs: 7 * DAY,
            ..UpstreamPolicy::default()
        };
        let now = 1_760_000_000;
        assert!(!policy.is_open());
        assert!(policy.admits("a", &v("1.0.0"), Some(now - 7 * DAY), now));
        assert!(!policy.admits("a", &v("1.0.0"), Some(now - 7 * DAY + 1), now));
        assert!(!policy.admits("a", &v("1.0.0"), Some(now + DAY), now));
        assert!(policy.admits("a", &v("1.0.0"), None, now));
        assert!(UpstreamPolicy::default().admits("a", &v("1.0.0"), Some(now), now));
        assert!(UpstreamPolicy::default().is_open());
    }

    #[test]
    fn pubtimes_read_back_what_format_pubtime_writes() {
        for t in [0, 1_760_196_772, 951_782_400] {
            assert_eq!(parse_pubtime(&format_pubtime(t)), Some(t));
        }
        assert_eq!(
            parse_pubtime("2025-10-11T15:32:52.123456Z"),
            Some(1_760_196_772)
        );
        assert_eq!(parse_pubtime("2025-10-11t15:32:52z"), Some(1_760_196_772));
        assert_eq!(
            parse_pubtime("2025-10-11T17:32:52+02:00"),
            Some(1_760_196_772)
        );
        assert_eq!(
            parse_pubtime("2025-10-11T14:32:52.5-01:00"),
            Some(1_760_196_772)
        );
        for bad in [
            "",
            "2025-10-11",
            "2025-10-11 15:32:52Z",
            "2025-10-11T15:32:52",
            "2025-13-11T15:32:52Z",
            "2025-02-30T15:32:52Z",
            "2025-10-11T24:00:00Z",
            "2025-10-11T15:32:52.Z",
            "2025-10-11T15:32:52+2:00",
            "2025-10-11T15:32:52+02:0",
            "+025-10-11T15:32:52Z",
            "2025-10-11T15:32:52Zjunk",
            "2025-10-11T15:32:5\u{e9}Z",
        ] {
            assert_eq!(parse_pubtime(bad), None, "{bad}");
        }
    }

    fn line(name: &str, vers: &str, pubtime: Option<i64>) -> String {
        let pubtime = pubtime
            .map(|t| format!(",\"pubtime\":\"{}\"", format_pubtime(t)))
            .unwrap_or_default();
        format!(
            r#"{{"name":"{name}","vers":"{vers}","deps":[{{"name":"x","req":"^1"}}],"cksum":"00","features":{{"a":["b"]}},"yanked":false{pubtime}}}"#
        )
    }

    #[test]
    fn filtering_keeps_admitted_lines_byte_for_byte() {
        let now = 1_760_000_000;
        let old = line("openssl", "0.10.55", Some(now - 30 * DAY));
        let young = line("openssl", "0.10.57", Some(now - DAY));
        let undated = line("openssl", "0.10.60", None);
        let denied = line("openssl", "0.10.54", Some(now - 60 * DAY));
        let spaced =
            "  {\"vers\" : \"0.10.56\", \"name\":\"openssl\", \"extra\": {\"a\": [1, null]}}\t";
        let content = format!(
            "{undated}\n{denied}\n\n{old}\n{young}\nnot json\n{{\"name\":\"openssl\",\"vers\":\"1.0\"}}\n{{\"vers\":\"1.0.0\"}}\n{spaced}\r\n"
        );
        let policy = UpstreamPolicy {
            deny: rules(&["openssl@<0.10.55"]),
            min_age_secs: 7 * DAY,
            ..UpstreamPolicy::default()
        };
        let filtered = filter_index_file(&content, &policy, now);
        assert_eq!(filtered.content, format!("{undated}\n{old}\n{spaced}\r\n"));
        assert_eq!(filtered.kept, 3);
        assert_eq!(filtered.dropped, 5);
    }

    #[test]
    fn unreadable_pubtimes_are_dropped_only_when_age_matters() {
        let content = "{\"name\":\"a\",\"vers\":\"1.0.0\",\"pubtime\":\"yesterday\"}\n";
        let with_age = UpstreamPolicy {
            min_age_secs: 1,
            ..UpstreamPolicy::default()
        };
        assert_eq!(filter_index_file(content, &with_age, 0).dropped, 1);
        let deny_other = UpstreamPolicy {
            deny: rules(&["b"]),
            ..UpstreamPolicy::default()
        };
        let filtered = filter_index_file(content, &deny_other, 0);
        assert_eq!((filtered.content.as_str(), filtered.kept), (content, 1));
    }

    #[test]
    fn escaped_strings_in_lines_are_still_read() {
        let content = "{\"name\":\"\\u0061\",\"vers\":\"1.0.0\"}";
        let policy = UpstreamPolicy {
            deny: rules(&["a"]),
            ..UpstreamPolicy::default()
        };
        let filtered = filter_index_file(content, &policy, 0);
        assert_eq!((filtered.kept, filtered.dropped), (0, 1));
    }

    #[test]
    fn open_policies_return_the_file_unchanged() {
        let content = "{not even json}\n\n{\"name\":\"a\"}";
        let filtered = filter_index_file(content, &UpstreamPolicy::default(), 0);
        assert_eq!(filtered.content, content);
        assert_eq!((filtered.kept, filtered.dropped), (2, 0));
    }
}
