//! READMEs as HTML: GitHub-flavoured Markdown rendered with comrak, then
//! sanitized with ammonia, so that nothing a crate author writes can run in a
//! reader's browser (no script, no event handlers, no `javascript:` links, no
//! styles or forms) while ordinary HTML in READMEs (images, tables, details) stays.
//!
//! A README's relative links and images name files beside it in the crate's
//! repository; on a crate page they would lead nowhere. As on crates.io, they are
//! pointed at the repository when it is on a forge whose file URLs are known
//! (GitHub, GitLab, Gitea and Forgejo: the public ones, and self-hosted ones
//! named in `[forges]`), and dropped otherwise. Links within the page (`#…`) stay.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ammonia::{Builder, UrlRelative, UrlRelativeEvaluate};
use comrak::Options;
use url::Url;

use crate::config::ForgeKind;

/// Every id a README may carry starts with this.
const ID_PREFIX: &str = "readme-";

/// Extensions of files a README shows rather than links to: they are served raw,
/// not in the forge's file viewer.
const MEDIA: &[&str] = &[
    "apng", "avif", "bmp", "gif", "ico", "jpeg", "jpg", "mp4", "png", "svg", "webm", "webp",
];

/// Where the relative links of a README lead: its directory in the crate's
/// repository, in the forge's file viewer (links) and raw (images).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadmeBase {
    /// `https://github.com/OWNER/REPO/blob/HEAD/`, GitLab's `…/-/blob/HEAD/`,
    /// or Gitea's `…/src/branch/HEAD/`.
    viewer: Url,
    /// The same for raw files (`raw` for `blob`, or for `src`).
    raw: Url,
    /// The README's directory below the repository root: empty, or ending in `/`.
    dir: String,
}

impl ReadmeBase {
    /// The base for a README at `readme_file` in a package that lives at
    /// `path_in_vcs` in `repository`; `None` unless the repository is on
    /// GitHub, GitLab, Codeberg or gitea.com, or on one of `forges` (by host).
    pub fn new(
        repository: &str,
        forges: &BTreeMap<String, ForgeKind>,
        path_in_vcs: Option<&str>,
        readme_file: Option<&str>,
    ) -> Option<Self> {
        let url = Url::parse(repository).ok()?;
        if !matches!(url.scheme(), "https" | "http") {
            return None;
        }
        let host = url.host_str()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let configured = forges
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&authority))
            .map(|(_, kind)| *kind);
        // A configured forge is reached the way its repository URLs say; the
        // public ones always over https, at their canonical host.
        let (origin, kind) = match configured {
            Some(kind) => (format!("{}://{authority}", url.scheme()), kind),
            None => {
                let host = host.trim_start_matches("www.");
                let kind = match host {
                    "github.com" => ForgeKind::Github,
                    "gitlab.com" => ForgeKind::Gitlab,
                    "codeberg.org" | "gitea.com" => ForgeKind::Gitea,
                    _ => return None,
                };
                (format!("https://{host}"), kind)
            }
        };
        let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
        let (project, viewer, raw) = match kind {
            // OWNER/REPO/tree/BRANCH/…: the first two name the repository.
            ForgeKind::Github if segments.len() >= 2 => (&segments[..2], "blob/HEAD", "raw/HEAD"),
            // GROUP/SUBGROUP/REPO/-/tree/…: groups nest, and `-` ends the project.
            ForgeKind::Gitlab => {
                let end = segments
                    .iter()
                    .position(|s| *s == "-")
                    .unwrap_or(segments.len());
                if end < 2 {
                    return None;
                }
                (&segments[..end], "-/blob/HEAD", "-/raw/HEAD")
            }
            // OWNER/REPO/src/branch/…; `HEAD` as the branch is the default branch.
            ForgeKind::Gitea if segments.len() >= 2 => {
                (&segments[..2], "src/branch/HEAD", "raw/branch/HEAD")
            }
            _ => return None,
        };
        let project = project.join("/");
        let project = project.strip_suffix(".git").unwrap_or(&project);
        let root = |kind: &str| Url::parse(&format!("{origin}/{project}/{kind}/")).ok();
        let readme_dir = readme_file
            .and_then(|file| file.rsplit_once('/'))
            .map(|(dir, _)| dir);
        let mut dir = String::new();
        'parts: for part in [path_in_vcs, readme_dir].into_iter().flatten() {
            for segment in part.split('/').filter(|s| !s.is_empty() && *s != ".") {
                if segment == ".." {
                    // A README from outside the package (cargo copied it in): its
                    // place in the repository is unknown, so links start at the root.
                    dir.clear();
                    break 'parts;
                }
                dir.push_str(segment);
                dir.push('/');
            }
        }
        Some(Self {
            viewer: root(viewer)?,
            raw: root(raw)?,
            dir,
        })
    }

    /// Where the README's relative `url` leads in the repository, if it stays in it.
    fn resolve(&self, url: &str) -> Option<String> {
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let is_media = path
            .rsplit_once('.')
            .is_some_and(|(_, ext)| MEDIA.contains(&ext.to_ascii_lowercase().as_str()));
        let root = if is_media { &self.raw } else { &self.viewer };
        let target = match url.strip_prefix('/') {
            // `//host/…` is not a file of the repository.
            Some(rest) if rest.starts_with('/') => return None,
            // `/docs/x.md` names a file from the repository's root.
            Some(from_root) => root.join(from_root).ok()?,
            None => root.join(&self.dir).ok()?.join(url).ok()?,
        };
        // `../../..` must not climb out of the repository.
        target
            .as_str()
            .starts_with(root.as_str())
            .then(|| target.into())
    }
}

