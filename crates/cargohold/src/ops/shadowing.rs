//! New crate names that would hide an upstream crate behind a virtual registry.
//!
//! A virtual registry serves a name entirely from its first member that has it,
//! and local members come first. So a new crate in a local member under a name a
//! later proxy member serves takes that name away from the upstream for everyone
//! using the virtual registry: their lockfiles stop resolving, or worse, resolve to
//! the local crate while recording it as the upstream's. Such a name is refused
//! unless an administrator of the local registry publishes it, on purpose.

use std::sync::Arc;

use cargohold_protocol::CrateName;
use serde::Serialize;

use crate::access::{self, Role};
use crate::app::{App, Registry};
use crate::auth::Actor;
use crate::error::{AppError, AppResult};
use crate::index::cache::Cached;
use crate::proxy;

/// With more `-`/`_` than this, only the name as given and its uniform spellings
/// are asked about upstream (every mix would be 2^n requests).
const MAX_SEPARATORS_FOR_EVERY_SPELLING: usize = 4;

/// An upstream crate that a new local crate hides from a virtual registry's users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hidden {
    /// The virtual registry whose users get the local crate instead.
    #[serde(rename = "virtual")]
    pub virtual_registry: String,
    /// Its proxy member that serves the upstream crate.
    pub proxy: String,
    /// The upstream's index, as shown to users.
    pub upstream: String,
    /// The name as the upstream spells it (lowercase).
    pub name: String,
}

/// Checks a new crate `name` in `registry` against the proxies of every virtual
/// registry `registry` belongs to: 403 when it would hide an upstream crate and
/// `actor` is not an administrator of `registry`; otherwise the upstream crates it
/// hides (none, usually), for the publish to warn about and audit.
pub async fn check_new_name(
    app: &App,
    registry: &Registry,
    actor: &Actor,
    name: &CrateName,
) -> AppResult<Vec<Hidden>> {
    let hidden = hidden_by(app, registry, name).await?;
    if hidden.is_empty() {
        return Ok(hidden);
    }
    let role = access::role_in(app.db.read(), registry, actor).await?;
    if role < Some(Role::Admin) {
        let err = AppError::Forbidden(format!(
            "`{name}` is already a crate on {upstreams}, and {virtuals} {serves} each name from the first \
             member that has it, `{local}` before {proxies}: a crate `{name}` in `{local}` would replace \
             the upstream one for everyone using {virtuals}, and their builds would get it instead. Choose \
             another name; an administrator of `{local}` can publish it on purpose to replace the upstream \
             crate for everyone using {virtuals}",
            upstreams = upstreams(name, &hidden),
            virtuals = virtuals(&hidden),
            serves = if distinct(&hidden, |h| &h.virtual_registry).len() == 1 {
                "serves"
            } else {
                "serve"
            },
            local = registry.name,
            proxies = list(&distinct(&hidden, |h| &h.proxy)),
        ));
        actor.log_refusal(&err, Some(&registry.name));
        return Err(err);
    }
    tracing::warn!(
        krate.name = %name,
        registry = %registry.name,
        user.login = %actor.login,
        hidden = ?hidden,
        "an administrator publishes `{name}` in `{}`, hiding the upstream crate of that name from {}",
        registry.name,
        virtuals(&hidden),
    );
    Ok(hidden)
}

/// The warning cargo shows an administrator whose publish hides upstream crates.
pub fn warning(name: &CrateName, registry: &Registry, hidden: &[Hidden]) -> String {
    format!(
        "`{name}` in `{local}` now hides the crate of that name on {upstreams} from everyone using {virtuals}: \
         they get this crate instead, and lockfiles that recorded the upstream one no longer resolve",
        local = registry.name,
        upstreams = upstreams(name, hidden),
        virtuals = virtuals(hidden),
    )
}

