//! READMEs as HTML: GitHub-flavoured Markdown rendered with comrak, then
//! sanitized with ammonia, so that nothing a crate author writes can run in a
//! reader's browser (no script, no event handlers, no `javascript:` links, no
//! styles or forms) while ordinary HTML in READMEs (images, tables, details) stays.

use std::sync::LazyLock;

use ammonia::Builder;
use comrak::Options;

/// Every id a README may carry starts with this.
const ID_PREFIX: &str = "readme-";

/// Sanitizer settings shared by every render.
static SANITIZER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::default();
    builder
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
});

/// The README `markdown` as safe HTML.
pub fn render_readme(markdown: &str) -> String {
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
    SANITIZER.clean(&html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html_with_github_extensions() {
        let html = render_readme(
            "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ https://example.com\n\n- [x] done\n",
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
            "<script>alert(1)</script>\n\n<img src=\"x.png\" onerror=\"alert(2)\">\n\n\
             [click](javascript:alert(3)) <a href=\"javascript:alert(4)\">raw</a>\n\n\
             <iframe src=\"https://evil.example\"></iframe><style>body{display:none}</style>\n\n\
             <div onclick=\"alert(5)\" style=\"position:fixed\">x</div>",
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
        assert!(html.contains("<img src=\"x.png\""), "{html}");
    }

    #[test]
    fn heading_anchors_point_at_their_headings_and_no_other_id_survives() {
        let html = render_readme("# Usage\n\n<p id=\"nav-logout\">x</p>");
        assert!(html.contains("id=\"readme-usage\""), "{html}");
        assert!(html.contains("href=\"#readme-usage\""), "{html}");
        assert!(!html.contains("nav-logout"), "{html}");
    }

    #[test]
    fn links_open_without_passing_the_reader_along() {
        let html = render_readme("[docs](https://docs.rs/x)");
        assert!(
            html.contains("rel=\"nofollow noopener noreferrer\""),
            "{html}"
        );
    }
}