/// What becomes of a README's relative URLs: links within the page stay, the
/// rest lead into the repository, or are dropped when there is none.
struct RelativeUrls<'b>(Option<&'b ReadmeBase>);

impl<'b> UrlRelativeEvaluate<'b> for RelativeUrls<'b> {
    fn evaluate<'u>(&self, url: &'u str) -> Option<Cow<'u, str>> {
        if url.starts_with('#') {
            return Some(Cow::Borrowed(url));
        }
        self.0?.resolve(url).map(Cow::Owned)
    }
}

/// The sanitizer for one README, its relative URLs resolved against `base`.
fn sanitizer(base: Option<&ReadmeBase>) -> Builder<'_> {
    let mut builder = Builder::default();
    builder
        .url_relative(UrlRelative::Custom(Box::new(RelativeUrls(base))))
        .link_rel(Some("nofollow noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .add_tags(["details", "summary", "input"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("span", ["class"])
        .add_generic_attributes(["align", "id"])
        // Heading anchors keep their ids; no other id may clash with the page's own.
        .attribute_filter(|_element, attribute, value| {
            if attribute == "id" && !value.starts_with(ID_PREFIX) {
                None
            } else {
                Some(value.into())
            }
        });
    builder
}

/// The README `markdown` as safe HTML, its relative links pointed into the
/// repository `base` describes (dropped without one).
pub fn render_readme(markdown: &str, base: Option<&ReadmeBase>) -> String {
    let mut options = Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    options.extension.header_id_prefix = Some(ID_PREFIX.to_owned());
    options.extension.header_id_prefix_in_href = true;
    // Raw HTML is passed through to ammonia, which keeps the harmless part.
    options.render.r#unsafe = true;
    let html = comrak::markdown_to_html(markdown, &options);
    sanitizer(base).clean(&html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html_with_github_extensions() {
        let html = render_readme(
            "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ https://example.com\n\n- [x] done\n",
            None,
        );
        assert!(html.contains("<h1"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(html.contains("checkbox"), "{html}");
    }

    #[test]
    fn scripts_event_handlers_and_javascript_links_are_removed() {
        let html = render_readme(
            "<script>alert(1)</script>\n\n<img src=\"https://example.com/x.png\" onerror=\"alert(2)\">\n\n\
             [click](javascript:alert(3)) <a href=\"javascript:alert(4)\">raw</a>\n\n\
             <iframe src=\"https://evil.example\"></iframe><style>body{display:none}</style>\n\n\
             <div onclick=\"alert(5)\" style=\"position:fixed\">x</div>",
            None,
        );
        for bad in [
            "<script",
            "alert(1)",
            "onerror",
            "javascript:",
            "<iframe",
            "<style",
            "onclick",
            "style=",
        ] {
            assert!(!html.contains(bad), "{bad} survived in {html}");
        }
        assert!(
            html.contains("<img src=\"https://example.com/x.png\""),
            "{html}"
        );
    }

    #[test]
    fn heading_anchors_point_at_their_headings_and_no_other_id_survives() {
        let html = render_readme("# Usage\n\n<p id=\"nav-logout\">x</p>", None);
        assert!(html.contains("id=\"readme-usage\""), "{html}");
        assert!(html.contains("href=\"#readme-usage\""), "{html}");
        assert!(!html.contains("nav-logout"), "{html}");
    }

    #[test]
    fn links_open_without_passing_the_reader_along() {
        let html = render_readme("[docs](https://docs.rs/x)", None);
        assert!(
            html.contains("rel=\"nofollow noopener noreferrer\""),
            "{html}"
        );
    }

    fn github(path_in_vcs: Option<&str>, readme_file: Option<&str>) -> ReadmeBase {
        ReadmeBase::new(
            "https://github.com/owner/repo",
            &BTreeMap::new(),
            path_in_vcs,
            readme_file,
        )
        .expect("a GitHub repository")
    }

    #[test]
    fn relative_links_open_in_the_repository_and_images_load_raw_from_it() {
        let base = github(Some("crates/foo"), Some("README.md"));
        let html = render_readme(
            "[guide](docs/guide.md#setup) ![logo](img/logo.PNG) <img src=\"./shot.svg\">\n\n\
             [licence](/LICENSE) [workspace](../../README.md) [out](../../../../etc/passwd)\n\n\
             [usage](#readme-usage) [docs](https://docs.rs/foo)",
            Some(&base),
        );
        let blob = "https://github.com/owner/repo/blob/HEAD/";
        let raw = "https://github.com/owner/repo/raw/HEAD/";
        for expected in [
            format!("href=\"{blob}crates/foo/docs/guide.md#setup\""),
            format!("src=\"{raw}crates/foo/img/logo.PNG\""),
            format!("src=\"{raw}crates/foo/shot.svg\""),
            format!("href=\"{blob}LICENSE\""),
            format!("href=\"{blob}README.md\""),
            "href=\"#readme-usage\"".to_owned(),
            "href=\"https://docs.rs/foo\"".to_owned(),
        ] {
            assert!(html.contains(&expected), "{expected} missing from {html}");
        }
        // Climbing out of the repository keeps the text and loses the link.
        assert!(html.contains(">out</a>"), "{html}");
        assert!(!html.contains("passwd"), "{html}");
    }

    #[test]
    fn a_readme_in_a_subdirectory_resolves_from_there() {
        let base = github(None, Some("docs/README.md"));
        let html = render_readme("[a](a.md)", Some(&base));
        assert!(
            html.contains("href=\"https://github.com/owner/repo/blob/HEAD/docs/a.md\""),
            "{html}"
        );
        // A README cargo copied in from outside the package: its place is unknown, so the root.
        let base = github(Some("crates/foo"), Some("../../README.md"));
        let html = render_readme("[a](a.md)", Some(&base));
        assert!(
            html.contains("href=\"https://github.com/owner/repo/blob/HEAD/a.md\""),
            "{html}"
        );
    }

    #[test]
    fn repository_urls_of_github_and_gitlab_are_understood_in_their_usual_shapes() {
        let link = |repository: &str| {
            ReadmeBase::new(repository, &BTreeMap::new(), None, None)?.resolve("a.md")
        };
        let github = Some("https://github.com/owner/repo/blob/HEAD/a.md".to_owned());
        assert_eq!(link("https://github.com/owner/repo"), github);
        assert_eq!(link("https://github.com/owner/repo.git"), github);
        assert_eq!(link("http://www.github.com/owner/repo/"), github);
        assert_eq!(
            link("https://github.com/owner/repo/tree/main/crates/x"),
            github
        );
        assert_eq!(
            link("https://gitlab.com/group/sub/repo/-/tree/main"),
            Some("https://gitlab.com/group/sub/repo/-/blob/HEAD/a.md".to_owned())
        );
        assert_eq!(
            link("https://codeberg.org/owner/repo/src/branch/main/crates/x"),
            Some("https://codeberg.org/owner/repo/src/branch/HEAD/a.md".to_owned())
        );
        for unknown in [
            "https://github.com/owner",
            "https://git.example.com/owner/repo",
            "ssh://git@github.com/owner/repo",
            "not a url",
        ] {
            assert_eq!(link(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn self_hosted_forges_named_in_the_configuration_get_their_own_url_shapes() {
        let forges = BTreeMap::from([
            ("git.example.com".to_owned(), ForgeKind::Gitea),
            ("GitLab.Example.com".to_owned(), ForgeKind::Gitlab),
            ("ghe.example.com".to_owned(), ForgeKind::Github),
            ("code.example.com:3000".to_owned(), ForgeKind::Gitea),
        ]);
        let base = |repository: &str| ReadmeBase::new(repository, &forges, Some("crates/x"), None);
        let links = |repository: &str| {
            let base = base(repository).expect(repository);
            (base.resolve("docs/a.md"), base.resolve("logo.png"))
        };
        assert_eq!(
            links("https://git.example.com/team/tools.git"),
            (
                Some(
                    "https://git.example.com/team/tools/src/branch/HEAD/crates/x/docs/a.md".into()
                ),
                Some("https://git.example.com/team/tools/raw/branch/HEAD/crates/x/logo.png".into())
            )
        );
        assert_eq!(
            links("https://gitlab.example.com/group/sub/tools/-/tree/main"),
            (
                Some(
                    "https://gitlab.example.com/group/sub/tools/-/blob/HEAD/crates/x/docs/a.md"
                        .into()
                ),
                Some(
                    "https://gitlab.example.com/group/sub/tools/-/raw/HEAD/crates/x/logo.png"
                        .into()
                )
            )
        );
        assert_eq!(
            links("https://ghe.example.com/team/tools").0,
            Some("https://ghe.example.com/team/tools/blob/HEAD/crates/x/docs/a.md".into())
        );
        // The scheme and port of the repository URL are kept for a configured forge.
        assert_eq!(
            links("http://code.example.com:3000/team/tools").0,
            Some(
                "http://code.example.com:3000/team/tools/src/branch/HEAD/crates/x/docs/a.md".into()
            )
        );
        // The same host on another port is another server.
        assert_eq!(base("https://code.example.com/team/tools"), None);
        assert_eq!(base("https://other.example.com/team/tools"), None);
        assert_eq!(base("https://git.example.com/team"), None);
    }

    #[test]
    fn without_a_known_repository_relative_links_and_images_are_dropped() {
        let html = render_readme(
            "[guide](docs/guide.md) ![logo](logo.png) [usage](#readme-usage)",
            None,
        );
        assert!(!html.contains("docs/guide.md"), "{html}");
        assert!(!html.contains("logo.png"), "{html}");
        assert!(html.contains(">guide</a>"), "the text stays: {html}");
        assert!(html.contains("href=\"#readme-usage\""), "{html}");
    }
}