/// The upstream crates a new crate `name` in `registry` would hide, for each
/// virtual registry that has `registry` as a member and proxies after it.
async fn hidden_by(app: &App, registry: &Registry, name: &CrateName) -> AppResult<Vec<Hidden>> {
    let mut virtuals: Vec<&Arc<Registry>> = app
        .registries()
        .filter(|r| {
            r.members.as_ref().is_some_and(|members| {
                !members.proxies.is_empty() && members.locals.iter().any(|l| l.id == registry.id)
            })
        })
        .collect();
    if virtuals.is_empty() {
        return Ok(Vec::new());
    }
    virtuals.sort_by(|a, b| a.name.cmp(&b.name));
    // Each proxy is asked once, however many of these virtual registries share it.
    let mut proxies: Vec<&Arc<Registry>> = Vec::new();
    for member in virtuals
        .iter()
        .filter_map(|v| v.members.as_ref())
        .flat_map(|m| &m.proxies)
    {
        if !proxies.iter().any(|p| p.id == member.id) {
            proxies.push(member);
        }
    }
    let spellings = spellings(&name.lowercase());
    let found = futures::future::try_join_all(
        proxies
            .iter()
            .map(|member| upstream_spelling(app, registry, member, name, &spellings)),
    )
    .await?;
    let mut hidden = Vec::new();
    for virtual_registry in &virtuals {
        let Some(members) = &virtual_registry.members else {
            continue;
        };
        for member in &members.proxies {
            let spelling = proxies
                .iter()
                .zip(&found)
                .find_map(|(p, spelling)| (p.id == member.id).then_some(spelling.as_ref()))
                .flatten();
            if let (Some(spelling), Some(proxy)) = (spelling, &member.proxy) {
                hidden.push(Hidden {
                    virtual_registry: virtual_registry.name.clone(),
                    proxy: member.name.clone(),
                    upstream: proxy.upstream.shown_url(),
                    name: spelling.clone(),
                });
            }
        }
    }
    Ok(hidden)
}

/// The spelling under which the proxy `member` serves a crate named like `name`,
/// if it serves one. This is the proxy's own index lookup, so its cache, its stored
/// copies (when the upstream is down) and its imported versions all count.
async fn upstream_spelling(
    app: &App,
    registry: &Registry,
    member: &Registry,
    name: &CrateName,
    spellings: &[String],
) -> AppResult<Option<String>> {
    let Some(proxy) = &member.proxy else {
        return Ok(None);
    };
    // A name the policy refuses whatever its versions is never served through the
    // virtual registry, so a local crate of that name hides nothing from anyone;
    // keeping internal names out this way (`deny = ["acme-*"]`) is what the rule
    // is for. It is not asked about upstream either: such names stay in the building.
    if proxy.policy.refuses_name(name.as_str()).is_some() {
        return Ok(None);
    }
    let answers = futures::future::join_all(
        spellings
            .iter()
            .map(|spelling| proxy::index_file(app, member, proxy, spelling)),
    )
    .await;
    let mut unknown = None;
    for (spelling, answer) in spellings.iter().zip(answers) {
        match answer {
            Ok(Cached::File(_)) => return Ok(Some(spelling.clone())),
            // The upstream has the crate, but the policy admits none of its versions
            // now (too young for `min-age-days`, or denied by version). Such refusals
            // lift with time or a change of policy, and the upstream crate would then
            // be hidden: it counts as there.
            Ok(Cached::Refused { .. }) => return Ok(Some(spelling.clone())),
            Ok(Cached::Missing { .. }) => {}
            // The upstream did not answer and the proxy knows nothing of the name.
            Err(AppError::BadGateway(why)) => unknown = Some(why),
            Err(err) => return Err(err),
        }
    }
    if let Some(why) = unknown {
        // An installation without a reachable upstream (air-gapped) must still take
        // new internal crates; the operator learns which names went unchecked.
        tracing::warn!(
            krate.name = %name,
            registry = %registry.name,
            proxy = %member.name,
            error = %why,
            "could not tell whether the upstream of `{}` has a crate named `{name}`; publishing it in `{}` \
             unchecked, and if the upstream has one, it is hidden behind the virtual registries over both",
            member.name,
            registry.name,
        );
    }
    Ok(None)
}

/// `name` lowercase, then its other `-`/`_` spellings: every mix for names with
/// few separators, otherwise only all-`-` and all-`_`. Upstream registries keep
/// one crate per canonical name, but index files are found by their exact spelling.
fn spellings(lowercase: &str) -> Vec<String> {
    let separators: Vec<usize> = lowercase
        .char_indices()
        .filter(|(_, c)| matches!(c, '-' | '_'))
        .map(|(i, _)| i)
        .collect();
    let mut all = vec![lowercase.to_owned()];
    let mut add = |spelling: String| {
        if !all.contains(&spelling) {
            all.push(spelling);
        }
    };
    if separators.len() <= MAX_SEPARATORS_FOR_EVERY_SPELLING {
        for mask in 0u32..(1 << separators.len()) {
            let mut bytes = lowercase.as_bytes().to_vec();
            for (bit, &at) in separators.iter().enumerate() {
                bytes[at] = if mask & (1 << bit) == 0 { b'-' } else { b'_' };
            }
            add(String::from_utf8(bytes).expect("only ASCII separators were swapped"));
        }
    } else {
        add(lowercase.replace('_', "-"));
        add(lowercase.replace('-', "_"));
    }
    all
}

/// The distinct values of `field` in `hidden`, in order.
fn distinct<'h>(hidden: &'h [Hidden], field: impl Fn(&'h Hidden) -> &'h String) -> Vec<&'h str> {
    let mut seen: Vec<&str> = Vec::new();
    for value in hidden.iter().map(field) {
        if !seen.contains(&value.as_str()) {
            seen.push(value);
        }
    }
    seen
}

/// `` `a` ``, `` `a` and `b` ``, `` `a`, `b` and `c` ``.
fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The virtual registries of `hidden`, as a list.
fn virtuals(hidden: &[Hidden]) -> String {
    list(&distinct(hidden, |h| &h.virtual_registry))
}

/// Where the upstream crates are: `https://index.crates.io/ (through `crates-io-cache`)`,
/// with the upstream's spelling when it differs from `name`'s.
fn upstreams(name: &CrateName, hidden: &[Hidden]) -> String {
    let mut places: Vec<String> = Vec::new();
    for h in hidden {
        let spelled = if h.name == name.lowercase() {
            String::new()
        } else {
            format!(" as `{}`", h.name)
        };
        let place = format!("{}{spelled} (through `{}`)", h.upstream, h.proxy);
        if !places.contains(&place) {
            places.push(place);
        }
    }
    match places.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The upstream crates a new crate `name` in `registry` would hide (none, usually),
/// asked about as for a publish, for a caller that decides for itself what to do
/// about them (an import skips such files unless told otherwise).
pub async fn would_hide(
    app: &App,
    registry: &Registry,
    name: &CrateName,
) -> AppResult<Vec<Hidden>> {
    hidden_by(app, registry, name).await
}

/// Why an import into `registry` skips a `.crate` of the new crate `name`, which
/// would hide `hidden` (not empty), and where it belongs instead.
pub fn import_refusal(name: &CrateName, registry: &Registry, hidden: &[Hidden]) -> String {
    let proxies = distinct(hidden, |h| &h.proxy);
    format!(
        "`{name}` is already a crate on {upstreams}: imported into `{local}`, it would hide that crate from \
         everyone using {virtuals}, which {serves} each name from the first member that has it, `{local}` \
         before {proxy_list}, so only the versions imported here would remain to them. A `.crate` of the \
         upstream (such as those of a ~/.cargo/registry/cache folder) belongs in the proxy: `cargohold \
         import --registry {proxy} PATH...`. An administrator of `{local}` can still publish `{name}` \
         there on purpose (`cargohold import --hide-upstream`, `cargo publish`, or an upload of the `.crate` with their token)",
        upstreams = upstreams(name, hidden),
        local = registry.name,
        virtuals = virtuals(hidden),
        serves = if distinct(hidden, |h| &h.virtual_registry).len() == 1 {
            "serves"
        } else {
            "serve"
        },
        proxy_list = list(&proxies),
        proxy = proxies.first().copied().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_name_with_few_separators_is_asked_about() {
        assert_eq!(spellings("itoa"), ["itoa"]);
        assert_eq!(spellings("serde_json"), ["serde_json", "serde-json"]);
        let three = spellings("a-b_c");
        assert_eq!(three[0], "a-b_c");
        assert_eq!(three.len(), 4);
        for expected in ["a-b-c", "a_b-c", "a-b_c", "a_b_c"] {
            assert!(three.iter().any(|s| s == expected), "{three:?}");
        }
    }

    #[test]
    fn a_name_with_many_separators_is_asked_about_as_given_and_uniformly() {
        assert_eq!(
            spellings("a-b_c-d-e-f"),
            ["a-b_c-d-e-f", "a-b-c-d-e-f", "a_b_c_d_e_f"]
        );
    }

    #[test]
    fn lists_read_as_english() {
        assert_eq!(list(&["all"]), "`all`");
        assert_eq!(list(&["a", "b"]), "`a` and `b`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
